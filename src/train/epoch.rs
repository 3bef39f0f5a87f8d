//! One epoch: optimiser steps over the shuffled training compounds, then validation.

use super::parallel::{Gathered, Outcome, ParallelTimes, gather, my_share, summed_gradients};
use super::plots::EpochLosses;
use super::prepare::Prepared;
use super::report::metrics_of;
use super::run_dir::{RunDir, append_line};
use super::split::{self, Split};
use super::{Optimizer, RunOptions, TrainConfig};
use crate::combine::{ChunkPolicy, EngineConfig, GroupedModel, Objective, train_batch};
use crate::distributed::Collective;
use crate::error::{Error, Result};
use crate::model::Params;
use crate::profile::{Phase, span};
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use std::time::Instant;

/// What every part of an epoch reads.
pub(super) struct EpochContext<'a> {
    /// Epoch index, from 0 (also the number of epochs saved before it).
    pub index: usize,
    /// The run's configuration.
    pub config: &'a TrainConfig,
    /// Data, graphs and objectives.
    pub prepared: &'a Prepared,
    /// The run's split.
    pub split: &'a Split,
    /// The run folder (named in messages).
    pub dir: &'a RunDir,
    /// The other ranks of a data-parallel run (or none).
    pub collective: &'a Collective,
}

/// One part's results: mean loss, `(compound, output)` pairs and `poses.jsonl` lines.
#[derive(Default)]
pub(super) struct PartResult {
    /// Mean loss over the part's compounds.
    pub loss: f64,
    /// Compound index and prediction.
    pub preds: Vec<(usize, f64)>,
    /// Per-pose lines for `poses.jsonl`.
    pub tracker: Vec<String>,
    /// Where a data-parallel epoch's time went (training part only).
    pub parallel: Option<ParallelTimes>,
}

/// The model and what changes it during training.
pub(super) struct Trainee<'a> {
    /// The grouped model.
    pub model: &'a GroupedModel,
    /// Its parameters.
    pub params: &'a Params,
    /// Gradient engine and chunks.
    pub engine: &'a EngineConfig,
    /// The optimiser.
    pub optimizer: &'a mut Optimizer,
}

/// Optimiser steps over the training compounds in this epoch's order; with several ranks
/// each computes its share of every batch and all step with the summed gradient.
pub(super) fn train_epoch(
    cx: &EpochContext,
    t: Trainee,
    options: &RunOptions,
    bar: &indicatif::ProgressBar,
) -> Result<PartResult> {
    let train = &cx.split.train;
    let order = split::shuffled(
        train.len(),
        cx.config.optim.seed ^ (0x5EED_0000 + cx.index as u64),
    );
    let single = cx.collective.world().size == 1;
    let mut out = PartResult::default();
    for batch in order.chunks(cx.config.optim.batch_size) {
        // One process stops at once; several agree first (in the step), so none waits alone.
        let stop = options.interrupted();
        if stop && single {
            return Err(interrupted(cx));
        }
        let ids: Vec<usize> = batch.iter().map(|&k| train[k]).collect();
        let step = shared_step(cx, &t, &ids, stop)?;
        if step.shared.stop {
            return Err(interrupted(cx));
        }
        for (&i, c) in ids.iter().zip(&step.shared.outcomes) {
            let id = &cx.prepared.compounds[i].id;
            if !c.loss.is_finite() {
                return Err(diverged(cx, id, c.loss));
            }
            out.loss += c.loss;
            out.preds.push((i, c.output));
            out.tracker
                .push(pose_line(cx.index, id, "train", &c.poses, c.output));
        }
        if !single {
            let times = out.parallel.get_or_insert_default();
            times.add(step.computed, &step.shared.seconds, step.exchanged);
        }
        let _update = span(Phase::Optimizer, t.params.device());
        t.optimizer.step(&t.params.named(), &step.grads)?;
        bar.inc(1);
    }
    out.loss /= train.len() as f64;
    Ok(out)
}

/// One optimiser batch across the ranks.
struct SharedStep {
    /// Every compound's results, and whether a rank asked to stop.
    shared: Gathered,
    /// The batch's mean gradient.
    grads: HashMap<String, Tensor>,
    /// This rank's forward and backward, s.
    computed: f64,
    /// This rank's exchanges, s.
    exchanged: f64,
}

/// This rank's share of the compounds `ids` forward and backward, then every rank's
/// results and the summed gradient.
fn shared_step(cx: &EpochContext, t: &Trainee, ids: &[usize], stop: bool) -> Result<SharedStep> {
    let graphs = &cx.prepared.graphs;
    let mine = my_share(cx.collective, graphs, ids);
    let items: Vec<_> = mine
        .iter()
        .map(|&k| (&graphs[ids[k]], &cx.prepared.objectives[ids[k]]))
        .collect();
    let started = Instant::now();
    let step = match items.is_empty() {
        true => None,
        false => Some(train_batch(t.model, t.params, &items, t.engine)?),
    };
    if cx.collective.world().size > 1 {
        // Own compute apart from waiting for the others (the exchange syncs anyway).
        t.params.device().synchronize()?;
    }
    let computed = started.elapsed().as_secs_f64();
    let results: Vec<(usize, Outcome)> = step
        .iter()
        .flat_map(|s| mine.iter().zip(&s.compounds))
        .map(|(&k, c)| {
            let (loss, output, poses) = (c.loss, c.output, c.poses.clone());
            (
                k,
                Outcome {
                    loss,
                    output,
                    poses,
                },
            )
        })
        .collect();
    let _exchange = span(Phase::Exchange, t.params.device());
    let shared = gather(cx.collective, graphs, ids, &results, stop, computed)?;
    let (c, p) = (cx.collective, t.params);
    let grads = summed_gradients(c, p, step.as_ref(), mine.len(), ids.len())?;
    Ok(SharedStep {
        shared,
        grads,
        computed,
        exchanged: started.elapsed().as_secs_f64() - computed,
    })
}

fn interrupted(cx: &EpochContext) -> Error {
    Error::Interrupted(format!(
        "during epoch {}; {} complete epochs are saved, continue with `multipose train --resume {}`",
        cx.index + 1,
        cx.index,
        cx.dir.root().display()
    ))
}

/// Predictions and loss on the validation compounds, each rank predicting its share (the
/// training loss stands in when there are none, so early stopping still has a number).
pub(super) fn validate(
    cx: &EpochContext,
    model: &GroupedModel,
    chunk: &ChunkPolicy,
    train_loss: f64,
) -> Result<PartResult> {
    let val = &cx.split.val;
    let graphs = &cx.prepared.graphs;
    let mine = my_share(cx.collective, graphs, val);
    let batch: Vec<_> = mine.iter().map(|&k| &graphs[val[k]]).collect();
    let predictions = model.predict_batch(&batch, chunk)?;
    let results: Vec<(usize, Outcome)> = mine
        .iter()
        .zip(predictions)
        .map(|(&k, p)| {
            let o = Outcome {
                loss: 0.0,
                output: p.output,
                poses: p.poses,
            };
            (k, o)
        })
        .collect();
    let shared = gather(cx.collective, graphs, val, &results, false, 0.0)?;
    let mut out = PartResult::default();
    for (&i, p) in val.iter().zip(&shared.outcomes) {
        out.loss += loss_at(&cx.prepared.objectives[i], p.output, &p.poses)?;
        out.preds.push((i, p.output));
        let id = &cx.prepared.compounds[i].id;
        out.tracker
            .push(pose_line(cx.index, id, "val", &p.poses, p.output));
    }
    out.loss = match val.len() {
        0 => train_loss,
        n => out.loss / n as f64,
    };
    Ok(out)
}

/// Writes the epoch's line of `metrics.jsonl` and its per-pose lines, reports progress,
/// and returns its point of the learning curve.
pub(super) fn record(
    cx: &EpochContext,
    train: PartResult,
    val: PartResult,
    improved: bool,
    seconds: f64,
    options: &RunOptions,
    bar: &indicatif::ProgressBar,
) -> Result<EpochLosses> {
    let (compounds, seed) = (&cx.prepared.compounds, cx.config.optim.seed);
    let val_m = metrics_of(compounds, &val.preds, seed);
    let mut line = serde_json::json!({
        "epoch": cx.index + 1,
        "train_loss": train.loss,
        "val_loss": val.loss,
        "improved": improved,
        "train": metrics_of(compounds, &train.preds, seed),
        "val": val_m,
        "seconds": seconds,
    });
    if let Some(p) = train.parallel {
        line["parallel"] = serde_json::to_value(p).unwrap_or_default();
    }
    if crate::profile::enabled() {
        let phases: serde_json::Map<String, serde_json::Value> = crate::profile::totals()
            .into_iter()
            .map(|(name, ms)| (name.to_string(), (ms / 1e3).into()))
            .collect();
        line["profile_s"] = phases.into();
    }
    append_line(&cx.dir.metrics(), &line.to_string())?;
    let tracker = [train.tracker, val.tracker].concat();
    append_line(&cx.dir.poses(), &tracker.join("\n"))?;
    if options.json_log {
        eprintln!("{line}");
    }
    bar.set_message(format!(
        "epoch {} loss {:.3} val {:.3}{}",
        cx.index + 1,
        train.loss,
        val.loss,
        val_m.map_or(String::new(), |m| format!(" val RMSE {:.2}", m.rmse.value))
    ));
    Ok(EpochLosses {
        epoch: cx.index + 1,
        train: train.loss,
        val: val.loss,
    })
}

/// The objective's value at a prediction (no gradient).
fn loss_at(objective: &Objective, output: f64, poses: &[f64]) -> Result<f64> {
    let z = Tensor::new(&[output], &Device::Cpu)?;
    let preds = Tensor::new(poses, &Device::Cpu)?;
    let total = objective.total(&z, &preds)?;
    Ok(total
        .flatten_all()?
        .to_dtype(DType::F64)?
        .to_vec1::<f64>()?[0])
}

/// One line of the per-pose tracker.
fn pose_line(epoch: usize, id: &str, part: &str, poses: &[f64], output: f64) -> String {
    serde_json::json!({"epoch": epoch + 1, "compound": id, "split": part, "output": output, "poses": poses})
        .to_string()
}

/// The error for a loss that is no longer finite; resuming is offered only when an epoch
/// was saved.
fn diverged(cx: &EpochContext, id: &str, loss: f64) -> Error {
    let next = match cx.index {
        0 => "nothing is saved yet: check the labels and try a smaller optim.lr".to_string(),
        n => format!(
            "{n} complete epochs are saved; with a smaller optim.lr, start again, or resume with `multipose train --resume {}`",
            cx.dir.root().display()
        ),
    };
    Error::Diverged(format!(
        "epoch {}: the loss of `{id}` is {loss}; {next}",
        cx.index + 1
    ))
}
