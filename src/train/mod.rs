//! Training: configuration, targets, optimisers, splits, metrics, early stopping and the
//! training loop with checkpoints and exact resume.

mod config;
pub mod metrics;
mod optim;
pub mod split;
mod stopping;

pub use config::{
    DataConfig, EngineSection, LossConfig, ModelSection, OptimConfig, SplitConfig,
    StoppingConfig, TrainConfig, default_toml_commented,
};
pub use optim::{Optimizer, OptimizerKind};
pub use stopping::{Decision, EarlyStopping};
