//! A run folder: every file a training run writes, named in this one place.
//!
//! ```text
//! config.toml         the configuration the run started with
//! metrics.jsonl       one line per epoch: losses and metrics
//! poses.jsonl         one line per compound and epoch: per-pose predictions
//! predictions.csv     final predictions, per compound
//! summary.json        final metrics, and the weights behind them
//! learning_curve.*    plots (png, svg)
//! pred_vs_exp.*
//! checkpoint/         state.json, last.safetensors, last.optim.safetensors, best.safetensors
//! ```

use super::checkpoint::{CHECKPOINT, current_checkpoint, verify_checkpoint, write_text};
use super::{StoppingKind, TrainConfig};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Progress file of a checkpoint.
pub(crate) const STATE_FILE: &str = "state.json";
/// Weights after the last finished epoch, in the checkpoint.
pub const LAST_WEIGHTS: &str = "last.safetensors";
/// Weights of the best validation epoch, in the checkpoint.
pub const BEST_WEIGHTS: &str = "best.safetensors";
/// Optimiser state after the last finished epoch, in the checkpoint.
pub(crate) const LAST_OPTIM: &str = "last.optim.safetensors";

/// The plots a run draws.
#[derive(Debug, Clone, Copy)]
pub enum Plot {
    /// Training and validation loss per epoch.
    LearningCurve,
    /// Predicted against experimental values, per part.
    PredVsExp,
}

/// A run folder and the paths of its files.
#[derive(Debug, Clone)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// The run folder at `root` (nothing is read or created).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `config.toml`.
    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }

    /// `metrics.jsonl`.
    pub fn metrics(&self) -> PathBuf {
        self.root.join("metrics.jsonl")
    }

    /// `poses.jsonl`.
    pub fn poses(&self) -> PathBuf {
        self.root.join("poses.jsonl")
    }

    /// `predictions.csv`.
    pub fn predictions(&self) -> PathBuf {
        self.root.join("predictions.csv")
    }

    /// `offsets.json`: the per-target label offsets of `loss.offsets = "per_target"`.
    pub fn offsets(&self) -> PathBuf {
        self.root.join("offsets.json")
    }

    /// `summary.json`.
    pub fn summary(&self) -> PathBuf {
        self.root.join("summary.json")
    }

    /// A plot, `ext` being `png` or `svg`.
    pub fn plot(&self, plot: Plot, ext: &str) -> PathBuf {
        let name = match plot {
            Plot::LearningCurve => "learning_curve",
            Plot::PredVsExp => "pred_vs_exp",
        };
        self.root.join(format!("{name}.{ext}"))
    }

    /// The last complete checkpoint folder, if an epoch has finished.
    pub fn checkpoint(&self) -> Option<PathBuf> {
        current_checkpoint(&self.root)
    }

    /// Whether the folder holds a run that has finished at least one epoch (or an older
    /// layout's progress file).
    pub fn holds_run(&self) -> bool {
        self.checkpoint().is_some() || self.root.join(STATE_FILE).exists()
    }

    /// The configuration in `config.toml`; errors name the file.
    pub fn read_config(&self) -> Result<TrainConfig> {
        let path = self.config();
        let text = std::fs::read_to_string(&path).map_err(|e| Error::Io {
            path: path.clone(),
            source: std::io::Error::new(e.kind(), format!("not a run folder ({e})")),
        })?;
        TrainConfig::from_toml(&text, &[]).map_err(|e| Error::Input {
            path,
            message: e.to_string(),
        })
    }

    /// The weights behind the run's reported results, checksums verified, and whether
    /// `summary.json` names them. Without a summary naming them (an interrupted run, or
    /// an older one) it is the file the early-stopping rule would report.
    pub fn reported_weights(&self, config: &TrainConfig) -> Result<(PathBuf, bool)> {
        let recorded: Option<String> = std::fs::read_to_string(self.summary())
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|s| s["weights"].as_str().map(str::to_string));
        let checkpoint = self.checkpoint();
        let name = recorded.clone().unwrap_or_else(|| {
            let folder = checkpoint.as_deref().unwrap_or(&self.root);
            match config.early_stopping.kind == StoppingKind::Best
                && folder.join(BEST_WEIGHTS).is_file()
            {
                true => BEST_WEIGHTS.to_string(),
                false => LAST_WEIGHTS.to_string(),
            }
        });
        // Runs of an older layout kept their weights in the run folder itself.
        let path = [checkpoint.as_deref(), Some(self.root.as_path())]
            .into_iter()
            .flatten()
            .map(|folder| folder.join(&name))
            .find(|p| p.is_file())
            .ok_or_else(|| Error::Input {
                path: self.root.clone(),
                message: format!(
                    "the run's weights {name} are missing (looked in {CHECKPOINT}/ and the run folder)"
                ),
            })?;
        if let Some(c) = checkpoint.as_deref().filter(|c| path.starts_with(c)) {
            verify_checkpoint(c)?;
        }
        Ok((path, recorded.is_some()))
    }
}

/// Appends one line (or several, joined) to a run file, atomically.
pub(crate) fn append_line(path: &Path, line: &str) -> Result<()> {
    let mut text = std::fs::read_to_string(path).unwrap_or_default();
    text.push_str(line);
    text.push('\n');
    write_text(path, &text)
}

/// Keeps the lines (with their index) that `keep` accepts and returns them: on resume,
/// drops what an interrupted epoch may have appended.
pub(crate) fn truncate_lines(
    path: &Path,
    keep: impl Fn(&str, usize) -> bool,
) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let kept: Vec<String> = text
        .lines()
        .enumerate()
        .filter(|(k, l)| keep(l, *k))
        .map(|(_, l)| l.to_string())
        .collect();
    let mut joined = kept.join("\n");
    if !joined.is_empty() {
        joined.push('\n');
    }
    write_text(path, &joined)?;
    Ok(kept)
}
