//! The multi-pose ("grouped") model: one single-pose model on every pose, a combination,
//! and a readout of the combined value.

use super::{Combination, CombinationConfig, CombinationKind, engine::ChunkPolicy};
use crate::error::{Error, Result};
use crate::model::{
    CompoundGraphs, ModelConfig, Params, PoseModel, ProteinInput, Readout, StrategyKind,
};
use candle_core::{DType, Tensor};

/// Everything that defines a multi-pose model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GroupedConfig {
    /// The single-pose model.
    pub model: ModelConfig,
    /// How per-pose predictions combine.
    pub combination: CombinationConfig,
    /// Readout of the combined value (e.g. pIC50).
    pub readout: Readout,
    /// Whether the model carries the learned coefficient of the docking score
    /// (Δ-learning, `docking.coef`, starting at −1/RT ln 10; the training loop adds a·s
    /// to the read-out value).
    pub delta_docking: bool,
}

/// A multi-pose model over a parameter store.
#[derive(Debug, Clone)]
pub struct GroupedModel {
    config: GroupedConfig,
    /// Single-pose model on tracked parameters.
    pub pose: PoseModel,
    /// Same model on detached parameters (no graph kept).
    pub frozen: PoseModel,
    /// The combination (its constant tracked when learnable).
    pub combination: Combination,
}

/// A prediction for one compound.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Per-pose predictions ŷᵢ.
    pub poses: Vec<f64>,
    /// Combined ŷ.
    pub combined: f64,
    /// Read-out value r(ŷ).
    pub output: f64,
    /// ∂ŷ/∂ŷᵢ: how much each pose counts in the combined value (attention: aᵢ).
    pub weights: Vec<f64>,
}

impl GroupedModel {
    /// Builds (and, if new, initialises) the model's parameters in `params`.
    pub fn new(config: &GroupedConfig, params: &Params) -> Result<Self> {
        let attention = matches!(config.combination.kind, CombinationKind::Attention { .. });
        if attention && config.model.strategy == StrategyKind::LigandOnly {
            return Err(Error::InvalidConfig(
                "the attention combination reads each pose's complex embedding; the \
                 ligand-only strategy has none (use delta, concat or complex)"
                    .into(),
            ));
        }
        let pose = PoseModel::new(&config.model, params, true)?;
        let combination = Combination::new(
            &config.combination,
            config.model.representation.output_width(),
            params.vb().pp("combination"),
        )?;
        if config.delta_docking {
            // a starts as the docking score read as pK (−1/RT ln 10 per kcal/mol): the
            // model starts from Vina's own estimate and learns what it misses.
            let start = -1.0 / crate::dataset::KCAL_PER_P;
            params
                .vb()
                .pp("docking")
                .get_with_hints(1, "coef", candle_nn::Init::Const(start))?;
        }
        // Both views of the model batch the same graphs: they share the host batches.
        let frozen = PoseModel::new(&config.model, params, false)?.sharing_batches(&pose);
        Ok(Self {
            config: config.clone(),
            pose,
            frozen,
            combination,
        })
    }

    /// Loads mtenn-named weights from `path` into `params` (this model's parameters) and
    /// takes the file's buffers: the built model then computes with the loaded weights.
    pub fn load_weights(&mut self, params: &mut Params, path: &std::path::Path) -> Result<()> {
        crate::model::load_weights(params, &self.config.model, path)?;
        self.refresh_buffers(params)
    }

    /// As [`Self::load_weights`], for tensors already in memory (`source` names them in
    /// errors).
    pub fn load_tensors(
        &mut self,
        params: &mut Params,
        tensors: &std::collections::HashMap<String, Tensor>,
        source: &std::path::Path,
    ) -> Result<()> {
        crate::model::load_tensors(params, &self.config.model, tensors, source)?;
        self.refresh_buffers(params)
    }

    /// Both views of the model take the buffers `params` holds now.
    fn refresh_buffers(&mut self, params: &Params) -> Result<()> {
        self.pose.refresh_buffers(params)?;
        self.frozen.refresh_buffers(params)
    }

    /// Recompute activations in backward instead of keeping them (see
    /// `SchNet::set_checkpointing`).
    pub fn set_checkpointing(&mut self, on: bool) {
        self.pose.set_checkpointing(on);
    }

    /// Keeps at most `bytes` of batches between steps (both views of the model share them;
    /// the default is [`crate::graph::BatchCache::for_device`]).
    pub fn set_batch_cache_bytes(&mut self, bytes: usize) {
        let cache = std::sync::Arc::new(crate::graph::BatchCache::new(bytes));
        self.pose.set_batch_cache(cache.clone());
        self.frozen.set_batch_cache(cache);
    }

    /// The configuration the model was built from.
    pub fn config(&self) -> &GroupedConfig {
        &self.config
    }

    /// The device the model runs on.
    pub fn device(&self) -> &candle_core::Device {
        self.pose.device()
    }

    /// Readout of the combined value.
    pub fn readout(&self) -> Readout {
        self.config.readout
    }

    /// Inference: per-pose predictions (chunked, protein once), combination and readout.
    pub fn predict(&self, compound: &CompoundGraphs, chunk: &ChunkPolicy) -> Result<Prediction> {
        let shared = self.frozen.protein_reps(compound)?;
        let protein = match &shared {
            Some(t) => ProteinInput::Shared(t),
            None => ProteinInput::Inline,
        };
        let chunks = chunk.chunks(&self.config.model, compound);
        let embed = self.combination.needs_embeddings();
        let (preds, embeddings) = self
            .frozen
            .predict_chunks(compound, &chunks, protein, embed)?;
        self.finish(&preds, embeddings.as_ref())
    }

    /// Inference on many compounds: those that fit one chunk together share one batched
    /// forward pass ([`ChunkPolicy::groups`]), the others run as in [`Self::predict`].
    /// The same predictions as compound by compound, with far fewer launches when
    /// compounds have few poses.
    pub fn predict_batch(
        &self,
        compounds: &[&CompoundGraphs],
        chunk: &ChunkPolicy,
    ) -> Result<Vec<Prediction>> {
        let embed = self.combination.needs_embeddings();
        let mut out = Vec::with_capacity(compounds.len());
        for group in chunk.groups(&self.config.model, compounds) {
            if let [k] = group[..] {
                out.push(self.predict(compounds[k], chunk)?);
                continue;
            }
            let members: Vec<&CompoundGraphs> = group.iter().map(|&k| compounds[k]).collect();
            for (preds, z) in self.frozen.predict_packed(&members, embed)? {
                out.push(self.finish(&preds, z.as_ref())?);
            }
        }
        Ok(out)
    }

    /// Combination and readout of one compound's per-pose predictions.
    fn finish(&self, preds: &Tensor, embeddings: Option<&Tensor>) -> Result<Prediction> {
        let poses = preds.to_dtype(DType::F64)?.to_vec1::<f64>()?;
        let combined = self.combination.forward(preds, embeddings)?;
        let output = self.readout().forward(&combined)?;
        let scalar =
            |t: &Tensor| -> Result<f64> { Ok(t.to_dtype(DType::F64)?.to_vec1::<f64>()?[0]) };
        Ok(Prediction {
            weights: self.combination.weights(&poses, embeddings)?,
            combined: scalar(&combined)?,
            output: scalar(&output)?,
            poses,
        })
    }
}
