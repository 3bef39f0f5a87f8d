//! The end of a run: predictions of every compound with the reported weights,
//! `predictions.csv`, `summary.json` and the plots.

use super::metrics::{Metrics, evaluate};
use super::plots::{EpochLosses, ScatterPoint};
use super::prepare::Prepared;
use super::run_dir::RunDir;
use super::split::Split;
use super::target_metrics::{TargetMetrics, per_target};
use super::{TrainConfig, engine_config};
use crate::combine::{GroupedModel, top_pose};
use crate::dataset::{CompoundData, Qualifier};
use crate::error::{Error, Result};
use serde::Serialize;
use std::collections::HashMap;

/// What a finished run reports.
#[derive(Debug, Clone, Default, Serialize)]
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

/// How the run ended, for the summary.
pub(super) struct Ending<'a> {
    /// Epochs trained in total.
    pub epochs: usize,
    /// Epoch (0-based) of the best validation loss.
    pub best_epoch: usize,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
    /// File name of the weights `model` holds.
    pub weights: &'a str,
    /// Wall time of this invocation, s.
    pub seconds: f64,
}

/// One row of `predictions.csv`.
#[derive(Serialize)]
struct Row<'a> {
    compound_id: &'a str,
    target: &'a str,
    split: &'a str,
    label: String,
    qualifier: &'a str,
    prediction: String,
    n_poses: usize,
    top_pose: usize,
    pose_predictions: String,
    pose_weights: String,
}

/// Predicts every compound, writes `predictions.csv`, `summary.json` and the plots.
pub(super) fn report(
    config: &TrainConfig,
    dir: &RunDir,
    prepared: &Prepared,
    (model, shifts): (&GroupedModel, &[f64]),
    split: &Split,
    curve: &[EpochLosses],
    ending: Ending,
) -> Result<Summary> {
    let chunk = engine_config(config, model.device()).chunk;
    let all: Vec<_> = prepared.graphs.iter().collect();
    let predictions = model.predict_batch(&all, &chunk)?;
    let path = dir.predictions();
    let csv_error = |e: csv::Error| Error::Input {
        path: path.clone(),
        message: e.to_string(),
    };
    let mut csv = csv::Writer::from_writer(Vec::new());
    let mut by_part: HashMap<&str, Vec<(usize, f64)>> = HashMap::new();
    for (((i, c), p), shift) in (prepared.compounds.iter().enumerate())
        .zip(&predictions)
        .zip(shifts)
    {
        let part = split.part_of(i);
        let output = p.output + shift;
        by_part.entry(part).or_default().push((i, output));
        let label = c.label.as_ref();
        csv.serialize(Row {
            compound_id: &c.id,
            target: &c.target,
            split: part,
            label: label.map_or(String::new(), |l| format!("{:.4}", l.value)),
            qualifier: label.map_or("", |l| match l.qualifier {
                Qualifier::Exact => "=",
                Qualifier::Below => "<",
                Qualifier::Above => ">",
            }),
            prediction: format!("{output:.4}"),
            n_poses: p.poses.len(),
            top_pose: top_pose(&p.weights),
            pose_predictions: joined(&p.poses),
            pose_weights: joined(&p.weights),
        })
        .map_err(csv_error)?;
    }
    let bytes = csv
        .into_inner()
        .map_err(|e| csv_error(e.into_error().into()))?;
    super::checkpoint::write_text(&path, &String::from_utf8_lossy(&bytes))?;
    let summary = summarise(config, prepared, &by_part, ending);
    super::checkpoint::write_text(
        &dir.summary(),
        &serde_json::to_string_pretty(&summary).unwrap_or_default(),
    )?;
    let points = scatter_points(prepared, &by_part);
    super::plots::write_all(dir, curve, &points, &summary.metrics)?;
    Ok(summary)
}

/// Metrics per part, overall and per target.
fn summarise(
    config: &TrainConfig,
    prepared: &Prepared,
    by_part: &HashMap<&str, Vec<(usize, f64)>>,
    ending: Ending,
) -> Summary {
    let (mut sizes, mut metrics, mut targets) = (HashMap::new(), HashMap::new(), HashMap::new());
    let seed = config.optim.seed;
    for part in ["train", "val", "test"] {
        let preds = by_part.get(part).map_or(&[][..], Vec::as_slice);
        sizes.insert(part.to_string(), preds.len());
        metrics.insert(
            part.to_string(),
            metrics_of(&prepared.compounds, preds, seed),
        );
        let exact = exact_records(&prepared.compounds, preds);
        let m = per_target(&exact, config.data.min_target_size, 1000, seed);
        targets.insert(part.to_string(), m);
    }
    Summary {
        epochs: ending.epochs,
        best_epoch: ending.best_epoch,
        stopped_early: ending.stopped_early,
        weights: ending.weights.to_string(),
        sizes,
        metrics,
        per_target: targets,
        skipped: prepared.skipped.clone(),
        seconds: ending.seconds,
    }
}

/// The labelled compounds of every part, for the predicted-vs-experimental plot.
fn scatter_points(
    prepared: &Prepared,
    by_part: &HashMap<&str, Vec<(usize, f64)>>,
) -> Vec<ScatterPoint> {
    ["train", "val", "test"]
        .into_iter()
        .flat_map(|part| {
            by_part
                .get(part)
                .into_iter()
                .flatten()
                .filter_map(move |&(i, prediction)| {
                    let label = prepared.compounds[i].label.as_ref()?.value;
                    Some(ScatterPoint {
                        part,
                        label,
                        prediction,
                    })
                })
        })
        .collect()
}

fn joined(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{x:.4}"))
        .collect::<Vec<_>>()
        .join(";")
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

/// Metrics of predictions on the in-range (uncensored) labels of `preds`.
pub(super) fn metrics_of(
    compounds: &[CompoundData],
    preds: &[(usize, f64)],
    seed: u64,
) -> Option<Metrics> {
    let (p, t): (Vec<f64>, Vec<f64>) = exact_records(compounds, preds)
        .into_iter()
        .map(|(_, p, t)| (p, t))
        .unzip();
    evaluate(&p, &t, 1000, seed)
}
