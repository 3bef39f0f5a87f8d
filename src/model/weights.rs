//! safetensors weights under mtenn's state-dict names.
//!
//! PyG registers each filter network twice (`interactions.i.mlp` and
//! `interactions.i.conv.nn`); `safetensors.torch.save_model` keeps one of the names. We
//! accept either (both, if equal) and write `conv.nn`, as torch does, so
//! `safetensors.torch.load_model` reads our files.

use super::{ModelConfig, Params};
use crate::error::{Error, Result};
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use std::path::Path;

const MLP: &str = ".mlp.";
const CONV_NN: &str = ".conv.nn.";

/// Writes every parameter (and the offset buffer) of `params` to `path`.
pub fn save_weights(params: &Params, config: &ModelConfig, path: &Path) -> Result<()> {
    let bytes = weights_bytes(params, config)?;
    std::fs::write(path, bytes).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The safetensors file [`save_weights`] writes, in memory (for checkpoints written whole).
pub fn weights_bytes(params: &Params, config: &ModelConfig) -> Result<Vec<u8>> {
    let mut out: HashMap<String, Tensor> = HashMap::new();
    for (name, var) in params.named() {
        out.insert(name.replace(MLP, CONV_NN), var.as_detached_tensor());
    }
    out.extend(config.representation.buffers(params)?);
    safetensors_bytes(&out)
}

/// Any named tensors as the bytes of a safetensors file.
pub fn safetensors_bytes(tensors: &HashMap<String, Tensor>) -> Result<Vec<u8>> {
    let cpu: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(k, t)| Ok((k.clone(), t.to_device(&Device::Cpu)?)))
        .collect::<Result<_>>()?;
    safetensors::serialize(cpu, None)
        .map_err(|e| Error::InvalidConfig(format!("serialising tensors: {e}")))
}

/// Loads `path` into the existing parameters of `params` (build the model first, then
/// rebuild it after loading so the Gaussian centres take effect).
pub fn load_weights(params: &mut Params, config: &ModelConfig, path: &Path) -> Result<()> {
    let raw = candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| io_error(path, e))?;
    load_tensors(params, config, &raw, path)
}

/// As [`load_weights`], for tensors already in memory; `path` names where they came
/// from in errors (a file, or e.g. `state_dict`).
pub fn load_tensors(
    params: &mut Params,
    config: &ModelConfig,
    raw: &HashMap<String, Tensor>,
    path: &Path,
) -> Result<()> {
    for (name, tensor) in raw {
        let values = tensor
            .to_dtype(DType::F64)?
            .flatten_all()?
            .to_vec1::<f64>()?;
        if values.iter().any(|v| !v.is_finite()) {
            return Err(Error::Input {
                path: path.to_path_buf(),
                message: format!("tensor `{name}` holds NaN or infinite values"),
            });
        }
    }
    let mut canonical: HashMap<String, Tensor> = HashMap::new();
    let mut names: Vec<&String> = raw.keys().collect();
    names.sort();
    for name in names {
        let tensor = &raw[name];
        let key = name.replace(CONV_NN, MLP);
        if let Some(other) = canonical.get(&key) {
            let diff = (other.to_dtype(DType::F64)? - tensor.to_dtype(DType::F64)?)?
                .abs()?
                .max_all()?
                .to_scalar::<f64>()?;
            if diff != 0.0 {
                return Err(Error::AliasMismatch {
                    a: key,
                    b: name.clone(),
                });
            }
            continue;
        }
        canonical.insert(key, tensor.clone());
    }
    // The network's buffers first: what is left must be parameters.
    let names: Vec<String> = canonical.keys().cloned().collect();
    for name in names {
        if let Some(t) = canonical.get(&name)
            && config.representation.read_buffer(&name, t, params)?
        {
            canonical.remove(&name);
        }
    }
    let named = params.named();
    for (name, var) in &named {
        let tensor = canonical.remove(name).ok_or_else(|| Error::MissingTensor {
            name: name.replace(MLP, CONV_NN),
        })?;
        if tensor.dims() != var.dims() {
            return Err(Error::ShapeMismatch {
                name: name.clone(),
                expected: var.dims().to_vec(),
                found: tensor.dims().to_vec(),
            });
        }
        params.set(name, &tensor)?;
    }
    let mut extra: Vec<String> = canonical.into_keys().collect();
    extra.sort();
    if let Some(name) = extra.into_iter().next() {
        return Err(Error::UnexpectedTensor { name });
    }
    Ok(())
}

fn io_error(path: &Path, e: candle_core::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    }
}
