//! Kernel ridge regression with the MinMax kernel on count fingerprints, over one or
//! several related targets (a multi-task kernel: k((x,s),(x',t)) = k(x,x') · (1 if s = t,
//! else ρ)), its ridge strength λ and task correlation ρ chosen by exact leave-one-out
//! error on the training set.

use crate::chem::Fingerprint;
use nalgebra::{DMatrix, DVector, SymmetricEigen};
use serde::{Deserialize, Serialize};

/// Ridge strengths tried, relative to the kernel's unit diagonal.
pub const LAMBDAS: [f64; 9] = [0.003, 0.01, 0.03, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2];

/// Task correlations tried when there are several targets (0: each target alone).
pub const RHOS: [f64; 5] = [0.0, 0.3, 0.5, 0.7, 0.9];

/// A fitted model: f(x, t) = mean_t + Σ αᵢ k((x,t), (xᵢ,tᵢ)).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KernelRidge {
    /// Training fingerprints.
    pub train: Vec<Fingerprint>,
    /// Target of every training compound (index into `means`).
    pub tasks: Vec<usize>,
    /// Dual coefficients, one per training compound.
    pub alpha: Vec<f64>,
    /// Training label mean per target (the intercepts).
    pub means: Vec<f64>,
    /// Per target, the range predictions are clipped to (see `task_stats`).
    pub ranges: Vec<(f64, f64)>,
    /// The ridge strength chosen.
    pub lambda: f64,
    /// The task correlation chosen.
    pub rho: f64,
    /// Leave-one-ligand-out MAE on the training set at the chosen λ, ρ.
    pub loo_mae: f64,
}

/// Gram matrix of the MinMax kernel.
fn gram(a: &[Fingerprint], b: &[Fingerprint]) -> DMatrix<f64> {
    DMatrix::from_fn(a.len(), b.len(), |i, j| a[i].minmax(&b[j]))
}

fn task_factor(s: usize, t: usize, rho: f64) -> f64 {
    if s == t { 1.0 } else { rho }
}

/// Rows of each ligand (groups of rows left out together).
fn row_groups(ligands: &[usize]) -> Vec<Vec<usize>> {
    let mut by: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for (i, &l) in ligands.iter().enumerate() {
        by.entry(l).or_default().push(i);
    }
    by.into_values().collect()
}

/// Mean absolute leave-group-out residual of ridge regression: for rows G left out,
/// r_G = (I − H_GG)⁻¹ (y_G − ŷ_G), with the hat matrix H = U diag(shrink) Uᵀ (exact for
/// a linear smoother; for groups of one row it is the familiar (yᵢ − ŷᵢ)/(1 − Hᵢᵢ)).
fn leave_group_out_mae(
    u: &DMatrix<f64>,
    shrink: &DVector<f64>,
    yc: &DVector<f64>,
    fitted: &DVector<f64>,
    groups: &[Vec<usize>],
) -> f64 {
    let n = yc.len();
    let mut total = 0.0;
    for g in groups {
        let m = g.len();
        let block = DMatrix::from_fn(m, m, |a, b| {
            let h: f64 = (0..u.ncols())
                .map(|k| u[(g[a], k)] * u[(g[b], k)] * shrink[k])
                .sum();
            if a == b { 1.0 - h } else { -h }
        });
        let r = DVector::from_iterator(m, g.iter().map(|&i| yc[i] - fitted[i]));
        let out = block.lu().solve(&r).unwrap_or(r);
        total += out.iter().map(|v| v.abs()).sum::<f64>();
    }
    total / n as f64
}

/// Per task: the label mean, and the range predictions are clipped to: the widest
/// spread of any task's labels around its mean, placed around this task's mean (a
/// target measured on a narrow series still gets the other targets' dynamic range).
fn task_stats(tasks: &[usize], y: &[f64], n_tasks: usize) -> (Vec<f64>, Vec<(f64, f64)>) {
    let mut sum = vec![(0.0, 0usize); n_tasks];
    for (&t, &v) in tasks.iter().zip(y) {
        sum[t].0 += v;
        sum[t].1 += 1;
    }
    let means: Vec<f64> = sum
        .iter()
        .map(|&(s, n)| if n > 0 { s / n as f64 } else { 0.0 })
        .collect();
    let (lo, hi) = tasks
        .iter()
        .zip(y)
        .fold((0.0f64, 0.0f64), |(lo, hi), (&t, &v)| {
            (lo.min(v - means[t]), hi.max(v - means[t]))
        });
    let ranges = means.iter().map(|m| (m + lo, m + hi)).collect();
    (means, ranges)
}

impl KernelRidge {
    /// Fits on `x`, `y` of one target (at least 2 compounds).
    pub fn fit(x: &[Fingerprint], y: &[f64]) -> Option<KernelRidge> {
        let n = x.len();
        Self::fit_tasks(x, &vec![0; n], &(0..n).collect::<Vec<_>>(), y)
    }

    /// Fits on rows of several targets (`tasks[i]`: 0-based target of row i; `ligands[i]`:
    /// which ligand it is, equal for one ligand's rows on several targets); λ from
    /// [`LAMBDAS`] and ρ from [`RHOS`] by leave-one-ligand-out MAE (all rows of a ligand
    /// left out together, as for a new compound, which has no label on any target),
    /// computed exactly from one eigendecomposition of the Gram matrix per ρ.
    pub fn fit_tasks(
        x: &[Fingerprint],
        tasks: &[usize],
        ligands: &[usize],
        y: &[f64],
    ) -> Option<KernelRidge> {
        let n = x.len();
        if n < 2 || y.len() != n || tasks.len() != n || ligands.len() != n {
            return None;
        }
        let groups = row_groups(ligands);
        let n_tasks = tasks.iter().max().map_or(1, |m| m + 1);
        let (means, ranges) = task_stats(tasks, y, n_tasks);
        let yc = DVector::from_iterator(n, (0..n).map(|i| y[i] - means[tasks[i]]));
        let base = gram(x, x);
        let rhos: &[f64] = if n_tasks > 1 { &RHOS } else { &RHOS[..1] };
        let mut best: Option<(f64, f64, f64, DVector<f64>)> = None;
        for &rho in rhos {
            let k = DMatrix::from_fn(n, n, |i, j| {
                base[(i, j)] * task_factor(tasks[i], tasks[j], rho)
            });
            let eig = SymmetricEigen::new(k);
            let (u, s) = (&eig.eigenvectors, &eig.eigenvalues);
            let uty = u.transpose() * &yc;
            for &lambda in &LAMBDAS {
                let shrink = s.map(|sk| sk.max(0.0) / (sk.max(0.0) + lambda));
                let fitted = u * uty.component_mul(&shrink);
                let loo = leave_group_out_mae(u, &shrink, &yc, &fitted, &groups);
                if best.as_ref().is_none_or(|b| loo < b.2) {
                    let inv = s.map(|sk| 1.0 / (sk.max(0.0) + lambda));
                    best = Some((lambda, rho, loo, u * uty.component_mul(&inv)));
                }
            }
        }
        let (lambda, rho, loo_mae, alpha) = best?;
        Some(KernelRidge {
            train: x.to_vec(),
            tasks: tasks.to_vec(),
            alpha: alpha.iter().copied().collect(),
            means,
            ranges,
            lambda,
            rho,
            loo_mae,
        })
    }

    /// Predictions for `x` on target 0.
    pub fn predict(&self, x: &[Fingerprint]) -> Vec<f64> {
        let x: Vec<&Fingerprint> = x.iter().collect();
        self.predict_tasks(&x, &vec![0; x.len()])
    }

    /// Predictions for `x` on targets `tasks`, clipped to each target's range;
    /// a target the model has no index for gets `NaN`.
    pub fn predict_tasks(&self, x: &[&Fingerprint], tasks: &[usize]) -> Vec<f64> {
        x.iter()
            .zip(tasks)
            .map(|(f, &t)| {
                let (Some(&mean), Some(&(lo, hi))) = (self.means.get(t), self.ranges.get(t)) else {
                    return f64::NAN;
                };
                let v: f64 = self
                    .train
                    .iter()
                    .zip(&self.tasks)
                    .zip(&self.alpha)
                    .map(|((c, &s), a)| a * f.minmax(c) * task_factor(s, t, self.rho))
                    .sum();
                (mean + v).clamp(lo, hi)
            })
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
        // Far from every training compound: the training mean.
        let far = m.predict(&[fp(&[(999, 50)])]);
        assert!((far[0] - m.means[0]).abs() < 1e-9, "{far:?}");
    }

    #[test]
    fn leave_one_out_matches_refitting_without_the_compound() {
        let x: Vec<Fingerprint> = (0..12u32)
            .map(|i| fp(&[(1, 1 + i % 3), (2, 1 + i % 5), (3 + u64::from(i % 2), 2)]))
            .collect();
        let y: Vec<f64> = (0..12).map(|i| (i as f64 * 0.7).sin() + 5.0).collect();
        let m = KernelRidge::fit(&x, &y).unwrap();
        // Refit by hand without compound i at the chosen λ (the mean stays the full
        // set's, as in the closed form) and compare the errors.
        let loo = (0..12)
            .map(|i| {
                let keep: Vec<usize> = (0..12).filter(|&j| j != i).collect();
                let xs: Vec<Fingerprint> = keep.iter().map(|&j| x[j].clone()).collect();
                let yc: Vec<f64> = keep.iter().map(|&j| y[j] - m.means[0]).collect();
                let k = gram(&xs, &xs) + DMatrix::identity(11, 11) * m.lambda;
                let a = k.cholesky().unwrap().solve(&DVector::from_vec(yc));
                (m.means[0] + (gram(&x[i..=i], &xs) * a)[0] - y[i]).abs()
            })
            .sum::<f64>()
            / 12.0;
        assert!((loo - m.loo_mae).abs() < 1e-8, "{loo} vs {}", m.loo_mae);
    }

    #[test]
    fn a_correlated_second_target_helps_and_its_offset_is_kept() {
        // Target 1 = target 0 + 2 on the same chemistry; target 0 sees only half the
        // compounds, target 1 all of them.
        let x: Vec<Fingerprint> = (0..40u32)
            .map(|i| fp(&[(1, 2), (7, i % 8 + 1), (50 + u64::from(i % 5), 1)]))
            .collect();
        let y0 = |i: u32| 4.0 + 0.5 * f64::from(i % 8 + 1);
        let (mut xs, mut ts, mut ls, mut ys) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (i, f) in x.iter().enumerate() {
            let k = i as u32;
            if k % 8 < 4 {
                xs.push(f.clone());
                ts.push(0);
                ls.push(i);
                ys.push(y0(k));
            }
            xs.push(f.clone());
            ts.push(1);
            ls.push(i);
            ys.push(y0(k) + 2.0);
        }
        let m = KernelRidge::fit_tasks(&xs, &ts, &ls, &ys).unwrap();
        assert!(m.rho > 0.0, "ρ {}", m.rho);
        // A compound target 0 never saw (feature 7 at 7).
        let p = m.predict_tasks(&[&fp(&[(1, 2), (7, 7), (51, 1)])], &[0]);
        assert!((p[0] - y0(6)).abs() < 0.8, "{p:?} vs {}", y0(6));
        assert!(m.predict_tasks(&[&fp(&[(1, 1)])], &[5])[0].is_nan());
    }

    #[test]
    fn leaving_a_ligand_out_takes_all_its_rows() {
        // Two targets with equal labels: leaving one row out, its twin on the other
        // target predicts it almost exactly; leaving the ligand out, nothing does.
        let x: Vec<Fingerprint> = (0..16u64).map(|i| fp(&[(1000 + i, 1)])).collect();
        let y: Vec<f64> = (0..16).map(|i| f64::from(i % 4)).collect();
        let xs: Vec<Fingerprint> = x.iter().chain(&x).cloned().collect();
        let ys: Vec<f64> = y.iter().chain(&y).copied().collect();
        let ts: Vec<usize> = (0..32).map(|i| i / 16).collect();
        let rows: Vec<usize> = (0..32).collect();
        let ligands: Vec<usize> = (0..32).map(|i| i % 16).collect();
        let by_row = KernelRidge::fit_tasks(&xs, &ts, &rows, &ys).unwrap();
        let by_ligand = KernelRidge::fit_tasks(&xs, &ts, &ligands, &ys).unwrap();
        assert!(by_row.loo_mae < 0.3, "{}", by_row.loo_mae);
        assert!(by_ligand.loo_mae > 0.9, "{}", by_ligand.loo_mae);
    }

    #[test]
    fn too_few_compounds_is_none() {
        assert!(KernelRidge::fit(&[fp(&[(1, 1)])], &[5.0]).is_none());
    }
}
