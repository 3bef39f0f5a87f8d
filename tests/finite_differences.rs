//! Central finite differences in f64 agree with autodiff for every parameter tensor
//! (every layer type) under every strategy, for a learned combination constant, and for
//! attention (its scorer, and the representation through the embeddings it reads).

mod common;

use candle_core::{Tensor, Var};
use common::{build, compound, grouped, grouped_with, small_visnet};
use multipose::combine::{
    ChunkPolicy, CombinationKind, EngineConfig, EngineKind, GroupedConfig, Objective, PoseTerm,
    train_step,
};
use multipose::model::StrategyKind;

fn set_entry(var: &Var, index: usize, value: f64) {
    let mut v = var.flatten_all().unwrap().to_vec1::<f64>().unwrap();
    v[index] = value;
    let t = Tensor::from_vec(v, var.shape(), var.device()).unwrap();
    var.set(&t).unwrap();
}

fn check(config: &GroupedConfig) {
    let (params, model) = build(config);
    let c = compound(config, 3, 5);
    let mut objective = Objective::mse(0.7);
    objective.pose_terms.push(PoseTerm::Mse {
        weight: 0.1,
        target: 0.2,
    });
    let engine = EngineConfig {
        kind: EngineKind::Full,
        chunk: ChunkPolicy::Fixed(3),
        ..Default::default()
    };
    let loss = || train_step(&model, &params, &c, &objective, &engine).unwrap();
    let base = loss();
    let eps = 1e-6;
    for (name, var) in params.named() {
        let grad = base
            .grads
            .get(&name)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let values = var.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        // The entry with the largest gradient and one in the middle of the tensor.
        let largest = (0..grad.len())
            .max_by(|&a, &b| grad[a].abs().total_cmp(&grad[b].abs()))
            .unwrap();
        for index in [largest, values.len() / 2] {
            set_entry(&var, index, values[index] + eps);
            let plus = loss().loss;
            set_entry(&var, index, values[index] - eps);
            let minus = loss().loss;
            set_entry(&var, index, values[index]);
            let fd = (plus - minus) / (2.0 * eps);
            let tol = 1e-6 * grad[index].abs().max(1e-2) + 1e-8;
            assert!(
                (fd - grad[index]).abs() <= tol.max(1e-6 * base.loss.abs()),
                "{:?} {name}[{index}]: finite difference {fd} vs autodiff {}",
                config.model.strategy,
                grad[index]
            );
        }
    }
}

#[test]
fn visnet_every_layer_under_delta_and_complex() {
    check(&grouped_with(
        small_visnet(false),
        StrategyKind::Delta,
        false,
        CombinationKind::Mean,
    ));
    let boltzmann = CombinationKind::Boltzmann { temperature: 0.7 };
    check(&grouped_with(
        small_visnet(true),
        StrategyKind::Complex,
        false,
        boltzmann,
    ));
}

#[test]
fn delta_strategy_every_layer() {
    check(&grouped(StrategyKind::Delta, false, CombinationKind::Mean));
}

#[test]
fn delta_with_layer_norm_and_max() {
    check(&grouped(
        StrategyKind::Delta,
        true,
        CombinationKind::Max {
            negate: true,
            scale: 2.0,
        },
    ));
}

#[test]
fn concat_with_layer_norm_and_boltzmann() {
    check(&grouped(
        StrategyKind::Concat,
        true,
        CombinationKind::Boltzmann { temperature: 0.5 },
    ));
}

#[test]
fn complex_only_and_ligand_only() {
    check(&grouped(
        StrategyKind::Complex,
        false,
        CombinationKind::Mean,
    ));
    check(&grouped(
        StrategyKind::LigandOnly,
        false,
        CombinationKind::Mean,
    ));
}

#[test]
fn learned_temperature() {
    let mut config = grouped(
        StrategyKind::Delta,
        false,
        CombinationKind::Boltzmann { temperature: 0.9 },
    );
    config.combination.learnable = true;
    check(&config);
}

#[test]
fn attention_delta_with_layer_norm_and_complex() {
    let attention = CombinationKind::Attention { width: 3 };
    check(&grouped(StrategyKind::Delta, true, attention));
    check(&grouped(StrategyKind::Complex, false, attention));
}
