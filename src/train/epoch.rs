//! One epoch: optimiser steps over the shuffled training compounds, then validation.

use super::augment::{noise_seed, noised_graphs};
use super::pairwise::{Member, batches_by_target, pair_loss};
use super::parallel::{Gathered, Outcome, ParallelTimes, gather, my_share, summed_gradients};
use super::plots::EpochLosses;
use super::prepare::Prepared;
use super::report::metrics_of;
use super::run_dir::{RunDir, append_line};
use super::shift::Shift;
use super::split::{self, Split};
use super::{Optimizer, RunOptions, TrainConfig};
use crate::combine::{ChunkPolicy, EngineConfig, GroupedModel, Objective, OutputTerm, train_batch};
use crate::dataset::CompoundData;
use crate::distributed::Collective;
use crate::error::{Error, Result};
use crate::model::CompoundGraphs;
use crate::model::Params;
use crate::profile::{Phase, span};
use candle_core::{DType, Device, Tensor};
use rayon::prelude::*;
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
    /// What the predictions add to the read-out values (offsets, Δ-learning).
    pub shift: &'a Shift,
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
    for batch in batches(cx, &order) {
        // One process stops at once; several agree first (in the step), so none waits alone.
        let stop = options.interrupted();
        if stop && single {
            return Err(interrupted(cx));
        }
        let ids: Vec<usize> = batch.iter().map(|&k| train[k]).collect();
        let noised = noised_batch(cx, &ids)?;
        let graphs: Vec<&CompoundGraphs> = match &noised {
            Some(g) => g.iter().collect(),
            None => ids.iter().map(|&i| &cx.prepared.graphs[i]).collect(),
        };
        let plan = plan_batch(cx, &t, &ids, &graphs)?;
        let mut step = shared_step(cx, &t, &ids, (&graphs, &plan.objectives), stop)?;
        if step.shared.stop {
            return Err(interrupted(cx));
        }
        let mut coef_terms = Vec::with_capacity(ids.len());
        for (k, (&i, c)) in ids.iter().zip(&step.shared.outcomes).enumerate() {
            let id = &cx.prepared.compounds[i].id;
            let loss = match plan.pair_loss {
                // The step's loss holds the pair loss's linear stand-in: report the real one.
                Some(pair) => loss_at(&plan.own[k], c.output, &c.poses)? + pair,
                None => c.loss,
            };
            if !loss.is_finite() {
                return Err(diverged(cx, id, loss));
            }
            let output = c.output + plan.shifts[k];
            out.loss += loss;
            out.preds.push((i, output));
            out.tracker
                .push(pose_line(cx.index, id, "train", &c.poses, output));
            coef_terms.push((&cx.prepared.compounds[i], &plan.objectives[k], c.output));
        }
        if let Some(like) = step.grads.get(super::shift::DOCKING_COEF).cloned() {
            cx.shift
                .add_coef_gradient(&mut step.grads, &coef_terms, &like)?;
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

/// The epoch's optimiser batches (positions in the training part, in `order`): chunks of
/// `optim.batch_size`, each of one target when the pairwise loss is on.
fn batches(cx: &EpochContext, order: &[usize]) -> Vec<Vec<usize>> {
    let size = cx.config.optim.batch_size;
    if cx.config.loss.pairwise > 0.0 {
        let targets: Vec<&str> = (cx.split.train.iter())
            .map(|&i| cx.prepared.compounds[i].target.as_str())
            .collect();
        return batches_by_target(order, &targets, size);
    }
    order.chunks(size).map(<[usize]>::to_vec).collect()
}

/// The batch compounds' graphs rebuilt from noised poses, under `augment.noise`.
fn noised_batch(cx: &EpochContext, ids: &[usize]) -> Result<Option<Vec<CompoundGraphs>>> {
    let sigma = cx.config.augment.noise;
    if sigma == 0.0 {
        return Ok(None);
    }
    let model = &cx.prepared.grouped.model;
    let seed = cx.config.optim.seed;
    ids.par_iter()
        .map(|&i| {
            let c = &cx.prepared.compounds[i];
            noised_graphs(c, model, sigma, noise_seed(seed, cx.index, i))
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// What one batch trains on.
struct BatchPlan {
    /// Per compound: its own objective, moved by its shift.
    own: Vec<Objective>,
    /// Per compound: what it trains on (`own` plus the pair loss's linear term).
    objectives: Vec<Objective>,
    /// Per compound: the shift its prediction adds to the read-out value.
    shifts: Vec<f64>,
    /// The batch's pair loss, when the pairwise loss is on.
    pair_loss: Option<f64>,
}

/// The batch compounds' objectives for this step: their own terms moved by their shifts,
/// and with the pairwise loss the linear term gᵢ·z of its gradient at the current
/// predictions (a pass without gradients over the batch, on every rank alike; weighted
/// by the batch size because the step averages over compounds).
fn plan_batch(
    cx: &EpochContext,
    t: &Trainee,
    ids: &[usize],
    graphs: &[&CompoundGraphs],
) -> Result<BatchPlan> {
    let compounds = &cx.prepared.compounds;
    let coef = cx.shift.coef(t.params)?;
    let shifts = (ids.iter())
        .map(|&i| cx.shift.of(&compounds[i], coef))
        .collect::<Result<Vec<f64>>>()?;
    let own: Vec<Objective> = (ids.iter().zip(&shifts))
        .map(|(&i, &s)| cx.prepared.objectives[i].shifted(s))
        .collect();
    let mut objectives = own.clone();
    let weight = cx.config.loss.pairwise;
    let mut pair = None;
    if weight > 0.0 {
        let preds = t.model.predict_batch(graphs, &t.engine.chunk)?;
        let z: Vec<f64> = preds
            .iter()
            .zip(&shifts)
            .map(|(p, s)| p.output + s)
            .collect();
        let (loss, grad) = pair_loss(&members(compounds, ids, &z), weight);
        let n = ids.len() as f64;
        for (o, g) in objectives.iter_mut().zip(grad) {
            o.output_terms.push(OutputTerm::Linear { weight: n * g });
        }
        pair = Some(loss);
    }
    Ok(BatchPlan {
        own,
        objectives,
        shifts,
        pair_loss: pair,
    })
}

/// The compounds `ids` as the pair loss sees them: target, exact label, and `z`, their
/// predictions (shifts included).
fn members<'a>(compounds: &'a [CompoundData], ids: &[usize], z: &[f64]) -> Vec<Member<'a>> {
    (ids.iter().zip(z))
        .map(|(&i, &z)| Member {
            target: &compounds[i].target,
            label: compounds[i].exact_label(),
            z,
        })
        .collect()
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
/// `batch` holds each compound's graphs for this step (noised or not) and objective, in
/// the order of `ids`; shares and results are laid out by the prepared graphs, whose pose
/// counts noise does not change.
fn shared_step(
    cx: &EpochContext,
    t: &Trainee,
    ids: &[usize],
    (step_graphs, objectives): (&[&CompoundGraphs], &[Objective]),
    stop: bool,
) -> Result<SharedStep> {
    let graphs = &cx.prepared.graphs;
    let mine = my_share(cx.collective, graphs, ids);
    let items: Vec<_> = mine
        .iter()
        .map(|&k| (step_graphs[k], &objectives[k]))
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
    model_params: &Params,
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
    let coef = cx.shift.coef(model_params)?;
    let mut shifted = Vec::with_capacity(val.len());
    for (&i, p) in val.iter().zip(&shared.outcomes) {
        let c = &cx.prepared.compounds[i];
        let shift = cx.shift.of(c, coef)?;
        let objective = cx.prepared.objectives[i].shifted(shift);
        out.loss += loss_at(&objective, p.output, &p.poses)?;
        let output = p.output + shift;
        shifted.push(output);
        out.preds.push((i, output));
        out.tracker
            .push(pose_line(cx.index, &c.id, "val", &p.poses, output));
    }
    if cx.config.loss.pairwise > 0.0 && !val.is_empty() {
        // Over the whole part: every pair of one target, as in training batches.
        let members = members(&cx.prepared.compounds, val, &shifted);
        out.loss += pair_loss(&members, cx.config.loss.pairwise).0 * val.len() as f64;
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
