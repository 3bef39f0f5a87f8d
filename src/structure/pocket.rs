//! Complexes from a receptor and ligand poses, and the pocket crop.

use super::{Molecule, ProteinAtoms, Structure};
use crate::error::Result;

impl ProteinAtoms {
    /// The atoms at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> ProteinAtoms {
        ProteinAtoms {
            z: indices.iter().map(|&i| self.z[i]).collect(),
            pos: indices.iter().map(|&i| self.pos[i]).collect(),
            residue: indices.iter().map(|&i| self.residue[i].clone()).collect(),
            dropped_hydrogens: self.dropped_hydrogens,
        }
    }
}

/// Indices of receptor atoms within `radius` Å of any atom of any pose (file order kept),
/// so every pose of a compound sees the same cropped protein.
pub fn pocket_indices(receptor: &[[f64; 3]], poses: &[&[[f64; 3]]], radius: f64) -> Vec<usize> {
    let r2 = radius * radius;
    let ligand: Vec<[f64; 3]> = poses.iter().flat_map(|p| p.iter().copied()).collect();
    receptor
        .iter()
        .enumerate()
        .filter(|(_, p)| {
            ligand.iter().any(|q| {
                let d = [p[0] - q[0], p[1] - q[1], p[2] - q[2]];
                d[0] * d[0] + d[1] * d[1] + d[2] * d[2] <= r2
            })
        })
        .map(|(i, _)| i)
        .collect()
}

/// A complex: receptor atoms first, then the ligand pose, with the ligand masked.
pub fn assemble(name: &str, receptor: &ProteinAtoms, ligand: &Molecule) -> Result<Structure> {
    let mut z = receptor.z.clone();
    z.extend(&ligand.z);
    let mut pos = receptor.pos.clone();
    pos.extend(&ligand.pos);
    let mut mask = vec![false; receptor.len()];
    mask.extend(std::iter::repeat_n(true, ligand.z.len()));
    Structure::new(name, z, pos, Some(mask))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_keeps_exactly_atoms_within_radius_of_any_pose() {
        let receptor = [
            [0.0, 0.0, 0.0],
            [5.0, 0.0, 0.0],
            [10.0, 0.0, 0.0],
            [20.0, 0.0, 0.0],
        ];
        let pose_a = [[1.0, 0.0, 0.0]];
        let pose_b = [[11.0, 0.0, 0.0]];
        assert_eq!(pocket_indices(&receptor, &[&pose_a], 4.0), vec![0, 1]);
        assert_eq!(
            pocket_indices(&receptor, &[&pose_a, &pose_b], 4.0),
            vec![0, 1, 2]
        );
    }
}
