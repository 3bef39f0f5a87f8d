//! Seeded initialisation of a model's parameters, the same on every machine, drawing what
//! each layer declared when it created the parameter (candle's `VarBuilder` hints, or
//! values a network gave with `Params::declare_start`): candle's CPU generator cannot be
//! seeded, so its own draw is replaced.

use super::Params;
use super::params::Start;
use crate::error::Result;
use crate::rng::SplitMix;
use candle_core::{Device, Tensor};
use candle_nn::Init;

/// Deterministic initialisation from `seed`, parameter by parameter in name order. The
/// hint candle's `linear` gives its weight (Kaiming normal) is read as torch's Linear
/// default, U(±1/√fan_in), which mtenn's models start from; a constant, normal or uniform
/// hint is drawn as it says.
pub fn init_params(params: &Params, seed: u64) -> Result<()> {
    let mut rng = SplitMix(seed);
    for (name, var) in &params.named() {
        let dims = var.dims().to_vec();
        let values = match params.start(name) {
            Some(Start::Values(v)) => v,
            Some(Start::Hint(hint)) => draw(hint, &dims, &mut rng),
            // Not created through a builder: nothing declared, nothing to draw.
            None => continue,
        };
        let t = Tensor::from_vec(values, dims, &Device::Cpu)?;
        params.set(name, &t)?;
    }
    Ok(())
}

/// `dims`' values as `hint` declares them.
fn draw(hint: Init, dims: &[usize], rng: &mut SplitMix) -> Vec<f64> {
    let count: usize = dims.iter().product();
    let mut uniform = |bound: f64| -> Vec<f64> {
        (0..count)
            .map(|_| (2.0 * rng.next_f64() - 1.0) * bound)
            .collect()
    };
    match hint {
        Init::Const(v) => vec![v; count],
        Init::Uniform { lo, up } if lo == -up => uniform(up),
        Init::Uniform { lo, up } => (0..count)
            .map(|_| lo + (up - lo) * rng.next_f64())
            .collect(),
        Init::Kaiming { .. } => uniform(1.0 / (dims.last().copied().unwrap_or(1) as f64).sqrt()),
        Init::Randn { mean, stdev } => (0..count)
            .map(|_| {
                let (u, v) = (rng.next_f64().max(1e-300), rng.next_f64());
                mean + stdev * ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos())
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ModelConfig, PoseModel, SchNetConfig};
    use candle_core::DType;

    #[test]
    fn the_representation_draws_its_embedding_and_linear_layers_stay_bounded() {
        let model = ModelConfig {
            representation: crate::model::RepresentationConfig::SchNet(SchNetConfig {
                hidden_channels: 8,
                num_filters: 8,
                num_interactions: 1,
                num_gaussians: 5,
                cutoff: 4.0,
                max_num_neighbors: 8,
            }),
            ..ModelConfig::default()
        };
        let params = Params::new(DType::F64, &Device::Cpu);
        PoseModel::new(&model, &params, true).unwrap();
        init_params(&params, 3).unwrap();
        let values = |name: &str| -> Vec<f64> {
            let (_, v) = params.named().into_iter().find(|(n, _)| n == name).unwrap();
            v.flatten_all().unwrap().to_vec1::<f64>().unwrap()
        };
        // N(0, 1): 800 draws go well past the Linear bound 1/√8 ≈ 0.35.
        let embedding = values("representation.embedding.weight");
        assert!(embedding.iter().any(|v| v.abs() > 1.0));
        let lin = values("representation.lin1.weight");
        assert!(lin.iter().all(|v| v.abs() <= 1.0 / 8f64.sqrt()));
    }

    #[test]
    fn visnet_declares_xavier_layers_zero_biases_and_the_heads_keep_torch_defaults() {
        use crate::combine::{CombinationConfig, CombinationKind, GroupedConfig, GroupedModel};
        let v = crate::model::visnet::ViSNetConfig {
            hidden_channels: 8,
            num_heads: 2,
            num_layers: 1,
            num_rbf: 4,
            ..Default::default()
        };
        let config = GroupedConfig {
            model: ModelConfig {
                representation: crate::model::RepresentationConfig::ViSNet(v),
                strategy: crate::model::StrategyKind::Complex,
                ..ModelConfig::default()
            },
            combination: CombinationConfig {
                kind: CombinationKind::Attention { width: 4 },
                learnable: false,
            },
            readout: crate::model::Readout::None,
            delta_docking: false,
        };
        let params = Params::new(DType::F64, &Device::Cpu);
        GroupedModel::new(&config, &params).unwrap();
        init_params(&params, 5).unwrap();
        let values = |suffix: &str| -> Vec<f64> {
            let (_, v) = params
                .named()
                .into_iter()
                .find(|(n, _)| n.ends_with(suffix))
                .unwrap();
            v.flatten_all().unwrap().to_vec1::<f64>().unwrap()
        };
        // q_proj is 8 x 8: Xavier's bound √(6/16) is above torch's Linear 1/√8.
        let q = values("vis_mp_layers.0.q_proj.weight");
        let xavier = (6.0f64 / 16.0).sqrt();
        assert!(q.iter().all(|x| x.abs() <= xavier));
        assert!(q.iter().any(|x| x.abs() > 1.0 / 8f64.sqrt()));
        assert!(
            values("vis_mp_layers.0.q_proj.bias")
                .iter()
                .all(|&b| b == 0.0)
        );
        assert!(
            values("prior_model.atomref.weight")
                .iter()
                .all(|&b| b == 0.0)
        );
        // The attention scorer is drawn as torch's Linear whatever the network.
        let hidden = values("combination.attention.hidden.bias");
        assert!(hidden.iter().any(|&b| b != 0.0));
    }
}
