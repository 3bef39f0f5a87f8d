//! Scoring the arms: out-of-fold test predictions pooled per arm, per-target metrics,
//! paired differences against the baselines, a Markdown table and a plot.

use super::{Arm, Variant};
use crate::dataset::CompoundData;
use crate::error::{Error, Result};
use crate::train::metrics::Interval;
use crate::train::{TargetMetrics, paired_spearman_difference, per_target};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

pub use crate::dataset::KCAL_PER_P;

/// One out-of-fold test prediction of a compound with an exact label.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scored {
    /// Compound id.
    pub id: String,
    /// Its target.
    pub target: String,
    /// Predicted value (p scale).
    pub prediction: f64,
    /// Measured value (p scale).
    pub label: f64,
}

/// A CSV file read whole, with the position of each asked column; errors name the file
/// and line.
struct Table {
    path: std::path::PathBuf,
    rows: Vec<csv::StringRecord>,
    cols: Vec<usize>,
}

impl Table {
    /// Reads `path`, which must have every column of `names`.
    fn read(path: &Path, names: &[&str]) -> Result<Self> {
        let parse = |line: usize, message: String| Error::Parse {
            path: path.to_path_buf(),
            line,
            message,
        };
        let mut reader = csv::Reader::from_path(path).map_err(|e| parse(0, e.to_string()))?;
        let headers = reader
            .headers()
            .map_err(|e| parse(1, e.to_string()))?
            .clone();
        let cols = (names.iter())
            .map(|name| {
                (headers.iter().position(|h| h == *name))
                    .ok_or_else(|| parse(1, format!("no `{name}` column")))
            })
            .collect::<Result<Vec<usize>>>()?;
        let rows = (reader.records().enumerate())
            .map(|(k, r)| r.map_err(|e| parse(k + 2, e.to_string())))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            path: path.to_path_buf(),
            rows,
            cols,
        })
    }

    /// `text`, the cell of data row `row`, as a number.
    fn number(&self, row: usize, text: &str) -> Result<f64> {
        text.parse().map_err(|_| Error::Parse {
            path: self.path.clone(),
            line: row + 2,
            message: format!("expected a number, found `{text}`"),
        })
    }
}

/// Test rows with exact labels of a run's `predictions.csv`.
pub fn read_test_predictions(run_dir: &Path) -> Result<Vec<Scored>> {
    let path = crate::train::RunDir::new(run_dir).predictions();
    let names = [
        "compound_id",
        "target",
        "split",
        "label",
        "qualifier",
        "prediction",
    ];
    let table = Table::read(&path, &names)?;
    let c = &table.cols;
    let (id, target, split, label, qualifier, prediction) = (c[0], c[1], c[2], c[3], c[4], c[5]);
    let mut out = Vec::new();
    for (k, r) in table.rows.iter().enumerate() {
        if &r[split] != "test" || &r[qualifier] != "=" {
            continue;
        }
        out.push(Scored {
            id: r[id].to_string(),
            target: r[target].to_string(),
            prediction: table.number(k, &r[prediction])?,
            label: table.number(k, &r[label])?,
        });
    }
    Ok(out)
}

/// The docking baseline: the best (lowest) score of the docked poses (all but the
/// reference poses) as pK; a compound without docked poses has its modelled poses'
/// score in place instead (what a user with only the modelled pose has).
pub fn vina_predictions(compounds: &[CompoundData]) -> Vec<Scored> {
    let score = |c: &CompoundData| crate::train::shift::docking_score(c).ok();
    scored_where(compounds, |c| score(c).map(|s| -s / KCAL_PER_P))
}

/// The compounds with an exact label for which `predict` has a value, scored by it.
fn scored_where(
    compounds: &[CompoundData],
    predict: impl Fn(&CompoundData) -> Option<f64>,
) -> Vec<Scored> {
    compounds
        .iter()
        .filter_map(|c| {
            Some(Scored {
                label: c.exact_label()?,
                prediction: predict(c)?,
                id: c.id.clone(),
                target: c.target.clone(),
            })
        })
        .collect()
}

/// FEP+'s predictions as pK, from `<root>/<target>/fep_plus.csv` (`compound_id`,
/// `fep_plus_dg` in kcal/mol, as `tools/dock/fepplus.py` writes it) for every target that
/// has the file; an error when none has.
pub fn fep_plus_predictions(root: &Path, compounds: &[CompoundData]) -> Result<Vec<Scored>> {
    let targets: BTreeSet<&str> = compounds.iter().map(|c| c.target.as_str()).collect();
    let mut predicted: BTreeMap<String, f64> = BTreeMap::new();
    let mut files = 0;
    for t in targets {
        let path = root.join(t).join("fep_plus.csv");
        if !path.is_file() {
            continue;
        }
        files += 1;
        let table = Table::read(&path, &["compound_id", "fep_plus_dg"])?;
        let (id, dg) = (table.cols[0], table.cols[1]);
        for (k, r) in table.rows.iter().enumerate() {
            let value = table.number(k, r[dg].trim())?;
            let key = match t.is_empty() {
                true => r[id].to_string(),
                false => format!("{t}/{}", &r[id]),
            };
            predicted.insert(key, -value / KCAL_PER_P);
        }
    }
    if files == 0 {
        return Err(Error::InvalidConfig(format!(
            "arm fep_plus reads <target>/fep_plus.csv under {}, and no target has one (data/fepplus does)",
            root.display()
        )));
    }
    Ok(scored_where(compounds, |c| predicted.get(&c.id).copied()))
}

/// One arm's scores.
#[derive(Debug, Clone, Serialize)]
pub struct ArmReport {
    /// The arm and its objectives.
    pub arm: Variant,
    /// Compounds scored (out-of-fold, exact labels).
    pub compounds: usize,
    /// Runs that finished / that were planned.
    pub runs: (usize, usize),
    /// Training wall time summed over its runs, s (0 for reused runs).
    pub train_seconds: f64,
    /// Per-target metrics and their means.
    pub metrics: TargetMetrics,
    /// Per-target mean ρ of this arm minus that of `vina` (paired bootstrap).
    pub rho_minus_vina: Option<Interval>,
    /// Per-target mean ρ of this arm minus that of `single_top` (paired bootstrap).
    pub rho_minus_single_top: Option<Interval>,
    /// Per-target mean ρ of this arm minus FEP+'s (paired bootstrap, on the compounds
    /// FEP+ predicted).
    pub rho_minus_fep_plus: Option<Interval>,
}

/// Everything the benchmark reports.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Per arm, in report order.
    pub arms: Vec<ArmReport>,
    /// Targets with per-target metrics and their number of scored compounds.
    pub targets: BTreeMap<String, usize>,
    /// Bootstrap resamples behind every interval.
    pub samples: usize,
}

/// What the runs of one arm gave.
pub struct ArmScores {
    /// The arm and its objectives.
    pub arm: Variant,
    /// Pooled test predictions.
    pub scored: Vec<Scored>,
    /// Runs finished / planned.
    pub runs: (usize, usize),
    /// Training seconds.
    pub seconds: f64,
}

/// Scores every arm; differences are paired on the compounds both arms scored.
pub fn build(arms: &[ArmScores], min_size: usize, samples: usize, seed: u64) -> Report {
    let find = |a: Arm| arms.iter().find(|s| s.arm == Variant::plain(a));
    let records = |s: &[Scored]| -> Vec<(String, f64, f64)> {
        s.iter()
            .map(|r| (r.target.clone(), r.prediction, r.label))
            .collect()
    };
    let mut targets = BTreeMap::new();
    let reports = arms
        .iter()
        .map(|s| {
            let metrics = per_target(&records(&s.scored), min_size, samples, seed);
            for (t, m) in &metrics.per_target {
                let n = targets.entry(t.clone()).or_insert(0);
                *n = m.n.max(*n);
            }
            let versus = |b: Arm| {
                let other = find(b).filter(|o| o.arm != s.arm)?;
                paired(&s.scored, &other.scored, min_size, samples, seed)
            };
            ArmReport {
                arm: s.arm,
                compounds: s.scored.len(),
                runs: s.runs,
                train_seconds: s.seconds,
                rho_minus_vina: versus(Arm::Vina),
                rho_minus_single_top: versus(Arm::SingleTop),
                rho_minus_fep_plus: versus(Arm::FepPlus),
                metrics,
            }
        })
        .collect();
    Report {
        arms: reports,
        targets,
        samples,
    }
}

fn paired(
    a: &[Scored],
    b: &[Scored],
    min_size: usize,
    samples: usize,
    seed: u64,
) -> Option<Interval> {
    let by_id: BTreeMap<&str, &Scored> = b.iter().map(|r| (r.id.as_str(), r)).collect();
    let (mut t, mut pa, mut pb, mut y) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for r in a {
        if let Some(o) = by_id.get(r.id.as_str()) {
            t.push(r.target.clone());
            pa.push(r.prediction);
            pb.push(o.prediction);
            y.push(r.label);
        }
    }
    paired_spearman_difference(&t, &pa, &pb, &y, min_size, samples, seed)
}

fn ci(i: Option<Interval>) -> String {
    i.map_or("–".into(), |i| {
        format!("{:.2} [{:.2}, {:.2}]", i.value, i.lo, i.hi)
    })
}

/// The report as Markdown: the headline table and per-target ρ.
pub fn markdown(report: &Report) -> String {
    let mut s = String::from(
        "| arm | compounds | runs | per-target mean ρ | mean τ | mean MAE | mean RMSE | Δρ vs vina | Δρ vs single_top | Δρ vs fep_plus |\n\
         |---|---:|---:|---|---|---|---|---|---|---|\n",
    );
    for a in &report.arms {
        let m = &a.metrics;
        s.push_str(&format!(
            "| {} | {} | {}/{} | {} | {} | {} | {} | {} | {} | {} |\n",
            a.arm,
            a.compounds,
            a.runs.0,
            a.runs.1,
            ci(m.mean_spearman),
            ci(m.mean_kendall),
            ci(m.mean_mae),
            ci(m.mean_rmse),
            ci(a.rho_minus_vina),
            ci(a.rho_minus_single_top),
            ci(a.rho_minus_fep_plus)
        ));
    }
    let targets: Vec<&String> = report.targets.keys().collect();
    type Pick = fn(&crate::train::metrics::Metrics) -> f64;
    let tables: [(&str, Pick); 2] = [
        ("Spearman ρ", |m| m.spearman.value),
        ("MAE (p units)", |m| m.mae.value),
    ];
    for (title, pick) in tables {
        s.push_str(&format!(
            "\nPer-target {title} (n = compounds scored):\n\n| arm |"
        ));
        for t in &targets {
            s.push_str(&format!(" {t} ({}) |", report.targets[*t]));
        }
        s.push_str(&format!("\n|---|{}\n", "---:|".repeat(targets.len())));
        for a in &report.arms {
            s.push_str(&format!("| {} |", a.arm));
            for t in &targets {
                let v = a.metrics.per_target.get(*t).map(pick);
                s.push_str(&v.map_or(" – |".into(), |v| format!(" {v:.2} |")));
            }
            s.push('\n');
        }
    }
    let small: BTreeSet<String> = report
        .arms
        .iter()
        .flat_map(|a| a.metrics.too_small.keys().cloned())
        .collect();
    if !small.is_empty() {
        s.push_str(&format!(
            "\nLeft out of the per-target means (too few exact labels): {}.\n",
            small.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    s
}
