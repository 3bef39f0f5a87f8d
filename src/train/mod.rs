//! Training: configuration, targets, optimisers, splits, metrics, early stopping and the
//! training loop with checkpoints and exact resume.

mod augment;
mod checkpoint;
mod config;
mod ensemble;
mod epoch;
mod import;
pub mod metrics;
mod optim;
pub mod pairwise;
mod parallel;
pub(crate) mod plots;
mod prepare;
mod report;
mod run_dir;
pub mod shift;
pub mod split;
mod stopping;
mod target_metrics;
mod target_split;
mod targets;
mod trained;
mod trainer;

pub use checkpoint::{
    CHECKPOINT, RunLock, current_checkpoint, lock_run, verify_checkpoint, write_text,
};
pub use config::{
    AugmentConfig, DataConfig, EngineSection, LossConfig, ModelSection, OptimConfig, ReadoutConfig,
    RepresentationSection, SplitConfig, StoppingConfig, TrainConfig, default_toml_commented,
};
pub use ensemble::{ENSEMBLE_FILE, Member, data_settings, load_members, predict_members};
pub use import::{Inferred, import_mtenn, infer, mtenn_config_overrides, mtenn_settings};
pub use optim::{Optimizer, OptimizerKind};
pub use prepare::{
    Prepared, dataset_options, engine_config, grouped_config, make_split, make_split_grouped,
    prepare, report_warnings, split_groups,
};
pub use report::Summary;
pub use run_dir::{BEST_WEIGHTS, LAST_WEIGHTS, Plot, RunDir};
pub use split::{Split, SplitGroup, SplitKind};
pub use stopping::{Decision, EarlyStopping, StoppingKind};
pub use target_metrics::{MIN_TARGET_SIZE, TargetMetrics, paired_spearman_difference, per_target};
pub use target_split::Parts;
pub use targets::{PoseLabel, objective};
pub use trained::{EnsemblePrediction, TrainedModel};
pub use trainer::{RunOptions, holds_run, resume, resume_with, train};
