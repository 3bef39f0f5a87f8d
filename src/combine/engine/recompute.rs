//! The `recompute` engine: pass 1 without graphs gives every ŷᵢ; autodiff of the scalar
//! graph (combination, readout, loss) gives cᵢ = ∂L/∂ŷᵢ and the gradient of learned
//! combination constants; pass 2 backpropagates Σ cᵢ ŷᵢ chunk by chunk into one buffer.

use super::grads::GradBuffer;
use super::{EngineKind, Step, StepResult, scalar, to_f64};
use crate::error::Result;
use crate::model::ProteinInput;
use candle_core::Var;

pub(super) fn run(s: &Step) -> Result<StepResult> {
    let protein = s.model.pose.protein_reps(s.compound)?;
    let detached = protein.as_ref().map(|r| r.detach());
    let input = match &detached {
        Some(t) => ProteinInput::Shared(t),
        None => ProteinInput::Inline,
    };
    let mut preds = Vec::with_capacity(s.compound.num_poses());
    for ids in &s.chunks {
        preds.extend(to_f64(&s.model.frozen.predict(s.compound, ids, input)?)?);
    }

    let (names, mut keys) = s.keys();
    let y = Var::from_tensor(&s.preds_tensor(&preds)?)?;
    let combined = s.model.combination.forward(y.as_tensor())?;
    let z = s.model.readout().forward(&combined)?;
    let loss = s.objective.total(&z, y.as_tensor())?;
    let store = loss.backward()?;
    let seeds = match store.get(y.as_tensor()) {
        Some(g) => to_f64(g)?,
        None => vec![0.0; preds.len()],
    };

    let leaf = detached.as_ref().map(Var::from_tensor).transpose()?;
    if let Some(l) = &leaf {
        keys.push(l.as_tensor().clone());
    }
    let mut total = GradBuffer::new(keys);
    // Gradients of learned combination constants come from the scalar graph.
    total.add(&store, 1.0)?;
    let input = match &leaf {
        Some(l) => ProteinInput::Shared(l.as_tensor()),
        None => ProteinInput::Inline,
    };
    for ids in &s.chunks {
        let c: Vec<f64> = ids.iter().map(|&i| seeds[i]).collect();
        let y = s.model.pose.predict(s.compound, ids, input)?;
        total.add(&(y * s.preds_tensor(&c)?)?.sum_all()?.backward()?, 1.0)?;
    }
    s.backprop_protein(&mut total, protein.as_ref(), names.len())?;
    Ok(StepResult {
        loss: scalar(&loss)?,
        combined: scalar(&combined)?,
        output: scalar(&z)?,
        poses: preds,
        grads: total.into_gradients(names)?,
        engine: EngineKind::Recompute,
    })
}
