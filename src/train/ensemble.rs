//! The members of a prediction ensemble: trained multi-pose runs and saved ligand-only
//! models side by side, and folders that list several (`ensemble.json`).

use super::{DataConfig, EnsemblePrediction, TrainedModel};
use crate::baseline::SavedLigandModel;
use crate::combine::Prediction;
use crate::dataset::CompoundData;
use crate::error::{Error, Result};
use candle_core::Device;
use std::path::{Path, PathBuf};

/// File of an ensemble folder: `{"members": ["sub/folder", ...]}`, paths relative to it.
pub const ENSEMBLE_FILE: &str = "ensemble.json";

/// One model of an ensemble.
pub enum Member {
    /// A run folder of `multipose train` (or `import-mtenn`).
    Structure(Box<TrainedModel>),
    /// A ligand-only model of `multipose fit-baseline`.
    Ligand(Box<SavedLigandModel>),
}

/// Every member model of `dirs`: an ensemble folder gives its listed members, a ligand
/// model folder its model, anything else is read as a run folder.
pub fn load_members(dirs: &[PathBuf], device: &Device) -> Result<Vec<(PathBuf, Member)>> {
    let mut out = Vec::new();
    for dir in dirs {
        let list = dir.join(ENSEMBLE_FILE);
        if list.is_file() {
            for sub in ensemble_members(&list)? {
                let member = dir.join(sub);
                if member.join(ENSEMBLE_FILE).is_file() {
                    return Err(Error::Input {
                        path: list,
                        message: "an ensemble member is an ensemble itself".into(),
                    });
                }
                out.extend(load_members(&[member], device)?);
            }
        } else if SavedLigandModel::is_in(dir) {
            out.push((
                dir.clone(),
                Member::Ligand(Box::new(SavedLigandModel::load(dir)?)),
            ));
        } else {
            out.push((
                dir.clone(),
                Member::Structure(Box::new(TrainedModel::load(dir, device)?)),
            ));
        }
    }
    Ok(out)
}

fn ensemble_members(list: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(list).map_err(Error::io(list))?;
    let bad = |message: String| Error::Input {
        path: list.to_path_buf(),
        message,
    };
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let members: Vec<String> = v["members"]
        .as_array()
        .ok_or_else(|| bad("expected {\"members\": [folders]}".into()))?
        .iter()
        .map(|m| {
            m.as_str()
                .map(str::to_string)
                .ok_or_else(|| bad(format!("member {m} is not a folder name")))
        })
        .collect::<Result<_>>()?;
    if members.is_empty() {
        return Err(bad("no members".into()));
    }
    Ok(members)
}

impl Member {
    /// The data settings predictions load with: the run's, or the training defaults for
    /// a ligand-only model (which reads only the ligand's bond table).
    pub fn data_config(&self) -> Option<&DataConfig> {
        match self {
            Member::Structure(m) => Some(&m.config.data),
            Member::Ligand(_) => None,
        }
    }

    /// Per-compound predictions; a ligand-only model predicts the same value for every
    /// pose and weighs the poses equally.
    pub fn predict(&self, compounds: &[CompoundData]) -> Result<Vec<Prediction>> {
        match self {
            Member::Structure(m) => m.predict(compounds),
            Member::Ligand(m) => Ok(m
                .predict(compounds)?
                .into_iter()
                .zip(compounds)
                .map(|(v, c)| {
                    let n = c.poses.len().max(1);
                    Prediction {
                        poses: vec![v; n],
                        combined: v,
                        output: v,
                        weights: vec![1.0 / n as f64; n],
                    }
                })
                .collect()),
        }
    }
}

/// The data settings an ensemble predicts with (pose selection, pocket, hydrogens): the
/// runs', else the training defaults. Runs that read their data differently cannot share
/// one loaded dataset: an error names them and the setting (each member must see what it
/// was trained on).
pub fn data_settings(members: &[(PathBuf, Member)]) -> Result<DataConfig> {
    let mut runs = members
        .iter()
        .filter_map(|(p, m)| m.data_config().map(|d| (p, d)));
    let Some((first_path, first)) = runs.next() else {
        return Ok(DataConfig::default());
    };
    for (path, d) in runs {
        let differs = [
            (
                "data.poses",
                d.poses != first.poses,
                format!("{}", d.poses),
                format!("{}", first.poses),
            ),
            (
                "data.pocket_radius",
                d.pocket_radius != first.pocket_radius,
                d.pocket_radius.to_string(),
                first.pocket_radius.to_string(),
            ),
            (
                "data.keep_hydrogens",
                d.keep_hydrogens != first.keep_hydrogens,
                d.keep_hydrogens.to_string(),
                first.keep_hydrogens.to_string(),
            ),
        ];
        if let Some((key, _, theirs, ours)) = differs.into_iter().find(|x| x.1) {
            return Err(Error::InvalidConfig(format!(
                "the models read their data differently: {} has {key} = {ours}, {} has {theirs}; predict with them separately",
                first_path.display(),
                path.display()
            )));
        }
    }
    Ok(first.clone())
}

/// Per compound, the ensemble (mean ± std) of every member's prediction.
pub fn predict_members(
    members: &[(PathBuf, Member)],
    compounds: &[CompoundData],
) -> Result<Vec<EnsemblePrediction>> {
    let per_model = members
        .iter()
        .map(|(_, m)| m.predict(compounds))
        .collect::<Result<Vec<_>>>()?;
    (0..compounds.len())
        .map(|k| {
            let preds: Vec<Prediction> = per_model.iter().map(|p| p[k].clone()).collect();
            EnsemblePrediction::of(&preds)
        })
        .collect()
}
