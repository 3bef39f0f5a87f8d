//! A small molecule as read from SDF or MOL2: atoms, bonds, properties.

use super::element::is_hydrogen;

/// One molecule record (one pose, for docking output).
#[derive(Debug, Clone, PartialEq)]
pub struct Molecule {
    /// Title line (SDF) or molecule name (MOL2).
    pub title: String,
    /// Atomic numbers.
    pub z: Vec<u32>,
    /// Coordinates in Å.
    pub pos: Vec<[f64; 3]>,
    /// Bonds as (atom, atom, order), 0-based.
    pub bonds: Vec<(usize, usize, u8)>,
    /// SDF data fields `> <name>` in file order.
    pub properties: Vec<(String, String)>,
    /// 1-based line where the record starts (for messages).
    pub line: usize,
}

impl Molecule {
    /// Value of a data field.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The molecule without hydrogens; bonds between kept atoms are renumbered.
    pub fn without_hydrogens(&self) -> Molecule {
        let mut map = vec![usize::MAX; self.z.len()];
        let mut out = Molecule {
            title: self.title.clone(),
            z: Vec::new(),
            pos: Vec::new(),
            bonds: Vec::new(),
            properties: self.properties.clone(),
            line: self.line,
        };
        for (i, (&z, &p)) in self.z.iter().zip(&self.pos).enumerate() {
            if !is_hydrogen(z) {
                map[i] = out.z.len();
                out.z.push(z);
                out.pos.push(p);
            }
        }
        out.bonds = self
            .bonds
            .iter()
            .filter(|(a, b, _)| map[*a] != usize::MAX && map[*b] != usize::MAX)
            .map(|&(a, b, o)| (map[a], map[b], o))
            .collect();
        out
    }
}
