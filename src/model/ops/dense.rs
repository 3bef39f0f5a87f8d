//! Linear layers fused with what follows them: ssp(x·Wᵀ + b) and (x·Wᵀ + b) ⊙ s.
//!
//! candle adds a bias with a broadcast kernel that indexes every element through the
//! shapes and strides; on the GPU these adds were the largest single cost of a step
//! (profile in bench/README.md). Here the bias, the activation or scale, and their
//! backward run as one elementwise pass each, and the pre-bias product is the only
//! tensor kept for backward.

use super::activation::shifted_softplus;
use super::host::{Float, contiguous, dtype_error};
use crate::error::Result;
use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Shape, Tensor};
use candle_nn::{Linear, Module};
use rayon::prelude::*;

/// ssp(linear(x)) for 2-D x.
pub fn linear_ssp(linear: &Linear, x: &Tensor) -> Result<Tensor> {
    match (linear.bias(), fused_device(x)) {
        (Some(b), true) => {
            let a = x.matmul(&linear.weight().t()?)?;
            Ok(a.apply_op2(&b.contiguous()?, BiasSsp)?)
        }
        _ => shifted_softplus(&linear.forward(x)?),
    }
}

/// linear(x) ⊙ scale for 2-D x and a constant (untracked) `scale` `[rows, 1]`.
pub fn linear_scaled(linear: &Linear, x: &Tensor, scale: &Tensor) -> Result<Tensor> {
    match (linear.bias(), fused_device(x)) {
        (Some(b), true) => {
            let a = x.matmul(&linear.weight().t()?)?;
            Ok(a.apply_op3(&b.contiguous()?, &scale.contiguous()?, Epilogue::Scale)?)
        }
        _ => Ok(linear.forward(x)?.broadcast_mul(scale)?),
    }
}

fn fused_device(x: &Tensor) -> bool {
    (x.device().is_cpu() || x.device().is_cuda())
        && matches!(x.dtype(), candle_core::DType::F32 | candle_core::DType::F64)
}

/// Which epilogue a kernel computes from v = a + b (per column) and a third input c.
#[derive(Clone, Copy)]
pub(super) enum Epilogue {
    /// ssp(v).
    Ssp,
    /// c · sigmoid(v), the backward of `Ssp` for the gradient c.
    SspGrad,
    /// v · c[row].
    Scale,
    /// a · c[row] (the bias is not used), the backward of `Scale`.
    ScaleRows,
}

impl Epilogue {
    /// The epilogue of a `[rows, f]` matrix a, bias b `[f]` and third input c, untracked
    /// (for hand-written backward passes); c is ignored by `Ssp`.
    pub(super) fn run(self, a: &Tensor, b: &Tensor, c: Option<&Tensor>) -> Result<Tensor> {
        let a = a.contiguous()?;
        let c = match c {
            Some(c) => c.contiguous()?,
            None => a.clone(),
        };
        Ok(a.apply_op3_no_bwd(&b.contiguous()?, &c, &self)?)
    }

    fn name(self) -> &'static str {
        match self {
            Self::Ssp => "bias_ssp",
            Self::SspGrad => "bias_ssp_grad",
            Self::Scale => "bias_scale",
            Self::ScaleRows => "scale_rows",
        }
    }

    fn apply_host<T: Float>(self, a: &[T], b: &[T], c: &[T]) -> Vec<T> {
        let f = b.len();
        let mut out = vec![T::zero(); a.len()];
        out.par_chunks_mut(f.max(1))
            .enumerate()
            .with_min_len(64)
            .for_each(|(row, y)| {
                for k in 0..y.len() {
                    let i = row * f + k;
                    let v = a[i] + b[k];
                    y[k] = match self {
                        Self::Ssp => v.ssp(),
                        Self::SspGrad => c[i] * v.sigmoid(),
                        Self::Scale => v * c[row],
                        Self::ScaleRows => a[i] * c[row],
                    };
                }
            });
        out
    }

    fn cpu(
        self,
        a: (&CpuStorage, &Layout),
        b: (&CpuStorage, &Layout),
        c: Option<(&CpuStorage, &Layout)>,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let c = c.unwrap_or(a);
        let out = match (a.0, b.0, c.0) {
            (CpuStorage::F32(x), CpuStorage::F32(y), CpuStorage::F32(z)) => {
                CpuStorage::F32(self.apply_host(
                    contiguous(x, a.1)?,
                    contiguous(y, b.1)?,
                    contiguous(z, c.1)?,
                ))
            }
            (CpuStorage::F64(x), CpuStorage::F64(y), CpuStorage::F64(z)) => {
                CpuStorage::F64(self.apply_host(
                    contiguous(x, a.1)?,
                    contiguous(y, b.1)?,
                    contiguous(z, c.1)?,
                ))
            }
            _ => return Err(dtype_error()),
        };
        Ok((out, a.1.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda(
        self,
        a: (&candle_core::CudaStorage, &Layout),
        b: (&candle_core::CudaStorage, &Layout),
        c: Option<(&candle_core::CudaStorage, &Layout)>,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let f = b.1.shape().elem_count();
        let out = super::cuda::epilogue(self.name(), a, b, c.unwrap_or(a), f)?;
        Ok((out, a.1.shape().clone()))
    }
}

/// Checks a `[rows, f]`, b `[f]`, and c `[rows, f]` (`full`) or `[rows, 1]`.
fn check(a: &Layout, b: &Layout, c: Option<(&Layout, bool)>) -> candle_core::Result<()> {
    let (rows, f) = a.shape().dims2()?;
    let ok = b.shape().elem_count() == f
        && c.is_none_or(|(c, full)| c.shape().elem_count() == if full { rows * f } else { rows });
    if ok {
        Ok(())
    } else {
        Err(candle_core::Error::Msg(
            "fused linear op: bias or scale does not match the matrix".into(),
        ))
    }
}

struct BiasSsp;

impl CustomOp2 for BiasSsp {
    fn name(&self) -> &'static str {
        "bias-ssp"
    }

    fn cpu_fwd(
        &self,
        a: &CpuStorage,
        la: &Layout,
        b: &CpuStorage,
        lb: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        check(la, lb, None)?;
        Epilogue::Ssp.cpu((a, la), (b, lb), None)
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        a: &candle_core::CudaStorage,
        la: &Layout,
        b: &candle_core::CudaStorage,
        lb: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        check(la, lb, None)?;
        Epilogue::Ssp.cuda((a, la), (b, lb), None)
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let ga = a.apply_op3_no_bwd(b, &grad.contiguous()?, &Epilogue::SspGrad)?;
        let gb = column_sums(&ga)?;
        Ok((Some(ga), Some(gb)))
    }
}

impl CustomOp3 for Epilogue {
    fn name(&self) -> &'static str {
        Epilogue::name(*self)
    }

    fn cpu_fwd(
        &self,
        a: &CpuStorage,
        la: &Layout,
        b: &CpuStorage,
        lb: &Layout,
        c: &CpuStorage,
        lc: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        check(
            la,
            lb,
            Some((lc, matches!(self, Self::SspGrad | Self::Ssp))),
        )?;
        self.cpu((a, la), (b, lb), Some((c, lc)))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        a: &candle_core::CudaStorage,
        la: &Layout,
        b: &candle_core::CudaStorage,
        lb: &Layout,
        c: &candle_core::CudaStorage,
        lc: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        check(
            la,
            lb,
            Some((lc, matches!(self, Self::SspGrad | Self::Ssp))),
        )?;
        self.cuda((a, la), (b, lb), Some((c, lc)))
    }

    /// Only `Scale` is differentiable: in a and b, and in the scale when it is tracked.
    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        scale: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        if !matches!(self, Self::Scale) {
            return Err(candle_core::Error::Msg(format!(
                "{} has no backward",
                Epilogue::name(*self)
            )));
        }
        let ga = grad
            .contiguous()?
            .apply_op3_no_bwd(b, scale, &Epilogue::ScaleRows)?;
        let gb = column_sums(&ga)?;
        let gs = if scale.track_op() {
            let g = (a.broadcast_add(b)? * grad)?.sum_keepdim(1)?;
            Some(g.reshape(scale.shape())?)
        } else {
            None
        };
        Ok((Some(ga), Some(gb), gs))
    }
}

/// Σ over rows of a `[rows, f]` matrix, as a product with a row of ones: candle's sum over
/// the leading dimension is several times slower on the GPU than the matrix product.
pub(super) fn column_sums(t: &Tensor) -> candle_core::Result<Tensor> {
    let ones = Tensor::ones((1, t.dim(0)?), t.dtype(), t.device())?;
    ones.matmul(t)?.squeeze(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn tensor(n: usize, shape: (usize, usize), k: f64) -> Tensor {
        let v: Vec<f64> = (0..n).map(|i| ((i as f64 + 1.0) * k).sin() * 3.0).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    #[test]
    fn fused_linear_ops_equal_their_composition_in_value_and_gradient() {
        let (rows, fin, fout) = (37, 5, 4);
        let x = Var::from_tensor(&tensor(rows * fin, (rows, fin), 0.37)).unwrap();
        let w = Var::from_tensor(&tensor(fout * fin, (fout, fin), 0.71)).unwrap();
        let b = Var::from_tensor(&tensor(fout, (1, fout), 1.3).flatten_all().unwrap()).unwrap();
        let scale = tensor(rows, (rows, 1), 0.9);
        let seed = tensor(rows * fout, (rows, fout), 0.23);
        let lin = Linear::new(w.as_tensor().clone(), Some(b.as_tensor().clone()));
        type F<'a> = Box<dyn Fn(&Tensor) -> Tensor + 'a>;
        let cases: Vec<(F, F)> = vec![
            (
                Box::new(|x: &Tensor| linear_ssp(&lin, x).unwrap()),
                Box::new(|x: &Tensor| {
                    super::super::activation::shifted_softplus_composed(&lin.forward(x).unwrap())
                        .unwrap()
                }),
            ),
            (
                Box::new(|x: &Tensor| linear_scaled(&lin, x, &scale).unwrap()),
                Box::new(|x: &Tensor| lin.forward(x).unwrap().broadcast_mul(&scale).unwrap()),
            ),
        ];
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        for (fused, plain) in &cases {
            let (yf, yp) = (fused(x.as_tensor()), plain(x.as_tensor()));
            for (a, b) in flat(&yf).iter().zip(flat(&yp)) {
                assert!((a - b).abs() < 1e-12, "{a} vs {b}");
            }
            let gf = (&yf * &seed)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let gp = (&yp * &seed)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            for v in [&x, &w, &b] {
                for (a, c) in flat(gf.get(v).unwrap())
                    .iter()
                    .zip(flat(gp.get(v).unwrap()))
                {
                    assert!((a - c).abs() < 1e-10, "{a} vs {c}");
                }
            }
        }
    }
}
