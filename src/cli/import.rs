//! `multipose import-mtenn`: an mtenn model (weights, optional model config) as a run folder.

use anyhow::Context;
use clap::Args;
use multipose::train::{TrainConfig, import_mtenn, mtenn_config_overrides};
use std::path::PathBuf;

/// Arguments of `multipose import-mtenn`. Settings neither file gives can be set with
/// `--section.key value`; without them mtenn's defaults apply (strategy delta,
/// max_num_neighbors 32, max combination negate = true and scale 1000 when chosen) and
/// the combination is mean, stated on the way.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// mtenn weights (`safetensors.torch.save_model`): widths, interaction count,
    /// Gaussian count and the cutoff (from the stored Gaussian centres) are read from it.
    #[arg(long)]
    weights: PathBuf,
    /// asapdiscovery-ml's `model_config.json` (mtenn's SchNetModelConfig): strategy,
    /// combination, readouts and the neighbour cap. Its values must agree with the weights.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The run folder to create (then `multipose predict --model DIR ...`).
    #[arg(long)]
    out: PathBuf,
}

/// mtenn's defaults where multipose's training defaults differ; any other key keeps
/// `multipose train`'s default.
const MTENN_DEFAULTS: [(&str, &str); 6] = [
    ("model.max_num_neighbors", "32"),
    ("model.strategy", "\"delta\""),
    ("model.combination", "\"mean\""),
    ("model.negate", "true"),
    ("model.scale", "1000.0"),
    // mtenn's models see the structures they are given: no pocket crop.
    ("data.pocket_radius", "0.0"),
];

pub fn run(args: ImportArgs, overrides: Vec<(String, String)>) -> anyhow::Result<()> {
    let mut given = Vec::new();
    if let Some(path) = &args.config {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        given.extend(mtenn_config_overrides(&text, path)?);
    }
    given.extend(overrides);
    let mut all: Vec<(String, String)> = MTENN_DEFAULTS
        .iter()
        .filter(|(k, _)| !given.iter().any(|(g, _)| g == k))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (k, v) in &all {
        if k == "model.combination" || k == "model.strategy" {
            eprintln!("assumed {k} = {v} (set it with --{k} or --config model_config.json)");
        }
    }
    all.extend(given.iter().cloned());
    let config = TrainConfig::from_toml("", &all).context("in the import settings")?;
    let keys: Vec<String> = given.into_iter().map(|(k, _)| k).collect();
    let config = import_mtenn(&args.weights, config, &keys, &args.out)
        .with_context(|| format!("importing {}", args.weights.display()))?;
    let s = &config.model.schnet;
    eprintln!(
        "wrote {}: SchNet {}/{}/{} interactions/{} Gaussians, cutoff {} Å, strategy {}, combination {}",
        args.out.display(),
        s.hidden_channels,
        s.num_filters,
        s.num_interactions,
        s.num_gaussians,
        s.cutoff,
        config.model.strategy,
        config.model.combination
    );
    Ok(())
}
