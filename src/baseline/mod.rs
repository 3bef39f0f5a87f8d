//! Ligand-only baselines a structure-based model must beat: the training mean, a linear
//! fit on molecular weight (the Polaris challenge's own baseline) and kernel ridge on
//! Morgan count fingerprints, all from the ligand's bond table in the pose file.

mod kernel_ridge;
mod saved;

pub use kernel_ridge::{KernelRidge, LAMBDAS, RHOS};
pub use saved::{LIGAND_MODEL_FILE, SavedLigandModel};

use crate::chem::{Fingerprint, MolGraph, morgan_counts};
use crate::dataset::CompoundData;
use serde::{Deserialize, Serialize};

/// Morgan radius of the fingerprint baseline (ECFP6's environments: radius 3 gave a lower
/// grouped-CV MAE on Polaris than 2, and 4 no lower than 3).
pub const MORGAN_RADIUS: usize = 3;

crate::choice! {
    /// Which ligand-only model.
    pub enum LigandModelKind {
        /// The mean training label.
        TrainMean = "train_mean",
        /// Least squares on molecular weight.
        MwLinear = "mw_linear",
        /// Least squares on the best docking score of the docked poses (not ligand-only:
        /// it reads the poses' scores; the calibrated form of the `vina` arm).
        VinaLinear = "vina_linear",
        /// Kernel ridge, MinMax kernel on Morgan counts (radius 3), over all targets at
        /// once (task correlation ρ), λ and ρ by leave-one-out.
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
    /// The best (lowest) docking score of the docked poses, if any pose has one.
    pub best_score: Option<f64>,
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
    let best_score = c.best_docked_score();
    LigandFeatures {
        molecular_weight: g.molecular_weight(),
        fingerprint: morgan_counts(&g, MORGAN_RADIUS),
        best_score,
    }
}

/// The ligand of a compound across targets: its id without the `target/` prefix that a
/// dataset of several targets gives it.
pub fn ligand_name(c: &CompoundData) -> &str {
    c.id.strip_prefix(&format!("{}/", c.target))
        .unwrap_or(&c.id)
}

/// A number per distinct ligand name (rows of one ligand on several targets share it).
pub fn ligand_indices<'a>(names: impl Iterator<Item = &'a str>) -> Vec<usize> {
    let mut seen: std::collections::HashMap<&str, usize> = Default::default();
    names
        .map(|n| {
            let k = seen.len();
            *seen.entry(n).or_insert(k)
        })
        .collect()
}

/// Butina cluster of every compound (as text, a split group key): compounds of several
/// targets are clustered together, so one ligand has one cluster in every target.
pub fn cluster_keys(compounds: &[CompoundData]) -> Vec<String> {
    let fps: Vec<Fingerprint> = compounds
        .iter()
        .map(|c| morgan_counts(&ligand_graph(c), MORGAN_RADIUS))
        .collect();
    crate::chem::butina(&fps, crate::chem::BUTINA_THRESHOLD)
        .into_iter()
        .map(|k| format!("cluster{k}"))
        .collect()
}

/// A fitted ligand-only model.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LigandModel {
    /// Predicts each target's training mean.
    TrainMean {
        /// The mean per target.
        means: Vec<f64>,
    },
    /// intercept + slope · molecular weight, per target.
    MwLinear {
        /// (slope per g/mol, intercept) per target.
        fits: Vec<(f64, f64)>,
    },
    /// intercept + slope · best docking score, per target (the target's mean for a
    /// compound without a score).
    VinaLinear {
        /// (slope per kcal/mol, intercept) per target.
        fits: Vec<(f64, f64)>,
        /// The mean per target.
        means: Vec<f64>,
    },
    /// Kernel ridge on fingerprints.
    Fingerprint(KernelRidge),
}

impl LigandModel {
    /// Fits `kind` on `x`, `y` with `tasks[i]` the (0-based) target of row i and
    /// `ligands[i]` its ligand (equal across targets): the mean and weight baselines per
    /// target, the fingerprint model over all targets. `None` without at least 2 rows on
    /// every target.
    pub fn fit(
        kind: LigandModelKind,
        x: &[&LigandFeatures],
        (tasks, ligands): (&[usize], &[usize]),
        y: &[f64],
    ) -> Option<LigandModel> {
        if x.len() != y.len() || x.len() != tasks.len() || x.len() != ligands.len() {
            return None;
        }
        let n_tasks = tasks.iter().max().map_or(0, |m| m + 1);
        let of = |t: usize| -> Vec<usize> { (0..x.len()).filter(|&i| tasks[i] == t).collect() };
        if (0..n_tasks).any(|t| of(t).len() < 2) || n_tasks == 0 {
            return None;
        }
        Some(match kind {
            LigandModelKind::TrainMean => LigandModel::TrainMean {
                means: (0..n_tasks).map(|t| mean(&of(t), y)).collect(),
            },
            LigandModelKind::MwLinear => LigandModel::MwLinear {
                fits: (0..n_tasks)
                    .map(|t| line_fit(&of(t), &|i| Some(x[i].molecular_weight), y))
                    .collect(),
            },
            LigandModelKind::VinaLinear => LigandModel::VinaLinear {
                fits: (0..n_tasks)
                    .map(|t| line_fit(&of(t), &|i| x[i].best_score, y))
                    .collect(),
                means: (0..n_tasks).map(|t| mean(&of(t), y)).collect(),
            },
            LigandModelKind::Fingerprint => {
                let fps: Vec<Fingerprint> = x.iter().map(|f| f.fingerprint.clone()).collect();
                LigandModel::Fingerprint(KernelRidge::fit_tasks(&fps, tasks, ligands, y)?)
            }
        })
    }

    /// Predictions for `x` on targets `tasks` (`NaN` for a target the model lacks).
    pub fn predict(&self, x: &[&LigandFeatures], tasks: &[usize]) -> Vec<f64> {
        match self {
            LigandModel::TrainMean { means } => tasks
                .iter()
                .map(|&t| means.get(t).copied().unwrap_or(f64::NAN))
                .collect(),
            LigandModel::MwLinear { fits } => x
                .iter()
                .zip(tasks)
                .map(|(f, &t)| {
                    fits.get(t)
                        .map_or(f64::NAN, |(a, b)| b + a * f.molecular_weight)
                })
                .collect(),
            LigandModel::VinaLinear { fits, means } => x
                .iter()
                .zip(tasks)
                .map(|(f, &t)| match (fits.get(t), f.best_score) {
                    (Some((a, b)), Some(s)) => b + a * s,
                    _ => means.get(t).copied().unwrap_or(f64::NAN),
                })
                .collect(),
            LigandModel::Fingerprint(k) => {
                let fps: Vec<&Fingerprint> = x.iter().map(|f| &f.fingerprint).collect();
                k.predict_tasks(&fps, tasks)
            }
        }
    }
}

fn mean(idx: &[usize], y: &[f64]) -> f64 {
    idx.iter().map(|&i| y[i]).sum::<f64>() / idx.len().max(1) as f64
}

/// (slope, intercept) of least squares of y on `v(i)` over the rows of `idx` that have
/// a value (slope 0 and the mean without two distinct values).
fn line_fit(idx: &[usize], v: &dyn Fn(usize) -> Option<f64>, y: &[f64]) -> (f64, f64) {
    let pts: Vec<(f64, f64)> = idx.iter().filter_map(|&i| Some((v(i)?, y[i]))).collect();
    let n = pts.len().max(1) as f64;
    let (vm, ym) = (
        pts.iter().map(|p| p.0).sum::<f64>() / n,
        pts.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let sxx: f64 = pts.iter().map(|p| (p.0 - vm).powi(2)).sum();
    let sxy: f64 = pts.iter().map(|p| (p.0 - vm) * (p.1 - ym)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    (slope, ym - slope * vm)
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
            // A docking score that tracks the weight: -1 kcal/mol per 100 g/mol.
            best_score: Some(-mw / 100.0),
        }
    }

    #[test]
    fn mean_and_weight_baselines() {
        let x = [
            feat(300.0, &[]),
            feat(400.0, &[]),
            feat(500.0, &[]),
            feat(300.0, &[]),
            feat(500.0, &[]),
        ];
        let refs: Vec<&LigandFeatures> = x.iter().collect();
        let (y, tasks) = ([5.0, 6.0, 7.0, 1.0, 2.0], [0, 0, 0, 1, 1]);
        let ligands = [0, 1, 2, 3, 4];
        let m =
            LigandModel::fit(LigandModelKind::TrainMean, &refs, (&tasks, &ligands), &y).unwrap();
        assert_eq!(m.predict(&refs[..2], &[0, 1]), vec![6.0, 1.5]);
        let m = LigandModel::fit(LigandModelKind::MwLinear, &refs, (&tasks, &ligands), &y).unwrap();
        let p = m.predict(&[&feat(450.0, &[]), &feat(400.0, &[])], &[0, 1]);
        assert!(
            (p[0] - 6.5).abs() < 1e-12 && (p[1] - 1.5).abs() < 1e-12,
            "{p:?}"
        );
        assert!(m.predict(&refs[..1], &[2])[0].is_nan());
        let m =
            LigandModel::fit(LigandModelKind::VinaLinear, &refs, (&tasks, &ligands), &y).unwrap();
        let p = m.predict(&[&feat(450.0, &[])], &[0]);
        assert!((p[0] - 6.5).abs() < 1e-12, "{p:?}");
        let unscored = LigandFeatures {
            best_score: None,
            ..feat(450.0, &[])
        };
        assert_eq!(m.predict(&[&unscored], &[1]), vec![1.5]);
        // Serialised and read back, it predicts the same.
        let back: LigandModel = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back.predict(&refs, &tasks), m.predict(&refs, &tasks));
        // A target with one compound cannot be fitted.
        let short = (&tasks[..4], &ligands[..4]);
        assert!(LigandModel::fit(LigandModelKind::TrainMean, &refs[..4], short, &y[..4]).is_none());
    }
}
