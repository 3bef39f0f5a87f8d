//! The first atom and edge features (torch_geometric's `NeighborEmbedding` and
//! `EdgeEmbedding`).

use super::geometry::EdgeGeometry;
use crate::error::Result;
use candle_core::Tensor;
use candle_nn::{Embedding, Linear, Module, VarBuilder};

/// Each atom's embedding combined with its neighbours', weighted by distance.
#[derive(Debug, Clone)]
pub struct NeighborEmbedding {
    embedding: Embedding,
    distance_proj: Linear,
    combine: Linear,
}

impl NeighborEmbedding {
    /// Loads `embedding`, `distance_proj` and `combine` under `vb`.
    pub fn new(hidden: usize, num_rbf: usize, max_z: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            embedding: candle_nn::embedding(max_z, hidden, vb.pp("embedding"))?,
            distance_proj: super::linear(num_rbf, hidden, vb.pp("distance_proj"))?,
            combine: super::linear(2 * hidden, hidden, vb.pp("combine"))?,
        })
    }

    /// combine(x ⊕ Σ_j emb(z_j) · W(r_ij) cutoff(r_ij)), over edges between distinct atoms.
    pub fn forward(
        &self,
        z: &Tensor,
        x: &Tensor,
        g: &EdgeGeometry,
        rbf: &Tensor,
    ) -> Result<Tensor> {
        let p = g.pairs;
        let w = self
            .distance_proj
            .forward(&rbf.narrow(0, 0, p)?)?
            .broadcast_mul(&g.cutoff.narrow(0, 0, p)?.unsqueeze(1)?)?;
        let src = g.src.narrow(0, 0, p)?;
        let dst = g.dst.narrow(0, 0, p)?;
        let msg = (self.embedding.forward(z)?.index_select(&src, 0)? * w)?;
        let summed = x.zeros_like()?.index_add(&dst, &msg, 0)?;
        Ok(self.combine.forward(&Tensor::cat(&[x, &summed], 1)?)?)
    }
}

/// Edge features (x_i + x_j) · proj(rbf_ij), self-loops included.
#[derive(Debug, Clone)]
pub struct EdgeEmbedding {
    edge_proj: Linear,
}

impl EdgeEmbedding {
    /// Loads `edge_proj` under `vb`.
    pub fn new(num_rbf: usize, hidden: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            edge_proj: super::linear(num_rbf, hidden, vb.pp("edge_proj"))?,
        })
    }

    /// `[E', H]`.
    pub fn forward(&self, x: &Tensor, g: &EdgeGeometry, rbf: &Tensor) -> Result<Tensor> {
        let ends = (x.index_select(&g.dst, 0)? + x.index_select(&g.src, 0)?)?;
        Ok((ends * self.edge_proj.forward(rbf)?)?)
    }
}
