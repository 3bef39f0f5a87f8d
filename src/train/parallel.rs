//! What the ranks of a data-parallel run exchange during an epoch: which compounds of a
//! batch each one computes, the batch's per-compound results gathered on every rank (so
//! losses, metrics and stopping decisions agree), and the summed gradient. With one
//! process the exchanges are no-ops and the numbers those of the plain loop.

use crate::combine::BatchStep;
use crate::distributed::Collective;
use crate::distributed::shard::{compound_cost, shard};
use crate::error::{Error, Result};
use crate::model::{CompoundGraphs, Params};
use candle_core::Tensor;
use std::collections::HashMap;

/// One compound's result, as every rank sees it after [`gather`].
#[derive(Debug, Clone, Default)]
pub(super) struct Outcome {
    /// Loss (0 where only predictions were made).
    pub loss: f64,
    /// Read-out value.
    pub output: f64,
    /// Per-pose predictions.
    pub poses: Vec<f64>,
}

/// Positions in `ids` this rank computes: all of them in a single process, else its
/// share of a split balanced by graph size.
pub(super) fn my_share(c: &Collective, graphs: &[CompoundGraphs], ids: &[usize]) -> Vec<usize> {
    let world = c.world();
    if world.size == 1 {
        return (0..ids.len()).collect();
    }
    let costs: Vec<u64> = ids.iter().map(|&i| compound_cost(&graphs[i])).collect();
    shard(&costs, world.size).swap_remove(world.rank)
}

/// What every rank learns from a [`gather`].
pub(super) struct Gathered {
    /// Results of all the compounds, in the order asked.
    pub outcomes: Vec<Outcome>,
    /// Whether any rank asked to stop.
    pub stop: bool,
    /// Each rank's compute time for this exchange, s.
    pub seconds: Vec<f64>,
}

/// Time spent by this rank over an epoch of a data-parallel run, s.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub(super) struct ParallelTimes {
    /// Number of ranks.
    pub ranks: usize,
    /// This rank's forward and backward.
    pub compute_s: f64,
    /// Σ over steps of the slowest rank's compute.
    pub slowest_compute_s: f64,
    /// Σ over steps of the ranks' mean compute.
    pub mean_compute_s: f64,
    /// This rank's time in exchanges (sums, and waiting for slower ranks).
    pub exchange_s: f64,
}

impl ParallelTimes {
    /// Adds one step: this rank's compute, every rank's, and the exchange.
    pub(super) fn add(&mut self, mine: f64, all: &[f64], exchange: f64) {
        self.ranks = all.len();
        self.compute_s += mine;
        self.slowest_compute_s += all.iter().copied().fold(0.0, f64::max);
        self.mean_compute_s += all.iter().sum::<f64>() / all.len().max(1) as f64;
        self.exchange_s += exchange;
    }
}

/// Every rank's results for the compounds `ids` (each rank passes those of its `mine`
/// positions and its compute `seconds`), and whether any rank asked to stop.
pub(super) fn gather(
    c: &Collective,
    graphs: &[CompoundGraphs],
    ids: &[usize],
    mine: &[(usize, Outcome)],
    stop: bool,
    seconds: f64,
) -> Result<Gathered> {
    // Layout: [stop, each rank's seconds, then per compound: loss, output, its poses].
    let world = c.world();
    let mut offsets = Vec::with_capacity(ids.len());
    let mut len = 1 + world.size;
    for &i in ids {
        offsets.push(len);
        len += 2 + graphs[i].poses.len();
    }
    let mut data = vec![0.0; len];
    data[0] = f64::from(u8::from(stop));
    data[1 + world.rank] = seconds;
    for (k, o) in mine {
        let n = graphs[ids[*k]].poses.len();
        if o.poses.len() != n {
            return Err(Error::Distributed(format!(
                "compound `{}` gave {} pose predictions for {n} poses",
                graphs[ids[*k]].name,
                o.poses.len()
            )));
        }
        let at = offsets[*k];
        data[at] = o.loss;
        data[at + 1] = o.output;
        data[at + 2..at + 2 + n].copy_from_slice(&o.poses);
    }
    c.all_reduce(&mut data)?;
    let outcomes = ids
        .iter()
        .zip(&offsets)
        .map(|(&i, &at)| Outcome {
            loss: data[at],
            output: data[at + 1],
            poses: data[at + 2..at + 2 + graphs[i].poses.len()].to_vec(),
        })
        .collect();
    Ok(Gathered {
        outcomes,
        stop: data[0] > 0.0,
        seconds: data[1..1 + world.size].to_vec(),
    })
}

/// The batch's mean gradient by parameter name: this rank's mean over its `share` of
/// the `total` compounds, weighted by share / total and summed over the ranks.
pub(super) fn summed_gradients(
    c: &Collective,
    params: &Params,
    step: Option<&BatchStep>,
    share: usize,
    total: usize,
) -> Result<HashMap<String, Tensor>> {
    let named = params.named();
    let weight = share as f64 / total.max(1) as f64;
    let mut mine = Vec::with_capacity(named.len());
    for (name, var) in &named {
        let g = match step.and_then(|s| s.grads.get(name)) {
            Some(g) if c.world().size == 1 => g.clone(),
            Some(g) => g.affine(weight, 0.0)?,
            None => var.zeros_like()?,
        };
        mine.push(g);
    }
    let summed = c.all_reduce_tensors(&mine)?;
    Ok(named.into_iter().map(|(n, _)| n).zip(summed).collect())
}
