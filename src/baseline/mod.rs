//! Ligand-only baselines a structure-based model must beat: the training mean, a linear
//! fit on molecular weight (the Polaris challenge's own baseline) and kernel ridge on
//! Morgan count fingerprints, all from the ligand's bond table in the pose file.

mod kernel_ridge;

pub use kernel_ridge::{KernelRidge, LAMBDAS};

use crate::chem::{Fingerprint, MolGraph, morgan_counts};
use crate::dataset::CompoundData;
use serde::{Deserialize, Serialize};

/// Morgan radius of the fingerprint baseline (ECFP4's environments).
pub const MORGAN_RADIUS: usize = 2;

crate::choice! {
    /// Which ligand-only model.
    pub enum LigandModelKind {
        /// The mean training label.
        TrainMean = "train_mean",
        /// Least squares on molecular weight.
        MwLinear = "mw_linear",
        /// Kernel ridge, MinMax kernel on Morgan counts (radius 2), λ by leave-one-out.
        Fingerprint = "fingerprint",
    }
}

/// What the ligand-only models read of a compound.
#[derive(Debug, Clone)]
pub struct LigandFeatures {
    /// Average molecular weight, implicit hydrogens included.
    pub molecular_weight: f64,
    /// Morgan counts, radius [`MORGAN_RADIUS`].
    pub fingerprint: Fingerprint,
}

/// The ligand of pose 0 as a heavy-atom graph (every pose of a compound shares it).
pub fn ligand_graph(c: &CompoundData) -> MolGraph {
    let pose = &c.poses[0];
    let z = &pose.z()[pose.len().saturating_sub(c.ligand_atoms)..];
    MolGraph::new(z, &c.ligand_bonds)
}

/// Features of one compound.
pub fn features(c: &CompoundData) -> LigandFeatures {
    let g = ligand_graph(c);
    LigandFeatures {
        molecular_weight: g.molecular_weight(),
        fingerprint: morgan_counts(&g, MORGAN_RADIUS),
    }
}

/// Butina cluster of every compound (as text, a split group key): compounds of several
/// targets are clustered together, so one ligand has one cluster in every target.
pub fn cluster_keys(compounds: &[CompoundData]) -> Vec<String> {
    let fps: Vec<Fingerprint> = compounds.iter().map(|c| features(c).fingerprint).collect();
    crate::chem::butina(&fps, crate::chem::BUTINA_THRESHOLD)
        .into_iter()
        .map(|k| format!("cluster{k}"))
        .collect()
}

/// A fitted ligand-only model.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LigandModel {
    /// Predicts the training mean.
    TrainMean {
        /// The mean.
        mean: f64,
    },
    /// intercept + slope · molecular weight.
    MwLinear {
        /// Per g/mol.
        slope: f64,
        /// At zero weight.
        intercept: f64,
    },
    /// Kernel ridge on fingerprints.
    Fingerprint(KernelRidge),
}

impl LigandModel {
    /// Fits `kind` on `x`, `y`; `None` without at least 2 compounds.
    pub fn fit(kind: LigandModelKind, x: &[&LigandFeatures], y: &[f64]) -> Option<LigandModel> {
        if x.len() < 2 || x.len() != y.len() {
            return None;
        }
        let n = y.len() as f64;
        let mean = y.iter().sum::<f64>() / n;
        Some(match kind {
            LigandModelKind::TrainMean => LigandModel::TrainMean { mean },
            LigandModelKind::MwLinear => {
                let w: Vec<f64> = x.iter().map(|f| f.molecular_weight).collect();
                let wm = w.iter().sum::<f64>() / n;
                let sxx: f64 = w.iter().map(|v| (v - wm).powi(2)).sum();
                let sxy: f64 = w.iter().zip(y).map(|(v, t)| (v - wm) * (t - mean)).sum();
                let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
                LigandModel::MwLinear {
                    slope,
                    intercept: mean - slope * wm,
                }
            }
            LigandModelKind::Fingerprint => {
                let fps: Vec<Fingerprint> = x.iter().map(|f| f.fingerprint.clone()).collect();
                LigandModel::Fingerprint(KernelRidge::fit(&fps, y)?)
            }
        })
    }

    /// Predictions for `x`.
    pub fn predict(&self, x: &[&LigandFeatures]) -> Vec<f64> {
        match self {
            LigandModel::TrainMean { mean } => vec![*mean; x.len()],
            LigandModel::MwLinear { slope, intercept } => x
                .iter()
                .map(|f| intercept + slope * f.molecular_weight)
                .collect(),
            LigandModel::Fingerprint(k) => {
                let fps: Vec<Fingerprint> = x.iter().map(|f| f.fingerprint.clone()).collect();
                k.predict(&fps)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feat(mw: f64, fp: &[(u64, u32)]) -> LigandFeatures {
        LigandFeatures {
            molecular_weight: mw,
            fingerprint: Fingerprint {
                counts: fp.to_vec(),
            },
        }
    }

    #[test]
    fn mean_and_weight_baselines() {
        let x = [feat(300.0, &[]), feat(400.0, &[]), feat(500.0, &[])];
        let refs: Vec<&LigandFeatures> = x.iter().collect();
        let y = [5.0, 6.0, 7.0];
        let m = LigandModel::fit(LigandModelKind::TrainMean, &refs, &y).unwrap();
        assert_eq!(m.predict(&refs[..1]), vec![6.0]);
        let m = LigandModel::fit(LigandModelKind::MwLinear, &refs, &y).unwrap();
        let p = m.predict(&[&feat(450.0, &[])]);
        assert!((p[0] - 6.5).abs() < 1e-12, "{p:?}");
        // Serialised and read back, it predicts the same.
        let back: LigandModel = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back.predict(&refs), m.predict(&refs));
    }
}
