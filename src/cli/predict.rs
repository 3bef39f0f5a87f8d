//! `multipose predict` and `multipose evaluate`: trained models on new or labelled data.

use super::data_args::DataArgs;
use anyhow::Context;
use clap::Args;
use multipose::dataset::{CompoundData, Qualifier};
use multipose::train::{
    EnsemblePrediction, MIN_TARGET_SIZE, Member, data_settings, load_members, metrics::evaluate,
    per_target, predict_members,
};
use std::path::{Path, PathBuf};

/// Arguments of `multipose predict` / `evaluate`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// A trained model: a run folder of `train`, a ligand-only model of `fit-baseline`, or
    /// a folder whose ensemble.json lists such members (repeat for an ensemble: mean ± std).
    #[arg(long = "model", required = true)]
    models: Vec<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
    /// Write per-compound predictions here (CSV); per-pose rows go to <name>.poses.csv.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Device: cpu, cuda or cuda:N (CUDA needs a build from tools/cuda/build.sh).
    /// Compounds with few poses are batched together on it.
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// Per compound: the ensemble of every model's prediction.
fn predict_all(
    args: &PredictArgs,
    labels_required: bool,
) -> anyhow::Result<(Vec<CompoundData>, Vec<EnsemblePrediction>)> {
    let device = multipose::device::parse(&args.device)?;
    let models = load_members(&args.models, &device)?;
    for (dir, m) in &models {
        if let Member::Structure(m) = m
            && !m.weights_recorded
        {
            eprintln!(
                "{}: no summary.json names its weights (an unfinished run, or one of an older version): using {}",
                dir.display(),
                m.weights.display()
            );
        }
    }
    let d = data_settings(&models)?;
    let data = args.data.load(d.poses, d.pocket(), labels_required)?;
    // A pose far from its receptor (a frame mismatch) predicts a number all the same: say so.
    multipose::train::report_warnings(&data.compounds);
    let started = std::time::Instant::now();
    let ensembles = predict_members(&models, &data.compounds)?;
    let poses: usize = data.compounds.iter().map(|c| c.poses.len()).sum::<usize>() * models.len();
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "{} compounds, {poses} poses x models in {seconds:.2} s on {} ({:.0} poses/s, graphs included)",
        data.compounds.len(),
        args.device,
        poses as f64 / seconds.max(1e-9)
    );
    Ok((data.compounds, ensembles))
}

/// One row of the per-compound CSV.
#[derive(serde::Serialize)]
struct CompoundRow<'a> {
    compound_id: &'a str,
    target: &'a str,
    prediction: String,
    std: String,
    models: usize,
    n_poses: usize,
    top_pose: usize,
    label: String,
}

/// One row of the per-pose CSV.
#[derive(serde::Serialize)]
struct PoseRow<'a> {
    compound_id: &'a str,
    pose: usize,
    source: &'a str,
    pose_prediction: String,
    weight: String,
}

fn write_outputs(
    out: Option<&Path>,
    compounds: &[CompoundData],
    preds: &[EnsemblePrediction],
) -> anyhow::Result<()> {
    let mut main = csv::Writer::from_writer(Vec::new());
    let mut poses = csv::Writer::from_writer(Vec::new());
    for (c, e) in compounds.iter().zip(preds) {
        main.serialize(CompoundRow {
            compound_id: &c.id,
            target: &c.target,
            prediction: format!("{:.4}", e.mean),
            std: format!("{:.4}", e.std),
            models: e.models,
            n_poses: e.poses.len(),
            top_pose: e.top_pose,
            label: c
                .label
                .as_ref()
                .map_or(String::new(), |l| format!("{:.4}", l.value)),
        })?;
        for (k, (y, w)) in e.poses.iter().zip(&e.weights).enumerate() {
            poses.serialize(PoseRow {
                compound_id: &c.id,
                pose: k,
                source: c.sources.get(k).map_or("", |s| s.as_str()),
                pose_prediction: format!("{y:.4}"),
                weight: format!("{w:.4}"),
            })?;
        }
    }
    let main = main.into_inner().map_err(|e| e.into_error())?;
    match out {
        Some(path) => {
            std::fs::write(path, &main).with_context(|| format!("writing {}", path.display()))?;
            let pose_path = path.with_extension("poses.csv");
            let poses = poses.into_inner().map_err(|e| e.into_error())?;
            std::fs::write(&pose_path, &poses)
                .with_context(|| format!("writing {}", pose_path.display()))?;
            eprintln!("wrote {} and {}", path.display(), pose_path.display());
        }
        None => print!("{}", String::from_utf8_lossy(&main)),
    }
    Ok(())
}

/// Fails at once, before any prediction, when `--out` (or its poses file) cannot be
/// written: a long prediction must not end in a path error.
fn check_writable(out: Option<&Path>) -> anyhow::Result<()> {
    let Some(path) = out else { return Ok(()) };
    for p in [path.to_path_buf(), path.with_extension("poses.csv")] {
        let existed = p.exists();
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&p)
            .with_context(|| format!("--out: cannot write {}", p.display()))?;
        if !existed {
            std::fs::remove_file(&p).ok();
        }
    }
    Ok(())
}

pub fn predict(args: PredictArgs) -> anyhow::Result<()> {
    check_writable(args.out.as_deref())?;
    let (compounds, preds) = predict_all(&args, false)?;
    write_outputs(args.out.as_deref(), &compounds, &preds)
}

pub fn evaluate_cmd(args: PredictArgs) -> anyhow::Result<()> {
    check_writable(args.out.as_deref())?;
    let (compounds, preds) = predict_all(&args, true)?;
    if compounds.iter().all(|c| c.label.is_none()) {
        anyhow::bail!(
            "no compound of {} has a label: nothing to evaluate (`multipose predict` predicts unlabelled data)",
            args.data.data.display()
        );
    }
    write_outputs(args.out.as_deref(), &compounds, &preds)?;
    let records: Vec<(String, f64, f64)> = compounds
        .iter()
        .zip(&preds)
        .filter_map(|(c, p)| {
            let l = c.label.as_ref()?;
            (l.qualifier == Qualifier::Exact).then(|| (c.target.clone(), p.mean, l.value))
        })
        .collect();
    let (p, t): (Vec<f64>, Vec<f64>) = records.iter().map(|r| (r.1, r.2)).unzip();
    match evaluate(&p, &t, 1000, 0) {
        Some(m) => eprintln!("n={}: {m}", m.n),
        None => eprintln!("too few in-range labels for metrics"),
    }
    let by_target = per_target(&records, MIN_TARGET_SIZE, 1000, 0);
    if by_target.per_target.len() + by_target.too_small.len() > 1 {
        for (target, m) in &by_target.per_target {
            eprintln!("{target} (n={}): {m}", m.n);
        }
        for (target, n) in &by_target.too_small {
            eprintln!("{target} (n={n}): too few exact labels for per-target metrics");
        }
        if let Some(line) = by_target.headline() {
            eprintln!("{line}");
        }
    }
    Ok(())
}
