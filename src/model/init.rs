//! Seeded initialisation of a model's parameters, the same on every machine.

use super::representation::Draw;
use super::{ModelConfig, Params};
use crate::error::Result;
use crate::rng::SplitMix;
use candle_core::{Device, Tensor};
use std::collections::HashMap;

/// Deterministic initialisation from `seed` (candle's CPU generator cannot be seeded):
/// the representation's own rule where it has one (SchNet: its embedding N(0, 1)), else
/// weights U(±1/√fan_in) as torch's Linear and LayerNorm 1 and 0.
pub fn init_params(params: &Params, model: &ModelConfig, seed: u64) -> Result<()> {
    let mut rng = SplitMix(seed);
    let named = params.named();
    let ranks: HashMap<String, usize> = named.iter().map(|(n, v)| (n.clone(), v.rank())).collect();
    for (name, var) in &named {
        // A learned scale / temperature keeps its configured start; attention's scorer
        // (`combination.attention.*`, linear layers) is drawn like every other layer.
        if name.starts_with("combination.") && !name.starts_with("combination.attention.") {
            continue;
        }
        let dims = var.dims().to_vec();
        let count: usize = dims.iter().product();
        let sibling_weight = name.strip_suffix("bias").map(|p| format!("{p}weight"));
        let fan_in = match (&sibling_weight, dims.as_slice()) {
            (_, [_, i]) => *i,
            (Some(w), _) => named
                .iter()
                .find(|(n, _)| n == w)
                .map_or(1, |(_, v)| v.dims().last().copied().unwrap_or(1)),
            _ => 1,
        };
        let is_layer_norm = dims.len() == 1
            && sibling_weight
                .as_ref()
                .map_or(ranks.get(name) == Some(&1), |w| ranks.get(w) == Some(&1));
        let own = model.representation.init_rule(name);
        if own == Some(Draw::Keep) {
            continue;
        }
        let values: Vec<f64> = if own == Some(Draw::Zeros) {
            vec![0.0; count]
        } else if let (Some(Draw::XavierUniform), [fan_out, fan_in]) = (own, dims.as_slice()) {
            let bound = (6.0 / (fan_in + fan_out) as f64).sqrt();
            (0..count)
                .map(|_| (2.0 * rng.next_f64() - 1.0) * bound)
                .collect()
        } else if own == Some(Draw::StandardNormal) {
            (0..count)
                .map(|_| {
                    let (u, v) = (rng.next_f64().max(1e-300), rng.next_f64());
                    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
                })
                .collect()
        } else if is_layer_norm {
            vec![if name.ends_with("weight") { 1.0 } else { 0.0 }; count]
        } else {
            let bound = 1.0 / (fan_in as f64).sqrt();
            (0..count)
                .map(|_| (2.0 * rng.next_f64() - 1.0) * bound)
                .collect()
        };
        let t = Tensor::from_vec(values, dims, &Device::Cpu)?;
        params.set(name, &t)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PoseModel, SchNetConfig};
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
        init_params(&params, &model, 3).unwrap();
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
}
