//! `multipose fit-baseline`: a ligand-only model fitted on a whole dataset and saved for
//! `predict` / `evaluate` (alone or in an ensemble with multi-pose runs).

use super::data_args::DataArgs;
use anyhow::Context;
use clap::Args;
use multipose::baseline::{LIGAND_MODEL_FILE, LigandModel, LigandModelKind, SavedLigandModel};
use multipose::dataset::PoseSelection;
use std::path::PathBuf;

/// Arguments of `multipose fit-baseline`.
#[derive(Debug, Args)]
pub struct FitBaselineArgs {
    #[command(flatten)]
    data: DataArgs,
    /// The model: train_mean, mw_linear or fingerprint (kernel ridge on Morgan counts, all
    /// targets at once; λ and the targets' correlation by leave-one-out).
    #[arg(long, default_value = "fingerprint")]
    kind: LigandModelKind,
    /// Output folder (gets ligand_model.json).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: FitBaselineArgs) -> anyhow::Result<()> {
    let default = multipose::train::DataConfig::default();
    let data = args
        .data
        .load(PoseSelection::All, Some(default.pocket_radius), true)?;
    let saved = SavedLigandModel::fit(args.kind, &data.compounds)?;
    saved
        .save(&args.out)
        .with_context(|| format!("saving into {}", args.out.display()))?;
    for (t, n) in saved.targets.iter().zip(&saved.compounds) {
        eprintln!("{t}: {n} compounds with exact labels");
    }
    if let LigandModel::Fingerprint(k) = &saved.model {
        eprintln!(
            "kernel ridge: λ {}, target correlation ρ {}, leave-one-ligand-out MAE {:.3}",
            k.lambda, k.rho, k.loo_mae
        );
    }
    eprintln!("wrote {}", args.out.join(LIGAND_MODEL_FILE).display());
    Ok(())
}
