//! Bad input is an error with a message, never a panic.

mod common;

use common::{build, compound, grouped, poses};
use multipose::Error;
use multipose::combine::{
    CombinationConfig, CombinationKind, EngineConfig, GroupedModel, Objective, train_step,
};
use multipose::model::{CompoundGraphs, Params, StrategyKind};
use multipose::structure::Structure;

#[test]
fn zero_poses_is_an_error() {
    let config = grouped(StrategyKind::Delta, false, CombinationKind::Mean);
    let e = CompoundGraphs::build(
        "empty",
        &[],
        config.model.strategy,
        &config.model.schnet.graph(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::NoPoses { .. }));
    assert!(e.to_string().contains("empty"));
}

#[test]
fn missing_ligand_mask_is_an_error_for_delta_but_not_complex() {
    let s = poses(6, 3, 1, 1).remove(0);
    let unmasked = Structure::new("nomask", s.z().to_vec(), s.pos().to_vec(), None).unwrap();
    let g = grouped(StrategyKind::Delta, false, CombinationKind::Mean)
        .model
        .schnet
        .graph();
    let e = CompoundGraphs::build(
        "c",
        std::slice::from_ref(&unmasked),
        StrategyKind::Delta,
        &g,
    )
    .unwrap_err();
    assert!(matches!(e, Error::MissingLigandMask { .. }), "{e}");
    assert!(CompoundGraphs::build("c", &[unmasked], StrategyKind::Complex, &g).is_ok());
}

#[test]
fn bad_configuration_values_are_errors() {
    let mut config = grouped(
        StrategyKind::Delta,
        false,
        CombinationKind::Max {
            negate: true,
            scale: -1.0,
        },
    );
    let params = Params::new(candle_core::DType::F64, &candle_core::Device::Cpu);
    assert!(matches!(
        GroupedModel::new(&config, &params),
        Err(Error::InvalidConfig(_))
    ));
    config.combination = CombinationConfig {
        kind: CombinationKind::Mean,
        learnable: true,
    };
    assert!(matches!(
        GroupedModel::new(&config, &params),
        Err(Error::InvalidConfig(_))
    ));
    config.combination.learnable = false;
    config.model.schnet.cutoff = f64::NAN;
    assert!(matches!(
        GroupedModel::new(&config, &params),
        Err(Error::InvalidConfig(_))
    ));
}

#[test]
fn graphs_built_for_another_strategy_are_an_error() {
    let complex = grouped(StrategyKind::Complex, false, CombinationKind::Mean);
    let delta = grouped(StrategyKind::Delta, false, CombinationKind::Mean);
    let c = compound(&complex, 2, 1);
    let (params, model) = build(&delta);
    let e = train_step(
        &model,
        &params,
        &c,
        &Objective::mse(0.0),
        &EngineConfig::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("delta"), "{e}");
}
