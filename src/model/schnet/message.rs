//! The CFConv message passing, agg_i = Σ_{e: dst(e)=i} x_{src(e)} ⊙ W_{row(e)}, as one CPU
//! op; W has one row per distinct edge length, shared by the edges of that length.
//!
//! The plain composition (`index_select` → multiply → `index_add`) keeps two `[edges, F]`
//! tensors per interaction for backward and runs the scatter on one thread. Here the
//! forward walks the edges of each target atom (edges arrive sorted by target, as the
//! radius graph emits them) in parallel over atoms, and the backward computes
//! ∂W_r = Σ_{e: row(e)=r} g_{dst(e)} ⊙ x_{src(e)} per length row and
//! ∂x_j = Σ_{e: src(e)=j} g_{dst(e)} ⊙ W_{row(e)} per source atom, each through a copy of
//! the edge list grouped that way: nothing per edge is stored.

use crate::error::Result;
use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor, WithDType};
use rayon::prelude::*;
use std::sync::Arc;

/// Edge lists in the two orders the op walks.
#[derive(Debug)]
struct Csr {
    /// Edges grouped by target: `by_dst[dst_start[i]..dst_start[i + 1]]` end at atom i.
    dst_start: Vec<usize>,
    by_dst: Vec<u32>,
    /// Edges grouped by source.
    src_start: Vec<usize>,
    by_src: Vec<u32>,
    /// Edges grouped by filter row.
    row_start: Vec<usize>,
    by_row: Vec<u32>,
    src: Vec<u32>,
    dst: Vec<u32>,
    row: Vec<u32>,
}

fn group(keys: &[u32], atoms: usize) -> (Vec<usize>, Vec<u32>) {
    let mut start = vec![0usize; atoms + 1];
    for &k in keys {
        start[k as usize + 1] += 1;
    }
    for i in 0..atoms {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut order = vec![0u32; keys.len()];
    for (e, &k) in keys.iter().enumerate() {
        order[fill[k as usize]] = e as u32;
        fill[k as usize] += 1;
    }
    (start, order)
}

/// Message passing over one fixed edge list.
#[derive(Debug, Clone)]
pub struct MessagePassing {
    csr: Arc<Csr>,
    atoms: usize,
}

impl MessagePassing {
    /// Prepares the edge lists (`src`, `dst` atom indices < `atoms`; `row` filter rows < `rows`).
    pub fn new(src: Vec<u32>, dst: Vec<u32>, row: Vec<u32>, atoms: usize, rows: usize) -> Self {
        let (dst_start, by_dst) = group(&dst, atoms);
        let (src_start, by_src) = group(&src, atoms);
        let (row_start, by_row) = group(&row, rows);
        Self {
            csr: Arc::new(Csr {
                dst_start,
                by_dst,
                src_start,
                by_src,
                row_start,
                by_row,
                src,
                dst,
                row,
            }),
            atoms,
        }
    }

    /// Σ over incoming edges of x_src ⊙ W_row: `x` `[atoms, F]`, `w` `[rows, F]` → `[atoms, F]`.
    pub fn forward(&self, x: &Tensor, w: &Tensor) -> Result<Tensor> {
        Ok(x.contiguous()?
            .apply_op2(&w.contiguous()?, GroupedProduct(self.clone(), Sum::Forward))?)
    }
}

fn slice<'a, T: WithDType>(data: &'a [T], layout: &Layout) -> candle_core::Result<&'a [T]> {
    let (a, b) = layout
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("message passing needs contiguous inputs".into()))?;
    Ok(&data[a..b])
}

/// out[i] = Σ_{e ∈ groups[i]} a[row_a(e)] ⊙ b[row_b(e)], rows of width f, parallel over i.
fn gather_sum<T: WithDType + std::ops::Mul<Output = T> + std::ops::AddAssign>(
    a: &[T],
    b: &[T],
    f: usize,
    starts: &[usize],
    order: &[u32],
    row_a: impl Fn(usize) -> usize + Sync,
    row_b: impl Fn(usize) -> usize + Sync,
) -> Vec<T> {
    let groups = starts.len() - 1;
    let mut out = vec![T::zero(); groups * f];
    out.par_chunks_mut(f).enumerate().for_each(|(i, row)| {
        for &e in &order[starts[i]..starts[i + 1]] {
            let e = e as usize;
            let (ra, rb) = (row_a(e) * f, row_b(e) * f);
            for k in 0..f {
                row[k] += a[ra + k] * b[rb + k];
            }
        }
    });
    out
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
    fn run<T: WithDType + std::ops::Mul<Output = T> + std::ops::AddAssign>(
        &self,
        a: &[T],
        b: &[T],
        f: usize,
    ) -> Vec<T> {
        let c = &self.0.csr;
        let (src, dst, row) = (&c.src, &c.dst, &c.row);
        match self.1 {
            Sum::Forward => gather_sum(
                a,
                b,
                f,
                &c.dst_start,
                &c.by_dst,
                |e| src[e] as usize,
                |e| row[e] as usize,
            ),
            Sum::GradX => gather_sum(
                a,
                b,
                f,
                &c.src_start,
                &c.by_src,
                |e| dst[e] as usize,
                |e| row[e] as usize,
            ),
            Sum::GradW => gather_sum(
                a,
                b,
                f,
                &c.row_start,
                &c.by_row,
                |e| dst[e] as usize,
                |e| src[e] as usize,
            ),
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
        let out = match (s1, s2) {
            (CpuStorage::F32(a), CpuStorage::F32(b)) => {
                CpuStorage::F32(self.run(slice(a, l1)?, slice(b, l2)?, f))
            }
            (CpuStorage::F64(a), CpuStorage::F64(b)) => {
                CpuStorage::F64(self.run(slice(a, l1)?, slice(b, l2)?, f))
            }
            _ => {
                return Err(candle_core::Error::Msg(
                    "message passing: f32 or f64, the same for both inputs".into(),
                ));
            }
        };
        let rows = match self.1 {
            Sum::GradW => self.0.csr.row_start.len() - 1,
            _ => self.0.atoms,
        };
        Ok((out, Shape::from((rows, f))))
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
    use candle_core::{Device, Var};

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
        let fused = MessagePassing::new(src, dst, row, atoms, rows)
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
