//! No overflow or NaN with t = 1000 and per-pose predictions spread over ±100 kT.

mod common;

use candle_core::{DType, Device, Tensor};
use common::{build, compound, grouped};
use multipose::combine::{
    ChunkPolicy, Combination, CombinationConfig, CombinationKind, EngineConfig, EngineKind,
    Objective, train_step,
};
use multipose::model::StrategyKind;

#[test]
fn smooth_min_and_max_of_wide_spread_are_finite_in_f32_and_f64() {
    for dtype in [DType::F32, DType::F64] {
        let preds = Tensor::new(&[-100.0f64, -37.5, 0.0, 64.0, 100.0], &Device::Cpu)
            .unwrap()
            .to_dtype(dtype)
            .unwrap();
        for (negate, want) in [(true, -100.0), (false, 100.0)] {
            let params = multipose::model::Params::new(dtype, &Device::Cpu);
            let c = Combination::new(
                &CombinationConfig {
                    kind: CombinationKind::Max {
                        negate,
                        scale: 1000.0,
                    },
                    learnable: false,
                },
                0,
                params.vb(),
            )
            .unwrap();
            let got = c
                .forward(&preds, None)
                .unwrap()
                .to_dtype(DType::F64)
                .unwrap()
                .to_vec1::<f64>()
                .unwrap()[0];
            assert!(
                (got - want).abs() < 1e-3,
                "{dtype:?} negate={negate}: {got}"
            );
            let w = c.weights(&[-100.0, -37.5, 0.0, 64.0, 100.0], None).unwrap();
            assert!(w.iter().all(|w| w.is_finite()));
        }
    }
}

#[test]
fn every_engine_is_finite_and_equal_with_predictions_over_200_kt() {
    let config = grouped(
        StrategyKind::Complex,
        false,
        CombinationKind::Max {
            negate: true,
            scale: 1000.0,
        },
    );
    let (params, model) = build(&config);
    let c = compound(&config, 9, 21);
    // Stretch the energy head so the per-pose predictions spread over ±100 kT.
    let spread = |m: &multipose::combine::GroupedModel| {
        let p = m.predict(&c, &ChunkPolicy::Fixed(9)).unwrap().poses;
        let lo = p.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lo, hi)
    };
    let (lo, hi) = spread(&model);
    let named = params.named();
    let (_, w) = named
        .iter()
        .find(|(n, _)| n == "strategy.energy_func.weight")
        .unwrap();
    let (_, b) = named
        .iter()
        .find(|(n, _)| n == "strategy.energy_func.bias")
        .unwrap();
    let k = 200.0 / (hi - lo);
    w.set(&(w.as_tensor() * k).unwrap()).unwrap();
    b.set(&((b.as_tensor() * k).unwrap() - (lo * k + 100.0)).unwrap())
        .unwrap();
    let (lo, hi) = spread(&model);
    assert!(lo < -90.0 && hi > 90.0, "spread {lo}..{hi}");
    let objective = Objective::mse(5.0);
    let run = |kind, chunk| {
        let e = EngineConfig {
            kind,
            chunk: ChunkPolicy::Fixed(chunk),
            ..Default::default()
        };
        train_step(&model, &params, &c, &objective, &e).unwrap()
    };
    let full = run(EngineKind::Full, 9);
    for r in [
        run(EngineKind::Stored, 1),
        run(EngineKind::Streaming, 2),
        run(EngineKind::Recompute, 4),
        full.clone(),
    ] {
        assert!(r.loss.is_finite() && r.combined.is_finite());
        for (name, g) in r.grads.iter() {
            let v = g.flatten_all().unwrap().to_vec1::<f64>().unwrap();
            assert!(
                v.iter().all(|x| x.is_finite()),
                "{:?}: {name} not finite",
                r.engine
            );
            let f = full
                .grads
                .get(name)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f64>()
                .unwrap();
            let scale = f.iter().fold(1e-300f64, |m, x| m.max(x.abs()));
            let d = v
                .iter()
                .zip(&f)
                .fold(0f64, |m, (a, b)| m.max((a - b).abs()));
            assert!(
                d / scale <= 1e-10,
                "{:?}: {name} differs by {:e}",
                r.engine,
                d / scale
            );
        }
    }
}
