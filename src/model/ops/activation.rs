//! Shifted softplus, ssp(x) = ln(1 + eˣ) − ln 2.
//!
//! On CPU and CUDA it is one custom op (forward and backward each a single pass) instead
//! of eight elementwise candle ops: that halves the activation memory of the edge filter
//! network and removes most of its elementwise passes. Elsewhere the same function is
//! composed from plain ops; tests check the two against each other.

use super::host::{Float, contiguous, dtype_error};
use crate::error::Result;
use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use rayon::prelude::*;
use std::f64::consts::LN_2;

/// ssp(x) = softplus(x) − ln 2.
pub fn shifted_softplus(x: &Tensor) -> Result<Tensor> {
    if (x.device().is_cpu() || x.device().is_cuda())
        && matches!(x.dtype(), candle_core::DType::F32 | candle_core::DType::F64)
    {
        Ok(x.contiguous()?.apply_op1(Elementwise::Ssp)?)
    } else {
        shifted_softplus_composed(x)
    }
}

/// ssp from plain candle ops: max(x, 0) + ln(1 + e^{−|x|}) − ln 2 (stable for large |x|).
pub fn shifted_softplus_composed(x: &Tensor) -> Result<Tensor> {
    let tail = (x.abs()?.neg()?.exp()? + 1.0)?.log()?;
    Ok((x.relu()? + tail)?.affine(1.0, -LN_2)?)
}

/// The op's two functions: ssp (differentiable) and its slope, the sigmoid.
#[derive(Clone, Copy)]
enum Elementwise {
    Ssp,
    Sigmoid,
}

impl Elementwise {
    fn map<T: Float>(self, data: &[T], layout: &Layout) -> candle_core::Result<Vec<T>> {
        let f = match self {
            Self::Ssp => T::ssp,
            Self::Sigmoid => T::sigmoid,
        };
        Ok(contiguous(data, layout)?
            .par_iter()
            .with_min_len(4096)
            .map(|&v| f(v))
            .collect())
    }
}

impl CustomOp1 for Elementwise {
    fn name(&self) -> &'static str {
        match self {
            Self::Ssp => "shifted-softplus",
            Self::Sigmoid => "sigmoid",
        }
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let out = match s {
            CpuStorage::F32(v) => CpuStorage::F32(self.map(v, l)?),
            CpuStorage::F64(v) => CpuStorage::F64(self.map(v, l)?),
            _ => return Err(dtype_error()),
        };
        Ok((out, l.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s: &candle_core::CudaStorage,
        l: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let kernel = match self {
            Self::Ssp => "ssp",
            Self::Sigmoid => "sigmoid",
        };
        Ok((super::cuda::unary(kernel, s, l)?, l.shape().clone()))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        match self {
            Self::Ssp => {
                let slope = arg.contiguous()?.apply_op1_no_bwd(&Self::Sigmoid)?;
                Ok(Some(grad.mul(&slope)?))
            }
            Self::Sigmoid => Err(candle_core::Error::Msg(
                "the sigmoid op is only used without gradient".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn matches_definition_and_is_stable() {
        let xs = [-800.0, -3.0, 0.0, 0.5, 40.0, 800.0];
        let t = Tensor::new(&xs, &Device::Cpu).unwrap();
        for f in [shifted_softplus, shifted_softplus_composed] {
            let got = f(&t).unwrap().to_vec1::<f64>().unwrap();
            for (x, g) in xs.iter().zip(got) {
                let want = if *x > 30.0 {
                    x - LN_2
                } else {
                    x.exp().ln_1p() - LN_2
                };
                assert!((g - want).abs() < 1e-12, "{x}: {g} vs {want}");
            }
        }
    }

    #[test]
    fn fused_op_equals_composition_in_value_and_gradient() {
        let values: Vec<f64> = (0..2000).map(|i| (i as f64 - 1000.0) * 0.037).collect();
        let x = Var::new(values.as_slice(), &Device::Cpu).unwrap();
        let w = Tensor::new(
            values
                .iter()
                .map(|v| (v * 1.3).sin())
                .collect::<Vec<_>>()
                .as_slice(),
            &Device::Cpu,
        )
        .unwrap();
        let grad = |f: fn(&Tensor) -> Result<Tensor>| {
            let y = f(x.as_tensor()).unwrap();
            let g = (&y * &w).unwrap().sum_all().unwrap().backward().unwrap();
            (
                y.to_vec1::<f64>().unwrap(),
                g.get(&x).unwrap().to_vec1::<f64>().unwrap(),
            )
        };
        let (ya, ga) = grad(shifted_softplus);
        let (yb, gb) = grad(shifted_softplus_composed);
        for i in 0..values.len() {
            assert!((ya[i] - yb[i]).abs() < 1e-12);
            assert!(
                (ga[i] - gb[i]).abs() < 1e-12,
                "{}: {} vs {}",
                values[i],
                ga[i],
                gb[i]
            );
        }
    }
}
