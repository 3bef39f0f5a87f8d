//! The arms of the multi-pose benchmark: the docking score a user already has, the
//! ligand-only baselines, two single-pose models, and the multi-pose combinations.

use crate::baseline::LigandModelKind;
use serde::{Deserialize, Serialize};

/// One arm: a way to turn a compound's poses into a predicted affinity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    /// The mean training label of the target (no structure, no ligand).
    TrainMean,
    /// Linear fit on molecular weight (the Polaris challenge's baseline).
    MwLinear,
    /// The best docking score of the docked poses (no training).
    Vina,
    /// Linear fit on the best docking score (calibrated: comparable by MAE).
    VinaLinear,
    /// Kernel ridge on the ligand's Morgan count fingerprint (ligand-only).
    Fingerprint,
    /// Single-pose model on the reference pose (pose 0) only.
    SingleRef,
    /// Single-pose model on the top-scored docked pose only.
    SingleTop,
    /// Mean over all poses.
    Mean,
    /// Smooth minimum of ΔG over poses, t = 1000 (mtenn's default).
    Max,
    /// Boltzmann-weighted average with a learned temperature.
    Boltzmann,
    /// Smooth minimum plus the pose cross-entropy term with RMSD-derived pose targets.
    MaxPoseCe,
    /// Learned attention over the poses' embeddings.
    Attention,
    /// FEP+'s own predictions shipped with the dataset (`<target>/fep_plus.csv`): a
    /// reference row, never a model input (within-target folds only).
    FepPlus,
}

impl Arm {
    /// Every arm, in report order.
    pub const ALL: [Arm; 13] = [
        Arm::TrainMean,
        Arm::MwLinear,
        Arm::Vina,
        Arm::VinaLinear,
        Arm::Fingerprint,
        Arm::SingleRef,
        Arm::SingleTop,
        Arm::Mean,
        Arm::Max,
        Arm::Boltzmann,
        Arm::MaxPoseCe,
        Arm::Attention,
        Arm::FepPlus,
    ];

    /// Name as used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Arm::TrainMean => "train_mean",
            Arm::MwLinear => "mw_linear",
            Arm::Vina => "vina",
            Arm::VinaLinear => "vina_linear",
            Arm::Fingerprint => "fingerprint",
            Arm::SingleRef => "single_ref",
            Arm::SingleTop => "single_top",
            Arm::Mean => "mean",
            Arm::Max => "max",
            Arm::Boltzmann => "boltzmann",
            Arm::MaxPoseCe => "max_pose_ce",
            Arm::Attention => "attention",
            Arm::FepPlus => "fep_plus",
        }
    }

    /// Whether the arm trains a structure-based model (a `multipose train` run per fold).
    pub fn trains(self) -> bool {
        !matches!(self, Arm::Vina | Arm::FepPlus) && self.ligand_model().is_none()
    }

    /// The ligand-only model of a baseline arm, fitted in process on each fold.
    pub fn ligand_model(self) -> Option<LigandModelKind> {
        match self {
            Arm::TrainMean => Some(LigandModelKind::TrainMean),
            Arm::MwLinear => Some(LigandModelKind::MwLinear),
            Arm::VinaLinear => Some(LigandModelKind::VinaLinear),
            Arm::Fingerprint => Some(LigandModelKind::Fingerprint),
            _ => None,
        }
    }

    /// Whether the arm combines several poses.
    pub fn multi_pose(self) -> bool {
        self.trains() && !matches!(self, Arm::SingleRef | Arm::SingleTop)
    }

    /// Config overrides (`section.key`, value) that turn the base configuration into
    /// this arm.
    pub fn overrides(self) -> Vec<(&'static str, &'static str)> {
        let mut o = match self {
            Arm::Vina
            | Arm::VinaLinear
            | Arm::TrainMean
            | Arm::MwLinear
            | Arm::Fingerprint
            | Arm::FepPlus => vec![],
            Arm::SingleRef => vec![
                ("data.poses", "\"reference\""),
                ("model.combination", "\"mean\""),
            ],
            Arm::SingleTop => vec![
                ("data.poses", "\"top_docked\""),
                ("model.combination", "\"mean\""),
            ],
            Arm::Mean => vec![("model.combination", "\"mean\"")],
            Arm::Max | Arm::MaxPoseCe => vec![
                ("model.combination", "\"max\""),
                ("model.negate", "true"),
                ("model.scale", "1000.0"),
            ],
            Arm::Boltzmann => vec![
                ("model.combination", "\"boltzmann\""),
                ("model.temperature", "1.0"),
                ("model.learnable", "true"),
            ],
            Arm::Attention => vec![("model.combination", "\"attention\"")],
        };
        if self == Arm::MaxPoseCe {
            o.extend([
                ("loss.pose_cross_entropy", "1.0"),
                ("loss.pose_label", "\"rmsd\""),
            ]);
        }
        o
    }
}

impl std::str::FromStr for Arm {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Arm::ALL.into_iter().find(|a| a.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Arm::ALL.iter().map(|a| a.name()).collect();
            format!("unknown arm `{s}` (expected {})", names.join(", "))
        })
    }
}

impl std::fmt::Display for Arm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
