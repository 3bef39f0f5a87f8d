//! Kernel ridge regression with the MinMax kernel on count fingerprints, its ridge
//! strength chosen by exact leave-one-out error on the training set.

use crate::chem::Fingerprint;
use nalgebra::{DMatrix, DVector, SymmetricEigen};
use serde::{Deserialize, Serialize};

/// Ridge strengths tried, relative to the kernel's unit diagonal.
pub const LAMBDAS: [f64; 9] = [0.003, 0.01, 0.03, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2];

/// A fitted model: f(x) = mean + Σ αᵢ k(x, xᵢ).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KernelRidge {
    /// Training fingerprints.
    pub train: Vec<Vec<(u64, u32)>>,
    /// Dual coefficients, one per training compound.
    pub alpha: Vec<f64>,
    /// Training label mean (the intercept).
    pub mean: f64,
    /// The ridge strength chosen.
    pub lambda: f64,
    /// Its leave-one-out MAE on the training set.
    pub loo_mae: f64,
    /// Range of the training labels; predictions are clipped to it.
    pub range: (f64, f64),
}

/// Gram matrix of the MinMax kernel.
fn gram(a: &[Fingerprint], b: &[Fingerprint]) -> DMatrix<f64> {
    DMatrix::from_fn(a.len(), b.len(), |i, j| a[i].minmax(&b[j]))
}

impl KernelRidge {
    /// Fits on `x`, `y` (at least 2 compounds); λ from [`LAMBDAS`] by leave-one-out MAE,
    /// computed exactly from one eigendecomposition of the Gram matrix.
    pub fn fit(x: &[Fingerprint], y: &[f64]) -> Option<KernelRidge> {
        let n = x.len();
        if n < 2 || y.len() != n {
            return None;
        }
        let mean = y.iter().sum::<f64>() / n as f64;
        let yc = DVector::from_iterator(n, y.iter().map(|v| v - mean));
        let eig = SymmetricEigen::new(gram(x, x));
        let (u, s) = (&eig.eigenvectors, &eig.eigenvalues);
        let uty = u.transpose() * &yc;
        let u2 = u.map(|v| v * v);
        let mut best: Option<(f64, f64)> = None;
        for &lambda in &LAMBDAS {
            let shrink = s.map(|sk| sk.max(0.0) / (sk.max(0.0) + lambda));
            let fitted = u * uty.component_mul(&shrink);
            let hat = &u2 * &shrink;
            let loo = (0..n)
                .map(|i| ((yc[i] - fitted[i]) / (1.0 - hat[i]).max(1e-9)).abs())
                .sum::<f64>()
                / n as f64;
            if best.is_none_or(|(_, b)| loo < b) {
                best = Some((lambda, loo));
            }
        }
        let (lambda, loo_mae) = best?;
        let inv = s.map(|sk| 1.0 / (sk.max(0.0) + lambda));
        let alpha = u * uty.component_mul(&inv);
        let lo = y.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = y.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some(KernelRidge {
            train: x.iter().map(|f| f.counts.clone()).collect(),
            alpha: alpha.iter().copied().collect(),
            mean,
            lambda,
            loo_mae,
            range: (lo, hi),
        })
    }

    /// Predictions for `x`, clipped to the training labels' range.
    pub fn predict(&self, x: &[Fingerprint]) -> Vec<f64> {
        let train: Vec<Fingerprint> = self
            .train
            .iter()
            .map(|c| Fingerprint { counts: c.clone() })
            .collect();
        let k = gram(x, &train);
        let alpha = DVector::from_column_slice(&self.alpha);
        (k * alpha)
            .iter()
            .map(|v| (self.mean + v).clamp(self.range.0, self.range.1))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(pairs: &[(u64, u32)]) -> Fingerprint {
        Fingerprint {
            counts: pairs.to_vec(),
        }
    }

    #[test]
    fn fits_a_feature_that_carries_the_label() {
        // Label = 4 + count of feature 7; feature 1 is noise shared by all.
        let x: Vec<Fingerprint> = (0..30u32)
            .map(|i| fp(&[(1, 3), (7, i % 6 + 1), (100 + u64::from(i % 4), 1)]))
            .collect();
        let y: Vec<f64> = (0..30u32).map(|i| 4.0 + f64::from(i % 6 + 1)).collect();
        let m = KernelRidge::fit(&x, &y).unwrap();
        let p = m.predict(&[fp(&[(1, 3), (7, 3), (101, 1)])]);
        assert!((p[0] - 7.0).abs() < 0.6, "{p:?}");
        assert!(m.loo_mae < 0.8, "{}", m.loo_mae);
        // The training-set mean is the intercept, and predictions stay in the label range.
        let far = m.predict(&[fp(&[(999, 50)])]);
        assert!((far[0] - m.mean).abs() < 1e-9, "{far:?}");
    }

    #[test]
    fn leave_one_out_matches_refitting_without_the_compound() {
        let x: Vec<Fingerprint> = (0..12u32)
            .map(|i| fp(&[(1, 1 + i % 3), (2, 1 + i % 5), (3 + u64::from(i % 2), 2)]))
            .collect();
        let y: Vec<f64> = (0..12).map(|i| (i as f64 * 0.7).sin() + 5.0).collect();
        let m = KernelRidge::fit(&x, &y).unwrap();
        // Refit by hand without compound 0 at the chosen λ (the mean stays the full
        // set's, as in the closed form) and compare its error on compound 0.
        let rest = &x[1..];
        let yc: Vec<f64> = y[1..].iter().map(|v| v - m.mean).collect();
        let k = gram(rest, rest) + DMatrix::identity(11, 11) * m.lambda;
        let a = k.cholesky().unwrap().solve(&DVector::from_vec(yc));
        let f0 = m.mean + (gram(&x[..1], rest) * a)[0];
        let loo = (0..12)
            .map(|i| {
                let keep: Vec<usize> = (0..12).filter(|&j| j != i).collect();
                let xs: Vec<Fingerprint> = keep.iter().map(|&j| x[j].clone()).collect();
                let yc: Vec<f64> = keep.iter().map(|&j| y[j] - m.mean).collect();
                let k = gram(&xs, &xs) + DMatrix::identity(11, 11) * m.lambda;
                let a = k.cholesky().unwrap().solve(&DVector::from_vec(yc));
                (m.mean + (gram(&x[i..=i], &xs) * a)[0] - y[i]).abs()
            })
            .sum::<f64>()
            / 12.0;
        assert!((loo - m.loo_mae).abs() < 1e-8, "{loo} vs {}", m.loo_mae);
        assert!(f0.is_finite());
    }

    #[test]
    fn too_few_compounds_is_none() {
        assert!(KernelRidge::fit(&[fp(&[(1, 1)])], &[5.0]).is_none());
    }
}
