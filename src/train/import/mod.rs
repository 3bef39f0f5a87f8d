//! From an mtenn model to a run folder: `multipose import-mtenn`.
//!
//! mtenn saves weights with `safetensors.torch.save_model` under its state-dict names; the
//! file fixes most hyper-parameters (SchNet: widths, interaction count, Gaussian count, and
//! the cutoff through the stored Gaussian centres; ViSNet: see `visnet.rs`). What it cannot say (delta or complex,
//! the combination and its constants, the neighbour cap) comes from the caller, whose
//! defaults are mtenn's. The result is a run folder `predict` and `evaluate` read.

mod visnet;

use super::checkpoint::{commit_checkpoint, write_text};
use super::prepare::{grouped_config, stored_assay};
use super::run_dir::{LAST_WEIGHTS, RunDir};
use super::{StoppingKind, TrainConfig};
use crate::combine::GroupedModel;
use crate::error::{Error, Result};
use crate::model::{Params, SCHNET_OFFSETS, StrategyKind, weights_bytes};
use candle_core::{DType, Device, Tensor};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// What an mtenn weights file says about the model that wrote it.
#[derive(Debug, Clone, PartialEq)]
pub struct Inferred {
    /// Atom feature width H (`representation.embedding.weight` is `[100, H]`).
    pub hidden_channels: usize,
    /// Filter width F and Gaussian count G (`interactions.0.mlp.0.weight` is `[F, G]`).
    pub num_filters: usize,
    /// Gaussian count G.
    pub num_gaussians: usize,
    /// Interaction blocks.
    pub num_interactions: usize,
    /// The last Gaussian centre, which PyG places at the cutoff.
    pub cutoff: Option<f64>,
    /// `concat` or `ligand_only` when the heads show it; `None` for delta or complex
    /// (the same tensors).
    pub strategy: Option<StrategyKind>,
    /// A LayerNorm before the strategy's linear layer.
    pub layer_norm: bool,
}

/// Reads the hyper-parameters an mtenn weights file determines.
pub fn infer(tensors: &HashMap<String, Tensor>, path: &Path) -> Result<Inferred> {
    let bad = |message: String| Error::Input {
        path: path.to_path_buf(),
        message,
    };
    let dims = |name: &str| tensors.get(name).map(|t| t.dims().to_vec());
    let hidden = match dims("representation.embedding.weight").as_deref() {
        Some([_, h]) => *h,
        _ => {
            return Err(bad(
                "no `representation.embedding.weight` [100, H]: not an mtenn SchNet model".into(),
            ));
        }
    };
    let blocks: BTreeSet<usize> = tensors
        .keys()
        .filter_map(|k| k.strip_prefix("representation.interactions."))
        .filter_map(|k| k.split('.').next()?.parse().ok())
        .collect();
    let filter = ["mlp", "conv.nn"]
        .iter()
        .find_map(|alias| dims(&format!("representation.interactions.0.{alias}.0.weight")));
    let (num_filters, num_gaussians) = match filter.as_deref() {
        Some([f, g]) => (*f, *g),
        _ => {
            return Err(bad(
                "no filter network `representation.interactions.0.mlp.0.weight` [F, G]".into(),
            ));
        }
    };
    let cutoff = match tensors.get(SCHNET_OFFSETS) {
        Some(t) => t.to_dtype(DType::F64)?.to_vec1::<f64>()?.last().copied(),
        None => None,
    };
    let has = |prefix: &str| tensors.keys().any(|k| k.starts_with(prefix));
    let strategy = if has("strategy.reduce_nn") {
        Some(StrategyKind::Concat)
    } else if has("representation.lin2.") {
        Some(StrategyKind::LigandOnly)
    } else {
        None
    };
    Ok(Inferred {
        hidden_channels: hidden,
        num_filters,
        num_gaussians,
        num_interactions: blocks.len(),
        cutoff,
        strategy,
        layer_norm: has("strategy.energy_func.0.") || has("strategy.reduce_nn.0."),
    })
}

impl Inferred {
    /// Writes what the file determines into `config` (the rest is left as given); a
    /// key in `given` (set by the caller) that the file contradicts is an error naming both.
    pub fn apply(&self, config: &mut TrainConfig, given: &[String]) -> Result<()> {
        let s = &config.model.schnet;
        let checks = [
            (
                "model.hidden_channels",
                s.hidden_channels as f64,
                self.hidden_channels as f64,
            ),
            (
                "model.num_filters",
                s.num_filters as f64,
                self.num_filters as f64,
            ),
            (
                "model.num_gaussians",
                s.num_gaussians as f64,
                self.num_gaussians as f64,
            ),
            (
                "model.num_interactions",
                s.num_interactions as f64,
                self.num_interactions as f64,
            ),
            ("model.cutoff", s.cutoff, self.cutoff.unwrap_or(s.cutoff)),
        ];
        for (key, set, trained) in checks {
            if given.iter().any(|g| g == key)
                && (set - trained).abs() > 1e-4 * trained.abs().max(1.0)
            {
                return Err(Error::InvalidConfig(format!(
                    "`{key}` is {set}, but the weights were trained with {trained}"
                )));
            }
        }
        if let Some(k) = self.strategy
            && given.iter().any(|g| g == "model.strategy")
            && config.model.strategy != k
        {
            return Err(Error::InvalidConfig(format!(
                "`model.strategy` is {}, but the weights hold a {k} model",
                config.model.strategy
            )));
        }
        let m = &mut config.model;
        m.schnet.hidden_channels = self.hidden_channels;
        m.schnet.num_filters = self.num_filters;
        m.schnet.num_gaussians = self.num_gaussians;
        m.schnet.num_interactions = self.num_interactions;
        m.schnet.cutoff = self.cutoff.unwrap_or(m.schnet.cutoff);
        m.strategy = self.strategy.unwrap_or(m.strategy);
        m.layer_norm = self.layer_norm;
        Ok(())
    }
}

/// Creates a run folder at `out` from mtenn weights: `config` completed from the file,
/// the weights loaded into the model it describes (every tensor checked), saved as the
/// run's weights. `given` lists the keys the caller set, which the file may not contradict.
pub fn import_mtenn(
    weights: &Path,
    mut config: TrainConfig,
    given: &[String],
    out: &Path,
) -> Result<TrainConfig> {
    let dir = RunDir::new(out);
    if dir.holds_run() || dir.config().exists() {
        return Err(Error::InvalidConfig(format!(
            "{} already holds a run; choose another --out",
            out.display()
        )));
    }
    let tensors =
        candle_core::safetensors::load(weights, &Device::Cpu).map_err(|e| Error::Input {
            path: weights.to_path_buf(),
            message: format!("not a safetensors file ({e})"),
        })?;
    if visnet::is_visnet(&tensors) {
        visnet::infer(&tensors, weights)?.apply(&mut config, given)?;
    } else {
        infer(&tensors, weights)?.apply(&mut config, given)?;
    }
    // Nothing to train: the imported weights are the run's reported weights.
    config.early_stopping.kind = StoppingKind::None;
    config.validate()?;
    let grouped = grouped_config(&config, stored_assay(&config))?;
    let mut params = Params::new(DType::F32, &Device::Cpu);
    let mut model = GroupedModel::new(&grouped, &params)?;
    // The file read once above, through the same checks as any weights file.
    model.load_tensors(&mut params, &tensors, weights)?;
    std::fs::create_dir_all(out).map_err(|source| Error::Io {
        path: out.to_path_buf(),
        source,
    })?;
    write_text(&dir.config(), &config.to_toml()?)?;
    let bytes = weights_bytes(&params, &grouped.model)?;
    commit_checkpoint(out, &[(LAST_WEIGHTS, bytes)], &[])?;
    let summary = serde_json::json!({
        "weights": LAST_WEIGHTS,
        "imported_from": weights.display().to_string(),
    });
    write_text(
        &dir.summary(),
        &serde_json::to_string_pretty(&summary).unwrap_or_default(),
    )?;
    Ok(config)
}

/// Settings from asapdiscovery-ml's `model_config.json` (`SchNetModelConfig` or
/// `ViSNetModelConfig`) as `section.key` overrides: the network's keys, strategy, combination with
/// mtenn's `max_comb_neg` / `max_comb_scale`, and the readouts. Options multipose does
/// not implement (dipole, atomref, mean/std scaling, mean pooling) are errors.
pub fn mtenn_config_overrides(text: &str, path: &Path) -> Result<Vec<(String, String)>> {
    let bad = |message: String| Error::Input {
        path: path.to_path_buf(),
        message,
    };
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|e| bad(format!("not JSON ({e})")))?;
    let obj = json
        .as_object()
        .ok_or_else(|| bad("expected a JSON object".into()))?;
    let model_type = obj.get("model_type").and_then(|v| v.as_str());
    let mut out = match model_type {
        Some("visnet") => visnet::config_overrides(obj),
        None | Some("schnet") => schnet_overrides(obj).map_err(bad)?,
        Some(t) => {
            return Err(bad(format!(
                "model_type is `{t}`; multipose imports SchNet and ViSNet models"
            )));
        }
    };
    common_overrides(obj, &mut out).map_err(bad)?;
    Ok(out)
}

/// The SchNet keys of `SchNetModelConfig`; what multipose's SchNet lacks is an error.
fn schnet_overrides(
    obj: &serde_json::Map<String, serde_json::Value>,
) -> std::result::Result<Vec<(String, String)>, String> {
    for (key, unsupported) in [
        (
            "dipole",
            obj.get("dipole").and_then(|v| v.as_bool()) == Some(true),
        ),
        ("atomref", obj.get("atomref").is_some_and(|v| !v.is_null())),
        ("mean", obj.get("mean").is_some_and(|v| !v.is_null())),
        ("std", obj.get("std").is_some_and(|v| !v.is_null())),
        (
            "readout",
            obj.get("readout")
                .and_then(|v| v.as_str())
                .is_some_and(|r| r != "add"),
        ),
    ] {
        if unsupported {
            return Err(format!(
                "`{key}` = {}: not supported by multipose's SchNet",
                obj[key]
            ));
        }
    }
    let mut out = Vec::new();
    for key in [
        "hidden_channels",
        "num_filters",
        "num_interactions",
        "num_gaussians",
        "cutoff",
        "max_num_neighbors",
    ] {
        if let Some(v) = obj.get(key).filter(|v| !v.is_null()) {
            out.push((format!("model.{key}"), v.to_string()));
        }
    }
    Ok(out)
}

/// Strategy, combination and readouts: the same keys for every model type.
fn common_overrides(
    obj: &serde_json::Map<String, serde_json::Value>,
    out: &mut Vec<(String, String)>,
) -> std::result::Result<(), String> {
    let mut copy = |from: &str, to: &str| {
        if let Some(v) = obj.get(from).filter(|v| !v.is_null()) {
            out.push((to.to_string(), v.to_string()));
        }
    };
    copy("strategy", "model.strategy");
    copy("strategy_layer_norm", "model.layer_norm");
    copy("combination", "model.combination");
    copy("max_comb_neg", "model.negate");
    copy("max_comb_scale", "model.scale");
    let readout = |k: &str| obj.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let (pred, comb) = (readout("pred_readout"), readout("comb_readout"));
    if pred.is_some() && comb.is_some() {
        return Err("both pred_readout and comb_readout are set; multipose reads out once".into());
    }
    let prefix = if pred.is_some() { "pred" } else { "comb" };
    if pred.is_some() {
        out.push(("readout.per_pose".into(), "true".into()));
    }
    for (from, to) in [("substrate", "readout.substrate"), ("km", "readout.km")] {
        if let Some(v) = obj
            .get(&format!("{prefix}_{from}"))
            .filter(|v| !v.is_null())
        {
            out.push((to.to_string(), v.to_string()));
        }
    }
    Ok(())
}

/// mtenn's defaults where `multipose train`'s differ (any other key keeps train's).
const MTENN_DEFAULTS: [(&str, &str); 6] = [
    ("model.max_num_neighbors", "32"),
    ("model.strategy", "\"delta\""),
    // mtenn has no default combination; the mean is the one without constants.
    ("model.combination", "\"mean\""),
    ("model.negate", "true"),
    ("model.scale", "1000.0"),
    // mtenn's models see the structures they are given: no pocket crop.
    ("data.pocket_radius", "0.0"),
];

/// The settings of an import: mtenn's defaults, then `model_config.json` (text and
/// path), then `overrides`. Returns the configuration, the keys the caller set (which
/// the weights may not contradict), and the assumptions a user should hear about
/// (strategy and combination taken from defaults).
pub fn mtenn_settings(
    model_config: Option<(&str, &Path)>,
    overrides: Vec<(String, String)>,
) -> Result<(TrainConfig, Vec<String>, Vec<String>)> {
    let mut given = match model_config {
        Some((text, path)) => mtenn_config_overrides(text, path)?,
        None => Vec::new(),
    };
    given.extend(overrides);
    // SchNet's neighbour cap is no default for another network (its keys stay apart).
    let other_network = given
        .iter()
        .any(|(g, _)| g.starts_with("model.representation."));
    let defaults: Vec<(String, String)> = MTENN_DEFAULTS
        .iter()
        .filter(|(k, _)| !given.iter().any(|(g, _)| g == k))
        .filter(|(k, _)| !(other_network && *k == "model.max_num_neighbors"))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let assumed = defaults
        .iter()
        .filter(|(k, _)| k == "model.combination" || k == "model.strategy")
        .map(|(k, v)| format!("{k} = {v}"))
        .collect();
    let keys = given.iter().map(|(k, _)| k.clone()).collect();
    let all: Vec<(String, String)> = defaults.into_iter().chain(given).collect();
    Ok((TrainConfig::from_toml("", &all)?, keys, assumed))
}
