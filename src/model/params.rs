//! The trainable parameters of a model, by mtenn state-dict name.

use crate::error::Result;
use candle_core::{DType, Device, Var};
use candle_nn::{VarBuilder, VarMap};
use std::collections::HashMap;

/// Parameters (candle `Var`s keyed by name) plus the networks' non-trainable buffers
/// (read from weight files; each network reads its own, see `RepresentationConfig`).
#[derive(Clone)]
pub struct Params {
    varmap: VarMap,
    dtype: DType,
    device: Device,
    buffers: std::collections::BTreeMap<String, Vec<f64>>,
}

impl Params {
    /// An empty store; building a model in it creates and initialises its parameters.
    pub fn new(dtype: DType, device: &Device) -> Self {
        Self {
            varmap: VarMap::new(),
            dtype,
            device: device.clone(),
            buffers: Default::default(),
        }
    }

    /// Builder whose tensors are tracked `Var`s (creating missing ones).
    pub fn vb(&self) -> VarBuilder<'static> {
        VarBuilder::from_varmap(&self.varmap, self.dtype, &self.device)
    }

    /// Builder over detached copies (shared storage, no graph): for passes without gradients.
    pub fn detached_vb(&self) -> VarBuilder<'static> {
        let map: HashMap<String, candle_core::Tensor> = self
            .named()
            .into_iter()
            .map(|(n, v)| (n, v.as_detached_tensor()))
            .collect();
        VarBuilder::from_tensors(map, self.dtype, &self.device)
    }

    /// All parameters sorted by name.
    pub fn named(&self) -> Vec<(String, Var)> {
        let data = self.varmap.data().lock().unwrap_or_else(|e| e.into_inner());
        let mut named: Vec<(String, Var)> =
            data.iter().map(|(n, v)| (n.clone(), v.clone())).collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        named
    }

    /// Total number of scalar parameters.
    pub fn count(&self) -> usize {
        self.named().iter().map(|(_, v)| v.elem_count()).sum()
    }

    /// Element type of every parameter.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Device the parameters live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// A buffer loaded from weights, if any (else the network computes its default).
    pub fn buffer(&self, name: &str) -> Option<&[f64]> {
        self.buffers.get(name).map(Vec::as_slice)
    }

    /// Sets a buffer (from a weights file).
    pub fn set_buffer(&mut self, name: &str, values: Vec<f64>) {
        self.buffers.insert(name.to_string(), values);
    }

    /// Overwrites one parameter in place.
    pub fn set(&self, name: &str, value: &candle_core::Tensor) -> Result<bool> {
        let data = self.varmap.data().lock().unwrap_or_else(|e| e.into_inner());
        match data.get(name) {
            Some(var) => {
                var.set(&value.to_dtype(self.dtype)?.to_device(&self.device)?)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
