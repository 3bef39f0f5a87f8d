//! Radius graphs of structures (with positions), a compound's graphs per pose, and their
//! batching into one disjoint graph.

mod batch;
mod batch_cache;
mod compound;
#[cfg(feature = "cuda")]
mod gpu;
mod grouping;
mod radius;

pub use batch::{Geometry, GraphBatch, HostBatch};
pub use batch_cache::{BatchCache, BatchKey, CompoundId};
pub use compound::{CompoundGraphs, Parts, PoseGraphs};
#[cfg(feature = "cuda")]
pub use gpu::GpuArrays;
pub use grouping::{EdgeGroupings, Grouping};
pub use radius::{Graph, GraphConfig};
