//! CPU-side pieces shared by the fused ops: contiguous views of storage, the element math
//! of the activation, and the dtype error.

use candle_core::{Layout, WithDType};

/// The values a contiguous layout covers.
pub(super) fn contiguous<'a, T: WithDType>(
    data: &'a [T],
    layout: &Layout,
) -> candle_core::Result<&'a [T]> {
    let (a, b) = layout
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("fused ops need contiguous inputs".into()))?;
    Ok(&data[a..b])
}

/// The fused ops take f32 or f64, the same for all inputs.
pub(super) fn dtype_error() -> candle_core::Error {
    candle_core::Error::Msg("fused ops need f32 or f64 inputs of one dtype".into())
}

/// Shifted softplus and its slope for the two element types (no num-traits dependency).
pub(super) trait Float: WithDType + std::ops::Mul<Output = Self> + Send + Sync {
    /// ssp(x) = max(x, 0) + ln(1 + e^{−|x|}) − ln 2, stable for large |x|.
    fn ssp(self) -> Self;
    /// 1 / (1 + e^{−x}), the slope of ssp.
    fn sigmoid(self) -> Self;
}

macro_rules! float {
    ($t:ty, $ln2:expr) => {
        impl Float for $t {
            fn ssp(self) -> Self {
                self.max(0.0) + (-self.abs()).exp().ln_1p() - $ln2
            }
            fn sigmoid(self) -> Self {
                1.0 / (1.0 + (-self).exp())
            }
        }
    };
}
float!(f32, std::f32::consts::LN_2);
float!(f64, std::f64::consts::LN_2);
