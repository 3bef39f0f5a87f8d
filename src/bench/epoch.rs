//! Time of a training epoch over many compounds, in optimiser batches of B compounds
//! through [`train_batch`], packed or not: `multipose bench --compounds K` (K compounds of
//! one synthetic receptor, each its own ligand with N poses) or `multipose bench --data
//! PATH` (a real dataset). Small N is where a real epoch spends its time and where
//! per-compound overhead shows.

use super::{SyntheticComplex, peak_rss_mib, seeded_model};
use crate::combine::{EngineConfig, Objective, train_batch};
use crate::error::Result;
use crate::model::CompoundGraphs;
use std::time::Instant;

/// One epoch configuration; the model, engine and device come from `base`.
#[derive(Debug, Clone)]
pub struct EpochCase {
    /// Model, engine kind, chunking, device, precision and the complex's size.
    pub base: super::BenchCase,
    /// Compounds K.
    pub compounds: usize,
    /// Compounds per optimiser batch B.
    pub batch: usize,
    /// Whether compounds share chunks.
    pub pack: bool,
}

/// A real dataset's compounds, graphed, with their training objectives.
#[derive(Debug, Clone)]
pub struct EpochSet {
    /// Where the compounds came from (printed with the result).
    pub name: String,
    /// Graphs of every compound.
    pub graphs: Vec<CompoundGraphs>,
    /// One objective per compound.
    pub objectives: Vec<Objective>,
    /// Seconds it took to build the graphs.
    pub graph_s: f64,
}

/// What one epoch configuration measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochResult {
    /// The synthetic receptor, or the dataset's name.
    #[serde(default)]
    pub data: String,
    /// Compounds K.
    pub compounds: usize,
    /// Poses per compound N (the largest, for a dataset).
    pub poses: usize,
    /// Poses in the epoch.
    #[serde(default)]
    pub total_poses: usize,
    /// Protein atoms (synthetic), or mean atoms of a complex graph (dataset).
    pub atoms: usize,
    /// Compounds per batch B.
    pub batch: usize,
    /// Whether compounds shared chunks.
    pub pack: bool,
    /// Engine asked for.
    pub engine: String,
    /// Time to build all graphs (s).
    pub graph_s: f64,
    /// Median epoch time (s): every batch's forward and backward, no optimiser step.
    pub epoch_s: f64,
    /// Poses per second in the median epoch.
    pub poses_per_s: f64,
    /// Peak resident memory of the process (MiB).
    pub peak_rss_mib: Option<f64>,
    /// Mean loss of the last epoch (to check that packing changes nothing).
    pub loss: f64,
}

/// Builds the K synthetic compounds and times `repeats` epochs (after one warm-up when > 1).
pub fn run(case: &EpochCase) -> Result<EpochResult> {
    let b = &case.base;
    let receptor = SyntheticComplex::new(b.atoms, b.ligand_atoms, 17);
    let started = Instant::now();
    let graphs = (0..case.compounds)
        .map(|k| {
            let poses = receptor
                .with_ligand(1000 + k as u64)
                .poses(b.poses, 23 + k as u64)?;
            let graph = b.config.model.representation.graph();
            CompoundGraphs::build(format!("c{k}"), &poses, b.config.model.strategy, &graph)
        })
        .collect::<Result<Vec<_>>>()?;
    let set = EpochSet {
        name: format!("synthetic, {} protein atoms", b.atoms),
        graphs,
        objectives: (0..case.compounds)
            .map(|k| Objective::mse(5.0 + (k % 7) as f64 * 0.5))
            .collect(),
        graph_s: started.elapsed().as_secs_f64(),
    };
    let mut r = run_set(case, &set)?;
    r.atoms = b.atoms;
    Ok(r)
}

/// Times `repeats` epochs over `set` (after one warm-up when > 1); `case.compounds`,
/// `base.atoms` and `base.poses` are taken from the set.
pub fn run_set(case: &EpochCase, set: &EpochSet) -> Result<EpochResult> {
    let b = &case.base;
    let (params, mut model) = seeded_model(&b.config, b.dtype, &b.device)?;
    model.set_checkpointing(b.checkpoint);
    if let Some(bytes) = b.batch_cache {
        model.set_batch_cache_bytes(bytes);
    }
    let items: Vec<_> = set.graphs.iter().zip(&set.objectives).collect();
    let engine = EngineConfig {
        kind: b.engine,
        chunk: b.chunk,
        pack: case.pack,
    };
    let warmup = usize::from(b.repeats > 1);
    let (mut times, mut loss) = (Vec::new(), f64::NAN);
    for i in 0..b.repeats + warmup {
        let t = Instant::now();
        let mut total = 0.0;
        for batch in items.chunks(case.batch.max(1)) {
            let step = train_batch(&model, &params, batch, &engine)?;
            total += step.compounds.iter().map(|c| c.loss).sum::<f64>();
        }
        b.device.synchronize()?;
        if i >= warmup {
            times.push(t.elapsed().as_secs_f64());
        }
        loss = total / items.len().max(1) as f64;
    }
    times.sort_by(f64::total_cmp);
    let epoch_s = times[times.len() / 2];
    let total_poses: usize = set.graphs.iter().map(CompoundGraphs::num_poses).sum();
    let complex_atoms: usize = set
        .graphs
        .iter()
        .flat_map(|g| &g.poses)
        .filter_map(|p| p.complex.as_ref().map(|c| c.num_atoms()))
        .sum();
    Ok(EpochResult {
        data: set.name.clone(),
        compounds: set.graphs.len(),
        poses: set
            .graphs
            .iter()
            .map(CompoundGraphs::num_poses)
            .max()
            .unwrap_or(0),
        total_poses,
        atoms: complex_atoms / total_poses.max(1),
        batch: case.batch,
        pack: case.pack,
        engine: b.engine.name().to_string(),
        graph_s: set.graph_s,
        epoch_s,
        poses_per_s: total_poses as f64 / epoch_s.max(1e-12),
        peak_rss_mib: peak_rss_mib(),
        loss,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::combine::{ChunkPolicy, CombinationConfig, EngineKind, GroupedConfig};
    use crate::model::{ModelConfig, RepresentationConfig, SchNetConfig};
    use candle_core::{DType, Device};

    fn case(pack: bool) -> EpochCase {
        let config = GroupedConfig {
            model: ModelConfig {
                representation: RepresentationConfig::SchNet(SchNetConfig {
                    hidden_channels: 8,
                    num_filters: 8,
                    num_interactions: 1,
                    num_gaussians: 6,
                    cutoff: 4.0,
                    max_num_neighbors: 8,
                }),
                ..ModelConfig::default()
            },
            combination: CombinationConfig::default(),
            readout: crate::model::Readout::None,
            delta_docking: false,
        };
        EpochCase {
            base: super::super::BenchCase {
                atoms: 60,
                ligand_atoms: 6,
                poses: 2,
                engine: EngineKind::Auto,
                chunk: ChunkPolicy::Fixed(8),
                repeats: 1,
                config,
                device: Device::Cpu,
                dtype: DType::F64,
                check: false,
                checkpoint: false,
                batch_cache: None,
                profile: false,
            },
            compounds: 7,
            batch: 3,
            pack,
        }
    }

    #[test]
    fn an_epoch_covers_every_pose_and_packing_keeps_the_loss() {
        let packed = run(&case(true)).unwrap();
        let alone = run(&case(false)).unwrap();
        assert_eq!((packed.compounds, packed.poses), (7, 2));
        assert!(packed.loss.is_finite() && packed.epoch_s > 0.0);
        assert!((packed.loss - alone.loss).abs() <= 1e-10 * alone.loss.abs().max(1.0));
    }
}
