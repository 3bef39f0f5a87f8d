//! Data-parallel training over several processes, one per device: each optimiser batch is
//! split across the processes ([`shard`]), each computes the mean gradient of its share,
//! and a [`Collective`] sums the shares (NCCL between GPUs, TCP between CPU processes), so
//! every process steps an identical optimiser with the gradient one process would have.
//!
//! Processes find each other as torchrun's do ([`WorkerEnv`]: RANK, WORLD_SIZE,
//! MASTER_ADDR, MASTER_PORT) through a small TCP [`rendezvous`]; [`launch`] starts them on
//! one host and stops them all when one fails. See `docs/distributed.md`.

mod collective;
mod env;
mod launcher;
#[cfg(feature = "cuda")]
mod nccl;
pub mod rendezvous;
pub mod shard;
mod tcp;

pub use collective::Collective;
pub use env::{WorkerEnv, World};
pub use launcher::{Launch, launch};
