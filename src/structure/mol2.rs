//! Tripos MOL2 files: one molecule per `@<TRIPOS>MOLECULE`, elements from SYBYL types.

use super::Molecule;
use super::element::atomic_number;
use crate::error::{Error, Result};
use std::path::Path;

/// Reads every molecule of a MOL2 file.
pub fn read_mol2(path: &Path) -> Result<Vec<Molecule>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_mol2(&text, path)
}

/// Parses MOL2 text; `path` is only used in error messages.
pub fn parse_mol2(text: &str, path: &Path) -> Result<Vec<Molecule>> {
    let err = |line: usize, message: String| Error::Parse {
        path: path.to_path_buf(),
        line: line + 1,
        message,
    };
    let mut out: Vec<Molecule> = Vec::new();
    let mut section = String::new();
    let mut header_line = 0;
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if let Some(name) = l.strip_prefix("@<TRIPOS>") {
            section = name.to_string();
            if section == "MOLECULE" {
                header_line = 0;
                out.push(Molecule {
                    title: String::new(),
                    z: Vec::new(),
                    pos: Vec::new(),
                    bonds: Vec::new(),
                    properties: Vec::new(),
                    line: i + 1,
                });
            }
            continue;
        }
        let Some(m) = out.last_mut() else {
            return Err(err(
                i,
                "expected `@<TRIPOS>MOLECULE` before any data".into(),
            ));
        };
        let f: Vec<&str> = l.split_whitespace().collect();
        match section.as_str() {
            "MOLECULE" => {
                if header_line == 0 {
                    m.title = l.to_string();
                }
                header_line += 1;
            }
            "ATOM" => {
                if f.len() < 6 {
                    return Err(err(
                        i,
                        "expected an atom line `id name x y z type ...`".into(),
                    ));
                }
                let num = |s: &str, what: &str| -> Result<f64> {
                    s.parse::<f64>()
                        .ok()
                        .filter(|v| v.is_finite())
                        .ok_or_else(|| err(i, format!("expected {what}, found `{s}`")))
                };
                m.pos.push([
                    num(f[2], "an x coordinate")?,
                    num(f[3], "a y coordinate")?,
                    num(f[4], "a z coordinate")?,
                ]);
                let symbol = f[5].split('.').next().unwrap_or("");
                let z = atomic_number(symbol)
                    .ok_or_else(|| err(i, format!("atom type `{}` has no known element", f[5])))?;
                m.z.push(z);
            }
            "BOND" => {
                if f.len() < 4 {
                    return Err(err(i, "expected a bond line `id a b type`".into()));
                }
                let idx = |s: &str| -> Result<usize> {
                    match s.parse::<usize>() {
                        Ok(k) if k >= 1 => Ok(k - 1),
                        _ => Err(err(
                            i,
                            format!("expected a 1-based atom index, found `{s}`"),
                        )),
                    }
                };
                let order = match f[3] {
                    "1" | "am" => 1,
                    "2" => 2,
                    "3" => 3,
                    "ar" => 4,
                    _ => 0,
                };
                m.bonds.push((idx(f[1])?, idx(f[2])?, order));
            }
            _ => {}
        }
    }
    if out.is_empty() {
        return Err(Error::Input {
            path: path.to_path_buf(),
            message: "no `@<TRIPOS>MOLECULE` records".into(),
        });
    }
    for m in &out {
        if let Some(&(a, b, _)) = m
            .bonds
            .iter()
            .find(|(a, b, _)| *a >= m.z.len() || *b >= m.z.len())
        {
            return Err(Error::Parse {
                path: path.to_path_buf(),
                line: m.line,
                message: format!("bond {}–{} refers to a missing atom", a + 1, b + 1),
            });
        }
    }
    Ok(out)
}
