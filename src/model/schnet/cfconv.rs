//! Continuous-filter convolution: xᵢ' = lin2(Σ_{j→i} lin1(x)_j ⊙ W(d_ij)), with the filter
//! W = mlp(gaussians(d)) · cosine_cutoff(d).

use super::{GaussianSmearing, MessagePassing, cosine_cutoff, shifted_softplus};
use crate::error::Result;
use crate::graph::GraphBatch;
use candle_core::Tensor;
use candle_nn::{Linear, Module, VarBuilder};

/// Per-edge inputs shared by every interaction block of one forward pass; the distance
/// features are per distinct edge length.
#[derive(Debug, Clone)]
pub struct EdgeFeatures {
    /// Gaussian features `[lengths, K]`.
    pub attr: Tensor,
    /// Cosine cutoff `[lengths, 1]`.
    pub envelope: Tensor,
    /// Row of each edge's length, `[edges]`.
    pub edge_row: Tensor,
    /// Edge sources `[edges]`.
    pub src: Tensor,
    /// Edge targets `[edges]`.
    pub dst: Tensor,
    /// The fused gather–multiply–scatter (CPU, CUDA); `None` uses the plain ops.
    pub messages: Option<MessagePassing>,
}

impl EdgeFeatures {
    /// Expands the batch's edge lengths once per forward pass.
    pub fn new(batch: &GraphBatch, expansion: &GaussianSmearing, cutoff: f64) -> Result<Self> {
        let device = batch.src.device();
        let messages = if device.is_cpu() || device.is_cuda() {
            let (src, dst, rows) = &batch.host_edges;
            Some(MessagePassing::new(
                src,
                dst,
                rows,
                batch.num_atoms,
                batch.dist.dim(0)?,
                device,
            )?)
        } else {
            None
        };
        Ok(Self {
            attr: expansion.forward(&batch.dist)?,
            envelope: cosine_cutoff(&batch.dist, cutoff)?,
            edge_row: batch.edge_row.clone(),
            src: batch.src.clone(),
            dst: batch.dst.clone(),
            messages,
        })
    }
}

/// PyG's `CFConv` with its filter network `mlp` (= `conv.nn`).
#[derive(Debug, Clone)]
pub struct CFConv {
    mlp0: Linear,
    mlp2: Linear,
    lin1: Linear,
    lin2: Linear,
}

impl CFConv {
    /// `mlp` is loaded from `mlp_vb` (`interactions.i.mlp`), the rest from `vb` (`conv`).
    pub fn new(
        hidden: usize,
        filters: usize,
        gaussians: usize,
        mlp_vb: VarBuilder,
        vb: VarBuilder,
    ) -> Result<Self> {
        Ok(Self {
            mlp0: candle_nn::linear(gaussians, filters, mlp_vb.pp(0))?,
            mlp2: candle_nn::linear(filters, filters, mlp_vb.pp(2))?,
            lin1: candle_nn::linear_no_bias(hidden, filters, vb.pp("lin1"))?,
            lin2: candle_nn::linear(filters, hidden, vb.pp("lin2"))?,
        })
    }

    /// Aggregated, transformed messages `[atoms, H]`; the filter is evaluated once per
    /// distinct edge length.
    pub fn forward(&self, x: &Tensor, edges: &EdgeFeatures) -> Result<Tensor> {
        let filter = self
            .mlp2
            .forward(&shifted_softplus(&self.mlp0.forward(&edges.attr)?)?)?
            .broadcast_mul(&edges.envelope)?;
        let x = self.lin1.forward(x)?;
        let aggregated = match &edges.messages {
            Some(fused) => fused.forward(&x, &filter)?,
            None => {
                let filter = filter.index_select(&edges.edge_row, 0)?;
                let messages = (x.index_select(&edges.src, 0)? * filter)?;
                x.zeros_like()?.index_add(&edges.dst, &messages, 0)?
            }
        };
        Ok(self.lin2.forward(&aggregated)?)
    }
}
