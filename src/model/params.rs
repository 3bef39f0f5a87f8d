//! The trainable parameters of a model, by mtenn state-dict name.

use crate::error::Result;
use candle_core::{DType, Device, Var};
use candle_nn::{VarBuilder, VarMap};
use std::collections::HashMap;

/// Parameters (candle `Var`s keyed by name) plus the one non-trainable buffer SchNet has.
#[derive(Clone)]
pub struct Params {
    varmap: VarMap,
    dtype: DType,
    device: Device,
    gaussian_offsets: Option<Vec<f64>>,
}

impl Params {
    /// An empty store; building a model in it creates and initialises its parameters.
    pub fn new(dtype: DType, device: &Device) -> Self {
        Self {
            varmap: VarMap::new(),
            dtype,
            device: device.clone(),
            gaussian_offsets: None,
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

    /// Gaussian centres loaded from weights, if any (else the model uses PyG's linspace).
    pub fn gaussian_offsets(&self) -> Option<&[f64]> {
        self.gaussian_offsets.as_deref()
    }

    /// Sets the Gaussian centres (from a weights file).
    pub fn set_gaussian_offsets(&mut self, offsets: Vec<f64>) {
        self.gaussian_offsets = Some(offsets);
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
