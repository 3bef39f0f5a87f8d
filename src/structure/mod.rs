//! Atoms of one pose: atomic numbers, coordinates (Å) and which atoms are the ligand,
//! and the readers that produce them (PDB / mmCIF, SDF V2000 / V3000, MOL2).
//!
//! Everything downstream (graphs, models) starts from a [`Structure`].

mod element;
mod mol2;
mod molecule;
mod pocket;
mod protein;
mod sdf;

pub use element::{atomic_number, is_hydrogen};
pub use mol2::{parse_mol2, read_mol2};
pub use molecule::Molecule;
pub use pocket::{assemble, pocket_indices};
pub use protein::{ProteinAtoms, is_water, read_protein};
pub use sdf::{parse_sdf, read_sdf};

use crate::error::{Error, Result};
use std::path::Path;

/// Ligand file formats, by extension; `.gz` on top of any of them is read decompressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LigandFormat {
    /// SDF / MOL (V2000 or V3000).
    Sdf,
    /// Tripos MOL2.
    Mol2,
}

impl LigandFormat {
    /// The format of `path` (`x.sdf`, `x.mol2`, `x.sdf.gz`, ...), if it is a ligand file.
    pub fn of(path: &Path) -> Option<(LigandFormat, bool)> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        let (stem, gz) = match name.strip_suffix(".gz") {
            Some(stem) => (stem.to_string(), true),
            None => (name, false),
        };
        let format = match stem.rsplit_once('.')?.1 {
            "mol2" => LigandFormat::Mol2,
            "sdf" | "mol" | "sd" => LigandFormat::Sdf,
            _ => return None,
        };
        Some((format, gz))
    }
}

/// Reads ligand records from an `.sdf`/`.mol`/`.sd` or `.mol2` file (by extension), each
/// optionally gzip-compressed (`.sdf.gz`).
pub fn read_ligands(path: &Path) -> Result<Vec<Molecule>> {
    let Some((format, gz)) = LigandFormat::of(path) else {
        return Err(Error::Input {
            path: path.to_path_buf(),
            message: "unknown ligand format (expected .sdf, .mol or .mol2, optionally .gz)".into(),
        });
    };
    let io = Error::io(path);
    let text = if gz {
        use std::io::Read;
        let file = std::fs::File::open(path).map_err(&io)?;
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(file)
            .read_to_string(&mut text)
            .map_err(&io)?;
        text
    } else {
        std::fs::read_to_string(path).map_err(io)?
    };
    match format {
        LigandFormat::Mol2 => parse_mol2(&text, path),
        LigandFormat::Sdf => parse_sdf(&text, path),
    }
}
use std::hash::{Hash, Hasher};

/// Largest atomic number of a known element (oganesson). Which elements a model can
/// embed is the representation's to say (`RepresentationConfig::check_elements`).
pub const MAX_ATOMIC_NUMBER: u32 = 118;

/// One validated structure: a complex, a protein or a ligand.
#[derive(Debug, Clone, PartialEq)]
pub struct Structure {
    name: String,
    z: Vec<u32>,
    pos: Vec<[f64; 3]>,
    ligand: Option<Vec<bool>>,
}

impl Structure {
    /// Builds a structure, rejecting empty input, NaN coordinates and unknown elements.
    pub fn new(
        name: impl Into<String>,
        z: Vec<u32>,
        pos: Vec<[f64; 3]>,
        ligand: Option<Vec<bool>>,
    ) -> Result<Self> {
        let name = name.into();
        if z.is_empty() {
            return Err(Error::EmptyStructure { name });
        }
        if pos.len() != z.len() {
            return Err(Error::LengthMismatch {
                name,
                what: "coordinates",
                found: pos.len(),
                atoms: z.len(),
            });
        }
        if let Some(mask) = &ligand
            && mask.len() != z.len()
        {
            return Err(Error::LengthMismatch {
                name,
                what: "ligand mask",
                found: mask.len(),
                atoms: z.len(),
            });
        }
        if let Some((atom, &z)) = z
            .iter()
            .enumerate()
            .find(|(_, z)| **z == 0 || **z > MAX_ATOMIC_NUMBER)
        {
            return Err(Error::UnknownElement { name, atom, z });
        }
        for (atom, p) in pos.iter().enumerate() {
            if let Some(&value) = p.iter().find(|v| !v.is_finite()) {
                return Err(Error::NonFiniteCoordinate { name, atom, value });
            }
        }
        Ok(Self {
            name,
            z,
            pos,
            ligand,
        })
    }

    /// Name used in error messages and reports.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Atomic numbers.
    pub fn z(&self) -> &[u32] {
        &self.z
    }

    /// Coordinates in Å.
    pub fn pos(&self) -> &[[f64; 3]] {
        &self.pos
    }

    /// Ligand mask, if the structure is a complex.
    pub fn ligand_mask(&self) -> Option<&[bool]> {
        self.ligand.as_deref()
    }

    /// Number of atoms.
    pub fn len(&self) -> usize {
        self.z.len()
    }

    /// Always false: a structure has at least one atom.
    pub fn is_empty(&self) -> bool {
        self.z.is_empty()
    }

    /// Splits a complex into (protein, ligand) by its ligand mask, keeping atom order.
    pub fn split(&self, strategy: &'static str) -> Result<(Structure, Structure)> {
        Ok((self.part(false, strategy)?, self.part(true, strategy)?))
    }

    /// The ligand atoms (by the mask), or the whole structure when it has no mask.
    pub fn ligand_or_all(&self, strategy: &'static str) -> Result<Structure> {
        match self.ligand {
            Some(_) => self.part(true, strategy),
            None => Ok(self.clone()),
        }
    }

    fn part(&self, ligand: bool, strategy: &'static str) -> Result<Structure> {
        let mask = self
            .ligand
            .as_ref()
            .ok_or_else(|| Error::MissingLigandMask {
                name: self.name.clone(),
                strategy,
            })?;
        let part = if ligand { "ligand" } else { "protein" };
        let (z, pos): (Vec<u32>, Vec<[f64; 3]>) = self
            .z
            .iter()
            .zip(&self.pos)
            .zip(mask)
            .filter(|(_, is_lig)| **is_lig == ligand)
            .map(|((z, p), _)| (*z, *p))
            .unzip();
        if z.is_empty() {
            return Err(Error::EmptyPart {
                name: self.name.clone(),
                part,
            });
        }
        Structure::new(format!("{}:{part}", self.name), z, pos, None)
    }

    /// Hash of the atoms (elements and exact coordinates), used to share work between poses.
    pub fn content_key(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.z.hash(&mut h);
        for p in &self.pos {
            for v in p {
                v.to_bits().hash(&mut h);
            }
        }
        h.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> Structure {
        Structure::new(
            "x",
            vec![6, 8, 7],
            vec![[0.0; 3], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
            Some(vec![false, false, true]),
        )
        .unwrap()
    }

    #[test]
    fn rejects_empty_nan_and_unknown_elements() {
        assert!(matches!(
            Structure::new("e", vec![], vec![], None),
            Err(Error::EmptyStructure { .. })
        ));
        assert!(matches!(
            Structure::new("n", vec![6], vec![[0.0, f64::NAN, 0.0]], None),
            Err(Error::NonFiniteCoordinate { atom: 0, .. })
        ));
        assert!(matches!(
            Structure::new("u", vec![6, 120], vec![[0.0; 3]; 2], None),
            Err(Error::UnknownElement {
                atom: 1,
                z: 120,
                ..
            })
        ));
        assert!(matches!(
            Structure::new("l", vec![6], vec![[0.0; 3]; 2], None),
            Err(Error::LengthMismatch { .. })
        ));
    }

    #[test]
    fn split_keeps_order_and_needs_a_mask() {
        let (p, l) = ok().split("delta").unwrap();
        assert_eq!(p.z(), &[6, 8]);
        assert_eq!(l.z(), &[7]);
        let no_mask = Structure::new("m", vec![6], vec![[0.0; 3]], None).unwrap();
        assert!(matches!(
            no_mask.split("delta"),
            Err(Error::MissingLigandMask { .. })
        ));
        let all_lig = Structure::new("a", vec![6], vec![[0.0; 3]], Some(vec![true])).unwrap();
        assert!(matches!(
            all_lig.split("delta"),
            Err(Error::EmptyPart {
                part: "protein",
                ..
            })
        ));
    }

    #[test]
    fn content_key_sees_coordinates() {
        let a = ok();
        let mut pos = a.pos().to_vec();
        pos[0][0] += 1e-12;
        let b = Structure::new("x", a.z().to_vec(), pos, None).unwrap();
        assert_ne!(a.content_key(), b.content_key());
        assert_eq!(a.content_key(), ok().content_key());
    }
}
