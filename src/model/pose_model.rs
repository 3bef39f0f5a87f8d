//! The single-pose model: representation → strategy → per-pose readout.

use super::Representation;
use super::{CompoundGraphs, ModelConfig, Params, Strategy, StrategyKind};
use crate::error::{Error, Result};
use crate::graph::{BatchCache, BatchKey, Graph};
use candle_core::{DType, Device, Tensor};
use std::sync::Arc;

/// Where the protein representation of a pose comes from.
#[derive(Debug, Clone, Copy)]
pub enum ProteinInput<'a> {
    /// Run the protein through the representation with every pose (mtenn's way).
    Inline,
    /// Rows `[proteins, D]` computed once per distinct protein (see `protein_reps`).
    Shared(&'a Tensor),
    /// One copy of each distinct protein of the chunk in the same batch as its poses.
    Batched,
}

/// One pose in, one ΔG (or read-out value) out.
#[derive(Debug, Clone)]
pub struct PoseModel {
    config: ModelConfig,
    representation: Representation,
    strategy: Strategy,
    dtype: DType,
    device: Device,
    batches: Arc<BatchCache>,
}

/// Numbers the graph kinds in a [`BatchKey`].
const COMPLEX: u8 = 0;
const LIGAND: u8 = 1;
const PROTEIN: u8 = 2;
/// Every pose and distinct protein of each compound, in [`PoseModel::predict_packed`]'s order.
const PACKED: u8 = 3;

fn wrong_strategy(kind: StrategyKind) -> Error {
    Error::InvalidConfig(format!(
        "compound graphs were not built for the `{}` strategy",
        kind.name()
    ))
}

impl PoseModel {
    /// Builds the model over `params`; `tracked` selects Vars (training) or detached tensors.
    pub fn new(config: &ModelConfig, params: &Params, tracked: bool) -> Result<Self> {
        let vb = if tracked {
            params.vb()
        } else {
            params.detached_vb()
        };
        let ligand_only = config.strategy == StrategyKind::LigandOnly;
        let rep = &config.representation;
        if !rep.has_linear_head() && (config.strategy == StrategyKind::Concat || config.layer_norm)
        {
            return Err(Error::InvalidConfig(format!(
                "{} ends in one scalar per structure (mtenn's energy function for it has no \
                 layer to learn): use strategy delta, complex or ligand_only, without layer_norm",
                rep.name()
            )));
        }
        let representation = Representation::new(
            &config.representation,
            params,
            ligand_only,
            vb.pp("representation"),
        )?;
        let strategy = Strategy::new(
            config.strategy,
            config.representation.output_width(),
            config.layer_norm,
            config.representation.has_linear_head(),
            vb.pp("strategy"),
        )?;
        Ok(Self {
            config: config.clone(),
            representation,
            strategy,
            dtype: params.dtype(),
            device: params.device().clone(),
            batches: Arc::new(BatchCache::for_device(params.device())),
        })
    }

    /// The configuration the model was built from.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Element type of the model's tensors.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Device the model runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Takes the buffers `params` holds now (see [`crate::model::load_weights`]).
    pub fn refresh_buffers(&mut self, params: &Params) -> Result<()> {
        self.representation
            .refresh_buffers(&self.config.representation, params)
    }

    /// Turns activation checkpointing of the representation on or off.
    pub fn set_checkpointing(&mut self, on: bool) {
        self.representation.set_checkpointing(on);
    }

    /// Keeps batches in `cache` (shared with the models given the same one).
    pub fn set_batch_cache(&mut self, cache: Arc<BatchCache>) {
        self.batches = cache;
    }

    /// The same model whose host batches are kept in `other`'s cache.
    pub fn sharing_batches(mut self, other: &PoseModel) -> Self {
        self.batches = other.batches.clone();
        self
    }

    /// Representations `[graphs, D]` of several graphs, batched into one forward pass.
    pub fn represent(&self, graphs: &[&Graph]) -> Result<Tensor> {
        self.represent_keyed(graphs, None)
    }

    /// As [`Self::represent`]; with a key, the host batch is kept for the next call.
    fn represent_keyed(&self, graphs: &[&Graph], key: Option<BatchKey>) -> Result<Tensor> {
        let batch = {
            let _span = crate::profile::span(crate::profile::Phase::Batch, &self.device);
            self.batches.get_or_upload(
                key,
                graphs,
                self.dtype,
                &self.device,
                self.config.representation.reads_geometry(),
            )?
        };
        self.representation.forward(&batch)
    }

    /// Representations `[proteins, D]` of the compound's distinct proteins, or `None`
    /// when the strategy does not use the protein part.
    pub fn protein_reps(&self, compound: &CompoundGraphs) -> Result<Option<Tensor>> {
        if !self.config.strategy.needs_parts() || compound.proteins.is_empty() {
            return Ok(None);
        }
        let graphs: Vec<&Graph> = compound.proteins.iter().collect();
        let key = BatchKey {
            compounds: vec![compound.id.0],
            parts: (0..graphs.len() as u32).map(|i| (PROTEIN, i)).collect(),
        };
        Ok(Some(self.represent_keyed(&graphs, Some(key))?))
    }

    /// Per-pose predictions `[poses.len()]` (after the per-pose readout), all poses of
    /// the chunk in one batched forward pass.
    pub fn predict(
        &self,
        compound: &CompoundGraphs,
        poses: &[usize],
        protein: ProteinInput<'_>,
    ) -> Result<Tensor> {
        Ok(self
            .predict_with_embeddings(compound, poses, protein, false)?
            .0)
    }

    /// Predictions `[N]` of the poses of all `chunks` (one batched forward per chunk) and,
    /// with `embed`, their complex embeddings `[N, D]`.
    pub fn predict_chunks(
        &self,
        compound: &CompoundGraphs,
        chunks: &[Vec<usize>],
        protein: ProteinInput<'_>,
        embed: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let mut preds = Vec::with_capacity(chunks.len());
        let mut embeddings = Vec::new();
        for ids in chunks {
            let (y, z) = self.predict_with_embeddings(compound, ids, protein, embed)?;
            preds.push(y);
            embeddings.extend(z);
        }
        let embeddings = match embed {
            true => Some(Tensor::cat(&embeddings, 0)?),
            false => None,
        };
        Ok((Tensor::cat(&preds, 0)?, embeddings))
    }

    /// As [`Self::predict`], and with `embed` also the complex embeddings `[poses.len(), D]`
    /// (the pooled representation of each pose's complex graph) from the same forward pass.
    /// The ligand-only strategy has no complex graph: asking it for embeddings is an error.
    pub fn predict_with_embeddings(
        &self,
        compound: &CompoundGraphs,
        poses: &[usize],
        protein: ProteinInput<'_>,
        embed: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let kind = self.config.strategy;
        let (dg, complex) = match kind {
            StrategyKind::Complex => {
                let reps = self.represent_part(compound, poses, COMPLEX)?;
                (self.strategy.forward(&reps, &reps, &reps)?, Some(reps))
            }
            StrategyKind::LigandOnly => {
                let reps = self.represent_part(compound, poses, LIGAND)?;
                (self.strategy.forward(&reps, &reps, &reps)?, None)
            }
            StrategyKind::Delta | StrategyKind::Concat => {
                let (complex, protein, ligand) = self.represent_parts(compound, poses, protein)?;
                (
                    self.strategy.forward(&complex, &protein, &ligand)?,
                    Some(complex),
                )
            }
        };
        self.read_out(&dg, complex, embed)
    }

    /// Per-pose readout of ΔG `[k]` and, with `embed`, the complex embeddings.
    fn read_out(
        &self,
        dg: &Tensor,
        complex: Option<Tensor>,
        embed: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let embeddings = match (embed, complex) {
            (false, _) => None,
            (true, Some(z)) => Some(z),
            (true, None) => {
                return Err(Error::InvalidConfig(format!(
                    "the `{}` strategy has no complex embedding (attention needs one)",
                    self.config.strategy.name()
                )));
            }
        };
        Ok((self.config.pose_readout.forward(dg)?, embeddings))
    }

    /// Predictions `[N]` (and, with `embed`, embeddings `[N, D]`) of every pose of each
    /// of several compounds, one pair per compound, from one batched forward pass: small
    /// compounds fill the device together instead of one launch sequence each. Every
    /// compound's distinct proteins go into the same batch once (delta, concat), so the
    /// result is differentiable end to end like [`ProteinInput::Batched`].
    pub fn predict_packed(
        &self,
        compounds: &[&CompoundGraphs],
        embed: bool,
    ) -> Result<Vec<(Tensor, Option<Tensor>)>> {
        let kind = self.config.strategy;
        let items: Vec<(&CompoundGraphs, Vec<usize>)> = compounds
            .iter()
            .map(|c| (*c, (0..c.num_poses()).collect()))
            .collect();
        let total: usize = items.iter().map(|(_, p)| p.len()).sum();
        let parts: &[u8] = match kind {
            StrategyKind::Complex => &[COMPLEX],
            StrategyKind::LigandOnly => &[LIGAND],
            StrategyKind::Delta | StrategyKind::Concat => &[COMPLEX, LIGAND],
        };
        let mut graphs = Vec::new();
        for &part in parts {
            for (c, poses) in &items {
                graphs.extend(self.pick(c, poses, part)?);
            }
        }
        let mut protein_rows = Vec::with_capacity(total);
        if kind.needs_parts() {
            for (c, poses) in &items {
                let ids = self.pose_proteins(c, poses)?;
                let distinct = distinct(&ids);
                let base = graphs.len();
                graphs.extend(distinct.iter().map(|&i| &c.proteins[i as usize]));
                protein_rows.extend(
                    ids.iter()
                        .map(|id| (base + distinct.partition_point(|d| d < id)) as u32),
                );
            }
        }
        let key = BatchKey {
            compounds: compounds.iter().map(|c| c.id.0).collect(),
            parts: vec![(PACKED, 0)],
        };
        let reps = self.represent_keyed(&graphs, Some(key))?;
        let first = reps.narrow(0, 0, total)?;
        let (dg, complex) = match kind {
            StrategyKind::Complex => (self.strategy.forward(&first, &first, &first)?, Some(first)),
            StrategyKind::LigandOnly => (self.strategy.forward(&first, &first, &first)?, None),
            StrategyKind::Delta | StrategyKind::Concat => {
                let ligand = reps.narrow(0, total, total)?;
                let rows = Tensor::from_vec(protein_rows, total, &self.device)?;
                let protein = reps.index_select(&rows, 0)?;
                (
                    self.strategy.forward(&first, &protein, &ligand)?,
                    Some(first),
                )
            }
        };
        let (preds, embeddings) = self.read_out(&dg, complex, embed)?;
        let mut offset = 0;
        items
            .iter()
            .map(|(_, poses)| {
                let n = poses.len();
                let part = (
                    preds.narrow(0, offset, n)?,
                    embeddings
                        .as_ref()
                        .map(|e| e.narrow(0, offset, n))
                        .transpose()?,
                );
                offset += n;
                Ok(part)
            })
            .collect()
    }

    /// The protein index of each of the listed poses (delta and concat).
    fn pose_proteins(&self, compound: &CompoundGraphs, poses: &[usize]) -> Result<Vec<u32>> {
        poses
            .iter()
            .map(|&p| compound.poses[p].protein.map(|i| i as u32))
            .collect::<Option<_>>()
            .ok_or_else(|| wrong_strategy(self.config.strategy))
    }

    /// Representations `[k, D]` of one part (complex or ligand) of the chunk's poses.
    fn represent_part(
        &self,
        compound: &CompoundGraphs,
        poses: &[usize],
        part: u8,
    ) -> Result<Tensor> {
        let graphs = self.pick(compound, poses, part)?;
        self.represent_keyed(&graphs, Some(batch_key(compound, poses, &[part], &[])))
    }

    /// Representations `[k, D]` of complex, protein and ligand of the chunk's poses
    /// (delta and concat), the protein from `protein`.
    fn represent_parts(
        &self,
        compound: &CompoundGraphs,
        poses: &[usize],
        protein: ProteinInput<'_>,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let k = poses.len();
        let protein_ids = self.pose_proteins(compound, poses)?;
        let mut graphs = self.pick(compound, poses, COMPLEX)?;
        graphs.extend(self.pick(compound, poses, LIGAND)?);
        let distinct = distinct(&protein_ids);
        let inline: &[u32] = match protein {
            ProteinInput::Inline => &protein_ids,
            ProteinInput::Batched => &distinct,
            ProteinInput::Shared(_) => &[],
        };
        graphs.extend(inline.iter().map(|&i| &compound.proteins[i as usize]));
        let key = batch_key(compound, poses, &[COMPLEX, LIGAND], inline);
        let reps = self.represent_keyed(&graphs, Some(key))?;
        let complex = reps.narrow(0, 0, k)?;
        let ligand = reps.narrow(0, k, k)?;
        let protein = match protein {
            ProteinInput::Inline => reps.narrow(0, 2 * k, k)?,
            ProteinInput::Batched => {
                let rows: Vec<u32> = protein_ids
                    .iter()
                    .map(|id| (2 * k + distinct.partition_point(|d| d < id)) as u32)
                    .collect();
                reps.index_select(&Tensor::from_vec(rows, k, &self.device)?, 0)?
            }
            ProteinInput::Shared(shared) => {
                let ids = Tensor::from_vec(protein_ids, k, &self.device)?;
                shared.index_select(&ids, 0)?
            }
        };
        Ok((complex, protein, ligand))
    }

    /// The complex (`COMPLEX`) or ligand (`LIGAND`) graphs of the chunk's poses.
    fn pick<'c>(
        &self,
        compound: &'c CompoundGraphs,
        poses: &[usize],
        part: u8,
    ) -> Result<Vec<&'c Graph>> {
        poses
            .iter()
            .map(|&p| {
                let pose = &compound.poses[p];
                let graph = if part == COMPLEX {
                    pose.complex.as_ref()
                } else {
                    pose.ligand.as_ref()
                };
                graph.ok_or_else(|| wrong_strategy(self.config.strategy))
            })
            .collect()
    }
}

/// The distinct values of `ids`, ascending.
fn distinct(ids: &[u32]) -> Vec<u32> {
    let mut d = ids.to_vec();
    d.sort_unstable();
    d.dedup();
    d
}

/// Key of a chunk's host batch: the given parts of every pose, then the inline proteins.
fn batch_key(
    compound: &CompoundGraphs,
    poses: &[usize],
    parts: &[u8],
    proteins: &[u32],
) -> BatchKey {
    BatchKey {
        compounds: vec![compound.id.0],
        parts: parts
            .iter()
            .flat_map(|&part| poses.iter().map(move |&p| (part, p as u32)))
            .chain(proteins.iter().map(|&i| (PROTEIN, i)))
            .collect(),
    }
}
