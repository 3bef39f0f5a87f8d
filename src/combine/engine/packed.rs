//! Cross-compound packing: the poses of several small compounds go through one batched
//! forward and one backward, each compound keeping its own combination, readout and loss.
//! The compounds' graphs are disjoint in the batch, so the backward of Σ_c w·L_c gives
//! exactly the w-weighted sum of per-compound gradients (as the `full` engine, compound
//! by compound), with one launch sequence instead of one per compound.

use super::{CompoundStep, EngineKind, scalar, to_f64};
use crate::combine::{GroupedModel, Objective};
use crate::error::Result;
use crate::model::CompoundGraphs;
use candle_core::Tensor;
use candle_core::backprop::GradStore;

/// Forward of all poses of `items`, per-compound losses weighted by `weight`, one backward.
pub(super) fn run(
    model: &GroupedModel,
    items: &[(&CompoundGraphs, &Objective)],
    weight: f64,
) -> Result<(Vec<CompoundStep>, GradStore)> {
    let compounds: Vec<&CompoundGraphs> = items.iter().map(|(c, _)| *c).collect();
    let embed = model.combination.needs_embeddings();
    let outputs = model.pose.predict_packed(&compounds, embed)?;
    let mut steps = Vec::with_capacity(items.len());
    let mut total: Option<Tensor> = None;
    for ((_, objective), (p, z)) in items.iter().zip(outputs) {
        let combined = model.combination.forward(&p, z.as_ref())?;
        let output = model.readout().forward(&combined)?;
        let loss = objective.total(&output, &p)?;
        steps.push(CompoundStep {
            loss: scalar(&loss)?,
            combined: scalar(&combined)?,
            output: scalar(&output)?,
            poses: to_f64(&p)?,
            engine: EngineKind::Full,
            packed: true,
        });
        let weighted = (loss * weight)?;
        total = Some(match total {
            Some(t) => (t + weighted)?,
            None => weighted,
        });
    }
    let store = match total {
        Some(t) => t.backward()?,
        None => GradStore::default(),
    };
    Ok((steps, store))
}
