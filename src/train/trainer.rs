//! The training loop: seeded initialisation, gradient accumulation over compounds,
//! validation, early stopping, atomic checkpoints after every epoch and exact resume.

use super::checkpoint::{
    commit_checkpoint, current_checkpoint, lock_run, verify_checkpoint, write_text,
};
use super::metrics::{Metrics, evaluate};
use super::split::SplitKind;
use super::split::{self, Split, scaffold_key};
use super::target_metrics::{TargetMetrics, per_target as target_metrics};
use super::target_split::{Parts, per_target, whole_targets};
use super::{EarlyStopping, Optimizer, StoppingKind, TrainConfig, targets};
use crate::combine::{
    ChunkPolicy, CombinationChoice, CombinationConfig, CombinationKind, EngineConfig,
    GroupedConfig, GroupedModel, Objective, Prediction, train_batch,
};
use crate::dataset::{Assay, CompoundData, DatasetSpec, GraphCache, Lookup, Qualifier, open};
use crate::error::{Error, Result};
use crate::model::{
    CompoundGraphs, ModelConfig, Params, Readout, init_params, load_weights, safetensors_bytes,
    weights_bytes,
};
use candle_core::{DType, Device, Tensor};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

/// How a run reports progress and when it stops early.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// No progress bar.
    pub quiet: bool,
    /// One JSON object per epoch on stderr.
    pub json_log: bool,
    /// Stop after this many epochs of this invocation, as an interruption would (the run
    /// stays resumable): for tests and time-boxed jobs.
    pub stop_after_epochs: Option<usize>,
    /// Set (e.g. by Ctrl-C) to stop at the next batch; the epoch in progress is dropped
    /// and the run stays resumable from the last complete one.
    pub interrupt: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl RunOptions {
    fn interrupted(&self) -> bool {
        self.interrupt
            .as_ref()
            .is_some_and(|f| f.load(std::sync::atomic::Ordering::SeqCst))
    }
}

/// What a finished run reports.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Epochs trained in total.
    pub epochs: usize,
    /// Epoch (0-based) of the best validation loss.
    pub best_epoch: usize,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
    /// The weights (`checkpoint/<file>`) behind the predictions and metrics reported;
    /// `predict` and `evaluate` use the same.
    pub weights: String,
    /// Compounds per part.
    pub sizes: HashMap<String, usize>,
    /// Metrics per part (in-range labels, final weights).
    pub metrics: HashMap<String, Option<Metrics>>,
    /// Per-target metrics and their means per part (the headline for several targets).
    pub per_target: HashMap<String, TargetMetrics>,
    /// Compounds left out while loading, with the reason.
    pub skipped: Vec<(String, String)>,
    /// Wall time of this invocation, s.
    pub seconds: f64,
}

/// Progress saved after every epoch.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    /// Epochs completed.
    epochs_done: usize,
    stopping: EarlyStopping,
    split: Split,
    finished: bool,
    /// The run's configuration as it started (`to_toml`), to refuse an edited or
    /// truncated `config.toml` on resume; empty in runs of an older version.
    #[serde(default)]
    config: String,
    /// Whether the stopping rule (not the epoch count) ended the run.
    #[serde(default)]
    stopped_early: bool,
}

/// Everything derived from the data once per run.
pub struct Prepared {
    /// Compounds with labels.
    pub compounds: Vec<CompoundData>,
    /// Their graphs.
    pub graphs: Vec<CompoundGraphs>,
    /// Their objectives.
    pub objectives: Vec<Objective>,
    /// The model configuration.
    pub grouped: GroupedConfig,
    /// Compounds left out while loading, with the reason.
    pub skipped: Vec<(String, String)>,
}

/// The grouped-model configuration a training config describes, read out for `assay`.
pub fn grouped_config(config: &TrainConfig, assay: Assay) -> Result<GroupedConfig> {
    let m = &config.model;
    let kind = match m.combination {
        CombinationChoice::Mean => CombinationKind::Mean,
        CombinationChoice::Max => CombinationKind::Max {
            negate: m.negate,
            scale: m.scale,
        },
        CombinationChoice::Boltzmann => CombinationKind::Boltzmann {
            temperature: m.temperature,
        },
        CombinationChoice::Attention => CombinationKind::Attention {
            width: m.attention_width,
        },
    };
    let r = &config.readout;
    let readout = match assay {
        Assay::Pic50 => Readout::PIC50 {
            substrate: Some(r.substrate).filter(|s| *s > 0.0),
            km: Some(r.km).filter(|_| r.substrate > 0.0),
        },
        Assay::Pki => Readout::PKi,
    };
    // mtenn's pred_readout (every pose) or comb_readout (the combined value).
    let (pose_readout, readout) = match r.per_pose {
        true => (readout, Readout::None),
        false => (Readout::None, readout),
    };
    Ok(GroupedConfig {
        model: ModelConfig {
            schnet: m.schnet.clone(),
            strategy: m.strategy,
            layer_norm: m.layer_norm,
            pose_readout,
        },
        combination: CombinationConfig {
            kind,
            learnable: m.learnable,
        },
        readout,
    })
}

/// The engine a training config describes, its chunks sized for `device`.
pub fn engine_config(config: &TrainConfig, device: &Device) -> EngineConfig {
    let e = &config.engine;
    EngineConfig {
        kind: e.kind,
        chunk: ChunkPolicy::from_settings(e.chunk, e.budget_mib, device),
        pack: e.pack,
    }
}

/// The loading options (everything but the files) a training config describes.
pub fn dataset_options(config: &TrainConfig) -> DatasetSpec {
    DatasetSpec {
        keep_hydrogens: config.data.keep_hydrogens,
        pocket_radius: Some(config.data.pocket_radius).filter(|r| *r > 0.0),
        selection: config.data.poses,
        strict: config.data.strict,
        ..DatasetSpec::default()
    }
}

/// Prints the compounds' data warnings (implausible geometry, poses with other atoms),
/// the first few in full; `multipose inspect` lists them all.
fn report_warnings(compounds: &[CompoundData]) {
    const SHOWN: usize = 10;
    let all: Vec<String> = compounds
        .iter()
        .flat_map(|c| c.warnings.iter().map(move |w| format!("{}: {w}", c.id)))
        .collect();
    for w in all.iter().take(SHOWN) {
        eprintln!("warning: {w}");
    }
    if all.len() > SHOWN {
        eprintln!(
            "warning: {} more data warnings (`multipose inspect` lists them)",
            all.len() - SHOWN
        );
    }
}

/// Loads the data, builds graphs (cached if configured) and objectives.
pub fn prepare(config: &TrainConfig) -> Result<Prepared> {
    let data = open(&config.data.path, &dataset_options(config))?;
    report_warnings(&data.compounds);
    if data.compounds.len() < 2 {
        return Err(Error::InvalidConfig(format!(
            "{}: {} labelled compounds with poses; training needs at least 2",
            config.data.path.display(),
            data.compounds.len()
        )));
    }
    let assay = if data
        .compounds
        .iter()
        .all(|c| c.label.as_ref().is_some_and(|l| l.assay == Assay::Pic50))
    {
        Assay::Pic50
    } else {
        Assay::Pki
    };
    let grouped = grouped_config(config, assay)?;
    let graph = grouped.model.schnet.graph();
    let cache = if config.data.cache.as_os_str().is_empty() {
        None
    } else {
        Some(GraphCache::new(&config.data.cache)?)
    };
    // Compounds are independent: building their graphs in parallel takes the first epoch
    // of a 300-compound set from ~24 s to a few seconds; order is kept by `collect`.
    let graphs = data
        .compounds
        .par_iter()
        .map(|c| match &cache {
            Some(cache) => {
                let (g, lookup) =
                    cache.get_or_build(&c.id, &c.poses, grouped.model.strategy, &graph)?;
                if let Lookup::Rebuilt(why) = lookup {
                    eprintln!("warning: graph cache entry rebuilt: {why}");
                }
                Ok(g)
            }
            None => CompoundGraphs::build(&c.id, &c.poses, grouped.model.strategy, &graph),
        })
        .collect::<Result<Vec<_>>>()?;
    let objectives = data
        .compounds
        .iter()
        .map(|c| targets::objective(&config.loss, c))
        .collect::<Result<Vec<_>>>()?;
    Ok(Prepared {
        skipped: data.skipped,
        compounds: data.compounds,
        graphs,
        objectives,
        grouped,
    })
}

/// The split a config asks for.
pub fn make_split(config: &TrainConfig, compounds: &[CompoundData]) -> Result<Split> {
    let s = &config.split;
    let ids: Vec<String> = compounds.iter().map(|c| c.id.clone()).collect();
    Ok(match s.kind {
        SplitKind::Temporal => {
            let dates: Vec<Option<String>> = compounds
                .iter()
                .map(|c| c.label.as_ref().and_then(|l| l.date.clone()))
                .collect();
            split::temporal(&ids, &dates, s.train, s.val)?
        }
        SplitKind::Manual => split::manual(&ids, &s.manual)?,
        SplitKind::PerTarget | SplitKind::Target => {
            let targets: Vec<String> = compounds.iter().map(|c| c.target.clone()).collect();
            let parts = match s.folds {
                0 => Parts::Fractions {
                    train: s.train,
                    val: s.val,
                },
                folds => Parts::Fold {
                    folds,
                    fold: s.fold,
                    val_share: s.val / (s.train + s.val).max(f64::MIN_POSITIVE),
                },
            };
            if s.kind == SplitKind::Target {
                whole_targets(&targets, parts, config.optim.seed)
            } else {
                per_target(&targets, parts, config.optim.seed)
            }
        }
        SplitKind::Scaffold => {
            let keys: Vec<String> = compounds
                .iter()
                .map(|c| {
                    let z: Vec<u32> = c.poses[0].z()[c.poses[0].len() - c.ligand_atoms..].to_vec();
                    scaffold_key(&z, &c.ligand_bonds)
                })
                .collect();
            split::scaffold(&keys, s.train, s.val, config.optim.seed)
        }
        SplitKind::Random => split::random(compounds.len(), s.train, s.val, config.optim.seed),
    })
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A model over fresh parameters (weights from `init_weights` or the seed).
fn build_model(config: &TrainConfig, grouped: &GroupedConfig) -> Result<(Params, GroupedModel)> {
    let device = crate::device::parse(&config.engine.device)?;
    let mut params = Params::new(DType::F32, &device);
    GroupedModel::new(grouped, &params)?;
    init_params(&params, config.optim.seed)?;
    if !config.model.init_weights.as_os_str().is_empty() {
        load_weights(&mut params, &grouped.model, &config.model.init_weights)?;
    }
    let model = new_model(config, grouped, &params)?;
    Ok((params, model))
}

/// The grouped model over `params`, with the run's activation checkpointing.
fn new_model(
    config: &TrainConfig,
    grouped: &GroupedConfig,
    params: &Params,
) -> Result<GroupedModel> {
    let mut model = GroupedModel::new(grouped, params)?;
    model.set_checkpointing(config.engine.checkpoint);
    if let Ok(mib) = usize::try_from(config.engine.batch_cache_mib) {
        model.set_batch_cache_bytes(mib << 20);
    }
    Ok(model)
}

fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?[0])
}

/// The objective's value at a prediction (no gradient).
fn loss_at(objective: &Objective, p: &Prediction) -> Result<f64> {
    let z = Tensor::new(&[p.output], &Device::Cpu)?;
    let preds = Tensor::new(p.poses.as_slice(), &Device::Cpu)?;
    scalar(&objective.total(&z, &preds)?)
}

/// `(target, prediction, label)` of the compounds with exact labels among `preds`.
fn exact_records(compounds: &[CompoundData], preds: &[(usize, f64)]) -> Vec<(String, f64, f64)> {
    preds
        .iter()
        .filter_map(|&(i, v)| {
            let l = compounds[i].label.as_ref()?;
            (l.qualifier == Qualifier::Exact).then(|| (compounds[i].target.clone(), v, l.value))
        })
        .collect()
}

/// Metrics of predictions on the in-range (uncensored) labels of `indices`.
fn metrics_of(compounds: &[CompoundData], preds: &[(usize, f64)], seed: u64) -> Option<Metrics> {
    let (p, t): (Vec<f64>, Vec<f64>) = exact_records(compounds, preds)
        .into_iter()
        .map(|(_, p, t)| (p, t))
        .unzip();
    evaluate(&p, &t, 1000, seed)
}

/// Starts a new run in `out` (which must not hold one already).
pub fn train(config: &TrainConfig, out: &Path, options: &RunOptions) -> Result<Summary> {
    std::fs::create_dir_all(out).map_err(io(out))?;
    let _lock = lock_run(out)?;
    if holds_run(out) {
        return Err(Error::InvalidConfig(format!(
            "{} already holds a run; continue it with `multipose train --resume {}` or choose another --out",
            out.display(),
            out.display()
        )));
    }
    std::fs::create_dir_all(out).map_err(io(out))?;
    write_text(&out.join("config.toml"), &config.to_toml()?)?;
    run(config, out, None, options)
}

/// Continues the run in `out` from its last completed epoch.
pub fn resume(out: &Path, options: &RunOptions) -> Result<Summary> {
    resume_with(out, None, options)
}

/// As [`resume`]; with `epochs`, the run's epoch count is changed first (the one setting
/// a resume may change: it extends a finished run, unless early stopping ended it).
/// Any other difference between `config.toml` and the configuration the run started
/// with (an edited or truncated file) is an error naming the keys.
pub fn resume_with(out: &Path, epochs: Option<usize>, options: &RunOptions) -> Result<Summary> {
    if !out.is_dir() {
        return Err(Error::Io {
            path: out.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such run folder"),
        });
    }
    let _lock = lock_run(out)?;
    let config_path = out.join("config.toml");
    let text = std::fs::read_to_string(&config_path).map_err(io(&config_path))?;
    let mut config = TrainConfig::from_toml(&text, &[]).map_err(|e| Error::Input {
        path: config_path.clone(),
        message: e.to_string(),
    })?;
    let checkpoint = current_checkpoint(out).ok_or_else(|| {
        Error::InvalidConfig(format!(
            "{} has no complete checkpoint (no epoch finished); start it again with `multipose train --out`",
            out.display()
        ))
    })?;
    verify_checkpoint(&checkpoint)?;
    let state_path = checkpoint.join(STATE_FILE);
    let text = std::fs::read_to_string(&state_path).map_err(io(&state_path))?;
    let mut state: State = serde_json::from_str(&text).map_err(|e| Error::Parse {
        path: state_path.clone(),
        line: e.line(),
        message: e.to_string(),
    })?;
    if !state.config.is_empty() {
        let changed = changed_keys(&state.config, &config.to_toml()?)?;
        if !changed.is_empty() {
            return Err(Error::Input {
                path: config_path,
                message: format!(
                    "differs from the configuration the run started with ({}); restore it, or start a new run",
                    changed.join(", ")
                ),
            });
        }
    }
    if state.epochs_done > config.optim.epochs {
        return Err(Error::Input {
            path: state_path,
            message: format!(
                "records {} epochs done, more than the run's optim.epochs = {}; the checkpoint does not belong to this configuration",
                state.epochs_done, config.optim.epochs
            ),
        });
    }
    if let Some(n) = epochs {
        if state.stopped_early {
            return Err(Error::InvalidConfig(format!(
                "the run was ended by early stopping after {} epochs; extending it would train past its own stopping rule",
                state.epochs_done
            )));
        }
        if n < state.epochs_done {
            return Err(Error::InvalidConfig(format!(
                "optim.epochs = {n} is fewer than the {} epochs already trained",
                state.epochs_done
            )));
        }
        config.optim.epochs = n;
        state.finished = state.epochs_done >= n;
        state.config = config.to_toml()?;
        write_text(&config_path, &state.config)?;
    }
    run(&config, out, Some((state, checkpoint)), options)
}

/// `section.key` entries whose values differ between two configurations (TOML text).
fn changed_keys(a: &str, b: &str) -> Result<Vec<String>> {
    let parse = |t: &str| -> Result<toml::Table> {
        toml::from_str(t).map_err(|e| Error::InvalidConfig(e.to_string()))
    };
    let (a, b) = (parse(a)?, parse(b)?);
    let flat = |t: &toml::Table| -> std::collections::BTreeMap<String, String> {
        t.iter()
            .flat_map(|(section, v)| match v.as_table() {
                Some(inner) => inner
                    .iter()
                    .map(|(k, x)| (format!("{section}.{k}"), x.to_string()))
                    .collect::<Vec<_>>(),
                None => vec![(section.clone(), v.to_string())],
            })
            .collect()
    };
    let (fa, fb) = (flat(&a), flat(&b));
    let keys: std::collections::BTreeSet<&String> = fa.keys().chain(fb.keys()).collect();
    Ok(keys
        .into_iter()
        .filter(|k| fa.get(*k) != fb.get(*k))
        .map(|k| match (fa.get(k), fb.get(k)) {
            (Some(x), Some(y)) => format!("{k}: {x} then, {y} now"),
            _ => k.clone(),
        })
        .collect())
}

/// Whether `out` holds a run that has finished at least one epoch (or an older layout's
/// progress file).
pub fn holds_run(out: &Path) -> bool {
    current_checkpoint(out).is_some() || out.join(STATE_FILE).exists()
}

/// Progress file of a checkpoint.
const STATE_FILE: &str = "state.json";
/// Weights after the last finished epoch, in the checkpoint.
pub const LAST_WEIGHTS: &str = "last.safetensors";
/// Weights of the best validation epoch, in the checkpoint.
pub const BEST_WEIGHTS: &str = "best.safetensors";
/// Optimiser state after the last finished epoch, in the checkpoint.
const LAST_OPTIM: &str = "last.optim.safetensors";

fn run(
    config: &TrainConfig,
    out: &Path,
    resumed: Option<(State, std::path::PathBuf)>,
    options: &RunOptions,
) -> Result<Summary> {
    let started = Instant::now();
    let prepared = prepare(config)?;
    let (mut params, mut model) = build_model(config, &prepared.grouped)?;
    let engine = engine_config(config, params.device());
    let o = &config.optim;
    let mut optimizer = Optimizer::new(o.optimizer, o.lr, o.weight_decay, o.momentum);
    let es = &config.early_stopping;
    let mut state = match resumed {
        Some((state, checkpoint)) => {
            model = reload(
                config,
                &mut params,
                &prepared.grouped,
                &checkpoint.join(LAST_WEIGHTS),
            )?;
            let optim_path = checkpoint.join(LAST_OPTIM);
            let optim_state =
                candle_core::safetensors::load(&optim_path, &Device::Cpu).map_err(|e| {
                    Error::Io {
                        path: optim_path.clone(),
                        source: std::io::Error::other(e.to_string()),
                    }
                })?;
            optimizer.load_state(optim_state, params.device())?;
            truncate_lines(&out.join("metrics.jsonl"), |_, k| k < state.epochs_done)?;
            truncate_lines(&out.join("poses.jsonl"), |line, _| {
                serde_json::from_str::<serde_json::Value>(line)
                    .ok()
                    .and_then(|v| v["epoch"].as_u64())
                    .is_some_and(|e| (e as usize) <= state.epochs_done)
            })?;
            state
        }
        None => State {
            epochs_done: 0,
            stopping: EarlyStopping::new(es.kind, es.patience, es.window, es.tolerance, es.burn_in),
            split: make_split(config, &prepared.compounds)?,
            finished: false,
            config: config.to_toml()?,
            stopped_early: false,
        },
    };
    if state.split.train.is_empty() {
        return Err(Error::InvalidConfig(
            "the split leaves no training compounds".into(),
        ));
    }
    let batches_per_epoch = state.split.train.len().div_ceil(config.optim.batch_size);
    let remaining = config.optim.epochs.saturating_sub(state.epochs_done);
    let bar = if options.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        let b = indicatif::ProgressBar::new((remaining * batches_per_epoch) as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} batches, ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    };
    let chunk = engine.chunk;
    let first_epoch = state.epochs_done;
    while !state.finished && state.epochs_done < config.optim.epochs {
        if options
            .stop_after_epochs
            .is_some_and(|n| state.epochs_done - first_epoch >= n)
        {
            bar.finish_and_clear();
            return Err(Error::Interrupted(format!(
                "stopped after {} epochs as asked; continue with `multipose train --resume {}`",
                state.epochs_done - first_epoch,
                out.display()
            )));
        }
        let epoch = state.epochs_done;
        let epoch_start = Instant::now();
        let order = split::shuffled(
            state.split.train.len(),
            config.optim.seed ^ (0x5EED_0000 + epoch as u64),
        );
        let mut train_loss = 0.0;
        let mut train_preds = Vec::new();
        // Per-pose predictions of every compound this epoch (`poses.jsonl`).
        let mut tracker: Vec<String> = Vec::new();
        for batch in order.chunks(config.optim.batch_size) {
            if options.interrupted() {
                bar.finish_and_clear();
                return Err(Error::Interrupted(format!(
                    "during epoch {}; {} complete epochs are saved, continue with `multipose train --resume {}`",
                    epoch + 1,
                    state.epochs_done,
                    out.display()
                )));
            }
            let ids: Vec<usize> = batch.iter().map(|&k| state.split.train[k]).collect();
            let items: Vec<_> = ids
                .iter()
                .map(|&i| (&prepared.graphs[i], &prepared.objectives[i]))
                .collect();
            let step = train_batch(&model, &params, &items, &engine)?;
            for (&i, c) in ids.iter().zip(&step.compounds) {
                if !c.loss.is_finite() {
                    return Err(diverged(
                        epoch,
                        &prepared.compounds[i].id,
                        c.loss,
                        state.epochs_done,
                        out,
                    ));
                }
                train_loss += c.loss;
                train_preds.push((i, c.output));
                tracker.push(pose_line(
                    epoch,
                    &prepared.compounds[i].id,
                    "train",
                    &c.poses,
                    c.output,
                ));
            }
            let sum: HashMap<String, Tensor> = step
                .grads
                .iter()
                .map(|(n, g)| (n.to_string(), g.clone()))
                .collect();
            optimizer.step(&params.named(), &sum)?;
            bar.inc(1);
        }
        train_loss /= state.split.train.len() as f64;
        let mut val_loss = 0.0;
        let mut val_preds = Vec::new();
        let val_graphs: Vec<_> = state
            .split
            .val
            .iter()
            .map(|&i| &prepared.graphs[i])
            .collect();
        let val_predictions = model.predict_batch(&val_graphs, &chunk)?;
        for (&i, p) in state.split.val.iter().zip(&val_predictions) {
            val_loss += loss_at(&prepared.objectives[i], p)?;
            val_preds.push((i, p.output));
            tracker.push(pose_line(
                epoch,
                &prepared.compounds[i].id,
                "val",
                &p.poses,
                p.output,
            ));
        }
        let val_loss = if state.split.val.is_empty() {
            train_loss
        } else {
            val_loss / state.split.val.len() as f64
        };
        let decision = state.stopping.update(epoch, train_loss, val_loss);
        let train_m = metrics_of(&prepared.compounds, &train_preds, config.optim.seed);
        let val_m = metrics_of(&prepared.compounds, &val_preds, config.optim.seed);
        let line = serde_json::json!({
            "epoch": epoch + 1,
            "train_loss": train_loss,
            "val_loss": val_loss,
            "improved": decision.improved,
            "train": train_m,
            "val": val_m,
            "seconds": epoch_start.elapsed().as_secs_f64(),
        });
        append_line(&out.join("metrics.jsonl"), &line.to_string())?;
        append_line(&out.join("poses.jsonl"), &tracker.join("\n"))?;
        if options.json_log {
            eprintln!("{line}");
        }
        bar.set_message(format!(
            "epoch {} loss {:.3} val {:.3}{}",
            epoch + 1,
            train_loss,
            val_loss,
            val_m.map_or(String::new(), |m| format!(" val RMSE {:.2}", m.rmse.value))
        ));
        state.epochs_done = epoch + 1;
        state.finished = decision.stop || state.epochs_done >= config.optim.epochs;
        state.stopped_early = decision.stop;
        save_checkpoint(
            &params,
            &prepared.grouped,
            &optimizer,
            &state,
            decision.improved,
            out,
        )?;
    }
    bar.finish_and_clear();
    // Final evaluation with the best weights when early stopping keeps the best.
    let best = current_checkpoint(out).map(|c| c.join(BEST_WEIGHTS));
    let mut reported = LAST_WEIGHTS;
    if let Some(best) = best.filter(|b| es.kind == StoppingKind::Best && b.is_file()) {
        model = reload(config, &mut params, &prepared.grouped, &best)?;
        reported = BEST_WEIGHTS;
    }
    finish(config, out, &prepared, &model, &state, reported, started)
}

/// The error for a loss that is no longer finite; resuming is offered only when an epoch
/// was saved.
fn diverged(epoch: usize, id: &str, loss: f64, saved: usize, out: &Path) -> Error {
    let next = match saved {
        0 => "nothing is saved yet: check the labels and try a smaller optim.lr".to_string(),
        n => format!(
            "{n} complete epochs are saved; with a smaller optim.lr, start again, or resume with `multipose train --resume {}`",
            out.display()
        ),
    };
    Error::Diverged(format!(
        "epoch {}: the loss of `{id}` is {loss}; {next}",
        epoch + 1
    ))
}

/// Loads weights into `params` and rebuilds the model over them.
fn reload(
    config: &TrainConfig,
    params: &mut Params,
    grouped: &GroupedConfig,
    path: &Path,
) -> Result<GroupedModel> {
    load_weights(params, &grouped.model, path)?;
    new_model(config, grouped, params)
}

/// One epoch's checkpoint, written whole: last weights, optimiser state, progress, and the
/// best weights when this epoch improved (else carried over).
fn save_checkpoint(
    params: &Params,
    grouped: &GroupedConfig,
    optimizer: &Optimizer,
    state: &State,
    improved: bool,
    out: &Path,
) -> Result<()> {
    let weights = weights_bytes(params, &grouped.model)?;
    let mut files = vec![
        (LAST_OPTIM, safetensors_bytes(&optimizer.state()?)?),
        (
            STATE_FILE,
            serde_json::to_vec_pretty(state).unwrap_or_default(),
        ),
    ];
    let keep: &[&str] = if improved {
        files.push((BEST_WEIGHTS, weights.clone()));
        &[]
    } else {
        &[BEST_WEIGHTS]
    };
    files.push((LAST_WEIGHTS, weights));
    commit_checkpoint(out, &files, keep)
}

fn append_line(path: &Path, line: &str) -> Result<()> {
    let mut text = std::fs::read_to_string(path).unwrap_or_default();
    text.push_str(line);
    text.push('\n');
    write_text(path, &text)
}

/// One line of the per-pose tracker.
fn pose_line(epoch: usize, id: &str, part: &str, poses: &[f64], output: f64) -> String {
    serde_json::json!({"epoch": epoch + 1, "compound": id, "split": part, "output": output, "poses": poses})
        .to_string()
}

/// Keeps the lines (with their index) that `keep` accepts: on resume, drops what an
/// interrupted epoch may have appended.
fn truncate_lines(path: &Path, keep: impl Fn(&str, usize) -> bool) -> Result<()> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let kept: Vec<&str> = text
        .lines()
        .enumerate()
        .filter(|(k, l)| keep(l, *k))
        .map(|(_, l)| l)
        .collect();
    let mut joined = kept.join("\n");
    if !joined.is_empty() {
        joined.push('\n');
    }
    write_text(path, &joined)
}

fn finish(
    config: &TrainConfig,
    out: &Path,
    prepared: &Prepared,
    model: &GroupedModel,
    state: &State,
    weights: &str,
    started: Instant,
) -> Result<Summary> {
    let chunk = engine_config(config, model.device()).chunk;
    let mut csv = String::from(
        "compound_id,target,split,label,qualifier,prediction,n_poses,top_pose,pose_predictions,pose_weights\n",
    );
    let mut by_part: HashMap<String, Vec<(usize, f64)>> = HashMap::new();
    let all: Vec<_> = prepared.graphs.iter().collect();
    let predictions = model.predict_batch(&all, &chunk)?;
    for ((i, c), p) in prepared.compounds.iter().enumerate().zip(predictions) {
        let part = state.split.part_of(i);
        by_part
            .entry(part.to_string())
            .or_default()
            .push((i, p.output));
        let label = c.label.as_ref();
        let top = p
            .weights
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(k, _)| k);
        let join = |v: &[f64]| {
            v.iter()
                .map(|x| format!("{x:.4}"))
                .collect::<Vec<_>>()
                .join(";")
        };
        csv.push_str(&format!(
            "{},{},{},{},{},{:.4},{},{},{},{}\n",
            c.id,
            c.target,
            part,
            label.map_or(String::new(), |l| format!("{:.4}", l.value)),
            label.map_or("", |l| match l.qualifier {
                Qualifier::Exact => "=",
                Qualifier::Below => "<",
                Qualifier::Above => ">",
            }),
            p.output,
            p.poses.len(),
            top,
            join(&p.poses),
            join(&p.weights),
        ));
    }
    write_text(&out.join("predictions.csv"), &csv)?;
    let mut metrics = HashMap::new();
    let mut sizes = HashMap::new();
    let mut per_target = HashMap::new();
    for part in ["train", "val", "test"] {
        let preds = by_part.get(part).cloned().unwrap_or_default();
        sizes.insert(part.to_string(), preds.len());
        metrics.insert(
            part.to_string(),
            metrics_of(&prepared.compounds, &preds, config.optim.seed),
        );
        let exact = exact_records(&prepared.compounds, &preds);
        let m = target_metrics(&exact, config.data.min_target_size, 1000, config.optim.seed);
        per_target.insert(part.to_string(), m);
    }
    let summary = Summary {
        epochs: state.epochs_done,
        best_epoch: state.stopping.best_epoch,
        stopped_early: state.stopped_early,
        weights: weights.to_string(),
        sizes,
        metrics,
        per_target,
        skipped: prepared.skipped.clone(),
        seconds: started.elapsed().as_secs_f64(),
    };
    write_text(
        &out.join("summary.json"),
        &serde_json::to_string_pretty(&summary).unwrap_or_default(),
    )?;
    super::plots::write_all(out, prepared, &by_part, &summary)?;
    Ok(summary)
}
