//! Multi-pose models: combinations of per-pose predictions, losses, and the four
//! gradient engines (full, stored, streaming, recompute) that all give the same gradient.

mod attention;
mod combination;
pub use combination::{softmax_f64, top_pose};
pub mod engine;
mod grouped;
mod loss;

pub use combination::{Combination, CombinationChoice, CombinationConfig, CombinationKind, Online};
pub use engine::{
    BatchStep, ChunkPolicy, CompoundStep, EngineConfig, EngineKind, Gradients, StepResult,
    train_batch, train_step,
};
pub use grouped::{GroupedConfig, GroupedModel, Prediction};
pub use loss::{Objective, OutputTerm, PoseTerm};
