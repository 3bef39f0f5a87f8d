//! The seeded generator behind initialisation, shuffling, splits, bootstrap and the
//! synthetic benchmark input.
//!
//! splitmix64 written out here rather than taken from `rand`: runs must repeat bit for bit
//! across versions (a resumed run, a benchmark input), which a dependency's generator
//! does not promise.

/// Seeded splitmix64 numbers in [0, 1).
pub struct SplitMix(pub u64);

impl SplitMix {
    /// Next number in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}
