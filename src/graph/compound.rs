//! Graphs of one compound's poses, with proteins shared between poses found once.

use super::{CompoundId, Graph, GraphConfig};
use crate::error::{Error, Result};
use crate::structure::Structure;
use std::collections::HashMap;

/// Which graphs each pose needs (a model's strategy decides; the name says which, for
/// messages about a pose that cannot be split).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parts {
    /// The whole complex only.
    Complex,
    /// The ligand alone, for the named strategy.
    Ligand(&'static str),
    /// The complex, its ligand and its protein, for the named strategy.
    Split(&'static str),
}

impl Parts {
    /// Stable name (part of the graph cache's key).
    pub fn name(self) -> &'static str {
        match self {
            Parts::Complex => "complex",
            Parts::Ligand(_) => "ligand",
            Parts::Split(_) => "split",
        }
    }
}

/// The graphs one pose needs.
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
        parts: impl Into<Parts>,
        graph: &GraphConfig,
    ) -> Result<Self> {
        let name = name.into();
        let parts = parts.into();
        if poses.is_empty() {
            return Err(Error::NoPoses { name });
        }
        let mut proteins = Vec::new();
        let mut protein_index: HashMap<u64, usize> = HashMap::new();
        let mut out = Vec::with_capacity(poses.len());
        for pose in poses {
            let entry = match parts {
                Parts::Complex => PoseGraphs {
                    complex: Some(Graph::build(pose, graph)?),
                    ligand: None,
                    protein: None,
                },
                Parts::Ligand(strategy) => {
                    let ligand = pose.ligand_or_all(strategy)?;
                    PoseGraphs {
                        complex: None,
                        ligand: Some(Graph::build(&ligand, graph)?),
                        protein: None,
                    }
                }
                Parts::Split(strategy) => {
                    let (protein, ligand) = pose.split(strategy)?;
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
