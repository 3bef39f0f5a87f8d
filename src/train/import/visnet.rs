//! mtenn ViSNet models (`mtenn.conversion_utils.visnet`): what their weights fix, and the
//! asapdiscovery-ml `ViSNetModelConfig` keys as settings.

use super::super::TrainConfig;
use super::super::config::RepresentationSection;
use crate::error::{Error, Result};
use crate::model::visnet::ViSNetConfig;
use candle_core::{DType, Tensor};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

const BLOCK: &str = "representation.visnet.representation_model";

/// Whether `tensors` are an mtenn ViSNet model's.
pub fn is_visnet(tensors: &HashMap<String, Tensor>) -> bool {
    tensors.contains_key(&format!("{BLOCK}.embedding.weight"))
}

/// What an mtenn ViSNet weights file fixes. Heads, lmax, the neighbour cap, the
/// reduction and whether bases and norms were learned leave no trace in the shapes: they
/// come from the caller (or model_config.json).
#[derive(Debug, Clone, PartialEq)]
pub struct Inferred {
    /// Feature width H and embedding rows (`embedding.weight` is `[max_z, H]`).
    pub hidden_channels: usize,
    /// Embedding rows.
    pub max_z: usize,
    /// Message-passing layers.
    pub num_layers: usize,
    /// Radial bases (`neighbor_embedding.distance_proj.weight` is `[H, K]`).
    pub num_rbf: usize,
    /// Vertex layers (they have `t_src_proj`).
    pub vertex: bool,
    /// The cutoff, when the radial means are the untouched linspace from e^(−cutoff) to 1.
    pub cutoff: Option<f64>,
}

/// Reads what the file fixes.
pub fn infer(tensors: &HashMap<String, Tensor>, path: &Path) -> Result<Inferred> {
    let bad = |message: String| Error::Input {
        path: path.to_path_buf(),
        message,
    };
    let dims = |name: &str| {
        tensors
            .get(&format!("{BLOCK}.{name}"))
            .map(|t| t.dims().to_vec())
    };
    let (max_z, hidden) = match dims("embedding.weight").as_deref() {
        Some([z, h]) => (*z, *h),
        _ => return Err(bad("no ViSNet `embedding.weight` [max_z, H]".into())),
    };
    let num_rbf = match dims("neighbor_embedding.distance_proj.weight").as_deref() {
        Some([_, k]) => *k,
        _ => {
            return Err(bad(
                "no `neighbor_embedding.distance_proj.weight` [H, K]".into()
            ));
        }
    };
    let layers: BTreeSet<usize> = tensors
        .keys()
        .filter_map(|k| k.strip_prefix(&format!("{BLOCK}.vis_mp_layers.")))
        .filter_map(|k| k.split('.').next()?.parse().ok())
        .collect();
    let vertex = tensors.keys().any(|k| k.contains(".t_src_proj."));
    let cutoff = match tensors.get(&format!("{BLOCK}.distance_expansion.means")) {
        Some(t) => cutoff_of(&t.to_dtype(DType::F64)?.to_vec1::<f64>()?),
        None => None,
    };
    Ok(Inferred {
        hidden_channels: hidden,
        max_z,
        num_layers: layers.len(),
        num_rbf,
        vertex,
        cutoff,
    })
}

/// The cutoff of untouched radial means (torch's linspace from e^(−cutoff) to 1); `None`
/// when they were learned (`trainable_rbf`) or edited, which leaves no cutoff to read.
fn cutoff_of(means: &[f64]) -> Option<f64> {
    let (&first, &last) = (means.first()?, means.last()?);
    if means.len() < 2 || (last - 1.0).abs() > 1e-6 || first <= 0.0 {
        return None;
    }
    let step = (last - first) / (means.len() - 1) as f64;
    let even = means
        .iter()
        .enumerate()
        .all(|(i, m)| (m - (first + step * i as f64)).abs() <= 1e-5 * step.abs().max(1e-6));
    even.then(|| -first.ln())
}

impl Inferred {
    /// Makes `config` a ViSNet of these sizes (other ViSNet keys as given); a key in
    /// `given` that the file contradicts is an error naming both.
    pub fn apply(&self, config: &mut TrainConfig, given: &[String]) -> Result<()> {
        let mut v = match &config.model.representation {
            RepresentationSection::ViSNet(v) => v.clone(),
            RepresentationSection::SchNet => ViSNetConfig::default(),
        };
        // The first mean is e^(−cutoff) rounded to f32: its log is within 1e-6 Å.
        let cutoff = self.cutoff.map_or(v.cutoff, |c| (c * 1e4).round() / 1e4);
        let checks = [
            (
                "hidden_channels",
                v.hidden_channels as f64,
                self.hidden_channels as f64,
            ),
            ("max_z", v.max_z as f64, self.max_z as f64),
            ("num_layers", v.num_layers as f64, self.num_layers as f64),
            ("num_rbf", v.num_rbf as f64, self.num_rbf as f64),
            (
                "vertex",
                f64::from(u8::from(v.vertex)),
                f64::from(u8::from(self.vertex)),
            ),
            ("cutoff", v.cutoff, cutoff),
        ];
        for (key, set, trained) in checks {
            let key = format!("model.representation.{key}");
            if given.contains(&key) && (set - trained).abs() > 1e-4 * trained.abs().max(1.0) {
                return Err(Error::InvalidConfig(format!(
                    "`{key}` is {set}, but the weights were trained with {trained}"
                )));
            }
        }
        v.hidden_channels = self.hidden_channels;
        v.max_z = self.max_z;
        v.num_layers = self.num_layers;
        v.num_rbf = self.num_rbf;
        v.vertex = self.vertex;
        v.cutoff = cutoff;
        config.model.representation = RepresentationSection::ViSNet(v);
        config.model.layer_norm = false;
        Ok(())
    }
}

/// `ViSNetModelConfig` keys as `model.representation.*` overrides. mean, std and atomref
/// are left out: the weights file holds mean and std, and mtenn's forward never reads the
/// atom references (nor `derivative`).
pub fn config_overrides(obj: &serde_json::Map<String, serde_json::Value>) -> Vec<(String, String)> {
    let mut out = vec![(
        "model.representation.kind".to_string(),
        "\"visnet\"".to_string(),
    )];
    for key in ViSNetConfig::KEYS {
        if let Some(v) = obj.get(key).filter(|v| !v.is_null()) {
            out.push((format!("model.representation.{key}"), v.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cutoff_is_read_from_untouched_means_only() {
        let config = ViSNetConfig {
            cutoff: 7.5,
            num_rbf: 16,
            ..Default::default()
        };
        let means = config.buffers().remove(0).default;
        let found = cutoff_of(&means).unwrap();
        assert!((found - 7.5).abs() < 1e-5, "{found}");
        let mut learned = means.clone();
        learned[3] += 0.01;
        assert_eq!(cutoff_of(&learned), None);
    }
}
