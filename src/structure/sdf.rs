//! SDF / MOL files (V2000 and V3000), one record per `$$$$`, with data fields.
//!
//! Written by hand: the Rust chemistry crates either pull in a C++ toolkit (RDKit bindings)
//! or drop the V3000 / data-field support docking output needs, and file:line errors
//! matter more to users than breadth here.

use super::Molecule;
use super::element::atomic_number;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Reads every record of an SDF file.
pub fn read_sdf(path: &Path) -> Result<Vec<Molecule>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_sdf(&text, path)
}

/// Parses SDF text; `path` is only used in error messages.
pub fn parse_sdf(text: &str, path: &Path) -> Result<Vec<Molecule>> {
    let lines: Vec<&str> = text.lines().collect();
    let mut records = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i..].iter().all(|l| l.trim().is_empty()) {
            break;
        }
        let (molecule, next) = Parser {
            lines: &lines,
            path,
        }
        .record(i)?;
        records.push(molecule);
        i = next;
    }
    if records.is_empty() {
        return Err(Error::Input {
            path: path.to_path_buf(),
            message: "no molecule records".into(),
        });
    }
    Ok(records)
}

struct Parser<'a> {
    lines: &'a [&'a str],
    path: &'a Path,
}

impl Parser<'_> {
    fn err(&self, line: usize, message: impl Into<String>) -> Error {
        Error::Parse {
            path: PathBuf::from(self.path),
            line: line + 1,
            message: message.into(),
        }
    }

    fn line(&self, i: usize, what: &str) -> Result<&str> {
        self.lines
            .get(i)
            .copied()
            .ok_or_else(|| self.err(i, format!("file ends where {what} was expected")))
    }

    /// Parses the record starting at line `start`; returns it and the line after `$$$$`.
    fn record(&self, start: usize) -> Result<(Molecule, usize)> {
        let title = self.line(start, "a title line")?.trim().to_string();
        let counts_at = start + 3;
        let counts = self.line(counts_at, "the counts line")?;
        let mut molecule = Molecule {
            title,
            z: Vec::new(),
            pos: Vec::new(),
            bonds: Vec::new(),
            properties: Vec::new(),
            line: start + 1,
        };
        let mut i = if counts.contains("V3000") {
            self.v3000(counts_at + 1, &mut molecule)?
        } else {
            self.v2000(counts_at, counts, &mut molecule)?
        };
        // Skip to M  END, then read data fields up to $$$$.
        while !self.line(i, "`M  END`")?.starts_with("M  END") {
            i += 1;
        }
        i += 1;
        while i < self.lines.len() {
            let l = self.lines[i];
            if l.starts_with("$$$$") {
                return Ok((molecule, i + 1));
            }
            if l.starts_with('>') {
                let name = l
                    .find('<')
                    .and_then(|a| {
                        l[a + 1..]
                            .find('>')
                            .map(|b| l[a + 1..a + 1 + b].to_string())
                    })
                    .ok_or_else(|| self.err(i, "expected a data header like `> <name>`"))?;
                let mut value = Vec::new();
                i += 1;
                while i < self.lines.len() && !self.lines[i].trim().is_empty() {
                    if self.lines[i].starts_with("$$$$") {
                        break;
                    }
                    value.push(self.lines[i].trim_end());
                    i += 1;
                }
                molecule.properties.push((name, value.join("\n")));
                continue;
            }
            i += 1;
        }
        // A single MOL block may end without `$$$$`.
        Ok((molecule, i))
    }

    fn number<T: std::str::FromStr>(&self, i: usize, field: &str, what: &str) -> Result<T> {
        field
            .trim()
            .parse()
            .map_err(|_| self.err(i, format!("expected {what}, found `{}`", field.trim())))
    }

    /// A finite coordinate (NaN or inf named here, with the line, not later by atom
    /// number in the assembled complex).
    fn coordinate(&self, i: usize, field: &str, what: &str) -> Result<f64> {
        let v: f64 = self.number(i, field, what)?;
        if v.is_finite() {
            Ok(v)
        } else {
            Err(self.err(i, format!("expected {what}, found `{}`", field.trim())))
        }
    }

    fn element(&self, i: usize, symbol: &str) -> Result<u32> {
        atomic_number(symbol)
            .ok_or_else(|| self.err(i, format!("unknown element symbol `{}`", symbol.trim())))
    }

    fn v2000(&self, at: usize, counts: &str, m: &mut Molecule) -> Result<usize> {
        let field = |range: std::ops::Range<usize>| counts.get(range).unwrap_or("");
        let atoms: usize = self.number(at, field(0..3), "the atom count (columns 1-3)")?;
        let bonds: usize = self.number(at, field(3..6), "the bond count (columns 4-6)")?;
        for k in 0..atoms {
            let i = at + 1 + k;
            let l = self.line(i, "an atom line")?;
            let f: Vec<&str> = l.split_whitespace().collect();
            // A bond line or `M  END` where an atom is due: the counts line overstates
            // the atoms (an element symbol `0` would say less).
            if f.len() < 4 || f[3].parse::<f64>().is_ok() || l.starts_with("M  ") {
                return Err(self.err(
                    i,
                    format!(
                        "expected atom {} of {atoms} (`x y z symbol ...`); does the counts line at line {} announce more atoms than the block holds?",
                        k + 1,
                        at + 1
                    ),
                ));
            }
            let x = self.coordinate(i, f[0], "an x coordinate")?;
            let y = self.coordinate(i, f[1], "a y coordinate")?;
            let z = self.coordinate(i, f[2], "a z coordinate")?;
            m.pos.push([x, y, z]);
            m.z.push(self.element(i, f[3])?);
        }
        for k in 0..bonds {
            let i = at + 1 + atoms + k;
            let l = self.line(i, "a bond line")?;
            let field = |range: std::ops::Range<usize>| l.get(range).unwrap_or("");
            let a: usize = self.number(i, field(0..3), "a bond's first atom (columns 1-3)")?;
            let b: usize = self.number(i, field(3..6), "a bond's second atom (columns 4-6)")?;
            let order: u8 = self.number(i, field(6..9), "a bond order (columns 7-9)")?;
            m.bonds.push((
                self.atom_index(i, a, atoms)?,
                self.atom_index(i, b, atoms)?,
                order,
            ));
        }
        Ok(at + 1 + atoms + bonds)
    }

    fn atom_index(&self, i: usize, one_based: usize, atoms: usize) -> Result<usize> {
        if one_based == 0 || one_based > atoms {
            return Err(self.err(
                i,
                format!("bond to atom {one_based}, but there are {atoms} atoms"),
            ));
        }
        Ok(one_based - 1)
    }

    /// V3000 CTAB lines (`M  V30 ...`, `-` continues a line).
    fn v3000(&self, mut i: usize, m: &mut Molecule) -> Result<usize> {
        let mut section = "";
        let mut atoms = 0usize;
        loop {
            let first = i;
            let mut l = self.line(i, "`M  V30 END CTAB`")?.to_string();
            while l.ends_with('-') {
                l.pop();
                i += 1;
                let next = self.line(i, "a continued V3000 line")?;
                l.push_str(next.strip_prefix("M  V30 ").unwrap_or(next));
            }
            i += 1;
            if l.starts_with("M  END") {
                return Err(self.err(first, "`M  END` before `M  V30 END CTAB`"));
            }
            let Some(body) = l.strip_prefix("M  V30 ") else {
                continue;
            };
            let f: Vec<&str> = body.split_whitespace().collect();
            match f.as_slice() {
                ["BEGIN", s, ..] => {
                    section = if *s == "ATOM" {
                        "atom"
                    } else if *s == "BOND" {
                        "bond"
                    } else {
                        ""
                    }
                }
                ["END", "CTAB", ..] => return Ok(i),
                ["END", ..] => section = "",
                ["COUNTS", n, ..] => atoms = self.number(first, n, "the V3000 atom count")?,
                _ if section == "atom" => {
                    if f.len() < 5 {
                        return Err(
                            self.err(first, "expected a V3000 atom line `index type x y z ...`")
                        );
                    }
                    let x = self.coordinate(first, f[2], "an x coordinate")?;
                    let y = self.coordinate(first, f[3], "a y coordinate")?;
                    let z = self.coordinate(first, f[4], "a z coordinate")?;
                    m.pos.push([x, y, z]);
                    m.z.push(self.element(first, f[1])?);
                }
                _ if section == "bond" => {
                    if f.len() < 4 {
                        return Err(self.err(first, "expected a V3000 bond line `index order a b`"));
                    }
                    let order: u8 = self.number(first, f[1], "a bond order")?;
                    let a: usize = self.number(first, f[2], "a bond atom")?;
                    let b: usize = self.number(first, f[3], "a bond atom")?;
                    let n = atoms.max(m.z.len());
                    m.bonds.push((
                        self.atom_index(first, a, n)?,
                        self.atom_index(first, b, n)?,
                        order,
                    ));
                }
                _ => {}
            }
        }
    }
}
