//! Batches kept between training steps, uploaded.
//!
//! Training revisits the same chunks of the same compounds every epoch, and for a large
//! complex the host work of a batch (deduplicating edge lengths, grouping edges) costs
//! more than the GPU's forward and backward; a kept batch also keeps its device copies,
//! so it is not uploaded again. Batches are kept up to a byte budget; once
//! it is full, further batches are built each time and not kept. That suits the cyclic
//! order of epochs, under which a least-recently-used cache would evict every entry
//! before its next use.

use super::{Graph, GraphBatch};
use candle_core::{DType, Device};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Names a batch: which graphs of which compounds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BatchKey {
    /// The compounds' [`CompoundId`]s, in batch order (one, or several packed together).
    pub compounds: Vec<u64>,
    /// Which graphs of each item (complex, ligand, protein, ...), as the caller numbers them.
    pub parts: Vec<(u8, u32)>,
}

/// Identity of one set of graphs, for caches: fresh for every build or load, kept by
/// clones (a clone has the same graphs). It is not part of the value: all ids compare equal.
#[derive(Debug, Clone, Copy)]
pub struct CompoundId(pub u64);

impl Default for CompoundId {
    fn default() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

impl PartialEq for CompoundId {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Batches up to a byte budget (of their arrays, on the host or the GPU), shared by the
/// models of one run (which share a device and dtype).
#[derive(Debug)]
pub struct BatchCache {
    budget: usize,
    kept: Mutex<(usize, HashMap<BatchKey, GraphBatch>)>,
}

impl BatchCache {
    /// Default budget: 2 GiB of host memory.
    pub const DEFAULT_BUDGET: usize = 2 << 30;

    /// A cache keeping up to `budget` bytes.
    pub fn new(budget: usize) -> Self {
        Self {
            budget,
            kept: Mutex::new((0, HashMap::new())),
        }
    }

    /// The kept batch for `key`, or a new one from `graphs` uploaded to `device` (kept
    /// while within budget); `geometry` as [`GraphBatch::new`] (one cache serves one
    /// network, so a key's batch always has what that network asked for).
    pub fn get_or_upload(
        &self,
        key: Option<BatchKey>,
        graphs: &[&Graph],
        dtype: DType,
        device: &Device,
        geometry: bool,
    ) -> crate::error::Result<GraphBatch> {
        let Some(key) = key else {
            return GraphBatch::new(graphs, dtype, device, geometry);
        };
        if let Some(b) = self.lock().1.get(&key) {
            return Ok(b.clone());
        }
        let batch = GraphBatch::new(graphs, dtype, device, geometry)?;
        let mut kept = self.lock();
        let bytes = batch.bytes;
        if kept.0 + bytes <= self.budget {
            kept.0 += bytes;
            kept.1.insert(key, batch.clone());
        }
        Ok(batch)
    }

    /// Bytes currently kept.
    pub fn bytes(&self) -> usize {
        self.lock().0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (usize, HashMap<BatchKey, GraphBatch>)> {
        // A panic elsewhere cannot leave the map inconsistent (inserts are single calls).
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl BatchCache {
    /// The budget for models on `device`: [`Self::DEFAULT_BUDGET`] on a GPU, where host
    /// batching of an uncached step costs as much as its kernels (a 15-target epoch took
    /// 7.7 s instead of 1.1 s on an H200); nothing on CPU, where keeping batches made host
    /// memory grow with the number of poses (peak RSS 1.28× from N = 16 to 128 at 600
    /// atoms, chunk 8; 1.08× without) for about a tenth of the epoch time of 600-atom
    /// pockets on 2 cores.
    pub fn for_device(device: &candle_core::Device) -> Self {
        match device {
            candle_core::Device::Cpu => Self::new(0),
            _ => Self::default(),
        }
    }
}

impl Default for BatchCache {
    fn default() -> Self {
        Self::new(Self::DEFAULT_BUDGET)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{GraphConfig, HostBatch};
    use crate::structure::Structure;
    use std::sync::Arc;

    fn graph() -> Graph {
        let s = Structure::new(
            "w",
            vec![8, 1, 1],
            vec![[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]],
            None,
        )
        .unwrap();
        Graph::build(&s, &GraphConfig::default()).unwrap()
    }

    #[test]
    fn keeps_batches_within_budget_only() {
        let g = graph();
        let key = |i| {
            Some(BatchKey {
                compounds: vec![1],
                parts: vec![(0, i)],
            })
        };
        let one = HostBatch::new(&[&g]).bytes();
        let cache = BatchCache::new(one);
        let get = |k| {
            cache
                .get_or_upload(key(k), &[&g], DType::F64, &Device::Cpu, false)
                .unwrap()
        };
        let a = get(0);
        assert!(Arc::ptr_eq(&a.host, &get(0).host));
        let b = get(1);
        assert!(!Arc::ptr_eq(&b.host, &get(1).host));
        assert_eq!(cache.bytes(), one);
        assert_eq!(*a.host, *b.host);
    }
}
