//! `multipose import-mtenn` from the command line: an mtenn weights file with
//! asapdiscovery-ml's model_config.json becomes a run folder `predict` reads; settings
//! that contradict the weights are refused with both values named.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn multipose(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_multipose"))
        .args(args)
        .output()
        .unwrap()
}

/// Fails the test with the command's stderr unless it succeeded.
fn succeeded(out: &std::process::Output) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
}

/// Settings the imported run folder must hold.
const IMPORTED: [&str; 4] = [
    "cutoff = 10.0",
    "combination = \"max\"",
    "scale = 1000.0",
    "hidden_channels = 32",
];

/// `multipose import-mtenn` of `weights` with `config` into `out`.
fn import(weights: &Path, config: &Path, out: &Path) -> std::process::Output {
    let arg = |p: &Path| p.to_str().unwrap().to_string();
    let args = [
        "import-mtenn",
        "--weights",
        &arg(weights),
        "--config",
        &arg(config),
        "--out",
        &arg(out),
    ];
    multipose(&args)
}

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/golden")
        .join(name)
}

/// mtenn 0.6.3's SchNetModelConfig as asapdiscovery-ml writes it, for the golden model
/// `tyk2_delta_max_t1000` (with `cutoff` as given).
fn model_config(dir: &Path, cutoff: &str) -> PathBuf {
    let text = format!(
        r#"{{"model_type": "schnet", "rand_seed": null, "model_weights": null, "grouped": true,
        "strategy": "delta", "pred_readout": null, "combination": "max", "comb_readout": "pic50",
        "max_comb_neg": true, "max_comb_scale": 1000, "pred_substrate": null, "pred_km": null,
        "comb_substrate": null, "comb_km": null, "hidden_channels": 32, "num_filters": 32,
        "num_interactions": 3, "num_gaussians": 25, "interaction_graph": null,
        "cutoff": {cutoff}, "max_num_neighbors": 32, "readout": "add", "dipole": false,
        "mean": null, "std": null, "atomref": null}}"#
    );
    let path = dir.join(format!("model_config_{cutoff}.json"));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn import_then_predict_and_contradictions_are_refused() {
    let base = std::env::temp_dir().join(format!("multipose-import-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let weights = golden("tyk2_delta_max_t1000.weights.safetensors");
    let run = base.join("run");
    let good = model_config(&base, "10");
    let out = import(&weights, &good, &run);
    succeeded(&out);
    let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(IMPORTED.iter().all(|l| config.contains(l)), "{config}");

    let data = base.join("data");
    common::tyk2_slice(&data);
    let csv = base.join("preds.csv");
    let out = multipose(&[
        "predict",
        "--model",
        run.to_str().unwrap(),
        data.to_str().unwrap(),
        "--out",
        csv.to_str().unwrap(),
    ]);
    succeeded(&out);
    let rows = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(rows.lines().count(), 6, "{rows}");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("no summary.json"),
        "an imported run names its weights"
    );

    // The 5 Å config of issue 13's silent mix-up, against weights trained at 10 Å.
    let wrong = model_config(&base, "5");
    let out = import(&weights, &wrong, &base.join("wrong"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("model.cutoff") && err.contains('5') && err.contains("10"),
        "{err}"
    );
    assert!(
        !base.join("wrong/config.toml").exists(),
        "nothing written on failure"
    );
    std::fs::remove_dir_all(&base).ok();
}

#[test]
fn a_visnet_model_config_becomes_model_representation_settings() {
    let text = r#"{"model_type": "visnet", "lmax": 2, "vecnorm_type": null, "num_heads": 4,
        "num_layers": 3, "hidden_channels": 16, "num_rbf": 8, "cutoff": 4.5,
        "max_num_neighbors": 24, "vertex": true, "reduce_op": "sum", "mean": 0.0, "std": 1.0,
        "atomref": null, "derivative": false, "strategy": "complex", "combination": "max",
        "max_comb_neg": true, "max_comb_scale": 1000.0}"#;
    let path = Path::new("model_config.json");
    let (config, keys, _) =
        multipose::train::mtenn_settings(Some((text, path)), Vec::new()).unwrap();
    let multipose::train::RepresentationSection::ViSNet(v) = &config.model.representation else {
        panic!("not ViSNet");
    };
    assert_eq!(
        (v.lmax, v.num_heads, v.num_layers, v.max_num_neighbors),
        (2, 4, 3, 24)
    );
    assert!(v.vertex && v.cutoff == 4.5);
    assert_eq!(v.reduce_op, multipose::model::visnet::Reduce::Sum);
    assert!(keys.contains(&"model.representation.num_heads".to_string()));
    assert_eq!(
        config.model.strategy,
        multipose::model::StrategyKind::Complex
    );
    let e = multipose::train::mtenn_settings(Some((r#"{"model_type": "e3nn"}"#, path)), Vec::new())
        .unwrap_err()
        .to_string();
    assert!(e.contains("imports SchNet and ViSNet"), "{e}");
}
