//! Splits of multi-target datasets: each target split on its own (`per_target`: the
//! congeneric series is ranked within its target) or whole targets held out (`target`),
//! by fractions or as k folds, seeded.

use super::split::{Split, shuffled};
use std::collections::BTreeMap;

/// How the parts are drawn: fractions of train and validation (test the rest), or k
/// folds with fold `fold` as test and a `val_share` of the rest as validation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Parts {
    /// Fractions of train and val (test gets the rest).
    Fractions {
        /// Train fraction.
        train: f64,
        /// Validation fraction.
        val: f64,
    },
    /// k-fold: every item is test in exactly one of the `folds` folds.
    Fold {
        /// Number of folds k.
        folds: usize,
        /// The fold used as test (0-based).
        fold: usize,
        /// Share of the non-test items used for validation.
        val_share: f64,
    },
}

/// A seed for one named group, stable across runs and platforms (FNV-1a of the name).
fn group_seed(seed: u64, name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    seed ^ h
}

/// `items` (in a seeded order) into train / val / test.
fn cut(items: &[usize], parts: Parts, seed: u64) -> Split {
    let order: Vec<usize> = shuffled(items.len(), seed)
        .into_iter()
        .map(|k| items[k])
        .collect();
    let n = order.len();
    match parts {
        Parts::Fractions { train, val } => {
            let t = ((train * n as f64).round() as usize).min(n);
            let v = ((val * n as f64).round() as usize).min(n - t);
            Split {
                train: order[..t].to_vec(),
                val: order[t..t + v].to_vec(),
                test: order[t + v..].to_vec(),
            }
        }
        Parts::Fold {
            folds,
            fold,
            val_share,
        } => {
            let (mut test, mut rest) = (Vec::new(), Vec::new());
            for (k, &i) in order.iter().enumerate() {
                if k % folds.max(1) == fold {
                    test.push(i);
                } else {
                    rest.push(i);
                }
            }
            let v = ((val_share * rest.len() as f64).round() as usize).min(rest.len());
            Split {
                val: rest[..v].to_vec(),
                train: rest[v..].to_vec(),
                test,
            }
        }
    }
}

fn by_group(groups: &[String]) -> BTreeMap<&str, Vec<usize>> {
    let mut by: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, g) in groups.iter().enumerate() {
        by.entry(g.as_str()).or_default().push(i);
    }
    by
}

fn sorted(mut s: Split) -> Split {
    for v in [&mut s.train, &mut s.val, &mut s.test] {
        v.sort_unstable();
    }
    s
}

/// Each target's compounds split on their own (`groups[i]` is compound i's target).
pub fn per_target(groups: &[String], parts: Parts, seed: u64) -> Split {
    let mut split = Split::default();
    for (name, items) in by_group(groups) {
        let s = cut(&items, parts, group_seed(seed, name));
        split.train.extend(s.train);
        split.val.extend(s.val);
        split.test.extend(s.test);
    }
    sorted(split)
}

/// Whole targets held out: the targets are split, and every compound follows its target.
pub fn whole_targets(groups: &[String], parts: Parts, seed: u64) -> Split {
    let by = by_group(groups);
    let names: Vec<&str> = by.keys().copied().collect();
    let s = cut(&(0..names.len()).collect::<Vec<_>>(), parts, seed);
    let expand = |ts: &[usize]| -> Vec<usize> {
        ts.iter()
            .flat_map(|&t| by[names[t]].iter().copied())
            .collect()
    };
    sorted(Split {
        train: expand(&s.train),
        val: expand(&s.val),
        test: expand(&s.test),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every fold of a k-fold split.
    fn folds(folds: usize, val_share: f64) -> impl Iterator<Item = Parts> {
        (0..folds).map(move |fold| Parts::Fold {
            folds,
            fold,
            val_share,
        })
    }
    use crate::train::split::tests::disjoint_and_complete;

    fn groups() -> Vec<String> {
        // Three targets of 10, 7 and 3 compounds, interleaved.
        (0..20)
            .map(|i| {
                ["a", "b", "c"][if i < 10 {
                    0
                } else if i < 17 {
                    1
                } else {
                    2
                }]
                .to_string()
            })
            .collect()
    }

    #[test]
    fn per_target_fractions_split_every_target() {
        let g = groups();
        let s = per_target(
            &g,
            Parts::Fractions {
                train: 0.6,
                val: 0.2,
            },
            7,
        );
        disjoint_and_complete(&s, 20);
        let count = |part: &[usize], t: &str| part.iter().filter(|&&i| g[i] == t).count();
        assert_eq!(
            (
                count(&s.train, "a"),
                count(&s.val, "a"),
                count(&s.test, "a")
            ),
            (6, 2, 2)
        );
        assert_eq!(count(&s.test, "b"), 2);
        assert_eq!(
            s,
            per_target(
                &g,
                Parts::Fractions {
                    train: 0.6,
                    val: 0.2
                },
                7
            )
        );
        assert_ne!(
            s,
            per_target(
                &g,
                Parts::Fractions {
                    train: 0.6,
                    val: 0.2
                },
                8
            )
        );
    }

    #[test]
    fn per_target_folds_test_every_compound_once() {
        let g = groups();
        let mut tested = vec![0; 20];
        for parts in folds(5, 0.2) {
            let s = per_target(&g, parts, 3);
            disjoint_and_complete(&s, 20);
            for &i in &s.test {
                tested[i] += 1;
            }
            assert!(!s.val.is_empty() && !s.train.is_empty());
        }
        assert_eq!(tested, vec![1; 20]);
    }

    #[test]
    fn whole_targets_keep_targets_together() {
        let g = groups();
        for parts in folds(3, 0.0) {
            let s = whole_targets(&g, parts, 1);
            disjoint_and_complete(&s, 20);
            let targets = |part: &[usize]| {
                let mut t: Vec<&str> = part.iter().map(|&i| g[i].as_str()).collect();
                t.dedup();
                t
            };
            assert_eq!(targets(&s.test).len(), 1, "one target per fold");
            assert!(
                targets(&s.train)
                    .iter()
                    .all(|t| !targets(&s.test).contains(t))
            );
        }
    }
}
