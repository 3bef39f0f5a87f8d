//! `multipose dock`: SMILES (and labels) to a multi-pose dataset, through RDKit, meeko and
//! AutoDock Vina in Python.

use anyhow::Context;
use clap::Args;
use multipose::dock::{DockJob, DockSettings, Site, Target, default_python, run};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

/// Arguments of `multipose dock`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example (the Polaris set, two receptors, each site its bound ligand):
  multipose dock --input data/polaris/source/train.csv \\
    --receptor sars_cov_2_mpro=data/polaris/source/sars_cov_2_mpro.pdb \\
    --receptor mers_cov_mpro=data/polaris/source/mers_cov_mpro.pdb \\
    --label sars_cov_2_mpro=pIC50_sars_cov_2_mpro --label mers_cov_mpro=pIC50_mers_cov_mpro \\
    --out runs/polaris-docked --jobs 16

A rerun of the same command resumes: finished compounds are kept, the rest is docked.
Failures (unparsable SMILES, embedding, Vina, a label that is not a number) are listed
with their input line in OUT/docking.csv and at the end; `--retry-failed` tries them again.
Needs a Python with vina, meeko, rdkit and gemmi: `pip install -r tools/dock/requirements.txt`."
)]
pub struct DockArgs {
    /// CSV of compounds: an id column, a SMILES or CXSMILES column, optional label columns.
    #[arg(long)]
    input: PathBuf,
    /// A target and its receptor PDB, `NAME=FILE` (repeat for several targets). HETATM
    /// records (waters, ions, the bound ligand) are left out of the receptor.
    #[arg(long = "receptor", value_name = "NAME=FILE", required = true)]
    receptors: Vec<String>,
    /// Where to dock, `NAME=SPEC`: `ligand` (the receptor's first bound ligand, the
    /// default), `ligand:RES[:CHAIN]`, `sdf:FILE` (a ligand's heavy atoms) or
    /// `box:X,Y,Z,EDGE`.
    #[arg(long = "site", value_name = "NAME=SPEC")]
    sites: Vec<String>,
    /// The label column of a target, `NAME=COLUMN`; values are written to its labels.csv.
    #[arg(long = "label", value_name = "NAME=COLUMN")]
    labels: Vec<String>,
    /// Output folder (a folder of targets that `train`, `predict` and `benchmark` read).
    #[arg(long)]
    out: PathBuf,
    /// The id column.
    #[arg(long, default_value = "compound_id")]
    id_column: String,
    /// The SMILES column (default: `cxsmiles`, else `smiles`).
    #[arg(long)]
    smiles_column: Option<String>,
    /// Type of the label values (written to labels.csv): pIC50, pKi, IC50, Ki, ...
    #[arg(long, default_value = "pIC50")]
    label_type: String,
    /// Unit of the label values: p for values already on the −log10 scale, else M, uM, nM ...
    #[arg(long, default_value = "p")]
    label_unit: String,
    /// Dock a compound into a target only where it has a label there.
    #[arg(long)]
    labelled_only: bool,
    /// Poses kept per compound, over all its stereoisomers, best Vina score first.
    #[arg(long, default_value_t = DockSettings::default().poses)]
    poses: usize,
    /// Stereoisomers docked at most per compound: centres the SMILES leaves open, and
    /// CXSMILES AND/OR groups (`&1`, `o1`: relative configuration only), are enumerated.
    #[arg(long, default_value_t = DockSettings::default().max_isomers)]
    max_isomers: usize,
    /// Vina exhaustiveness.
    #[arg(long, default_value_t = DockSettings::default().exhaustiveness)]
    exhaustiveness: usize,
    /// Seed of 3D embedding and docking (the same seed gives the same poses).
    #[arg(long, default_value_t = DockSettings::default().seed)]
    seed: u64,
    /// Smallest box edge in Å (grown to the site's extent + 10 Å).
    #[arg(long, default_value_t = DockSettings::default().box_edge)]
    box_edge: f64,
    /// No docking: write each stereoisomer's RDKit conformer, centred on the site (seconds
    /// for thousands of compounds). For ligand-only models (`fit-baseline`), which read
    /// only the bond table; these are not poses for a structure-based model. Needs RDKit
    /// only.
    #[arg(long)]
    embed_only: bool,
    /// Worker processes, one CPU core each (default: all cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Python interpreter with the docking packages (default: $MULTIPOSE_PYTHON, else python3).
    #[arg(long)]
    python: Option<PathBuf>,
    /// Start no compound after this many seconds; the rest is left for a rerun (exit 2).
    #[arg(long)]
    deadline: Option<f64>,
    /// Dock again the compounds whose docking failed in an earlier run.
    #[arg(long)]
    retry_failed: bool,
}

fn pair(text: &str, what: &str) -> anyhow::Result<(String, String)> {
    let (k, v) = text
        .split_once('=')
        .filter(|(k, v)| !k.trim().is_empty() && !v.trim().is_empty())
        .with_context(|| format!("{what} `{text}`: expected NAME=VALUE"))?;
    Ok((k.trim().to_string(), v.trim().to_string()))
}

fn targets(args: &DockArgs) -> anyhow::Result<Vec<Target>> {
    let mut out: Vec<Target> = Vec::new();
    for r in &args.receptors {
        let (name, file) = pair(r, "--receptor")?;
        if out.iter().any(|t| t.name == name) {
            anyhow::bail!("--receptor: target `{name}` given twice");
        }
        if multipose::dock::file_stem(&name) != name {
            anyhow::bail!(
                "--receptor: target name `{name}` must be letters, digits, `.`, `_` or `-`"
            );
        }
        out.push(Target {
            name,
            receptor: PathBuf::from(file),
            site: Site::Ligand {
                resname: None,
                chain: None,
            },
            label: None,
        });
    }
    let find = |out: &mut Vec<Target>, name: &str, flag: &str| -> anyhow::Result<usize> {
        out.iter()
            .position(|t| t.name == name)
            .with_context(|| format!("{flag}: no --receptor named `{name}`"))
    };
    for s in &args.sites {
        let (name, spec) = pair(s, "--site")?;
        let k = find(&mut out, &name, "--site")?;
        out[k].site = spec.parse().with_context(|| format!("--site {s}"))?;
    }
    for l in &args.labels {
        let (name, column) = pair(l, "--label")?;
        let k = find(&mut out, &name, "--label")?;
        out[k].label = Some(column);
    }
    Ok(out)
}

pub fn run_cmd(args: DockArgs) -> anyhow::Result<()> {
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let job = DockJob {
        input: args.input.clone(),
        id_column: args.id_column.clone(),
        smiles_column: args.smiles_column.clone(),
        targets: targets(&args)?,
        out: args.out.clone(),
        settings: DockSettings {
            poses: args.poses.max(1),
            max_isomers: args.max_isomers.max(1),
            exhaustiveness: args.exhaustiveness.max(1),
            seed: args.seed,
            box_edge: args.box_edge,
            embed_only: args.embed_only,
        },
        jobs,
        python: args.python.clone().unwrap_or_else(default_python),
        labelled_only: args.labelled_only,
        label_type: (args.label_type.clone(), args.label_unit.clone()),
        deadline: args.deadline,
        retry_failed: args.retry_failed,
    };
    // Ctrl-C reaches the Python workers too; this process stays to write what finished.
    let interrupted = std::sync::Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} dockings, ETA {eta} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let say = |m: String| {
        if bar.is_hidden() {
            eprintln!("{m}")
        } else {
            bar.println(m)
        }
    };
    let progress = |e: &multipose::dock::Event| {
        bar.set_length(e.total as u64);
        bar.set_position(e.done as u64);
        if let Some(m) = &e.message {
            say(m.clone());
        }
        if let Some(r) = &e.finished {
            let why = if r.ok {
                r.note.clone()
            } else {
                r.reason.clone()
            };
            if let Some(why) = why {
                say(format!("{} {} (line {}): {why}", r.target, r.id, r.row));
            }
        }
    };
    let result = run(&job, &progress);
    bar.finish_and_clear();
    let stopped = || {
        multipose::Error::Interrupted(
            "docking stopped; finished compounds are kept: rerun the same command to continue"
                .into(),
        )
    };
    // An interrupted worker exits with an error of its own: the interruption is the news.
    if result.is_err() && interrupted.load(Ordering::SeqCst) {
        return Err(stopped().into());
    }
    let summary = result.with_context(|| format!("docking into {}", args.out.display()))?;
    for f in &summary.failed {
        eprintln!(
            "failed: {} {} (line {}): {}",
            f.target, f.id, f.line, f.reason
        );
    }
    let per = summary
        .core_seconds_per_task
        .map_or("–".into(), |s| format!("{s:.1}"));
    eprintln!(
        "{} finished now, {} by earlier runs; {} failed in all, {} left; {} unlabelled pairs not docked; \
         {:.0} s wall, {per} s of one core per compound and target; record in {}",
        summary.docked_now,
        summary.reused,
        summary.failed.len(),
        summary.left,
        summary.unlabelled,
        summary.seconds,
        args.out.join("docking.csv").display()
    );
    if interrupted.load(Ordering::SeqCst) {
        return Err(stopped().into());
    }
    if summary.left > 0 {
        eprintln!(
            "{} compound/target pairs are still to dock: rerun the same command",
            summary.left
        );
        std::process::exit(2);
    }
    Ok(())
}
