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
