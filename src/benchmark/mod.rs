//! The multi-pose benchmark: on the same seeded within-target folds, the docking score, two
//! single-pose models and the multi-pose combinations, scored by per-target rank
//! correlation of out-of-fold test predictions (congeneric series are ranked within a
//! target), with bootstrap intervals and paired differences against the baselines.

mod arm;
mod ligand;
mod plot;
mod report;
mod runner;
mod variant;

pub use arm::Arm;
pub use ligand::{all_features, ligand_predictions};
pub use report::{
    ArmReport, ArmScores, KCAL_PER_P, Report, Scored, build, fep_plus_predictions, markdown,
    read_test_predictions, vina_predictions,
};
pub use runner::{
    Outcome, Regime, RunSpec, fold_splits, plan_runs, prepare_runs, run_all, run_config,
};
pub use variant::{ArmObjective, Variant};

use crate::error::{Error, Result};
use crate::train::{TrainConfig, dataset_options, write_text};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Settings shared by every arm (model, optimiser, data; the split is set per fold).
    pub base: TrainConfig,
    /// Output folder: one folder per arm with a run per fold, and the report.
    pub out: PathBuf,
    /// Number of folds.
    pub folds: usize,
    /// Within-target folds or whole targets held out.
    pub regime: Regime,
    /// Models per arm and fold (seeds); their test predictions are averaged.
    pub seeds: usize,
    /// The arms with their objectives, in report order.
    pub arms: Vec<Variant>,
    /// Training runs at a time.
    pub jobs: usize,
    /// The `multipose` binary that trains the runs.
    pub exe: PathBuf,
    /// Bootstrap resamples of every interval.
    pub samples: usize,
}

/// What a benchmark gives.
#[derive(Debug, Clone)]
pub struct Finished {
    /// Scores of every arm.
    pub report: Report,
    /// Runs that failed or were not run, with the reason.
    pub problems: Vec<String>,
    /// Compounds left out while loading, with the reason.
    pub skipped: Vec<(String, String)>,
    /// Wall time, s.
    pub seconds: f64,
}

/// Runs the benchmark and writes `results.json`, `benchmark.md` and `per_target_rho.*`, `per_target_mae.*`
/// into `plan.out`; runs finished by an earlier invocation are reused.
pub fn run(
    plan: &Plan,
    interrupt: &AtomicBool,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Finished> {
    let started = Instant::now();
    if plan.folds < 2 {
        return Err(Error::InvalidConfig(format!(
            "the benchmark needs at least 2 folds, got {}",
            plan.folds
        )));
    }
    if plan.regime == Regime::Whole && plan.arms.iter().any(|a| a.arm == Arm::FepPlus) {
        return Err(Error::InvalidConfig(
            "arm fep_plus is a within-target reference (FEP+ predicts relative to a series' own measurements); leave it out of --regime whole".into(),
        ));
    }
    let data = crate::dataset::open(&plan.base.data.path, &dataset_options(&plan.base))?;
    let splits = fold_splits(&plan.base, &data.compounds, plan.folds, plan.regime)?;
    let runs = plan_runs(
        &plan.base,
        &data.compounds,
        &plan.arms,
        (&splits, plan.seeds),
        &plan.out,
    )?;
    std::fs::create_dir_all(&plan.out).map_err(|source| Error::Io {
        path: plan.out.clone(),
        source,
    })?;
    prepare_runs(&runs)?;
    write_text(&plan.out.join("base_config.toml"), &plan.base.to_toml()?)?;
    progress(&format!(
        "{} compounds in {} targets; {} training runs ({} arms x {} folds x {} seeds), {} at a time",
        data.compounds.len(),
        data.compounds
            .iter()
            .map(|c| c.target.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        runs.len(),
        plan.arms.iter().filter(|a| a.arm.trains()).count(),
        plan.folds,
        plan.seeds.max(1),
        plan.jobs
    ));
    let few = fewer_than_folds(&data, plan.folds, plan.regime);
    if !few.is_empty() {
        progress(&format!(
            "{} targets have fewer compounds than the {} folds, so some folds test none of them: {}",
            few.len(),
            plan.folds,
            few.iter()
                .map(|(t, n)| format!("{t} ({n})"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let outcomes = run_all(&runs, &plan.exe, plan.jobs, interrupt, progress);
    let (scores, problems) = collect(plan, (&data.compounds, &splits), &runs, &outcomes);
    let report = build(
        &scores,
        plan.base.data.min_target_size,
        plan.samples,
        plan.base.optim.seed,
    );
    write_outputs(&plan.out, &report, (&problems, &few), &data.skipped)?;
    Ok(Finished {
        report,
        problems,
        skipped: data.skipped,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Pools every arm's test predictions; lists the runs without a result.
fn collect(
    plan: &Plan,
    (compounds, splits): (&[crate::dataset::CompoundData], &[crate::train::Split]),
    runs: &[RunSpec],
    outcomes: &[Outcome],
) -> (Vec<ArmScores>, Vec<String>) {
    let mut problems = Vec::new();
    let feats = if plan.arms.iter().any(|a| a.arm.ligand_model().is_some()) {
        all_features(compounds)
    } else {
        Vec::new()
    };
    let scores = plan
        .arms
        .iter()
        .map(|&arm| {
            if !arm.arm.trains() {
                let started = Instant::now();
                let scored = match (arm.arm, arm.arm.ligand_model()) {
                    (_, Some(kind)) => ligand_predictions(kind, compounds, &feats, splits),
                    (Arm::FepPlus, _) => fep_plus_predictions(&plan.base.data.path, compounds)
                        .unwrap_or_else(|e| {
                            problems.push(format!("fep_plus: {e}"));
                            Vec::new()
                        }),
                    _ => vina_predictions(compounds),
                };
                return ArmScores {
                    arm,
                    scored,
                    runs: (0, 0),
                    seconds: started.elapsed().as_secs_f64(),
                };
            }
            let mut s = ArmScores {
                arm,
                scored: Vec::new(),
                runs: (0, 0),
                seconds: 0.0,
            };
            for (run, outcome) in runs.iter().zip(outcomes).filter(|(r, _)| r.arm == arm) {
                s.runs.1 += 1;
                let read = match outcome {
                    Outcome::Trained(_) | Outcome::Reused => read_test_predictions(&run.dir),
                    Outcome::Failed(m) => Err(Error::InvalidConfig(m.clone())),
                    Outcome::NotRun => Err(Error::InvalidConfig("not run (interrupted)".into())),
                };
                match read {
                    Ok(rows) => {
                        s.runs.0 += 1;
                        s.scored.extend(rows);
                        if let Outcome::Trained(t) = outcome {
                            s.seconds += t;
                        }
                    }
                    Err(e) => problems.push(format!("{arm} fold {}: {e}", run.fold)),
                }
            }
            s.scored = ensemble_mean(s.scored);
            s
        })
        .collect();
    (scores, problems)
}

/// One row per compound: the mean prediction of the ensemble members that scored it
/// (every compound is tested in exactly one fold, so its rows come from one fold's
/// members). Order of first appearance is kept.
fn ensemble_mean(rows: Vec<Scored>) -> Vec<Scored> {
    let mut index: std::collections::HashMap<String, usize> = Default::default();
    let mut out: Vec<(Scored, usize)> = Vec::new();
    for r in rows {
        match index.get(&r.id) {
            Some(&k) => {
                out[k].0.prediction += r.prediction;
                out[k].1 += 1;
            }
            None => {
                index.insert(r.id.clone(), out.len());
                out.push((r, 1));
            }
        }
    }
    out.into_iter()
        .map(|(mut r, n)| {
            r.prediction /= n as f64;
            r
        })
        .collect()
}

/// Targets with fewer compounds than folds (within-target folds only), with their count.
fn fewer_than_folds(
    data: &crate::dataset::Dataset,
    folds: usize,
    regime: Regime,
) -> Vec<(String, usize)> {
    if regime != Regime::Within {
        return Vec::new();
    }
    (crate::dataset::summarise_targets(data).into_iter())
        .filter(|t| t.compounds > 0 && t.compounds < folds)
        .map(|t| (t.target, t.compounds))
        .collect()
}

fn write_outputs(
    out: &Path,
    report: &Report,
    (problems, few): (&[String], &[(String, usize)]),
    skipped: &[(String, String)],
) -> Result<()> {
    let json = serde_json::json!({
        "report": report,
        "problems": problems,
        "fewer_compounds_than_folds": few,
        "skipped": skipped,
    });
    write_text(
        &out.join("results.json"),
        &serde_json::to_string_pretty(&json).unwrap_or_default(),
    )?;
    let mut md = markdown(report);
    if !few.is_empty() {
        let list: Vec<String> = few.iter().map(|(t, n)| format!("{t} ({n})")).collect();
        md.push_str(&format!(
            "\nTargets with fewer compounds than folds (some folds test none of them): {}.\n",
            list.join(", ")
        ));
    }
    for p in problems {
        md.push_str(&format!("\n- incomplete: {p}"));
    }
    write_text(&out.join("benchmark.md"), &md)?;
    plot::write(report, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, prediction: f64) -> Scored {
        Scored {
            id: id.into(),
            target: "t".into(),
            prediction,
            label: 5.0,
        }
    }

    #[test]
    fn ensemble_mean_averages_each_compound_over_its_members() {
        let rows = vec![row("a", 1.0), row("b", 4.0), row("a", 3.0), row("a", 5.0)];
        let mean = ensemble_mean(rows);
        assert_eq!(mean, vec![row("a", 3.0), row("b", 4.0)]);
    }
}
