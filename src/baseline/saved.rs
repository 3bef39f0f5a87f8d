//! A ligand-only model saved for `multipose predict`: the fitted model and the names of
//! the targets it was fitted on, in `<dir>/ligand_model.json`.

use super::{
    LigandFeatures, LigandModel, LigandModelKind, MORGAN_RADIUS, features, ligand_indices,
    ligand_name,
};
use crate::dataset::{CompoundData, Qualifier};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::Path;

/// File name of a saved ligand-only model inside its folder.
pub const LIGAND_MODEL_FILE: &str = "ligand_model.json";
const FORMAT: &str = "multipose-ligand-model-1";

/// A fitted ligand-only model with what it needs to predict new compounds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedLigandModel {
    /// File format tag.
    pub format: String,
    /// Which model.
    pub kind: LigandModelKind,
    /// Morgan radius of its fingerprints (predicting with another would be wrong).
    pub morgan_radius: usize,
    /// Target names, in the model's task order.
    pub targets: Vec<String>,
    /// Training compounds (exact labels) per target.
    pub compounds: Vec<usize>,
    /// The model.
    pub model: LigandModel,
}

impl SavedLigandModel {
    /// Whether `dir` holds a saved ligand-only model.
    pub fn is_in(dir: &Path) -> bool {
        dir.join(LIGAND_MODEL_FILE).is_file()
    }

    /// Fits `kind` on every compound with an exact label.
    pub fn fit(kind: LigandModelKind, compounds: &[CompoundData]) -> Result<SavedLigandModel> {
        let used: Vec<&CompoundData> = compounds
            .iter()
            .filter(|c| {
                c.label
                    .as_ref()
                    .is_some_and(|l| l.qualifier == Qualifier::Exact)
            })
            .collect();
        let targets: Vec<String> = used
            .iter()
            .map(|c| c.target.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let task = |c: &CompoundData| targets.iter().position(|t| *t == c.target).unwrap_or(0);
        let feats: Vec<LigandFeatures> = used.iter().map(|c| features(c)).collect();
        let x: Vec<&LigandFeatures> = feats.iter().collect();
        let tasks: Vec<usize> = used.iter().map(|c| task(c)).collect();
        let y: Vec<f64> = used
            .iter()
            .filter_map(|c| c.label.as_ref().map(|l| l.value))
            .collect();
        let ligands = ligand_indices(used.iter().map(|c| ligand_name(c)));
        let model = LigandModel::fit(kind, &x, (&tasks, &ligands), &y).ok_or_else(|| {
            Error::InvalidConfig(format!(
                "{kind} needs at least 2 compounds with exact labels on every target ({} found)",
                used.len()
            ))
        })?;
        let compounds = (0..targets.len())
            .map(|t| tasks.iter().filter(|&&k| k == t).count())
            .collect();
        Ok(SavedLigandModel {
            format: FORMAT.into(),
            kind,
            morgan_radius: MORGAN_RADIUS,
            targets,
            compounds,
            model,
        })
    }

    /// Writes `dir/ligand_model.json`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
        let text = serde_json::to_string(self).map_err(|e| Error::InvalidConfig(e.to_string()))?;
        crate::train::write_text(&dir.join(LIGAND_MODEL_FILE), &text)
    }

    /// Reads `dir/ligand_model.json`, refusing other formats and fingerprint radii.
    pub fn load(dir: &Path) -> Result<SavedLigandModel> {
        let path = dir.join(LIGAND_MODEL_FILE);
        let text = std::fs::read_to_string(&path).map_err(Error::io(&path))?;
        let m: SavedLigandModel = serde_json::from_str(&text).map_err(|e| Error::Input {
            path: path.clone(),
            message: format!("not a ligand model: {e}"),
        })?;
        if m.format != FORMAT || m.morgan_radius != MORGAN_RADIUS {
            return Err(Error::Input {
                path,
                message: format!(
                    "format {} with Morgan radius {}; this multipose reads {FORMAT} with radius {MORGAN_RADIUS}: refit it",
                    m.format, m.morgan_radius
                ),
            });
        }
        Ok(m)
    }

    /// Predictions for `compounds`; a compound of a target the model was not fitted on
    /// is an error naming the targets it knows.
    pub fn predict(&self, compounds: &[CompoundData]) -> Result<Vec<f64>> {
        let tasks = compounds
            .iter()
            .map(|c| {
                self.targets.iter().position(|t| *t == c.target).ok_or_else(|| {
                    Error::InvalidConfig(format!(
                        "compound `{}` is of target `{}`, but this {} model was fitted on {} (name the target folders so)",
                        c.id,
                        c.target,
                        self.kind,
                        self.targets.join(", ")
                    ))
                })
            })
            .collect::<Result<Vec<usize>>>()?;
        let feats: Vec<LigandFeatures> = compounds.iter().map(features).collect();
        let x: Vec<&LigandFeatures> = feats.iter().collect();
        Ok(self.model.predict(&x, &tasks))
    }
}
