//! The training loop: open a run (new or resumed), then train, validate and checkpoint
//! every epoch, and report with the weights the stopping rule keeps.

use super::checkpoint::{commit_checkpoint, lock_run, verify_checkpoint, write_text};
use super::epoch::{EpochContext, Trainee, record, train_epoch, validate};
use super::plots::EpochLosses;
use super::prepare::{Prepared, engine_config, make_split, prepare};
use super::report::{Ending, Summary, report};
use super::run_dir::{BEST_WEIGHTS, LAST_OPTIM, LAST_WEIGHTS, RunDir, STATE_FILE, truncate_lines};
use super::shift::Shift;
use super::split::Split;
use super::{EarlyStopping, Optimizer, StoppingKind, TrainConfig};
use crate::combine::{GroupedConfig, GroupedModel};
use crate::distributed::{Collective, WorkerEnv, World};
use crate::error::{Error, Result};
use crate::model::{Params, init_params, safetensors_bytes, weights_bytes};
use candle_core::{DType, Device};
use serde::{Deserialize, Serialize};
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
    /// This process is one rank of a data-parallel run (see [`crate::distributed`]): rank
    /// 0 writes the run folder, the others only compute.
    pub worker: Option<WorkerEnv>,
}

impl RunOptions {
    fn world(&self) -> World {
        self.worker.as_ref().map_or(World::SOLO, |w| w.world)
    }

    pub(super) fn interrupted(&self) -> bool {
        self.interrupt
            .as_ref()
            .is_some_and(|f| f.load(std::sync::atomic::Ordering::SeqCst))
    }
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

/// Starts a new run in `out` (which must not hold one already).
pub fn train(config: &TrainConfig, out: &Path, options: &RunOptions) -> Result<Summary> {
    check_workers(config, options)?;
    if !options.world().is_leader() {
        return run(config, out, None, options);
    }
    std::fs::create_dir_all(out).map_err(Error::io(out))?;
    let _lock = lock_run(out)?;
    if holds_run(out) {
        return Err(Error::InvalidConfig(format!(
            "{} already holds a run; continue it with `multipose train --resume {}` or choose another --out",
            out.display(),
            out.display()
        )));
    }
    check_fresh(out)?;
    write_text(&RunDir::new(out).config(), &config.to_toml()?)?;
    run(config, out, None, options)
}

/// What a run writes before its first epoch ends: a folder holding only these (a run
/// stopped in epoch 1) may be trained into again.
const BEFORE_FIRST_EPOCH: [&str; 3] = [".lock", "config.toml", "offsets.json"];

/// Refuses an `--out` that holds anything but a run stopped in its first epoch: a new
/// run would overwrite the files (predictions.csv) or append to them (metrics.jsonl).
fn check_fresh(out: &Path) -> Result<()> {
    let mut foreign: Vec<String> = std::fs::read_dir(out)
        .map_err(Error::io(out))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !BEFORE_FIRST_EPOCH.contains(&n.as_str()))
        .collect();
    if foreign.is_empty() {
        return Ok(());
    }
    foreign.sort();
    let what = match foreign
        .iter()
        .any(|n| n == "metrics.jsonl" || n == "summary.json")
    {
        true => {
            "holds the files of a run without a complete checkpoint (checkpoint/ deleted, or its first one never written), which cannot be resumed"
        }
        false => "is not empty",
    };
    Err(Error::InvalidConfig(format!(
        "{} {what} ({}); a run folder must be new, empty, or a run to continue with --resume: choose another --out or empty it",
        out.display(),
        foreign.join(", ")
    )))
}

/// Refuses several devices in a process that is not one of their workers: the workers
/// are separate processes (`multipose train` starts them).
fn check_workers(config: &TrainConfig, options: &RunOptions) -> Result<()> {
    let devices = config.engine.workers();
    if devices.len() > 1 && options.worker.is_none() {
        return Err(Error::InvalidConfig(format!(
            "engine.devices lists {} devices: `multipose train` starts one process per device; a library caller starts the workers itself (see docs/distributed.md) or sets one engine.device",
            devices.len()
        )));
    }
    Ok(())
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
    let leader = options.world().is_leader();
    let _lock = if leader { Some(lock_run(out)?) } else { None };
    let dir = RunDir::new(out);
    let config_path = dir.config();
    let text = std::fs::read_to_string(&config_path).map_err(Error::io(&config_path))?;
    let mut config = TrainConfig::from_toml(&text, &[]).map_err(|e| Error::Input {
        path: config_path.clone(),
        message: e.to_string(),
    })?;
    check_workers(&config, options)?;
    let checkpoint = dir.checkpoint().ok_or_else(|| {
        let why = match dir.metrics().exists() {
            // An epoch was recorded: its checkpoint was removed, or writing it failed.
            true => "has no complete checkpoint although metrics.jsonl records epochs (checkpoint/ was deleted, or writing the first one failed); it cannot be resumed: train into a new --out",
            false => "has no complete checkpoint (no epoch finished); start it again with `multipose train --out` into it",
        };
        Error::InvalidConfig(format!("{} {why}", out.display()))
    })?;
    verify_checkpoint(&checkpoint)?;
    let state_path = checkpoint.join(STATE_FILE);
    let mut state = read_state(&state_path)?;
    if !state.config.is_empty() {
        // `--optim.epochs` may change the count: config.toml may hold the new one already
        // (another rank wrote it, or a resume that set it was cut before its checkpoint).
        let skip: &[&str] = if epochs.is_some() {
            &["optim.epochs"]
        } else {
            &[]
        };
        let changed = changed_keys(&state.config, &config.to_toml()?, skip)?;
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
        if leader {
            write_text(&config_path, &state.config)?;
        }
    }
    run(&config, out, Some((state, checkpoint)), options)
}

/// `section.key` entries whose values differ between two configurations (TOML text),
/// apart from `skip`.
fn changed_keys(a: &str, b: &str, skip: &[&str]) -> Result<Vec<String>> {
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
    let (mut fa, mut fb) = (flat(&a), flat(&b));
    for key in skip {
        fa.remove(*key);
        fb.remove(*key);
    }
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

/// A checkpoint's progress file; errors name it.
fn read_state(path: &Path) -> Result<State> {
    let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
    serde_json::from_str(&text).map_err(|e| Error::Parse {
        path: path.to_path_buf(),
        line: e.line(),
        message: e.to_string(),
    })
}

/// Refuses a run whose `config.toml` no longer says what its weights were trained with
/// (a hand edit: `combination = "max"` made `"mean"` would predict with another model);
/// the epoch count may differ (a resume extends it). Runs without a checkpoint, or of an
/// older version that did not record their configuration, are not checked.
pub(super) fn check_unedited(dir: &RunDir, config: &TrainConfig) -> Result<()> {
    let Some(checkpoint) = dir.checkpoint() else {
        return Ok(());
    };
    let state_path = checkpoint.join(STATE_FILE);
    if !state_path.is_file() {
        return Ok(());
    }
    let state = read_state(&state_path)?;
    if state.config.is_empty() {
        return Ok(());
    }
    let changed = changed_keys(&state.config, &config.to_toml()?, &["optim.epochs"])?;
    match changed.is_empty() {
        true => Ok(()),
        false => Err(Error::Input {
            path: dir.config(),
            message: format!(
                "differs from the configuration its weights were trained with ({}); restore it to predict with this run",
                changed.join(", ")
            ),
        }),
    }
}

/// Whether `out` holds a run that has finished at least one epoch.
pub fn holds_run(out: &Path) -> bool {
    RunDir::new(out).holds_run()
}

/// A run in progress: its data, model, optimiser, progress and learning curve.
struct Session {
    prepared: Prepared,
    params: Params,
    model: GroupedModel,
    optimizer: Optimizer,
    state: State,
    curve: Vec<EpochLosses>,
}

fn run(
    config: &TrainConfig,
    out: &Path,
    resumed: Option<(State, std::path::PathBuf)>,
    options: &RunOptions,
) -> Result<Summary> {
    let started = Instant::now();
    let dir = RunDir::new(out);
    let local_rank = options.worker.as_ref().map_or(0, |w| w.local_rank);
    let device = crate::device::parse(&config.engine.device_for(local_rank)?)?;
    let mut s = open(config, &dir, resumed, &device, options.world().is_leader())?;
    let collective = Collective::join(options.worker.as_ref(), &device, &config.to_toml()?)?;
    let leader = collective.world().is_leader();
    let engine = engine_config(config, s.params.device());
    let bar = match leader {
        true => progress_bar(config, &s.state, options),
        false => indicatif::ProgressBar::hidden(),
    };
    let first_epoch = s.state.epochs_done;
    let shift = Shift::fit(config, &s.prepared.compounds, &s.state.split.train);
    if leader {
        shift.save(&dir)?;
    }
    // MULTIPOSE_PROFILE=1: each epoch's line in metrics.jsonl splits its time into phases
    // (every phase then waits for the device, which costs a little).
    crate::profile::enable(std::env::var_os("MULTIPOSE_PROFILE").is_some());
    while !s.state.finished && s.state.epochs_done < config.optim.epochs {
        let done = s.state.epochs_done - first_epoch;
        if options.stop_after_epochs.is_some_and(|n| done >= n) {
            bar.finish_and_clear();
            return Err(Error::Interrupted(format!(
                "stopped after {done} epochs as asked; continue with `multipose train --resume {}`",
                out.display()
            )));
        }
        let epoch_start = Instant::now();
        crate::profile::reset();
        let cx = EpochContext {
            index: s.state.epochs_done,
            config,
            prepared: &s.prepared,
            split: &s.state.split,
            dir: &dir,
            collective: &collective,
            shift: &shift,
        };
        let trainee = Trainee {
            model: &s.model,
            params: &s.params,
            engine: &engine,
            optimizer: &mut s.optimizer,
        };
        let train =
            train_epoch(&cx, trainee, options, &bar).inspect_err(|_| bar.finish_and_clear())?;
        let val = validate(&cx, &s.model, &s.params, &engine.chunk, train.loss)?;
        let epoch = cx.index;
        let decision = s.state.stopping.update(epoch, train.loss, val.loss);
        let seconds = epoch_start.elapsed().as_secs_f64();
        s.state.epochs_done = epoch + 1;
        s.state.finished = decision.stop || s.state.epochs_done >= config.optim.epochs;
        s.state.stopped_early = decision.stop;
        if leader {
            let losses = record(&cx, train, val, decision.improved, seconds, options, &bar)?;
            s.curve.push(losses);
            save_checkpoint(&s, decision.improved, out)?;
        }
    }
    bar.finish_and_clear();
    if !leader {
        // Rank 0 reports; the other ranks' part ends with the last step.
        return Ok(Summary {
            epochs: s.state.epochs_done,
            ..Summary::default()
        });
    }
    finish(config, &dir, s, &shift, started)
}

/// Reports with the weights the stopping rule keeps: the best epoch's under `best`.
fn finish(
    config: &TrainConfig,
    dir: &RunDir,
    mut s: Session,
    shift: &Shift,
    started: Instant,
) -> Result<Summary> {
    let best = dir.checkpoint().map(|c| c.join(BEST_WEIGHTS));
    let mut weights = LAST_WEIGHTS;
    if let Some(best) =
        best.filter(|b| config.early_stopping.kind == StoppingKind::Best && b.is_file())
    {
        s.model.load_weights(&mut s.params, &best)?;
        weights = BEST_WEIGHTS;
    }
    let ending = Ending {
        epochs: s.state.epochs_done,
        best_epoch: s.state.stopping.best_epoch,
        stopped_early: s.state.stopped_early,
        weights,
        seconds: started.elapsed().as_secs_f64(),
    };
    let shifts = shift.all(&s.prepared.compounds, &s.params)?;
    report(
        config,
        dir,
        &s.prepared,
        (&s.model, &shifts),
        &s.state.split,
        &s.curve,
        ending,
    )
}

/// The run's data and model, fresh or from the checkpoint of a resumed run (whose
/// partly written epoch, if any, is cut from the line files).
fn open(
    config: &TrainConfig,
    dir: &RunDir,
    resumed: Option<(State, std::path::PathBuf)>,
    device: &Device,
    leader: bool,
) -> Result<Session> {
    let prepared = prepare(config)?;
    let (mut params, mut model) = build_model(config, &prepared.grouped, device)?;
    let o = &config.optim;
    let mut optimizer = Optimizer::new(o.optimizer, o.lr, o.weight_decay, o.momentum);
    let es = &config.early_stopping;
    let (state, curve) =
        match resumed {
            Some((state, checkpoint)) => {
                model.load_weights(&mut params, &checkpoint.join(LAST_WEIGHTS))?;
                let optim_path = checkpoint.join(LAST_OPTIM);
                let optim_state = candle_core::safetensors::load(&optim_path, &Device::Cpu)
                    .map_err(|e| Error::Io {
                        path: optim_path.clone(),
                        source: std::io::Error::other(e.to_string()),
                    })?;
                optimizer.load_state(optim_state, params.device())?;
                if !leader {
                    // The other ranks read the checkpoint; only rank 0 edits the folder.
                    return Ok(Session {
                        prepared,
                        params,
                        model,
                        optimizer,
                        state,
                        curve: Vec::new(),
                    });
                }
                let kept = truncate_lines(&dir.metrics(), |_, k| k < state.epochs_done)?;
                truncate_lines(&dir.poses(), |line, _| {
                    serde_json::from_str::<serde_json::Value>(line)
                        .ok()
                        .and_then(|v| v["epoch"].as_u64())
                        .is_some_and(|e| (e as usize) <= state.epochs_done)
                })?;
                (state, curve_of(&kept))
            }
            None => {
                let state = State {
                    epochs_done: 0,
                    stopping: EarlyStopping::new(
                        es.kind,
                        es.patience,
                        es.window,
                        es.tolerance,
                        es.burn_in,
                    ),
                    split: make_split(config, &prepared.compounds)?,
                    finished: false,
                    config: config.to_toml()?,
                    stopped_early: false,
                };
                (state, Vec::new())
            }
        };
    check_parts(config, &state.split)?;
    Ok(Session {
        prepared,
        params,
        model,
        optimizer,
        state,
        curve,
    })
}

/// Refuses a split without training compounds, or a fold whose test part is empty (more
/// folds than the targets or groups can fill), and says when there are no validation
/// compounds (early stopping then watches the training loss).
fn check_parts(config: &TrainConfig, split: &crate::train::Split) -> Result<()> {
    if split.train.is_empty() {
        return Err(Error::InvalidConfig(
            "the split leaves no training compounds".into(),
        ));
    }
    let s = &config.split;
    if s.folds > 0 && split.test.is_empty() {
        return Err(Error::InvalidConfig(format!(
            "split.fold {} of split.folds {} holds no test compound ({} splits fewer targets or groups than folds); use fewer folds",
            s.fold, s.folds, s.kind
        )));
    }
    if split.val.is_empty() {
        eprintln!(
            "warning: the split leaves no validation compounds: the validation loss and early stopping use the training loss"
        );
    }
    Ok(())
}

/// The learning curve recorded in `metrics.jsonl` lines.
fn curve_of(lines: &[String]) -> Vec<EpochLosses> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| EpochLosses {
            epoch: v["epoch"].as_u64().unwrap_or(0) as usize,
            train: v["train_loss"].as_f64().unwrap_or(f64::NAN),
            val: v["val_loss"].as_f64().unwrap_or(f64::NAN),
        })
        .collect()
}

/// The progress bar over the batches left (hidden when quiet).
fn progress_bar(
    config: &TrainConfig,
    state: &State,
    options: &RunOptions,
) -> indicatif::ProgressBar {
    if options.quiet {
        return indicatif::ProgressBar::hidden();
    }
    let batches = state.split.train.len().div_ceil(config.optim.batch_size);
    let remaining = config.optim.epochs.saturating_sub(state.epochs_done);
    let bar = indicatif::ProgressBar::new((remaining * batches) as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} batches, ETA {eta} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// A model over fresh parameters (weights from `init_weights` or the seed).
fn build_model(
    config: &TrainConfig,
    grouped: &GroupedConfig,
    device: &Device,
) -> Result<(Params, GroupedModel)> {
    let mut params = Params::new(DType::F32, device);
    let mut model = new_model(config, grouped, &params)?;
    init_params(&params, config.optim.seed)?;
    if !config.model.init_weights.as_os_str().is_empty() {
        model.load_weights(&mut params, &config.model.init_weights)?;
    }
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
    if config.augment.noise > 0.0 {
        // Every step's graphs are built anew from moved poses: kept batches would not be met again.
        model.set_batch_cache_bytes(0);
    }
    Ok(model)
}

/// One epoch's checkpoint, written whole: last weights, optimiser state, progress, and the
/// best weights when this epoch improved (else carried over).
fn save_checkpoint(s: &Session, improved: bool, out: &Path) -> Result<()> {
    let weights = weights_bytes(&s.params, &s.prepared.grouped.model)?;
    let mut files = vec![
        (LAST_OPTIM, safetensors_bytes(&s.optimizer.state()?)?),
        (
            STATE_FILE,
            serde_json::to_vec_pretty(&s.state).unwrap_or_default(),
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
