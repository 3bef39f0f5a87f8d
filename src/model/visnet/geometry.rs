//! ViSNet's own preparation of a batch: self-loops, edge lengths, unit vectors and their
//! spherical harmonics (torch_geometric's `Distance` and `Sphere`).

use super::rbf::cosine_cutoff;
use crate::error::{Error, Result};
use crate::graph::GraphBatch;
use candle_core::{D, Tensor};

/// Edges j → i with one self-loop per atom appended (loops last), as ViSNet reads them.
pub struct EdgeGeometry {
    /// Source j of every edge, loops included, `[E']` u32.
    pub src: Tensor,
    /// Target i, `[E']` u32.
    pub dst: Tensor,
    /// Edges between distinct atoms (the first `pairs` of `src`/`dst`).
    pub pairs: usize,
    /// Lengths `[E']` (0 on loops).
    pub r: Tensor,
    /// Cosine cutoff of the lengths, `[E']` (1 on loops).
    pub cutoff: Tensor,
    /// Harmonics of the unit vector pos_j − pos_i, `[E', C]` (0 on loops).
    pub sphere: Tensor,
}

impl EdgeGeometry {
    /// From a batch built with positions (`GraphBatch::new(.., geometry = true)`).
    pub fn new(batch: &GraphBatch, lmax: usize, cutoff: f64) -> Result<Self> {
        let g = batch.geometry.as_ref().ok_or_else(|| {
            Error::InvalidConfig("ViSNet needs a batch built with positions".into())
        })?;
        let device = g.pos.device();
        let n = batch.num_atoms as u32;
        let pairs = g.src.dims1()?;
        let atoms = Tensor::arange(0u32, n, device)?;
        let src = Tensor::cat(&[&g.src, &atoms], 0)?;
        let dst = Tensor::cat(&[&g.dst, &atoms], 0)?;
        let vec = (g.pos.index_select(&src, 0)? - g.pos.index_select(&dst, 0)?)?;
        let r = vec.sqr()?.sum(D::Minus1)?.sqrt()?;
        // Loops have length 0 and keep a zero vector (torch_geometric normalises only the
        // others): dividing them by 1 instead of 0 gives exactly that.
        let dtype = g.pos.dtype();
        let loops = Tensor::cat(
            &[
                Tensor::zeros(pairs, dtype, device)?,
                Tensor::ones(n as usize, dtype, device)?,
            ],
            0,
        )?;
        let unit = vec.broadcast_div(&(&r + &loops)?.unsqueeze(1)?)?;
        Ok(Self {
            cutoff: cosine_cutoff(&r, cutoff)?,
            sphere: harmonics(&unit, lmax)?,
            src,
            dst,
            pairs,
            r,
        })
    }

    /// Number of edges, loops included.
    pub fn edges(&self) -> usize {
        self.src.dims()[0]
    }
}

/// torch_geometric's `Sphere`: (x, y, z) for lmax 1, and the five degree-2 terms after
/// them for lmax 2 (same operation order).
fn harmonics(unit: &Tensor, lmax: usize) -> Result<Tensor> {
    if lmax == 1 {
        return Ok(unit.clone());
    }
    let c = |k: usize| unit.narrow(1, k, 1);
    let (x, y, z) = (c(0)?, c(1)?, c(2)?);
    let s3 = 3f64.sqrt();
    let x2z2 = (x.sqr()? + z.sqr()?)?;
    let terms = [
        x.clone(),
        y.clone(),
        z.clone(),
        ((&x * s3)? * &z)?,
        ((&x * s3)? * &y)?,
        (y.sqr()? - (x2z2 * 0.5)?)?,
        ((&y * s3)? * &z)?,
        ((z.sqr()? - x.sqr()?)? * (s3 / 2.0))?,
    ];
    Ok(Tensor::cat(&terms, 1)?)
}
