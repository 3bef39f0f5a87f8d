//! Proteins and complexes from PDB or mmCIF (via pdbtbx), elements from element columns.

use super::element::is_hydrogen;
use crate::error::{Error, Result};
use pdbtbx::{ContainsAtomConformer, ContainsAtomConformerResidue};
use std::path::Path;

/// Heavy (or all) atoms of a PDB / mmCIF file, in file order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProteinAtoms {
    /// Atomic numbers.
    pub z: Vec<u32>,
    /// Coordinates in Å.
    pub pos: Vec<[f64; 3]>,
    /// Residue name of each atom (e.g. `ALA`, `HOH`, `LIG`).
    pub residue: Vec<String>,
    /// Hydrogens that were dropped.
    pub dropped_hydrogens: usize,
}

impl ProteinAtoms {
    /// Number of atoms kept.
    pub fn len(&self) -> usize {
        self.z.len()
    }

    /// Whether no atom was kept.
    pub fn is_empty(&self) -> bool {
        self.z.is_empty()
    }

    /// Number of water oxygens (HOH/WAT) among the kept atoms.
    pub fn waters(&self) -> usize {
        self.residue.iter().filter(|r| is_water(r)).count()
    }
}

/// Whether a residue name is water.
pub fn is_water(name: &str) -> bool {
    matches!(name, "HOH" | "WAT" | "H2O" | "DOD")
}

/// PDB and mmCIF are ASCII formats: a byte outside it is reported with its line (the
/// parser would fail on it with a less helpful message, or panic).
fn check_ascii(path: &Path) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = std::fs::read(path).map_err(io)?;
    if path.extension().is_some_and(|e| e == "gz") {
        // pdbtbx decompresses `.pdb.gz` / `.cif.gz` itself; the check reads what it will.
        let mut text = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::MultiGzDecoder::new(&bytes[..]),
            &mut text,
        )
        .map_err(|e| Error::Input {
            path: path.to_path_buf(),
            message: format!("not a gzip file ({e})"),
        })?;
        bytes = text;
    }
    match bytes.iter().position(|b| !b.is_ascii()) {
        None => Ok(()),
        Some(k) => Err(Error::Parse {
            path: path.to_path_buf(),
            line: 1 + bytes[..k].iter().filter(|&&b| b == b'\n').count(),
            message: format!("byte 0x{:02x} is not ASCII", bytes[k]),
        }),
    }
}

/// Reads the first model of a PDB or mmCIF file (format from the extension; `.pdb.gz` and
/// `.cif.gz` are read decompressed).
pub fn read_protein(path: &Path, keep_hydrogens: bool) -> Result<ProteinAtoms> {
    let input = |message: String| Error::Input {
        path: path.to_path_buf(),
        message,
    };
    let name = path
        .to_str()
        .ok_or_else(|| input("path is not valid UTF-8".into()))?;
    if !path.exists() {
        return Err(Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    check_ascii(path)?;
    // pdbtbx 0.12 panics on some malformed records (found by fuzzing: conformer and
    // residue names it cannot build) instead of returning an error; a bad file must give
    // an error naming it, not abort the program.
    let read = quiet_catch(|| {
        pdbtbx::ReadOptions::new()
            .guess_format(name)
            .set_level(pdbtbx::StrictnessLevel::Loose)
            .set_only_first_model(true)
            .read(name)
    });
    let (pdb, _warnings) = read
        .map_err(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            input(format!(
                "malformed structure file (the PDB/mmCIF reader failed: {what})"
            ))
        })?
        .map_err(|errors| {
            let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
            input(text.join("\n"))
        })?;
    let mut out = ProteinAtoms {
        z: Vec::new(),
        pos: Vec::new(),
        residue: Vec::new(),
        dropped_hydrogens: 0,
    };
    for h in pdb.atoms_with_hierarchy() {
        let atom = h.atom();
        let element = atom.element().ok_or_else(|| {
            input(format!(
                "atom {} (`{}`, residue {} {}) has no element symbol (columns 77-78)",
                atom.serial_number(),
                atom.name(),
                h.residue().name().unwrap_or("?"),
                h.residue().serial_number()
            ))
        })?;
        let z = element.atomic_number() as u32;
        if is_hydrogen(z) && !keep_hydrogens {
            out.dropped_hydrogens += 1;
            continue;
        }
        let (x, y, zc) = atom.pos();
        out.z.push(z);
        out.pos.push([x, y, zc]);
        out.residue
            .push(h.residue().name().unwrap_or("").to_string());
    }
    if out.is_empty() {
        return Err(input("no atoms".into()));
    }
    Ok(out)
}

thread_local! {
    /// Set while this thread runs a call whose panics [`quiet_catch`] turns into errors.
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// `catch_unwind` without the panic message on stderr: the caller reports the failure as
/// an error, so "thread panicked at pdbtbx/..." would tell the user of a crash that did
/// not happen. The hook is process-wide (installed once, delegating to the previous one);
/// the flag is per thread, so panics elsewhere still print.
fn quiet_catch<R>(f: impl FnOnce() -> R + std::panic::UnwindSafe) -> std::thread::Result<R> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
    QUIET.with(|q| q.set(true));
    let result = std::panic::catch_unwind(f);
    QUIET.with(|q| q.set(false));
    result
}
