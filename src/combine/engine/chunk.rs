//! How many poses go into one batched forward/backward.

use crate::model::{CompoundGraphs, ModelConfig};
use candle_core::Device;

/// Default memory budget for one chunk's activations on CPU: beyond about 20 poses of a
/// 600-atom pocket a CPU chunk gains no speed, only memory.
pub const DEFAULT_BUDGET_BYTES: u64 = 1 << 30;

/// Share of a GPU's free memory that the automatic budget gives one chunk: the rest holds
/// the model, optimiser state, the pool's fragmentation and [`pose_cost`]'s error.
const GPU_FREE_SHARE: f64 = 0.5;

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
    /// The budget policy for `device` when the user gave none: [`DEFAULT_BUDGET_BYTES`] on
    /// CPU (host memory is shared with everything else), half the free memory on a GPU
    /// (a GPU is the run's own; a fixed 4 GiB left an H200 at two poses per chunk for a
    /// 4,700-atom complex, a third of its throughput).
    pub fn auto(device: &Device) -> Self {
        match crate::device::gpu_memory(device) {
            Some((free, _)) => Self::Budget(((free as f64 * GPU_FREE_SHARE) as u64).max(1 << 30)),
            None => Self::Budget(DEFAULT_BUDGET_BYTES),
        }
    }

    /// `--chunk K` (0 = from the budget) and `--budget-mib M` (0 = [`Self::auto`]).
    pub fn from_settings(chunk: usize, budget_mib: u64, device: &Device) -> Self {
        match (chunk, budget_mib) {
            (0, 0) => Self::auto(device),
            (0, mib) => Self::Budget(mib << 20),
            (k, _) => Self::Fixed(k),
        }
    }

    /// Splits the poses of `compound` into chunks of consecutive pose indices.
    pub fn chunks(&self, config: &ModelConfig, compound: &CompoundGraphs) -> Vec<Vec<usize>> {
        let n = compound.num_poses();
        let k = match *self {
            Self::Fixed(k) => k.max(1),
            Self::Budget(bytes) => {
                let costs: Vec<PoseCost> = (0..n).map(|i| pose_cost(config, compound, i)).collect();
                let shared = costs.iter().map(|c| c.shared).max().unwrap_or(0);
                let own = costs.iter().map(|c| c.own).max().unwrap_or(1).max(1);
                (bytes.saturating_sub(shared) / own).max(1) as usize
            }
        };
        (0..n)
            .collect::<Vec<_>>()
            .chunks(k)
            .map(<[usize]>::to_vec)
            .collect()
    }

    /// Groups consecutive compounds (indices into `compounds`) whose poses together fit
    /// one chunk; a compound that does not fit with others forms a group of its own (and
    /// is then split by [`Self::chunks`] as usual). Packing keeps the order.
    pub fn groups(&self, config: &ModelConfig, compounds: &[&CompoundGraphs]) -> Vec<Vec<usize>> {
        let cost = |c: &CompoundGraphs| -> u64 {
            match *self {
                Self::Fixed(_) => c.num_poses() as u64,
                Self::Budget(_) => compound_bytes(config, c),
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

/// Activation bytes of one pose: a part shared by all poses of a chunk that have the same
/// protein, and the pose's own part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoseCost {
    /// The distance filter of the protein–protein edge lengths: a chunk deduplicates edge
    /// lengths, and every pose of one receptor repeats these exactly.
    pub shared: u64,
    /// Everything else: per-atom tensors, and the filter of edges that touch the ligand.
    pub own: u64,
}

/// Estimated bytes of a whole compound in one chunk: its protein part once, every pose's
/// own part.
pub fn compound_bytes(config: &ModelConfig, compound: &CompoundGraphs) -> u64 {
    let costs = (0..compound.num_poses()).map(|i| pose_cost(config, compound, i));
    let (shared, own) = costs.fold((0, 0), |(s, o), c| (c.shared.max(s), o + c.own));
    shared + own
}

/// Rough bytes of activations one pose keeps for backward (the representation's
/// [`crate::model::ActivationBytes`] per edge and atom). The complex's edges that its protein graph also has count as
/// shared (near the ligand the neighbour cap makes the two differ, so this is rough; the
/// budget leaves room for it). Without a protein graph (complex strategy) nothing is shared.
pub fn pose_cost(config: &ModelConfig, compound: &CompoundGraphs, pose: usize) -> PoseCost {
    let bytes = config.representation.activation_bytes();
    let p = &compound.poses[pose];
    let graphs = [p.complex.as_ref(), p.ligand.as_ref()];
    let (atoms, edges) = graphs.iter().flatten().fold((0u64, 0u64), |(a, e), g| {
        (a + g.num_atoms() as u64, e + g.num_edges() as u64)
    });
    let protein_edges = p
        .protein
        .and_then(|i| compound.proteins.get(i))
        .map_or(0, |g| g.num_edges() as u64);
    let (per_edge, per_atom) = (bytes.per_edge, bytes.per_atom);
    match bytes.shares_protein_edges {
        true => {
            let shared = protein_edges.min(edges);
            PoseCost {
                shared: shared * per_edge,
                own: (edges - shared) * per_edge + atoms * per_atom,
            }
        }
        // The protein's own graph once (its energy), every pose's complex whole.
        false => PoseCost {
            shared: protein_edges * per_edge,
            own: edges * per_edge + atoms * per_atom,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::SyntheticComplex;
    use crate::model::StrategyKind;

    fn compound(seed: u64, poses: usize) -> CompoundGraphs {
        let structures = SyntheticComplex::new(80, 8, 3)
            .with_ligand(seed)
            .poses(poses, seed)
            .unwrap();
        let config = ModelConfig::default();
        CompoundGraphs::build(
            "c",
            &structures,
            StrategyKind::Delta,
            &config.representation.graph(),
        )
        .unwrap()
    }

    #[test]
    fn a_budget_counts_the_shared_protein_once_per_chunk() {
        let config = ModelConfig::default();
        let c = compound(1, 7);
        let costs: Vec<_> = (0..7).map(|i| pose_cost(&config, &c, i)).collect();
        let shared = costs.iter().map(|c| c.shared).max().unwrap();
        let own = costs.iter().map(|c| c.own).max().unwrap();
        assert!(shared > 0 && own > 0, "{costs:?}");
        let sizes = |bytes| -> Vec<usize> {
            ChunkPolicy::Budget(bytes)
                .chunks(&config, &c)
                .iter()
                .map(Vec::len)
                .collect()
        };
        assert_eq!(sizes(shared + 3 * own), [3, 3, 1]);
        assert_eq!(sizes(shared + 3 * own - 1), [2, 2, 2, 1]);
        assert_eq!(sizes(1), [1; 7], "at least one pose per chunk");
    }

    #[test]
    fn visnet_counts_every_pose_complex_whole() {
        let schnet = ModelConfig::default();
        let visnet = ModelConfig {
            representation: crate::model::RepresentationConfig::ViSNet(Default::default()),
            ..ModelConfig::default()
        };
        let c = compound(1, 2);
        let (s, v) = (pose_cost(&schnet, &c, 0), pose_cost(&visnet, &c, 0));
        let p = &c.poses[0];
        let edges = |g: Option<&crate::graph::Graph>| g.map_or(0, |g| g.num_edges() as u64);
        let own_edges = edges(p.complex.as_ref()) + edges(p.ligand.as_ref());
        let protein = edges(p.protein.and_then(|i| c.proteins.get(i)));
        let bytes = visnet.representation.activation_bytes();
        let atoms: u64 = [p.complex.as_ref(), p.ligand.as_ref()]
            .iter()
            .flatten()
            .map(|g| g.num_atoms() as u64)
            .sum();
        assert_eq!(v.own, own_edges * bytes.per_edge + atoms * bytes.per_atom);
        assert_eq!(v.shared, protein * bytes.per_edge);
        // SchNet's own part leaves the protein's edges to the shared one.
        let sb = schnet.representation.activation_bytes();
        assert!(s.own < own_edges * sb.per_edge + atoms * sb.per_atom);
    }

    #[test]
    fn compounds_pack_while_their_estimate_fits() {
        let config = ModelConfig::default();
        let (a, b, c) = (compound(1, 2), compound(2, 3), compound(3, 1));
        let all = [&a, &b, &c];
        let ab = compound_bytes(&config, &a) + compound_bytes(&config, &b);
        assert_eq!(
            ChunkPolicy::Budget(ab).groups(&config, &all),
            [vec![0, 1], vec![2]]
        );
        assert_eq!(
            ChunkPolicy::Budget(ab - 1).groups(&config, &all)[0],
            [0],
            "one byte short splits"
        );
        assert_eq!(
            ChunkPolicy::Fixed(3).groups(&config, &all),
            [vec![0], vec![1], vec![2]]
        );
    }

    #[test]
    fn settings_pick_fixed_budget_or_the_device_default() {
        let cpu = Device::Cpu;
        assert_eq!(
            ChunkPolicy::from_settings(4, 100, &cpu),
            ChunkPolicy::Fixed(4)
        );
        assert_eq!(
            ChunkPolicy::from_settings(0, 100, &cpu),
            ChunkPolicy::Budget(100 << 20)
        );
        assert_eq!(
            ChunkPolicy::from_settings(0, 0, &cpu),
            ChunkPolicy::Budget(DEFAULT_BUDGET_BYTES)
        );
    }
}
