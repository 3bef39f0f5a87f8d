//! The trainable parameters of a model, by mtenn state-dict name.

use crate::error::Result;
use candle_core::{DType, Device, Shape, Tensor, Var};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder, VarMap};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How each parameter is to be initialised: the hint its layer passed when it created it
/// (candle's `VarBuilder` hints), or values the network gave (`declare_start`).
type Hints = Arc<Mutex<HashMap<String, Start>>>;

/// A parameter's declared start.
#[derive(Debug, Clone)]
pub enum Start {
    /// The layer's hint.
    Hint(Init),
    /// These values.
    Values(Vec<f64>),
}

/// Parameters (candle `Var`s keyed by name) plus the networks' non-trainable buffers
/// (read from weight files; each network reads its own, see `RepresentationConfig`).
#[derive(Clone)]
pub struct Params {
    varmap: VarMap,
    hints: Hints,
    dtype: DType,
    device: Device,
    buffers: std::collections::BTreeMap<String, Vec<f64>>,
}

/// A `VarMap` that remembers the hint each parameter was created with, so the seeded
/// initialisation draws what the layer declared (candle's own draw is unseeded on CPU).
struct Recording {
    map: VarMap,
    hints: Hints,
}

impl SimpleBackend for Recording {
    fn get(
        &self,
        s: Shape,
        name: &str,
        h: Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let mut hints = self.hints.lock().unwrap_or_else(|e| e.into_inner());
        hints.entry(name.to_string()).or_insert(Start::Hint(h));
        drop(hints);
        self.map.get(s, name, h, dtype, dev)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        SimpleBackend::get_unchecked(&self.map, name, dtype, dev)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        SimpleBackend::contains_tensor(&self.map, name)
    }
}

impl Params {
    /// An empty store; building a model in it creates and initialises its parameters.
    pub fn new(dtype: DType, device: &Device) -> Self {
        Self {
            varmap: VarMap::new(),
            hints: Hints::default(),
            dtype,
            device: device.clone(),
            buffers: Default::default(),
        }
    }

    /// Builder whose tensors are tracked `Var`s (creating missing ones).
    pub fn vb(&self) -> VarBuilder<'static> {
        let backend = Recording {
            map: self.varmap.clone(),
            hints: self.hints.clone(),
        };
        VarBuilder::from_backend(Box::new(backend), self.dtype, self.device.clone())
    }

    /// How parameter `name` starts: its layer's hint, or values declared for it.
    pub fn start(&self, name: &str) -> Option<Start> {
        let hints = self.hints.lock().unwrap_or_else(|e| e.into_inner());
        hints.get(name).cloned()
    }

    /// Declares that parameter `name` starts at `values` (what no hint can say, as
    /// torch_geometric's initial radial bases).
    pub fn declare_start(&self, name: &str, values: Vec<f64>) {
        let mut hints = self.hints.lock().unwrap_or_else(|e| e.into_inner());
        hints.insert(name.to_string(), Start::Values(values));
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
