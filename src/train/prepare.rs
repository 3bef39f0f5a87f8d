//! What a training configuration describes, derived once per run: the data with graphs
//! and objectives, the grouped model's configuration, the engine and the split.

use super::split::{self, Split, SplitGroup, SplitKind, scaffold_key};
use super::target_split::{Parts, per_target, per_target_grouped, whole_targets};
use super::{TrainConfig, targets};
use crate::combine::{
    ChunkPolicy, CombinationChoice, CombinationConfig, CombinationKind, EngineConfig,
    GroupedConfig, Objective,
};
use crate::dataset::{Assay, CompoundData, DatasetSpec, GraphCache, Lookup, open};
use crate::error::{Error, Result};
use crate::model::{CompoundGraphs, ModelConfig, Readout};
use candle_core::Device;
use rayon::prelude::*;

/// Everything derived from the data once per run.
pub struct Prepared {
    /// Compounds with labels.
    pub compounds: Vec<CompoundData>,
    /// Their graphs.
    pub graphs: Vec<CompoundGraphs>,
    /// Their objectives.
    pub objectives: Vec<Objective>,
    /// The model configuration.
    pub grouped: GroupedConfig,
    /// Compounds left out while loading, with the reason.
    pub skipped: Vec<(String, String)>,
}

/// The grouped-model configuration a training config describes, read out for `assay`.
pub fn grouped_config(config: &TrainConfig, assay: Assay) -> Result<GroupedConfig> {
    let m = &config.model;
    let kind = match m.combination {
        CombinationChoice::Mean => CombinationKind::Mean,
        CombinationChoice::Max => CombinationKind::Max {
            negate: m.negate,
            scale: m.scale,
        },
        CombinationChoice::Boltzmann => CombinationKind::Boltzmann {
            temperature: m.temperature,
        },
        CombinationChoice::Attention => CombinationKind::Attention {
            width: m.attention_width,
        },
    };
    let r = &config.readout;
    let readout = match assay {
        Assay::Pic50 => Readout::PIC50 {
            substrate: Some(r.substrate).filter(|s| *s > 0.0),
            km: Some(r.km).filter(|_| r.substrate > 0.0),
        },
        Assay::Pki => Readout::PKi,
    };
    // mtenn's pred_readout (every pose) or comb_readout (the combined value).
    let (pose_readout, readout) = match r.per_pose {
        true => (readout, Readout::None),
        false => (Readout::None, readout),
    };
    Ok(GroupedConfig {
        model: ModelConfig {
            representation: m.representation(),
            strategy: m.strategy,
            layer_norm: m.layer_norm,
            pose_readout,
        },
        combination: CombinationConfig {
            kind,
            learnable: m.learnable,
        },
        readout,
        delta_docking: m.delta_docking,
    })
}

/// The assay a saved run reads out for, without its labels: pIC50 and pKi read out alike
/// unless a Cheng–Prusoff term is set, which only a pIC50 run has.
pub fn stored_assay(config: &TrainConfig) -> Assay {
    match config.readout.substrate > 0.0 {
        true => Assay::Pic50,
        false => Assay::Pki,
    }
}

/// The engine a training config describes, its chunks sized for `device`.
pub fn engine_config(config: &TrainConfig, device: &Device) -> EngineConfig {
    let e = &config.engine;
    EngineConfig {
        kind: e.kind,
        chunk: ChunkPolicy::from_settings(e.chunk, e.budget_mib, device),
        pack: e.pack,
    }
}

/// The loading options (everything but the files) a training config describes.
pub fn dataset_options(config: &TrainConfig) -> DatasetSpec {
    DatasetSpec {
        keep_hydrogens: config.data.keep_hydrogens,
        pocket_radius: config.data.pocket(),
        selection: config.data.poses,
        strict: config.data.strict,
        ..DatasetSpec::default()
    }
}

/// Prints the compounds' data warnings (implausible geometry, poses with other atoms),
/// the first few in full; `multipose inspect` lists them all.
pub fn report_warnings(compounds: &[CompoundData]) {
    const SHOWN: usize = 10;
    let all: Vec<String> = compounds
        .iter()
        .flat_map(|c| c.warnings.iter().map(move |w| format!("{}: {w}", c.id)))
        .collect();
    for w in all.iter().take(SHOWN) {
        eprintln!("warning: {w}");
    }
    if all.len() > SHOWN {
        eprintln!(
            "warning: {} more data warnings (`multipose inspect` lists them)",
            all.len() - SHOWN
        );
    }
}

/// Loads the data, builds graphs (cached if configured) and objectives.
pub fn prepare(config: &TrainConfig) -> Result<Prepared> {
    let data = open(&config.data.path, &dataset_options(config))?;
    report_warnings(&data.compounds);
    if data.compounds.len() < 2 {
        return Err(Error::InvalidConfig(format!(
            "{}: {} labelled compounds with poses; training needs at least 2",
            config.data.path.display(),
            data.compounds.len()
        )));
    }
    let assay = if data
        .compounds
        .iter()
        .all(|c| c.label.as_ref().is_some_and(|l| l.assay == Assay::Pic50))
    {
        Assay::Pic50
    } else {
        Assay::Pki
    };
    let grouped = grouped_config(config, assay)?;
    let representation = &grouped.model.representation;
    for c in &data.compounds {
        representation.check_elements(&c.id, &c.poses)?;
    }
    let graph = representation.graph();
    let cache = if config.data.cache.as_os_str().is_empty() {
        None
    } else {
        Some(GraphCache::new(&config.data.cache)?)
    };
    // Compounds are independent: building their graphs in parallel takes the first epoch
    // of a 300-compound set from ~24 s to a few seconds; order is kept by `collect`.
    let graphs = data
        .compounds
        .par_iter()
        .map(|c| match &cache {
            Some(cache) => {
                let (g, lookup) =
                    cache.get_or_build(&c.id, &c.poses, grouped.model.strategy, &graph)?;
                if let Lookup::Rebuilt(why) = lookup {
                    eprintln!("warning: graph cache entry rebuilt: {why}");
                }
                Ok(g)
            }
            None => CompoundGraphs::build(&c.id, &c.poses, grouped.model.strategy, &graph),
        })
        .collect::<Result<Vec<_>>>()?;
    let objectives = data
        .compounds
        .iter()
        .map(|c| targets::objective(&config.loss, c))
        .collect::<Result<Vec<_>>>()?;
    Ok(Prepared {
        skipped: data.skipped,
        compounds: data.compounds,
        graphs,
        objectives,
        grouped,
    })
}

fn scaffold_keys(compounds: &[CompoundData]) -> Vec<String> {
    compounds
        .iter()
        .map(|c| {
            let z: Vec<u32> = c.poses[0].z()[c.poses[0].len() - c.ligand_atoms..].to_vec();
            scaffold_key(&z, &c.ligand_bonds)
        })
        .collect()
}

/// The group of every compound that the split keeps together: `Some` only for a grouped
/// per-target split (`split.group`).
pub fn split_groups(config: &TrainConfig, compounds: &[CompoundData]) -> Option<Vec<String>> {
    if config.split.kind != SplitKind::PerTarget {
        return None;
    }
    match config.split.group {
        SplitGroup::None => None,
        SplitGroup::Scaffold => Some(scaffold_keys(compounds)),
        SplitGroup::Cluster => Some(crate::baseline::cluster_keys(compounds)),
    }
}

/// The split a config asks for.
pub fn make_split(config: &TrainConfig, compounds: &[CompoundData]) -> Result<Split> {
    make_split_grouped(
        config,
        compounds,
        split_groups(config, compounds).as_deref(),
    )
}

/// [`make_split`] with the groups of [`split_groups`] given: they depend on the compounds
/// and the grouping only, so the folds of one dataset cluster it once.
pub fn make_split_grouped(
    config: &TrainConfig,
    compounds: &[CompoundData],
    groups: Option<&[String]>,
) -> Result<Split> {
    let s = &config.split;
    let ids: Vec<String> = compounds.iter().map(|c| c.id.clone()).collect();
    Ok(match s.kind {
        SplitKind::Temporal => {
            let dates: Vec<Option<String>> = compounds
                .iter()
                .map(|c| c.label.as_ref().and_then(|l| l.date.clone()))
                .collect();
            split::temporal(&ids, &dates, s.train, s.val)?
        }
        SplitKind::Manual => split::manual(&ids, &s.manual)?,
        SplitKind::PerTarget | SplitKind::Target => {
            let targets: Vec<String> = compounds.iter().map(|c| c.target.clone()).collect();
            let parts = match s.folds {
                0 => Parts::Fractions {
                    train: s.train,
                    val: s.val,
                },
                folds => Parts::Fold {
                    folds,
                    fold: s.fold,
                    val_share: s.val / (s.train + s.val).max(f64::MIN_POSITIVE),
                },
            };
            match (s.kind, groups) {
                (SplitKind::Target, _) => whole_targets(&targets, parts, config.optim.seed),
                (_, Some(keys)) => per_target_grouped(&targets, keys, parts, config.optim.seed),
                (_, None) => per_target(&targets, parts, config.optim.seed),
            }
        }
        SplitKind::Scaffold => {
            split::scaffold(&scaffold_keys(compounds), s.train, s.val, config.optim.seed)
        }
        SplitKind::Random => split::random(compounds.len(), s.train, s.val, config.optim.seed),
    })
}
