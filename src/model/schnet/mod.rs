//! SchNet (Schütt et al. 2017) as torch_geometric implements it and mtenn uses it.
//!
//! h⁰ = Embedding(z);  hᵗ⁺¹ = hᵗ + Interaction(hᵗ, edges);  out_g = Σ_{i∈g} ssp(lin1(hᵢ))
//! (mtenn replaces PyG's `lin2` by the identity, so the representation is H/2 wide; the
//! ligand-only model keeps `lin2` and sums per-atom scalars). Parameter paths are
//! PyG's state-dict names, so weights move between the two without translation.

mod cfconv;
mod gaussian;
mod interaction;

pub use crate::model::ops::{
    MessagePassing, SegmentSum, linear_scaled, linear_ssp, shifted_softplus,
};
pub use cfconv::{Aggregation, CFConv, EdgeFeatures};
pub use gaussian::{GaussianSmearing, cosine_cutoff};
pub use interaction::InteractionBlock;

use super::SchNetConfig;
use crate::error::Result;
use crate::graph::GraphBatch;
use candle_core::Tensor;
use candle_nn::{Embedding, Linear, Module, VarBuilder};

/// Rows of the atom embedding table (atomic numbers 0..99).
pub const EMBEDDING_ROWS: usize = 100;

/// The SchNet representation (and, with `lin2`, the full SchNet model).
#[derive(Debug, Clone)]
pub struct SchNet {
    embedding: Embedding,
    expansion: GaussianSmearing,
    cutoff: f64,
    interactions: Vec<InteractionBlock>,
    lin1: Linear,
    lin2: Option<Linear>,
    /// Recompute each interaction block in backward instead of keeping its activations.
    checkpoint: bool,
}

impl SchNet {
    /// Builds SchNet under `vb` (`embedding`, `interactions.i`, `lin1`, optional `lin2`).
    pub fn new(
        config: &SchNetConfig,
        expansion: GaussianSmearing,
        with_lin2: bool,
        vb: VarBuilder,
    ) -> Result<Self> {
        let h = config.hidden_channels;
        let embedding = candle_nn::embedding(EMBEDDING_ROWS, h, vb.pp("embedding"))?;
        let interactions = (0..config.num_interactions)
            .map(|i| InteractionBlock::new(config, vb.pp("interactions").pp(i)))
            .collect::<Result<Vec<_>>>()?;
        let lin1 = candle_nn::linear(h, h / 2, vb.pp("lin1"))?;
        let lin2 = if with_lin2 {
            Some(candle_nn::linear(h / 2, 1, vb.pp("lin2"))?)
        } else {
            None
        };
        Ok(Self {
            embedding,
            expansion,
            cutoff: config.cutoff,
            interactions,
            lin1,
            lin2,
            checkpoint: false,
        })
    }

    /// Replaces the Gaussian centres (loaded from a weight file after the model was built).
    pub fn set_expansion(&mut self, expansion: GaussianSmearing) {
        self.expansion = expansion;
    }

    /// Turns activation checkpointing of the interaction blocks on or off (same values
    /// and gradients; less memory, about a third more time).
    pub fn set_checkpointing(&mut self, on: bool) {
        self.checkpoint = on;
    }

    /// Per-graph outputs `[graphs, H/2]` (or `[graphs, 1]` with `lin2`).
    pub fn forward(&self, batch: &GraphBatch) -> Result<Tensor> {
        let edges = EdgeFeatures::new(batch, &self.expansion, self.cutoff)?;
        let mut h = self.embed(batch)?;
        for block in &self.interactions {
            h = if self.checkpoint {
                block.forward_residual_checkpointed(&h, &edges)?
            } else {
                (&h + block.forward(&h, &edges)?)?
            };
        }
        let mut h = linear_ssp(&self.lin1, &h)?;
        if let Some(lin2) = &self.lin2 {
            h = lin2.forward(&h)?;
        }
        SegmentSum::new(batch.host.pool.clone(), &batch.segment)?.forward(&h)
    }

    /// Embedding rows of the atoms as one-hot(element) × table rows of the elements present.
    ///
    /// The same values as a lookup, but its backward is a matrix product: a lookup's
    /// backward is an `index_add` over all atoms, which candle runs serially on CUDA.
    fn embed(&self, batch: &GraphBatch) -> Result<Tensor> {
        let table = self
            .embedding
            .embeddings()
            .index_select(&batch.elements, 0)?;
        let n = batch.elements.dim(0)? as u32;
        let columns = Tensor::arange(0u32, n, batch.elements.device())?.unsqueeze(0)?;
        let one_hot = batch
            .element_index
            .unsqueeze(1)?
            .broadcast_eq(&columns)?
            .to_dtype(table.dtype())?;
        Ok(one_hot.matmul(&table)?)
    }
}
