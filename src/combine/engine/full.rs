//! The `full` engine: every pose's graph alive at once, one backward.

use super::grads::GradBuffer;
use super::{EngineKind, Step, StepResult, scalar, to_f64};
use crate::error::Result;
use crate::model::ProteinInput;

pub(super) fn run(s: &Step) -> Result<StepResult> {
    let (preds, embeddings) = s.model.pose.predict_chunks(
        s.compound,
        &s.chunks,
        ProteinInput::Inline,
        s.model.combination.needs_embeddings(),
    )?;
    let combined = s.model.combination.forward(&preds, embeddings.as_ref())?;
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
