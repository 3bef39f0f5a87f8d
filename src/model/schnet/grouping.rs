//! Sums of gathered rows over groups: out_g = Σ_{p ∈ group g} a[ia(p)] (⊙ b[ib(p)]).
//!
//! The one primitive behind the fused message passing (its forward and both gradients)
//! and the per-graph pooling. Each output row is summed by one worker in a fixed order, so
//! results do not depend on scheduling, on CPU (rayon) or on the GPU (no atomics).

use candle_core::{CpuStorage, Device, Layout, WithDType};
use rayon::prelude::*;

/// One grouping of items: group g covers positions `start[g]..start[g + 1]`, and position
/// p gathers row `ia[p]` of `a` (and row `ib[p]` of `b`).
#[derive(Debug)]
pub(crate) struct Grouping {
    start: Vec<u32>,
    ia: Vec<u32>,
    ib: Option<Vec<u32>>,
    /// Copies of the index arrays on the GPU the op runs on.
    #[cfg(feature = "cuda")]
    pub(crate) gpu: Option<super::cuda::GpuGrouping>,
}

impl Grouping {
    /// Groups items by `keys` (< `groups`), keeping their order within a group; item i
    /// gathers row `ia[i]` of `a` and row `ib[i]` of `b`. Index copies go to `device`
    /// when it is a GPU.
    pub fn by_key(
        keys: &[u32],
        groups: usize,
        ia: &[u32],
        ib: Option<&[u32]>,
        device: &Device,
    ) -> candle_core::Result<Self> {
        // A counting sort: linear, and stable so sums keep the edge order of the graph.
        let mut start = vec![0u32; groups + 1];
        for &k in keys {
            start[k as usize + 1] += 1;
        }
        for g in 0..groups {
            start[g + 1] += start[g];
        }
        let mut fill = start.clone();
        let mut order = vec![0u32; keys.len()];
        for (i, &k) in keys.iter().enumerate() {
            order[fill[k as usize] as usize] = i as u32;
            fill[k as usize] += 1;
        }
        let ia: Vec<u32> = order.iter().map(|&i| ia[i as usize]).collect();
        let ib = ib.map(|ib| order.iter().map(|&i| ib[i as usize]).collect::<Vec<u32>>());
        let _ = device;
        Ok(Self {
            #[cfg(feature = "cuda")]
            gpu: super::cuda::GpuGrouping::upload(device, &start, &ia, ib.as_deref())?,
            start,
            ia,
            ib,
        })
    }

    /// Number of groups (output rows).
    pub fn groups(&self) -> usize {
        self.start.len() - 1
    }

    fn sum_host<T: WithDType + std::ops::Mul<Output = T> + std::ops::AddAssign>(
        &self,
        a: &[T],
        b: Option<&[T]>,
        f: usize,
    ) -> Vec<T> {
        let mut out = vec![T::zero(); self.groups() * f];
        out.par_chunks_mut(f).enumerate().for_each(|(g, row)| {
            let (s, e) = (self.start[g] as usize, self.start[g + 1] as usize);
            for p in s..e {
                let ra = self.ia[p] as usize * f;
                match (b, &self.ib) {
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

fn layout<'a, S>(b: Option<(&S, &'a Layout)>) -> candle_core::Result<&'a Layout> {
    b.map(|b| b.1)
        .ok_or_else(|| candle_core::Error::Msg("grouped sum: missing second input".into()))
}

pub(crate) fn dtype_error() -> candle_core::Error {
    candle_core::Error::Msg("grouped sums need f32 or f64 inputs of one dtype".into())
}

fn contiguous<'a, T: WithDType>(data: &'a [T], layout: &Layout) -> candle_core::Result<&'a [T]> {
    let (a, b) = layout
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("grouped sums need contiguous inputs".into()))?;
    Ok(&data[a..b])
}
