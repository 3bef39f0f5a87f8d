//! One SchNet interaction block: lin(ssp(CFConv(h))), optionally checkpointed.

use super::{CFConv, EdgeFeatures};
use crate::error::Result;
use crate::model::SchNetConfig;
use crate::model::ops::HandOver;
use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor, Var};
use candle_nn::{Linear, Module, VarBuilder};

/// PyG's `InteractionBlock`.
#[derive(Debug, Clone)]
pub struct InteractionBlock {
    conv: CFConv,
    lin: Linear,
}

impl InteractionBlock {
    /// Loads `mlp.{0,2}`, `conv.lin1`, `conv.lin2` and `lin` under `vb`.
    pub fn new(config: &SchNetConfig, vb: VarBuilder) -> Result<Self> {
        let h = config.hidden_channels;
        Ok(Self {
            conv: CFConv::new(
                h,
                config.num_filters,
                config.num_gaussians,
                vb.pp("mlp"),
                vb.pp("conv"),
            )?,
            lin: candle_nn::linear(h, h, vb.pp("lin"))?,
        })
    }

    /// The update added to h (the residual sum is the caller's).
    pub fn forward(&self, h: &Tensor, edges: &EdgeFeatures) -> Result<Tensor> {
        let x = self.conv.forward_activated(h, edges)?;
        Ok(self.lin.forward(&x)?)
    }

    /// h + forward(h), keeping only h and the output for backward: the block's
    /// intermediates are recomputed when the gradient arrives (activation checkpointing).
    /// Costs about one more forward of the block; the saved memory is most of a step's.
    pub fn forward_residual_checkpointed(
        &self,
        h: &Tensor,
        edges: &EdgeFeatures,
    ) -> Result<Tensor> {
        let tensors = self.tensors();
        if !tensors.iter().any(|t| t.track_op()) && !h.track_op() {
            return Ok((h + self.forward(h, edges)?)?);
        }
        let detached: Vec<Tensor> = tensors.iter().map(|t| t.detach()).collect();
        let plain = self.with_tensors(&detached)?;
        let h0 = h.detach();
        let value = (&h0 + plain.forward(&h0, edges)?)?;
        let flat: Vec<Tensor> = tensors
            .iter()
            .map(|t| t.flatten_all())
            .collect::<candle_core::Result<_>>()?;
        let packed = Tensor::cat(&flat, 0)?;
        let op = Checkpoint {
            block: self.clone(),
            edges: edges.clone(),
            value: HandOver::new("checkpoint", value),
        };
        Ok(h.apply_op2(&packed, op)?)
    }

    /// Weights and biases in a fixed order (mlp.0, mlp.2, lin1, lin2, lin).
    fn tensors(&self) -> Vec<Tensor> {
        let mut out = Vec::new();
        for l in self.conv.layers().into_iter().chain([&self.lin]) {
            out.push(l.weight().clone());
            if let Some(b) = l.bias() {
                out.push(b.clone());
            }
        }
        out
    }

    /// The same block over other tensors, given in the order of [`Self::tensors`].
    fn with_tensors(&self, t: &[Tensor]) -> candle_core::Result<Self> {
        let mut next = t.iter();
        let mut take = |like: &Linear| -> candle_core::Result<Linear> {
            let missing = || candle_core::Error::Msg("checkpoint: too few tensors".into());
            let w = next
                .next()
                .ok_or_else(missing)?
                .reshape(like.weight().shape())?;
            let b = match like.bias() {
                Some(b) => Some(next.next().ok_or_else(missing)?.reshape(b.shape())?),
                None => None,
            };
            Ok(Linear::new(w, b))
        };
        let [m0, m2, l1, l2] = self.conv.layers();
        let conv = CFConv::with_layers([take(m0)?, take(m2)?, take(l1)?, take(l2)?]);
        let lin = take(&self.lin)?;
        Ok(Self { conv, lin })
    }

    /// Splits a packed gradient or parameter vector along [`Self::tensors`].
    fn unpack(&self, packed: &Tensor) -> candle_core::Result<Vec<Tensor>> {
        let mut at = 0;
        self.tensors()
            .iter()
            .map(|t| {
                let n = t.elem_count();
                let part = packed.narrow(0, at, n)?;
                at += n;
                Ok(part)
            })
            .collect()
    }
}

/// h + block(h) whose backward reruns the block on tracked copies of its inputs.
struct Checkpoint {
    block: InteractionBlock,
    edges: EdgeFeatures,
    /// The forward value, computed on detached tensors before the op was applied.
    value: HandOver,
}

impl CustomOp2 for Checkpoint {
    fn name(&self) -> &'static str {
        "interaction-checkpoint"
    }

    fn cpu_fwd(
        &self,
        _h: &CpuStorage,
        _lh: &Layout,
        _p: &CpuStorage,
        _lp: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        self.value.cpu()
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        _h: &candle_core::CudaStorage,
        _lh: &Layout,
        _p: &candle_core::CudaStorage,
        _lp: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        self.value.cuda()
    }

    fn bwd(
        &self,
        h: &Tensor,
        packed: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let hv = Var::from_tensor(&h.detach())?;
        let pv = Var::from_tensor(&packed.detach())?;
        let block = self
            .block
            .with_tensors(&self.block.unpack(pv.as_tensor())?)?;
        let update = block
            .forward(hv.as_tensor(), &self.edges)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        let y = (hv.as_tensor() + update)?;
        let grads = (y * grad.detach())?.sum_all()?.backward()?;
        Ok((
            grads.get(hv.as_tensor()).cloned(),
            grads.get(pv.as_tensor()).cloned(),
        ))
    }
}
