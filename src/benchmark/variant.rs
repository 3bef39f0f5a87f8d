//! What the benchmark runs and reports: an arm, trained with extra objectives when it
//! trains (`mean+pairwise`, `mean+pairwise+offsets`, ...), so that every arm meets every
//! objective on the same folds.

use super::Arm;
use crate::error::{Error, Result};
use serde::{Serialize, Serializer};

crate::choice! {
    /// An objective a trained arm can add to its plain loss.
    pub enum ArmObjective {
        /// The within-target pairwise ΔΔG loss (`loss.pairwise = 1`).
        Pairwise = "pairwise",
        /// Labels centred per target (`loss.offsets = "per_target"`).
        Offsets = "offsets",
        /// Δ-learning on the docking score (`model.delta_docking = true`).
        Delta = "delta",
        /// Coordinate noise of 0.3 Å on the training poses (`augment.noise = 0.3`).
        Noise = "noise",
    }
}

impl ArmObjective {
    /// Config overrides (`section.key`, value) that switch the objective on.
    pub fn overrides(self) -> (&'static str, &'static str) {
        match self {
            Self::Pairwise => ("loss.pairwise", "1.0"),
            Self::Offsets => ("loss.offsets", "\"per_target\""),
            Self::Delta => ("model.delta_docking", "true"),
            Self::Noise => ("augment.noise", "0.3"),
        }
    }

    fn bit(self) -> u8 {
        1 << Self::ALL.iter().position(|o| *o == self).unwrap_or(0)
    }
}

/// An arm and the objectives it trains with (none: the arm as it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Variant {
    /// The arm.
    pub arm: Arm,
    /// Bit k set: objective `ArmObjective::ALL[k]` is on.
    objectives: u8,
}

impl Variant {
    /// The arm alone.
    pub const fn plain(arm: Arm) -> Self {
        Self { arm, objectives: 0 }
    }

    /// The arm with `objectives`; they need an arm that trains.
    pub fn new(arm: Arm, objectives: &[ArmObjective]) -> Result<Self> {
        if !objectives.is_empty() && !arm.trains() {
            return Err(Error::InvalidConfig(format!(
                "arm `{arm}` trains nothing, so it takes no objective (+{})",
                objectives[0]
            )));
        }
        let objectives = objectives.iter().fold(0, |b, o| b | o.bit());
        Ok(Self { arm, objectives })
    }

    /// Its objectives, in declaration order.
    pub fn objectives(self) -> Vec<ArmObjective> {
        (ArmObjective::ALL.iter().copied())
            .filter(|o| self.objectives & o.bit() != 0)
            .collect()
    }

    /// Config overrides: the arm's, then each objective's.
    pub fn overrides(self) -> Vec<(&'static str, &'static str)> {
        let mut o = self.arm.overrides();
        o.extend(self.objectives().into_iter().map(ArmObjective::overrides));
        o
    }

    /// Its folder and report name: `mean`, `mean+pairwise+offsets`.
    pub fn name(self) -> String {
        let mut s = self.arm.name().to_string();
        for o in self.objectives() {
            s.push('+');
            s.push_str(o.name());
        }
        s
    }
}

impl std::str::FromStr for Variant {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let mut parts = s.split('+');
        let arm: Arm = parts.next().unwrap_or_default().parse()?;
        let objectives = parts
            .map(|p| {
                p.parse::<ArmObjective>()
                    .map_err(|e| format!("in `{s}`: {e}"))
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Variant::new(arm, &objectives).map_err(|e| e.to_string())
    }
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl Serialize for Variant {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_in_a_fixed_order_and_objectives_need_a_trained_arm() {
        let v: Variant = "mean+offsets+pairwise".parse().unwrap();
        assert_eq!(v.name(), "mean+pairwise+offsets");
        assert_eq!(v.to_string().parse::<Variant>().unwrap(), v);
        assert_eq!(
            v.overrides()[1..],
            [("loss.pairwise", "1.0"), ("loss.offsets", "\"per_target\"")]
        );
        assert_eq!(
            "vina".parse::<Variant>().unwrap(),
            Variant::plain(Arm::Vina)
        );
        let e = "vina+pairwise".parse::<Variant>().unwrap_err();
        assert!(e.contains("vina") && e.contains("pairwise"), "{e}");
        let e = "mean+sharper".parse::<Variant>().unwrap_err();
        assert!(e.contains("sharper") && e.contains("noise"), "{e}");
    }
}
