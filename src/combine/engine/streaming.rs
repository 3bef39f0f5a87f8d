//! The `streaming` engine: one forward+backward per chunk, weights accumulated online
//! like the running max and sum of an online softmax.
//!
//! Buffers: A = Σ wᵢ ∂ŷᵢ/∂θ, B = Σ wᵢ (ŷᵢ − c) ∂ŷᵢ/∂θ (boltzmann only; c the first chunk's
//! mean), D = Σ ℓ'(ŷᵢ) ∂ŷᵢ/∂θ
//! (per-pose loss terms), with wᵢ = exp(aᵢ − m) for the running maximum m of the logits
//! aᵢ; when m grows, A and B are rescaled by exp(m_old − m_new). At the end
//! ∂ŷ/∂θ = A/N (mean), A/s (max), ((1 + (ŷ − c)/T)·A − B/T)/s (boltzmann), s = Σ wᵢ.

use super::grads::GradBuffer;
use super::{EngineKind, Step, StepResult, to_f64};
use crate::combine::{GroupedModel, Objective, Online};
use crate::error::{Error, Result};
use crate::model::ProteinInput;
use crate::profile::{Phase, span};
use candle_core::Tensor;

/// Whether streaming can compute this model's gradient exactly.
pub(super) fn supports(model: &GroupedModel, objective: &Objective) -> Result<()> {
    if model.combination.needs_embeddings() {
        return Err(Error::Unsupported {
            engine: "streaming",
            reason: "attention has no online form (its weights depend on the poses' \
                     embeddings through learned parameters); use recompute"
                .into(),
        });
    }
    if model.combination.online().is_none() {
        return Err(Error::Unsupported {
            engine: "streaming",
            reason: "the combination has a learned constant; use recompute".into(),
        });
    }
    if !objective.is_separable() {
        return Err(Error::Unsupported {
            engine: "streaming",
            reason: "a pose loss term couples the poses (cross-entropy); use recompute".into(),
        });
    }
    Ok(())
}

pub(super) fn run(s: &Step) -> Result<StepResult> {
    let online = s.model.combination.online().ok_or(Error::Unsupported {
        engine: "streaming",
        reason: "the combination has a learned constant".into(),
    })?;
    // Every chunk batches one copy of each protein its poses use: the protein's edge
    // lengths are those of the complexes' protein part, so its filter is nearly free, and
    // its gradient flows with the chunk's (no graph kept across chunks).
    let (names, keys) = s.keys();
    let mut a = GradBuffer::new(keys.clone());
    let mut b = GradBuffer::new(keys.clone());
    let mut d = GradBuffer::new(keys.clone());
    let mut m = f64::NEG_INFINITY;
    let mut sum = 0.0;
    // Boltzmann's B buffer holds Σ wᵢ (ŷᵢ − c) ∂ŷᵢ/∂θ around the first chunk's mean c:
    // around 0, the final (1 + ŷ/T)·A − B/T cancels terms of size |ŷ|/T and loses digits.
    let mut center: Option<f64> = None;
    let mut preds = Vec::with_capacity(s.compound.num_poses());
    for ids in &s.chunks {
        let input = ProteinInput::Batched;
        let (y, yv) = {
            let _span = span(Phase::Forward, s.params.device());
            let y = s.model.pose.predict(s.compound, ids, input)?;
            let yv = to_f64(&y)?;
            (y, yv)
        };
        let (wa, wb) = match online {
            Online::Mean => (vec![1.0; yv.len()], None),
            Online::Softmax { factor } => (
                running_weights(&mut m, &mut sum, &yv, factor, &mut [&mut a])?,
                None,
            ),
            Online::Boltzmann { temperature } => {
                let w = running_weights(
                    &mut m,
                    &mut sum,
                    &yv,
                    -1.0 / temperature,
                    &mut [&mut a, &mut b],
                )?;
                let c = *center.get_or_insert(yv.iter().sum::<f64>() / yv.len() as f64);
                let wy = w.iter().zip(&yv).map(|(w, y)| w * (y - c)).collect();
                (w, Some(wy))
            }
        };
        let wd = if s.objective.pose_terms.is_empty() {
            None
        } else {
            Some(s.pose_seeds(&yv)?)
        };
        let mut targets: Vec<(&mut GradBuffer, Vec<f64>)> = vec![(&mut a, wa)];
        if let Some(wb) = wb {
            targets.push((&mut b, wb));
        }
        if let Some(wd) = wd {
            targets.push((&mut d, wd));
        }
        let _span = span(Phase::Backward, s.params.device());
        seeded_backward(s, &y, targets)?;
        preds.extend(yv);
    }
    let (combined, output, loss) = s.evaluate(&preds)?;
    let (dc, _) = s.outer_seeds(&preds, combined)?;
    let n = preds.len() as f64;
    let (alpha, beta) = match online {
        Online::Mean => (dc / n, 0.0),
        Online::Softmax { .. } => (dc / sum, 0.0),
        Online::Boltzmann { temperature: t } => {
            let c = center.unwrap_or(0.0);
            (dc * (1.0 + (combined - c) / t) / sum, -dc / (t * sum))
        }
    };
    let mut total = GradBuffer::new(keys);
    total.add_buffer(&a, alpha)?;
    total.add_buffer(&b, beta)?;
    total.add_buffer(&d, 1.0)?;
    StepResult::from_buffer(
        (combined, output, loss),
        preds,
        total,
        names,
        EngineKind::Streaming,
    )
}

/// Updates the running maximum `m` of the logits factor·ŷ and the sum of weights,
/// rescales `buffers` when the maximum grows, and returns this chunk's weights.
fn running_weights(
    m: &mut f64,
    sum: &mut f64,
    preds: &[f64],
    factor: f64,
    buffers: &mut [&mut GradBuffer],
) -> Result<Vec<f64>> {
    let logits: Vec<f64> = preds.iter().map(|y| factor * y).collect();
    let m_new = logits.iter().copied().fold(*m, f64::max);
    let rescale = (*m - m_new).exp();
    for buffer in buffers.iter_mut() {
        buffer.scale(rescale)?;
    }
    let w: Vec<f64> = logits.iter().map(|a| (a - m_new).exp()).collect();
    *sum = *sum * rescale + w.iter().sum::<f64>();
    *m = m_new;
    Ok(w)
}

/// Adds Σᵢ wᵢ ∂ŷᵢ/∂θ to each buffer: one backward for a single pose, else one per buffer.
fn seeded_backward(s: &Step, y: &Tensor, targets: Vec<(&mut GradBuffer, Vec<f64>)>) -> Result<()> {
    if y.dim(0)? == 1 {
        let store = y.sum_all()?.backward()?;
        for (buffer, w) in targets {
            buffer.add(&store, w[0])?;
        }
        return Ok(());
    }
    for (buffer, w) in targets {
        let seed = s.preds_tensor(&w)?;
        buffer.add(&(y * seed)?.sum_all()?.backward()?, 1.0)?;
    }
    Ok(())
}
