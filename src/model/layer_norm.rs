//! LayerNorm as torch.nn.LayerNorm (biased variance, eps 1e-5), built from plain ops.
//!
//! candle-nn's LayerNorm dispatches to a fused kernel without a backward pass for
//! contiguous input, so the strategies would get no gradient through it.

use crate::error::Result;
use candle_core::{D, Tensor};
use candle_nn::VarBuilder;

/// torch's default epsilon.
const EPS: f64 = 1e-5;

/// Normalisation over the last dimension with an affine map.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
}

impl LayerNorm {
    /// Loads `weight` and `bias` of width `size` (initialised to 1 and 0).
    pub fn new(size: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            weight: vb.get_with_hints(size, "weight", candle_nn::Init::Const(1.0))?,
            bias: vb.get_with_hints(size, "bias", candle_nn::Init::Const(0.0))?,
        })
    }

    /// Normalises `[rows, size]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mean = x.mean_keepdim(D::Minus1)?;
        let centred = x.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = centred.broadcast_div(&(var + EPS)?.sqrt()?)?;
        Ok(normed
            .broadcast_mul(&self.weight)?
            .broadcast_add(&self.bias)?)
    }
}
