//! Data-parallel training without GPUs: an optimiser batch split across simulated
//! workers, each computing its share's mean gradient, reduced as an all-reduce would,
//! equals the single-process gradient of the same batch (f64).

mod common;

use common::{build, compound, grouped, objective};
use multipose::combine::{CombinationKind, EngineConfig, Gradients, train_batch};
use multipose::distributed::shard::{compound_cost, shard};
use multipose::model::StrategyKind;

fn max_rel_diff(a: &Gradients, b: &Gradients) -> f64 {
    a.iter()
        .map(|(name, x)| {
            let y = b.get(name).unwrap();
            let d = (x - y)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f64>()
                .unwrap();
            let s = y
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f64>()
                .unwrap();
            d / s.max(1e-300)
        })
        .fold(0.0, f64::max)
}

#[test]
fn sharded_batch_gradients_reduce_to_the_single_process_gradient() {
    let config = grouped(StrategyKind::Delta, false, CombinationKind::Mean);
    let (params, model) = build(&config);
    let compounds: Vec<_> = (0..7)
        .map(|k| compound(&config, 1 + k % 4, 40 + k as u64))
        .collect();
    let objectives: Vec<_> = (0..7).map(|k| objective(5.0 + 0.3 * k as f64)).collect();
    let items: Vec<_> = compounds.iter().zip(&objectives).collect();
    let engine = EngineConfig::default();
    let whole = train_batch(&model, &params, &items, &engine).unwrap().grads;
    let costs: Vec<u64> = compounds.iter().map(compound_cost).collect();
    for ranks in [2, 3, 4] {
        let parts = shard(&costs, ranks);
        let mut shares = Vec::new();
        for part in parts.iter().filter(|p| !p.is_empty()) {
            let mine: Vec<_> = part.iter().map(|&i| items[i]).collect();
            let g = train_batch(&model, &params, &mine, &engine).unwrap().grads;
            shares.push((part.len() as f64 / items.len() as f64, g));
        }
        let refs: Vec<(f64, &Gradients)> = shares.iter().map(|(w, g)| (*w, g)).collect();
        let reduced = Gradients::weighted_sum(&refs).unwrap();
        let d = max_rel_diff(&reduced, &whole);
        assert!(d <= 1e-10, "{ranks} ranks: {d:e}");
    }
}
