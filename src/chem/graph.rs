//! A heavy-atom molecular graph with the per-atom facts the perceptions share.

use super::rings::{aromatic_atoms, smallest_rings};

/// Bond order written in V2000 files for an aromatic bond.
pub const AROMATIC: u8 = 4;

/// Heavy atoms, bonds, rings and the derived per-atom properties of one ligand.
#[derive(Debug, Clone)]
pub struct MolGraph {
    /// Atomic numbers (heavy atoms only).
    pub z: Vec<u32>,
    /// Bonds (atom, atom, order); order 4 is aromatic.
    pub bonds: Vec<(usize, usize, u8)>,
    /// Neighbours of every atom as (atom, bond index).
    pub neighbours: Vec<Vec<(usize, usize)>>,
    /// The smallest ring through every ring bond, each as its atoms in ring order.
    pub rings: Vec<Vec<usize>>,
    /// Whether each atom is in a ring.
    pub in_ring: Vec<bool>,
    /// Whether each atom is aromatic (Hückel 4n+2 per ring, see `rings`).
    pub aromatic: Vec<bool>,
    /// Implicit hydrogens per atom (from default valences: the files carry heavy atoms).
    pub hydrogens: Vec<u32>,
}

impl MolGraph {
    /// Builds the graph; hydrogens in `z` are dropped first (their bonds with them) and
    /// counted on their heavy atom.
    pub fn new(z: &[u32], bonds: &[(usize, usize, u8)]) -> MolGraph {
        let mut map = vec![usize::MAX; z.len()];
        let mut heavy = Vec::new();
        for (i, &e) in z.iter().enumerate() {
            if e != 1 {
                map[i] = heavy.len();
                heavy.push(e);
            }
        }
        let mut explicit_h = vec![0u32; heavy.len()];
        let mut kept = Vec::new();
        for &(a, b, o) in bonds {
            if a >= z.len() || b >= z.len() || a == b {
                continue;
            }
            match (map[a], map[b]) {
                (usize::MAX, usize::MAX) => {}
                (usize::MAX, h) | (h, usize::MAX) => explicit_h[h] += 1,
                (x, y) => kept.push((x.min(y), x.max(y), o)),
            }
        }
        kept.sort_unstable();
        kept.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        let mut neighbours = vec![Vec::new(); heavy.len()];
        for (k, &(a, b, _)) in kept.iter().enumerate() {
            neighbours[a].push((b, k));
            neighbours[b].push((a, k));
        }
        let rings = smallest_rings(heavy.len(), &kept, &neighbours);
        let mut in_ring = vec![false; heavy.len()];
        for &i in rings.iter().flatten() {
            in_ring[i] = true;
        }
        let aromatic = aromatic_atoms(&heavy, &kept, &neighbours, &rings);
        let hydrogens = (0..heavy.len())
            .map(|i| {
                let v = valence(&kept, &neighbours[i]) + explicit_h[i];
                implicit_h(heavy[i], v) + explicit_h[i]
            })
            .collect();
        MolGraph {
            z: heavy,
            bonds: kept,
            neighbours,
            rings,
            in_ring,
            aromatic,
            hydrogens,
        }
    }

    /// Average molecular weight (g/mol), implicit hydrogens included.
    pub fn molecular_weight(&self) -> f64 {
        let h = pdbtbx::Element::H.weight().unwrap_or(1.008);
        self.z
            .iter()
            .zip(&self.hydrogens)
            .map(|(&z, &n)| {
                let w = pdbtbx::Element::new(z as usize)
                    .and_then(|e| e.weight())
                    .unwrap_or(2.0 * f64::from(z));
                w + h * f64::from(n)
            })
            .sum()
    }
}

/// Sum of bond orders at an atom, an aromatic bond counted 1.5 (rounded down overall).
fn valence(bonds: &[(usize, usize, u8)], neighbours: &[(usize, usize)]) -> u32 {
    let twice: u32 = neighbours
        .iter()
        .map(|&(_, k)| match bonds[k].2 {
            AROMATIC => 3,
            o => 2 * u32::from(o.clamp(1, 3)),
        })
        .sum();
    twice / 2
}

/// Hydrogens an uncharged atom of element `z` carries at bond-order sum `v`: the lowest
/// default valence at or above `v`, minus `v` (none for elements without one). Formal
/// charges are not read, so an ammonium N or a carboxylate O is counted neutral.
fn implicit_h(z: u32, v: u32) -> u32 {
    let allowed: &[u32] = match z {
        5 => &[3],
        6 => &[4],
        7 | 15 => &[3, 5],
        8 => &[2],
        9 | 17 | 35 | 53 => &[1],
        16 | 34 => &[2, 4, 6],
        14 => &[4],
        _ => &[],
    };
    allowed.iter().find(|&&a| a >= v).map_or(0, |&a| a - v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Benzene in one Kekulé form, then phenol's O on atom 0.
    fn phenol() -> (Vec<u32>, Vec<(usize, usize, u8)>) {
        let mut bonds: Vec<(usize, usize, u8)> = (0..6)
            .map(|i| (i, (i + 1) % 6, if i % 2 == 0 { 2 } else { 1 }))
            .collect();
        bonds.push((0, 6, 1));
        (vec![6, 6, 6, 6, 6, 6, 8], bonds)
    }

    #[test]
    fn phenol_hydrogens_weight_and_aromaticity() {
        let (z, b) = phenol();
        let g = MolGraph::new(&z, &b);
        assert_eq!(g.hydrogens, vec![0, 1, 1, 1, 1, 1, 1]);
        assert_eq!(g.aromatic, vec![true, true, true, true, true, true, false]);
        // C6H6O: RDKit's MolWt gives 94.113.
        assert!(
            (g.molecular_weight() - 94.113).abs() < 0.02,
            "{}",
            g.molecular_weight()
        );
    }

    #[test]
    fn explicit_hydrogens_are_folded_into_their_atom() {
        // Methanol with its four H written out: C, O, H, H, H, H.
        let z = vec![6, 8, 1, 1, 1, 1];
        let b = vec![(0, 1, 1), (0, 2, 1), (0, 3, 1), (0, 4, 1), (1, 5, 1)];
        let g = MolGraph::new(&z, &b);
        assert_eq!(g.z, vec![6, 8]);
        assert_eq!(g.hydrogens, vec![3, 1]);
    }

    #[test]
    fn out_of_range_bonds_are_ignored_not_a_panic() {
        let g = MolGraph::new(&[6, 6], &[(0, 5, 1), (1, 1, 1), (0, 1, 1)]);
        assert_eq!(g.bonds, vec![(0, 1, 1)]);
    }
}
