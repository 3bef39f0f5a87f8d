//! Timing and peak memory of one training step on a synthetic complex (`multipose bench`).

mod epoch;
mod synthetic;

pub use epoch::{EpochCase, EpochResult, EpochSet, run as run_epoch, run_set as run_epoch_set};
pub use synthetic::{PROTEIN_DENSITY, SyntheticComplex};

use crate::combine::{
    ChunkPolicy, EngineConfig, EngineKind, GroupedConfig, GroupedModel, Objective, train_step,
};
use crate::device::{gpu_peak_mib, reset_gpu_peak};
use crate::error::Result;
use crate::model::{CompoundGraphs, Params, Readout};
use crate::structure::Structure;
use candle_core::{DType, Device, Tensor};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Seed of the benchmark model's weights.
const WEIGHT_SEED: u64 = 17;

/// One benchmark configuration.
#[derive(Debug, Clone)]
pub struct BenchCase {
    /// Protein atoms.
    pub atoms: usize,
    /// Ligand atoms.
    pub ligand_atoms: usize,
    /// Poses N.
    pub poses: usize,
    /// Engine to time.
    pub engine: EngineKind,
    /// Chunking.
    pub chunk: ChunkPolicy,
    /// Timed repetitions (after one untimed warm-up step when > 1).
    pub repeats: usize,
    /// Model and combination.
    pub config: GroupedConfig,
    /// Device the step runs on.
    pub device: Device,
    /// Precision of the model (f32, or f64 to check kernels against the CPU exactly).
    pub dtype: DType,
    /// Also compare the gradients with the CPU f64 step (`grad_rel_err`).
    pub check: bool,
    /// Recompute interaction blocks in backward (activation checkpointing).
    pub checkpoint: bool,
    /// Bytes of batches kept between steps (`None`: the device's default).
    pub batch_cache: Option<usize>,
    /// Split the step into phases (`profile`), synchronising the device after each.
    pub profile: bool,
}

/// What one benchmark configuration measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BenchResult {
    /// Protein atoms.
    pub atoms: usize,
    /// Ligand atoms.
    pub ligand_atoms: usize,
    /// Poses N.
    pub poses: usize,
    /// Engine that ran.
    pub engine: String,
    /// Poses per chunk.
    pub chunk: usize,
    /// Edges of one complex graph.
    pub complex_edges: usize,
    /// Parameters of the model.
    pub parameters: usize,
    /// Time to build all graphs (ms).
    pub graph_ms: f64,
    /// Median time of one training step (ms).
    pub step_ms: f64,
    /// Peak resident memory of the process (MiB), if the OS reports it.
    pub peak_rss_mib: Option<f64>,
    /// Loss of the step (to compare implementations on the same input).
    pub loss: f64,
    /// Device the step ran on.
    pub device: String,
    /// Precision of the step.
    pub dtype: String,
    /// Whether interaction blocks were checkpointed.
    pub checkpoint: bool,
    /// Peak GPU memory in use during the timed steps (MiB), on a GPU.
    pub peak_gpu_mib: Option<f64>,
    /// Largest over parameters of max |g − g_ref| / max |g_ref|, against the same step on
    /// CPU in f64, when `check` was asked for.
    pub grad_rel_err: Option<f64>,
    /// The parameter with that error.
    pub grad_worst: Option<String>,
    /// Milliseconds per step in each phase, with `profile`.
    pub profile: Vec<(String, f64)>,
}

impl BenchResult {
    /// Step time per pose (ms).
    pub fn ms_per_pose(&self) -> f64 {
        self.step_ms / self.poses as f64
    }
}

/// Runs one configuration in this process: forward, MSE on pIC50, backward.
pub fn run(case: &BenchCase) -> Result<BenchResult> {
    let mut config = case.config.clone();
    if config.readout == Readout::None {
        config.readout = Readout::PIC50 {
            substrate: None,
            km: None,
        };
    }
    let synthetic = SyntheticComplex::new(case.atoms, case.ligand_atoms, 17);
    let structures = synthetic.poses(case.poses, 23)?;
    let started = Instant::now();
    let compound = CompoundGraphs::build(
        "synthetic",
        &structures,
        config.model.strategy,
        &config.model.representation.graph(),
    )?;
    let graph_ms = started.elapsed().as_secs_f64() * 1e3;
    let (params, mut model) = seeded_model(&config, case.dtype, &case.device)?;
    model.set_checkpointing(case.checkpoint);
    if let Some(bytes) = case.batch_cache {
        model.set_batch_cache_bytes(bytes);
    }
    let objective = Objective::mse(6.0);
    let engine = EngineConfig {
        kind: case.engine,
        chunk: case.chunk,
        pack: false,
    };
    // The stored engine (mtenn's scheme) always backpropagates one pose at a time.
    let chunk = match case.engine {
        EngineKind::Stored => 1,
        _ => case
            .chunk
            .chunks(&config.model, &compound)
            .first()
            .map_or(0, Vec::len),
    };
    let mut times = Vec::new();
    let mut engine_name = case.engine.name().to_string();
    let mut loss = f64::NAN;
    let warmup = usize::from(case.repeats > 1);
    let mut last = None;
    for i in 0..case.repeats + warmup {
        if i == warmup {
            reset_gpu_peak(&case.device);
            crate::profile::enable(case.profile);
            crate::profile::reset();
        }
        let t = Instant::now();
        let step = train_step(&model, &params, &compound, &objective, &engine)?;
        // Gradients may still be in flight on a GPU: the step ends when they are done.
        case.device.synchronize()?;
        if i >= warmup {
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        engine_name = step.engine.name().to_string();
        loss = step.loss;
        last = Some(step);
    }
    let peak_gpu_mib = gpu_peak_mib(&case.device);
    let profile = if case.profile {
        crate::profile::enable(false);
        crate::profile::totals()
            .into_iter()
            .map(|(name, ms)| (name.to_string(), ms / case.repeats as f64))
            .collect()
    } else {
        Vec::new()
    };
    times.sort_by(f64::total_cmp);
    let (grad_rel_err, grad_worst) = match (&last, case.check) {
        (Some(step), true) => {
            let (ref_params, ref_model) = seeded_model(&config, DType::F64, &Device::Cpu)?;
            let reference = train_step(&ref_model, &ref_params, &compound, &objective, &engine)?;
            let (e, name) = gradient_error(&step.grads, &reference.grads)?;
            (Some(e), Some(name))
        }
        _ => (None, None),
    };
    Ok(BenchResult {
        atoms: case.atoms,
        ligand_atoms: case.ligand_atoms,
        poses: case.poses,
        engine: engine_name,
        chunk,
        complex_edges: compound.poses[0]
            .complex
            .as_ref()
            .map_or(0, |g| g.num_edges()),
        parameters: params.count(),
        graph_ms,
        step_ms: times[times.len() / 2],
        peak_rss_mib: peak_rss_mib(),
        loss,
        device: format!("{:?}", case.device.location()),
        dtype: case.dtype.as_str().to_string(),
        checkpoint: case.checkpoint,
        peak_gpu_mib,
        grad_rel_err,
        grad_worst,
        profile,
    })
}

/// The benchmark model with seeded weights: the same as `dump` writes, so other
/// implementations can be compared.
fn seeded_model(
    config: &GroupedConfig,
    dtype: DType,
    device: &Device,
) -> Result<(Params, GroupedModel)> {
    let params = Params::new(dtype, device);
    let model = GroupedModel::new(config, &params)?;
    crate::model::init_params(&params, WEIGHT_SEED)?;
    Ok((params, model))
}

/// Largest over parameters of max |g − g_ref| / max |g_ref|, and that parameter.
fn gradient_error(
    got: &crate::combine::Gradients,
    reference: &crate::combine::Gradients,
) -> Result<(f64, String)> {
    let values = |t: &candle_core::Tensor| -> Result<Vec<f64>> {
        Ok(t.flatten_all()?
            .to_dtype(DType::F64)?
            .to_device(&Device::Cpu)?
            .to_vec1::<f64>()?)
    };
    let mut worst = (0f64, String::new());
    for (name, want) in reference.iter() {
        let want = values(want)?;
        let got = match got.get(name) {
            Some(g) => values(g)?,
            None => vec![0.0; want.len()],
        };
        let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
        if scale == 0.0 {
            continue;
        }
        let diff = got
            .iter()
            .zip(&want)
            .fold(0f64, |m, (a, b)| m.max((a - b).abs()));
        if diff / scale > worst.0 {
            worst = (diff / scale, name.to_string());
        }
    }
    Ok(worst)
}

/// Peak resident set size of this process (VmHWM), in MiB; Linux only.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Writes the benchmark's input (poses, weights, settings) to `dir` so another
/// implementation can time the same step on the same numbers (`bench/mtenn_compare.py`).
pub fn dump(case: &BenchCase, dir: &Path) -> Result<()> {
    let poses = SyntheticComplex::new(case.atoms, case.ligand_atoms, 17).poses(case.poses, 23)?;
    let extra = serde_json::json!({"atoms": case.atoms, "ligand_atoms": case.ligand_atoms});
    dump_compounds(&[(poses, 6.0)], &case.config, extra, dir)
}

/// Writes compounds (poses and the pIC50 target of each) with the seeded benchmark
/// weights to `dir`: `inputs.safetensors` holds `c{k}.pose{p}.{z,pos,lig}`,
/// `settings.json` the model and, per compound, `n_poses` and `target`.
pub fn dump_compounds(
    compounds: &[(Vec<Structure>, f64)],
    config: &GroupedConfig,
    extra: serde_json::Value,
    dir: &Path,
) -> Result<()> {
    let io = |path: PathBuf| move |source| crate::Error::Io { path, source };
    std::fs::create_dir_all(dir).map_err(io(dir.to_path_buf()))?;
    let mut inputs = std::collections::HashMap::new();
    for (k, (poses, _)) in compounds.iter().enumerate() {
        for (p, s) in poses.iter().enumerate() {
            for (name, tensor) in pose_tensors(s)? {
                inputs.insert(format!("c{k}.pose{p}.{name}"), tensor);
            }
        }
    }
    let path = dir.join("inputs.safetensors");
    candle_core::safetensors::save(&inputs, &path)
        .map_err(|e| io(path.clone())(std::io::Error::other(e.to_string())))?;
    let params = Params::new(DType::F32, &Device::Cpu);
    GroupedModel::new(config, &params)?;
    crate::model::init_params(&params, WEIGHT_SEED)?;
    crate::model::save_weights(&params, &config.model, &dir.join("weights.safetensors"))?;
    // The mtenn script rebuilds PyG's network: it needs the network's hyper-parameters
    // (ViSNet's under torch_geometric's names, as tools/golden/visnet.py reads them).
    let network = match &config.model.representation {
        crate::model::RepresentationConfig::SchNet(s) => serde_json::json!({
            "network": "schnet", "hidden": s.hidden_channels, "filters": s.num_filters,
            "interactions": s.num_interactions, "gaussians": s.num_gaussians,
            "cutoff": s.cutoff, "max_num_neighbors": s.max_num_neighbors,
        }),
        crate::model::RepresentationConfig::ViSNet(v) => {
            let mut j =
                serde_json::to_value(v).map_err(|e| crate::Error::InvalidConfig(e.to_string()))?;
            j["network"] = "visnet".into();
            j
        }
    };
    let mut settings = serde_json::json!({
        "strategy": config.model.strategy.name(), "layer_norm": config.model.layer_norm,
        "compounds": compounds.iter().map(|(poses, target)| {
            serde_json::json!({"n_poses": poses.len(), "target": target})
        }).collect::<Vec<_>>(),
    });
    for more in [network, extra] {
        if let (Some(map), serde_json::Value::Object(more)) = (settings.as_object_mut(), more) {
            map.extend(more);
        }
    }
    let path = dir.join("settings.json");
    std::fs::write(&path, settings.to_string()).map_err(io(path))
}

/// A pose as the tensors the Python side reads: atomic numbers, coordinates, ligand mask.
fn pose_tensors(s: &Structure) -> Result<[(&'static str, Tensor); 3]> {
    let z: Vec<i64> = s.z().iter().map(|&z| i64::from(z)).collect();
    let pos: Vec<f32> = s.pos().iter().flat_map(|p| p.map(|v| v as f32)).collect();
    let lig: Vec<u8> = s
        .ligand_mask()
        .unwrap_or(&[])
        .iter()
        .map(|&m| u8::from(m))
        .collect();
    Ok([
        ("z", Tensor::new(z.as_slice(), &Device::Cpu)?),
        ("pos", Tensor::from_vec(pos, (s.len(), 3), &Device::Cpu)?),
        ("lig", Tensor::new(lig.as_slice(), &Device::Cpu)?),
    ])
}
