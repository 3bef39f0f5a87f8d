//! `multipose train` and `multipose config`.

use anyhow::Context;
use clap::Args;
use multipose::distributed::{Launch, WorkerEnv};
use multipose::train::{RunOptions, TrainConfig, default_toml_commented, resume_with, train};
use std::path::PathBuf;

/// Arguments of `multipose train`. Any config key can be overridden with
/// `--section.key value` (e.g. `--optim.lr 0.0005 --model.combination mean`);
/// `--engine.gpus N` (or `--engine.devices cuda:0,cuda:1`) trains on several GPUs, one
/// process each (docs/distributed.md).
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Configuration file (TOML; `multipose config --default` prints one). Without it the
    /// defaults train a small model on the bundled TYK2 data.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Output folder (default: runs/<seconds since 1970>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the interrupted run in this folder exactly where it stopped, with its saved
    /// config.toml (an edited one is refused). `--optim.epochs N` is the one override
    /// allowed: it extends a run.
    #[arg(long, conflicts_with_all = ["config", "out"])]
    resume: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Print one JSON object per epoch on stderr (for scripts).
    #[arg(long)]
    log_json: bool,
}

/// Arguments of `multipose config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Print the complete default configuration with comments.
    #[arg(long)]
    default: bool,
}

/// What `multipose train` was asked to do.
enum Plan {
    /// A new run with this configuration.
    New(Box<TrainConfig>),
    /// Continue the run in the output folder, optionally to a new epoch count.
    Resume(Option<usize>),
}

pub fn run(args: TrainArgs, overrides: Vec<(String, String)>) -> anyhow::Result<()> {
    let worker = WorkerEnv::from_env()?;
    let leader = worker.as_ref().is_none_or(|w| w.world.is_leader());
    let interrupt = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = interrupt.clone();
    // Ctrl-C stops cleanly at the next batch; the saved epochs stay resumable. Workers
    // stop silently: the launcher (or rank 0's final message) speaks for them.
    let speaks = worker.is_none();
    let _ = ctrlc::set_handler(move || {
        if speaks {
            eprintln!("\ninterrupt: stopping at the next batch (the last complete epoch is kept)");
        }
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let (plan, out) = plan(&args, &overrides)?;
    if worker.is_none() {
        let devices = match &plan {
            Plan::New(config) => config.engine.workers(),
            Plan::Resume(_) => saved_workers(&out),
        };
        if devices.len() > 1 {
            return launch_workers(&args, &plan, &out, devices, &interrupt);
        }
    }
    let options = RunOptions {
        quiet: args.quiet || !leader,
        json_log: args.log_json && leader,
        stop_after_epochs: None,
        interrupt: Some(interrupt),
        worker,
    };
    let summary = match plan {
        Plan::Resume(epochs) => {
            if leader {
                eprintln!("resuming {}", out.display());
            }
            resume_with(&out, epochs, &options)
                .with_context(|| format!("resuming {}", out.display()))?
        }
        Plan::New(config) => {
            // Under a launcher, the launcher has said it.
            if !options.quiet && options.worker.is_none() {
                eprintln!(
                    "training into {} (interrupt any time; continue with `multipose train --resume {}`)",
                    out.display(),
                    out.display()
                );
            }
            train(&config, &out, &options).map_err(|e| with_resume_hint(e, &out))?
        }
    };
    if leader {
        print_summary(&summary, &out);
    }
    Ok(())
}

/// The configuration (or the run to resume) and the output folder.
fn plan(args: &TrainArgs, overrides: &[(String, String)]) -> anyhow::Result<(Plan, PathBuf)> {
    if let Some(dir) = &args.resume {
        return Ok((Plan::Resume(resume_epochs(overrides)?), dir.clone()));
    }
    let text = match &args.config {
        Some(p) => {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
        }
        None => String::new(),
    };
    let config = TrainConfig::from_toml(&text, overrides).with_context(|| match &args.config {
        Some(p) => format!("in {}", p.display()),
        None => "in the command-line overrides".into(),
    })?;
    let out = args.out.clone().unwrap_or_else(|| {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        PathBuf::from(format!("runs/{secs}"))
    });
    Ok((Plan::New(Box::new(config)), out))
}

/// The data-parallel devices of a saved run (none when its config cannot be read: the
/// resume itself then reports why).
fn saved_workers(out: &std::path::Path) -> Vec<String> {
    let path = multipose::train::RunDir::new(out).config();
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| TrainConfig::from_toml(&t, &[]).ok())
        .map_or_else(Vec::new, |c| c.engine.workers())
}

/// Runs this command again once per device as the ranks of one run, and waits for them.
fn launch_workers(
    args: &TrainArgs,
    plan: &Plan,
    out: &std::path::Path,
    devices: Vec<String>,
    interrupt: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<()> {
    let mut worker_args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if matches!(plan, Plan::New(_)) && args.out.is_none() {
        // Every rank must write (or skip writing) the same folder.
        worker_args.extend(["--out".into(), out.as_os_str().to_owned()]);
    }
    if !args.quiet {
        eprintln!(
            "training into {} on {} devices ({}), one process each; interrupt any time",
            out.display(),
            devices.len(),
            devices.join(", ")
        );
    }
    let launch = Launch {
        devices,
        program: std::env::current_exe().context("locating the multipose executable")?,
        args: worker_args,
        grace: std::time::Duration::from_secs(20),
    };
    multipose::distributed::launch(&launch, interrupt).map_err(|e| match e {
        multipose::Error::Interrupted(m) if multipose::train::holds_run(out) => {
            anyhow::Error::new(multipose::Error::Interrupted(format!(
                "{m}; continue with `multipose train --resume {}`",
                out.display()
            )))
        }
        e if matches!(plan, Plan::New(_)) => with_resume_hint(e, out),
        e => anyhow::Error::new(e),
    })
}

/// Adds how to continue to an error after which the run folder holds saved epochs.
fn with_resume_hint(e: multipose::Error, out: &std::path::Path) -> anyhow::Error {
    // Interruptions and divergence say themselves how to go on.
    let says_how = matches!(
        e,
        multipose::Error::Interrupted(_)
            | multipose::Error::Diverged(_)
            | multipose::Error::RunInUse { .. }
    );
    if multipose::train::holds_run(out) && !says_how {
        anyhow::anyhow!(
            "{e}; the last complete epoch is saved: continue with `multipose train --resume {}`",
            out.display()
        )
    } else {
        anyhow::Error::new(e)
    }
}

fn print_summary(summary: &multipose::train::Summary, out: &std::path::Path) {
    println!(
        "{} epochs (best {}{}) in {:.0} s; outputs in {}",
        summary.epochs,
        summary.best_epoch + 1,
        if summary.stopped_early {
            ", stopped early"
        } else {
            ""
        },
        summary.seconds,
        out.display()
    );
    for part in ["train", "val", "test"] {
        let n = summary.sizes.get(part).copied().unwrap_or(0);
        match summary.metrics.get(part).copied().flatten() {
            Some(m) => println!("{part:>5} (n={n}): {m}"),
            None => println!("{part:>5} (n={n}): too few in-range labels for metrics"),
        }
        if let Some(t) = summary.per_target.get(part) {
            print_target_means(part, t);
        }
    }
    if !summary.skipped.is_empty() {
        println!(
            "{} compound(s) or target(s) left out while loading (listed in summary.json):",
            summary.skipped.len()
        );
        for (id, why) in summary.skipped.iter().take(10) {
            println!("  {id}: {why}");
        }
    }
}

pub fn config(args: ConfigArgs) -> anyhow::Result<()> {
    if !args.default {
        anyhow::bail!("use `multipose config --default` to print the default configuration");
    }
    print!("{}", default_toml_commented());
    Ok(())
}

/// The per-target means of one part, when the data has more than one target.
fn print_target_means(part: &str, t: &multipose::train::TargetMetrics) {
    let targets = t.per_target.len() + t.too_small.len();
    if targets < 2 {
        return;
    }
    let small = if t.too_small.is_empty() {
        String::new()
    } else {
        format!(
            "; {} target(s) with too few labels left out: {}",
            t.too_small.len(),
            t.too_small.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    };
    match t.headline() {
        Some(line) => println!("{part:>5} {line}{small}"),
        None => println!("{part:>5} per-target means: no target large enough{small}"),
    }
}

/// The one override `--resume` accepts: `--optim.epochs N`, to extend a run.
fn resume_epochs(overrides: &[(String, String)]) -> anyhow::Result<Option<usize>> {
    let mut epochs = None;
    for (key, value) in overrides {
        if key != "optim.epochs" {
            anyhow::bail!(
                "--resume continues a run with its saved config.toml; only --optim.epochs may change (to extend it), not --{key}"
            );
        }
        let n: usize = value
            .trim()
            .parse()
            .with_context(|| format!("--optim.epochs {value}: expected a whole number"))?;
        if n == 0 {
            anyhow::bail!("--optim.epochs must be at least 1");
        }
        epochs = Some(n);
    }
    Ok(epochs)
}
