//! End to end on a slice of the bundled data: train 3 epochs; train 2, stop as if
//! interrupted, resume, and get the same weights bit for bit; then predict.

use multipose::train::{RunOptions, TrainConfig, resume, train};
mod common;

use common::tyk2_slice as slice;
use std::path::Path;

fn config(data: &Path) -> TrainConfig {
    let text = format!(
        "[data]\npath = {:?}\npocket_radius = 5.0\n[model]\nhidden_channels = 16\nnum_filters = 16\n\
         num_interactions = 2\nnum_gaussians = 10\ncutoff = 5.0\nmax_num_neighbors = 8\n\
         [optim]\nepochs = 3\nbatch_size = 2\nlr = 0.01\n[split]\ntrain = 0.6\nval = 0.2\ntest = 0.2\n\
         [early_stopping]\nkind = \"none\"\n[loss]\npose_cross_entropy = 0.1\n",
        data.display().to_string()
    );
    TrainConfig::from_toml(&text, &[]).unwrap()
}

fn tensors(path: &Path) -> Vec<(String, Vec<f32>)> {
    let mut t: Vec<(String, Vec<f32>)> =
        candle_core::safetensors::load(path, &candle_core::Device::Cpu)
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, v.flatten_all().unwrap().to_vec1::<f32>().unwrap()))
            .collect();
    t.sort_by(|a, b| a.0.cmp(&b.0));
    t
}

fn losses(path: &Path) -> Vec<(f64, f64)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["train_loss"].as_f64().unwrap(),
                v["val_loss"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn resume_matches_uninterrupted_run_bit_for_bit_and_predicts() {
    let base = std::env::temp_dir().join(format!("multipose-e2e-{}", std::process::id()));
    let data = base.join("data");
    slice(&data);
    let cfg = config(&data);
    let quiet = RunOptions {
        quiet: true,
        ..RunOptions::default()
    };

    let straight = base.join("straight");
    let summary = train(&cfg, &straight, &quiet).unwrap();
    assert_eq!(summary.epochs, 3);
    for f in [
        "config.toml",
        "metrics.jsonl",
        "predictions.csv",
        "checkpoint/best.safetensors",
        "checkpoint/last.safetensors",
        "checkpoint/last.optim.safetensors",
        "checkpoint/state.json",
        "summary.json",
        "learning_curve.png",
        "learning_curve.svg",
        "pred_vs_exp.png",
        "pred_vs_exp.svg",
    ] {
        assert!(straight.join(f).is_file(), "{f} missing");
    }
    assert!(
        !std::fs::read_dir(&straight).unwrap().any(|e| e
            .unwrap()
            .path()
            .to_string_lossy()
            .ends_with(".partial"))
            && !straight.join("checkpoint.partial").exists()
            && !straight.join("checkpoint.previous").exists()
    );

    let interrupted = base.join("interrupted");
    let stop = RunOptions {
        stop_after_epochs: Some(2),
        ..quiet.clone()
    };
    let e = train(&cfg, &interrupted, &stop).unwrap_err().to_string();
    assert!(e.contains("--resume"), "{e}");
    assert_eq!(losses(&interrupted.join("metrics.jsonl")).len(), 2);
    // A second fresh start into the same folder is refused.
    assert!(
        train(&cfg, &interrupted, &quiet)
            .unwrap_err()
            .to_string()
            .contains("--resume")
    );
    let resumed = resume(&interrupted, &quiet).unwrap();
    assert_eq!(resumed.epochs, 3);

    assert_eq!(
        losses(&straight.join("metrics.jsonl")),
        losses(&interrupted.join("metrics.jsonl"))
    );
    let (a, b) = (
        tensors(&straight.join("checkpoint/last.safetensors")),
        tensors(&interrupted.join("checkpoint/last.safetensors")),
    );
    let differing: Vec<&String> = a
        .iter()
        .zip(&b)
        .filter(|(x, y)| x != y)
        .map(|(x, _)| &x.0)
        .collect();
    assert!(
        differing.is_empty() && a.len() == b.len(),
        "weights differ after resume: {differing:?}"
    );
    let strip = |p: &Path| std::fs::read_to_string(p).unwrap();
    assert_eq!(
        strip(&straight.join("predictions.csv")),
        strip(&interrupted.join("predictions.csv"))
    );

    // Predict with the trained model through the binary.
    let out = base.join("preds.csv");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_multipose"))
        .args(["predict", "--model"])
        .arg(&straight)
        .arg("--model")
        .arg(&interrupted)
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), 6, "{text}");
    // compound_id, target, prediction, std, models, ...
    let row: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(row[4], "2", "two models in the ensemble");
    assert_eq!(
        row[3].parse::<f64>().unwrap(),
        0.0,
        "identical models: zero spread"
    );
    let poses = std::fs::read_to_string(out.with_extension("poses.csv")).unwrap();
    assert_eq!(poses.lines().count(), 1 + 5 * 3);
}
