//! The training objective: weighted terms on the combined read-out value z and on the
//! per-pose predictions ŷᵢ.

use crate::error::{Error, Result};
use candle_core::Tensor;

/// A loss term on the combined read-out value z (each `[1]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OutputTerm {
    /// w · (z − y)².
    Mse { weight: f64, target: f64 },
    /// Censored MSE: w · (z − y)², but for `y` known only as an upper (`below`) or lower
    /// (`above`) bound, zero when z is on the right side of it.
    Step {
        weight: f64,
        target: f64,
        /// −1: the true value is below `target`; +1: above; 0: exact.
        side: i8,
    },
    /// w · ((z − y)² / (2σ²) + ln σ): Gaussian negative log-likelihood with known σ.
    GaussianNll {
        weight: f64,
        target: f64,
        sigma: f64,
    },
    /// w · (max(0, lo − z)² + max(0, z − hi)²).
    Range { weight: f64, lo: f64, hi: f64 },
    /// w · |z − y|.
    L1 { weight: f64, target: f64 },
    /// w · Huber with threshold β: ½(z−y)²/β inside, |z−y| − β/2 outside.
    SmoothL1 { weight: f64, target: f64, beta: f64 },
    /// w · z: the first-order stand-in for a loss that couples compounds (the pairwise
    /// loss), whose gradient at this z it equals when w = ∂L/∂z there.
    Linear { weight: f64 },
}

impl OutputTerm {
    /// The same term of z + δ, written as a term of z (targets and bounds moved by −δ;
    /// `Linear` changes only by a constant).
    fn shifted(self, delta: f64) -> Self {
        match self {
            Self::Mse { weight, target } => Self::Mse {
                weight,
                target: target - delta,
            },
            Self::Step {
                weight,
                target,
                side,
            } => Self::Step {
                weight,
                target: target - delta,
                side,
            },
            Self::GaussianNll {
                weight,
                target,
                sigma,
            } => Self::GaussianNll {
                weight,
                target: target - delta,
                sigma,
            },
            Self::Range { weight, lo, hi } => Self::Range {
                weight,
                lo: lo - delta,
                hi: hi - delta,
            },
            Self::L1 { weight, target } => Self::L1 {
                weight,
                target: target - delta,
            },
            Self::SmoothL1 {
                weight,
                target,
                beta,
            } => Self::SmoothL1 {
                weight,
                target: target - delta,
                beta,
            },
            Self::Linear { weight } => Self::Linear { weight },
        }
    }
}

/// A loss term on the per-pose predictions ŷᵢ.
#[derive(Debug, Clone, PartialEq)]
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
    /// w · cross-entropy between softmax(−ŷ/τ) and given pose probabilities (e.g. from
    /// RMSD to the reference pose).
    SoftCrossEntropy {
        /// Weight w.
        weight: f64,
        /// Target probability of every pose (sums to 1).
        probs: Vec<f64>,
        /// Temperature τ.
        temperature: f64,
    },
}

/// L = Σ output terms(z) + Σ pose terms(ŷ).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Objective {
    /// Terms on the combined read-out value.
    pub output_terms: Vec<OutputTerm>,
    /// Terms on the per-pose predictions.
    pub pose_terms: Vec<PoseTerm>,
}

impl Objective {
    /// Plain MSE against `target`.
    pub fn mse(target: f64) -> Self {
        Self {
            output_terms: vec![OutputTerm::Mse {
                weight: 1.0,
                target,
            }],
            pose_terms: Vec::new(),
        }
    }

    /// The objective of z + δ as an objective of z: what training a prediction that adds
    /// δ to the read-out value minimises (the pose terms, on ŷᵢ, are unchanged).
    pub fn shifted(&self, delta: f64) -> Self {
        Self {
            output_terms: self.output_terms.iter().map(|t| t.shifted(delta)).collect(),
            pose_terms: self.pose_terms.clone(),
        }
    }

    /// ∂(Σ output terms)/∂z at the read-out value `z`, in f64.
    pub fn output_gradient(&self, z: f64) -> Result<f64> {
        let v = candle_core::Var::new(&[z], &candle_core::Device::Cpu)?;
        let grads = self.main(v.as_tensor())?.backward()?;
        Ok(grads
            .get(v.as_tensor())
            .map(|g| g.to_vec1::<f64>())
            .transpose()?
            .map_or(0.0, |g| g[0]))
    }

    /// Whether every pose term depends on one pose only (what streaming needs).
    pub fn is_separable(&self) -> bool {
        self.pose_terms
            .iter()
            .all(|t| matches!(t, PoseTerm::Mse { .. }))
    }

    /// Σ output terms, shape `[1]`.
    pub fn main(&self, z: &Tensor) -> Result<Tensor> {
        let mut total = z.zeros_like()?;
        for term in &self.output_terms {
            let value = match *term {
                OutputTerm::Mse { weight, target } => ((z - target)?.sqr()? * weight)?,
                OutputTerm::Step {
                    weight,
                    target,
                    side,
                } => {
                    let d = (z - target)?;
                    let wrong = match side {
                        s if s < 0 => d.relu()?,
                        s if s > 0 => d.neg()?.relu()?,
                        _ => d,
                    };
                    (wrong.sqr()? * weight)?
                }
                OutputTerm::GaussianNll {
                    weight,
                    target,
                    sigma,
                } => {
                    if !(sigma.is_finite() && sigma > 0.0) {
                        return Err(Error::InvalidConfig(format!(
                            "gaussian_nll needs a positive standard error, got {sigma}"
                        )));
                    }
                    ((z - target)?
                        .sqr()?
                        .affine(1.0 / (2.0 * sigma * sigma), sigma.ln())?
                        * weight)?
                }
                OutputTerm::Range { weight, lo, hi } => {
                    let below = z.affine(-1.0, lo)?.relu()?.sqr()?;
                    let above = (z - hi)?.relu()?.sqr()?;
                    ((below + above)? * weight)?
                }
                OutputTerm::L1 { weight, target } => ((z - target)?.abs()? * weight)?,
                OutputTerm::SmoothL1 {
                    weight,
                    target,
                    beta,
                } => {
                    // ½ min(|d|, β)² / β + max(|d| − β, 0): Huber written without branches.
                    let a = (z - target)?.abs()?;
                    let inner = a.minimum(beta)?.sqr()?.affine(0.5 / beta, 0.0)?;
                    let outer = a.affine(1.0, -beta)?.relu()?;
                    ((inner + outer)? * weight)?
                }
                OutputTerm::Linear { weight } => (z * weight)?,
            };
            total = (total + value)?;
        }
        Ok(total)
    }

    /// Sum of the pose terms over the poses in `preds` (`[1]`), or zero.
    pub fn poses(&self, preds: &Tensor) -> Result<Tensor> {
        let mut total = preds.zeros_like()?.sum_keepdim(0)?;
        let n = preds.dim(0)?;
        for term in &self.pose_terms {
            let value = match term {
                PoseTerm::Mse { weight, target } => {
                    ((preds - *target)?.sqr()?.sum_keepdim(0)? * *weight)?
                }
                PoseTerm::CrossEntropy {
                    weight,
                    label,
                    temperature,
                } => {
                    if *label >= n {
                        return Err(Error::InvalidConfig(format!(
                            "pose cross-entropy label {label} but the compound has {n} poses"
                        )));
                    }
                    let (logits, lse) = log_softmax_parts(preds, *temperature)?;
                    ((lse - logits.narrow(0, *label, 1)?)? * *weight)?
                }
                PoseTerm::SoftCrossEntropy {
                    weight,
                    probs,
                    temperature,
                } => {
                    if probs.len() != n {
                        return Err(Error::InvalidConfig(format!(
                            "pose cross-entropy has {} target probabilities for {n} poses",
                            probs.len()
                        )));
                    }
                    let (logits, lse) = log_softmax_parts(preds, *temperature)?;
                    let q =
                        Tensor::new(probs.as_slice(), preds.device())?.to_dtype(preds.dtype())?;
                    let log_p = logits.broadcast_sub(&lse)?;
                    ((q * log_p)?.sum_keepdim(0)?.neg()? * *weight)?
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

/// Logits −ŷ/τ and their log-sum-exp (`[1]`, shifted by the constant maximum).
fn log_softmax_parts(preds: &Tensor, temperature: f64) -> Result<(Tensor, Tensor)> {
    let logits = (preds / -temperature)?;
    let m = logits.max_keepdim(0)?.detach();
    let lse = (logits.broadcast_sub(&m)?.exp()?.sum_keepdim(0)?.log()? + &m)?;
    Ok((logits, lse))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn value(o: &Objective, z: f64, preds: &[f64]) -> f64 {
        let z = Tensor::new(&[z], &Device::Cpu).unwrap();
        let p = Tensor::new(preds, &Device::Cpu).unwrap();
        o.total(&z, &p).unwrap().to_vec1::<f64>().unwrap()[0]
    }

    fn single(term: OutputTerm) -> Objective {
        Objective {
            output_terms: vec![term],
            pose_terms: vec![],
        }
    }

    #[test]
    fn output_terms_against_hand_computed_values() {
        let mse = single(OutputTerm::Mse {
            weight: 2.0,
            target: 5.0,
        });
        assert!((value(&mse, 6.5, &[0.0]) - 4.5).abs() < 1e-12);
        // Censored: true value below 5: a prediction of 4 is fine, 6 costs (6−5)².
        let below = single(OutputTerm::Step {
            weight: 1.0,
            target: 5.0,
            side: -1,
        });
        assert_eq!(value(&below, 4.0, &[0.0]), 0.0);
        assert!((value(&below, 6.0, &[0.0]) - 1.0).abs() < 1e-12);
        let above = single(OutputTerm::Step {
            weight: 1.0,
            target: 5.0,
            side: 1,
        });
        assert_eq!(value(&above, 6.0, &[0.0]), 0.0);
        assert!((value(&above, 3.0, &[0.0]) - 4.0).abs() < 1e-12);
        let nll = single(OutputTerm::GaussianNll {
            weight: 1.0,
            target: 5.0,
            sigma: 0.5,
        });
        assert!((value(&nll, 6.0, &[0.0]) - (2.0 + 0.5f64.ln())).abs() < 1e-12);
        let range = single(OutputTerm::Range {
            weight: 1.0,
            lo: 4.0,
            hi: 8.0,
        });
        assert_eq!(value(&range, 6.0, &[0.0]), 0.0);
        assert!((value(&range, 3.0, &[0.0]) - 1.0).abs() < 1e-12);
        assert!((value(&range, 10.0, &[0.0]) - 4.0).abs() < 1e-12);
        let l1 = single(OutputTerm::L1 {
            weight: 1.0,
            target: 5.0,
        });
        assert!((value(&l1, 3.5, &[0.0]) - 1.5).abs() < 1e-12);
        let huber = single(OutputTerm::SmoothL1 {
            weight: 1.0,
            target: 0.0,
            beta: 1.0,
        });
        assert!((value(&huber, 0.5, &[0.0]) - 0.125).abs() < 1e-12);
        assert!((value(&huber, -3.0, &[0.0]) - 2.5).abs() < 1e-12);
    }

    #[test]
    fn a_shifted_objective_of_z_is_the_objective_of_z_plus_delta() {
        let terms = [
            OutputTerm::Mse {
                weight: 2.0,
                target: 5.0,
            },
            OutputTerm::Step {
                weight: 1.0,
                target: 5.0,
                side: -1,
            },
            OutputTerm::GaussianNll {
                weight: 1.0,
                target: 5.0,
                sigma: 0.5,
            },
            OutputTerm::Range {
                weight: 1.0,
                lo: 4.0,
                hi: 8.0,
            },
            OutputTerm::L1 {
                weight: 1.0,
                target: 5.0,
            },
            OutputTerm::SmoothL1 {
                weight: 1.0,
                target: 0.0,
                beta: 1.0,
            },
        ];
        let o = Objective {
            output_terms: terms.to_vec(),
            pose_terms: vec![],
        };
        for (z, delta) in [(6.5, -1.25), (3.0, 2.5), (9.0, -4.0)] {
            let a = value(&o.shifted(delta), z, &[0.0]);
            let b = value(&o, z + delta, &[0.0]);
            assert!((a - b).abs() < 1e-12, "z {z} δ {delta}: {a} vs {b}");
            // The gradient at z against a central difference.
            let h = 1e-6;
            let fd = (value(&o, z + h, &[0.0]) - value(&o, z - h, &[0.0])) / (2.0 * h);
            assert!((o.output_gradient(z).unwrap() - fd).abs() < 1e-6);
        }
        let linear = single(OutputTerm::Linear { weight: -3.0 });
        assert_eq!(value(&linear, 2.0, &[0.0]), -6.0);
        assert_eq!(linear.output_gradient(7.0).unwrap(), -3.0);
    }

    #[test]
    fn pose_terms_against_hand_computed_values() {
        let preds = [-1.0, 0.0, 2.0];
        // softmax(−ŷ) = e^{1, 0, −2} / Σ.
        let s: f64 = [1.0f64, 0.0, -2.0].iter().map(|x| x.exp()).sum();
        let ce = Objective {
            output_terms: vec![],
            pose_terms: vec![PoseTerm::CrossEntropy {
                weight: 1.0,
                label: 0,
                temperature: 1.0,
            }],
        };
        assert!((value(&ce, 0.0, &preds) - (s.ln() - 1.0)).abs() < 1e-12);
        let soft = Objective {
            output_terms: vec![],
            pose_terms: vec![PoseTerm::SoftCrossEntropy {
                weight: 1.0,
                probs: vec![1.0, 0.0, 0.0],
                temperature: 1.0,
            }],
        };
        assert!((value(&soft, 0.0, &preds) - (s.ln() - 1.0)).abs() < 1e-12);
        let mse = Objective {
            output_terms: vec![],
            pose_terms: vec![PoseTerm::Mse {
                weight: 0.5,
                target: 1.0,
            }],
        };
        assert!((value(&mse, 0.0, &preds) - 0.5 * (4.0 + 1.0 + 1.0)).abs() < 1e-12);
    }
}
