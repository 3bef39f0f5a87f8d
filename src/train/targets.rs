//! From a label and the loss settings to one compound's objective.

use super::LossConfig;
use crate::combine::softmax_f64;
use crate::combine::{Objective, OutputTerm, PoseTerm};
use crate::dataset::{CompoundData, Qualifier};
use crate::error::{Error, Result};

crate::choice! {
    /// What the pose cross-entropy term takes as each compound's true pose.
    pub enum PoseLabel {
        /// Pose 0 (the reference pose of `tools/dock` datasets), one-hot.
        Reference = "reference",
        /// softmax(−rmsd / rmsd_scale) over the poses' RMSD to the reference.
        Rmsd = "rmsd",
    }
}

/// The objective of one compound under `loss`.
pub fn objective(loss: &LossConfig, compound: &CompoundData) -> Result<Objective> {
    let label = compound
        .label
        .as_ref()
        .ok_or_else(|| Error::InvalidConfig(format!("compound `{}` has no label", compound.id)))?;
    let y = label.value;
    let exact = label.qualifier == Qualifier::Exact;
    let mut o = Objective::default();
    // Exact-only terms skip censored labels: only the step loss knows what `<` means.
    if loss.mse > 0.0 && exact {
        o.output_terms.push(OutputTerm::Mse {
            weight: loss.mse,
            target: y,
        });
    }
    if loss.mse_step > 0.0 {
        let side = match label.qualifier {
            Qualifier::Exact => 0,
            Qualifier::Below => -1,
            Qualifier::Above => 1,
        };
        o.output_terms.push(OutputTerm::Step {
            weight: loss.mse_step,
            target: y,
            side,
        });
    }
    if loss.gaussian_nll > 0.0 && exact {
        let sigma = label
            .stderr
            .filter(|s| *s > 0.0)
            .unwrap_or(loss.default_stderr);
        o.output_terms.push(OutputTerm::GaussianNll {
            weight: loss.gaussian_nll,
            target: y,
            sigma,
        });
    }
    if loss.l1 > 0.0 && exact {
        o.output_terms.push(OutputTerm::L1 {
            weight: loss.l1,
            target: y,
        });
    }
    if loss.smooth_l1 > 0.0 && exact {
        o.output_terms.push(OutputTerm::SmoothL1 {
            weight: loss.smooth_l1,
            target: y,
            beta: loss.smooth_l1_beta,
        });
    }
    if loss.range > 0.0 {
        o.output_terms.push(OutputTerm::Range {
            weight: loss.range,
            lo: loss.range_lo,
            hi: loss.range_hi,
        });
    }
    if loss.pose_cross_entropy > 0.0 {
        let term = match loss.pose_label {
            PoseLabel::Rmsd => {
                let rmsd: Vec<f64> = compound
                    .rmsd
                    .iter()
                    .map(|r| {
                        r.ok_or_else(|| {
                            Error::InvalidConfig(format!(
                                "compound `{}`: pose_label = \"rmsd\" but a pose has no rmsd_to_reference field",
                                compound.id
                            ))
                        })
                    })
                    .collect::<Result<_>>()?;
                let logits: Vec<f64> = rmsd.iter().map(|r| -r / loss.rmsd_scale).collect();
                PoseTerm::SoftCrossEntropy {
                    weight: loss.pose_cross_entropy,
                    probs: softmax_f64(&logits),
                    temperature: loss.pose_temperature,
                }
            }
            PoseLabel::Reference => PoseTerm::CrossEntropy {
                weight: loss.pose_cross_entropy,
                label: 0,
                temperature: loss.pose_temperature,
            },
        };
        o.pose_terms.push(term);
    }
    Ok(o)
}
