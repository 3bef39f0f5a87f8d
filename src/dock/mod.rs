//! `multipose dock`: SMILES to a multi-pose dataset. This side reads and checks the
//! user's table, decides what is left to do, and writes the dataset's labels and the
//! docking record; the embedded `dock.py` does what needs RDKit, meeko and AutoDock Vina
//! (stereoisomers, 3D embedding, preparation, docking) in a Python the user installed.
//!
//! Output (a folder of targets, as `multipose train --data.path` reads it):
//! `OUT/<target>/receptor.pdb`, `poses/<id>.sdf.gz`, `labels.csv`; `OUT/docking.csv`
//! (every compound and target: docked, or the stage and reason it failed);
//! `OUT/dock.json` (the settings: a rerun with others is refused); `OUT/.dock/` (scratch:
//! per-task results that make a rerun resume, logs).

mod input;
mod python;
mod record;
mod site;

pub use input::{InputRow, LabelCell, file_stem, read_input};
pub use python::{Event, check_python, default_python};
pub use record::{TaskResult, read_record, write_outputs};
pub use site::Site;

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The settings that decide the poses: a folder docked with some keeps them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DockSettings {
    /// Poses kept per compound (over all its stereoisomers, best Vina score first).
    pub poses: usize,
    /// Stereoisomers docked at most per compound (unassigned centres and CXSMILES AND/OR
    /// groups enumerated in RDKit's order; the first this many are docked).
    pub max_isomers: usize,
    /// Vina's exhaustiveness (Monte Carlo runs).
    pub exhaustiveness: usize,
    /// Seed of embedding and docking.
    pub seed: u64,
    /// Smallest cube edge, Å (grown to the site's extent + 10 Å).
    pub box_edge: f64,
    /// No docking: each stereoisomer's RDKit conformer, centred on the site (for
    /// ligand-only models, which read only the bond table).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub embed_only: bool,
}

impl Default for DockSettings {
    fn default() -> Self {
        DockSettings {
            poses: 10,
            max_isomers: 4,
            exhaustiveness: 8,
            seed: 42,
            box_edge: 22.0,
            embed_only: false,
        }
    }
}

/// One receptor to dock into.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Target name (folder name in the output).
    pub name: String,
    /// Receptor PDB.
    pub receptor: PathBuf,
    /// The site.
    pub site: Site,
    /// The input column with this target's labels, if any.
    pub label: Option<String>,
}

/// A docking job.
#[derive(Debug, Clone)]
pub struct DockJob {
    /// Input CSV.
    pub input: PathBuf,
    /// Id column.
    pub id_column: String,
    /// SMILES column (`None`: `cxsmiles` or `smiles`).
    pub smiles_column: Option<String>,
    /// Targets.
    pub targets: Vec<Target>,
    /// Output folder.
    pub out: PathBuf,
    /// Settings.
    pub settings: DockSettings,
    /// Worker processes (one Vina CPU each).
    pub jobs: usize,
    /// Python interpreter with vina, meeko and rdkit.
    pub python: PathBuf,
    /// Dock a compound into a target only where it has a label there.
    pub labelled_only: bool,
    /// Label type and unit written to labels.csv (e.g. pIC50 and p).
    pub label_type: (String, String),
    /// Start no compound later than this many seconds after the start (the rest is left
    /// for a rerun).
    pub deadline: Option<f64>,
    /// Dock again compounds whose docking failed before.
    pub retry_failed: bool,
}

/// One (target, compound) to dock.
#[derive(Debug, Clone, Serialize)]
pub struct Task {
    /// Target name.
    pub target: String,
    /// Compound id.
    pub id: String,
    /// Input line.
    pub row: usize,
    /// SMILES.
    pub smiles: String,
    /// Output SDF (`.sdf.gz`).
    pub sdf: PathBuf,
    /// Result JSON, written last.
    pub result: PathBuf,
}

/// A compound that could not be docked into a target (or whose label is unusable there).
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// Target.
    pub target: String,
    /// Compound id.
    pub id: String,
    /// Line of the input CSV.
    pub line: usize,
    /// Stage and reason.
    pub reason: String,
}

/// What a docking run did.
#[derive(Debug, Clone, Default)]
pub struct DockSummary {
    /// Tasks docked by this run.
    pub docked_now: usize,
    /// Tasks found finished by an earlier run.
    pub reused: usize,
    /// Failures, earlier runs' included.
    pub failed: Vec<Failure>,
    /// Tasks left undone (deadline, interruption, a crashed worker): a rerun does them.
    pub left: usize,
    /// (target, id) pairs not docked because unlabelled there (`labelled_only`).
    pub unlabelled: usize,
    /// Wall time, s.
    pub seconds: f64,
    /// Mean seconds of one CPU core per compound and target docked by this run.
    pub core_seconds_per_task: Option<f64>,
}

/// Scratch folder of a docking output.
pub fn work_dir(out: &Path) -> PathBuf {
    out.join(".dock")
}

/// The identity of a docking folder: settings and each receptor's content and site.
fn identity(job: &DockJob) -> Result<serde_json::Value> {
    use sha2::{Digest, Sha256};
    let targets = job
        .targets
        .iter()
        .map(|t| {
            let bytes = std::fs::read(&t.receptor).map_err(Error::io(&t.receptor))?;
            let sha: String = Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            Ok(serde_json::json!({"name": t.name, "receptor_sha256": sha, "site": t.site}))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(serde_json::json!({"settings": job.settings, "targets": targets}))
}

/// Refuses a folder docked with other settings or receptors; records them in a new one.
fn claim_folder(job: &DockJob) -> Result<()> {
    let path = job.out.join("dock.json");
    let mine = identity(job)?;
    if let Ok(text) = std::fs::read_to_string(&path) {
        let theirs: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Input {
            path: path.clone(),
            message: format!("not a docking record: {e}"),
        })?;
        // Targets may be added to a folder; those it has must be unchanged.
        let same_settings = theirs["settings"] == mine["settings"];
        let mine_targets = mine["targets"].as_array().cloned().unwrap_or_default();
        let clash = theirs["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| {
                mine_targets
                    .iter()
                    .any(|m| m["name"] == t["name"] && m != *t)
            });
        if !same_settings || clash.is_some() {
            return Err(Error::InvalidConfig(format!(
                "{} was docked with other settings or receptors ({}); dock into another --out",
                job.out.display(),
                if same_settings {
                    "a receptor or site differs"
                } else {
                    "settings differ"
                }
            )));
        }
        let mut all = theirs["targets"].as_array().cloned().unwrap_or_default();
        for m in mine_targets {
            if !all.iter().any(|t| t["name"] == m["name"]) {
                all.push(m);
            }
        }
        let merged = serde_json::json!({"settings": mine["settings"], "targets": all});
        return crate::train::write_text(
            &path,
            &serde_json::to_string_pretty(&merged).unwrap_or_default(),
        );
    }
    std::fs::create_dir_all(&job.out).map_err(Error::io(&job.out))?;
    crate::train::write_text(
        &path,
        &serde_json::to_string_pretty(&mine).unwrap_or_default(),
    )
}

/// Tasks of every target and compound, with the label failures found on the way.
fn plan(job: &DockJob, rows: &[InputRow]) -> Result<(Vec<Task>, Vec<Failure>, usize)> {
    let mut stems: HashMap<String, &str> = HashMap::new();
    for r in rows {
        if let Some(other) = stems.insert(file_stem(&r.id), &r.id) {
            return Err(Error::Parse {
                path: job.input.clone(),
                line: r.line,
                message: format!(
                    "compound ids `{other}` and `{}` give one file name; rename one",
                    r.id
                ),
            });
        }
    }
    let (mut tasks, mut failed, mut unlabelled) = (Vec::new(), Vec::new(), 0);
    let work = work_dir(&job.out);
    for (k, t) in job.targets.iter().enumerate() {
        let column = job.targets[..=k]
            .iter()
            .filter(|x| x.label.is_some())
            .count();
        for r in rows {
            let cell = t.label.as_ref().map(|_| &r.labels[column - 1]);
            match cell {
                Some(LabelCell::Invalid(why)) => {
                    let col = t.label.as_deref().unwrap_or("");
                    failed.push(Failure {
                        target: t.name.clone(),
                        id: r.id.clone(),
                        line: r.line,
                        reason: format!("label: column `{col}`: {why}"),
                    });
                    continue;
                }
                Some(LabelCell::Empty) | None if job.labelled_only => {
                    unlabelled += 1;
                    continue;
                }
                _ => {}
            }
            let stem = file_stem(&r.id);
            tasks.push(Task {
                target: t.name.clone(),
                id: r.id.clone(),
                row: r.line,
                smiles: r.smiles.clone(),
                sdf: job
                    .out
                    .join(&t.name)
                    .join("poses")
                    .join(format!("{stem}.sdf.gz")),
                result: work.join(&t.name).join(format!("{stem}.json")),
            });
        }
    }
    Ok((tasks, failed, unlabelled))
}

/// Runs the job: docks what is not finished, then writes labels and the record. An
/// interrupted or time-limited run leaves finished compounds in place for the next one.
pub fn run(job: &DockJob, progress: &(dyn Fn(&Event) + Sync)) -> Result<DockSummary> {
    let started = std::time::Instant::now();
    let labels: Vec<&str> = job
        .targets
        .iter()
        .filter_map(|t| t.label.as_deref())
        .collect();
    let rows = read_input(
        &job.input,
        &job.id_column,
        job.smiles_column.as_deref(),
        &labels,
    )?;
    if job.targets.is_empty() {
        return Err(Error::InvalidConfig(
            "no target: give --receptor NAME=FILE".into(),
        ));
    }
    let (tasks, label_failures, unlabelled) = plan(job, &rows)?;
    let mut results: HashMap<(String, String), TaskResult> = HashMap::new();
    let mut todo = Vec::new();
    let mut earlier = read_record(&job.out.join("docking.csv"));
    for t in &tasks {
        let recorded = earlier
            .remove(&(t.target.clone(), t.id.clone()))
            .and_then(|r| r.usable_for(t, job.retry_failed));
        match TaskResult::finished(t, job.retry_failed).or(recorded) {
            Some(r) => {
                results.insert((t.target.clone(), t.id.clone()), r);
            }
            None => todo.push(t.clone()),
        }
    }
    let reused = results.len();
    if !todo.is_empty() {
        check_python(&job.python, job.settings.embed_only)?;
    }
    claim_folder(job)?;
    let run = python::dock(job, &todo, progress)?;
    let docked_now = run.results.len();
    let core: f64 = run.results.iter().map(|r| r.seconds).sum();
    for r in run.results {
        results.insert((r.target.clone(), r.id.clone()), r);
    }
    let failed = write_outputs(job, &rows, &tasks, &results, &label_failures)?;
    let left = tasks.len() - results.len();
    let summary = DockSummary {
        docked_now,
        reused,
        failed,
        left,
        unlabelled,
        seconds: started.elapsed().as_secs_f64(),
        core_seconds_per_task: (docked_now > 0).then(|| core / docked_now as f64),
    };
    match run.error {
        Some(e) => Err(e),
        None => Ok(summary),
    }
}
