//! Coordinate noise on the training poses: every epoch each training compound's ligand
//! atoms move by independent N(0, σ²) per coordinate, seeded by the run's seed, the epoch
//! and the compound, and its graphs are rebuilt from the moved poses. The receptor stays
//! where it is: the uncertainty augmented is the pose's.

use crate::dataset::CompoundData;
use crate::error::Result;
use crate::model::{CompoundGraphs, ModelConfig};
use crate::rng::SplitMix;
use crate::structure::Structure;

/// `poses` with every ligand atom moved by N(0, σ²) per coordinate, drawn from `seed`.
pub fn noised_poses(poses: &[Structure], sigma: f64, seed: u64) -> Result<Vec<Structure>> {
    let mut rng = SplitMix(seed);
    poses
        .iter()
        .map(|p| {
            let mask = p.ligand_mask();
            let pos = (p.pos().iter().enumerate())
                .map(|(k, x)| match mask.is_some_and(|m| m[k]) {
                    true => [0, 1, 2].map(|d| x[d] + sigma * gaussian(&mut rng)),
                    false => *x,
                })
                .collect();
            Structure::new(p.name(), p.z().to_vec(), pos, mask.map(<[bool]>::to_vec))
        })
        .collect()
}

/// A compound's graphs from its noised poses (what a training step sees under noise).
pub fn noised_graphs(
    compound: &CompoundData,
    model: &ModelConfig,
    sigma: f64,
    seed: u64,
) -> Result<CompoundGraphs> {
    let poses = noised_poses(&compound.poses, sigma, seed)?;
    let graph = model.representation.graph();
    CompoundGraphs::build(&compound.id, &poses, model.strategy, &graph)
}

/// The seed of compound `index`'s noise in epoch `epoch` of a run seeded `seed`.
pub fn noise_seed(seed: u64, epoch: usize, index: usize) -> u64 {
    let mut rng = SplitMix(seed ^ 0xA11C_E000_0000_0000);
    let mix = (epoch as u64).wrapping_mul(0x9E37_79B9) ^ (index as u64).wrapping_mul(0x85EB_CA6B);
    rng.0 ^= mix;
    (rng.next_f64() * (1u64 << 53) as f64) as u64
}

/// A standard normal draw (Box–Muller; u₁ kept away from 0).
fn gaussian(rng: &mut SplitMix) -> f64 {
    let u1 = rng.next_f64().max(f64::MIN_POSITIVE);
    let u2 = rng.next_f64();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pose() -> Structure {
        let n = 2000;
        let z = vec![6; n];
        let pos = (0..n).map(|k| [k as f64, 0.0, -(k as f64)]).collect();
        let mask = (0..n).map(|k| k >= 500).collect();
        Structure::new("p", z, pos, Some(mask)).unwrap()
    }

    #[test]
    fn only_ligand_atoms_move_with_the_asked_spread_and_the_same_seed_repeats() {
        let p = pose();
        let moved = noised_poses(std::slice::from_ref(&p), 0.3, 11).unwrap();
        let again = noised_poses(std::slice::from_ref(&p), 0.3, 11).unwrap();
        assert_eq!(moved[0].pos(), again[0].pos());
        let other = noised_poses(std::slice::from_ref(&p), 0.3, 12).unwrap();
        assert_ne!(moved[0].pos(), other[0].pos());
        let d: Vec<f64> = (p.pos().iter().zip(moved[0].pos()))
            .flat_map(|(a, b)| [0, 1, 2].map(|k| b[k] - a[k]))
            .collect();
        assert!(d[..1500].iter().all(|x| *x == 0.0), "the protein moved");
        let lig = &d[1500..];
        let mean = lig.iter().sum::<f64>() / lig.len() as f64;
        let sd = (lig.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / lig.len() as f64).sqrt();
        assert!(
            mean.abs() < 0.03 && (sd - 0.3).abs() < 0.02,
            "mean {mean} sd {sd}"
        );
        assert_ne!(noise_seed(1, 0, 3), noise_seed(1, 1, 3));
        assert_ne!(noise_seed(1, 0, 3), noise_seed(1, 0, 4));
    }
}
