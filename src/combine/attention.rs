//! Attention pooling over poses (attention-based multi-instance learning): each pose's
//! weight comes from a small learned scorer on its embedding zᵢ (the pooled SchNet output
//! of the complex, width D = H/2), not from its prediction:
//!
//! z̃ᵢ = (zᵢ − z̄) / rms(z − z̄)  (over the compound's poses; see `standardise`),
//! sᵢ = wᵀ tanh(V z̃ᵢ + b),  aᵢ = softmax_i(sᵢ),  ŷ = Σ aᵢ ŷᵢ,  so ∂ŷ/∂ŷᵢ = aᵢ.
//!
//! Parameters (torch `Linear` names, so the trainer's seeded initialisation treats them
//! like every other linear layer): `combination.attention.hidden.{weight,bias}` = V `[A, D]`,
//! b `[A]`, and `combination.attention.score.weight` = wᵀ `[1, A]` (no bias: a constant
//! added to every score cancels in the softmax). A is the attention width (config
//! `model.attention_width`, default 16 = D/2 at the default H = 64).

use super::combination::softmax;
use crate::error::{Error, Result};
use candle_core::Tensor;
use candle_nn::{Linear, Module, VarBuilder};

/// The scorer wᵀ tanh(V z + b).
#[derive(Debug, Clone)]
pub(super) struct Scorer {
    hidden: Linear,
    score: Linear,
}

impl Scorer {
    /// Creates (or reuses) V, b and w under `vb` (`combination.attention`).
    pub(super) fn new(dim: usize, width: usize, vb: VarBuilder) -> Result<Self> {
        if dim == 0 || width == 0 {
            return Err(Error::InvalidConfig(format!(
                "attention needs a positive embedding width and attention width (got D = {dim}, A = {width})"
            )));
        }
        Ok(Self {
            hidden: candle_nn::linear(dim, width, vb.pp("hidden"))?,
            score: candle_nn::linear_no_bias(width, 1, vb.pp("score"))?,
        })
    }

    /// Scores sᵢ `[N]` of embeddings `[N, D]`, standardised over the compound's poses.
    pub(super) fn scores(&self, embeddings: &Tensor) -> Result<Tensor> {
        let h = self.hidden.forward(&standardise(embeddings)?)?.tanh()?;
        Ok(self.score.forward(&h)?.squeeze(1)?)
    }

    /// Weights aᵢ = softmax_i(sᵢ) `[N]`, differentiable in the embeddings and V, b, w.
    pub(super) fn weights(&self, embeddings: &Tensor) -> Result<Tensor> {
        softmax(&self.scores(embeddings)?)
    }
}

/// Floor of the variance in `standardise`, so identical poses give zeros, not noise.
const VARIANCE_FLOOR: f64 = 1e-6;

/// (Z − mean over poses) / rms of that difference over all entries.
///
/// Why: an embedding is a sum over every atom of the complex, and a compound's poses share
/// all protein atoms, so raw embeddings differ between poses by about 0.1% (TYK2: |z| ≈ 95,
/// pose-to-pose ≤ 0.08): every pose then gets the same score and attention stays the
/// mean. Centring keeps only what tells the poses apart; the scale puts it in tanh's range.
/// It is part of the combination's small graph, so both engines differentiate through it.
fn standardise(z: &Tensor) -> Result<Tensor> {
    let centred = z.broadcast_sub(&z.mean_keepdim(0)?)?;
    let variance = centred.sqr()?.mean_all()?;
    let scale = (variance + VARIANCE_FLOOR)?.sqrt()?;
    Ok(centred.broadcast_div(&scale)?)
}
