//! `multipose import-mtenn`: an mtenn model (weights, optional model config) as a run folder.

use anyhow::Context;
use clap::Args;
use multipose::train::{import_mtenn, mtenn_settings};
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

pub fn run(args: ImportArgs, overrides: Vec<(String, String)>) -> anyhow::Result<()> {
    let text = match &args.config {
        Some(path) => Some(
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        ),
        None => None,
    };
    let model_config = text.as_deref().zip(args.config.as_deref());
    let (config, keys, assumed) =
        mtenn_settings(model_config, overrides).context("in the import settings")?;
    for a in assumed {
        eprintln!("assumed {a} (set it with --section.key or --config model_config.json)");
    }
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
