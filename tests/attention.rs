//! The attention combination: weights are the softmax of the scorer and sum to one,
//! predictions report them, invalid set-ups are errors, the training config maps it, and
//! its parameters are initialised seeded and saved/loaded with the rest.

mod common;

use candle_core::{DType, Device};
use common::{build, compound, grouped};
use multipose::Error;
use multipose::combine::{ChunkPolicy, CombinationKind, GroupedModel, softmax_f64};
use multipose::dataset::Assay;
use multipose::model::init_params;
use multipose::model::{Params, ProteinInput, StrategyKind, load_weights, save_weights};
use multipose::train::{TrainConfig, default_toml_commented, grouped_config};

fn values(params: &Params, name: &str) -> Vec<f64> {
    let named = params.named();
    let (_, v) = named.iter().find(|(n, _)| n == name).unwrap();
    v.flatten_all().unwrap().to_vec1::<f64>().unwrap()
}

/// sᵢ = wᵀ tanh(V z̃ᵢ + b) by hand, from the stored parameters, with z̃ the embeddings
/// centred over the poses and divided by the rms of the centred entries.
fn scores_by_hand(params: &Params, z: &[Vec<f64>]) -> Vec<f64> {
    let (n, d) = (z.len(), z[0].len());
    let mean: Vec<f64> = (0..d)
        .map(|j| z.iter().map(|zi| zi[j]).sum::<f64>() / n as f64)
        .collect();
    let centred: Vec<Vec<f64>> = z
        .iter()
        .map(|zi| zi.iter().zip(&mean).map(|(a, m)| a - m).collect())
        .collect();
    let variance = centred.iter().flatten().map(|x| x * x).sum::<f64>() / (n * d) as f64;
    let scale = (variance + 1e-6).sqrt();
    let z: Vec<Vec<f64>> = centred
        .iter()
        .map(|zi| zi.iter().map(|x| x / scale).collect())
        .collect();
    let v = values(params, "combination.attention.hidden.weight");
    let b = values(params, "combination.attention.hidden.bias");
    let w = values(params, "combination.attention.score.weight");
    z.iter()
        .map(|zi| {
            (0..w.len())
                .map(|a| {
                    let pre: f64 = (0..d).map(|j| v[a * d + j] * zi[j]).sum::<f64>() + b[a];
                    w[a] * pre.tanh()
                })
                .sum()
        })
        .collect()
}

#[test]
fn weights_are_the_softmax_of_the_scorer_and_sum_to_one() {
    for strategy in [StrategyKind::Delta, StrategyKind::Complex] {
        let config = grouped(strategy, false, CombinationKind::Attention { width: 3 });
        let (params, model) = build(&config);
        let n = 6;
        let c = compound(&config, n, 4);
        let all: Vec<usize> = (0..n).collect();
        let (_, z) = model
            .frozen
            .predict_with_embeddings(&c, &all, ProteinInput::Inline, true)
            .unwrap();
        let z = z.unwrap().to_vec2::<f64>().unwrap();
        assert_eq!(z[0].len(), config.model.representation.output_width());
        let want = softmax_f64(&scores_by_hand(&params, &z));

        let p = model.predict(&c, &ChunkPolicy::Fixed(4)).unwrap();
        assert!((p.weights.iter().sum::<f64>() - 1.0).abs() <= 1e-12);
        for (got, want) in p.weights.iter().zip(&want) {
            assert!((got - want).abs() <= 1e-12, "{strategy:?}: {got} vs {want}");
        }
        let spread =
            want.iter().copied().fold(0f64, f64::max) - want.iter().copied().fold(1f64, f64::min);
        assert!(
            spread > 1e-4,
            "{strategy:?}: weights nearly uniform ({spread})"
        );
        let combined: f64 = want.iter().zip(&p.poses).map(|(a, y)| a * y).sum();
        assert!((p.combined - combined).abs() <= 1e-12 * combined.abs().max(1.0));
    }
}

#[test]
fn ligand_only_learnable_and_zero_width_are_config_errors() {
    let params = Params::new(DType::F64, &Device::Cpu);
    let attention = CombinationKind::Attention { width: 3 };
    let ligand = grouped(StrategyKind::LigandOnly, false, attention);
    let e = GroupedModel::new(&ligand, &params).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidConfig(m) if m.contains("ligand-only")),
        "{e}"
    );
    let mut learnable = grouped(StrategyKind::Delta, false, attention);
    learnable.combination.learnable = true;
    let e = GroupedModel::new(&learnable, &params).unwrap_err();
    assert!(matches!(e, Error::InvalidConfig(_)), "{e}");
    let zero = grouped(
        StrategyKind::Delta,
        false,
        CombinationKind::Attention { width: 0 },
    );
    let e = GroupedModel::new(&zero, &Params::new(DType::F64, &Device::Cpu)).unwrap_err();
    assert!(matches!(e, Error::InvalidConfig(_)), "{e}");
}

#[test]
fn training_config_maps_attention() {
    let overrides = [
        ("model.combination".to_string(), "attention".to_string()),
        ("model.attention_width".to_string(), "5".to_string()),
    ];
    let config = TrainConfig::from_toml("", &overrides).unwrap();
    let g = grouped_config(&config, Assay::Pic50).unwrap();
    assert_eq!(g.combination.kind, CombinationKind::Attention { width: 5 });
    assert!(default_toml_commented().contains("attention_width"));
    let parsed = TrainConfig::from_toml(&default_toml_commented(), &[]).unwrap();
    assert_eq!(parsed.model.attention_width, 16);
}

#[test]
fn scorer_is_initialised_seeded_and_saved_with_the_weights() {
    let config = grouped(
        StrategyKind::Delta,
        false,
        CombinationKind::Attention { width: 3 },
    );
    let (a, model) = build(&config);
    let (b, _) = build(&config);
    init_params(&a, 7).unwrap();
    init_params(&b, 7).unwrap();
    let bound = 1.0 / (config.model.representation.output_width() as f64).sqrt();
    for name in [
        "combination.attention.hidden.weight",
        "combination.attention.hidden.bias",
        "combination.attention.score.weight",
    ] {
        let (va, vb) = (values(&a, name), values(&b, name));
        assert_eq!(va, vb, "{name} not seeded");
        assert!(va.iter().any(|v| *v != 0.0), "{name} all zero");
        if name.contains("hidden") {
            assert!(va.iter().all(|v| v.abs() <= bound), "{name} out of ±1/√D");
        }
    }
    let c = compound(&config, 4, 9);
    let before = model.predict(&c, &ChunkPolicy::Fixed(3)).unwrap();
    let path = std::env::temp_dir().join(format!(
        "multipose-attention-{}.safetensors",
        std::process::id()
    ));
    save_weights(&a, &config.model, &path).unwrap();
    let mut fresh = Params::new(DType::F64, &Device::Cpu);
    GroupedModel::new(&config, &fresh).unwrap();
    load_weights(&mut fresh, &config.model, &path).unwrap();
    let reloaded = GroupedModel::new(&config, &fresh).unwrap();
    let after = reloaded.predict(&c, &ChunkPolicy::Fixed(3)).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(before, after);
}
