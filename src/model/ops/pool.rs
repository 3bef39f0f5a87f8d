//! Sum pooling of atom rows into their graphs as one op.
//!
//! candle's `index_add`, the obvious way to pool, walks all atoms serially on CUDA; here
//! every graph's sum is its own row of work (CPU and CUDA), and the backward is a gather.

use super::grouped_sum::DeviceGrouping;
use crate::error::Result;
use crate::graph::Grouping;
use candle_core::{CpuStorage, CustomOp1, Device, Layout, Shape, Tensor};
use std::sync::Arc;

/// Per-graph sums of atom rows; atoms of a graph need not be contiguous.
#[derive(Debug, Clone)]
pub struct SegmentSum {
    grouping: Arc<DeviceGrouping>,
    /// Graph of every atom, `[atoms]` u32 on the op's device (for the backward gather).
    segment: Tensor,
}

impl SegmentSum {
    /// `pool` groups atoms by graph; `segment` is every atom's graph, on the device the
    /// op will run on.
    pub fn new(pool: Arc<Grouping>, segment: &Tensor) -> Result<Self> {
        let device: &Device = segment.device();
        Ok(Self {
            grouping: Arc::new(DeviceGrouping::new(pool, device)?),
            segment: segment.clone(),
        })
    }

    /// `[atoms, F]` → `[graphs, F]`.
    pub fn forward(&self, h: &Tensor) -> Result<Tensor> {
        Ok(h.contiguous()?.apply_op1(self.clone())?)
    }
}

impl CustomOp1 for SegmentSum {
    fn name(&self) -> &'static str {
        "segment-sum"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let f = l.dims()[1];
        let out = self.grouping.sum_cpu((s, l), None, f)?;
        Ok((out, Shape::from((self.grouping.groups(), f))))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s: &candle_core::CudaStorage,
        l: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let f = l.dims()[1];
        let out = self.grouping.sum_cuda((s, l), None, f)?;
        Ok((out, Shape::from((self.grouping.groups(), f))))
    }

    fn bwd(
        &self,
        _arg: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(grad.index_select(&self.segment, 0)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Var;

    #[test]
    fn equals_index_add_in_value_and_gradient() {
        let segment: Vec<u32> = vec![0, 0, 2, 1, 2, 2, 0];
        let (atoms, graphs, f) = (segment.len(), 4, 3);
        let h = Var::from_tensor(
            &Tensor::from_vec(
                (0..atoms * f).map(|i| (i as f64 * 0.7).cos()).collect(),
                (atoms, f),
                &Device::Cpu,
            )
            .unwrap(),
        )
        .unwrap();
        let seg = Tensor::new(segment.as_slice(), &Device::Cpu).unwrap();
        let seed = Tensor::from_vec(
            (0..graphs * f).map(|i| i as f64 - 4.0).collect(),
            (graphs, f),
            &Device::Cpu,
        )
        .unwrap();
        let plain = Tensor::zeros((graphs, f), candle_core::DType::F64, &Device::Cpu)
            .unwrap()
            .index_add(&seg, h.as_tensor(), 0)
            .unwrap();
        let atoms_ids: Vec<u32> = (0..atoms as u32).collect();
        let pool = Arc::new(Grouping::by_key(&segment, graphs, &atoms_ids, None));
        let fused = SegmentSum::new(pool, &seg)
            .unwrap()
            .forward(h.as_tensor())
            .unwrap();
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        assert_eq!(flat(&plain), flat(&fused));
        let grad = |t: &Tensor| {
            let g = (t * &seed).unwrap().sum_all().unwrap().backward().unwrap();
            flat(g.get(&h).unwrap())
        };
        assert_eq!(grad(&plain), grad(&fused));
    }
}
