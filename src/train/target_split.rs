//! Splits of multi-target datasets: each target split on its own (`per_target`: the
//! congeneric series is ranked within its target) or whole targets held out (`target`),
//! by fractions or as k folds, seeded.

use super::split::{Split, shuffled};
use std::collections::{BTreeMap, HashMap};

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

/// Each target split alone, keeping the compounds of one group (`keys[i]`: compound i's
/// scaffold or cluster) in one part: folds get whole groups, largest first, each to the
/// fold with the fewest compounds so far (ties: the lower fold), after a seeded shuffle
/// that orders groups of one size; validation takes whole groups of the rest. A group
/// met again in a later target keeps the fold it got first, so a ligand measured on
/// several targets is tested on all of them in one fold (no model sees its label on one
/// target while predicting another).
pub fn per_target_grouped(targets: &[String], keys: &[String], parts: Parts, seed: u64) -> Split {
    let mut split = Split::default();
    let mut assigned: HashMap<String, usize> = HashMap::new();
    for (name, items) in by_group(targets) {
        let s = cut_groups(&items, keys, parts, group_seed(seed, name), &mut assigned);
        split.train.extend(s.train);
        split.val.extend(s.val);
        split.test.extend(s.test);
    }
    sorted(split)
}

fn cut_groups(
    items: &[usize],
    keys: &[String],
    parts: Parts,
    seed: u64,
    assigned: &mut HashMap<String, usize>,
) -> Split {
    let mut by: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for &i in items {
        by.entry(keys[i].as_str()).or_default().push(i);
    }
    let groups: Vec<Vec<usize>> = by.into_values().collect();
    let mut order: Vec<Vec<usize>> = shuffled(groups.len(), seed)
        .into_iter()
        .map(|k| groups[k].clone())
        .collect();
    order.sort_by_key(|g| std::cmp::Reverse(g.len()));
    let n = items.len();
    let fill = |groups: Vec<Vec<usize>>, first: usize| -> (Vec<usize>, Vec<usize>) {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for g in groups {
            if a.len() < first {
                a.extend(g)
            } else {
                b.extend(g)
            }
        }
        (a, b)
    };
    match parts {
        Parts::Fractions { train, val } => {
            let t = (train * n as f64).round() as usize;
            let v = (val * n as f64).round() as usize;
            let (train, rest) = fill(order, t);
            let (mut val, mut test) = (Vec::new(), Vec::new());
            for i in rest {
                if val.len() < v {
                    val.push(i)
                } else {
                    test.push(i)
                }
            }
            Split { train, val, test }
        }
        Parts::Fold {
            folds,
            fold,
            val_share,
        } => {
            let mut load = vec![0usize; folds.max(1)];
            let (mut test, mut rest) = (Vec::new(), Vec::new());
            // Groups with a fold from an earlier target first, so the others balance them.
            let (known, new): (Vec<_>, Vec<_>) = order
                .into_iter()
                .partition(|g| assigned.contains_key(&keys[g[0]]));
            for g in known.into_iter().chain(new) {
                let key = &keys[g[0]];
                let least = (0..load.len()).min_by_key(|&f| (load[f], f)).unwrap_or(0);
                let f = *assigned.entry(key.clone()).or_insert(least);
                load[f] += g.len();
                if f == fold {
                    test.extend(g)
                } else {
                    rest.push(g)
                }
            }
            let size: usize = rest.iter().map(Vec::len).sum();
            let v = (val_share * size as f64).round() as usize;
            let (val, train) = fill(rest, v);
            Split { train, val, test }
        }
    }
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
    fn grouped_folds_keep_groups_whole_and_test_every_compound_once() {
        let targets = groups();
        // Groups of 1 to 4 compounds within each target.
        let keys: Vec<String> = (0..targets.len())
            .map(|i| format!("g{}", (i * 7) % 9 / 3))
            .collect();
        let mut tested = vec![0; targets.len()];
        for fold in 0..3 {
            let parts = Parts::Fold {
                folds: 3,
                fold,
                val_share: 0.2,
            };
            let s = per_target_grouped(&targets, &keys, parts, 5);
            disjoint_and_complete(&s, targets.len());
            for &i in &s.test {
                tested[i] += 1;
            }
            let part = |i: usize| s.part_of(i);
            for i in 0..targets.len() {
                for j in 0..targets.len() {
                    if targets[i] == targets[j] && keys[i] == keys[j] {
                        assert_eq!(part(i), part(j), "{i} and {j} share a group");
                    }
                }
            }
        }
        assert!(tested.iter().all(|&t| t == 1), "{tested:?}");
    }

    #[test]
    fn a_group_in_several_targets_is_tested_in_one_fold() {
        // The same four ligands (groups) measured on two targets.
        let targets: Vec<String> = ["a", "a", "a", "a", "b", "b", "b", "b"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let keys: Vec<String> = ["x", "y", "z", "w", "x", "y", "z", "w"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for fold in 0..2 {
            let parts = Parts::Fold {
                folds: 2,
                fold,
                val_share: 0.0,
            };
            let s = per_target_grouped(&targets, &keys, parts, 11);
            for i in 0..4 {
                assert_eq!(
                    s.test.contains(&i),
                    s.test.contains(&(i + 4)),
                    "fold {fold}, ligand {i}"
                );
            }
            assert_eq!(s.test.len(), 4);
        }
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
