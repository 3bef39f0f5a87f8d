//! Metrics of a multi-target evaluation: per target (a congeneric series is ranked
//! within its target), and their mean over targets with a bootstrap interval.

use super::metrics::{Interval, Metrics, evaluate, kendall, mae, pearson, rmse, spearman};
use crate::rng::SplitMix;
use serde::Serialize;
use std::collections::BTreeMap;

/// Per-target metrics and the per-target means (the headline numbers).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetMetrics {
    /// Metrics of every target with at least `min_size` exact labels.
    pub per_target: BTreeMap<String, Metrics>,
    /// Targets left out of the means, with their number of exact labels.
    pub too_small: BTreeMap<String, usize>,
    /// Mean over targets of Spearman ρ (95% interval: compounds resampled within each
    /// target).
    pub mean_spearman: Option<Interval>,
    /// Mean over targets of Kendall τ-b.
    pub mean_kendall: Option<Interval>,
    /// Mean over targets of Pearson r.
    pub mean_pearson: Option<Interval>,
    /// Mean over targets of the RMSE.
    pub mean_rmse: Option<Interval>,
    /// Mean over targets of the MAE (the Polaris challenge's score).
    pub mean_mae: Option<Interval>,
}

/// Exact labels a target needs for per-target metrics unless configured otherwise: below
/// five, a rank correlation says little.
pub const MIN_TARGET_SIZE: usize = 5;

type F = fn(&[f64], &[f64]) -> f64;
const MEANS: [F; 5] = [spearman, kendall, pearson, rmse, mae];

/// Metrics of `(target, prediction, truth)` triples (exact labels only); targets with
/// fewer than `min_size` of them are listed in `too_small` and left out of the means.
pub fn per_target(
    records: &[(String, f64, f64)],
    min_size: usize,
    samples: usize,
    seed: u64,
) -> TargetMetrics {
    let mut by: BTreeMap<&str, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for (t, p, y) in records {
        let e = by.entry(t.as_str()).or_default();
        e.0.push(*p);
        e.1.push(*y);
    }
    let (kept, small): (Vec<_>, Vec<_>) = by
        .into_iter()
        .partition(|(_, (p, _))| p.len() >= min_size.max(2));
    let per_target = kept
        .iter()
        .filter_map(|(t, (p, y))| Some((t.to_string(), evaluate(p, y, samples, seed)?)))
        .collect();
    let too_small = small
        .iter()
        .map(|(t, (p, _))| (t.to_string(), p.len()))
        .collect();
    let groups: Vec<(&[f64], &[f64])> = kept
        .iter()
        .map(|(_, (p, y))| (p.as_slice(), y.as_slice()))
        .collect();
    let means = mean_intervals(&groups, samples, seed);
    TargetMetrics {
        per_target,
        too_small,
        mean_spearman: means[0],
        mean_kendall: means[1],
        mean_pearson: means[2],
        mean_rmse: means[3],
        mean_mae: means[4],
    }
}

impl TargetMetrics {
    /// One line with the per-target means of ρ and τ and their intervals (`None` when no
    /// target is large enough).
    pub fn headline(&self) -> Option<String> {
        let (r, k) = (self.mean_spearman?, self.mean_kendall?);
        Some(format!(
            "per-target mean over {} targets: ρ {:.2} [{:.2}, {:.2}]  τ {:.2} [{:.2}, {:.2}]",
            self.per_target.len(),
            r.value,
            r.lo,
            r.hi,
            k.value,
            k.lo,
            k.hi
        ))
    }
}

/// Mean of finite values (`None` when there are none).
fn finite_mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values
        .filter(|v| v.is_finite())
        .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// The means of `MEANS` over groups, with percentile intervals from resampling the
/// compounds of every group independently (targets fixed: the question is how well the
/// model ranks within these targets).
fn mean_intervals(
    groups: &[(&[f64], &[f64])],
    samples: usize,
    seed: u64,
) -> [Option<Interval>; MEANS.len()] {
    let mut boots: [Vec<f64>; MEANS.len()] = Default::default();
    let mut rng = SplitMix(seed);
    let mut resampled: Vec<(Vec<f64>, Vec<f64>)> = groups
        .iter()
        .map(|(p, _)| (vec![0.0; p.len()], vec![0.0; p.len()]))
        .collect();
    for _ in 0..samples {
        for ((p, y), (bp, by)) in groups.iter().zip(resampled.iter_mut()) {
            let n = p.len();
            for k in 0..n {
                let i = ((rng.next_f64() * n as f64) as usize).min(n - 1);
                bp[k] = p[i];
                by[k] = y[i];
            }
        }
        for (b, f) in boots.iter_mut().zip(MEANS) {
            if let Some(m) = finite_mean(resampled.iter().map(|(p, y)| f(p, y))) {
                b.push(m);
            }
        }
    }
    std::array::from_fn(|k| {
        let value = finite_mean(groups.iter().map(|(p, y)| MEANS[k](p, y)))?;
        let b = &mut boots[k];
        b.sort_by(f64::total_cmp);
        let pick = |q: f64| {
            b.get(((b.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or(f64::NAN)
        };
        Some(Interval {
            value,
            lo: pick(0.025),
            hi: pick(0.975),
        })
    })
}

/// Difference a − b of the per-target mean Spearman ρ of two predictions of the same
/// compounds (`targets[i]`, `a[i]`, `b[i]`, `truth[i]`), with a paired bootstrap: both
/// are scored on the same resampled compounds, so what the targets share cancels.
/// Targets with fewer than `min_size` compounds are left out; `None` if none is left.
pub fn paired_spearman_difference(
    targets: &[String],
    a: &[f64],
    b: &[f64],
    truth: &[f64],
    min_size: usize,
    samples: usize,
    seed: u64,
) -> Option<Interval> {
    let mut by: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, t) in targets.iter().enumerate() {
        by.entry(t.as_str()).or_default().push(i);
    }
    let groups: Vec<Vec<usize>> = by
        .into_values()
        .filter(|g| g.len() >= min_size.max(2))
        .collect();
    // Mean over targets of ρ(a) − ρ(b) on the compounds `idx[g]` of every group g.
    let diff = |idx: &[Vec<usize>]| -> Option<f64> {
        finite_mean(idx.iter().map(|g| {
            let col = |v: &[f64]| g.iter().map(|&i| v[i]).collect::<Vec<f64>>();
            let y = col(truth);
            spearman(&col(a), &y) - spearman(&col(b), &y)
        }))
    };
    let value = diff(&groups)?;
    let mut rng = SplitMix(seed);
    let mut boots = Vec::with_capacity(samples);
    for _ in 0..samples {
        let resampled: Vec<Vec<usize>> = groups
            .iter()
            .map(|g| {
                (0..g.len())
                    .map(|_| g[((rng.next_f64() * g.len() as f64) as usize).min(g.len() - 1)])
                    .collect()
            })
            .collect();
        boots.extend(diff(&resampled));
    }
    boots.sort_by(f64::total_cmp);
    let pick = |q: f64| boots[((boots.len() as f64 - 1.0) * q).round() as usize];
    (!boots.is_empty()).then(|| Interval {
        value,
        lo: pick(0.025),
        hi: pick(0.975),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_is_over_targets_and_small_targets_are_listed() {
        let mut records = Vec::new();
        // Target a ranks perfectly, target b exactly backwards, c has 3 labels only.
        for i in 0..6 {
            let x = i as f64;
            records.push(("a".to_string(), x, 2.0 * x));
            records.push(("b".to_string(), x, -x));
        }
        for i in 0..3 {
            records.push(("c".to_string(), i as f64, i as f64));
        }
        let m = per_target(&records, 5, 200, 1);
        assert_eq!(m.per_target.len(), 2);
        assert_eq!(m.too_small.get("c"), Some(&3));
        assert!((m.per_target["a"].spearman.value - 1.0).abs() < 1e-12);
        assert!((m.per_target["b"].spearman.value + 1.0).abs() < 1e-12);
        let rho = m.mean_spearman.unwrap();
        assert!(rho.value.abs() < 1e-12, "mean of +1 and -1");
        assert!(rho.lo <= rho.value && rho.value <= rho.hi);
        let tau = m.mean_kendall.unwrap();
        assert!(tau.value.abs() < 1e-12);
    }

    #[test]
    fn paired_difference_of_a_perfect_and_a_reversed_ranking() {
        let targets: Vec<String> = (0..12).map(|i| ["a", "b"][i / 6].to_string()).collect();
        let truth: Vec<f64> = (0..12).map(|i| (i % 6) as f64).collect();
        let good = truth.clone();
        let bad: Vec<f64> = truth.iter().map(|y| -y).collect();
        let d = paired_spearman_difference(&targets, &good, &bad, &truth, 5, 200, 3).unwrap();
        assert!((d.value - 2.0).abs() < 1e-12);
        assert!(d.lo <= d.value && d.value <= d.hi);
        let same = paired_spearman_difference(&targets, &good, &good, &truth, 5, 200, 3).unwrap();
        assert_eq!((same.value, same.lo, same.hi), (0.0, 0.0, 0.0));
        assert!(paired_spearman_difference(&targets, &good, &bad, &truth, 7, 10, 3).is_none());
    }

    #[test]
    fn no_target_large_enough_gives_no_mean() {
        let records = vec![("a".to_string(), 1.0, 2.0), ("a".to_string(), 2.0, 3.0)];
        let m = per_target(&records, 5, 50, 1);
        assert!(m.per_target.is_empty() && m.mean_spearman.is_none());
    }
}
