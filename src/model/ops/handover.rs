//! A forward value computed outside a custom op (on detached tensors, so no graph is kept)
//! and handed over by the op's forward: the op then owns the only copy.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, Shape, Storage, Tensor};
use std::sync::Mutex;

/// The value waiting for its op's forward.
pub(crate) struct HandOver {
    what: &'static str,
    value: Mutex<Option<Tensor>>,
}

impl HandOver {
    /// `what` names the op in errors.
    pub fn new(what: &'static str, value: Tensor) -> Self {
        Self {
            what,
            value: Mutex::new(Some(value)),
        }
    }

    fn take<S: BackendStorage>(
        &self,
        pick: impl Fn(&Storage) -> Option<&S>,
    ) -> candle_core::Result<(S, Shape)> {
        let error = |m: &str| candle_core::Error::Msg(format!("{}: {m}", self.what));
        let value = self
            .value
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or_else(|| error("forward ran twice"))?;
        let (storage, layout) = value.storage_and_layout();
        let s = pick(&storage).ok_or_else(|| error("device mismatch"))?;
        Ok((s.try_clone(layout)?, layout.shape().clone()))
    }

    /// The value as CPU storage.
    pub fn cpu(&self) -> candle_core::Result<(CpuStorage, Shape)> {
        self.take(|s| match s {
            Storage::Cpu(c) => Some(c),
            _ => None,
        })
    }

    /// The value as CUDA storage.
    #[cfg(feature = "cuda")]
    pub fn cuda(&self) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        self.take(|s| match s {
            Storage::Cuda(c) => Some(c),
            _ => None,
        })
    }
}
