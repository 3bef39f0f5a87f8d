//! How many poses go into one batched forward/backward.

use crate::model::{CompoundGraphs, ModelConfig};

/// Default memory budget for one chunk's activations on CPU.
pub const DEFAULT_BUDGET_BYTES: u64 = 4 << 30;

/// Chunk size: fixed, or the most poses whose activations fit a byte budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ChunkPolicy {
    /// Exactly this many poses per chunk (the last may be smaller).
    Fixed(usize),
    /// As many poses as fit this many bytes of activations (at least one).
    Budget(u64),
}

impl Default for ChunkPolicy {
    fn default() -> Self {
        Self::Budget(DEFAULT_BUDGET_BYTES)
    }
}

impl ChunkPolicy {
    /// Splits the poses of `compound` into chunks of consecutive pose indices.
    pub fn chunks(&self, config: &ModelConfig, compound: &CompoundGraphs) -> Vec<Vec<usize>> {
        let n = compound.num_poses();
        let k = match *self {
            Self::Fixed(k) => k.max(1),
            Self::Budget(bytes) => {
                let per_pose = (0..n)
                    .map(|i| pose_bytes(config, compound, i))
                    .max()
                    .unwrap_or(1)
                    .max(1);
                ((bytes / per_pose) as usize).max(1)
            }
        };
        (0..n)
            .collect::<Vec<_>>()
            .chunks(k)
            .map(<[usize]>::to_vec)
            .collect()
    }
}

impl ChunkPolicy {
    /// Groups consecutive compounds (indices into `compounds`) whose poses together fit
    /// one chunk; a compound that does not fit with others forms a group of its own (and
    /// is then split by [`Self::chunks`] as usual). Packing keeps the order.
    pub fn groups(&self, config: &ModelConfig, compounds: &[&CompoundGraphs]) -> Vec<Vec<usize>> {
        let cost = |c: &CompoundGraphs| -> u64 {
            match *self {
                Self::Fixed(_) => c.num_poses() as u64,
                Self::Budget(_) => (0..c.num_poses()).map(|i| pose_bytes(config, c, i)).sum(),
            }
        };
        let capacity = match *self {
            Self::Fixed(k) => k.max(1) as u64,
            Self::Budget(bytes) => bytes,
        };
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut used = 0u64;
        for (i, c) in compounds.iter().enumerate() {
            let need = cost(c);
            match groups.last_mut() {
                Some(g) if used + need <= capacity => {
                    g.push(i);
                    used += need;
                }
                _ => {
                    groups.push(vec![i]);
                    used = need;
                }
            }
        }
        groups
    }
}

/// Rough bytes of activations one pose keeps for backward (an upper bound: poses of one
/// chunk share the distance filter of their common edge lengths, measured at ~36 MB per
/// extra 600-atom pose): per interaction about six `[lengths, F]` filter tensors for half
/// the edges (i→j and j→i share a length) and ten `[atoms, H]` tensors.
pub fn pose_bytes(config: &ModelConfig, compound: &CompoundGraphs, pose: usize) -> u64 {
    let s = &config.schnet;
    let p = &compound.poses[pose];
    let graphs = [p.complex.as_ref(), p.ligand.as_ref()];
    let (atoms, edges) = graphs.iter().flatten().fold((0u64, 0u64), |(a, e), g| {
        (a + g.num_atoms() as u64, e + g.num_edges() as u64)
    });
    let per_edge = (s.num_gaussians + 6 * s.num_filters * s.num_interactions) as u64 / 2;
    let per_atom = (10 * s.hidden_channels * s.num_interactions) as u64;
    4 * (edges * per_edge + atoms * per_atom)
}
