//! The CFConv filter network with its intermediates recomputed in backward:
//! W = (ssp(attr·W0ᵀ + b0)·W2ᵀ + b2) ⊙ envelope, one row per distinct edge length.
//!
//! Kept for backward, the network's three intermediates per interaction are as large as W
//! itself and were most of a step's GPU memory; recomputing them costs one matrix product
//! and one elementwise pass. The backward is written out (there is no autograd graph to
//! replay), and the four parameters travel packed in one tensor so that one custom op can
//! return all of their gradients.

use super::dense::{Epilogue, column_sums};
use super::handover::HandOver;
use crate::error::Result;
use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use candle_nn::Linear;

/// W for `attr` `[lengths, K]` and a constant `envelope` `[lengths, 1]`; mlp0: K → F,
/// mlp2: F → F, both with biases.
pub fn filter(mlp0: &Linear, mlp2: &Linear, attr: &Tensor, envelope: &Tensor) -> Result<Tensor> {
    let (Some(b0), Some(b2)) = (mlp0.bias(), mlp2.bias()) else {
        return Err(crate::Error::InvalidConfig(
            "the filter network needs biases".into(),
        ));
    };
    let (w0, w2) = (mlp0.weight(), mlp2.weight());
    let net = Net {
        attr: attr.detach(),
        envelope: envelope.detach(),
        shapes: [w0.dims2()?, (1, b0.dim(0)?), w2.dims2()?, (1, b2.dim(0)?)],
    };
    let value = net.forward(&w0.detach(), &b0.detach(), &w2.detach(), &b2.detach())?;
    if ![w0, b0, w2, b2].iter().any(|t| t.track_op()) {
        return Ok(value);
    }
    let packed = Tensor::cat(
        &[w0.flatten_all()?, b0.clone(), w2.flatten_all()?, b2.clone()],
        0,
    )?;
    let op = Attach {
        net,
        value: HandOver::new("filter", value),
    };
    Ok(packed.apply_op1(op)?)
}

/// Attaches the filter value (computed on detached weights) to the packed parameters.
struct Attach {
    net: Net,
    value: HandOver,
}

/// The network's constant inputs and its parameter shapes (in packing order).
struct Net {
    attr: Tensor,
    envelope: Tensor,
    shapes: [(usize, usize); 4],
}

impl Net {
    fn hidden(&self, w0: &Tensor, b0: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let a0 = self.attr.matmul(&w0.t()?)?;
        let t = Epilogue::Ssp.run(&a0, b0, None).map_err(to_candle)?;
        Ok((a0, t))
    }

    fn forward(&self, w0: &Tensor, b0: &Tensor, w2: &Tensor, b2: &Tensor) -> Result<Tensor> {
        let (_, t) = self.hidden(w0, b0)?;
        let a2 = t.matmul(&w2.t()?)?;
        Epilogue::Scale.run(&a2, b2, Some(&self.envelope))
    }

    fn unpack(&self, packed: &Tensor) -> candle_core::Result<Vec<Tensor>> {
        let mut at = 0;
        self.shapes
            .iter()
            .map(|&(r, c)| {
                let n = r * c;
                let part = packed.narrow(0, at, n)?;
                at += n;
                if r == 1 {
                    Ok(part)
                } else {
                    part.reshape((r, c))
                }
            })
            .collect()
    }
}

fn to_candle(e: crate::Error) -> candle_core::Error {
    candle_core::Error::Msg(e.to_string())
}

impl CustomOp1 for Attach {
    fn name(&self) -> &'static str {
        "cfconv-filter"
    }

    fn cpu_fwd(
        &self,
        _packed: &CpuStorage,
        _l: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        self.value.cpu()
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        _packed: &candle_core::CudaStorage,
        _l: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        self.value.cuda()
    }

    fn bwd(
        &self,
        packed: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let net = &self.net;
        let p = net.unpack(&packed.detach())?;
        let (w0, b0, w2) = (&p[0], &p[1], &p[2]);
        let (a0, t) = net.hidden(w0, b0)?;
        let grad = grad.contiguous()?;
        // W = (t·W2ᵀ + b2) ⊙ e: ∂(t·W2ᵀ + b2) = g ⊙ e.
        let ga2 = Epilogue::ScaleRows
            .run(&grad, &p[3], Some(&net.envelope))
            .map_err(to_candle)?;
        let gb2 = column_sums(&ga2)?;
        let gw2 = ga2.t()?.matmul(&t)?;
        let gt = ga2.matmul(w2)?;
        // t = ssp(a0 + b0): ∂(a0 + b0) = ∂t ⊙ sigmoid(a0 + b0).
        let ga0 = Epilogue::SspGrad
            .run(&a0, b0, Some(&gt))
            .map_err(to_candle)?;
        let gb0 = column_sums(&ga0)?;
        let gw0 = ga0.t()?.matmul(&net.attr)?;
        Ok(Some(Tensor::cat(
            &[gw0.flatten_all()?, gb0, gw2.flatten_all()?, gb2],
            0,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{linear_scaled, linear_ssp};
    use super::*;
    use candle_core::{Device, Var};

    fn var(n: usize, shape: (usize, usize), k: f64) -> Var {
        let v: Vec<f64> = (0..n).map(|i| ((i as f64 + 1.0) * k).sin()).collect();
        Var::from_tensor(&Tensor::from_vec(v, shape, &Device::Cpu).unwrap()).unwrap()
    }

    #[test]
    fn recomputing_filter_equals_the_kept_graph_in_value_and_gradient() {
        let (rows, k, f) = (29, 6, 5);
        let attr = var(rows * k, (rows, k), 0.31).as_tensor().detach();
        let env = var(rows, (rows, 1), 0.77).as_tensor().detach();
        let seed = var(rows * f, (rows, f), 0.13).as_tensor().detach();
        let w0 = var(f * k, (f, k), 0.5);
        let b0 = var(f, (1, f), 0.9);
        let w2 = var(f * f, (f, f), 0.61);
        let b2 = var(f, (1, f), 1.7);
        let b0f = b0.as_tensor().flatten_all().unwrap();
        let b2f = b2.as_tensor().flatten_all().unwrap();
        let mlp0 = Linear::new(w0.as_tensor().clone(), Some(b0f));
        let mlp2 = Linear::new(w2.as_tensor().clone(), Some(b2f));
        let kept = linear_scaled(&mlp2, &linear_ssp(&mlp0, &attr).unwrap(), &env).unwrap();
        let recomputed = filter(&mlp0, &mlp2, &attr, &env).unwrap();
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        assert_eq!(flat(&kept), flat(&recomputed));
        let ga = (&kept * &seed)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let gb = (&recomputed * &seed)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for v in [&w0, &b0, &w2, &b2] {
            for (a, b) in flat(ga.get(v).unwrap())
                .iter()
                .zip(flat(gb.get(v).unwrap()))
            {
                assert!((a - b).abs() < 1e-12, "{a} vs {b}");
            }
        }
    }
}
