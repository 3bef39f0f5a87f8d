//! Ligand chemistry from a pose file's bond table: rings and aromaticity, implicit
//! hydrogens, molecular weight and Morgan (ECFP-style) count fingerprints, for the
//! ligand-only baselines.
//!
//! Written by hand: the Rust cheminformatics crates bind RDKit's C++ (a system library CI
//! cannot install from crates.io) or read SMILES only; here the input is the heavy-atom
//! graph the SDF reader already gives, and only a few perceptions are needed.

mod cluster;
mod graph;
mod morgan;
mod rings;

pub use cluster::{BUTINA_THRESHOLD, butina};
pub use graph::MolGraph;
pub use morgan::{Fingerprint, morgan_counts};
pub use rings::{aromatic_atoms, smallest_rings};
