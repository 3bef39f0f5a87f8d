//! Morgan / ECFP-style circular fingerprints as counts of atom environments.

use super::graph::{AROMATIC, MolGraph};
use std::collections::BTreeMap;

/// A count fingerprint: environment identifiers with their counts, sorted by identifier.
/// Serialised as its list of pairs.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Fingerprint {
    /// (identifier, count), identifiers ascending and unique.
    pub counts: Vec<(u64, u32)>,
}

impl Fingerprint {
    /// MinMax (count Tanimoto) similarity: Σ min / Σ max over all identifiers; 1 for two
    /// empty fingerprints.
    pub fn minmax(&self, other: &Fingerprint) -> f64 {
        let (a, b) = (&self.counts, &other.counts);
        let (mut i, mut j, mut min, mut max) = (0, 0, 0u64, 0u64);
        while i < a.len() || j < b.len() {
            let ka = a.get(i).map_or(u64::MAX, |x| x.0);
            let kb = b.get(j).map_or(u64::MAX, |x| x.0);
            if ka == kb {
                min += u64::from(a[i].1.min(b[j].1));
                max += u64::from(a[i].1.max(b[j].1));
                i += 1;
                j += 1;
            } else if ka < kb {
                max += u64::from(a[i].1);
                i += 1;
            } else {
                max += u64::from(b[j].1);
                j += 1;
            }
        }
        if max == 0 {
            1.0
        } else {
            min as f64 / max as f64
        }
    }

    /// The counts folded into `bits` slots (identifier modulo `bits`), as a dense vector.
    pub fn folded(&self, bits: usize) -> Vec<f64> {
        let mut v = vec![0.0; bits.max(1)];
        for &(k, c) in &self.counts {
            v[(k % bits.max(1) as u64) as usize] += f64::from(c);
        }
        v
    }
}

/// FNV-1a over 64-bit words: identifiers must be the same on every platform and in every
/// version, which std's and foldhash's seeded hashers do not promise.
fn hash(words: &[u64]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for w in words {
        for byte in w.to_le_bytes() {
            h = (h ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Environments of radius 0..=`radius` around every heavy atom, counted. Atom invariants:
/// element, heavy degree, hydrogens, ring membership, aromaticity; bonds: aromatic or
/// their order. As RDKit's Morgan counts except that identical environments reached
/// from different centres are all counted (no bond-set deduplication).
pub fn morgan_counts(g: &MolGraph, radius: usize) -> Fingerprint {
    let n = g.z.len();
    let mut ids: Vec<u64> = (0..n)
        .map(|i| {
            hash(&[
                u64::from(g.z[i]),
                g.neighbours[i].len() as u64,
                u64::from(g.hydrogens[i]),
                u64::from(g.in_ring[i]),
                u64::from(g.aromatic[i]),
            ])
        })
        .collect();
    let mut counts: BTreeMap<u64, u32> = BTreeMap::new();
    for &id in &ids {
        *counts.entry(id).or_default() += 1;
    }
    for r in 1..=radius {
        ids = (0..n)
            .map(|i| {
                let mut env: Vec<(u64, u64)> = g.neighbours[i]
                    .iter()
                    .map(|&(j, k)| (bond_kind(g, k), ids[j]))
                    .collect();
                env.sort_unstable();
                let mut words = vec![r as u64, ids[i]];
                words.extend(env.into_iter().flat_map(|(b, a)| [b, a]));
                hash(&words)
            })
            .collect();
        for &id in &ids {
            *counts.entry(id).or_default() += 1;
        }
    }
    Fingerprint {
        counts: counts.into_iter().collect(),
    }
}

/// Aromatic when both ends are aromatic and in a common ring, whatever order the file
/// wrote (Kekulé forms differ between writers); else the written order.
fn bond_kind(g: &MolGraph, k: usize) -> u64 {
    let (a, b, o) = g.bonds[k];
    let shared_ring = g.rings.iter().any(|r| r.contains(&a) && r.contains(&b));
    if o == AROMATIC || (g.aromatic[a] && g.aromatic[b] && shared_ring) {
        u64::from(AROMATIC)
    } else {
        u64::from(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toluene(kekule: usize) -> MolGraph {
        let mut bonds: Vec<(usize, usize, u8)> = (0..6)
            .map(|i| (i, (i + 1) % 6, if i % 2 == kekule { 2 } else { 1 }))
            .collect();
        bonds.push((0, 6, 1));
        MolGraph::new(&[6, 6, 6, 6, 6, 6, 6], &bonds)
    }

    #[test]
    fn kekule_forms_give_one_fingerprint() {
        assert_eq!(morgan_counts(&toluene(0), 2), morgan_counts(&toluene(1), 2));
    }

    #[test]
    fn counts_and_similarity() {
        let a = morgan_counts(&toluene(0), 2);
        // 7 atoms at each of 3 radii.
        assert_eq!(a.counts.iter().map(|c| c.1).sum::<u32>(), 21);
        assert_eq!(a.minmax(&a), 1.0);
        let ethane = morgan_counts(&MolGraph::new(&[6, 6], &[(0, 1, 1)]), 2);
        let s = a.minmax(&ethane);
        assert!((0.0..1.0).contains(&s), "{s}");
        assert_eq!(ethane.minmax(&a), s);
        assert_eq!(a.folded(64).iter().sum::<f64>(), 21.0);
    }

    #[test]
    fn atom_order_does_not_matter() {
        // Ethanol written C-C-O and O-C-C.
        let x = morgan_counts(&MolGraph::new(&[6, 6, 8], &[(0, 1, 1), (1, 2, 1)]), 2);
        let y = morgan_counts(&MolGraph::new(&[8, 6, 6], &[(0, 1, 1), (1, 2, 1)]), 2);
        assert_eq!(x, y);
    }
}
