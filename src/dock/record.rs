//! Results of single dockings, and what the output folder keeps of them: labels per
//! target and `docking.csv`, the record of every compound and target.

use super::{DockJob, Failure, InputRow, LabelCell, Task};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The result of docking one compound into one target, as `dock.py` writes it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct TaskResult {
    /// Whether poses were written.
    pub ok: bool,
    /// The stage that failed: smiles, embedding, meeko, vina, error, worker.
    #[serde(default)]
    pub stage: Option<String>,
    /// Why it failed.
    #[serde(default)]
    pub reason: Option<String>,
    /// Poses written.
    #[serde(default)]
    pub poses: Option<usize>,
    /// Stereoisomers docked.
    #[serde(default)]
    pub isomers: Option<usize>,
    /// Stereoisomers the SMILES allows (before the cap).
    #[serde(default)]
    pub isomers_total: Option<usize>,
    /// Best Vina score, kcal/mol.
    #[serde(default)]
    pub best: Option<f64>,
    /// Target.
    pub target: String,
    /// Compound id.
    pub id: String,
    /// Input line.
    pub row: usize,
    /// The SMILES it was docked from.
    #[serde(default)]
    pub smiles: Option<String>,
    /// Seconds of one core.
    #[serde(default)]
    pub seconds: f64,
    /// The worker process died: nothing was written.
    #[serde(default)]
    pub crashed: bool,
    /// What a user should know of a docked compound (counter-ions left out, isomers
    /// that could not be embedded).
    #[serde(default)]
    pub note: Option<String>,
}

impl TaskResult {
    /// The finished result of `task` from an earlier run: its result file names the same
    /// compound and SMILES, and its poses file exists. Failures count as finished unless
    /// `retry_failed`.
    pub fn finished(task: &Task, retry_failed: bool) -> Option<TaskResult> {
        let text = std::fs::read_to_string(&task.result).ok()?;
        let r: TaskResult = serde_json::from_str(&text).ok()?;
        r.usable_for(task, retry_failed)
    }

    /// `self` if it is the result of `task` (same compound and SMILES, poses file there;
    /// a failure only unless `retry_failed`).
    pub fn usable_for(self, task: &Task, retry_failed: bool) -> Option<TaskResult> {
        let r = self;
        let same = r.target == task.target
            && r.id == task.id
            && r.smiles.as_ref().is_none_or(|s| *s == task.smiles);
        let usable = if r.ok {
            task.sdf.is_file()
        } else {
            !retry_failed
        };
        (same && usable).then_some(r)
    }
}

fn finish(path: &std::path::Path, w: csv::Writer<Vec<u8>>) -> Result<()> {
    let bytes = w.into_inner().map_err(|e| Error::Input {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    crate::train::write_text(path, &String::from_utf8_lossy(&bytes))
}

fn bad(path: &std::path::Path) -> impl Fn(csv::Error) -> Error + '_ {
    move |e| Error::Input {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// One row of `docking.csv`: a compound on a target, as docked, failed or still to do.
/// One struct for writing and reading, so the columns cannot drift apart.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
struct RecordRow {
    target: String,
    compound_id: String,
    line: usize,
    /// docked | failed | to_do
    status: String,
    poses: Option<usize>,
    isomers: Option<usize>,
    isomers_total: Option<usize>,
    best_vina: Option<f64>,
    seconds: Option<f64>,
    reason: Option<String>,
    smiles: Option<String>,
    note: Option<String>,
}

impl RecordRow {
    fn of(t: &Task, r: Option<&TaskResult>) -> RecordRow {
        let status = match r {
            Some(r) if r.ok => "docked",
            Some(_) => "failed",
            None => "to_do",
        };
        RecordRow {
            target: t.target.clone(),
            compound_id: t.id.clone(),
            line: t.row,
            status: status.into(),
            poses: r.and_then(|r| r.poses),
            isomers: r.and_then(|r| r.isomers),
            isomers_total: r.and_then(|r| r.isomers_total),
            best_vina: r
                .and_then(|r| r.best)
                .map(|v| (v * 1000.0).round() / 1000.0),
            seconds: r.map(|r| (r.seconds * 10.0).round() / 10.0),
            reason: r.and_then(|r| r.reason.as_deref()).map(one_line),
            smiles: Some(t.smiles.clone()),
            note: r.and_then(|r| r.note.clone()),
        }
    }

    /// The result this row records, if it is docked or failed.
    fn result(self) -> Option<TaskResult> {
        let ok = match self.status.as_str() {
            "docked" => true,
            "failed" => false,
            _ => return None,
        };
        Some(TaskResult {
            ok,
            stage: None,
            reason: self.reason,
            poses: self.poses,
            isomers: self.isomers,
            isomers_total: self.isomers_total,
            best: self.best_vina,
            target: self.target,
            id: self.compound_id,
            row: self.line,
            smiles: Some(self.smiles?).filter(|s| !s.is_empty()),
            seconds: self.seconds.unwrap_or(0.0),
            crashed: false,
            note: self.note,
        })
    }
}

/// Vina's and meeko's messages span lines; the record and the console keep one per pair
/// (results written before `dock.py` flattened every message included).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The results an earlier run recorded in `docking.csv` (docked or failed, with the
/// SMILES they were docked from), so that a fresh copy of a dataset folder without its
/// scratch files resumes too. A missing or unreadable record is no record.
pub fn read_record(path: &std::path::Path) -> HashMap<(String, String), TaskResult> {
    let Ok(mut reader) = csv::Reader::from_path(path) else {
        return HashMap::new();
    };
    reader
        .deserialize::<RecordRow>()
        .map_while(std::result::Result::ok)
        .filter_map(RecordRow::result)
        .filter(|r| r.smiles.is_some())
        .map(|r| ((r.target.clone(), r.id.clone()), r))
        .collect()
}

/// Writes `<target>/labels.csv` for every target with a label column (compounds with
/// poses) and `docking.csv`; returns every failure.
pub fn write_outputs(
    job: &DockJob,
    rows: &[InputRow],
    tasks: &[Task],
    results: &HashMap<(String, String), TaskResult>,
    label_failures: &[Failure],
) -> Result<Vec<Failure>> {
    let mut column = 0;
    for t in &job.targets {
        if t.label.is_none() {
            continue;
        }
        column += 1;
        let path = job.out.join(&t.name).join("labels.csv");
        std::fs::create_dir_all(job.out.join(&t.name)).map_err(Error::io(&path))?;
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(["compound_id", "value", "unit", "type"])
            .map_err(bad(&path))?;
        for r in rows {
            let docked = results
                .get(&(t.name.clone(), r.id.clone()))
                .is_some_and(|x| x.ok);
            if let (true, LabelCell::Value(v)) = (docked, &r.labels[column - 1]) {
                w.write_record([r.id.as_str(), v, &job.label_type.1, &job.label_type.0])
                    .map_err(bad(&path))?;
            }
        }
        finish(&path, w)?;
    }
    let mut failed: Vec<Failure> = label_failures.to_vec();
    let path = job.out.join("docking.csv");
    let mut w = csv::Writer::from_writer(Vec::new());
    for t in tasks {
        let r = results.get(&(t.target.clone(), t.id.clone()));
        if let Some(r) = r.filter(|r| !r.ok) {
            failed.push(Failure {
                target: t.target.clone(),
                id: t.id.clone(),
                line: t.row,
                reason: r.reason.as_deref().map(one_line).unwrap_or_default(),
            });
        }
        w.serialize(RecordRow::of(t, r)).map_err(bad(&path))?;
    }
    for f in label_failures {
        let row = RecordRow {
            target: f.target.clone(),
            compound_id: f.id.clone(),
            line: f.line,
            status: "failed".into(),
            reason: Some(f.reason.clone()),
            ..RecordRow::default()
        };
        w.serialize(row).map_err(bad(&path))?;
    }
    finish(&path, w)?;
    failed.sort_by(|a, b| (&a.target, a.line).cmp(&(&b.target, b.line)));
    Ok(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multi_line_reason_is_one_record_line() {
        let task = Task {
            target: "t".into(),
            id: "a".into(),
            row: 2,
            smiles: "B(O)O".into(),
            sdf: "a.sdf.gz".into(),
            result: "a.json".into(),
        };
        let failed: TaskResult = serde_json::from_value(serde_json::json!({
            "ok": false, "stage": "vina", "target": "t", "id": "a", "row": 2,
            "reason": "vina: TypeError: \n\nPDBQT parsing error: Atom type B\n > ATOM 17 B\n",
        }))
        .unwrap();
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(RecordRow::of(&task, Some(&failed))).unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.contains("vina: TypeError: PDBQT parsing error: Atom type B > ATOM 17 B,"));
    }
}
