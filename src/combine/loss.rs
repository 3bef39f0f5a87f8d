//! The training objective: MSE on the combined read-out value plus optional per-pose terms.

use crate::error::{Error, Result};
use candle_core::Tensor;

/// A loss term on the per-pose predictions ŷᵢ.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PoseTerm {
    /// w · Σᵢ (ŷᵢ − target)²: each pose on its own (streaming can take it).
    Mse {
        /// Weight w.
        weight: f64,
        /// Target for every pose.
        target: f64,
    },
    /// w · cross-entropy between softmax(−ŷ/τ) and the one-hot `label` pose (e.g. the
    /// crystal pose): couples all poses, so only full, stored and recompute take it.
    CrossEntropy {
        /// Weight w.
        weight: f64,
        /// Index of the reference pose.
        label: usize,
        /// Temperature τ.
        temperature: f64,
    },
}

/// L = (z − y)² + Σ pose terms, with z the combined read-out value and y the measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    /// Measured value y on the read-out scale.
    pub target: f64,
    /// Extra per-pose terms.
    pub pose_terms: Vec<PoseTerm>,
}

impl Objective {
    /// Plain MSE against `target`.
    pub fn mse(target: f64) -> Self {
        Self {
            target,
            pose_terms: Vec::new(),
        }
    }

    /// Whether every pose term depends on one pose only (what streaming needs).
    pub fn is_separable(&self) -> bool {
        self.pose_terms
            .iter()
            .all(|t| matches!(t, PoseTerm::Mse { .. }))
    }

    /// (z − y)², shape `[1]`.
    pub fn main(&self, z: &Tensor) -> Result<Tensor> {
        Ok((z - self.target)?.sqr()?)
    }

    /// Sum of the pose terms over the poses in `preds` (`[1]`), or zero.
    pub fn poses(&self, preds: &Tensor) -> Result<Tensor> {
        let mut total = preds.zeros_like()?.sum_keepdim(0)?;
        for term in &self.pose_terms {
            let value = match *term {
                PoseTerm::Mse { weight, target } => {
                    ((preds - target)?.sqr()?.sum_keepdim(0)? * weight)?
                }
                PoseTerm::CrossEntropy {
                    weight,
                    label,
                    temperature,
                } => {
                    let n = preds.dim(0)?;
                    if label >= n {
                        return Err(Error::InvalidConfig(format!(
                            "pose cross-entropy label {label} but the compound has {n} poses"
                        )));
                    }
                    let logits = (preds / -temperature)?;
                    let m = logits.max_keepdim(0)?.detach();
                    let lse = (logits.broadcast_sub(&m)?.exp()?.sum_keepdim(0)?.log()? + &m)?;
                    ((lse - logits.narrow(0, label, 1)?)? * weight)?
                }
            };
            total = (total + value)?;
        }
        Ok(total)
    }

    /// Whole loss `[1]`.
    pub fn total(&self, z: &Tensor, preds: &Tensor) -> Result<Tensor> {
        Ok((self.main(z)? + self.poses(preds)?)?)
    }
}
