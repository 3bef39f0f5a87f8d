//! Hyper-parameters of the single-pose model (defaults = mtenn's SchNet).

use super::{Readout, RepresentationConfig};
use crate::error::{Error, Result};
use crate::graph::{GraphConfig, Parts};

/// SchNet hyper-parameters, named as in torch_geometric.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SchNetConfig {
    /// Atom feature width H.
    pub hidden_channels: usize,
    /// Filter width F.
    pub num_filters: usize,
    /// Number of interaction blocks.
    pub num_interactions: usize,
    /// Number of Gaussians in the distance expansion.
    pub num_gaussians: usize,
    /// Interaction cutoff in Å.
    pub cutoff: f64,
    /// Most incoming neighbours per atom.
    pub max_num_neighbors: usize,
}

impl Default for SchNetConfig {
    fn default() -> Self {
        Self {
            hidden_channels: 128,
            num_filters: 128,
            num_interactions: 6,
            num_gaussians: 50,
            cutoff: 10.0,
            max_num_neighbors: 32,
        }
    }
}

impl SchNetConfig {
    /// Width of the representation vector (H/2).
    pub fn rep_dim(&self) -> usize {
        self.hidden_channels / 2
    }

    /// The graph settings these hyper-parameters imply.
    pub fn graph(&self) -> GraphConfig {
        GraphConfig {
            cutoff: self.cutoff,
            max_num_neighbors: self.max_num_neighbors,
        }
    }

    /// Rejects zero widths and bad graph settings.
    pub fn validate(&self) -> Result<()> {
        self.graph().validate()?;
        if self.hidden_channels < 2 || self.num_filters == 0 || self.num_gaussians < 2 {
            return Err(Error::InvalidConfig(format!(
                "hidden_channels must be >= 2, num_filters >= 1 and num_gaussians >= 2 \
                 (got {}, {}, {})",
                self.hidden_channels, self.num_filters, self.num_gaussians
            )));
        }
        Ok(())
    }
}

crate::choice! {
    /// How per-structure representations become one ΔG (mtenn's strategies).
    pub enum StrategyKind {
        /// E(complex) − E(protein) − E(ligand).
        Delta = "delta",
        /// Linear(complex ⊕ permutation-summed parts).
        Concat = "concat",
        /// E(complex) alone.
        Complex = "complex",
        /// The whole SchNet (with its final linear layer) on the ligand alone.
        LigandOnly = "ligand_only",
    }
}

impl StrategyKind {
    /// The graphs each pose needs under the strategy.
    pub fn parts(self) -> Parts {
        match self {
            Self::Complex => Parts::Complex,
            Self::LigandOnly => Parts::Ligand(self.name()),
            Self::Delta | Self::Concat => Parts::Split(self.name()),
        }
    }

    /// Whether the strategy needs the protein and ligand parts of each complex.
    pub fn needs_parts(self) -> bool {
        matches!(self, Self::Delta | Self::Concat)
    }
}

/// Everything that defines a single-pose model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// The network behind each structure's vector, with its hyper-parameters.
    pub representation: RepresentationConfig,
    /// Strategy.
    pub strategy: StrategyKind,
    /// LayerNorm before the strategy's linear layer.
    pub layer_norm: bool,
    /// Readout applied to every pose's ΔG before combination.
    pub pose_readout: Readout,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            representation: RepresentationConfig::default(),
            strategy: StrategyKind::Delta,
            layer_norm: false,
            pose_readout: Readout::None,
        }
    }
}

impl From<StrategyKind> for Parts {
    fn from(s: StrategyKind) -> Parts {
        s.parts()
    }
}
