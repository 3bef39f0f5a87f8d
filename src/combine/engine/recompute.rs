//! The `recompute` engine: pass 1 without graphs gives every ŷᵢ (and, for a combination
//! that reads them, every embedding zᵢ); autodiff of the small graph (combination,
//! readout, loss) with leaves ŷ and Z gives the seeds cᵢ = ∂L/∂ŷᵢ, Cᵢ = ∂L/∂zᵢ and the
//! gradient of the combination's own parameters; pass 2 backpropagates
//! Σᵢ (cᵢ ŷᵢ + Cᵢ · zᵢ) chunk by chunk into one buffer ("vector seeds").
//!
//! The protein-only term of delta / concat keeps its single forward and backward per
//! compound: it enters ŷᵢ but not zᵢ (the embedding of the complex graph), so its seed is
//! the sum of the cᵢ of the poses that use it, accumulated on a shared leaf. For attention
//! a depends on Z only, Σ aᵢ = 1, hence h(ŷ + c·1, Z) = h(ŷ, Z) + c as for mean, max and
//! boltzmann: a shift shared by all poses passes straight through.

use super::grads::GradBuffer;
use super::{EngineKind, Step, StepResult, scalar, to_f64};
use crate::error::Result;
use crate::model::ProteinInput;
use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

pub(super) fn run(s: &Step) -> Result<StepResult> {
    let protein = s.model.pose.protein_reps(s.compound)?;
    let detached = protein.as_ref().map(|r| r.detach());
    let (preds, embeddings) = s.model.frozen.predict_chunks(
        s.compound,
        &s.chunks,
        shared(detached.as_ref()),
        s.model.combination.needs_embeddings(),
    )?;
    let seeds = Seeds::new(s, &preds, embeddings.as_ref())?;

    let (names, mut keys) = s.keys();
    let leaf = detached.as_ref().map(Var::from_tensor).transpose()?;
    if let Some(l) = &leaf {
        keys.push(l.as_tensor().clone());
    }
    let mut total = GradBuffer::new(keys);
    // Gradients of the combination's own parameters come from the small graph.
    total.add(&seeds.store, 1.0)?;
    let input = shared(leaf.as_ref().map(Var::as_tensor));
    for ids in &s.chunks {
        total.add(&seeds.backward_chunk(s, ids, input)?, 1.0)?;
    }
    s.backprop_protein(&mut total, protein.as_ref(), names.len())?;
    Ok(StepResult {
        loss: scalar(&seeds.loss)?,
        combined: scalar(&seeds.combined)?,
        output: scalar(&seeds.output)?,
        poses: to_f64(&preds)?,
        grads: total.into_gradients(names)?,
        engine: EngineKind::Recompute,
    })
}

fn shared(protein: Option<&Tensor>) -> ProteinInput<'_> {
    match protein {
        Some(t) => ProteinInput::Shared(t),
        None => ProteinInput::Inline,
    }
}

/// The small graph's values, its gradient store, and the seeds of pass 2.
struct Seeds {
    loss: Tensor,
    combined: Tensor,
    output: Tensor,
    store: GradStore,
    /// cᵢ = ∂L/∂ŷᵢ `[N]`.
    preds: Tensor,
    /// Cᵢ = ∂L/∂zᵢ `[N, D]`, when the combination reads embeddings.
    embeddings: Option<Tensor>,
}

impl Seeds {
    /// Differentiates (combination, readout, loss) at ŷ `[N]` and Z `[N, D]` (leaves).
    fn new(s: &Step, preds: &Tensor, embeddings: Option<&Tensor>) -> Result<Self> {
        let y = Var::from_tensor(&preds.detach())?;
        let z = embeddings
            .map(|t| Var::from_tensor(&t.detach()))
            .transpose()?;
        let combined = s
            .model
            .combination
            .forward(y.as_tensor(), z.as_ref().map(Var::as_tensor))?;
        let output = s.model.readout().forward(&combined)?;
        let loss = s.objective.total(&output, y.as_tensor())?;
        let store = loss.backward()?;
        // candle's gradients keep their own graph (∂L/∂z reads V, w, …): detach them, or
        // pass 2 would backpropagate through the seeds into the combination's parameters.
        let seed_preds = match store.get(y.as_tensor()) {
            Some(g) => g.detach(),
            None => y.zeros_like()?,
        };
        let seed_embeddings = z.and_then(|z| store.get(z.as_tensor()).map(Tensor::detach));
        Ok(Self {
            loss,
            combined,
            output,
            store,
            preds: seed_preds,
            embeddings: seed_embeddings,
        })
    }

    /// Forward of one chunk with a graph, and the backward of Σᵢ (cᵢ ŷᵢ + Cᵢ · zᵢ).
    fn backward_chunk(&self, s: &Step, ids: &[usize], input: ProteinInput) -> Result<GradStore> {
        let embed = self.embeddings.is_some();
        let (y, z) = s
            .model
            .pose
            .predict_with_embeddings(s.compound, ids, input, embed)?;
        let rows = Tensor::from_vec(
            ids.iter().map(|&i| i as u32).collect::<Vec<_>>(),
            ids.len(),
            y.device(),
        )?;
        let mut seeded = (y * self.preds.index_select(&rows, 0)?)?.sum_all()?;
        if let (Some(z), Some(c)) = (z, &self.embeddings) {
            seeded = (seeded + (z * c.index_select(&rows, 0)?)?.sum_all()?)?;
        }
        Ok(seeded.backward()?)
    }
}
