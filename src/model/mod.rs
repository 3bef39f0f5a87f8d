//! Single-pose models: a representation (SchNet today, behind `representation.rs`),
//! strategies, readouts, weights.

mod config;
mod init;
mod layer_norm;
pub mod ops;
mod params;
mod pose_model;
mod readout;
mod representation;
pub mod schnet;
mod strategy;
pub mod visnet;
mod weights;

pub use crate::graph::{CompoundGraphs, PoseGraphs};
pub use config::{ModelConfig, SchNetConfig, StrategyKind};
pub use init::init_params;
pub use layer_norm::LayerNorm;
pub use params::{Params, Start};
pub use pose_model::{PoseModel, ProteinInput};
pub use readout::Readout;
pub use representation::{ActivationBytes, Representation, RepresentationConfig, SCHNET_OFFSETS};
pub use strategy::Strategy;
pub use weights::{load_tensors, load_weights, safetensors_bytes, save_weights, weights_bytes};
