//! Several graphs as one disjoint graph on a device, with a per-atom graph index.

use super::Graph;
use crate::error::Result;
use candle_core::{DType, Device, Tensor};

/// A disjoint union of graphs, ready for message passing.
#[derive(Debug, Clone)]
pub struct GraphBatch {
    /// Atomic numbers, `[atoms]` u32.
    pub z: Tensor,
    /// Edge sources, `[edges]` u32, offset into the batch.
    pub src: Tensor,
    /// Edge targets, `[edges]` u32, offset into the batch.
    pub dst: Tensor,
    /// Edge lengths, `[edges]` in the model dtype.
    pub dist: Tensor,
    /// Graph index of every atom, `[atoms]` u32.
    pub segment: Tensor,
    /// Number of graphs in the batch.
    pub num_graphs: usize,
    /// Number of atoms in the batch.
    pub num_atoms: usize,
}

impl GraphBatch {
    /// Concatenates graphs, shifting atom indices, and moves them to `device`.
    pub fn new(graphs: &[&Graph], dtype: DType, device: &Device) -> Result<Self> {
        let atoms: usize = graphs.iter().map(|g| g.num_atoms()).sum();
        let edges: usize = graphs.iter().map(|g| g.num_edges()).sum();
        let mut z = Vec::with_capacity(atoms);
        let mut segment = Vec::with_capacity(atoms);
        let mut src = Vec::with_capacity(edges);
        let mut dst = Vec::with_capacity(edges);
        let mut dist = Vec::with_capacity(edges);
        let mut offset = 0u32;
        for (k, g) in graphs.iter().enumerate() {
            z.extend_from_slice(&g.z);
            segment.extend(std::iter::repeat_n(k as u32, g.num_atoms()));
            src.extend(g.src.iter().map(|s| s + offset));
            dst.extend(g.dst.iter().map(|d| d + offset));
            dist.extend_from_slice(&g.dist);
            offset += g.num_atoms() as u32;
        }
        Ok(Self {
            z: Tensor::from_vec(z, atoms, device)?,
            src: Tensor::from_vec(src, edges, device)?,
            dst: Tensor::from_vec(dst, edges, device)?,
            dist: Tensor::from_vec(dist, edges, device)?.to_dtype(dtype)?,
            segment: Tensor::from_vec(segment, atoms, device)?,
            num_graphs: graphs.len(),
            num_atoms: atoms,
        })
    }
}
