//! Combinations h(ŷ₁ … ŷ_N) of per-pose predictions into one.
//!
//! | name | ŷ | ∂ŷ/∂ŷᵢ |
//! |---|---|---|
//! | mean | (1/N) Σ ŷᵢ | 1/N |
//! | max (smooth) | (n/t) ln Σ exp(n t ŷᵢ) | softmax(n t ŷ)ᵢ |
//! | boltzmann | Σ pᵢ ŷᵢ, p = softmax(−ŷ/T) | pᵢ (1 − (ŷᵢ − ŷ)/T) |
//! | attention | Σ aᵢ ŷᵢ, a = softmax(wᵀ tanh(V zᵢ + b)) | aᵢ |
//!
//! `forward` is written with differentiable tensor ops (the full and recompute engines
//! differentiate it); `weights` is the hand-derived column above, used by the `stored`
//! engine to mirror mtenn and by predictions to report how much each pose counts.
//! Attention reads each pose's embedding zᵢ as well (see `attention.rs`); its ŷ also
//! depends on the zᵢ, which only the full and recompute engines differentiate.

use super::attention::Scorer;
use crate::error::{Error, Result};
use candle_core::{D, Tensor};
use candle_nn::VarBuilder;

crate::choice! {
    /// A combination by name, as configs write it (constants set apart, see
    /// [`CombinationKind`]).
    pub enum CombinationChoice {
        /// Arithmetic mean.
        Mean = "mean",
        /// Smooth max or min.
        Max = "max",
        /// Boltzmann-weighted average.
        Boltzmann = "boltzmann",
        /// Learned attention over the poses' embeddings.
        Attention = "attention",
    }
}

/// The pose that counts most: the index of the largest combination weight, the first of
/// equals (0 if none).
pub fn top_pose(weights: &[f64]) -> usize {
    weights
        .iter()
        .enumerate()
        // Ties go to the first pose (the best-scored for docking output): `max_by`
        // would return the last, and equal weights (a mean, a ligand-only model) would
        // name the worst pose.
        .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
        .map_or(0, |(k, _)| k)
}

/// Which combination, with its fixed constants.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CombinationKind {
    /// Arithmetic mean.
    Mean,
    /// Smooth max (n = +1) or min (n = −1, `negate`) via scaled LogSumExp.
    Max {
        /// Take the smooth minimum instead (mtenn default: true).
        negate: bool,
        /// Scale t > 0 (mtenn default: 1000).
        scale: f64,
    },
    /// Boltzmann-weighted average with temperature T > 0.
    Boltzmann {
        /// Temperature T in the units of the predictions.
        temperature: f64,
    },
    /// Attention pooling: weights softmax(wᵀ tanh(V zᵢ + b)) of the poses' embeddings zᵢ,
    /// with learned V `[width, D]`, b and w (`combination.attention.*`).
    Attention {
        /// Attention width A (rows of V).
        width: usize,
    },
}

/// A combination and whether its constant (scale or temperature) is learned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CombinationConfig {
    /// The combination.
    pub kind: CombinationKind,
    /// Learn the scale (max) or temperature (boltzmann), stored as `combination.scale` /
    /// `combination.temperature`.
    pub learnable: bool,
}

impl Default for CombinationConfig {
    fn default() -> Self {
        Self {
            kind: CombinationKind::Mean,
            learnable: false,
        }
    }
}

/// How the streaming engine accumulates this combination's weights online.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Online {
    /// Uniform weights 1/N.
    Mean,
    /// Weights softmax(factor · ŷ) (max: factor = n t).
    Softmax {
        /// n · t.
        factor: f64,
    },
    /// Boltzmann weights softmax(−ŷ/T) and the correction term.
    Boltzmann {
        /// T.
        temperature: f64,
    },
}

/// A combination ready to run.
#[derive(Debug, Clone)]
pub struct Combination {
    kind: CombinationKind,
    param: Option<Tensor>,
    scorer: Option<Scorer>,
}

impl Combination {
    /// Builds the combination; a learnable constant, or attention's scorer over embeddings
    /// `embedding_dim` wide, is created under `vb` (`combination`).
    pub fn new(config: &CombinationConfig, embedding_dim: usize, vb: VarBuilder) -> Result<Self> {
        if let CombinationKind::Attention { width } = config.kind {
            if config.learnable {
                return Err(Error::InvalidConfig(
                    "attention's scorer is always learned; `learnable` is for the max scale \
                     and the boltzmann temperature"
                        .into(),
                ));
            }
            return Ok(Self {
                kind: config.kind,
                param: None,
                scorer: Some(Scorer::new(embedding_dim, width, vb.pp("attention"))?),
            });
        }
        let (name, value) = match config.kind {
            CombinationKind::Mean | CombinationKind::Attention { .. } => ("", 0.0),
            CombinationKind::Max { scale, .. } => ("scale", scale),
            CombinationKind::Boltzmann { temperature } => ("temperature", temperature),
        };
        let positive = value.is_finite() && value > 0.0;
        if !name.is_empty() && !positive {
            return Err(Error::InvalidConfig(format!(
                "combination {name} must be a positive number, got {value}"
            )));
        }
        if config.learnable && name.is_empty() {
            return Err(Error::InvalidConfig(
                "the mean combination has nothing to learn".into(),
            ));
        }
        let param = if config.learnable {
            Some(vb.get_with_hints(1, name, candle_nn::Init::Const(value))?)
        } else {
            None
        };
        Ok(Self {
            kind: config.kind,
            param,
            scorer: None,
        })
    }

    /// The combination's kind.
    pub fn kind(&self) -> CombinationKind {
        self.kind
    }

    /// Whether it has learned parameters (a constant, or attention's scorer).
    pub fn is_learnable(&self) -> bool {
        self.param.is_some() || self.scorer.is_some()
    }

    /// Whether `forward` and `weights` read the poses' embeddings `[N, D]` (attention).
    pub fn needs_embeddings(&self) -> bool {
        self.scorer.is_some()
    }

    /// Online form for the streaming engine (none when something is learned).
    pub fn online(&self) -> Option<Online> {
        if self.is_learnable() {
            return None;
        }
        Some(match self.kind {
            CombinationKind::Mean => Online::Mean,
            CombinationKind::Max { negate, scale } => Online::Softmax {
                factor: sign(negate) * scale,
            },
            CombinationKind::Boltzmann { temperature } => Online::Boltzmann { temperature },
            CombinationKind::Attention { .. } => return None,
        })
    }

    /// Attention weights aᵢ `[N]` of embeddings `[N, D]` (an error for other combinations
    /// or without embeddings).
    pub fn attention(&self, embeddings: Option<&Tensor>) -> Result<Tensor> {
        match (&self.scorer, embeddings) {
            (Some(scorer), Some(z)) => scorer.weights(z),
            (Some(_), None) => Err(Error::InvalidConfig(
                "the attention combination needs the poses' embeddings".into(),
            )),
            (None, _) => Err(Error::InvalidConfig(format!(
                "the {:?} combination has no attention weights",
                self.kind
            ))),
        }
    }

    /// Combined prediction `[1]` from per-pose predictions `[N]` and, for attention, the
    /// poses' embeddings `[N, D]` (ignored by the other combinations).
    pub fn forward(&self, preds: &Tensor, embeddings: Option<&Tensor>) -> Result<Tensor> {
        let constant = |c: f64| -> Result<Tensor> {
            Ok(match &self.param {
                Some(p) => p.clone(),
                None => Tensor::full(c, 1, preds.device())?.to_dtype(preds.dtype())?,
            })
        };
        match self.kind {
            CombinationKind::Mean => Ok(preds.mean_keepdim(0)?),
            CombinationKind::Max { negate, scale } => {
                let n = sign(negate);
                let t = constant(scale)?;
                let a = (preds.broadcast_mul(&t)? * n)?;
                let lse = log_sum_exp(&a)?;
                Ok((lse.broadcast_div(&t)? * n)?)
            }
            CombinationKind::Boltzmann { temperature } => {
                let t = constant(temperature)?;
                let logits = preds.broadcast_div(&t)?.neg()?;
                let p = softmax(&logits)?;
                Ok((p * preds)?.sum_keepdim(0)?)
            }
            CombinationKind::Attention { .. } => {
                let a = self.attention(embeddings)?;
                Ok((a * preds)?.sum_keepdim(0)?)
            }
        }
    }

    /// Hand-derived ∂ŷ/∂ŷᵢ at `preds` (mtenn's scheme, used by the stored engine); for
    /// attention the weights aᵢ of `embeddings`.
    pub fn weights(&self, preds: &[f64], embeddings: Option<&Tensor>) -> Result<Vec<f64>> {
        let n = preds.len() as f64;
        let learned = match &self.param {
            Some(p) => Some(p.to_dtype(candle_core::DType::F64)?.to_vec1::<f64>()?[0]),
            None => None,
        };
        Ok(match self.kind {
            CombinationKind::Mean => vec![1.0 / n; preds.len()],
            CombinationKind::Max { negate, scale } => {
                let f = sign(negate) * learned.unwrap_or(scale);
                softmax_f64(&preds.iter().map(|y| f * y).collect::<Vec<_>>())
            }
            CombinationKind::Boltzmann { temperature } => {
                let temperature = learned.unwrap_or(temperature);
                let p = softmax_f64(&preds.iter().map(|y| -y / temperature).collect::<Vec<_>>());
                let mean: f64 = p.iter().zip(preds).map(|(p, y)| p * y).sum();
                p.iter()
                    .zip(preds)
                    .map(|(p, y)| p * (1.0 - (y - mean) / temperature))
                    .collect()
            }
            CombinationKind::Attention { .. } => {
                let a = self
                    .attention(embeddings)?
                    .to_dtype(candle_core::DType::F64)?;
                a.to_vec1::<f64>()?
            }
        })
    }
}

fn sign(negate: bool) -> f64 {
    if negate { -1.0 } else { 1.0 }
}

/// ln Σ exp(a) over a `[N]` vector, shifted by the (constant) maximum for stability.
fn log_sum_exp(a: &Tensor) -> Result<Tensor> {
    let m = a.max_keepdim(D::Minus1)?.detach();
    let s = a.broadcast_sub(&m)?.exp()?.sum_keepdim(0)?;
    Ok((s.log()? + m)?)
}

/// softmax over a `[N]` vector, shifted by the (constant) maximum for stability.
pub(super) fn softmax(a: &Tensor) -> Result<Tensor> {
    let m = a.max_keepdim(D::Minus1)?.detach();
    let e = a.broadcast_sub(&m)?.exp()?;
    Ok(e.broadcast_div(&e.sum_keepdim(0)?)?)
}

/// softmax of plain numbers (stable).
pub fn softmax_f64(a: &[f64]) -> Vec<f64> {
    let m = a.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = a.iter().map(|x| (x - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|x| x / s).collect()
}
