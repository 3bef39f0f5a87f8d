//! Trained runs loaded for prediction, alone or as an ensemble (mean ± std over models).

use super::TrainConfig;
use super::prepare::{engine_config, grouped_config, stored_assay};
use super::run_dir::RunDir;
use super::shift::Shift;
use crate::combine::{GroupedModel, Prediction, top_pose};
use crate::dataset::CompoundData;
use crate::error::{Error, Result};
use crate::model::{CompoundGraphs, Params};
use candle_core::{DType, Device, Tensor};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// A run folder's model with the weights behind its reported results.
pub struct TrainedModel {
    /// The run's configuration.
    pub config: TrainConfig,
    /// The model over the reported weights.
    pub model: GroupedModel,
    /// Its parameters (shared with `model`: setting them changes its predictions).
    pub params: Params,
    /// The weights file loaded.
    pub weights: PathBuf,
    /// Whether `summary.json` named that file (else the stopping rule chose it).
    pub weights_recorded: bool,
    /// What its predictions add to the read-out value (offsets, Δ-learning).
    pub shift: Shift,
}

impl TrainedModel {
    /// Loads the run in `dir` onto `device`.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let run = RunDir::new(dir);
        let config = run.read_config()?;
        super::trainer::check_unedited(&run, &config)?;
        let grouped = grouped_config(&config, stored_assay(&config))?;
        let mut params = Params::new(DType::F32, device);
        let mut model = GroupedModel::new(&grouped, &params)?;
        let (weights, weights_recorded) = run.reported_weights(&config)?;
        let shift = Shift::load(&config, &run)?;
        model.load_weights(&mut params, &weights)?;
        // Prediction visits each batch once: keeping batches would only hold memory.
        model.set_batch_cache_bytes(0);
        Ok(Self {
            config,
            model,
            params,
            weights,
            weights_recorded,
            shift,
        })
    }

    /// Every tensor under mtenn's state-dict names (both aliases of each filter network,
    /// as torch's `state_dict` has them) with the network's buffers, on the CPU in f32.
    pub fn state_dict(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = Vec::new();
        for (name, var) in self.params.named() {
            let t = var
                .as_detached_tensor()
                .to_device(&Device::Cpu)?
                .to_dtype(DType::F32)?;
            if name.contains(".mlp.") {
                out.push((name.replace(".mlp.", ".conv.nn."), t.clone()));
            }
            out.push((name, t));
        }
        let representation = &self.model.config().model.representation;
        out.extend(representation.buffers(&self.params)?);
        Ok(out)
    }

    /// Sets every tensor from `tensors` (names as [`Self::state_dict`] gives them, either
    /// filter alias accepted), through the same checks as a weights file: missing,
    /// unexpected or mis-shaped tensors and contradicting buffers are errors naming them.
    pub fn load_state_dict(&mut self, tensors: Vec<(String, Tensor)>) -> Result<()> {
        let map: std::collections::HashMap<String, Tensor> = tensors.into_iter().collect();
        let source = Path::new("state_dict");
        self.model.load_tensors(&mut self.params, &map, source)
    }

    /// Predictions of `compounds` (graphs built in parallel, small compounds batched).
    pub fn predict(&self, compounds: &[CompoundData]) -> Result<Vec<Prediction>> {
        let m = &self.model.config().model;
        for c in compounds {
            m.representation.check_elements(&c.id, &c.poses)?;
        }
        let graphs = compounds
            .par_iter()
            .map(|c| CompoundGraphs::build(&c.id, &c.poses, m.strategy, &m.representation.graph()))
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<&CompoundGraphs> = graphs.iter().collect();
        let chunk = engine_config(&self.config, self.model.device()).chunk;
        let mut predictions = self.model.predict_batch(&refs, &chunk)?;
        let shifts = self.shift.all(compounds, &self.params)?;
        for (p, s) in predictions.iter_mut().zip(shifts) {
            p.output += s;
        }
        Ok(predictions)
    }
}

/// One compound's prediction by several models.
#[derive(Debug, Clone, PartialEq)]
pub struct EnsemblePrediction {
    /// Mean of the models' read-out values.
    pub mean: f64,
    /// Their sample standard deviation (0 for one model).
    pub std: f64,
    /// Number of models.
    pub models: usize,
    /// Per pose: the models' mean prediction.
    pub poses: Vec<f64>,
    /// Per pose: the models' mean combination weight.
    pub weights: Vec<f64>,
    /// The pose with the largest mean weight.
    pub top_pose: usize,
}

impl EnsemblePrediction {
    /// The ensemble of `preds` (one per model, same poses); an error when they disagree
    /// on the number of poses or there are none.
    pub fn of(preds: &[Prediction]) -> Result<Self> {
        let n = preds.first().map_or(0, |p| p.poses.len());
        if preds.is_empty() || preds.iter().any(|p| p.poses.len() != n) {
            return Err(Error::InvalidConfig(
                "an ensemble needs one prediction per model over the same poses".into(),
            ));
        }
        let outputs: Vec<f64> = preds.iter().map(|p| p.output).collect();
        let (mean, std) = mean_std(&outputs);
        let k = preds.len() as f64;
        let per_pose = |f: fn(&Prediction) -> &[f64]| -> Vec<f64> {
            (0..n)
                .map(|i| preds.iter().map(|p| f(p)[i]).sum::<f64>() / k)
                .collect()
        };
        let weights = per_pose(|p| &p.weights);
        Ok(Self {
            mean,
            std,
            models: preds.len(),
            poses: per_pose(|p| &p.poses),
            top_pose: top_pose(&weights),
            weights,
        })
    }
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (m, var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ensemble_means_outputs_poses_and_weights() {
        let p = |output: f64, poses: [f64; 2], weights: [f64; 2]| Prediction {
            poses: poses.to_vec(),
            combined: output,
            output,
            weights: weights.to_vec(),
        };
        let e = EnsemblePrediction::of(&[
            p(1.0, [0.0, 2.0], [0.2, 0.8]),
            p(3.0, [2.0, 4.0], [0.6, 0.4]),
        ])
        .unwrap();
        assert_eq!((e.mean, e.models, e.top_pose), (2.0, 2, 1));
        assert!((e.std - 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(e.poses, vec![1.0, 3.0]);
        assert!((e.weights[0] - 0.4).abs() < 1e-12 && (e.weights[1] - 0.6).abs() < 1e-12);
        assert!(EnsemblePrediction::of(&[]).is_err());
    }
}
