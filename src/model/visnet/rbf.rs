//! Distance features: the cosine cutoff and exponential normal smearing
//! (torch_geometric's `CosineCutoff`, `ExpNormalSmearing`).

use crate::error::Result;
use candle_core::Tensor;

/// 0.5 (cos(π r / c) + 1) below the cutoff, 0 at and beyond it.
pub fn cosine_cutoff(r: &Tensor, cutoff: f64) -> Result<Tensor> {
    let inside = r.lt(cutoff)?.to_dtype(r.dtype())?;
    let c = (((r * (std::f64::consts::PI / cutoff))?.cos()? + 1.0)? * 0.5)?;
    Ok((c * inside)?)
}

/// The smearing's initial means and widths: means evenly from e^(−cutoff) to 1, every
/// beta (2 / K (1 − e^(−cutoff)))^(−2), computed in f32 as torch does.
pub fn initial_means_betas(cutoff: f64, k: usize) -> (Vec<f64>, Vec<f64>) {
    let start = (-(cutoff as f32)).exp();
    // torch.linspace(start, 1, k) in f32: start + i * step, the upper half from the end.
    let step = (1.0f32 - start) / (k.max(2) - 1) as f32;
    let half = k / 2;
    let means = (0..k)
        .map(|i| {
            let v = if i < half {
                start + step * i as f32
            } else {
                1.0f32 - step * (k - 1 - i) as f32
            };
            f64::from(if k == 1 { start } else { v })
        })
        .collect();
    let beta = (2.0f32 / k as f32 * (1.0 - start)).powi(-2);
    (means, vec![f64::from(beta); k])
}

/// cutoff(r) · exp(−β (e^(−α r) − μ)²), α = 5 / cutoff: `[E]` → `[E, K]`.
pub fn smearing(
    r: &Tensor,
    cut: &Tensor,
    means: &Tensor,
    betas: &Tensor,
    cutoff: f64,
) -> Result<Tensor> {
    let alpha = 5.0 / cutoff;
    let e = (r * -alpha)?.exp()?.unsqueeze(1)?;
    let d = e.broadcast_sub(&means.unsqueeze(0)?)?.sqr()?;
    let g = d.broadcast_mul(&betas.unsqueeze(0)?)?.neg()?.exp()?;
    Ok(g.broadcast_mul(&cut.unsqueeze(1)?)?)
}
