//! The training configuration: one TOML file, every key overridable from the command line
//! (`--section.key value`). Unknown keys and wrong types are errors that name the key.

use super::OptimizerKind;
use super::shift::Offsets;
use super::split::{SplitGroup, SplitKind};
use super::stopping::StoppingKind;
use super::targets::PoseLabel;
use crate::combine::{CombinationChoice, EngineKind};
use crate::dataset::PoseSelection;
use crate::error::{Error, Result};
use crate::model::visnet::ViSNetConfig;
use crate::model::{RepresentationConfig, SchNetConfig, StrategyKind};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where the data is and how it is featurised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Dataset folder (receptor.pdb, poses/, labels.csv), folder of target folders, or
    /// manifest CSV.
    pub path: PathBuf,
    /// Which poses of each compound the model sees.
    pub poses: PoseSelection,
    /// Targets with fewer exact labels in a part are reported but left out of the
    /// per-target means.
    pub min_target_size: usize,
    /// Keep protein atoms within this many Å of any pose (0 = whole protein).
    pub pocket_radius: f64,
    /// Keep hydrogens.
    pub keep_hydrogens: bool,
    /// Folder for the graph cache ("" = no cache).
    pub cache: PathBuf,
    /// Stop at the first compound or target that would be left out (no label, no poses,
    /// a missing file) instead of listing it in `skipped`.
    pub strict: bool,
}

impl DataConfig {
    /// The pocket crop: `None` keeps the whole protein (a radius of 0).
    pub fn pocket(&self) -> Option<f64> {
        Some(self.pocket_radius).filter(|r| *r > 0.0)
    }
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            path: "data/tyk2".into(),
            poses: PoseSelection::All,
            min_target_size: super::MIN_TARGET_SIZE,
            pocket_radius: 6.0,
            keep_hydrogens: false,
            cache: PathBuf::new(),
            strict: false,
        }
    }
}

/// The model: SchNet, strategy, combination.
///
/// SchNet's keys sit in `[model]` itself (flattened), as they always have; unknown keys
/// are caught by [`TrainConfig::from_toml`], since serde's `deny_unknown_fields` does not
/// work beside `flatten`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelSection {
    /// SchNet's hyper-parameters (the keys at the top of `[model]`, as before there was a
    /// choice of network; they mean SchNet).
    #[serde(flatten)]
    pub schnet: SchNetConfig,
    /// The network: `[model.representation] kind = "schnet"` (the keys above) or
    /// `kind = "visnet"` with ViSNet's own keys in that table.
    pub representation: RepresentationSection,
    /// How representations become one ΔG per pose.
    pub strategy: StrategyKind,
    /// LayerNorm in the strategy head.
    pub layer_norm: bool,
    /// How the poses' predictions become one.
    pub combination: CombinationChoice,
    /// max: smooth minimum instead of maximum.
    pub negate: bool,
    /// max: scale t.
    pub scale: f64,
    /// boltzmann: temperature T.
    pub temperature: f64,
    /// Learn the scale / temperature.
    pub learnable: bool,
    /// attention: width A of the scorer wᵀ tanh(V z + b).
    pub attention_width: usize,
    /// Start from these weights (mtenn safetensors; "" = random, seeded).
    pub init_weights: PathBuf,
    /// Δ-learning: the prediction is a·s + the network's, s the compound's best docking
    /// score (`vina_score`, kcal/mol) and a learned, from −1/RT ln 10 (the score as pK).
    pub delta_docking: bool,
}

impl Default for ModelSection {
    fn default() -> Self {
        Self {
            // Smaller than mtenn's (SchNetConfig::default) so CPU training takes minutes.
            schnet: SchNetConfig {
                hidden_channels: 64,
                num_filters: 64,
                num_interactions: 3,
                num_gaussians: 25,
                cutoff: 6.0,
                max_num_neighbors: 16,
            },
            representation: RepresentationSection::SchNet,
            strategy: StrategyKind::Delta,
            layer_norm: false,
            combination: CombinationChoice::Max,
            negate: true,
            scale: 1.0,
            temperature: 1.0,
            learnable: false,
            attention_width: 16,
            init_weights: PathBuf::new(),
            delta_docking: false,
        }
    }
}

/// `[model.representation]`: which network, tagged by `kind`, with that network's keys.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum RepresentationSection {
    /// SchNet, with the keys at the top of `[model]`.
    #[default]
    #[serde(rename = "schnet")]
    SchNet,
    /// ViSNet, with its keys here (torch_geometric's names and defaults).
    #[serde(rename = "visnet")]
    ViSNet(ViSNetConfig),
}

impl ModelSection {
    /// The network these settings choose, with its hyper-parameters.
    pub fn representation(&self) -> RepresentationConfig {
        match &self.representation {
            RepresentationSection::SchNet => RepresentationConfig::SchNet(self.schnet.clone()),
            RepresentationSection::ViSNet(v) => RepresentationConfig::ViSNet(v.clone()),
        }
    }
}

/// `T`'s keys with their default values, as a TOML table.
fn keys_of<T: Default + Serialize>() -> Result<toml::Table> {
    toml::Table::try_from(T::default()).map_err(|e| Error::InvalidConfig(e.to_string()))
}

/// Refuses SchNet keys at the top of `[model]` beside another network.
fn check_one_network(given: &toml::Table) -> Result<()> {
    let Some(toml::Value::Table(model)) = given.get("model") else {
        return Ok(());
    };
    let kind = model
        .get("representation")
        .and_then(|r| r.get("kind"))
        .and_then(|k| k.as_str())
        .unwrap_or("schnet");
    if kind == "schnet" {
        return Ok(());
    }
    let schnet = keys_of::<SchNetConfig>()?;
    let mixed: Vec<&str> = model
        .keys()
        .filter(|k| schnet.contains_key(*k))
        .map(String::as_str)
        .collect();
    if mixed.is_empty() {
        return Ok(());
    }
    Err(Error::InvalidConfig(format!(
        "[model] mixes SchNet's keys ({}) with [model.representation] kind = \"{kind}\": \
         give {kind}'s settings (cutoff, max_num_neighbors, hidden_channels, ...) under \
         [model.representation]",
        mixed.join(", ")
    )))
}

/// Gradient engine and chunking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSection {
    /// Which engine computes the gradient.
    pub kind: EngineKind,
    /// Poses per chunk (0 = from the memory budget).
    pub chunk: usize,
    /// Activation memory budget per chunk, MiB (0 = automatic: 1 GiB on CPU, half the
    /// free memory on a GPU).
    pub budget_mib: u64,
    /// Device: cpu, cuda or cuda:N (CUDA needs a build from tools/cuda/build.sh).
    pub device: String,
    /// Recompute each interaction block in backward instead of keeping its activations.
    pub checkpoint: bool,
    /// Pack compounds with few poses into shared chunks (one forward/backward for several
    /// compounds); the gradient is the same, the launches fewer.
    pub pack: bool,
    /// Batches kept between steps, MiB (-1 = automatic: 2 GiB on a GPU, none on CPU; on a
    /// GPU they live in GPU memory, so 0 keeps a memory-bound run flat in N).
    pub batch_cache_mib: i64,
    /// Data-parallel devices, comma-separated (`cuda:0,cuda:1`; `cpu,cpu` for CPU
    /// processes): one worker process each, sharing every optimiser batch. Empty = one
    /// process on `device`.
    pub devices: String,
    /// Shorthand for `devices = "cuda:0,...,cuda:{gpus-1}"` (0 = off).
    pub gpus: usize,
}

impl EngineSection {
    /// The devices of a data-parallel run, one worker each (empty for one process).
    pub fn workers(&self) -> Vec<String> {
        if self.gpus > 0 {
            return (0..self.gpus).map(|i| format!("cuda:{i}")).collect();
        }
        self.devices
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(String::from)
            .collect()
    }

    /// The device of the worker with `local_rank` on its host: its entry of `devices`,
    /// else `device` (`cuda` meaning the local rank's GPU, as under torchrun).
    pub fn device_for(&self, local_rank: usize) -> Result<String> {
        let workers = self.workers();
        if workers.is_empty() {
            return Ok(match crate::device::spec(&self.device)? {
                crate::device::Spec::Gpu(None) => format!("cuda:{local_rank}"),
                _ => self.device.clone(),
            });
        }
        workers.get(local_rank).cloned().ok_or_else(|| {
            Error::InvalidConfig(format!(
                "LOCAL_RANK {local_rank} has no device: engine.devices lists {}",
                workers.len()
            ))
        })
    }
}

impl Default for EngineSection {
    fn default() -> Self {
        Self {
            kind: EngineKind::Auto,
            chunk: 0,
            budget_mib: 0,
            device: "cpu".into(),
            checkpoint: false,
            pack: true,
            batch_cache_mib: -1,
            devices: String::new(),
            gpus: 0,
        }
    }
}

/// Loss term weights (0 = off).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LossConfig {
    /// MSE on the read-out value.
    pub mse: f64,
    /// Censored MSE (penalise only the wrong side of `<` / `>`; MSE for exact values).
    pub mse_step: f64,
    /// Gaussian NLL with the label's standard error (labels without one use `default_stderr`).
    pub gaussian_nll: f64,
    /// Standard error for labels that have none.
    pub default_stderr: f64,
    /// L1.
    pub l1: f64,
    /// Smooth L1 (Huber).
    pub smooth_l1: f64,
    /// Huber threshold β.
    pub smooth_l1_beta: f64,
    /// Penalty outside [range_lo, range_hi].
    pub range: f64,
    /// Lower end of the range.
    pub range_lo: f64,
    /// Upper end of the range.
    pub range_hi: f64,
    /// Pose cross-entropy of softmax(−ŷ/τ) against the pose label.
    pub pose_cross_entropy: f64,
    /// The pose label of the pose cross-entropy.
    pub pose_label: PoseLabel,
    /// Å: RMSD scale for `rmsd` pose labels.
    pub rmsd_scale: f64,
    /// τ of the pose cross-entropy.
    pub pose_temperature: f64,
    /// Within-target pairwise loss on ΔΔG: w · the mean over pairs (i, j) of one target in
    /// a batch of ((zᵢ − zⱼ) − (yᵢ − yⱼ))²; batches are then composed by target.
    pub pairwise: f64,
    /// Labels centred per target (`per_target`): the network learns each target's
    /// deviations from its mean training label, which predictions add back.
    pub offsets: Offsets,
}

impl Default for LossConfig {
    fn default() -> Self {
        Self {
            mse: 0.0,
            mse_step: 1.0,
            gaussian_nll: 0.0,
            default_stderr: 0.3,
            l1: 0.0,
            smooth_l1: 0.0,
            smooth_l1_beta: 1.0,
            range: 0.0,
            range_lo: 2.0,
            range_hi: 12.0,
            pose_cross_entropy: 0.0,
            pose_label: PoseLabel::Reference,
            rmsd_scale: 1.0,
            pose_temperature: 1.0,
            pairwise: 0.0,
            offsets: Offsets::None,
        }
    }
}

/// Optimiser and schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimConfig {
    /// The update rule.
    pub optimizer: OptimizerKind,
    /// Learning rate.
    pub lr: f64,
    /// Weight decay (L2 for adam and sgd, decoupled for adamw).
    pub weight_decay: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// Compounds per optimiser step (gradients accumulated).
    pub batch_size: usize,
    /// Maximum epochs.
    pub epochs: usize,
    /// Seed of initialisation, shuffling, splits and bootstrap.
    pub seed: u64,
}

impl Default for OptimConfig {
    fn default() -> Self {
        Self {
            optimizer: OptimizerKind::Adam,
            lr: 1e-2,
            weight_decay: 0.0,
            momentum: 0.9,
            batch_size: 4,
            epochs: 20,
            seed: 42,
        }
    }
}

/// Train / validation / test split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SplitConfig {
    /// How compounds are divided.
    pub kind: SplitKind,
    /// target / per_target: number of folds k (0 = use the fractions).
    pub folds: usize,
    /// target / per_target with folds: the test fold (0-based).
    pub fold: usize,
    /// per_target: what stays together within a target (whole groups per part).
    pub group: SplitGroup,
    /// Fraction of compounds for training.
    pub train: f64,
    /// Fraction for validation.
    pub val: f64,
    /// Fraction for test.
    pub test: f64,
    /// manual: JSON file `{"train": [...], "val": [...], "test": [...]}`.
    pub manual: PathBuf,
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self {
            kind: SplitKind::Random,
            folds: 0,
            fold: 0,
            group: SplitGroup::None,
            train: 0.7,
            val: 0.15,
            test: 0.15,
            manual: PathBuf::new(),
        }
    }
}

/// When to stop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoppingConfig {
    /// The rule.
    pub kind: StoppingKind,
    /// best: epochs without improvement of the validation loss before stopping.
    pub patience: usize,
    /// converged: epochs in the window.
    pub window: usize,
    /// converged: largest relative change of the training loss over the window.
    pub tolerance: f64,
    /// Epochs before any rule may stop training.
    pub burn_in: usize,
}

impl Default for StoppingConfig {
    fn default() -> Self {
        Self {
            kind: StoppingKind::Best,
            patience: 5,
            window: 3,
            tolerance: 1e-3,
            burn_in: 2,
        }
    }
}

/// How ΔG becomes the assay's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReadoutConfig {
    /// pIC50 labels: substrate concentration [S] of the assay, for the Cheng–Prusoff
    /// term −log10(1 + [S]/Km) (0 = no term).
    pub substrate: f64,
    /// Michaelis constant Km, in the unit of `substrate`.
    pub km: f64,
    /// Read out every pose before combining (mtenn's `pred_readout`) instead of the
    /// combined ΔG (`comb_readout`, the default).
    pub per_pose: bool,
}

impl Default for ReadoutConfig {
    fn default() -> Self {
        Self {
            substrate: 0.0,
            km: 0.0,
            per_pose: false,
        }
    }
}

/// A complete training configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Data.
    pub data: DataConfig,
    /// Model.
    pub model: ModelSection,
    /// Engine.
    pub engine: EngineSection,
    /// Loss.
    pub loss: LossConfig,
    /// Optimiser.
    pub optim: OptimConfig,
    /// Split.
    pub split: SplitConfig,
    /// Early stopping.
    pub early_stopping: StoppingConfig,
    /// Readout.
    pub readout: ReadoutConfig,
    /// Data augmentation.
    pub augment: AugmentConfig,
}

/// Data augmentation during training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AugmentConfig {
    /// Å: standard deviation of the Gaussian noise added to every ligand coordinate of the
    /// training poses, drawn anew each epoch (0 = off; graphs are then rebuilt every step).
    pub noise: f64,
}

impl TrainConfig {
    /// Parses TOML, with `overrides` (`section.key` or `section.table.key`, value text)
    /// applied on top; keys left out take their defaults, keys the defaults lack are errors
    /// that list the known.
    pub fn from_toml(text: &str, overrides: &[(String, String)]) -> Result<Self> {
        let mut given: toml::Table =
            toml::from_str(text).map_err(|e| Error::InvalidConfig(e.to_string()))?;
        for (key, raw) in overrides {
            let (section, field) = key.split_once('.').ok_or_else(|| {
                Error::InvalidConfig(format!(
                    "`--{key}`: expected --section.key (e.g. --optim.lr 0.001)"
                ))
            })?;
            let parsed: toml::Value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or_else(|| toml::Value::String(raw.clone()));
            // `model.representation.lmax`: one table deeper.
            let (table, field) = match field.split_once('.') {
                Some((sub, leaf)) => (section_mut(section_mut(&mut given, section)?, sub)?, leaf),
                None => (section_mut(&mut given, section)?, field),
            };
            table.insert(field.to_string(), parsed);
        }
        check_one_network(&given)?;
        let mut merged = toml::Table::try_from(TrainConfig::default())
            .map_err(|e| Error::InvalidConfig(e.to_string()))?;
        for (section, fields) in given {
            let toml::Value::Table(fields) = fields else {
                return Err(not_a_section(&section));
            };
            let known = match merged.get_mut(&section) {
                Some(toml::Value::Table(known)) => known,
                _ => {
                    let what = format!("section `[{section}]`; sections");
                    return Err(unknown_key(&what, &merged));
                }
            };
            for (field, value) in fields {
                if !known.contains_key(&field) {
                    let what = format!("key `{section}.{field}`; keys of [{section}]");
                    return Err(unknown_key(&what, known));
                }
                known.insert(field, value);
            }
        }
        check_flattened::<SchNetConfig>(&merged, "model")?;
        let config: TrainConfig = toml::Value::Table(merged)
            .try_into()
            .map_err(|e: toml::de::Error| Error::InvalidConfig(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// The configuration as TOML (what `config.toml` in a run folder holds).
    pub fn to_toml(&self) -> Result<String> {
        let bad = |e: &dyn std::fmt::Display| Error::InvalidConfig(e.to_string());
        let mut table = toml::Table::try_from(self).map_err(|e| bad(&e))?;
        // SchNet's keys at the top of [model] mean SchNet: another network's file leaves
        // them out, so that it reads back as written.
        if self.model.representation != RepresentationSection::SchNet {
            let schnet = keys_of::<SchNetConfig>()?;
            if let Some(toml::Value::Table(model)) = table.get_mut("model") {
                model.retain(|k, _| !schnet.contains_key(k));
            }
        }
        toml::to_string_pretty(&table).map_err(|e| bad(&e))
    }

    /// Checks the numeric ranges and the settings that depend on each other (choices are
    /// checked by parsing).
    pub fn validate(&self) -> Result<()> {
        if folds_invalid(&self.split) {
            return Err(Error::InvalidConfig(format!(
                "split.folds must be 0 (fractions) or at least 2, and split.fold below it (got folds {}, fold {})",
                self.split.folds, self.split.fold
            )));
        }
        let s = &self.split;
        if [s.train, s.val, s.test]
            .iter()
            .any(|f| !(0.0..=1.0).contains(f))
            || (s.train + s.val + s.test - 1.0).abs() > 1e-6
        {
            return Err(Error::InvalidConfig(format!(
                "split fractions must be in [0, 1] and sum to 1 (train {}, val {}, test {})",
                s.train, s.val, s.test
            )));
        }
        self.validate_numbers()?;
        self.model.representation().validate()?;
        let l = &self.loss;
        let weights = [
            l.mse,
            l.mse_step,
            l.gaussian_nll,
            l.l1,
            l.smooth_l1,
            l.range,
            l.pose_cross_entropy,
            l.pairwise,
        ];
        if weights.iter().any(|w| !(w.is_finite() && *w >= 0.0))
            || weights.iter().all(|w| *w == 0.0)
        {
            return Err(Error::InvalidConfig(
                "loss weights must be non-negative and at least one positive".into(),
            ));
        }
        Ok(())
    }
}

impl TrainConfig {
    /// Numbers that parse but make no sense, each named with its value.
    fn validate_numbers(&self) -> Result<()> {
        let bad = |key: &str, value: String, need: &str| {
            Err(Error::InvalidConfig(format!("`{key}` is {value}; {need}")))
        };
        let o = &self.optim;
        if o.batch_size == 0 {
            return bad("optim.batch_size", "0".into(), "it must be at least 1");
        }
        if o.epochs == 0 {
            return bad("optim.epochs", "0".into(), "it must be at least 1");
        }
        if !(o.lr.is_finite() && o.lr > 0.0) {
            return bad(
                "optim.lr",
                o.lr.to_string(),
                "it must be a positive finite number",
            );
        }
        let noise = self.augment.noise;
        if !(noise.is_finite() && noise >= 0.0) {
            return bad(
                "augment.noise",
                noise.to_string(),
                "it must be 0 (off) or a positive number of Å",
            );
        }
        let cache = self.engine.batch_cache_mib;
        if cache < -1 {
            return bad(
                "engine.batch_cache_mib",
                cache.to_string(),
                "it must be -1 (automatic) or a size in MiB",
            );
        }
        if self.engine.gpus > 0 && !self.engine.devices.trim().is_empty() {
            return bad(
                "engine.gpus",
                self.engine.gpus.to_string(),
                "set it or engine.devices, not both",
            );
        }
        for d in self.engine.workers() {
            if crate::device::spec(&d).is_err() {
                return bad(
                    "engine.devices",
                    format!("{:?}", self.engine.devices),
                    "it lists devices such as cuda:0,cuda:1 or cpu,cpu",
                );
            }
        }
        let r = self.data.pocket_radius;
        if !(r.is_finite() && r >= 0.0) {
            return bad(
                "data.pocket_radius",
                r.to_string(),
                "it must be ≥ 0 Å (0 keeps the whole protein)",
            );
        }
        if self.split.kind == SplitKind::Manual && self.split.manual.as_os_str().is_empty() {
            return bad(
                "split.manual",
                "empty".into(),
                "split.kind = \"manual\" needs a JSON file of ids ({\"train\": [...], \"val\": [...], \"test\": [...]})",
            );
        }
        let r = &self.readout;
        if !(r.substrate.is_finite() && r.substrate >= 0.0) {
            return bad(
                "readout.substrate",
                r.substrate.to_string(),
                "it must be ≥ 0 (0 = no Cheng–Prusoff term)",
            );
        }
        if r.substrate > 0.0 && !(r.km.is_finite() && r.km > 0.0) {
            return bad(
                "readout.km",
                r.km.to_string(),
                "the Cheng–Prusoff term needs a positive Km beside readout.substrate",
            );
        }
        Ok(())
    }
}

/// The table of `section` in `table`, created if missing.
fn section_mut<'t>(table: &'t mut toml::Table, section: &str) -> Result<&'t mut toml::Table> {
    match table
        .entry(section)
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
    {
        toml::Value::Table(t) => Ok(t),
        _ => Err(not_a_section(section)),
    }
}

fn not_a_section(name: &str) -> Error {
    Error::InvalidConfig(format!("`{name}` is not a section"))
}

/// An unknown section or key, with the known ones listed.
fn unknown_key(what: &str, known: &toml::Table) -> Error {
    let names: Vec<&str> = known.keys().map(String::as_str).collect();
    Error::InvalidConfig(format!("unknown {what}: {}", names.join(", ")))
}

/// Reads the keys of `T`, flattened into `section`, on their own first: serde reports a
/// wrong value in a flattened struct without its key, this names `section.key`.
fn check_flattened<T: Default + Serialize + serde::de::DeserializeOwned>(
    merged: &toml::Table,
    section: &str,
) -> Result<()> {
    let own = keys_of::<T>()?;
    let Some(toml::Value::Table(table)) = merged.get(section) else {
        return Ok(());
    };
    let mine: toml::Table = table
        .iter()
        .filter(|(k, _)| own.contains_key(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    toml::Value::Table(mine)
        .try_into::<T>()
        .map(drop)
        .map_err(|e| Error::InvalidConfig(format!("in [{section}]: {e}")))
}

fn folds_invalid(s: &SplitConfig) -> bool {
    s.folds == 1 || (s.folds > 1 && s.fold >= s.folds)
}

/// The default configuration as commented TOML (`multipose config --default`).
pub fn default_toml_commented() -> String {
    let d = TrainConfig::default();
    format!(
        r#"# multipose training configuration. Every key can also be given on the command line
# as --section.key value (e.g. --optim.lr 0.0005), which overrides this file.

[data]
path = "{path}"            # dataset folder (receptor.pdb, poses/*.sdf|mol2, labels.csv|json),
                             # a folder of such target folders, or a manifest CSV
poses = "{poses}"                # all | reference (pose 0) | docked (all but pose 0) | top_docked
min_target_size = {mts}          # per-target metrics need this many exact labels in a part
pocket_radius = {pocket:?}         # keep protein atoms within this many Å of any pose (0 = all)
keep_hydrogens = {keep_h}      # hydrogens are dropped by default
strict = {strict}              # error on any compound that would be left out (else listed in summary.json)
cache = ""                   # graph cache folder ("" = none)

[model]
hidden_channels = {h}         # SchNet width H (mtenn: 128); small by default so CPU training takes minutes
num_filters = {f}             # filter width F (mtenn: 128)
num_interactions = {i}         # interaction blocks (mtenn: 6)
num_gaussians = {g}           # Gaussian distance features (mtenn: 50)
cutoff = {cutoff:?}                # Å (mtenn: 10)
max_num_neighbors = {m}       # neighbour cap, nearest first (mtenn: 32)
strategy = "{strategy}"           # delta | concat | complex | ligand_only (SchNet with its last layer on the ligand alone)
layer_norm = {ln}            # LayerNorm before the strategy's linear layer
combination = "{comb}"          # mean | max (smooth; negate = min) | boltzmann | attention (learned pose weights)
negate = {negate}               # max: smooth minimum of ΔG (the best-scoring pose)
scale = {scale:?}                  # max: scale t (mtenn: 1000)
temperature = {t:?}            # boltzmann: temperature T
learnable = {learnable}           # learn the scale / temperature
attention_width = {aw}         # attention: scorer width A (softmax of w·tanh(V z + b) over poses)
init_weights = ""            # start from mtenn-named safetensors ("" = seeded random)

# The network is SchNet, set by the keys at the top of [model]. For ViSNet (torch_geometric's,
# as mtenn wraps it) uncomment this table and leave SchNet's keys out of [model]; keys not
# given take torch_geometric's defaults (shown). Strategies: delta, complex, ligand_only.
# [model.representation]
# kind = "visnet"              # schnet | visnet
# hidden_channels = 128
# num_heads = 8                # divides hidden_channels
# num_layers = 6
# num_rbf = 32                 # exponential normal radial bases
# trainable_rbf = false
# lmax = 1                     # edge harmonics: 1 or 2
# vecnorm_type = "none"
# trainable_vecnorm = false
# vertex = false               # ViS_MP_Vertex layers
# max_z = 100
# cutoff = 5.0
# max_num_neighbors = 32       # the atom's own self-loop included
# reduce_op = "add"            # add | mean over atoms

[engine]
kind = "{engine}"                # auto | full | stored | streaming | recompute
chunk = {chunk}                    # poses per batched forward/backward (0 = from budget_mib)
budget_mib = {budget}               # activation memory per chunk (0 = 1 GiB on CPU, half the free GPU memory)
device = "{device}"               # cpu | cuda | cuda:N (CUDA build: tools/cuda/build.sh)
checkpoint = {checkpoint}           # recompute activations in backward: less memory, ~1/3 more time
pack = {pack}                  # several small compounds per chunk (same gradient, fewer launches)
batch_cache_mib = {cache}          # batches kept between steps (-1 = 2 GiB on a GPU, in GPU memory; none on CPU)
devices = "{devices}"                 # data-parallel: "cuda:0,cuda:1" (one process each; "" = one process on `device`)
gpus = {gpus}                     # shorthand for devices = "cuda:0,...,cuda:N-1" (0 = off)

[loss]                       # weights; 0 switches a term off
mse = {mse:?}
mse_step = {mse_step:?}               # censored MSE: `<`/`>` labels only penalised on the wrong side
gaussian_nll = {nll:?}           # uses each label's standard error
default_stderr = {dse:?}         # for labels without one
l1 = {l1:?}
smooth_l1 = {sl1:?}
smooth_l1_beta = {beta:?}
range = {range:?}                  # penalty outside [range_lo, range_hi]
range_lo = {lo:?}
range_hi = {hi:?}
pose_cross_entropy = {pce:?}     # per-pose term: softmax(-ŷ/τ) vs the pose label
pose_label = "{pl}"     # reference (pose 0) | rmsd (softmax(-rmsd/rmsd_scale))
rmsd_scale = {rs:?}
pose_temperature = {pt:?}

[optim]
optimizer = "{opt}"           # adam | adamw | sgd
lr = {lr:?}
weight_decay = {wd:?}
momentum = {mom:?}               # sgd
batch_size = {bs}               # compounds per optimiser step (gradient accumulation)
epochs = {epochs}
seed = {seed}                    # initialisation, shuffling, split, bootstrap

[split]
kind = "{split}"              # random | temporal (by label date) | manual | scaffold (Bemis-Murcko)
                             # | per_target (each target split alone) | target (whole targets held out)
folds = {folds}                    # per_target / target: k folds (0 = the fractions below)
fold = {fold}                     # the test fold; validation is a val/(train+val) share of the rest
group = "{group}"                # per_target: none | scaffold (Bemis-Murcko) | cluster (Butina, Morgan
                             # counts, MinMax similarity >= 0.65): near-duplicates share a part
train = {train:?}
val = {val:?}
test = {test:?}
manual = ""                  # manual: JSON {{"train": [ids], "val": [ids], "test": [ids]}}

[early_stopping]
kind = "{stop}"                # none | best (patience, restores best) | converged | patient_converged
patience = {patience}
window = {window}
tolerance = {tol:?}
burn_in = {burn}

[readout]                    # ΔG (kT) to the labels' scale: pIC50 or pKi = -ΔG/ln 10, from the labels
substrate = {substrate:?}            # pIC50: assay substrate concentration [S] for the Cheng–Prusoff term
                             # -log10(1 + [S]/Km) (0 = no term)
km = {km:?}                   # Michaelis constant Km, same unit as substrate
per_pose = {per_pose}             # read out each pose before combining (mtenn's pred_readout)
"#,
        path = d.data.path.display(),
        poses = d.data.poses.name(),
        mts = d.data.min_target_size,
        pocket = d.data.pocket_radius,
        keep_h = d.data.keep_hydrogens,
        strict = d.data.strict,
        h = d.model.schnet.hidden_channels,
        f = d.model.schnet.num_filters,
        i = d.model.schnet.num_interactions,
        g = d.model.schnet.num_gaussians,
        cutoff = d.model.schnet.cutoff,
        m = d.model.schnet.max_num_neighbors,
        strategy = d.model.strategy,
        ln = d.model.layer_norm,
        comb = d.model.combination,
        negate = d.model.negate,
        scale = d.model.scale,
        t = d.model.temperature,
        learnable = d.model.learnable,
        aw = d.model.attention_width,
        engine = d.engine.kind,
        chunk = d.engine.chunk,
        budget = d.engine.budget_mib,
        device = d.engine.device,
        checkpoint = d.engine.checkpoint,
        pack = d.engine.pack,
        cache = d.engine.batch_cache_mib,
        devices = d.engine.devices,
        gpus = d.engine.gpus,
        mse = d.loss.mse,
        mse_step = d.loss.mse_step,
        nll = d.loss.gaussian_nll,
        dse = d.loss.default_stderr,
        l1 = d.loss.l1,
        sl1 = d.loss.smooth_l1,
        beta = d.loss.smooth_l1_beta,
        range = d.loss.range,
        lo = d.loss.range_lo,
        hi = d.loss.range_hi,
        pce = d.loss.pose_cross_entropy,
        pl = d.loss.pose_label,
        rs = d.loss.rmsd_scale,
        pt = d.loss.pose_temperature,
        opt = d.optim.optimizer,
        lr = d.optim.lr,
        wd = d.optim.weight_decay,
        mom = d.optim.momentum,
        bs = d.optim.batch_size,
        epochs = d.optim.epochs,
        seed = d.optim.seed,
        split = d.split.kind,
        folds = d.split.folds,
        fold = d.split.fold,
        group = d.split.group,
        train = d.split.train,
        val = d.split.val,
        test = d.split.test,
        stop = d.early_stopping.kind,
        patience = d.early_stopping.patience,
        window = d.early_stopping.window,
        tol = d.early_stopping.tolerance,
        burn = d.early_stopping.burn_in,
        substrate = d.readout.substrate,
        km = d.readout.km,
        per_pose = d.readout.per_pose,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_default_parses_back_identically() {
        let parsed = TrainConfig::from_toml(&default_toml_commented(), &[]).unwrap();
        assert_eq!(parsed, TrainConfig::default());
        let round = TrainConfig::from_toml(&parsed.to_toml().unwrap(), &[]).unwrap();
        assert_eq!(round, parsed);
    }

    #[test]
    fn each_bad_number_is_named_with_its_value() {
        for (key, value, expect) in [
            ("optim.batch_size", "0", "`optim.batch_size` is 0"),
            ("optim.epochs", "0", "`optim.epochs` is 0"),
            ("optim.lr", "inf", "`optim.lr` is inf"),
            ("optim.lr", "-0.1", "`optim.lr` is -0.1"),
            ("data.pocket_radius", "-5.0", "`data.pocket_radius` is -5"),
            (
                "engine.batch_cache_mib",
                "-2",
                "`engine.batch_cache_mib` is -2",
            ),
            ("split.kind", "\"manual\"", "`split.manual` is empty"),
        ] {
            let e = TrainConfig::from_toml("", &[(key.into(), value.into())])
                .unwrap_err()
                .to_string();
            assert!(e.contains(expect), "{key} = {value}: {e}");
        }
    }

    #[test]
    fn overrides_and_errors_name_the_key() {
        let c = TrainConfig::from_toml(
            "",
            &[
                ("optim.lr".into(), "0.01".into()),
                ("model.strategy".into(), "concat".into()),
            ],
        )
        .unwrap();
        assert_eq!(c.optim.lr, 0.01);
        assert_eq!(c.model.strategy, StrategyKind::Concat);
        // (file, override, what the error must name)
        let cases = [
            (
                "[model]\nhiden_channels = 3\n",
                None,
                ["hiden_channels", "hidden_channels"],
            ),
            ("[optim]\nlr = \"fast\"\n", None, ["lr", "optim"]),
            (
                "",
                Some(("model.combination", "median")),
                ["model.combination", "boltzmann"],
            ),
            ("[optimizer]\nlr = 1\n", None, ["optimizer", "optim"]),
        ];
        for (text, given, expect) in cases {
            let o: Vec<(String, String)> = given
                .iter()
                .map(|(k, v): &(&str, &str)| (k.to_string(), v.to_string()))
                .collect();
            let e = TrainConfig::from_toml(text, &o).unwrap_err().to_string();
            assert!(expect.iter().all(|x| e.contains(x)), "{text}: {e}");
        }
    }
}
