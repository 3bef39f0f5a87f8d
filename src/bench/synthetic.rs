//! A synthetic protein–ligand complex at protein density, with rigidly moved ligand poses.
//!
//! Deterministic: seeded [`SplitMix`], so the benchmark input never changes.

use crate::error::Result;
use crate::rng::SplitMix;
use crate::structure::Structure;
use std::f64::consts::PI;

/// Heavy-atom number density of a folded protein (atoms per Å³; ~17.7 Å³ per atom).
pub const PROTEIN_DENSITY: f64 = 0.0566;

/// Protein atoms fill a spherical shell around a cavity that holds the ligand.
#[derive(Debug, Clone)]
pub struct SyntheticComplex {
    protein_z: Vec<u32>,
    protein_pos: Vec<[f64; 3]>,
    ligand_z: Vec<u32>,
    ligand_pos: Vec<[f64; 3]>,
    cavity: f64,
}

/// Uniform point in the shell r_in ≤ |x| ≤ r_out.
fn in_shell(rng: &mut SplitMix, r_in: f64, r_out: f64) -> [f64; 3] {
    let u = rng.next_f64();
    let r = (r_in.powi(3) + u * (r_out.powi(3) - r_in.powi(3))).cbrt();
    let cos_t = 2.0 * rng.next_f64() - 1.0;
    let sin_t = (1.0 - cos_t * cos_t).sqrt();
    let phi = 2.0 * PI * rng.next_f64();
    [r * sin_t * phi.cos(), r * sin_t * phi.sin(), r * cos_t]
}

/// Element by typical protein (or ligand) composition.
fn element(rng: &mut SplitMix, ligand: bool) -> u32 {
    let u = rng.next_f64();
    match (ligand, u) {
        (false, u) if u < 0.62 => 6,
        (false, u) if u < 0.79 => 7,
        (false, u) if u < 0.98 => 8,
        (false, _) => 16,
        (true, u) if u < 0.70 => 6,
        (true, u) if u < 0.85 => 7,
        (true, u) if u < 0.97 => 8,
        (true, _) => 17,
    }
}

impl SyntheticComplex {
    /// `atoms` protein atoms and a `ligand_atoms` ligand, from `seed`.
    pub fn new(atoms: usize, ligand_atoms: usize, seed: u64) -> Self {
        let mut rng = SplitMix(seed);
        let cavity = (ligand_atoms.max(1) as f64 / PROTEIN_DENSITY * 3.0 / (4.0 * PI)).cbrt() + 1.5;
        let outer = (cavity.powi(3) + atoms as f64 / PROTEIN_DENSITY * 3.0 / (4.0 * PI)).cbrt();
        let protein_pos = (0..atoms)
            .map(|_| in_shell(&mut rng, cavity, outer))
            .collect();
        let protein_z = (0..atoms).map(|_| element(&mut rng, false)).collect();
        let ligand_pos = (0..ligand_atoms)
            .map(|_| in_shell(&mut rng, 0.0, cavity - 1.5))
            .collect();
        let ligand_z = (0..ligand_atoms).map(|_| element(&mut rng, true)).collect();
        Self {
            protein_z,
            protein_pos,
            ligand_z,
            ligand_pos,
            cavity,
        }
    }

    /// The same receptor with another ligand of the same size, from `seed` (a second
    /// compound of a congeneric series, for epoch benchmarks).
    pub fn with_ligand(&self, seed: u64) -> Self {
        let mut rng = SplitMix(seed);
        let n = self.ligand_z.len();
        let ligand_pos = (0..n)
            .map(|_| in_shell(&mut rng, 0.0, self.cavity - 1.5))
            .collect();
        let ligand_z = (0..n).map(|_| element(&mut rng, true)).collect();
        Self {
            ligand_z,
            ligand_pos,
            ..self.clone()
        }
    }

    /// `n` complexes: pose 0 as generated, the others rotated about the ligand centroid
    /// (up to ±30° about a random axis) and shifted by up to 1 Å.
    pub fn poses(&self, n: usize, seed: u64) -> Result<Vec<Structure>> {
        let mut rng = SplitMix(seed);
        let centroid = centroid(&self.ligand_pos);
        (0..n)
            .map(|i| {
                let (axis, angle, shift) = if i == 0 {
                    ([0.0, 0.0, 1.0], 0.0, [0.0; 3])
                } else {
                    let axis = in_shell(&mut rng, 1.0, 1.0);
                    let angle = (rng.next_f64() - 0.5) * PI / 3.0;
                    let shift = [
                        rng.next_f64() - 0.5,
                        rng.next_f64() - 0.5,
                        rng.next_f64() - 0.5,
                    ];
                    (axis, angle, shift)
                };
                let mut z = self.protein_z.clone();
                z.extend(&self.ligand_z);
                let mut pos = self.protein_pos.clone();
                pos.extend(self.ligand_pos.iter().map(|p| {
                    let d = [p[0] - centroid[0], p[1] - centroid[1], p[2] - centroid[2]];
                    let r = rotate(d, axis, angle);
                    [
                        centroid[0] + r[0] + shift[0],
                        centroid[1] + r[1] + shift[1],
                        centroid[2] + r[2] + shift[2],
                    ]
                }));
                let mut mask = vec![false; self.protein_z.len()];
                mask.extend(vec![true; self.ligand_z.len()]);
                Structure::new(format!("synthetic:{i}"), z, pos, Some(mask))
            })
            .collect()
    }
}

fn centroid(pos: &[[f64; 3]]) -> [f64; 3] {
    let n = pos.len().max(1) as f64;
    let s = pos
        .iter()
        .fold([0.0; 3], |a, p| [a[0] + p[0], a[1] + p[1], a[2] + p[2]]);
    [s[0] / n, s[1] / n, s[2] / n]
}

/// Rodrigues' rotation of `v` about the unit `axis` by `angle`.
fn rotate(v: [f64; 3], k: [f64; 3], angle: f64) -> [f64; 3] {
    let (s, c) = angle.sin_cos();
    let dot = k[0] * v[0] + k[1] * v[1] + k[2] * v[2];
    let cross = [
        k[1] * v[2] - k[2] * v[1],
        k[2] * v[0] - k[0] * v[2],
        k[0] * v[1] - k[1] * v[0],
    ];
    [
        v[0] * c + cross[0] * s + k[0] * dot * (1.0 - c),
        v[1] * c + cross[1] * s + k[1] * dot * (1.0 - c),
        v[2] * c + cross[2] * s + k[2] * dot * (1.0 - c),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn density_and_pose_shapes() {
        let c = SyntheticComplex::new(600, 30, 1);
        let poses = c.poses(3, 2).unwrap();
        assert_eq!(poses.len(), 3);
        assert!(poses.iter().all(|p| p.len() == 630));
        // Protein atoms are identical in every pose; ligand atoms move.
        assert_eq!(poses[0].pos()[..600], poses[2].pos()[..600]);
        assert_ne!(poses[0].pos()[600..], poses[2].pos()[600..]);
        // Rigid motion keeps ligand internal distances.
        let d = |p: &Structure, i: usize, j: usize| {
            let (a, b) = (p.pos()[i], p.pos()[j]);
            ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
        };
        assert!((d(&poses[0], 600, 629) - d(&poses[1], 600, 629)).abs() < 1e-9);
    }
}
