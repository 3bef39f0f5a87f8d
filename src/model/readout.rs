//! Readouts from ΔG (kT) to an assay scale.

use crate::error::Result;
use candle_core::Tensor;
use std::f64::consts::LN_10;

/// Map from predicted ΔG to the measured quantity.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Readout {
    /// ΔG as is.
    #[default]
    None,
    /// pIC50 = −ΔG/ln10 − log10(1 + [S]/Km); the Cheng–Prusoff term only with both given.
    PIC50 {
        /// Substrate concentration [S].
        substrate: Option<f64>,
        /// Michaelis constant Km (same unit as [S]).
        km: Option<f64>,
    },
    /// pKi = −ΔG/ln10.
    PKi,
}

impl Readout {
    /// The readout as `y = a·ΔG + b`.
    pub fn affine(&self) -> (f64, f64) {
        match *self {
            Self::None => (1.0, 0.0),
            Self::PKi => (-1.0 / LN_10, 0.0),
            Self::PIC50 { substrate, km } => {
                let shift = match (substrate, km) {
                    (Some(s), Some(k)) => -(1.0 + s / k).log10(),
                    _ => 0.0,
                };
                (-1.0 / LN_10, shift)
            }
        }
    }

    /// Applies the readout elementwise.
    pub fn forward(&self, dg: &Tensor) -> Result<Tensor> {
        match self {
            Self::None => Ok(dg.clone()),
            _ => {
                let (a, b) = self.affine();
                Ok(dg.affine(a, b)?)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cheng_prusoff_only_with_both_values() {
        let r = Readout::PIC50 {
            substrate: Some(1.0),
            km: Some(0.5),
        };
        let (a, b) = r.affine();
        assert!((a + 1.0 / LN_10).abs() < 1e-15);
        assert!((b + 3f64.log10()).abs() < 1e-15);
        assert_eq!(
            Readout::PIC50 {
                substrate: Some(1.0),
                km: None
            }
            .affine()
            .1,
            0.0
        );
        // ΔG = −ln(10)·7 kT is pKi 7.
        let dg = Tensor::new(&[-LN_10 * 7.0], &candle_core::Device::Cpu).unwrap();
        let p = Readout::PKi.forward(&dg).unwrap().to_vec1::<f64>().unwrap();
        assert!((p[0] - 7.0).abs() < 1e-12);
    }
}
