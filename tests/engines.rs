//! Every engine gives the full engine's gradient (f64, relative difference ≤ 1e-10),
//! for every combination, with and without per-pose loss terms, N = 1, 2, 7, 50 and
//! chunk sizes 1, 3, N. Attention (vector seeds) runs on full and recompute only.

mod common;

use candle_core::Tensor;
use common::{build, compound, grouped};
use multipose::combine::{
    ChunkPolicy, CombinationKind, EngineConfig, EngineKind, Objective, PoseTerm, StepResult,
    train_step,
};
use multipose::model::StrategyKind;
use multipose::model::init_params;

/// Engine `kind` over chunks of exactly `chunk` poses.
fn fixed(kind: EngineKind, chunk: usize) -> EngineConfig {
    EngineConfig {
        kind,
        chunk: ChunkPolicy::Fixed(chunk),
        ..Default::default()
    }
}

fn max_rel_diff(a: &StepResult, b: &StepResult) -> f64 {
    let abs_max = |t: &Tensor| -> f64 {
        let v = t.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        v.iter().fold(0f64, |m, x| m.max(x.abs()))
    };
    // A tensor whose gradient is zero up to rounding in both (ViSNet's last bias under
    // delta: its atoms cancel, N_complex = N_protein + N_ligand) has no relative error to
    // speak of: it must stay at rounding level against the step's largest gradient.
    let global = b.grads.iter().map(|(_, g)| abs_max(g)).fold(0f64, f64::max);
    let noise = 1e-12 * global;
    let mut worst = 0f64;
    for (name, ga) in a.grads.iter() {
        let gb = b.grads.get(name).unwrap();
        let va = ga.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let vb = gb.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let scale = vb.iter().fold(0f64, |m, v| m.max(v.abs()));
        if scale <= noise {
            assert!(
                va.iter().all(|v| v.abs() <= noise),
                "{name}: nonzero where full has zero"
            );
            continue;
        }
        let d = va
            .iter()
            .zip(&vb)
            .fold(0f64, |m, (x, y)| m.max((x - y).abs()));
        worst = worst.max(d / scale);
    }
    worst
}

/// Loss and every gradient of `r` within 1e-10 (relative) of the full engine's.
fn assert_equals_full(r: &StepResult, full: &StepResult, context: &str) {
    assert!(
        (r.loss - full.loss).abs() <= 1e-10 * full.loss.abs().max(1.0),
        "{context}: loss {} vs {}",
        r.loss,
        full.loss
    );
    let d = max_rel_diff(r, full);
    assert!(d <= 1e-10, "{context}: {d:e}");
}

fn combinations() -> Vec<CombinationKind> {
    vec![
        CombinationKind::Mean,
        CombinationKind::Max {
            negate: false,
            scale: 1.0,
        },
        CombinationKind::Max {
            negate: true,
            scale: 1.0,
        },
        CombinationKind::Max {
            negate: false,
            scale: 1000.0,
        },
        CombinationKind::Max {
            negate: true,
            scale: 1000.0,
        },
        CombinationKind::Boltzmann { temperature: 0.7 },
    ]
}

fn check(strategy: StrategyKind, layer_norm: bool, ns: &[usize]) {
    let schnet = multipose::model::RepresentationConfig::SchNet(common::small_schnet());
    check_with(&schnet, strategy, layer_norm, ns);
}

fn check_with(
    rep: &multipose::model::RepresentationConfig,
    strategy: StrategyKind,
    layer_norm: bool,
    ns: &[usize],
) {
    for kind in combinations() {
        let config = common::grouped_with(rep.clone(), strategy, layer_norm, kind);
        let (params, model) = build(&config);
        for &n in ns {
            let c = compound(&config, n, 7 + n as u64);
            for pose_term in [false, true] {
                let mut objective = Objective::mse(1.5);
                if pose_term {
                    objective.pose_terms.push(PoseTerm::Mse {
                        weight: 0.25,
                        target: -0.3,
                    });
                }
                let run = |kind, chunk| {
                    train_step(&model, &params, &c, &objective, &fixed(kind, chunk)).unwrap()
                };
                let full = run(EngineKind::Full, n);
                assert!(full.loss.is_finite());
                let stored = run(EngineKind::Stored, 1);
                let d = max_rel_diff(&stored, &full);
                assert!(
                    d <= 1e-10,
                    "{kind:?} N={n} pose_term={pose_term} stored: {d:e}"
                );
                for chunk in [1, 3, n] {
                    for engine in [EngineKind::Streaming, EngineKind::Recompute] {
                        assert_equals_full(
                            &run(engine, chunk),
                            &full,
                            &format!(
                                "{kind:?} N={n} chunk={chunk} pose_term={pose_term} {engine:?}"
                            ),
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn engines_equal_full_visnet() {
    check_with(
        &common::small_visnet(false),
        StrategyKind::Delta,
        false,
        &[1, 4],
    );
    check_with(
        &common::small_visnet(true),
        StrategyKind::Complex,
        false,
        &[3],
    );
}

#[test]
fn engines_equal_full_delta() {
    check(StrategyKind::Delta, false, &[1, 2, 7, 50]);
}

#[test]
fn engines_equal_full_concat_layer_norm() {
    check(StrategyKind::Concat, true, &[1, 2, 7]);
}

#[test]
fn engines_equal_full_complex_and_ligand_only() {
    check(StrategyKind::Complex, false, &[2, 7]);
    check(StrategyKind::LigandOnly, false, &[2, 7]);
}

#[test]
fn recompute_handles_learned_temperature_and_coupled_pose_loss() {
    for kind in [
        CombinationKind::Boltzmann { temperature: 0.8 },
        CombinationKind::Max {
            negate: true,
            scale: 3.0,
        },
    ] {
        let mut config = grouped(StrategyKind::Delta, false, kind);
        config.combination.learnable = true;
        let (params, model) = build(&config);
        let c = compound(&config, 7, 3);
        let mut objective = Objective::mse(2.0);
        objective.pose_terms.push(PoseTerm::CrossEntropy {
            weight: 0.5,
            label: 0,
            temperature: 1.0,
        });
        let run = |kind, chunk| train_step(&model, &params, &c, &objective, &fixed(kind, chunk));
        let full = run(EngineKind::Full, 7).unwrap();
        let name = match kind {
            CombinationKind::Max { .. } => "combination.scale",
            _ => "combination.temperature",
        };
        let g = full
            .grads
            .get(name)
            .expect("learned constant has a gradient");
        assert!(g.flatten_all().unwrap().to_vec1::<f64>().unwrap()[0] != 0.0);
        for chunk in [1, 3, 7] {
            let r = run(EngineKind::Recompute, chunk).unwrap();
            assert!(max_rel_diff(&r, &full) <= 1e-10);
        }
        // Auto falls back to recompute; streaming and stored refuse with a reason.
        assert_eq!(
            run(EngineKind::Auto, 3).unwrap().engine,
            EngineKind::Recompute
        );
        assert!(matches!(
            run(EngineKind::Streaming, 3),
            Err(multipose::Error::Unsupported {
                engine: "streaming",
                ..
            })
        ));
        assert!(matches!(
            run(EngineKind::Stored, 1),
            Err(multipose::Error::Unsupported {
                engine: "stored",
                ..
            })
        ));
    }
}

#[test]
fn coupled_pose_loss_equal_in_full_stored_recompute() {
    let config = grouped(
        StrategyKind::Delta,
        false,
        CombinationKind::Max {
            negate: true,
            scale: 1000.0,
        },
    );
    let (params, model) = build(&config);
    let c = compound(&config, 7, 11);
    let mut objective = Objective::mse(2.0);
    objective.pose_terms.push(PoseTerm::CrossEntropy {
        weight: 0.5,
        label: 2,
        temperature: 0.5,
    });
    let run =
        |kind, chunk| train_step(&model, &params, &c, &objective, &fixed(kind, chunk)).unwrap();
    let full = run(EngineKind::Full, 7);
    assert!(max_rel_diff(&run(EngineKind::Stored, 1), &full) <= 1e-10);
    assert!(max_rel_diff(&run(EngineKind::Recompute, 3), &full) <= 1e-10);
}

#[test]
fn auto_picks_full_for_one_chunk_else_streaming_where_it_applies() {
    let config = grouped(StrategyKind::Delta, false, CombinationKind::Mean);
    let (params, model) = build(&config);
    let c = compound(&config, 3, 1);
    let step = |chunk| {
        let engine = EngineConfig {
            chunk,
            ..Default::default()
        };
        train_step(&model, &params, &c, &Objective::mse(1.0), &engine).unwrap()
    };
    let whole = step(ChunkPolicy::Fixed(3));
    let chunked = step(ChunkPolicy::Fixed(2));
    assert_eq!(whole.engine, EngineKind::Full);
    assert_eq!(chunked.engine, EngineKind::Streaming);
    assert!((whole.loss - chunked.loss).abs() <= 1e-10 * chunked.loss.abs().max(1.0));
}

#[test]
fn checkpointed_interactions_give_the_same_gradients() {
    for strategy in [StrategyKind::Delta, StrategyKind::Complex] {
        let config = grouped(
            strategy,
            true,
            CombinationKind::Boltzmann { temperature: 0.7 },
        );
        let (params, plain) = build(&config);
        let mut checkpointed = plain.clone();
        checkpointed.set_checkpointing(true);
        let c = compound(&config, 7, 11);
        let objective = Objective::mse(1.5);
        for kind in [
            EngineKind::Full,
            EngineKind::Streaming,
            EngineKind::Recompute,
        ] {
            let engine = fixed(kind, 3);
            let a = train_step(&plain, &params, &c, &objective, &engine).unwrap();
            let b = train_step(&checkpointed, &params, &c, &objective, &engine).unwrap();
            assert_eq!(a.loss, b.loss, "{strategy:?} {kind:?}");
            let d = max_rel_diff(&b, &a);
            assert!(d <= 1e-12, "{strategy:?} {kind:?}: {d:e}");
        }
    }
}

fn pose_terms() -> Vec<Vec<PoseTerm>> {
    vec![
        vec![],
        vec![PoseTerm::Mse {
            weight: 0.25,
            target: -0.3,
        }],
        vec![PoseTerm::CrossEntropy {
            weight: 0.5,
            label: 0,
            temperature: 0.8,
        }],
    ]
}

/// Recompute's vector seeds give the full engine's gradient for attention, including
/// the scorer's own parameters, which must get a nonzero gradient once N > 1. Their
/// gradient is ∝ ŷᵢ − ŷ, here ~1e-4 of |ŷ|, so the ~1e-16 differences of ŷ between
/// batchings show in it at up to ~5e-11 relative (delta with layer norm, N = 2).
fn check_attention(strategy: StrategyKind, layer_norm: bool, ns: &[usize]) {
    let config = grouped(
        strategy,
        layer_norm,
        CombinationKind::Attention { width: 3 },
    );
    for &n in ns {
        // Seeded (the trainer's initialisation) so every run checks the same numbers.
        let (params, model) = build(&config);
        init_params(&params, 11 + n as u64).unwrap();
        let c = compound(&config, n, 5 + n as u64);
        for terms in pose_terms() {
            let mut objective = Objective::mse(1.5);
            objective.pose_terms = terms.clone();
            let run = |kind, chunk| {
                train_step(&model, &params, &c, &objective, &fixed(kind, chunk)).unwrap()
            };
            let full = run(EngineKind::Full, n);
            assert!(full.loss.is_finite());
            let scorer = full
                .grads
                .get("combination.attention.hidden.weight")
                .unwrap()
                .abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f64>()
                .unwrap();
            assert_eq!(
                scorer > 0.0,
                n > 1,
                "{strategy:?} N={n}: scorer gradient {scorer}"
            );
            for chunk in [1, 3, n] {
                let r = run(EngineKind::Recompute, chunk);
                assert_eq!(r.poses.len(), n);
                assert_equals_full(
                    &r,
                    &full,
                    &format!(
                        "attention {strategy:?} ln={layer_norm} N={n} chunk={chunk} {terms:?}"
                    ),
                );
            }
        }
    }
}

/// At the random (not the trainer's seeded) initialisation, recompute still equals full
/// run with the same chunks, where both batch the same graphs and so see the same ŷᵢ and
/// zᵢ (complex strategy: no protein graphs, which recompute shares and full batches inline).
#[test]
fn attention_recompute_equals_full_at_random_init() {
    let config = grouped(
        StrategyKind::Complex,
        true,
        CombinationKind::Attention { width: 3 },
    );
    let (params, model) = build(&config);
    let c = compound(&config, 7, 12);
    let mut objective = Objective::mse(1.5);
    objective.pose_terms = pose_terms().pop().unwrap();
    for chunk in [1, 3, 7] {
        let run = |kind| train_step(&model, &params, &c, &objective, &fixed(kind, chunk)).unwrap();
        let d = max_rel_diff(&run(EngineKind::Recompute), &run(EngineKind::Full));
        assert!(d <= 1e-10, "chunk={chunk}: {d:e}");
    }
}

#[test]
fn attention_recompute_equals_full() {
    for layer_norm in [false, true] {
        check_attention(StrategyKind::Delta, layer_norm, &[1, 2, 7]);
        check_attention(StrategyKind::Complex, layer_norm, &[1, 2, 7]);
    }
    check_attention(StrategyKind::Concat, true, &[2, 7]);
}

#[test]
fn attention_runs_on_recompute_only() {
    let config = grouped(
        StrategyKind::Delta,
        false,
        CombinationKind::Attention { width: 4 },
    );
    let (params, model) = build(&config);
    let c = compound(&config, 5, 2);
    let objective = Objective::mse(1.0);
    let run = |kind| train_step(&model, &params, &c, &objective, &fixed(kind, 2));
    assert_eq!(run(EngineKind::Auto).unwrap().engine, EngineKind::Recompute);
    for (kind, name) in [
        (EngineKind::Streaming, "streaming"),
        (EngineKind::Stored, "stored"),
    ] {
        let e = run(kind).unwrap_err();
        assert!(
            matches!(&e, multipose::Error::Unsupported { engine, reason }
                if *engine == name && reason.contains("attention")),
            "{e}"
        );
    }
}
