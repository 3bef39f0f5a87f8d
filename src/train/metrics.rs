//! Regression metrics with bootstrapped 95% intervals.

use crate::rng::SplitMix;
use serde::Serialize;

/// A value with its bootstrapped 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    /// Point estimate on all data.
    pub value: f64,
    /// 2.5th percentile of the bootstrap.
    pub lo: f64,
    /// 97.5th percentile of the bootstrap.
    pub hi: f64,
}

/// MAE, RMSE and correlations of predictions against measurements.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Metrics {
    /// Number of (in-range) values.
    pub n: usize,
    /// Mean absolute error.
    pub mae: Interval,
    /// Root mean squared error.
    pub rmse: Interval,
    /// Pearson r.
    pub pearson: Interval,
    /// Spearman ρ.
    pub spearman: Interval,
    /// Kendall τ-b.
    pub kendall: Interval,
}

impl std::fmt::Display for Metrics {
    /// One line: MAE and RMSE with their intervals, then the three correlations.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "MAE {:.2} [{:.2}, {:.2}]  RMSE {:.2} [{:.2}, {:.2}]  r {:.2}  ρ {:.2}  τ {:.2}",
            self.mae.value,
            self.mae.lo,
            self.mae.hi,
            self.rmse.value,
            self.rmse.lo,
            self.rmse.hi,
            self.pearson.value,
            self.spearman.value,
            self.kendall.value
        )
    }
}

/// Mean absolute error.
pub fn mae(pred: &[f64], truth: &[f64]) -> f64 {
    pred.iter()
        .zip(truth)
        .map(|(p, t)| (p - t).abs())
        .sum::<f64>()
        / pred.len() as f64
}

/// Root mean squared error.
pub fn rmse(pred: &[f64], truth: &[f64]) -> f64 {
    (pred
        .iter()
        .zip(truth)
        .map(|(p, t)| (p - t).powi(2))
        .sum::<f64>()
        / pred.len() as f64)
        .sqrt()
}

/// Pearson correlation (NaN when a side is constant).
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx).powi(2);
        syy += (b - my).powi(2);
    }
    sxy / (sxx * syy).sqrt()
}

/// Ranks with ties averaged (1-based), as scipy's `rankdata`.
fn ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for k in i..=j {
            r[idx[k]] = avg;
        }
        i = j + 1;
    }
    r
}

/// Spearman ρ (Pearson of tie-averaged ranks).
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&ranks(x), &ranks(y))
}

/// Kendall τ-b (tie-corrected), as scipy's default.
pub fn kendall(x: &[f64], y: &[f64]) -> f64 {
    let (mut concordant, mut discordant, mut tx, mut ty) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for i in 0..x.len() {
        for j in i + 1..x.len() {
            let a = (x[i] - x[j]).signum() * f64::from(x[i] != x[j]);
            let b = (y[i] - y[j]).signum() * f64::from(y[i] != y[j]);
            match (a == 0.0, b == 0.0) {
                (true, true) => {}
                (true, false) => tx += 1.0,
                (false, true) => ty += 1.0,
                _ if a * b > 0.0 => concordant += 1.0,
                _ => discordant += 1.0,
            }
        }
    }
    (concordant - discordant)
        / ((concordant + discordant + tx) * (concordant + discordant + ty)).sqrt()
}

/// All metrics with `samples` bootstrap resamples (seeded); `None` for fewer than 2 values.
pub fn evaluate(pred: &[f64], truth: &[f64], samples: usize, seed: u64) -> Option<Metrics> {
    let n = pred.len();
    if n < 2 {
        return None;
    }
    type F = fn(&[f64], &[f64]) -> f64;
    let fs: [F; 5] = [mae, rmse, pearson, spearman, kendall];
    let mut boots: Vec<Vec<f64>> = (0..5).map(|_| Vec::with_capacity(samples)).collect();
    let mut rng = SplitMix(seed);
    let (mut p, mut t) = (vec![0.0; n], vec![0.0; n]);
    for _ in 0..samples {
        for k in 0..n {
            let i = ((rng.next_f64() * n as f64) as usize).min(n - 1);
            p[k] = pred[i];
            t[k] = truth[i];
        }
        for (b, f) in boots.iter_mut().zip(fs) {
            let v = f(&p, &t);
            if v.is_finite() {
                b.push(v);
            }
        }
    }
    let interval = |k: usize| {
        let mut b = boots[k].clone();
        b.sort_by(f64::total_cmp);
        let pick = |q: f64| {
            b.get(((b.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or(f64::NAN)
        };
        Interval {
            value: fs[k](pred, truth),
            lo: pick(0.025),
            hi: pick(0.975),
        }
    };
    Some(Metrics {
        n,
        mae: interval(0),
        rmse: interval(1),
        pearson: interval(2),
        spearman: interval(3),
        kendall: interval(4),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn against_scipy_on_a_fixed_vector() {
        // scipy 1.17.1 (stats.pearsonr, spearmanr, kendalltau with its default tau-b) and
        // numpy on these vectors, which have ties on both sides.
        let x = [1.0, 2.0, 2.0, 3.0, 4.0, 5.0];
        let y = [1.5, 1.0, 2.5, 2.5, 4.0, 6.0];
        assert!((pearson(&x, &y) - 0.922_905_860_484_331_4).abs() < 1e-12);
        assert!((spearman(&x, &y) - 0.867_647_058_823_529_4).abs() < 1e-12);
        assert!((kendall(&x, &y) - 0.785_714_285_714_285_8).abs() < 1e-12);
        assert!((mae(&x, &y) - 0.583_333_333_333_333_4).abs() < 1e-12);
        assert!((rmse(&x, &y) - 0.677_003_200_386_33).abs() < 1e-12);
        let m = evaluate(&x, &y, 200, 1).unwrap();
        assert!(m.mae.lo <= m.mae.value && m.mae.value <= m.mae.hi);
    }
}
