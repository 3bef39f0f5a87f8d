//! The Python side: finding an interpreter with the docking packages, running the
//! embedded `dock.py` on a job file, and reading its events as they come.

use super::{DockJob, Task, TaskResult, work_dir};
use crate::error::{Error, Result};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The docking worker, shipped inside the binary so that `multipose dock` needs no file
/// of the source tree; written into the output's scratch folder at each run.
const SCRIPT: &str = include_str!("dock.py");

/// What the CLI hears while docking.
#[derive(Debug, Clone)]
pub struct Event {
    /// Tasks finished by this run so far.
    pub done: usize,
    /// Tasks this run was given.
    pub total: usize,
    /// The task that just finished, if this event is one.
    pub finished: Option<TaskResult>,
    /// A line for the user (versions, receptor preparation).
    pub message: Option<String>,
}

/// What one Python run gave: its finished tasks, and an error if it did not end well
/// (the finished tasks count anyway).
pub struct PythonRun {
    /// Finished tasks, in the order they finished.
    pub results: Vec<TaskResult>,
    /// Why the run stopped early, if it did.
    pub error: Option<Error>,
}

/// `$MULTIPOSE_PYTHON`, else `python3`.
pub fn default_python() -> PathBuf {
    std::env::var_os("MULTIPOSE_PYTHON").map_or_else(|| PathBuf::from("python3"), PathBuf::from)
}

/// The versions of vina, meeko and RDKit in `python` (RDKit alone for `embed_only`), or
/// an error that says how to install them.
pub fn check_python(python: &Path, embed_only: bool) -> Result<String> {
    let probe = if embed_only {
        "import rdkit; print('rdkit', rdkit.__version__)"
    } else {
        "import vina, meeko, rdkit, gemmi; print('vina', vina.__version__, 'meeko', meeko.__version__, 'rdkit', rdkit.__version__)"
    };
    let how = "install them with `pip install -r tools/dock/requirements.txt` (pinned) or `pip install './python[dock]'`, then give that interpreter with --python or MULTIPOSE_PYTHON";
    let out = Command::new(python)
        .arg("-c")
        .arg(probe)
        .output()
        .map_err(|e| {
            Error::InvalidConfig(format!(
                "cannot run Python `{}` ({e}); {how}",
                python.display()
            ))
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("").trim().to_string();
        return Err(Error::InvalidConfig(format!(
            "`{}` lacks the docking packages vina, meeko, rdkit, gemmi ({last}); {how}",
            python.display()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn job_json(job: &DockJob, todo: &[Task]) -> serde_json::Value {
    let targets: Vec<serde_json::Value> = job
        .targets
        .iter()
        .map(|t| {
            serde_json::json!({
                "name": t.name, "receptor": t.receptor, "site": t.site,
                "box_edge": job.settings.box_edge, "embed_only": job.settings.embed_only,
            })
        })
        .collect();
    let mut settings = serde_json::to_value(&job.settings).unwrap_or_default();
    settings["jobs"] = job.jobs.max(1).into();
    serde_json::json!({
        "out": job.out, "work": work_dir(&job.out), "targets": targets, "tasks": todo,
        "settings": settings, "deadline": job.deadline,
    })
}

/// Docks `todo` (nothing to do: no Python is started).
pub fn dock(job: &DockJob, todo: &[Task], progress: &(dyn Fn(&Event) + Sync)) -> Result<PythonRun> {
    let mut run = PythonRun {
        results: Vec::new(),
        error: None,
    };
    if todo.is_empty() {
        return Ok(run);
    }
    let work = work_dir(&job.out);
    std::fs::create_dir_all(&work).map_err(Error::io(&work))?;
    let script = work.join("dock.py");
    crate::train::write_text(&script, SCRIPT)?;
    let job_file = work.join("job.json");
    crate::train::write_text(&job_file, &job_json(job, todo).to_string())?;
    let log_path = work.join("dock.log");
    let log = std::fs::File::create(&log_path).map_err(Error::io(&log_path))?;
    let mut child = Command::new(&job.python)
        .arg(&script)
        .arg(&job_file)
        .env("OMP_NUM_THREADS", "1")
        .env("OPENBLAS_NUM_THREADS", "1")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .map_err(Error::io(&job.python))?;
    if let Some(stdout) = child.stdout.take() {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(std::result::Result::ok)
        {
            handle(&line, todo.len(), &mut run, progress);
        }
    }
    let status = child.wait().map_err(Error::io(&job.python))?;
    if !status.success() && run.error.is_none() {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(4).collect();
        run.error = Some(Error::InvalidConfig(format!(
            "the docking worker exited with {status} ({}): {}",
            log_path.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        )));
    }
    Ok(run)
}

/// One event line of `dock.py`.
fn handle(line: &str, total: usize, run: &mut PythonRun, progress: &(dyn Fn(&Event) + Sync)) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
        return;
    };
    let text = |k: &str| v[k].as_str().unwrap_or("").to_string();
    let mut event = Event {
        done: run.results.len(),
        total,
        finished: None,
        message: None,
    };
    match v["event"].as_str() {
        Some("versions") => {
            event.message = Some(format!(
                "python {}, vina {}, meeko {}, rdkit {}",
                text("python"),
                text("vina"),
                text("meeko"),
                text("rdkit")
            ))
        }
        Some("receptor") => {
            let dropped: Vec<&str> = v["dropped_het"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x.as_str())
                .collect();
            event.message = Some(format!(
                "{}: receptor prepared; box centre {} edge {} Å; HETATM residues left out: {}",
                text("target"),
                v["center"],
                v["edge"],
                if dropped.is_empty() {
                    "none".into()
                } else {
                    dropped.join(", ")
                }
            ));
        }
        Some("receptor_failed") => {
            let msg = format!("target {}: {}", text("target"), text("reason"));
            event.message = Some(msg.clone());
            run.error.get_or_insert(Error::InvalidConfig(msg));
        }
        Some("done") => match serde_json::from_value::<TaskResult>(v.clone()) {
            // A worker that died wrote no result: the task stays to do.
            Ok(r) if !r.crashed => {
                run.results.push(r.clone());
                event.done = run.results.len();
                event.finished = Some(r);
            }
            Ok(r) => {
                event.message = Some(format!(
                    "{} {}: {} (left for a rerun)",
                    r.target,
                    r.id,
                    r.reason.unwrap_or_default()
                ))
            }
            Err(_) => return,
        },
        _ => return,
    }
    progress(&event);
}
