//! A grouping's index arrays on a GPU: copied once, then shared by every step that uses
//! the grouping (a batch kept by [`super::BatchCache`] is not copied again).
//!
//! The first copy goes through page-locked host memory: cudarc copies from ordinary
//! (pageable) memory by waiting for the whole stream first, so the GPU would run dry while
//! the host copies; from page-locked memory the copy is queued like a kernel. The staging
//! buffers are released at the next use, when the copy has long finished (releasing them
//! earlier would wait for it).

use super::Grouping;
use candle_core::cuda_backend::cudarc::driver::{CudaSlice, PinnedHostSlice};
use candle_core::cuda_backend::{CudaDevice, WrapErr};
use std::sync::{Arc, Mutex};

/// `start`, `ia` and `ib` of a [`Grouping`] on the GPU.
#[derive(Debug)]
pub struct GpuArrays {
    /// Group boundaries.
    pub start: CudaSlice<u32>,
    /// First-input rows.
    pub ia: CudaSlice<u32>,
    /// Second-input rows.
    pub ib: Option<CudaSlice<u32>>,
    staging: Mutex<Vec<PinnedHostSlice<u32>>>,
}

impl Grouping {
    /// The arrays on `dev`, copied there the first time.
    pub fn to_gpu(&self, dev: &CudaDevice) -> candle_core::Result<Arc<GpuArrays>> {
        if let Some(g) = self.gpu.get() {
            g.staging.lock().unwrap_or_else(|e| e.into_inner()).clear();
            return Ok(g.clone());
        }
        let mut staging = vec![pinned(dev, &self.start)?, pinned(dev, &self.ia)?];
        if let Some(ib) = &self.ib {
            staging.push(pinned(dev, ib)?);
        }
        let arrays = Arc::new(GpuArrays {
            start: dev.clone_htod(&staging[0])?,
            ia: dev.clone_htod(&staging[1])?,
            ib: staging.get(2).map(|p| dev.clone_htod(p)).transpose()?,
            staging: Mutex::new(staging),
        });
        // Two threads may copy at once; the one that loses the race drops its copy.
        Ok(self.gpu.get_or_init(|| arrays).clone())
    }
}

fn pinned(dev: &CudaDevice, v: &[u32]) -> candle_core::Result<PinnedHostSlice<u32>> {
    // Empty device buffers are not allowed; a one-element dummy is never read.
    let v = if v.is_empty() { &[0u32][..] } else { v };
    let ctx = dev.cuda_stream().context().clone();
    // SAFETY: the buffer is fully written below before any use.
    let mut p = unsafe { ctx.alloc_pinned::<u32>(v.len()) }.w()?;
    p.as_mut_slice().w()?.copy_from_slice(v);
    Ok(p)
}
