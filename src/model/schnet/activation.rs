//! Shifted softplus, ssp(x) = ln(1 + eˣ) − ln 2.

use crate::error::Result;
use candle_core::Tensor;
use std::f64::consts::LN_2;

/// ssp(x) = softplus(x) − ln 2, written as max(x, 0) + ln(1 + e^{−|x|}) − ln 2 so large |x|
/// neither overflows nor loses the linear part (candle has no softplus op).
pub fn shifted_softplus(x: &Tensor) -> Result<Tensor> {
    let tail = (x.abs()?.neg()?.exp()? + 1.0)?.log()?;
    Ok((x.relu()? + tail)?.affine(1.0, -LN_2)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn matches_definition_and_is_stable() {
        let xs = [-800.0, -3.0, 0.0, 0.5, 40.0, 800.0];
        let t = Tensor::new(&xs, &Device::Cpu).unwrap();
        let got = shifted_softplus(&t).unwrap().to_vec1::<f64>().unwrap();
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
