//! The networks' fused operations: candle custom ops with a CPU and a CUDA side and a
//! hand-written backward each, so a layer is one launch instead of several candle ops.
//!
//! SchNet's layers (`schnet/`) use all of them; ViSNet (`visnet/`) pools with
//! `SegmentSum`. Nothing here knows about layers. `grouped_sum` is the one gather–sum primitive
//! (message passing and pooling); `cuda` holds the kernel launches only.

mod activation;
#[cfg(feature = "cuda")]
mod cuda;
mod dense;
mod filter;
mod grouped_sum;
mod handover;
mod host;
mod message;
mod pool;

pub use activation::shifted_softplus;
pub use dense::{linear_scaled, linear_ssp};
pub(crate) use filter::filter;
pub(crate) use handover::HandOver;
pub use message::MessagePassing;
pub use pool::SegmentSum;
