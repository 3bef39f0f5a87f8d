//! `multipose benchmark`: every arm on the same within-target folds, one report.

use anyhow::Context;
use clap::Args;
use multipose::benchmark::{Plan, Regime, Variant, run as run_benchmark};
use multipose::train::TrainConfig;
use std::path::PathBuf;

/// Arguments of `multipose benchmark`.
#[derive(Debug, Args)]
pub struct BenchmarkArgs {
    /// Dataset: a folder of target folders, a manifest CSV or one dataset folder.
    #[arg(long, default_value = "data/plb")]
    data: PathBuf,
    /// Output folder: `<arm>/fold<k>` run folders, results.json, benchmark.md and
    /// per_target_{rho,mae}.{png,svg}. A run found here is reused (finished) or resumed
    /// (interrupted) only when its configuration and its fold's compound ids equal the
    /// planned ones, so an interrupted benchmark continues where it stopped; if any run
    /// folder differs (other settings, --folds, grouping or data), the benchmark stops
    /// before writing anything and names those folders.
    #[arg(long, default_value = "runs/benchmark")]
    out: PathBuf,
    /// Base training configuration (TOML) shared by every arm; `--section.key value`
    /// overrides apply on top (e.g. `--engine.device cuda --optim.epochs 40`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Within-target folds: every compound is tested once, by a model that never saw it
    /// (`--split.group scaffold|cluster` keeps near-duplicates in one fold, and a ligand
    /// measured on several targets in one fold).
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// What a fold holds out: `within` (fold k of every target, the compounds of a series
    /// the model has seen others of) or `whole` (whole targets, dealt to folds).
    #[arg(long, default_value = "within")]
    regime: Regime,
    /// Models per arm and fold, trained with seeds `optim.seed`, `+1`, ...: an ensemble
    /// whose test predictions are averaged per compound (`<arm>/fold<k>-seed<s>`).
    #[arg(long, default_value_t = 1)]
    seeds: usize,
    /// Arms (comma-separated). Fitted in process on each fold (no training run):
    /// train_mean, mw_linear (molecular weight), vina (the raw best score, for ranking),
    /// vina_linear (a line on it), fingerprint (kernel ridge on Morgan counts, ligand-only).
    /// Trained: single_ref, single_top, mean, max, boltzmann, max_pose_ce, attention; each
    /// takes objectives after `+` (`mean+pairwise+offsets`): pairwise (within-target ΔΔG
    /// pairs), offsets (labels centred per target), delta (Δ-learning on the docking score),
    /// noise (0.3 Å on the training poses). fep_plus: FEP+'s shipped predictions
    /// (`<target>/fep_plus.csv`, within-target regime only), a reference row.
    #[arg(long, value_delimiter = ',', default_values = ["vina", "single_ref", "single_top", "mean", "max", "boltzmann", "max_pose_ce", "attention"])]
    arms: Vec<Variant>,
    /// Training runs at a time (child processes sharing the CPU cores or the GPU).
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Bootstrap resamples of every interval.
    #[arg(long, default_value_t = 2000)]
    samples: usize,
}

pub fn run(args: BenchmarkArgs, overrides: Vec<(String, String)>) -> anyhow::Result<()> {
    let text = match &args.config {
        Some(p) => {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
        }
        None => String::new(),
    };
    let mut base =
        TrainConfig::from_toml(&text, &overrides).context("in the base configuration")?;
    base.data.path = args.data.clone();
    let interrupt = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = interrupt.clone();
    // Ctrl-C reaches the training children too: they stop resumably, and a rerun of the
    // same command continues.
    let _ = ctrlc::set_handler(move || {
        eprintln!(
            "\ninterrupted: no new runs start, finished ones are kept; rerun the same command to continue"
        );
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let plan = Plan {
        base,
        out: args.out.clone(),
        folds: args.folds,
        regime: args.regime,
        seeds: args.seeds.max(1),
        arms: args.arms,
        jobs: args.jobs.max(1),
        exe: std::env::current_exe().context("locating the multipose binary")?,
        samples: args.samples,
    };
    let progress = |line: &str| eprintln!("{line}");
    let done = run_benchmark(&plan, &interrupt, &progress)
        .with_context(|| format!("benchmark into {}", args.out.display()))?;
    if interrupt.load(std::sync::atomic::Ordering::SeqCst) {
        // The handler has said what happened and what to do; the finished runs are kept.
        std::process::exit(130);
    }
    print!("{}", multipose::benchmark::markdown(&done.report));
    for (id, why) in &done.skipped {
        eprintln!("skipped while loading: {id}: {why}");
    }
    eprintln!(
        "wall time {:.0} s; report in {}/benchmark.md, results.json, per_target_rho.png, per_target_mae.png",
        done.seconds,
        args.out.display()
    );
    if !done.problems.is_empty() {
        anyhow::bail!(
            "{} run(s) incomplete:\n  {}",
            done.problems.len(),
            done.problems.join("\n  ")
        );
    }
    Ok(())
}
