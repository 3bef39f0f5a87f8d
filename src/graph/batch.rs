//! Several graphs as one disjoint graph on a device, with a per-atom graph index.
//!
//! Edge lengths are stored once per distinct value: i→j and j→i have the same length, and
//! the protein–protein edges of all poses of a compound repeat exactly, so the distance
//! filter (the bulk of SchNet's work) is evaluated once per distinct length and shared.
//!
//! The host side ([`HostBatch`]: concatenation, length deduplication, edge groupings) is
//! the expensive part for large complexes and does not depend on the weights, so it is
//! built once and kept ([`super::BatchCache`]). On a GPU a batch keeps its device copies
//! and only the group boundaries on the host ([`HostBatch::hollow`]): the fused sums
//! there read the GPU copies, and a kept batch then costs host memory per atom, not per
//! edge.

use super::{EdgeGroupings, Graph, Grouping};
use crate::error::Result;
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use std::sync::Arc;

/// Everything about a batch that is computed on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostBatch {
    /// Edge sources, offset into the batch.
    pub src: Vec<u32>,
    /// Edge targets, offset into the batch.
    pub dst: Vec<u32>,
    /// Distinct edge lengths (Å).
    pub dist: Vec<f64>,
    /// For every edge, the row of its length in `dist`.
    pub edge_row: Vec<u32>,
    /// Graph index of every atom.
    pub segment: Vec<u32>,
    /// The distinct atomic numbers of the batch, ascending.
    pub elements: Vec<u32>,
    /// For every atom, its row in `elements`.
    pub element_index: Vec<u32>,
    /// Edges grouped for the fused message passing.
    pub edges: EdgeGroupings,
    /// Atoms grouped by graph, for pooling.
    pub pool: Arc<Grouping>,
    /// Number of graphs.
    pub num_graphs: usize,
    /// Number of atoms.
    pub atoms: usize,
}

/// The batch's atoms and directed edges as they are, for networks that prepare their own
/// geometry from positions (ViSNet: edge vectors and their harmonics) instead of SchNet's
/// deduplicated lengths.
#[derive(Debug, Clone)]
pub struct Geometry {
    /// Atom positions `[atoms, 3]`, Å, in the model dtype.
    pub pos: Tensor,
    /// Source atom j of every edge j → i, `[edges]` u32.
    pub src: Tensor,
    /// Target atom i of every edge, `[edges]` u32.
    pub dst: Tensor,
}

impl Geometry {
    fn new(graphs: &[&Graph], host: &HostBatch, dtype: DType, device: &Device) -> Result<Self> {
        let pos: Vec<f64> = graphs
            .iter()
            .flat_map(|g| g.pos.iter().flatten().copied())
            .collect();
        Ok(Self {
            pos: Tensor::from_vec(pos, (host.atoms, 3), device)?.to_dtype(dtype)?,
            src: Tensor::new(host.src.as_slice(), device)?,
            dst: Tensor::new(host.dst.as_slice(), device)?,
        })
    }

    fn bytes(&self) -> usize {
        let n = |t: &Tensor| t.elem_count() * t.dtype().size_in_bytes();
        n(&self.pos) + n(&self.src) + n(&self.dst)
    }
}

impl HostBatch {
    /// Concatenates graphs, shifting atom indices, and groups their edges.
    pub fn new(graphs: &[&Graph]) -> Self {
        let atoms: usize = graphs.iter().map(|g| g.num_atoms()).sum();
        let edges: usize = graphs.iter().map(|g| g.num_edges()).sum();
        let mut z = Vec::with_capacity(atoms);
        let mut segment = Vec::with_capacity(atoms);
        let mut src = Vec::with_capacity(edges);
        let mut dst = Vec::with_capacity(edges);
        let mut dist: Vec<f64> = Vec::new();
        let mut edge_row = Vec::with_capacity(edges);
        // Keys are f64 bit patterns from our own graphs: a fast non-cryptographic hash
        // (foldhash, hashbrown's default) instead of SipHash, which made this loop most of
        // an uncached batch's host time.
        let mut rows: HashMap<u64, u32, foldhash::fast::FixedState> =
            HashMap::with_hasher(foldhash::fast::FixedState::default());
        let mut offset = 0u32;
        for (k, g) in graphs.iter().enumerate() {
            z.extend_from_slice(&g.z);
            segment.extend(std::iter::repeat_n(k as u32, g.num_atoms()));
            src.extend(g.src.iter().map(|s| s + offset));
            dst.extend(g.dst.iter().map(|d| d + offset));
            for &d in &g.dist {
                let row = *rows.entry(d.to_bits()).or_insert_with(|| {
                    dist.push(d);
                    (dist.len() - 1) as u32
                });
                edge_row.push(row);
            }
            offset += g.num_atoms() as u32;
        }
        let mut present = [false; 256];
        for &zi in &z {
            present[(zi as usize).min(255)] = true;
        }
        let elements: Vec<u32> = (0..256u32).filter(|&e| present[e as usize]).collect();
        let mut compact = [0u32; 256];
        for (i, &e) in elements.iter().enumerate() {
            compact[e as usize] = i as u32;
        }
        let element_index = z
            .iter()
            .map(|&zi| compact[(zi as usize).min(255)])
            .collect();
        let all_atoms: Vec<u32> = (0..atoms as u32).collect();
        Self {
            edges: EdgeGroupings::new(&src, &dst, &edge_row, atoms, dist.len()),
            pool: Arc::new(Grouping::by_key(&segment, graphs.len(), &all_atoms, None)),
            src,
            dst,
            dist,
            edge_row,
            segment,
            elements,
            element_index,
            num_graphs: graphs.len(),
            atoms,
        }
    }

    /// Number of atoms.
    pub fn num_atoms(&self) -> usize {
        self.atoms
    }

    /// The batch without its per-edge and per-atom host arrays: the groupings keep their
    /// boundaries and GPU copies (see [`Grouping::hollow`]). For a batch already on a GPU.
    pub fn hollow(&self) -> Self {
        Self {
            src: Vec::new(),
            dst: Vec::new(),
            dist: Vec::new(),
            edge_row: Vec::new(),
            segment: Vec::new(),
            elements: Vec::new(),
            element_index: Vec::new(),
            edges: self.edges.hollow(),
            pool: Arc::new(self.pool.hollow()),
            num_graphs: self.num_graphs,
            atoms: self.atoms,
        }
    }

    /// Heap bytes held (for the cache budget).
    pub fn bytes(&self) -> usize {
        4 * (self.src.len()
            + self.dst.len()
            + 2 * self.dist.len()
            + self.edge_row.len()
            + self.segment.len()
            + self.elements.len()
            + self.element_index.len())
            + self.edges.bytes()
            + self.pool.bytes()
    }
}

/// A disjoint union of graphs, ready for message passing on a device.
#[derive(Debug, Clone)]
pub struct GraphBatch {
    /// The host side: whole on CPU, [`HostBatch::hollow`] on a GPU.
    pub host: Arc<HostBatch>,
    /// Distinct edge lengths, `[lengths]` in the model dtype.
    pub dist: Tensor,
    /// Graph index of every atom, `[atoms]` u32.
    pub segment: Tensor,
    /// The distinct atomic numbers of the batch, ascending, `[elements]` u32.
    pub elements: Tensor,
    /// For every atom, its row in `elements`, `[atoms]` u32.
    pub element_index: Tensor,
    /// Number of graphs in the batch.
    pub num_graphs: usize,
    /// Number of atoms in the batch.
    pub num_atoms: usize,
    /// Positions and edges, when the network asked for them.
    pub geometry: Option<Geometry>,
    /// Bytes of the batch's arrays (on the host, or on the GPU), for the cache budget.
    pub bytes: usize,
}

impl GraphBatch {
    /// Concatenates graphs and moves them to `device`; `geometry` adds positions and
    /// edges ([`Geometry`]).
    pub fn new(graphs: &[&Graph], dtype: DType, device: &Device, geometry: bool) -> Result<Self> {
        let host = HostBatch::new(graphs);
        let lengths = host.dist.len();
        let geometry = match geometry {
            true => Some(Geometry::new(graphs, &host, dtype, device)?),
            false => None,
        };
        Self {
            dist: Tensor::from_slice(&host.dist, lengths, device)?.to_dtype(dtype)?,
            segment: Tensor::new(host.segment.as_slice(), device)?,
            elements: Tensor::new(host.elements.as_slice(), device)?,
            element_index: Tensor::new(host.element_index.as_slice(), device)?,
            num_graphs: host.num_graphs,
            num_atoms: host.num_atoms(),
            bytes: host.bytes() + geometry.as_ref().map_or(0, Geometry::bytes),
            geometry,
            host: Arc::new(host),
        }
        .resident(device)
    }

    /// On a GPU: the groupings copied there and the host side hollowed.
    #[cfg(feature = "cuda")]
    fn resident(mut self, device: &Device) -> Result<Self> {
        if let Device::Cuda(dev) = device {
            for g in self.host.edges.all().into_iter().chain([&self.host.pool]) {
                g.to_gpu(dev)?;
            }
            self.host = Arc::new(self.host.hollow());
        }
        Ok(self)
    }

    #[cfg(not(feature = "cuda"))]
    fn resident(self, _device: &Device) -> Result<Self> {
        Ok(self)
    }
}
