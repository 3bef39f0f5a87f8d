//! Train / validation / test splits by compound (all poses of a compound stay together).

use crate::error::{Error, Result};
use crate::rng::SplitMix;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

crate::choice! {
    /// How compounds are divided into train, validation and test.
    pub enum SplitKind {
        /// Shuffled with the run's seed.
        Random = "random",
        /// By the labels' dates, oldest first.
        Temporal = "temporal",
        /// From a JSON file of ids.
        Manual = "manual",
        /// By Bemis–Murcko scaffold, whole scaffolds per part.
        Scaffold = "scaffold",
        /// Whole targets held out.
        Target = "target",
        /// Each target split alone.
        PerTarget = "per_target",
    }
}

crate::choice! {
    /// What stays together when each target is split alone (`per_target`).
    #[derive(Default)]
    pub enum SplitGroup {
        /// Nothing: compounds are dealt one by one.
        #[default]
        None = "none",
        /// Compounds of one Bemis–Murcko scaffold.
        Scaffold = "scaffold",
        /// Butina clusters of Morgan count fingerprints (MinMax similarity ≥ 0.65).
        Cluster = "cluster",
    }
}

/// Compound indices of each part.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Split {
    /// Training compounds.
    pub train: Vec<usize>,
    /// Validation compounds.
    pub val: Vec<usize>,
    /// Test compounds.
    pub test: Vec<usize>,
}

impl Split {
    /// Which part compound `i` is in.
    pub fn part_of(&self, i: usize) -> &'static str {
        if self.train.contains(&i) {
            "train"
        } else if self.val.contains(&i) {
            "val"
        } else if self.test.contains(&i) {
            "test"
        } else {
            "unused"
        }
    }
}

/// Sizes of the parts for `n` compounds (train and val rounded, test the rest).
fn sizes(n: usize, train: f64, val: f64) -> (usize, usize) {
    let t = ((train * n as f64).round() as usize).min(n);
    let v = ((val * n as f64).round() as usize).min(n - t);
    (t, v)
}

fn cut(order: Vec<usize>, train: f64, val: f64) -> Split {
    let (t, v) = sizes(order.len(), train, val);
    Split {
        train: order[..t].to_vec(),
        val: order[t..t + v].to_vec(),
        test: order[t + v..].to_vec(),
    }
}

/// Seeded shuffle (Fisher–Yates) of `0..n`.
pub fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = SplitMix(seed);
    for i in (1..n).rev() {
        let j = ((rng.next_f64() * (i + 1) as f64) as usize).min(i);
        order.swap(i, j);
    }
    order
}

/// Random split of `n` compounds.
pub fn random(n: usize, train: f64, val: f64, seed: u64) -> Split {
    cut(shuffled(n, seed), train, val)
}

/// Oldest compounds train, newest test; every compound needs a date (ISO text sorts).
pub fn temporal(ids: &[String], dates: &[Option<String>], train: f64, val: f64) -> Result<Split> {
    if let Some(i) = dates.iter().position(Option::is_none) {
        return Err(Error::InvalidConfig(format!(
            "temporal split: compound `{}` has no date in the label table",
            ids[i]
        )));
    }
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by(|&a, &b| dates[a].cmp(&dates[b]).then(ids[a].cmp(&ids[b])));
    Ok(cut(order, train, val))
}

/// Parts listed by id in a JSON file `{"train": [...], "val": [...], "test": [...]}`.
pub fn manual(ids: &[String], path: &Path) -> Result<Split> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let lists: HashMap<String, Vec<String>> =
        serde_json::from_str(&text).map_err(|e| Error::Parse {
            path: path.to_path_buf(),
            line: e.line(),
            message: format!("expected {{\"train\": [ids], \"val\": [ids], \"test\": [ids]}}: {e}"),
        })?;
    let index: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    let mut split = Split::default();
    let mut seen = HashMap::new();
    for (part, list) in &lists {
        let target = match part.as_str() {
            "train" => &mut split.train,
            "val" => &mut split.val,
            "test" => &mut split.test,
            other => {
                return Err(Error::Input {
                    path: path.to_path_buf(),
                    message: format!("unknown part `{other}` (expected train, val, test)"),
                });
            }
        };
        for id in list {
            let &i = index.get(id.as_str()).ok_or_else(|| Error::Input {
                path: path.to_path_buf(),
                message: format!("compound `{id}` ({part}) is not in the dataset"),
            })?;
            if let Some(other) = seen.insert(i, part.clone()) {
                return Err(Error::Input {
                    path: path.to_path_buf(),
                    message: format!("compound `{id}` is in both `{other}` and `{part}`"),
                });
            }
            target.push(i);
        }
    }
    for v in [&mut split.train, &mut split.val, &mut split.test] {
        v.sort();
    }
    Ok(split)
}

/// Bemis–Murcko scaffold key of a heavy-atom graph: strip atoms of degree ≤ 1 until none
/// is left (ring systems and linkers remain), then hash the rest by Weisfeiler–Lehman
/// refinement of (element, degree). Acyclic molecules share the empty scaffold.
pub fn scaffold_key(z: &[u32], bonds: &[(usize, usize, u8)]) -> String {
    let n = z.len();
    let mut alive = vec![true; n];
    loop {
        let mut degree = vec![0usize; n];
        for &(a, b, _) in bonds {
            if alive[a] && alive[b] {
                degree[a] += 1;
                degree[b] += 1;
            }
        }
        let strip: Vec<usize> = (0..n).filter(|&i| alive[i] && degree[i] <= 1).collect();
        if strip.is_empty() {
            break;
        }
        for i in strip {
            alive[i] = false;
        }
    }
    let nodes: Vec<usize> = (0..n).filter(|&i| alive[i]).collect();
    if nodes.is_empty() {
        return String::new();
    }
    let mut adj: BTreeMap<usize, Vec<(usize, u8)>> =
        nodes.iter().map(|&i| (i, Vec::new())).collect();
    for &(a, b, o) in bonds {
        if alive[a] && alive[b] {
            adj.entry(a).or_default().push((b, o));
            adj.entry(b).or_default().push((a, o));
        }
    }
    let mut label: HashMap<usize, String> = nodes
        .iter()
        .map(|&i| (i, format!("{}:{}", z[i], adj[&i].len())))
        .collect();
    for _ in 0..4 {
        label = nodes
            .iter()
            .map(|&i| {
                let mut around: Vec<String> = adj[&i]
                    .iter()
                    .map(|(j, o)| format!("{o}{}", label[j]))
                    .collect();
                around.sort();
                let text = format!("{}({})", label[&i], around.join(","));
                (i, format!("{:x}", Sha256::digest(text.as_bytes())))
            })
            .collect();
    }
    let mut all: Vec<&String> = label.values().collect();
    all.sort();
    format!(
        "{:x}",
        Sha256::digest(
            all.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(";")
                .as_bytes()
        )
    )
}

/// Scaffold split: compounds grouped by scaffold; groups (largest first, ties by seeded
/// order) fill train, then val, then test, so no scaffold spans two parts.
pub fn scaffold(keys: &[String], train: f64, val: f64, seed: u64) -> Split {
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, k) in keys.iter().enumerate() {
        groups.entry(k.as_str()).or_default().push(i);
    }
    let mut groups: Vec<Vec<usize>> = groups.into_values().collect();
    let order = shuffled(groups.len(), seed);
    let rank: HashMap<usize, usize> = order.iter().enumerate().map(|(r, &g)| (g, r)).collect();
    let mut indexed: Vec<(usize, Vec<usize>)> = groups.drain(..).enumerate().collect();
    indexed.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(rank[&a.0].cmp(&rank[&b.0])));
    let (t, v) = sizes(keys.len(), train, val);
    let mut split = Split::default();
    for (_, g) in indexed {
        let part = if split.train.len() + g.len() <= t || split.train.is_empty() {
            &mut split.train
        } else if split.val.len() + g.len() <= v {
            &mut split.val
        } else {
            &mut split.test
        };
        part.extend(g);
    }
    split
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::train) fn disjoint_and_complete(s: &Split, n: usize) {
        let mut all: Vec<usize> = s
            .train
            .iter()
            .chain(&s.val)
            .chain(&s.test)
            .copied()
            .collect();
        all.sort();
        assert_eq!(
            all,
            (0..n).collect::<Vec<_>>(),
            "every compound in exactly one part"
        );
    }

    #[test]
    fn random_is_seeded_disjoint_and_sized() {
        let s = random(20, 0.7, 0.15, 3);
        disjoint_and_complete(&s, 20);
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (14, 3, 3));
        assert_eq!(s, random(20, 0.7, 0.15, 3));
        assert_ne!(s, random(20, 0.7, 0.15, 4));
    }

    #[test]
    fn temporal_orders_by_date() {
        let ids: Vec<String> = (0..6).map(|i| format!("c{i}")).collect();
        let dates: Vec<Option<String>> = [
            "2021-05-01",
            "2020-01-01",
            "2022-01-01",
            "2019-06-01",
            "2023-01-01",
            "2020-07-01",
        ]
        .iter()
        .map(|d| Some(d.to_string()))
        .collect();
        let s = temporal(&ids, &dates, 0.5, 0.17).unwrap();
        disjoint_and_complete(&s, 6);
        let latest_train = s.train.iter().map(|&i| dates[i].clone()).max().unwrap();
        let earliest_rest = s
            .val
            .iter()
            .chain(&s.test)
            .map(|&i| dates[i].clone())
            .min()
            .unwrap();
        assert!(latest_train < earliest_rest);
        let mut missing = dates.clone();
        missing[2] = None;
        assert!(
            temporal(&ids, &missing, 0.5, 0.2)
                .unwrap_err()
                .to_string()
                .contains("c2")
        );
    }

    #[test]
    fn manual_lists_ids_and_rejects_unknown_or_repeated_ones() {
        let ids: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let dir = std::env::temp_dir().join(format!("multipose-split-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("split.json");
        std::fs::write(
            &path,
            r#"{"train": ["c", "a"], "val": ["d"], "test": ["b"]}"#,
        )
        .unwrap();
        let s = manual(&ids, &path).unwrap();
        assert_eq!((s.train, s.val, s.test), (vec![0, 2], vec![3], vec![1]));
        std::fs::write(&path, r#"{"train": ["a", "zz"]}"#).unwrap();
        assert!(manual(&ids, &path).unwrap_err().to_string().contains("zz"));
        std::fs::write(&path, r#"{"train": ["a"], "test": ["a"]}"#).unwrap();
        assert!(
            manual(&ids, &path)
                .unwrap_err()
                .to_string()
                .contains("both")
        );
    }

    #[test]
    fn scaffold_groups_never_span_parts() {
        // Benzene ring with different side chains shares a scaffold; a chain has none.
        let ring: Vec<(usize, usize, u8)> = (0..6).map(|i| (i, (i + 1) % 6, 4)).collect();
        let mut toluene = ring.clone();
        toluene.push((0, 6, 1));
        let mut ethylbenzene = ring.clone();
        ethylbenzene.extend([(0, 6, 1), (6, 7, 1)]);
        let k1 = scaffold_key(&[6; 7], &toluene);
        let k2 = scaffold_key(&[6; 8], &ethylbenzene);
        let pyridine = scaffold_key(&[7, 6, 6, 6, 6, 6], &ring);
        let hexane = scaffold_key(&[6; 6], &(0..5).map(|i| (i, i + 1, 1)).collect::<Vec<_>>());
        assert_eq!(k1, k2);
        assert_ne!(k1, pyridine);
        assert_eq!(hexane, "");
        let keys = vec![
            k1.clone(),
            k2,
            pyridine.clone(),
            hexane.clone(),
            k1,
            pyridine,
            hexane.clone(),
            hexane,
        ];
        let s = scaffold(&keys, 0.5, 0.25, 1);
        disjoint_and_complete(&s, keys.len());
        for part in [&s.train, &s.val, &s.test] {
            for other in [&s.train, &s.val, &s.test] {
                if std::ptr::eq(part, other) {
                    continue;
                }
                assert!(
                    part.iter()
                        .all(|&i| other.iter().all(|&j| keys[i] != keys[j]))
                );
            }
        }
    }
}
