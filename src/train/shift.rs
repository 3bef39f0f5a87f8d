//! What a prediction adds to the network's read-out value z: the per-target offset of
//! centred labels and a learned multiple of the docking score (Δ-learning), so that the
//! prediction is z + offset(target) + a·s. Training fits the shifted prediction to the
//! label by moving each compound's objective targets by its shift (the same loss), and
//! learns a from ∂L/∂a = Σ ∂L/∂z · s, which the engines never see.

use super::checkpoint::write_text;
use super::{RunDir, TrainConfig};
use crate::combine::Objective;
use crate::dataset::CompoundData;
use crate::error::{Error, Result};
use crate::model::Params;
use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

crate::choice! {
    /// Whether labels are centred per target before training.
    #[derive(Default)]
    pub enum Offsets {
        /// Labels as they are.
        #[default]
        None = "none",
        /// Each target's mean training label is taken off its labels and added back to its
        /// predictions; a target without training compounds gets the mean of all of them.
        PerTarget = "per_target",
    }
}

/// Name of the learned coefficient a of the docking score among the parameters.
pub const DOCKING_COEF: &str = "docking.coef";

/// The mean training label of every target, and of all training compounds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetOffsets {
    /// Mean exact training label per target.
    pub targets: BTreeMap<String, f64>,
    /// Mean exact training label over all targets (for a target never trained on).
    pub pooled: f64,
}

impl TargetOffsets {
    /// The means over the exact labels of the compounds `train` (censored labels say only
    /// on which side the value lies, so they do not move a mean).
    pub fn fit(compounds: &[CompoundData], train: &[usize]) -> Self {
        let mut sums: BTreeMap<String, (f64, usize)> = BTreeMap::new();
        for c in train.iter().map(|&i| &compounds[i]) {
            if let Some(y) = c.exact_label() {
                let s = sums.entry(c.target.clone()).or_default();
                *s = (s.0 + y, s.1 + 1);
            }
        }
        let (total, n) = sums
            .values()
            .fold((0.0, 0), |(t, n), (s, k)| (t + s, n + k));
        Self {
            pooled: if n > 0 { total / n as f64 } else { 0.0 },
            targets: sums
                .into_iter()
                .map(|(t, (s, k))| (t, s / k as f64))
                .collect(),
        }
    }

    /// The offset of `target`.
    pub fn of(&self, target: &str) -> f64 {
        self.targets.get(target).copied().unwrap_or(self.pooled)
    }
}

impl Shift {
    /// The run's shift: offsets fitted on the split's training part when the loss asks
    /// for them, Δ-learning as the model says.
    pub fn fit(config: &TrainConfig, compounds: &[CompoundData], train: &[usize]) -> Self {
        Self {
            offsets: (config.loss.offsets == Offsets::PerTarget)
                .then(|| TargetOffsets::fit(compounds, train)),
            docking: config.model.delta_docking,
        }
    }

    /// The shift of the run in `dir` (trained with `config`), its offsets read back.
    pub fn load(config: &TrainConfig, dir: &RunDir) -> Result<Self> {
        let offsets = match config.loss.offsets {
            Offsets::None => None,
            Offsets::PerTarget => {
                let path = dir.offsets();
                let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
                    path: path.clone(),
                    source,
                })?;
                Some(serde_json::from_str(&text).map_err(|e| Error::Input {
                    path,
                    message: format!("not the run's offsets: {e}"),
                })?)
            }
        };
        Ok(Self {
            offsets,
            docking: config.model.delta_docking,
        })
    }

    /// Writes the offsets (if any) where [`Self::load`] reads them.
    pub fn save(&self, dir: &RunDir) -> Result<()> {
        match &self.offsets {
            Some(o) => write_text(
                &dir.offsets(),
                &serde_json::to_string_pretty(o).unwrap_or_default(),
            ),
            None => Ok(()),
        }
    }
}

/// The docking score s that Δ-learning multiplies: the best of the compound's docked
/// poses, else the best of any pose (a modelled pose scored in place).
pub fn docking_score(c: &CompoundData) -> Result<f64> {
    c.best_docked_score()
        .or_else(|| c.scores.iter().flatten().copied().reduce(f64::min))
        .ok_or_else(|| {
            Error::InvalidConfig(format!(
                "compound `{}`: model.delta_docking needs a docking score (vina_score) on a pose",
                c.id
            ))
        })
}

/// Everything a run adds to its read-out values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Shift {
    /// Per-target offsets (labels centred per target), if on.
    pub offsets: Option<TargetOffsets>,
    /// Whether a·s is added (the coefficient is the parameter [`DOCKING_COEF`]).
    pub docking: bool,
}

impl Shift {
    /// Whether the shift is zero for every compound.
    pub fn is_none(&self) -> bool {
        self.offsets.is_none() && !self.docking
    }

    /// The coefficient a at the parameters' current value (0 without Δ-learning).
    pub fn coef(&self, params: &Params) -> Result<f64> {
        if !self.docking {
            return Ok(0.0);
        }
        let (_, var) = params
            .named()
            .into_iter()
            .find(|(n, _)| n == DOCKING_COEF)
            .ok_or_else(|| Error::MissingTensor {
                name: DOCKING_COEF.into(),
            })?;
        let v = var.as_tensor().to_dtype(DType::F64)?.flatten_all()?;
        Ok(v.to_vec1::<f64>()?[0])
    }

    /// offset(target) + a·s of one compound, for the coefficient `coef`.
    pub fn of(&self, c: &CompoundData, coef: f64) -> Result<f64> {
        let offset = self.offsets.as_ref().map_or(0.0, |o| o.of(&c.target));
        let docking = match self.docking {
            true => coef * docking_score(c)?,
            false => 0.0,
        };
        Ok(offset + docking)
    }

    /// Every compound's shift at the parameters' current coefficient.
    pub fn all(&self, compounds: &[CompoundData], params: &Params) -> Result<Vec<f64>> {
        let coef = self.coef(params)?;
        compounds.iter().map(|c| self.of(c, coef)).collect()
    }

    /// The batch-mean gradient of a, ∂L/∂a = (1/n) Σᵢ ∂Lᵢ/∂zᵢ · sᵢ, from each compound's
    /// (shifted) objective at its read-out value; added to `grads` under [`DOCKING_COEF`].
    pub fn add_coef_gradient(
        &self,
        grads: &mut HashMap<String, Tensor>,
        batch: &[(&CompoundData, &Objective, f64)],
        like: &Tensor,
    ) -> Result<()> {
        if !self.docking || batch.is_empty() {
            return Ok(());
        }
        let mut g = 0.0;
        for (c, objective, z) in batch {
            g += objective.output_gradient(*z)? * docking_score(c)?;
        }
        let g = g / batch.len() as f64;
        let t = Tensor::full(g, like.shape(), like.device())?.to_dtype(like.dtype())?;
        grads.insert(DOCKING_COEF.into(), t);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{Assay, Label, Qualifier};

    fn compound(target: &str, value: f64, qualifier: Qualifier, scores: &[f64]) -> CompoundData {
        CompoundData {
            id: format!("{target}/{value}"),
            target: target.into(),
            poses: Vec::new(),
            sources: Vec::new(),
            rmsd: Vec::new(),
            scores: scores.iter().map(|s| Some(*s)).collect(),
            references: 1,
            ligand_bonds: Vec::new(),
            label: Some(Label {
                compound_id: String::new(),
                value,
                qualifier,
                stderr: None,
                assay: Assay::Pki,
                date: None,
            }),
            protein_atoms: 0,
            pocket_atoms: 0,
            ligand_atoms: 0,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn offsets_are_exact_training_means_and_the_pooled_mean_for_new_targets() {
        let cs = vec![
            compound("a", 5.0, Qualifier::Exact, &[-7.0]),
            compound("a", 7.0, Qualifier::Exact, &[-8.0]),
            compound("a", 4.0, Qualifier::Below, &[-6.0]),
            compound("b", 9.0, Qualifier::Exact, &[-9.0]),
            compound("b", 1.0, Qualifier::Exact, &[-9.0]),
        ];
        let o = TargetOffsets::fit(&cs, &[0, 1, 2, 3]);
        assert_eq!(o.of("a"), 6.0);
        assert_eq!(o.of("b"), 9.0);
        assert_eq!(o.of("never_seen"), 7.0);
    }

    #[test]
    fn the_docking_score_prefers_docked_poses_and_falls_back_to_modelled_ones() {
        let c = compound("a", 5.0, Qualifier::Exact, &[-12.0, -7.0, -8.5]);
        assert_eq!(docking_score(&c).unwrap(), -8.5);
        let modelled = compound("a", 5.0, Qualifier::Exact, &[-6.5]);
        assert_eq!(docking_score(&modelled).unwrap(), -6.5);
        let mut none = compound("a", 5.0, Qualifier::Exact, &[]);
        none.scores = vec![None];
        let e = docking_score(&none).unwrap_err().to_string();
        assert!(e.contains("a/5") && e.contains("docking score"), "{e}");
        let shift = Shift {
            offsets: Some(TargetOffsets::fit(std::slice::from_ref(&c), &[0])),
            docking: true,
        };
        assert_eq!(shift.of(&c, 0.5).unwrap(), 5.0 + 0.5 * -8.5);
    }

    #[test]
    fn the_coefficient_gradient_matches_finite_differences_of_the_batch_loss() {
        let cs = [
            compound("a", 6.0, Qualifier::Exact, &[-9.0, -7.5]),
            compound("a", 4.0, Qualifier::Below, &[-5.0]),
            compound("b", 7.5, Qualifier::Exact, &[-8.0]),
        ];
        let z = [5.2, 4.4, 6.1];
        let shift = Shift {
            offsets: None,
            docking: true,
        };
        let objective = |c: &CompoundData, a: f64| {
            let l = c.label.as_ref().unwrap();
            let side = if l.qualifier == Qualifier::Below {
                -1
            } else {
                0
            };
            Objective {
                output_terms: vec![crate::combine::OutputTerm::Step {
                    weight: 1.0,
                    target: l.value,
                    side,
                }],
                pose_terms: vec![],
            }
            .shifted(a * docking_score(c).unwrap())
        };
        let loss = |a: f64| -> f64 {
            let total: f64 = (cs.iter().zip(z))
                .map(|(c, z)| {
                    let t = Tensor::new(&[z], &candle_core::Device::Cpu).unwrap();
                    objective(c, a).main(&t).unwrap().to_vec1::<f64>().unwrap()[0]
                })
                .sum();
            total / cs.len() as f64
        };
        let a = -0.08;
        let objectives: Vec<Objective> = cs.iter().map(|c| objective(c, a)).collect();
        let batch: Vec<_> = (cs.iter().zip(&objectives).zip(z))
            .map(|((c, o), z)| (c, o, z))
            .collect();
        let like = Tensor::zeros(1, DType::F64, &candle_core::Device::Cpu).unwrap();
        let mut grads = HashMap::new();
        shift.add_coef_gradient(&mut grads, &batch, &like).unwrap();
        let g = grads[DOCKING_COEF].to_vec1::<f64>().unwrap()[0];
        let h = 1e-6;
        let fd = (loss(a + h) - loss(a - h)) / (2.0 * h);
        assert!((g - fd).abs() < 1e-6 && g != 0.0, "{g} vs {fd}");
    }
}
