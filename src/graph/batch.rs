//! Several graphs as one disjoint graph on a device, with a per-atom graph index.
//!
//! Edge lengths are stored once per distinct value: i→j and j→i have the same length, and
//! the protein–protein edges of all poses of a compound repeat exactly, so the distance
//! filter (the bulk of SchNet's work) is evaluated once per distinct length and shared.

use super::Graph;
use crate::error::Result;
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;

/// A disjoint union of graphs, ready for message passing.
#[derive(Debug, Clone)]
pub struct GraphBatch {
    /// Atomic numbers, `[atoms]` u32.
    pub z: Tensor,
    /// Edge sources, `[edges]` u32, offset into the batch.
    pub src: Tensor,
    /// Edge targets, `[edges]` u32, offset into the batch.
    pub dst: Tensor,
    /// Distinct edge lengths, `[lengths]` in the model dtype.
    pub dist: Tensor,
    /// For every edge, the row of its length in `dist`, `[edges]` u32.
    pub edge_row: Tensor,
    /// Host copies of `src`, `dst` and `edge_row` (for the CPU message-passing op).
    pub host_edges: (Vec<u32>, Vec<u32>, Vec<u32>),
    /// Graph index of every atom, `[atoms]` u32.
    pub segment: Tensor,
    /// Host copy of `segment`.
    pub host_segment: Vec<u32>,
    /// The distinct atomic numbers of the batch, ascending, `[elements]` u32.
    pub elements: Tensor,
    /// For every atom, its row in `elements`, `[atoms]` u32.
    pub element_index: Tensor,
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
        let mut dist: Vec<f64> = Vec::new();
        let mut edge_row = Vec::with_capacity(edges);
        let mut rows: HashMap<u64, u32> = HashMap::new();
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
        let lengths = dist.len();
        let mut present = [false; 256];
        for &zi in &z {
            present[(zi as usize).min(255)] = true;
        }
        let elements: Vec<u32> = (0..256u32).filter(|&e| present[e as usize]).collect();
        let mut compact = [0u32; 256];
        for (i, &e) in elements.iter().enumerate() {
            compact[e as usize] = i as u32;
        }
        let element_index: Vec<u32> = z
            .iter()
            .map(|&zi| compact[(zi as usize).min(255)])
            .collect();
        Ok(Self {
            elements: Tensor::new(elements.as_slice(), device)?,
            element_index: Tensor::from_vec(element_index, atoms, device)?,
            z: Tensor::from_vec(z, atoms, device)?,
            src: Tensor::new(src.as_slice(), device)?,
            dst: Tensor::new(dst.as_slice(), device)?,
            dist: Tensor::from_vec(dist, lengths, device)?.to_dtype(dtype)?,
            edge_row: Tensor::new(edge_row.as_slice(), device)?,
            host_edges: (src, dst, edge_row),
            segment: Tensor::new(segment.as_slice(), device)?,
            host_segment: segment,
            num_graphs: graphs.len(),
            num_atoms: atoms,
        })
    }
}
