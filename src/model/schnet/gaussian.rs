//! Distance features: Gaussian smearing and the cosine cutoff, as in torch_geometric.

use crate::error::Result;
use candle_core::{Device, Tensor};
use std::f64::consts::PI;

/// exp(coeff · (d − μ_k)²) for K evenly spaced centres μ_k from 0 to the cutoff.
#[derive(Debug, Clone, PartialEq)]
pub struct GaussianSmearing {
    offset: Vec<f64>,
    coeff: f64,
}

impl GaussianSmearing {
    /// PyG's `linspace(0, cutoff, K)` centres with coeff = −0.5 / (μ₁ − μ₀)².
    pub fn new(cutoff: f64, num_gaussians: usize) -> Self {
        let step = cutoff / (num_gaussians - 1) as f64;
        Self::from_offsets((0..num_gaussians).map(|k| k as f64 * step).collect())
    }

    /// Centres as stored in a weights file (the `distance_expansion.offset` buffer).
    pub fn from_offsets(offset: Vec<f64>) -> Self {
        let width = offset[1] - offset[0];
        Self {
            coeff: -0.5 / (width * width),
            offset,
        }
    }

    /// The centres μ_k.
    pub fn offsets(&self) -> &[f64] {
        &self.offset
    }

    /// Features `[edges, K]` of distances `[edges]`.
    pub fn forward(&self, dist: &Tensor) -> Result<Tensor> {
        let mu = Tensor::from_vec(self.offset.clone(), self.offset.len(), &Device::Cpu)?
            .to_dtype(dist.dtype())?
            .to_device(dist.device())?
            .unsqueeze(0)?;
        let diff = dist.unsqueeze(1)?.broadcast_sub(&mu)?;
        Ok((diff.sqr()? * self.coeff)?.exp()?)
    }
}

/// 0.5 · (cos(π d / cutoff) + 1), shape `[edges, 1]`.
pub fn cosine_cutoff(dist: &Tensor, cutoff: f64) -> Result<Tensor> {
    Ok(((dist * (PI / cutoff))?.cos()? + 1.0)?
        .affine(0.5, 0.0)?
        .unsqueeze(1)?)
}
