//! `multipose inspect`: load a dataset and report what the model will see.

use super::data_args::DataArgs;
use clap::Args;
use multipose::dataset::{GraphCache, Qualifier, summarise_targets};
use multipose::model::{CompoundGraphs, SchNetConfig, StrategyKind};
use multipose::train::{MIN_TARGET_SIZE, TrainConfig};

/// Arguments of `multipose inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Interaction cutoff in Å for the edge counts (default: train's model.cutoff).
    #[arg(long)]
    cutoff: Option<f64>,
    /// Neighbour cap for the edge counts (default: train's model.max_num_neighbors).
    #[arg(long)]
    max_neighbors: Option<usize>,
    /// Cache graphs in this folder (a second run skips neighbour search).
    #[arg(long)]
    cache: Option<std::path::PathBuf>,
}

pub fn run(args: InspectArgs) -> anyhow::Result<()> {
    // What `train` would see with its defaults, unless the flags say otherwise.
    let defaults = TrainConfig::default();
    let data = args
        .data
        .load(defaults.data.poses, defaults.data.pocket(), true)?;
    let graph = SchNetConfig {
        cutoff: args.cutoff.unwrap_or(defaults.model.schnet.cutoff),
        max_num_neighbors: args
            .max_neighbors
            .unwrap_or(defaults.model.schnet.max_num_neighbors),
        ..defaults.model.schnet
    }
    .graph();
    let cache = args.cache.map(GraphCache::new).transpose()?;
    for note in &data.notes {
        println!("note: {note}");
    }
    println!(
        "{:<28} {:>5} {:>8} {:>7} {:>7} {:>9} {:>11} {:>10}  warnings",
        "compound", "poses", "protein", "pocket", "ligand", "edges", "label", "rmsd Å"
    );
    let mut hits = 0;
    for c in &data.compounds {
        let graphs = match &cache {
            Some(cache) => {
                let (g, lookup) =
                    cache.get_or_build(&c.id, &c.poses, StrategyKind::Complex, &graph)?;
                if let multipose::dataset::Lookup::Rebuilt(why) = &lookup {
                    eprintln!("warning: graph cache entry rebuilt: {why}");
                }
                hits += usize::from(lookup.hit());
                g
            }
            None => CompoundGraphs::build(&c.id, &c.poses, StrategyKind::Complex, &graph)?,
        };
        let edges = graphs.poses[0]
            .complex
            .as_ref()
            .map_or(0, |g| g.num_edges());
        let label = c.label.as_ref().map_or("-".to_string(), |l| {
            let q = match l.qualifier {
                Qualifier::Exact => "",
                Qualifier::Below => "<",
                Qualifier::Above => ">",
            };
            let kind = match l.assay {
                multipose::dataset::Assay::Pic50 => "pIC50",
                multipose::dataset::Assay::Pki => "pKi",
            };
            format!("{kind} {q}{:.2}", l.value)
        });
        let rmsd: Vec<f64> = c.rmsd.iter().flatten().copied().collect();
        let rmsd = if rmsd.is_empty() {
            "-".to_string()
        } else {
            let lo = rmsd.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = rmsd.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            format!("{lo:.1}–{hi:.1}")
        };
        println!(
            "{:<28} {:>5} {:>8} {:>7} {:>7} {:>9} {:>11} {:>10}  {}",
            c.id,
            c.poses.len(),
            c.protein_atoms,
            c.pocket_atoms,
            c.ligand_atoms,
            edges,
            label,
            rmsd,
            c.warnings.join("; ")
        );
    }
    for (id, why) in &data.skipped {
        println!("skipped: {id} {why}");
    }
    print_targets(&data);
    let poses: usize = data.compounds.iter().map(|c| c.poses.len()).sum();
    println!(
        "{} compounds, {} poses, {} skipped{}",
        data.compounds.len(),
        poses,
        data.skipped.len(),
        if cache.is_some() {
            format!(", {hits} graph cache hits")
        } else {
            String::new()
        }
    );
    Ok(())
}

/// Per-target table, for datasets of more than one target.
fn print_targets(data: &multipose::dataset::Dataset) {
    let targets = summarise_targets(data);
    if targets.len() < 2 {
        return;
    }
    println!(
        "\n{:<16} {:>9} {:>6} {:>6} {:>13} {:>7}",
        "target", "compounds", "exact", "poses", "labels", "skipped"
    );
    for t in &targets {
        let range = t
            .label_range
            .map_or("-".to_string(), |(lo, hi)| format!("{lo:.2}–{hi:.2}"));
        let note = if t.exact_labels < MIN_TARGET_SIZE {
            format!("  fewer than {MIN_TARGET_SIZE} exact labels: left out of per-target means")
        } else {
            String::new()
        };
        println!(
            "{:<16} {:>9} {:>6} {:>6} {:>13} {:>7}{note}",
            t.target, t.compounds, t.exact_labels, t.poses, range, t.skipped
        );
    }
    println!("{} targets", targets.len());
}
