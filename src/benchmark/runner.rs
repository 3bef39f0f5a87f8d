//! Runs the training arms: one `multipose train` child process per arm and fold, a few
//! at a time, every run in its own folder so that an interrupted benchmark continues
//! where it stopped and a finished run is never trained twice.

use super::{Arm, Variant};
use crate::dataset::CompoundData;
use crate::error::{Error, Result};
use crate::train::{Split, TrainConfig, make_split_grouped, split_groups};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

/// One training run of the benchmark.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The arm and its objectives.
    pub arm: Variant,
    /// The test fold.
    pub fold: usize,
    /// Ensemble member (0-based); member `s` trains with `optim.seed + s`.
    pub member: usize,
    /// Run folder (`OUT/<arm>/fold<k>`).
    pub dir: PathBuf,
    /// The complete configuration of the run.
    pub config: TrainConfig,
    /// The files it reads, with the text each must hold: its split file
    /// (`OUT/<arm>/fold<k>.split.json`, ids) and the fingerprint of the fold's data
    /// (`fold<k>.data.sha256`).
    pub inputs: Vec<(PathBuf, String)>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Trained now, in this many seconds.
    Trained(f64),
    /// Found finished from an earlier invocation.
    Reused,
    /// Failed; the message ends with the tail of its log.
    Failed(String),
    /// Not started (interrupted).
    NotRun,
}

/// The configuration of `arm` on `fold`: the base with the arm's overrides and a manual
/// split file holding the fold's ids (the same split for every arm).
pub fn run_config(base: &TrainConfig, arm: Variant, split_file: &Path) -> Result<TrainConfig> {
    let mut overrides: Vec<(String, String)> = arm
        .overrides()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    overrides.push(("split.kind".into(), "\"manual\"".into()));
    overrides.push((
        "split.manual".into(),
        toml::Value::String(split_file.display().to_string()).to_string(),
    ));
    TrainConfig::from_toml(&base.to_toml()?, &overrides)
}

crate::choice! {
    /// What a benchmark fold holds out.
    #[derive(Default)]
    pub enum Regime {
        /// Fold k of every target: ranking within a series the model has seen.
        #[default]
        Within = "within",
        /// Whole targets: series (and, where targets share a protein, that protein's
        /// other series may remain in training) the model has never seen.
        Whole = "whole",
    }
}

/// The test folds of the benchmark: fold k of every target (or of the targets) as test,
/// validation a share of the rest (the same folds for every arm, grouped as
/// `base.split.group` says).
pub fn fold_splits(
    base: &TrainConfig,
    compounds: &[CompoundData],
    folds: usize,
    regime: Regime,
) -> Result<Vec<Split>> {
    let mut per_target = base.clone();
    per_target.split.kind = match regime {
        Regime::Within => crate::train::SplitKind::PerTarget,
        Regime::Whole => crate::train::SplitKind::Target,
    };
    per_target.split.folds = folds;
    let groups = split_groups(&per_target, compounds);
    (0..folds)
        .map(|fold| {
            let mut fold_config = per_target.clone();
            fold_config.split.fold = fold;
            make_split_grouped(&fold_config, compounds, groups.as_deref())
        })
        .collect()
}

/// The runs, each with the split file it reads (ids of the compounds the arm can use,
/// written by [`prepare_runs`]): `members` per arm and fold, which differ only in their training
/// seed. `compounds` is the dataset with all poses; compounds without a docked pose are
/// left out of the arms that need one.
pub fn plan_runs(
    base: &TrainConfig,
    compounds: &[CompoundData],
    arms: &[Variant],
    (splits, members): (&[Split], usize),
    out: &Path,
) -> Result<Vec<RunSpec>> {
    let mut runs = Vec::new();
    // Every compound is hashed once, not once per arm and fold.
    let digests: Vec<[u8; 32]> = compounds.iter().map(compound_digest).collect();
    for (fold, split) in splits.iter().enumerate() {
        for &arm in arms.iter().filter(|a| a.arm.trains()) {
            let usable = |i: &usize| !needs_docked(arm.arm) || has_docked(&compounds[*i]);
            let ids = |part: &[usize]| -> Vec<String> {
                part.iter()
                    .filter(|i| usable(i))
                    .map(|&i| compounds[i].id.clone())
                    .collect()
            };
            let all: Vec<usize> = [&split.train, &split.val, &split.test]
                .into_iter()
                .flatten()
                .copied()
                .filter(|i| usable(i))
                .collect();
            let json = serde_json::json!({
                "train": ids(&split.train), "val": ids(&split.val), "test": ids(&split.test),
            });
            let arm_dir = out.join(arm.name());
            let split_file = arm_dir.join(format!("fold{fold}.split.json"));
            let inputs = vec![
                (split_file.clone(), json.to_string()),
                (
                    arm_dir.join(format!("fold{fold}.data.sha256")),
                    fingerprint(&digests, &all),
                ),
            ];
            for member in 0..members.max(1) {
                let mut config = run_config(base, arm, &split_file)?;
                config.optim.seed = base.optim.seed.wrapping_add(member as u64);
                runs.push(RunSpec {
                    arm,
                    fold,
                    member,
                    dir: arm_dir.join(run_name(fold, member)),
                    config,
                    inputs: inputs.clone(),
                });
            }
        }
    }
    Ok(runs)
}

/// Checks every planned run against what `--out` already holds, then writes the split
/// files. A run folder is reused only when its configuration and its fold's ids are the
/// planned ones; when any differs (other settings, other folds, changed data) nothing is
/// written and the error names every such run, so a finished benchmark's folders and
/// report stay as they are.
pub fn prepare_runs(runs: &[RunSpec]) -> Result<()> {
    let mut conflicts = Vec::new();
    for run in runs {
        let files = crate::train::RunDir::new(&run.dir);
        let Ok(text) = std::fs::read_to_string(files.config()) else {
            continue;
        };
        if TrainConfig::from_toml(&text, &[])?.to_toml()? != run.config.to_toml()? {
            conflicts.push(format!("{}: other settings", run.dir.display()));
            continue;
        }
        let changed = (run.inputs.iter())
            .any(|(path, text)| std::fs::read_to_string(path).map_or(true, |old| old != *text));
        if changed {
            conflicts.push(format!(
                "{}: its fold holds other compounds or other data (--folds, the grouping or the data changed)",
                run.dir.display()
            ));
        }
    }
    if !conflicts.is_empty() {
        return Err(Error::InvalidConfig(format!(
            "{} run folder(s) were made with other settings or folds; nothing was changed. Remove them or choose another --out:\n  {}",
            conflicts.len(),
            conflicts.join("\n  ")
        )));
    }
    for (path, text) in runs.iter().flat_map(|r| &r.inputs) {
        create_dir(path.parent().unwrap_or(Path::new(".")))?;
        crate::train::write_text(path, text)?;
    }
    Ok(())
}

/// SHA-256 of what the models see of a compound: its id, label, and every pose's elements
/// and coordinates. A run trained on other data (an edited pose file, a relabelled
/// compound) then no longer matches its fold's fingerprint and is not reused.
fn compound_digest(c: &CompoundData) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(c.id.as_bytes());
    if let Some(l) = &c.label {
        h.update(l.value.to_le_bytes());
        h.update([l.qualifier as u8]);
    }
    for p in &c.poses {
        h.update((p.len() as u64).to_le_bytes());
        for (z, x) in p.z().iter().zip(p.pos()) {
            h.update(z.to_le_bytes());
            x.iter().for_each(|v| h.update(v.to_le_bytes()));
        }
    }
    h.finalize().into()
}

/// The fingerprint of the compounds `ids`, from each one's [`compound_digest`].
fn fingerprint(digests: &[[u8; 32]], ids: &[usize]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    ids.iter().for_each(|&i| h.update(digests[i]));
    format!("{:x}", h.finalize())
}

/// `fold<k>` for the first member (the folder name of a benchmark without ensembles),
/// `fold<k>-seed<s>` for the others.
fn run_name(fold: usize, member: usize) -> String {
    match member {
        0 => format!("fold{fold}"),
        s => format!("fold{fold}-seed{s}"),
    }
}

/// Whether the arm's pose selection needs poses beyond the reference pose.
pub fn needs_docked(arm: Arm) -> bool {
    matches!(arm, Arm::SingleTop | Arm::Vina)
}

/// Whether a compound has a docked pose (beyond its reference poses).
fn has_docked(c: &CompoundData) -> bool {
    c.poses.len() > c.references
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })
}

/// Runs `runs` with `jobs` child processes of `exe` at a time; `progress` gets a line
/// per finished run. A set `interrupt` stops launching new runs.
pub fn run_all(
    runs: &[RunSpec],
    exe: &Path,
    jobs: usize,
    interrupt: &AtomicBool,
    progress: &(dyn Fn(&str) + Sync),
) -> Vec<Outcome> {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let outcomes = Mutex::new(vec![Outcome::NotRun; runs.len()]);
    let threads = available_threads();
    let per_job = (threads / jobs.max(1)).max(1);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    if k >= runs.len() || interrupt.load(Ordering::SeqCst) {
                        break;
                    }
                    let outcome = run_one(&runs[k], exe, per_job);
                    let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                    progress(&describe(&runs[k], &outcome, n, runs.len()));
                    if let Ok(mut o) = outcomes.lock() {
                        o[k] = outcome;
                    }
                }
            });
        }
    });
    outcomes.into_inner().unwrap_or_default()
}

fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn describe(run: &RunSpec, outcome: &Outcome, n: usize, total: usize) -> String {
    let what = match outcome {
        Outcome::Trained(s) => format!("trained in {s:.0} s"),
        Outcome::Reused => "already done".into(),
        Outcome::Failed(m) => format!("FAILED: {m}"),
        Outcome::NotRun => "not run".into(),
    };
    let member = match run.member {
        0 => String::new(),
        s => format!(" seed {s}"),
    };
    format!(
        "[{n}/{total}] {} fold {}{member}: {what}",
        run.arm, run.fold
    )
}

/// One run: reused when finished with the same configuration, resumed when interrupted,
/// else trained from scratch; the child's output goes to `<dir>.log`.
fn run_one(run: &RunSpec, exe: &Path, threads: usize) -> Outcome {
    match try_run(run, exe, threads) {
        Ok(o) => o,
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

fn try_run(run: &RunSpec, exe: &Path, threads: usize) -> Result<Outcome> {
    let planned = run.config.to_toml()?;
    let files = crate::train::RunDir::new(&run.dir);
    let existing = std::fs::read_to_string(files.config()).ok();
    if let Some(text) = &existing
        && TrainConfig::from_toml(text, &[])?.to_toml()? != planned
    {
        return Err(Error::InvalidConfig(format!(
            "{} holds a run with another configuration; remove it or choose another --out",
            run.dir.display()
        )));
    }
    if files.summary().exists() && existing.is_some() {
        return Ok(Outcome::Reused);
    }
    let config_file = run.dir.with_extension("toml");
    crate::train::write_text(&config_file, &planned)?;
    let mut cmd = Command::new(exe);
    cmd.arg("train").arg("--quiet");
    if crate::train::holds_run(&run.dir) {
        cmd.arg("--resume").arg(&run.dir);
    } else {
        cmd.arg("--config")
            .arg(&config_file)
            .arg("--out")
            .arg(&run.dir);
    }
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        cmd.env("RAYON_NUM_THREADS", threads.to_string());
    }
    let log_path = run.dir.with_extension("log");
    let log = std::fs::File::create(&log_path).map_err(|source| Error::Io {
        path: log_path.clone(),
        source,
    })?;
    let err_log = log.try_clone().map_err(|source| Error::Io {
        path: log_path.clone(),
        source,
    })?;
    let started = Instant::now();
    let status = cmd
        .stdout(log)
        .stderr(err_log)
        .status()
        .map_err(|source| Error::Io {
            path: exe.to_path_buf(),
            source,
        })?;
    if !status.success() {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(3).collect();
        return Err(Error::InvalidConfig(format!(
            "{} exited with {status} ({}): {}",
            run.dir.display(),
            log_path.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        )));
    }
    Ok(Outcome::Trained(started.elapsed().as_secs_f64()))
}
