//! The objectives that rank a series: the within-target pairwise loss, per-target offsets
//! and Δ-learning on the docking score. Their batch gradients through every engine equal
//! `full` in f64 (≤ 1e-10) and finite differences of the whole batch loss; on real data
//! (TYK2 and Eg5 as two targets) a run trains with all three and its saved model predicts
//! what the run reported.

mod common;

use candle_core::Tensor;
use common::{build, grouped, poses};
use multipose::combine::{
    ChunkPolicy, CombinationKind, EngineConfig, EngineKind, Objective, OutputTerm, train_batch,
};
use multipose::dataset::{DatasetSpec, open};
use multipose::model::{CompoundGraphs, Params, StrategyKind};
use multipose::train::pairwise::{Member, pair_loss};
use multipose::train::{RunOptions, TrainConfig, TrainedModel, train};
use std::path::PathBuf;

const TARGETS: [&str; 4] = ["a", "a", "b", "a"];
const LABELS: [f64; 4] = [0.4, -0.3, 0.8, 0.1];
const SHIFTS: [f64; 4] = [0.3, -0.2, 1.1, 0.05];
const PAIR_WEIGHT: f64 = 0.7;

fn compounds(config: &multipose::combine::GroupedConfig) -> Vec<CompoundGraphs> {
    [2, 3, 5, 1]
        .iter()
        .enumerate()
        .map(|(k, &n)| {
            let structures = poses(10, 4, n, 40 + k as u64);
            let graph = config.model.representation.graph();
            CompoundGraphs::build("c", &structures, config.model.strategy, &graph).unwrap()
        })
        .collect()
}

/// Each compound's read-out value plus its shift, at the current parameters.
fn shifted(model: &multipose::combine::GroupedModel, graphs: &[CompoundGraphs]) -> Vec<f64> {
    let refs: Vec<&CompoundGraphs> = graphs.iter().collect();
    let preds = model.predict_batch(&refs, &ChunkPolicy::Fixed(64)).unwrap();
    preds
        .iter()
        .zip(SHIFTS)
        .map(|(p, s)| p.output + s)
        .collect()
}

/// The batch loss: mean of each compound's MSE on z + shift, plus the pair loss.
fn batch_loss(model: &multipose::combine::GroupedModel, graphs: &[CompoundGraphs]) -> f64 {
    let z = shifted(model, graphs);
    let own: f64 = z.iter().zip(LABELS).map(|(z, y)| (z - y).powi(2)).sum();
    own / z.len() as f64 + pair_loss(&members(&z), PAIR_WEIGHT).0
}

fn members(z: &[f64]) -> Vec<Member<'static>> {
    (0..z.len())
        .map(|i| Member {
            target: TARGETS[i],
            label: Some(LABELS[i]),
            z: z[i],
        })
        .collect()
}

/// What the training loop hands the engines: each compound's MSE moved by its shift, plus
/// the linear term n·∂L_pair/∂zᵢ at the current predictions.
fn planned(model: &multipose::combine::GroupedModel, graphs: &[CompoundGraphs]) -> Vec<Objective> {
    let z = shifted(model, graphs);
    let (_, grad) = pair_loss(&members(&z), PAIR_WEIGHT);
    (0..graphs.len())
        .map(|i| {
            let mut o = Objective::mse(LABELS[i]).shifted(SHIFTS[i]);
            o.output_terms.push(OutputTerm::Linear {
                weight: graphs.len() as f64 * grad[i],
            });
            o
        })
        .collect()
}

fn values(t: &Tensor) -> Vec<f64> {
    t.flatten_all().unwrap().to_vec1::<f64>().unwrap()
}

/// Moves every parameter by `h` times its direction.
fn nudge(params: &Params, direction: &[(String, Tensor)], h: f64) {
    for ((_, var), (_, d)) in params.named().iter().zip(direction) {
        var.set(&(var.as_tensor() + (d * h).unwrap()).unwrap())
            .unwrap();
    }
}

#[test]
fn pairwise_and_shifted_batches_are_exact_in_every_engine() {
    for kind in [
        CombinationKind::Mean,
        CombinationKind::Boltzmann { temperature: 1.0 },
    ] {
        let config = grouped(StrategyKind::Delta, false, kind);
        let (params, model) = build(&config);
        let graphs = compounds(&config);
        let objectives = planned(&model, &graphs);
        let items: Vec<_> = graphs.iter().zip(&objectives).collect();
        let step = |engine: EngineKind, pack: bool| {
            let engine = EngineConfig {
                kind: engine,
                chunk: ChunkPolicy::Fixed(2),
                pack,
            };
            train_batch(&model, &params, &items, &engine).unwrap()
        };
        let full = step(EngineKind::Full, false);
        for (engine, pack) in [
            (EngineKind::Stored, false),
            (EngineKind::Streaming, false),
            (EngineKind::Recompute, false),
            (EngineKind::Auto, true),
        ] {
            let other = step(engine, pack);
            for (name, g) in full.grads.iter() {
                let (a, b) = (values(g), values(other.grads.get(name).unwrap()));
                let scale = a.iter().fold(1e-300f64, |m, x| m.max(x.abs()));
                let d = a
                    .iter()
                    .zip(&b)
                    .fold(0f64, |m, (x, y)| m.max((x - y).abs()));
                assert!(
                    d / scale <= 1e-10,
                    "{kind:?} {engine:?} {name}: {}",
                    d / scale
                );
            }
        }
        // The whole batch loss along a random direction, against a central difference.
        let mut rng = multipose::rng::SplitMix(3);
        let direction: Vec<(String, Tensor)> = params
            .named()
            .iter()
            .map(|(n, v)| {
                let r: Vec<f64> = (0..v.elem_count()).map(|_| rng.next_f64() - 0.5).collect();
                let t = Tensor::new(r, v.device()).unwrap();
                (n.clone(), t.reshape(v.shape()).unwrap())
            })
            .collect();
        let analytic: f64 = direction
            .iter()
            .map(|(n, d)| {
                let g = values(full.grads.get(n).unwrap());
                g.iter().zip(values(d)).map(|(g, d)| g * d).sum::<f64>()
            })
            .sum();
        let h = 1e-5;
        nudge(&params, &direction, h);
        let up = batch_loss(&model, &graphs);
        nudge(&params, &direction, -2.0 * h);
        let down = batch_loss(&model, &graphs);
        nudge(&params, &direction, h);
        let fd = (up - down) / (2.0 * h);
        assert!(
            (fd - analytic).abs() <= 1e-6 * analytic.abs().max(1e-3),
            "{kind:?}: finite difference {fd} vs gradient {analytic}"
        );
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn a_run_with_every_objective_trains_on_two_real_targets_and_predicts_what_it_reported() {
    let base = std::env::temp_dir().join(format!("multipose-objectives-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let data = base.join("data");
    for t in ["tyk2", "eg5"] {
        let to = data.join(t);
        std::fs::create_dir_all(to.join("poses")).unwrap();
        let from = root().join("data").join(t);
        for f in ["receptor.pdb", "labels.csv"] {
            std::fs::copy(from.join(f), to.join(f)).unwrap();
        }
        for entry in std::fs::read_dir(from.join("poses")).unwrap() {
            let p = entry.unwrap().path();
            // Three poses per compound keep the test fast.
            let text = std::fs::read_to_string(&p).unwrap();
            let kept: String = text.split_inclusive("$$$$\n").take(3).collect();
            std::fs::write(to.join("poses").join(p.file_name().unwrap()), kept).unwrap();
        }
    }
    let text = format!(
        "[data]\npath = {:?}\npocket_radius = 5.0\n[model]\nhidden_channels = 8\nnum_filters = 8\n\
         num_interactions = 1\nnum_gaussians = 6\ncutoff = 4.0\ncombination = \"mean\"\n\
         delta_docking = true\n[loss]\npairwise = 1.0\noffsets = \"per_target\"\n\
         [optim]\nepochs = 2\nbatch_size = 4\n[early_stopping]\nkind = \"none\"\n\
         [split]\nkind = \"random\"\ntrain = 0.7\nval = 0.15\ntest = 0.15\n",
        data.display().to_string()
    );
    let config = TrainConfig::from_toml(&text, &[]).unwrap();
    let run = base.join("run");
    let options = RunOptions {
        quiet: true,
        ..RunOptions::default()
    };
    train(&config, &run, &options).unwrap();
    let offsets = std::fs::read_to_string(run.join("offsets.json")).unwrap();
    assert!(
        offsets.contains("tyk2") && offsets.contains("eg5"),
        "{offsets}"
    );
    let trained = TrainedModel::load(&run, &candle_core::Device::Cpu).unwrap();
    // Δ-learning moved a away from its start, the docking score read as pK.
    let coef = trained.shift.coef(&trained.params).unwrap();
    let start = -1.0 / multipose::dataset::KCAL_PER_P;
    assert!(coef != start && coef.is_finite(), "{coef}");
    let spec = DatasetSpec {
        pocket_radius: Some(5.0),
        ..DatasetSpec::default()
    };
    let compounds = open(&data, &spec).unwrap().compounds;
    let predicted = trained.predict(&compounds).unwrap();
    let csv = std::fs::read_to_string(run.join("predictions.csv")).unwrap();
    let mut checked = 0;
    for (c, p) in compounds.iter().zip(&predicted) {
        let line = csv
            .lines()
            .find(|l| l.starts_with(&format!("{},", c.id)))
            .unwrap_or_else(|| panic!("{} not in predictions.csv", c.id));
        let reported: f64 = line.split(',').nth(5).unwrap().parse().unwrap();
        assert!(
            (reported - p.output).abs() < 1e-3,
            "{}: {reported} vs {}",
            c.id,
            p.output
        );
        checked += 1;
    }
    assert_eq!(checked, 19);

    // Coordinate noise: the same seed repeats the run exactly, and it is not the run above.
    let noisy = |name: &str| {
        let text = format!("{text}[augment]\nnoise = 0.3\n");
        let config = TrainConfig::from_toml(&text, &[]).unwrap();
        train(&config, &base.join(name), &options).unwrap();
        std::fs::read_to_string(base.join(name).join("predictions.csv")).unwrap()
    };
    let (a, b) = (noisy("noisy_a"), noisy("noisy_b"));
    assert_eq!(a, b);
    assert_ne!(a, csv);
    std::fs::remove_dir_all(&base).ok();
}
