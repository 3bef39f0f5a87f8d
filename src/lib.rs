//! multipose: structure-based binding-affinity models over several docked poses per
//! compound, trained with exact gradients in memory flat in the number of poses.
//!
//! Data flow: [`structure`] → [`dataset`] → [`graph`] → [`model`] → [`combine`] → [`train`]
//! → [`benchmark`] / CLI; [`chem`] and [`baseline`] are the ligand-only side (fingerprints,
//! the baselines to beat); [`dock`] turns SMILES into poses through Python; [`bench`] times training steps; [`distributed`] spreads training
//! over several processes.

pub mod baseline;
pub mod bench;
pub mod benchmark;
pub mod chem;
pub mod choice;
pub mod combine;
pub mod dataset;
pub mod device;
pub mod distributed;
pub mod dock;
pub mod error;
pub mod graph;
pub mod model;
pub mod profile;
pub mod rng;
pub mod structure;
pub mod train;

pub use error::{Error, Result};
