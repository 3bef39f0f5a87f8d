//! Continuous-filter convolution: xᵢ' = lin2(Σ_{j→i} lin1(x)_j ⊙ W(d_ij)), with the filter
//! W = mlp(gaussians(d)) · cosine_cutoff(d).

use super::{GaussianSmearing, cosine_cutoff};
use crate::error::Result;
use crate::graph::GraphBatch;
use crate::model::ops::{MessagePassing, filter, linear_scaled, linear_ssp};
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
    /// How messages are gathered and summed.
    pub aggregation: Aggregation,
}

/// The gather–multiply–scatter of messages.
#[derive(Debug, Clone)]
pub enum Aggregation {
    /// One fused op (CPU, CUDA).
    Fused(MessagePassing),
    /// Plain candle ops (other devices): edge sources, targets and length rows, `[edges]`.
    Plain {
        src: Tensor,
        dst: Tensor,
        edge_row: Tensor,
    },
}

impl EdgeFeatures {
    /// Expands the batch's edge lengths once per forward pass.
    pub fn new(batch: &GraphBatch, expansion: &GaussianSmearing, cutoff: f64) -> Result<Self> {
        let device = batch.dist.device();
        let aggregation = if device.is_cpu() || device.is_cuda() {
            let _span = crate::profile::span(crate::profile::Phase::Groupings, device);
            Aggregation::Fused(MessagePassing::new(&batch.host.edges, device)?)
        } else {
            let h = &batch.host;
            Aggregation::Plain {
                src: Tensor::new(h.src.as_slice(), device)?,
                dst: Tensor::new(h.dst.as_slice(), device)?,
                edge_row: Tensor::new(h.edge_row.as_slice(), device)?,
            }
        };
        Ok(Self {
            attr: expansion.forward(&batch.dist)?,
            envelope: cosine_cutoff(&batch.dist, cutoff)?,
            aggregation,
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
    /// The layers in a fixed order (mlp.0, mlp.2, lin1, lin2), for checkpointing.
    pub(super) fn layers(&self) -> [&Linear; 4] {
        [&self.mlp0, &self.mlp2, &self.lin1, &self.lin2]
    }

    /// The same convolution over other layer tensors (in the order of [`Self::layers`]).
    pub(super) fn with_layers(layers: [Linear; 4]) -> Self {
        let [mlp0, mlp2, lin1, lin2] = layers;
        Self {
            mlp0,
            mlp2,
            lin1,
            lin2,
        }
    }

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

    /// ssp of the aggregated, transformed messages `[atoms, H]` (PyG's `act(conv(h))`, with
    /// `lin2`'s bias and the activation fused); the filter is evaluated once per distinct
    /// edge length.
    pub fn forward_activated(&self, x: &Tensor, edges: &EdgeFeatures) -> Result<Tensor> {
        // On the GPU, memory is the limit: the filter network's intermediates are
        // recomputed in backward (and measured no slower). On CPU they are kept: there the
        // recompute's transposed products cost more than the whole kept backward.
        let filter = match &edges.aggregation {
            Aggregation::Fused(_) if edges.attr.device().is_cuda() => {
                filter(&self.mlp0, &self.mlp2, &edges.attr, &edges.envelope)?
            }
            _ => linear_scaled(
                &self.mlp2,
                &linear_ssp(&self.mlp0, &edges.attr)?,
                &edges.envelope,
            )?,
        };
        let x = self.lin1.forward(x)?;
        let aggregated = match &edges.aggregation {
            Aggregation::Fused(fused) => fused.forward(&x, &filter)?,
            Aggregation::Plain { src, dst, edge_row } => {
                let filter = filter.index_select(edge_row, 0)?;
                let messages = (x.index_select(src, 0)? * filter)?;
                x.zeros_like()?.index_add(dst, &messages, 0)?
            }
        };
        linear_ssp(&self.lin2, &aggregated)
    }
}
