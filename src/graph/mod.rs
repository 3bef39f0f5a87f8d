//! Radius graphs of structures and their batching into one disjoint graph.

mod batch;
mod radius;

pub use batch::GraphBatch;
pub use radius::{Graph, GraphConfig};
