//! The `stored` engine, mtenn's scheme: forward+backward of each pose alone (protein
//! included), N full gradient copies, combined at the end with the hand-derived ∂ŷ/∂ŷᵢ.
//! Kept for parity checks against the reference; it always runs one pose per backward.

use super::grads::GradBuffer;
use super::{EngineKind, Step, StepResult, scalar};
use crate::error::{Error, Result};
use crate::model::ProteinInput;

pub(super) fn run(s: &Step) -> Result<StepResult> {
    if s.model.combination.needs_embeddings() {
        return Err(Error::Unsupported {
            engine: "stored",
            reason: "attention's weights depend on the poses' embeddings, and mtenn's scheme \
                     has no hand-derived gradient through them; use recompute (or full)"
                .into(),
        });
    }
    if s.model.combination.is_learnable() {
        return Err(Error::Unsupported {
            engine: "stored",
            reason: "mtenn's hand-derived combination gradients have no learned constant; \
                     use the recompute engine"
                .into(),
        });
    }
    let (names, keys) = s.keys();
    let n = s.compound.num_poses();
    let mut per_pose = Vec::with_capacity(n);
    let mut preds = Vec::with_capacity(n);
    for i in 0..n {
        let y = s
            .model
            .pose
            .predict(s.compound, &[i], ProteinInput::Inline)?;
        preds.push(scalar(&y)?);
        let mut g = GradBuffer::new(keys.clone());
        g.add(&y.sum_all()?.backward()?, 1.0)?;
        per_pose.push(g);
    }
    let (combined, output, loss) = s.evaluate(&preds)?;
    let (d_combined, d_poses) = s.outer_seeds(&preds, combined)?;
    let weights = s.model.combination.weights(&preds, None)?;
    let mut total = GradBuffer::new(keys);
    for ((g, w), d) in per_pose.iter().zip(weights).zip(d_poses) {
        total.add_buffer(g, d_combined * w + d)?;
    }
    StepResult::from_buffer(
        (combined, output, loss),
        preds,
        total,
        names,
        EngineKind::Stored,
    )
}
