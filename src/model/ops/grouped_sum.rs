//! Sums of gathered rows over groups (the one owner of [`DeviceGrouping`]): out_g = Σ_{p ∈ group g} a[ia(p)] (⊙ b[ib(p)]).
//!
//! The one primitive behind the fused message passing (its forward and both gradients)
//! and the per-graph pooling. Each output row is summed by one worker in a fixed order, so
//! results do not depend on scheduling, on CPU (rayon) or on the GPU (no atomics).

use super::host::{contiguous, dtype_error};
use crate::graph::Grouping;
use candle_core::{CpuStorage, Device, Layout, WithDType};
use rayon::prelude::*;
use std::sync::Arc;

/// A [`Grouping`] ready for the device its op runs on.
#[derive(Debug)]
pub(crate) struct DeviceGrouping {
    pub(crate) host: Arc<Grouping>,
    /// The index arrays on the GPU (the grouping's own copy, made once).
    #[cfg(feature = "cuda")]
    pub(crate) gpu: Option<Arc<crate::graph::GpuArrays>>,
}

impl DeviceGrouping {
    /// The grouping with its index arrays on `device` when that is a GPU.
    pub fn new(host: Arc<Grouping>, device: &Device) -> candle_core::Result<Self> {
        #[cfg(feature = "cuda")]
        let gpu = match device {
            Device::Cuda(dev) => Some(host.to_gpu(dev)?),
            _ => None,
        };
        #[cfg(not(feature = "cuda"))]
        let _ = device;
        Ok(Self {
            #[cfg(feature = "cuda")]
            gpu,
            host,
        })
    }

    /// Number of groups (output rows).
    pub fn groups(&self) -> usize {
        self.host.groups()
    }

    fn sum_host<T: WithDType + std::ops::Mul<Output = T> + std::ops::AddAssign>(
        &self,
        a: &[T],
        b: Option<&[T]>,
        f: usize,
    ) -> Vec<T> {
        let g = &*self.host;
        let mut out = vec![T::zero(); self.groups() * f];
        out.par_chunks_mut(f).enumerate().for_each(|(group, row)| {
            let (s, e) = (g.start[group] as usize, g.start[group + 1] as usize);
            for p in s..e {
                let ra = g.ia[p] as usize * f;
                match (b, &g.ib) {
                    (Some(b), Some(ib)) => {
                        let rb = ib[p] as usize * f;
                        for k in 0..f {
                            row[k] += a[ra + k] * b[rb + k];
                        }
                    }
                    _ => {
                        for k in 0..f {
                            row[k] += a[ra + k];
                        }
                    }
                }
            }
        });
        out
    }

    /// The sums on CPU storage: `a` has rows of width `f`; `b` (same dtype) is multiplied in
    /// when the grouping has `ib`.
    pub fn sum_cpu(
        &self,
        a: (&CpuStorage, &Layout),
        b: Option<(&CpuStorage, &Layout)>,
        f: usize,
    ) -> candle_core::Result<CpuStorage> {
        Ok(match (a.0, b.map(|b| b.0)) {
            (CpuStorage::F32(x), None) => {
                CpuStorage::F32(self.sum_host(contiguous(x, a.1)?, None, f))
            }
            (CpuStorage::F64(x), None) => {
                CpuStorage::F64(self.sum_host(contiguous(x, a.1)?, None, f))
            }
            (CpuStorage::F32(x), Some(CpuStorage::F32(y))) => CpuStorage::F32(self.sum_host(
                contiguous(x, a.1)?,
                Some(contiguous(y, layout(b)?)?),
                f,
            )),
            (CpuStorage::F64(x), Some(CpuStorage::F64(y))) => CpuStorage::F64(self.sum_host(
                contiguous(x, a.1)?,
                Some(contiguous(y, layout(b)?)?),
                f,
            )),
            _ => return Err(dtype_error()),
        })
    }
}

#[cfg(feature = "cuda")]
impl DeviceGrouping {
    /// The sums on GPU storage (see [`Self::sum_cpu`]), over this grouping's GPU copy.
    pub fn sum_cuda(
        &self,
        a: (&candle_core::CudaStorage, &Layout),
        b: Option<(&candle_core::CudaStorage, &Layout)>,
        f: usize,
    ) -> candle_core::Result<candle_core::CudaStorage> {
        let gpu = self.gpu.as_ref().ok_or_else(|| {
            candle_core::Error::Cuda(
                "grouped sum: index arrays were built for another device".into(),
            )
        })?;
        super::cuda::grouped_sum(gpu, self.groups(), a, b, f)
    }
}

fn layout<'a, S>(b: Option<(&S, &'a Layout)>) -> candle_core::Result<&'a Layout> {
    b.map(|b| b.1)
        .ok_or_else(|| candle_core::Error::Msg("grouped sum: missing second input".into()))
}
