//! `multipose bench`: one process per configuration so peak memory is measured alone.

use anyhow::{Context, bail};
use clap::Args;
use multipose::bench::{BenchCase, BenchResult, EpochCase, EpochResult};
use multipose::combine::{ChunkPolicy, CombinationChoice, EngineKind, GroupedConfig};
use multipose::dataset::Assay;
use multipose::model::visnet::ViSNetConfig;
use multipose::model::{RepresentationConfig, SchNetConfig, StrategyKind};
use multipose::train::{RepresentationSection, TrainConfig};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Arguments of `multipose bench`. Lists (comma-separated) run every combination, each in
/// a fresh child process so its peak RSS is its own.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Protein atoms of the synthetic complex (at protein heavy-atom density).
    #[arg(long, value_delimiter = ',', default_values_t = [4700])]
    atoms: Vec<usize>,
    /// Ligand atoms.
    #[arg(long, default_value_t = 30)]
    ligand_atoms: usize,
    /// Number of rigid ligand poses N.
    #[arg(long, value_delimiter = ',', default_values_t = [16])]
    poses: Vec<usize>,
    /// Engines: full, stored, streaming, recompute, auto.
    #[arg(long, value_delimiter = ',', default_values = ["stored", "streaming", "recompute"])]
    engine: Vec<EngineKind>,
    /// Combination: mean, max (smooth min, t = 1000, as mtenn), boltzmann (T = 1) or
    /// attention.
    #[arg(long, default_value = "mean")]
    combination: CombinationChoice,
    /// Strategy: delta, concat, complex or ligand_only.
    #[arg(long, default_value = "delta")]
    strategy: StrategyKind,
    /// Network at mtenn's default size: schnet (torch_geometric's SchNet) or visnet
    /// (torch_geometric's ViSNet: 128 wide, 6 layers, cutoff 5 Å, 32 neighbours).
    #[arg(long, default_value = "schnet")]
    network: Network,
    /// Poses per chunk (default: as many as fit --budget-mib).
    #[arg(long)]
    chunk: Option<usize>,
    /// Activation memory budget per chunk, MiB (0 = automatic: 1 GiB on CPU, half the
    /// free memory on a GPU).
    #[arg(long, default_value_t = 0)]
    budget_mib: u64,
    /// Timed repetitions per configuration (median reported; one warm-up when > 1).
    #[arg(long, default_value_t = 1)]
    repeats: usize,
    /// Device: cpu, cuda or cuda:N (CUDA needs a build from tools/cuda/build.sh).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Precision: f32 (as mtenn trains) or f64 (with --check, tests the kernels exactly).
    #[arg(long, default_value = "f32")]
    dtype: String,
    /// Also run the step on CPU in f64 and report the largest relative gradient error
    /// (slow for large N: the reference is a CPU step).
    #[arg(long)]
    check: bool,
    /// Recompute each interaction block in backward instead of keeping its activations
    /// (less memory, about a third more compute; same gradients).
    #[arg(long)]
    checkpoint: bool,
    /// Batches kept between steps, MiB (-1: 2 GiB on a GPU, in GPU memory; none on CPU).
    /// 0 keeps GPU memory flat in N.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    batch_cache_mib: i64,
    /// Split each step into phases (host batching, forward, backward), synchronising the
    /// device after each phase; the split is printed under the table.
    #[arg(long)]
    profile: bool,
    /// Print one JSON object per configuration instead of a table.
    #[arg(long)]
    json: bool,
    /// Time whole epochs instead of one step: K compounds of one receptor, each its own
    /// ligand with N poses, in optimiser batches of --batch-size (prints s/epoch and
    /// poses/s, packed and not, see --pack).
    #[arg(long)]
    compounds: Option<usize>,
    /// Compounds per optimiser batch in epoch mode.
    #[arg(long, default_value_t = 4)]
    batch_size: usize,
    /// Epoch mode: pack compounds into shared chunks (true), not (false), or both.
    #[arg(long, value_delimiter = ',', default_values_t = [true, false])]
    pack: Vec<bool>,
    /// Time whole epochs over a real dataset instead (any layout `train` reads, e.g.
    /// data/plb): its compounds and labels, the model and engine from these flags; with
    /// --compounds K, its first K compounds only.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Pocket radius around the ligand for --data, Å (0 = whole protein).
    #[arg(long, default_value_t = 10.0)]
    pocket_radius: f64,
    /// Write the (first) configuration's input and weights to this folder for
    /// `bench/mtenn_compare.py` instead of timing (with --data: the dataset's compounds).
    #[arg(long)]
    dump: Option<PathBuf>,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let engines = args.engine.clone();
    let config = grouped_config(&args)?;
    if args.chunk == Some(0) {
        bail!("--chunk must be at least 1");
    }
    if args.repeats == 0 {
        bail!("--repeats must be at least 1");
    }
    if args.batch_cache_mib < -1 {
        bail!("--batch-cache-mib must be -1 (automatic) or a size in MiB");
    }
    let device = multipose::device::parse(&args.device)?;
    let chunk = ChunkPolicy::from_settings(args.chunk.unwrap_or(0), args.budget_mib, &device);
    let dtype = match args.dtype.as_str() {
        "f32" => candle_core::DType::F32,
        "f64" => candle_core::DType::F64,
        other => bail!("unknown --dtype `{other}` (expected f32 or f64)"),
    };
    let mut cases = Vec::new();
    for &atoms in &args.atoms {
        for &poses in &args.poses {
            for &engine in &engines {
                cases.push(BenchCase {
                    atoms,
                    ligand_atoms: args.ligand_atoms,
                    poses,
                    engine,
                    chunk,
                    repeats: args.repeats,
                    config: config.clone(),
                    device: device.clone(),
                    dtype,
                    check: args.check,
                    profile: args.profile,
                    checkpoint: args.checkpoint,
                    batch_cache: usize::try_from(args.batch_cache_mib).ok().map(|m| m << 20),
                });
            }
        }
    }
    if cases.iter().any(|c| c.poses == 0 || c.atoms == 0) {
        bail!("--atoms and --poses must be at least 1");
    }
    if let Some(path) = &args.data {
        return run_dataset(&args, &cases[0], path);
    }
    if let Some(k) = args.compounds {
        return run_epochs(&args, &cases, k);
    }
    if let Some(dir) = &args.dump {
        multipose::bench::dump(&cases[0], dir)?;
        eprintln!("wrote the benchmark input to {}", dir.display());
        return Ok(());
    }
    if cases.len() == 1 {
        let r = multipose::bench::run(&cases[0])?;
        if args.json {
            println!("{}", serde_json::to_string(&r)?);
        } else {
            print_table(&[r]);
        }
        return Ok(());
    }
    let exe = std::env::current_exe().context("cannot find the multipose executable")?;
    let mut results = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        eprint!(
            "[{}/{}] {} atoms, N={}, {} ... ",
            i + 1,
            cases.len(),
            case.atoms,
            case.poses,
            case.engine.name()
        );
        std::io::stderr().flush().ok();
        let mut cmd = Command::new(&exe);
        cmd.args(["bench", "--json"])
            .arg(format!("--atoms={}", case.atoms))
            .arg(format!("--ligand-atoms={}", case.ligand_atoms))
            .arg(format!("--poses={}", case.poses))
            .arg(format!("--engine={}", case.engine.name()))
            .arg(format!("--combination={}", args.combination))
            .arg(format!("--strategy={}", args.strategy))
            // Every child times the network asked for (it once fell back to SchNet).
            .arg(format!("--network={}", args.network.name()))
            .arg(format!("--budget-mib={}", args.budget_mib))
            .arg(format!("--repeats={}", args.repeats))
            .arg(format!("--device={}", args.device))
            .arg(format!("--dtype={}", args.dtype));
        if args.check {
            cmd.arg("--check");
        }
        if args.profile {
            cmd.arg("--profile");
        }
        cmd.arg(format!("--batch-cache-mib={}", args.batch_cache_mib));
        if args.checkpoint {
            cmd.arg("--checkpoint");
        }
        if let Some(k) = args.chunk {
            cmd.arg(format!("--chunk={k}"));
        }
        let out = cmd
            .output()
            .context("cannot start a benchmark child process")?;
        if !out.status.success() {
            bail!(
                "benchmark of {} atoms, N={}, {} failed: {}",
                case.atoms,
                case.poses,
                case.engine.name(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let line = String::from_utf8_lossy(&out.stdout);
        let r: BenchResult = serde_json::from_str(line.trim())
            .with_context(|| format!("unexpected benchmark output: {line}"))?;
        eprintln!("{:.1} ms/pose", r.ms_per_pose());
        if args.json {
            println!("{}", line.trim());
        }
        results.push(r);
    }
    if !args.json {
        print_table(&results);
        print_ratios(&results);
    }
    Ok(())
}

/// Epoch mode: every case × packing, in this process, one table.
fn run_epochs(args: &BenchArgs, cases: &[BenchCase], compounds: usize) -> anyhow::Result<()> {
    if compounds == 0 || args.batch_size == 0 {
        bail!("--compounds and --batch-size must be at least 1");
    }
    let mut results = Vec::new();
    for case in cases {
        for &pack in &args.pack {
            eprint!(
                "{} atoms, K={compounds}, N={}, B={}, {}, pack={pack} ... ",
                case.atoms,
                case.poses,
                args.batch_size,
                case.engine.name()
            );
            let r = multipose::bench::run_epoch(&EpochCase {
                base: case.clone(),
                compounds,
                batch: args.batch_size,
                pack,
            })?;
            results.push(report_epoch(args, r)?);
        }
    }
    if !args.json {
        print_epoch_table(&results);
    }
    Ok(())
}

/// Says how long the epoch took, and prints its JSON line with `--json`.
fn report_epoch(args: &BenchArgs, r: EpochResult) -> anyhow::Result<EpochResult> {
    eprintln!("{:.2} s/epoch", r.epoch_s);
    if args.json {
        println!("{}", serde_json::to_string(&r)?);
    }
    Ok(r)
}

/// Epoch mode over a real dataset: loaded and graphed as `train` does, then timed like
/// the synthetic epochs (or dumped for `bench/mtenn_compare.py`).
fn run_dataset(args: &BenchArgs, case: &BenchCase, path: &Path) -> anyhow::Result<()> {
    let mut config = multipose::train::TrainConfig::default();
    config.data.path = path.to_path_buf();
    config.data.pocket_radius = args.pocket_radius;
    match &case.config.model.representation {
        RepresentationConfig::SchNet(s) => config.model.schnet = s.clone(),
        RepresentationConfig::ViSNet(v) => {
            config.model.representation = RepresentationSection::ViSNet(v.clone());
        }
    }
    config.model.strategy = args.strategy;
    let started = std::time::Instant::now();
    let mut prepared = multipose::train::prepare(&config)?;
    let keep = args.compounds.unwrap_or(usize::MAX);
    prepared.compounds.truncate(keep);
    prepared.graphs.truncate(keep);
    prepared.objectives.truncate(keep);
    let mut base = case.clone();
    base.config.readout = prepared.grouped.readout;
    if let Some(dir) = &args.dump {
        let compounds: Vec<_> = prepared
            .compounds
            .iter()
            .map(|c| {
                (
                    c.poses.clone(),
                    c.label.as_ref().map_or(f64::NAN, |l| l.value),
                )
            })
            .collect();
        let extra = serde_json::json!({"data": path.display().to_string()});
        multipose::bench::dump_compounds(&compounds, &base.config, extra, dir)?;
        eprintln!("wrote {} compounds to {}", compounds.len(), dir.display());
        return Ok(());
    }
    let set = multipose::bench::EpochSet {
        name: path.display().to_string(),
        graphs: prepared.graphs,
        objectives: prepared.objectives,
        graph_s: started.elapsed().as_secs_f64(),
    };
    let mut results = Vec::new();
    for &pack in &args.pack {
        let case = EpochCase {
            base: base.clone(),
            compounds: set.graphs.len(),
            batch: args.batch_size,
            pack,
        };
        eprint!(
            "{}, {} compounds, pack={pack} ... ",
            set.name, case.compounds
        );
        let r = multipose::bench::run_epoch_set(&case, &set)?;
        results.push(report_epoch(args, r)?);
    }
    if !args.json {
        print_epoch_table(&results);
    }
    Ok(())
}

fn print_epoch_table(results: &[EpochResult]) {
    println!(
        "| data | atoms | K | poses | N max | B | engine | pack | s/epoch | poses/s | graphs s | peak RSS MiB | loss |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---:|");
    for r in results {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.3} | {:.0} | {:.1} | {} | {:.6} |",
            r.data,
            r.atoms,
            r.compounds,
            r.total_poses,
            r.poses,
            r.batch,
            r.engine,
            r.pack,
            r.epoch_s,
            r.poses_per_s,
            r.graph_s,
            r.peak_rss_mib.map_or("–".into(), |m| format!("{m:.0}")),
            r.loss
        );
    }
}

multipose::choice! {
    /// The networks `bench` times.
    enum Network {
        /// torch_geometric's SchNet.
        Schnet = "schnet",
        /// torch_geometric's ViSNet.
        Visnet = "visnet",
    }
}

/// mtenn's model (SchNet 128/128/6/50, cutoff 10 Å, or ViSNet at torch_geometric's
/// defaults) with the flags' strategy and combination, read out as pIC50, through
/// `train`'s one conversion.
fn grouped_config(args: &BenchArgs) -> anyhow::Result<GroupedConfig> {
    let mut config = TrainConfig::default();
    let m = &mut config.model;
    m.schnet = SchNetConfig::default();
    if args.network == Network::Visnet {
        m.representation = RepresentationSection::ViSNet(ViSNetConfig::default());
    }
    m.strategy = args.strategy;
    m.combination = args.combination;
    // mtenn's constants: smooth minimum at t = 1000, Boltzmann at T = 1.
    (m.negate, m.scale, m.temperature) = (true, 1000.0, 1.0);
    Ok(multipose::train::grouped_config(&config, Assay::Pic50)?)
}

fn print_table(results: &[BenchResult]) {
    println!(
        "{:>6} {:>4} {:>5} {:>10} {:>5} {:>9} {:>10} {:>11} {:>10} {:>12}",
        "atoms",
        "lig",
        "N",
        "engine",
        "chunk",
        "edges",
        "graph ms",
        "step ms",
        "ms/pose",
        "peak RSS MiB"
    );
    let extra = |r: &BenchResult| {
        let mut s = String::new();
        if let Some(m) = r.peak_gpu_mib {
            s.push_str(&format!("  GPU peak {m:.0} MiB"));
        }
        if let (Some(e), Some(w)) = (r.grad_rel_err, &r.grad_worst) {
            s.push_str(&format!("  grad rel err {e:.1e} ({w})"));
        }
        s
    };
    for r in results {
        println!(
            "{:>6} {:>4} {:>5} {:>10} {:>5} {:>9} {:>10.1} {:>11.1} {:>10.1} {:>12}{}",
            r.atoms,
            r.ligand_atoms,
            r.poses,
            r.engine,
            r.chunk,
            r.complex_edges,
            r.graph_ms,
            r.step_ms,
            r.ms_per_pose(),
            r.peak_rss_mib.map_or("n/a".into(), |m| format!("{m:.0}")),
            extra(r)
        );
    }
    for r in results.iter().filter(|r| !r.profile.is_empty()) {
        let phases: Vec<String> = r
            .profile
            .iter()
            .map(|(name, ms)| format!("{name} {ms:.1}"))
            .collect();
        println!(
            "profile, {} atoms N={} {} (ms per step): {}",
            r.atoms,
            r.poses,
            r.engine,
            phases.join(", ")
        );
    }
}

/// Peak memory at the largest N over the smallest N, per atom count and engine.
fn print_ratios(results: &[BenchResult]) {
    let mut keys: Vec<(usize, String)> = results
        .iter()
        .map(|r| (r.atoms, r.engine.clone()))
        .collect();
    keys.sort();
    keys.dedup();
    for (atoms, engine) in keys {
        let rows: Vec<&BenchResult> = results
            .iter()
            .filter(|r| r.atoms == atoms && r.engine == engine)
            .collect();
        let (Some(lo), Some(hi)) = (
            rows.iter().min_by_key(|r| r.poses),
            rows.iter().max_by_key(|r| r.poses),
        ) else {
            continue;
        };
        if let (Some(a), Some(b)) = (lo.peak_rss_mib, hi.peak_rss_mib)
            && hi.poses > lo.poses
        {
            println!(
                "{atoms} atoms, {engine}: peak RSS N={} / N={} = {:.2}",
                hi.poses,
                lo.poses,
                b / a
            );
        }
    }
}
