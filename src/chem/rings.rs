//! Rings (the smallest ring through every ring bond) and aromaticity by Hückel's rule.

use super::graph::AROMATIC;
use std::collections::{BTreeSet, VecDeque};

/// Rings larger than this are not perceived (macrocycles are rings, not aromatic, and
/// their atoms are marked in-ring through their smaller rings or not at all).
const MAX_RING: usize = 12;

/// The smallest ring through every bond that closes one, as atom lists in ring order,
/// deduplicated; sorted by size, then atoms. For drug-like ligands this is the SSSR.
pub fn smallest_rings(
    n: usize,
    bonds: &[(usize, usize, u8)],
    neighbours: &[Vec<(usize, usize)>],
) -> Vec<Vec<usize>> {
    let mut seen = BTreeSet::new();
    let mut rings = Vec::new();
    for (k, &(a, b, _)) in bonds.iter().enumerate() {
        if let Some(path) = shortest_path_without(n, neighbours, a, b, k) {
            let mut key = path.clone();
            key.sort_unstable();
            if seen.insert(key) {
                rings.push(path);
            }
        }
    }
    rings.sort_by(|x, y| x.len().cmp(&y.len()).then_with(|| x.cmp(y)));
    rings
}

/// Shortest path from `a` to `b` that does not use bond `skip` (breadth first, neighbours
/// in bond order, so the result is deterministic), at most `MAX_RING` atoms.
fn shortest_path_without(
    n: usize,
    neighbours: &[Vec<(usize, usize)>],
    a: usize,
    b: usize,
    skip: usize,
) -> Option<Vec<usize>> {
    let mut parent = vec![usize::MAX; n];
    let mut depth = vec![0usize; n];
    parent[a] = a;
    let mut queue = VecDeque::from([a]);
    while let Some(i) = queue.pop_front() {
        if i == b {
            let mut path = vec![b];
            let mut j = b;
            while j != a {
                j = parent[j];
                path.push(j);
            }
            return Some(path);
        }
        if depth[i] + 1 >= MAX_RING {
            continue;
        }
        for &(j, k) in &neighbours[i] {
            if k != skip && parent[j] == usize::MAX {
                parent[j] = i;
                depth[j] = depth[i] + 1;
                queue.push_back(j);
            }
        }
    }
    None
}

/// Aromatic atoms: those of a ring whose bonds are all written aromatic (order 4), or of
/// a ring of 5 to 7 atoms, each with a π contribution, summing to 4n+2. Contributions:
/// 1 for an atom double-bonded (or aromatic-bonded) to a ring atom, whichever ring (a
/// Kekulé form of a fused system may put the double bond in the neighbouring ring), 0 for
/// a ring carbon with an exocyclic double bond (pyridone), 2 for N, O, S, Se with a lone
/// pair and no double bond (pyrrole, furan, thiophene); any other atom makes the ring
/// non-aromatic. The counting is per ring, so it does not depend on the Kekulé form the
/// file happens to use.
pub fn aromatic_atoms(
    z: &[u32],
    bonds: &[(usize, usize, u8)],
    neighbours: &[Vec<(usize, usize)>],
    rings: &[Vec<usize>],
) -> Vec<bool> {
    let in_ring = {
        let mut r = vec![false; z.len()];
        for &i in rings.iter().flatten() {
            r[i] = true;
        }
        r
    };
    let mut aromatic = vec![false; z.len()];
    for ring in rings {
        let members: BTreeSet<usize> = ring.iter().copied().collect();
        let ring_bond = |k: usize| members.contains(&bonds[k].0) && members.contains(&bonds[k].1);
        let all_written = ring.iter().all(|&i| {
            neighbours[i]
                .iter()
                .filter(|&&(_, k)| ring_bond(k))
                .all(|&(_, k)| bonds[k].2 == AROMATIC)
        });
        let electrons: Option<u32> = (5..=7)
            .contains(&ring.len())
            .then(|| {
                ring.iter()
                    .map(|&i| pi_electrons(z[i], &neighbours[i], bonds, &in_ring))
                    .sum::<Option<u32>>()
            })
            .flatten();
        if all_written || electrons.is_some_and(|e| e % 4 == 2) {
            for &i in ring {
                aromatic[i] = true;
            }
        }
    }
    aromatic
}

/// π electrons one ring atom gives its ring (see [`aromatic_atoms`]); `None` rules the
/// ring out.
fn pi_electrons(
    z: u32,
    neighbours: &[(usize, usize)],
    bonds: &[(usize, usize, u8)],
    in_ring: &[bool],
) -> Option<u32> {
    let mut ring_double = false;
    let mut exo_double = false;
    for &(j, k) in neighbours {
        match bonds[k].2 {
            2 | AROMATIC if in_ring[j] => ring_double = true,
            2 => exo_double = true,
            3 => return None,
            _ => {}
        }
    }
    match (ring_double, exo_double) {
        (true, _) => Some(1),
        (false, true) if z == 6 => Some(0),
        (false, false) if matches!(z, 7 | 8 | 16 | 34) && neighbours.len() <= 3 => Some(2),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::MolGraph;

    fn ring(n: usize, doubles: &[usize]) -> Vec<(usize, usize, u8)> {
        (0..n)
            .map(|i| (i, (i + 1) % n, if doubles.contains(&i) { 2 } else { 1 }))
            .collect()
    }

    #[test]
    fn pyrrole_pyridine_and_cyclohexene() {
        // Pyrrole: N at 0, double bonds 1=2, 3=4.
        let g = MolGraph::new(&[7, 6, 6, 6, 6], &ring(5, &[1, 3]));
        assert!(g.aromatic.iter().all(|&a| a));
        assert_eq!(g.hydrogens[0], 1);
        let g = MolGraph::new(&[7, 6, 6, 6, 6, 6], &ring(6, &[0, 2, 4]));
        assert!(g.aromatic.iter().all(|&a| a));
        let g = MolGraph::new(&[6; 6], &ring(6, &[0]));
        assert!(g.aromatic.iter().all(|&a| !a));
        assert_eq!(g.rings.len(), 1);
    }

    #[test]
    fn naphthalene_is_aromatic_in_both_kekule_forms() {
        // Atoms 0-5 ring A, 4,5,6,7,8,9 ring B (4-5 shared).
        let skeleton = [
            (0, 1),
            (1, 2),
            (2, 3),
            (3, 4),
            (4, 5),
            (5, 0),
            (4, 6),
            (6, 7),
            (7, 8),
            (8, 9),
            (9, 5),
        ];
        for doubles in [[0usize, 2, 4, 7, 9], [1, 3, 5, 7, 9]] {
            let bonds: Vec<(usize, usize, u8)> = skeleton
                .iter()
                .enumerate()
                .map(|(k, &(a, b))| (a, b, if doubles.contains(&k) { 2 } else { 1 }))
                .collect();
            let g = MolGraph::new(&[6; 10], &bonds);
            assert_eq!(g.rings.len(), 2, "{doubles:?}");
            assert!(
                g.aromatic.iter().all(|&a| a),
                "{doubles:?}: {:?}",
                g.aromatic
            );
        }
    }

    #[test]
    fn written_aromatic_bonds_are_aromatic() {
        let bonds: Vec<(usize, usize, u8)> = (0..6).map(|i| (i, (i + 1) % 6, 4)).collect();
        let g = MolGraph::new(&[6; 6], &bonds);
        assert!(g.aromatic.iter().all(|&a| a));
        assert_eq!(g.hydrogens, vec![1; 6]);
    }
}
