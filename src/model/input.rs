//! Graphs of one compound's poses, with proteins shared between poses found once.

use super::StrategyKind;
use crate::error::{Error, Result};
use crate::graph::{CompoundId, Graph, GraphConfig};
use crate::structure::Structure;
use std::collections::HashMap;

/// The graphs one pose needs under a strategy.
#[derive(Debug, Clone, PartialEq)]
pub struct PoseGraphs {
    /// Graph of the whole complex (absent for the ligand-only model).
    pub complex: Option<Graph>,
    /// Graph of the ligand part (delta, concat, ligand-only).
    pub ligand: Option<Graph>,
    /// Index into [`CompoundGraphs::proteins`] (delta, concat).
    pub protein: Option<usize>,
}

/// All poses of one compound, ready for the model.
#[derive(Debug, Clone, PartialEq)]
pub struct CompoundGraphs {
    /// Compound name.
    pub name: String,
    /// One entry per pose.
    pub poses: Vec<PoseGraphs>,
    /// Distinct protein graphs (poses usually share one).
    pub proteins: Vec<Graph>,
    /// Identity for the batch cache; the graphs must not change after a model used them.
    pub id: CompoundId,
}

impl CompoundGraphs {
    /// Splits and graphs every pose; identical proteins (same atoms and coordinates) are
    /// graphed once and shared.
    pub fn build(
        name: impl Into<String>,
        poses: &[Structure],
        strategy: StrategyKind,
        graph: &GraphConfig,
    ) -> Result<Self> {
        let name = name.into();
        if poses.is_empty() {
            return Err(Error::NoPoses { name });
        }
        let mut proteins = Vec::new();
        let mut protein_index: HashMap<u64, usize> = HashMap::new();
        let mut out = Vec::with_capacity(poses.len());
        for pose in poses {
            let entry = match strategy {
                StrategyKind::Complex => PoseGraphs {
                    complex: Some(Graph::build(pose, graph)?),
                    ligand: None,
                    protein: None,
                },
                StrategyKind::LigandOnly => {
                    let ligand = pose.ligand_or_all(strategy.name())?;
                    PoseGraphs {
                        complex: None,
                        ligand: Some(Graph::build(&ligand, graph)?),
                        protein: None,
                    }
                }
                StrategyKind::Delta | StrategyKind::Concat => {
                    let (protein, ligand) = pose.split(strategy.name())?;
                    let key = protein.content_key();
                    let index = match protein_index.get(&key) {
                        Some(&i) => i,
                        None => {
                            proteins.push(Graph::build(&protein, graph)?);
                            protein_index.insert(key, proteins.len() - 1);
                            proteins.len() - 1
                        }
                    };
                    PoseGraphs {
                        complex: Some(Graph::build(pose, graph)?),
                        ligand: Some(Graph::build(&ligand, graph)?),
                        protein: Some(index),
                    }
                }
            };
            out.push(entry);
        }
        Ok(Self {
            name,
            poses: out,
            proteins,
            id: CompoundId::default(),
        })
    }

    /// Number of poses.
    pub fn num_poses(&self) -> usize {
        self.poses.len()
    }
}
