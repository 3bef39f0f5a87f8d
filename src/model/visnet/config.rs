//! ViSNet hyper-parameters, named and defaulted as torch_geometric's `ViSNet` (what
//! mtenn's `conversion_utils.visnet` wraps).

use crate::error::{Error, Result};
use crate::graph::GraphConfig;
use serde::{Deserialize, Serialize};

crate::choice! {
    /// torch_geometric's `vecnorm_type` (only `none`, its default and mtenn's, for now).
    pub enum VecNorm {
        /// The vector features are only scaled by the norm's weight.
        None = "none",
    }
}

crate::choice! {
    /// How per-atom outputs become one value per structure (`reduce_op`).
    pub enum Reduce {
        /// Sum over atoms (torch_geometric's and mtenn's default).
        Add = "add",
        /// The same as `add` (asapdiscovery-ml's name for it).
        Sum = "sum",
        /// Mean over atoms.
        Mean = "mean",
    }
}

/// ViSNet hyper-parameters (torch_geometric 2.8 names and defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ViSNetConfig {
    /// Degree of the edge harmonics: 1 (3 components) or 2 (8).
    pub lmax: usize,
    /// Normalisation of the vector features.
    pub vecnorm_type: VecNorm,
    /// Learn the vector norms' weights (else buffers of ones).
    pub trainable_vecnorm: bool,
    /// Attention heads per layer (divides `hidden_channels`).
    pub num_heads: usize,
    /// Message-passing layers (the last one updates no edge features).
    pub num_layers: usize,
    /// Feature width H.
    pub hidden_channels: usize,
    /// Radial basis functions (exponential normal smearing).
    pub num_rbf: usize,
    /// Learn the radial bases' means and widths (else buffers).
    pub trainable_rbf: bool,
    /// Rows of the atom embeddings (atomic numbers below this).
    pub max_z: usize,
    /// Interaction cutoff, Å.
    pub cutoff: f64,
    /// Most neighbours per atom, the atom's own self-loop included (as radius_graph with
    /// loop=True counts it).
    pub max_num_neighbors: usize,
    /// Vertex geometric features (`ViS_MP_Vertex` layers).
    pub vertex: bool,
    /// Reduction of the per-atom outputs.
    pub reduce_op: Reduce,
}

impl Default for ViSNetConfig {
    fn default() -> Self {
        Self {
            lmax: 1,
            vecnorm_type: VecNorm::None,
            trainable_vecnorm: false,
            num_heads: 8,
            num_layers: 6,
            hidden_channels: 128,
            num_rbf: 32,
            trainable_rbf: false,
            max_z: 100,
            cutoff: 5.0,
            max_num_neighbors: 32,
            vertex: false,
            reduce_op: Reduce::Add,
        }
    }
}

impl ViSNetConfig {
    /// Every key, in torch_geometric's argument order (asapdiscovery-ml's
    /// `ViSNetModelConfig` and the golden fixtures name them so too).
    pub const KEYS: [&'static str; 13] = [
        "lmax",
        "vecnorm_type",
        "trainable_vecnorm",
        "num_heads",
        "num_layers",
        "hidden_channels",
        "num_rbf",
        "trainable_rbf",
        "max_z",
        "cutoff",
        "max_num_neighbors",
        "vertex",
        "reduce_op",
    ];

    /// The neighbour graph without self-loops (ViSNet adds one per atom itself, and the
    /// cap counts it, as torch_cluster does with loop=True).
    pub fn graph(&self) -> GraphConfig {
        GraphConfig {
            cutoff: self.cutoff,
            max_num_neighbors: self.max_num_neighbors.saturating_sub(1),
        }
    }

    /// Components of the edge harmonics: 3 for lmax 1, 8 for lmax 2.
    pub fn harmonics(&self) -> usize {
        (self.lmax + 1) * (self.lmax + 1) - 1
    }

    /// Rejects what torch_geometric would reject, and what is not implemented.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidConfig(format!("model.representation: {m}")));
        if !(1..=2).contains(&self.lmax) {
            return bad(format!("lmax must be 1 or 2, got {}", self.lmax));
        }
        if self.max_num_neighbors < 2 {
            return bad(format!(
                "max_num_neighbors counts the atom's own self-loop, so it must be >= 2, got {}",
                self.max_num_neighbors
            ));
        }
        self.graph().validate()?;
        let h = self.hidden_channels;
        if h < 2 || self.num_heads == 0 || !h.is_multiple_of(self.num_heads) {
            return bad(format!(
                "hidden_channels ({h}) must be >= 2 and divisible by num_heads ({})",
                self.num_heads
            ));
        }
        if self.num_layers == 0 || self.num_rbf == 0 || self.max_z < 2 {
            return bad(format!(
                "num_layers, num_rbf must be >= 1 and max_z >= 2 (got {}, {}, {})",
                self.num_layers, self.num_rbf, self.max_z
            ));
        }
        Ok(())
    }
}
