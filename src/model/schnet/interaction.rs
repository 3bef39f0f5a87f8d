//! One SchNet interaction block: lin(ssp(CFConv(h))).

use super::{CFConv, EdgeFeatures};
use crate::error::Result;
use crate::model::SchNetConfig;
use candle_core::Tensor;
use candle_nn::{Linear, Module, VarBuilder};

/// PyG's `InteractionBlock`.
#[derive(Debug, Clone)]
pub struct InteractionBlock {
    conv: CFConv,
    lin: Linear,
}

impl InteractionBlock {
    /// Loads `mlp.{0,2}`, `conv.lin1`, `conv.lin2` and `lin` under `vb`.
    pub fn new(config: &SchNetConfig, vb: VarBuilder) -> Result<Self> {
        let h = config.hidden_channels;
        Ok(Self {
            conv: CFConv::new(
                h,
                config.num_filters,
                config.num_gaussians,
                vb.pp("mlp"),
                vb.pp("conv"),
            )?,
            lin: candle_nn::linear(h, h, vb.pp("lin"))?,
        })
    }

    /// The update added to h (the residual sum is the caller's).
    pub fn forward(&self, h: &Tensor, edges: &EdgeFeatures) -> Result<Tensor> {
        let x = self.conv.forward_activated(h, edges)?;
        Ok(self.lin.forward(&x)?)
    }
}
