//! Radius graphs of structures and their batching into one disjoint graph.

mod batch;
mod batch_cache;
mod grouping;
mod radius;

pub use batch::{GraphBatch, HostBatch};
pub use batch_cache::{BatchCache, BatchKey, CompoundId};
pub use grouping::{EdgeGroupings, Grouping};
pub use radius::{Graph, GraphConfig};
