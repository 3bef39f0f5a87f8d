//! The CFConv message passing, agg_i = Σ_{e: dst(e)=i} x_{src(e)} ⊙ W_{row(e)}, as one op
//! (CPU and CUDA); W has one row per distinct edge length, shared by the edges of that length.
//!
//! The plain composition (`index_select` → multiply → `index_add`) keeps two `[edges, F]`
//! tensors per interaction for backward and runs the scatter on one thread (candle's CUDA
//! `index_add` even walks all edges serially). Here the forward walks the edges of each
//! target atom in parallel over atoms, and the backward computes
//! ∂W_r = Σ_{e: row(e)=r} g_{dst(e)} ⊙ x_{src(e)} per length row and
//! ∂x_j = Σ_{e: src(e)=j} g_{dst(e)} ⊙ W_{row(e)} per source atom, each through a copy of
//! the edge list grouped that way: nothing per edge is stored.

use super::grouped_sum::DeviceGrouping;
use crate::error::Result;
use crate::graph::EdgeGroupings;
use candle_core::{CpuStorage, CustomOp2, Device, Layout, Shape, Tensor};
use std::sync::Arc;

/// The edge list grouped the three ways the op sums over it (see [`EdgeGroupings`]).
#[derive(Debug)]
struct Groupings {
    by_dst: DeviceGrouping,
    by_src: DeviceGrouping,
    by_row: DeviceGrouping,
}

/// Message passing over one fixed edge list.
#[derive(Debug, Clone)]
pub struct MessagePassing {
    groups: Arc<Groupings>,
}

impl MessagePassing {
    /// Readies grouped edges for tensors on `device` (copies their indices to a GPU).
    pub fn new(edges: &EdgeGroupings, device: &Device) -> Result<Self> {
        Ok(Self {
            groups: Arc::new(Groupings {
                by_dst: DeviceGrouping::new(edges.by_dst.clone(), device)?,
                by_src: DeviceGrouping::new(edges.by_src.clone(), device)?,
                by_row: DeviceGrouping::new(edges.by_row.clone(), device)?,
            }),
        })
    }

    /// Σ over incoming edges of x_src ⊙ W_row: `x` `[atoms, F]`, `w` `[rows, F]` → `[atoms, F]`.
    pub fn forward(&self, x: &Tensor, w: &Tensor) -> Result<Tensor> {
        Ok(x.contiguous()?
            .apply_op2(&w.contiguous()?, GroupedProduct(self.clone(), Sum::Forward))?)
    }
}

/// The three sums the op needs, each over one grouping of the edges:
/// forward Σ_{dst(e)=i} x_src ⊙ W_row, ∂x Σ_{src(e)=j} g_dst ⊙ W_row, ∂W Σ_{row(e)=r} g_dst ⊙ x_src.
#[derive(Clone, Copy)]
enum Sum {
    Forward,
    GradX,
    GradW,
}

struct GroupedProduct(MessagePassing, Sum);

impl GroupedProduct {
    fn grouping(&self) -> &DeviceGrouping {
        let g = &self.0.groups;
        match self.1 {
            Sum::Forward => &g.by_dst,
            Sum::GradX => &g.by_src,
            Sum::GradW => &g.by_row,
        }
    }
}

impl CustomOp2 for GroupedProduct {
    fn name(&self) -> &'static str {
        match self.1 {
            Sum::Forward => "cfconv-aggregate",
            Sum::GradX => "cfconv-aggregate-grad-x",
            Sum::GradW => "cfconv-aggregate-grad-w",
        }
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let f = l1.dims()[1];
        let g = self.grouping();
        let out = g.sum_cpu((s1, l1), Some((s2, l2)), f)?;
        Ok((out, Shape::from((g.groups(), f))))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let f = l1.dims()[1];
        let g = self.grouping();
        let out = g.sum_cuda((s1, l1), Some((s2, l2)), f)?;
        Ok((out, Shape::from((g.groups(), f))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let gx = grad.apply_op2_no_bwd(w, &GroupedProduct(self.0.clone(), Sum::GradX))?;
        let gw = grad.apply_op2_no_bwd(x, &GroupedProduct(self.0.clone(), Sum::GradW))?;
        Ok((Some(gx), Some(gw)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Var;

    #[test]
    fn equals_the_plain_composition_in_value_and_gradient() {
        let atoms = 7;
        let src: Vec<u32> = vec![1, 2, 0, 3, 4, 6, 5, 0, 2, 6, 1];
        let dst: Vec<u32> = vec![0, 0, 1, 1, 2, 3, 4, 5, 5, 6, 6];
        let row: Vec<u32> = vec![0, 1, 0, 2, 3, 4, 3, 5, 1, 6, 2];
        let rows = 7;
        let f = 3;
        let xv: Vec<f64> = (0..atoms * f)
            .map(|i| ((i * 7 % 11) as f64 - 5.0) * 0.3)
            .collect();
        let wv: Vec<f64> = (0..rows * f)
            .map(|i| ((i * 5 % 13) as f64 - 6.0) * 0.2)
            .collect();
        let x = Var::from_tensor(&Tensor::from_vec(xv, (atoms, f), &Device::Cpu).unwrap()).unwrap();
        let w = Var::from_tensor(&Tensor::from_vec(wv, (rows, f), &Device::Cpu).unwrap()).unwrap();
        let rt = Tensor::new(row.as_slice(), &Device::Cpu).unwrap();
        let seed = Tensor::from_vec(
            (0..atoms * f).map(|i| (i as f64).sin()).collect::<Vec<_>>(),
            (atoms, f),
            &Device::Cpu,
        )
        .unwrap();
        let st = Tensor::new(src.as_slice(), &Device::Cpu).unwrap();
        let dt = Tensor::new(dst.as_slice(), &Device::Cpu).unwrap();
        let plain = x
            .as_tensor()
            .zeros_like()
            .unwrap()
            .index_add(
                &dt,
                &(x.as_tensor().index_select(&st, 0).unwrap()
                    * w.as_tensor().index_select(&rt, 0).unwrap())
                .unwrap(),
                0,
            )
            .unwrap();
        let edges = EdgeGroupings::new(&src, &dst, &row, atoms, rows);
        let fused = MessagePassing::new(&edges, &Device::Cpu)
            .unwrap()
            .forward(x.as_tensor(), w.as_tensor())
            .unwrap();
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        for (a, b) in flat(&plain).iter().zip(flat(&fused)) {
            assert!((a - b).abs() < 1e-12);
        }
        let ga = (&plain * &seed)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let gb = (&fused * &seed)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for v in [&x, &w] {
            for (a, b) in flat(ga.get(v).unwrap())
                .iter()
                .zip(flat(gb.get(v).unwrap()))
            {
                assert!((a - b).abs() < 1e-12);
            }
        }
    }
}
