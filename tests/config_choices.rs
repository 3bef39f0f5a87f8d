//! Configuration choices are typed: every allowed name parses, is documented in the
//! printed default, and reaches the model; the options the library had and the CLI hid
//! (ligand-only model, Cheng–Prusoff term, per-pose readout) work from a config.

use multipose::combine::{CombinationChoice, EngineKind, GroupedModel};
use multipose::dataset::{Assay, PoseSelection};
use multipose::model::{Params, Readout, RepresentationConfig, StrategyKind};
use multipose::train::{
    OptimizerKind, PoseLabel, RunOptions, SplitKind, StoppingKind, TrainConfig,
    default_toml_commented, grouped_config, train,
};
mod common;

/// (key, allowed names) of every choice in the training configuration.
fn choices() -> Vec<(&'static str, &'static [&'static str])> {
    vec![
        ("data.poses", PoseSelection::NAMES),
        ("model.strategy", StrategyKind::NAMES),
        ("model.combination", CombinationChoice::NAMES),
        ("engine.kind", EngineKind::NAMES),
        ("optim.optimizer", OptimizerKind::NAMES),
        ("split.kind", SplitKind::NAMES),
        ("early_stopping.kind", StoppingKind::NAMES),
        ("loss.pose_label", PoseLabel::NAMES),
    ]
}

#[test]
fn every_name_parses_round_trips_and_is_documented() {
    let printed = default_toml_commented();
    for (key, names) in choices() {
        for name in names {
            let mut overrides = vec![(key.to_string(), format!("{name:?}"))];
            if *name == "manual" {
                overrides.push(("split.manual".into(), "\"ids.json\"".into()));
            }
            let c = TrainConfig::from_toml("", &overrides).unwrap_or_else(|e| panic!("{key}: {e}"));
            let back = TrainConfig::from_toml(&c.to_toml().unwrap(), &[]).unwrap();
            assert_eq!(back, c, "{key} = {name}");
            assert!(
                printed.contains(name),
                "{key}: `{name}` is not in the default config"
            );
        }
        let e = TrainConfig::from_toml("", &[(key.into(), "\"nonsense\"".into())])
            .unwrap_err()
            .to_string();
        assert!(e.contains(key) && e.contains(names[0]), "{key}: {e}");
    }
}

#[test]
fn cheng_prusoff_shifts_and_per_pose_readout_commutes_with_the_mean() {
    let config = |pairs: &[(&str, &str)]| {
        let mut o: Vec<(String, String)> = vec![("model.combination".into(), "\"mean\"".into())];
        o.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut g = grouped_config(&TrainConfig::from_toml("", &o).unwrap(), Assay::Pic50).unwrap();
        g.model.representation = RepresentationConfig::SchNet(common::small_schnet());
        g
    };
    let plain = config(&[]);
    let shifted = config(&[("readout.substrate", "2.0"), ("readout.km", "0.5")]);
    let per_pose = config(&[("readout.per_pose", "true")]);
    assert_eq!(
        shifted.readout,
        Readout::PIC50 {
            substrate: Some(2.0),
            km: Some(0.5)
        }
    );
    assert_eq!(
        (per_pose.readout, per_pose.model.pose_readout),
        (Readout::None, plain.readout)
    );
    let params = Params::new(candle_core::DType::F64, &candle_core::Device::Cpu);
    let compound = common::compound(&plain, 4, 7);
    let chunk = multipose::combine::ChunkPolicy::Fixed(4);
    let predict = |g| {
        GroupedModel::new(g, &params)
            .unwrap()
            .predict(&compound, &chunk)
            .unwrap()
    };
    let (a, b, c) = (predict(&plain), predict(&shifted), predict(&per_pose));
    let shift = -(1.0f64 + 2.0 / 0.5).log10();
    assert!(
        (b.output - a.output - shift).abs() < 1e-12,
        "{} {}",
        a.output,
        b.output
    );
    assert!(
        (c.output - a.output).abs() < 1e-12,
        "{} {}",
        a.output,
        c.output
    );
    // Read out per pose, the poses carry pIC50 values rather than ΔG.
    assert!((c.poses[0] - (-a.poses[0] / std::f64::consts::LN_10)).abs() < 1e-12);
}

#[test]
fn ligand_only_trains_from_a_config() {
    let base = std::env::temp_dir().join(format!("multipose-ligonly-{}", std::process::id()));
    let data = base.join("data");
    common::tyk2_slice(&data);
    let text = format!(
        "[data]\npath = {:?}\n[model]\nstrategy = \"ligand_only\"\nhidden_channels = 16\n\
         num_filters = 16\nnum_interactions = 2\nnum_gaussians = 10\ncutoff = 5.0\n\
         combination = \"mean\"\n[optim]\nepochs = 2\n[early_stopping]\nkind = \"none\"\n\
         [split]\ntrain = 0.6\nval = 0.2\ntest = 0.2\n",
        data.display().to_string()
    );
    let config = TrainConfig::from_toml(&text, &[]).unwrap();
    let options = RunOptions {
        quiet: true,
        ..RunOptions::default()
    };
    let summary = train(&config, &base.join("run"), &options).unwrap();
    assert_eq!(summary.epochs, 2);
    let written = std::fs::read_to_string(base.join("run/config.toml")).unwrap();
    assert!(written.contains("strategy = \"ligand_only\""), "{written}");
    std::fs::remove_dir_all(&base).ok();
}

const VISNET: &str = r#"
[model]
strategy = "complex"

[model.representation]
kind = "visnet"
hidden_channels = 16
num_heads = 4
lmax = 2
vertex = true
"#;

#[test]
fn model_representation_chooses_visnet_with_its_own_keys() {
    let config = TrainConfig::from_toml(VISNET, &[]).unwrap();
    let RepresentationConfig::ViSNet(v) = grouped_config(&config, Assay::Pic50)
        .unwrap()
        .model
        .representation
    else {
        panic!("not ViSNet");
    };
    assert_eq!(
        (v.hidden_channels, v.num_heads, v.lmax, v.vertex),
        (16, 4, 2, true)
    );
    // Keys left out take torch_geometric's defaults.
    assert_eq!(
        (v.num_layers, v.num_rbf, v.cutoff, v.max_num_neighbors),
        (6, 32, 5.0, 32)
    );
    // What a run folder writes reads back as the same configuration.
    let again = TrainConfig::from_toml(&config.to_toml().unwrap(), &[]).unwrap();
    assert_eq!(again, config);
}

#[test]
fn old_files_without_a_representation_table_still_mean_schnet() {
    let config = TrainConfig::from_toml("[model]\nhidden_channels = 32\n", &[]).unwrap();
    let RepresentationConfig::SchNet(s) = grouped_config(&config, Assay::Pic50)
        .unwrap()
        .model
        .representation
    else {
        panic!("not SchNet");
    };
    assert_eq!(s.hidden_channels, 32);
}

#[test]
fn mixed_or_unknown_network_keys_are_refused_with_the_fix() {
    let mixed = VISNET.replace(
        "strategy = \"complex\"",
        "strategy = \"complex\"\nnum_filters = 8",
    );
    let e = TrainConfig::from_toml(&mixed, &[]).unwrap_err().to_string();
    assert!(e.contains("mixes SchNet's keys (num_filters)"), "{e}");
    assert!(e.contains("under [model.representation]"), "{e}");
    let unknown = VISNET.replace("vertex = true", "vertex = true\nnum_filters = 8");
    let e = TrainConfig::from_toml(&unknown, &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("num_filters"), "{e}");
    let bad = VISNET.replace("num_heads = 4", "num_heads = 3");
    let e = TrainConfig::from_toml(&bad, &[]).unwrap_err().to_string();
    assert!(e.contains("divisible by num_heads (3)"), "{e}");
    let kind = VISNET.replace("\"visnet\"", "\"painn\"");
    let e = TrainConfig::from_toml(&kind, &[]).unwrap_err().to_string();
    assert!(e.contains("painn"), "{e}");
}

#[test]
fn visnet_refuses_the_strategies_that_need_a_linear_head() {
    let concat = VISNET.replace("\"complex\"", "\"concat\"");
    let config = TrainConfig::from_toml(&concat, &[]).unwrap();
    let grouped = grouped_config(&config, Assay::Pic50).unwrap();
    let params = Params::new(candle_core::DType::F32, &candle_core::Device::Cpu);
    let e = GroupedModel::new(&grouped, &params)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("ViSNet ends in one scalar per structure"), "{e}");
}

#[test]
fn the_shipped_visnet_example_parses_as_visnet() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/visnet.toml");
    let config = TrainConfig::from_toml(&std::fs::read_to_string(path).unwrap(), &[]).unwrap();
    let model = grouped_config(&config, Assay::Pic50).unwrap().model;
    let RepresentationConfig::ViSNet(v) = &model.representation else {
        panic!("not ViSNet");
    };
    assert_eq!(
        (v.hidden_channels, v.num_layers, v.max_num_neighbors),
        (32, 3, 16)
    );
    GroupedModel::new(
        &grouped_config(&config, Assay::Pic50).unwrap(),
        &Params::new(candle_core::DType::F32, &candle_core::Device::Cpu),
    )
    .unwrap();
}
