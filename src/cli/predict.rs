//! `multipose predict` and `multipose evaluate`: trained models on new or labelled data.

use super::data_args::DataArgs;
use anyhow::Context;
use clap::Args;
use multipose::combine::{GroupedModel, Prediction};
use multipose::dataset::{Assay, CompoundData, Qualifier};
use multipose::model::{CompoundGraphs, Params, load_weights};
use multipose::train::{
    BEST_WEIGHTS, CHECKPOINT, LAST_WEIGHTS, MIN_TARGET_SIZE, StoppingKind, TrainConfig,
    current_checkpoint, engine_config, grouped_config, metrics::evaluate, per_target,
    verify_checkpoint,
};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Arguments of `multipose predict` / `evaluate`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Run folder of a trained model (repeat for an ensemble: mean ± std).
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

struct Loaded {
    config: TrainConfig,
    model: GroupedModel,
}

fn load_model(dir: &Path, device: &candle_core::Device) -> anyhow::Result<Loaded> {
    let text = std::fs::read_to_string(dir.join("config.toml"))
        .with_context(|| format!("{} is not a run folder (no config.toml)", dir.display()))?;
    let config = TrainConfig::from_toml(&text, &[])?;
    // pIC50 and pKi read-outs are the same map without a Cheng–Prusoff term.
    let grouped = grouped_config(&config, Assay::Pki)?;
    let mut params = Params::new(candle_core::DType::F32, device);
    GroupedModel::new(&grouped, &params)?;
    let weights = reported_weights(dir, &config)?;
    load_weights(&mut params, &grouped.model, &weights)?;
    let mut model = GroupedModel::new(&grouped, &params)?;
    // Prediction visits each batch once: keeping batches would only hold memory.
    model.set_batch_cache_bytes(0);
    Ok(Loaded { config, model })
}

/// The weights behind the run's reported results: the file `summary.json` names, in the
/// checkpoint (or, for runs of an older layout, the run folder). A run without a summary
/// naming them (interrupted, or older) uses the file its early-stopping rule would
/// report, and says so.
fn reported_weights(dir: &Path, config: &TrainConfig) -> anyhow::Result<PathBuf> {
    let summary: Option<serde_json::Value> = std::fs::read_to_string(dir.join("summary.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let recorded = summary
        .as_ref()
        .and_then(|s| s["weights"].as_str().map(str::to_string));
    let checkpoint = current_checkpoint(dir);
    let name = recorded.clone().unwrap_or_else(|| {
        let folder = checkpoint.as_deref().unwrap_or(dir);
        match config.early_stopping.kind == StoppingKind::Best
            && folder.join(BEST_WEIGHTS).is_file()
        {
            true => BEST_WEIGHTS.to_string(),
            false => LAST_WEIGHTS.to_string(),
        }
    });
    let path = [checkpoint.as_deref(), Some(dir)]
        .into_iter()
        .flatten()
        .map(|folder| folder.join(&name))
        .find(|p| p.is_file())
        .with_context(|| {
            format!(
                "{}: the run's weights {name} are missing (looked in {CHECKPOINT}/ and the run folder)",
                dir.display()
            )
        })?;
    if let Some(c) = checkpoint.as_deref().filter(|c| path.starts_with(c)) {
        verify_checkpoint(c)?;
    }
    if recorded.is_none() {
        eprintln!(
            "{}: no summary.json names its weights (an unfinished run, or one of an older version): using {}",
            dir.display(),
            path.display()
        );
    }
    Ok(path)
}

/// Per compound: predictions of every model.
fn predict_all(
    args: &PredictArgs,
    labels_required: bool,
) -> anyhow::Result<(Vec<CompoundData>, Vec<Vec<Prediction>>)> {
    let device = multipose::device::parse(&args.device)?;
    let models = args
        .models
        .iter()
        .map(|d| load_model(d, &device))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let trained = &models[0].config.data;
    let pocket = Some(trained.pocket_radius).filter(|r| *r > 0.0);
    let data = args.data.load(trained.poses, pocket, labels_required)?;
    let started = std::time::Instant::now();
    let mut per_model = Vec::with_capacity(models.len());
    for m in &models {
        let g = &m.model.config().model;
        let graphs = data
            .compounds
            .par_iter()
            .map(|c| CompoundGraphs::build(&c.id, &c.poses, g.strategy, &g.schnet.graph()))
            .collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&CompoundGraphs> = graphs.iter().collect();
        per_model.push(
            m.model
                .predict_batch(&refs, &engine_config(&m.config, &device).chunk)?,
        );
    }
    let poses: usize = data.compounds.iter().map(|c| c.poses.len()).sum::<usize>() * models.len();
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "{} compounds, {poses} poses x models in {seconds:.2} s on {} ({:.0} poses/s, graphs included)",
        data.compounds.len(),
        args.device,
        poses as f64 / seconds.max(1e-9)
    );
    // Transposed to per compound: the predictions of every model.
    let mut all: Vec<Vec<Prediction>> =
        vec![Vec::with_capacity(models.len()); data.compounds.len()];
    for preds in per_model {
        for (slot, p) in all.iter_mut().zip(preds) {
            slot.push(p);
        }
    }
    Ok((data.compounds, all))
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (m, var.sqrt())
}

fn write_outputs(
    out: Option<&Path>,
    compounds: &[CompoundData],
    preds: &[Vec<Prediction>],
) -> anyhow::Result<()> {
    let mut main =
        String::from("compound_id,target,prediction,std,models,n_poses,top_pose,label\n");
    let mut poses = String::from("compound_id,pose,source,pose_prediction,weight\n");
    for (c, p) in compounds.iter().zip(preds) {
        let (m, s) = mean_std(&p.iter().map(|x| x.output).collect::<Vec<_>>());
        let n = p[0].poses.len();
        let weights: Vec<f64> = (0..n)
            .map(|k| p.iter().map(|x| x.weights[k]).sum::<f64>() / p.len() as f64)
            .collect();
        let top = weights
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(k, _)| k);
        let label = c
            .label
            .as_ref()
            .map_or(String::new(), |l| format!("{:.4}", l.value));
        main.push_str(&format!(
            "{},{},{m:.4},{s:.4},{},{n},{top},{label}\n",
            c.id,
            c.target,
            p.len()
        ));
        for (k, w) in weights.iter().enumerate() {
            let y = p.iter().map(|x| x.poses[k]).sum::<f64>() / p.len() as f64;
            let source = c.sources.get(k).map_or("", |s| s.as_str());
            poses.push_str(&format!("{},{k},{source},{y:.4},{w:.4}\n", c.id));
        }
    }
    match out {
        Some(path) => {
            std::fs::write(path, &main).with_context(|| format!("writing {}", path.display()))?;
            let pose_path = path.with_extension("poses.csv");
            std::fs::write(&pose_path, &poses)
                .with_context(|| format!("writing {}", pose_path.display()))?;
            eprintln!("wrote {} and {}", path.display(), pose_path.display());
        }
        None => print!("{main}"),
    }
    Ok(())
}

pub fn predict(args: PredictArgs) -> anyhow::Result<()> {
    let (compounds, preds) = predict_all(&args, false)?;
    write_outputs(args.out.as_deref(), &compounds, &preds)
}

pub fn evaluate_cmd(args: PredictArgs) -> anyhow::Result<()> {
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
            let mean = p.iter().map(|x| x.output).sum::<f64>() / p.len() as f64;
            (l.qualifier == Qualifier::Exact).then(|| (c.target.clone(), mean, l.value))
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
