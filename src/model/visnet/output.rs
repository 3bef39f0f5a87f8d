//! Per-atom scalars from scalars and vectors (torch_geometric's `GatedEquivariantBlock`
//! and `EquivariantScalar`, before the reduction over atoms).

use crate::error::Result;
use candle_core::Tensor;
use candle_nn::{Linear, Module, VarBuilder};

/// Squared norms are offset by this before the square root: torch's norm has gradient 0
/// at a zero vector (an isolated atom keeps zero vectors), sqrt's would be infinite.
/// The offset moves a norm by at most 1e-15.
const NORM_FLOOR: f64 = 1e-30;

/// One gated equivariant block.
#[derive(Debug, Clone)]
struct Gated {
    out: usize,
    vec1_proj: Linear,
    vec2_proj: Linear,
    update_in: Linear,
    update_out: Linear,
    act: bool,
}

impl Gated {
    fn new(hidden: usize, out: usize, act: bool, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            out,
            vec1_proj: super::linear_no_bias(hidden, hidden, vb.pp("vec1_proj"))?,
            vec2_proj: super::linear_no_bias(hidden, out, vb.pp("vec2_proj"))?,
            update_in: super::linear(2 * hidden, hidden, vb.pp("update_net").pp(0))?,
            update_out: super::linear(hidden, 2 * out, vb.pp("update_net").pp(2))?,
            act,
        })
    }

    fn forward(&self, x: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let norm = (self.vec1_proj.forward(v)?.sqr()?.sum(1)? + NORM_FLOOR)?.sqrt()?;
        let vec2 = self.vec2_proj.forward(v)?;
        let hidden = self
            .update_in
            .forward(&Tensor::cat(&[x, &norm], 1)?)?
            .silu()?;
        let both = self.update_out.forward(&hidden)?;
        let (x, gate) = (
            both.narrow(1, 0, self.out)?,
            both.narrow(1, self.out, self.out)?,
        );
        let v = gate.unsqueeze(1)?.broadcast_mul(&vec2)?;
        let x = if self.act { x.silu()? } else { x };
        Ok((x, v))
    }
}

/// Two gated blocks, H → H/2 → 1.
#[derive(Debug, Clone)]
pub struct EquivariantScalar {
    blocks: [Gated; 2],
}

impl EquivariantScalar {
    /// Loads `output_network.{0,1}` under `vb`.
    pub fn new(hidden: usize, vb: VarBuilder) -> Result<Self> {
        let net = vb.pp("output_network");
        Ok(Self {
            blocks: [
                Gated::new(hidden, hidden / 2, true, net.pp(0))?,
                Gated::new(hidden / 2, 1, false, net.pp(1))?,
            ],
        })
    }

    /// Per-atom outputs `[N, 1]`.
    pub fn forward(&self, x: &Tensor, v: &Tensor) -> Result<Tensor> {
        let (x, v) = self.blocks[0].forward(x, v)?;
        Ok(self.blocks[1].forward(&x, &v)?.0)
    }
}
