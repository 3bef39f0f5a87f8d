//! Command-line interface: argument parsing and dispatch; the work is in the library.

mod baseline;
mod bench;
mod benchmark;
mod data_args;
mod dock;
mod import;
mod inspect;
mod predict;
mod train;

use clap::{Parser, Subcommand};

/// Multi-pose binding-affinity models with exact, flat-memory gradients.
#[derive(Debug, Parser)]
#[command(name = "multipose", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train a multi-pose model (default: a small SchNet on the bundled TYK2 data;
    /// `--engine.gpus N` spreads it over N GPUs, one process each).
    /// Every config key can be overridden with `--section.key value`.
    Train(train::TrainArgs),
    /// Print the default training configuration (`--default`), with comments.
    Config(train::ConfigArgs),
    /// Predict compounds with trained model(s): per compound, per pose, and which pose
    /// the model favours.
    Predict(predict::PredictArgs),
    /// Predict labelled data and report MAE, RMSE, Pearson, Spearman, Kendall (95% CIs).
    Evaluate(predict::PredictArgs),
    /// Time one training step (forward, MSE on pIC50, backward) per engine on a synthetic
    /// complex, and report ms per pose and peak memory.
    Bench(bench::BenchArgs),
    /// Benchmark arms (docking score, single-pose and multi-pose models) on the same
    /// within-target folds and report per-target rank correlations with 95% intervals.
    /// Config keys can be overridden with `--section.key value` for every arm.
    Benchmark(benchmark::BenchmarkArgs),
    /// Dock compounds from SMILES into one or more receptors (RDKit, meeko and AutoDock
    /// Vina in Python): a multi-pose dataset with Vina scores, resumable, failures listed.
    Dock(dock::DockArgs),
    /// Fit a ligand-only baseline (train_mean, mw_linear, fingerprint) on a whole dataset
    /// and save it for `predict --model` (alone or listed in an ensemble.json).
    FitBaseline(baseline::FitBaselineArgs),
    /// Load a dataset and print, per compound, poses, atoms (protein / pocket / ligand),
    /// edges, label and warnings: the first thing to run on your own data.
    Inspect(inspect::InspectArgs),
    /// Turn an mtenn model (safetensors weights, optionally asapdiscovery-ml's
    /// model_config.json) into a run folder that `predict` and `evaluate` read.
    /// Settings neither file gives can be set with `--section.key value`.
    ImportMtenn(import::ImportArgs),
}

/// Splits `--section.key value` / `--section.key=value` (config overrides) from the
/// arguments clap parses.
/// Config overrides as (`section.key`, value text).
type Overrides = Vec<(String, String)>;

fn split_overrides(args: Vec<String>) -> anyhow::Result<(Vec<String>, Overrides)> {
    let mut rest = Vec::new();
    let mut overrides = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a
            .strip_prefix("--")
            .filter(|k| k.split('=').next().is_some_and(|k| k.contains('.')))
        {
            Some(key) => match key.split_once('=') {
                Some((k, v)) => overrides.push((k.to_string(), v.to_string())),
                None => {
                    // An option where the value is due means the value was forgotten
                    // (negative numbers do not start with `--`).
                    let v = it
                        .next()
                        .filter(|v| !v.starts_with("--"))
                        .ok_or_else(|| anyhow::anyhow!("`--{key}` needs a value"))?;
                    overrides.push((key.to_string(), v));
                }
            },
            None => rest.push(a),
        }
    }
    Ok((rest, overrides))
}

/// Parses the command line and runs the chosen command.
pub fn run() -> anyhow::Result<()> {
    let (args, overrides) = split_overrides(std::env::args().collect())?;
    let cli = Cli::parse_from(args);
    let takes_overrides = matches!(
        cli.command,
        Command::Train(_) | Command::Benchmark(_) | Command::ImportMtenn(_)
    );
    if !overrides.is_empty() && !takes_overrides {
        anyhow::bail!(
            "--section.key overrides only apply to `multipose train`, `benchmark` and `import-mtenn`"
        );
    }
    match cli.command {
        Command::Train(args) => train::run(args, overrides),
        Command::Config(args) => train::config(args),
        Command::Predict(args) => predict::predict(args),
        Command::Evaluate(args) => predict::evaluate_cmd(args),
        Command::Bench(args) => bench::run(args),
        Command::Benchmark(args) => benchmark::run(args, overrides),
        Command::Dock(args) => dock::run_cmd(args),
        Command::FitBaseline(args) => baseline::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::ImportMtenn(args) => import::run(args, overrides),
    }
}
