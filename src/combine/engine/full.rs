//! The `full` engine: every pose's graph alive at once, one backward.

use super::grads::GradBuffer;
use super::{EngineKind, Step, StepResult, scalar, to_f64};
use crate::error::Result;
use crate::model::ProteinInput;
use candle_core::Tensor;

pub(super) fn run(s: &Step) -> Result<StepResult> {
    let mut parts = Vec::with_capacity(s.chunks.len());
    for ids in &s.chunks {
        parts.push(
            s.model
                .pose
                .predict(s.compound, ids, ProteinInput::Inline)?,
        );
    }
    let preds = Tensor::cat(&parts, 0)?;
    let combined = s.model.combination.forward(&preds)?;
    let z = s.model.readout().forward(&combined)?;
    let loss = s.objective.total(&z, &preds)?;
    let store = loss.backward()?;
    let (names, keys) = s.keys();
    let mut buffer = GradBuffer::new(keys);
    buffer.add(&store, 1.0)?;
    Ok(StepResult {
        loss: scalar(&loss)?,
        combined: scalar(&combined)?,
        output: scalar(&z)?,
        poses: to_f64(&preds)?,
        grads: buffer.into_gradients(names)?,
        engine: EngineKind::Full,
    })
}
