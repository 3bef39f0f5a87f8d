//! A manifest CSV: one row per compound naming its target, receptor, pose file(s) and
//! measurement, for layouts that are not one folder per target.
//!
//! Columns: `compound_id, target, receptor, poses, value, unit, type` (and optionally
//! `stderr`, `date`); `poses` may list several files separated by `;`; paths are relative
//! to the manifest. An empty `value` leaves the compound unlabelled (for prediction).

use super::labels::{LabelColumns, csv_record, line_error, open_csv, read_header};
use super::{Dataset, DatasetSpec, Label, build_compound, select, skip};
use crate::error::{Error, Result};
use crate::structure::{Molecule, ProteinAtoms, read_ligands, read_protein};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Column positions of the manifest's own fields.
struct Columns {
    label: LabelColumns,
    target: usize,
    receptor: usize,
    poses: usize,
}

impl Columns {
    fn find(headers: &[String]) -> std::result::Result<Self, String> {
        let col = |name: &str| {
            headers
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| format!("no `{name}` column (a manifest needs compound_id, target, receptor, poses, value, unit, type)"))
        };
        Ok(Self {
            label: LabelColumns::find(headers)?,
            target: col("target")?,
            receptor: col("receptor")?,
            poses: col("poses")?,
        })
    }
}

/// One manifest row, parsed.
struct Entry {
    id: String,
    target: String,
    label: Option<Label>,
    receptor: PathBuf,
    poses: Vec<PathBuf>,
}

impl Entry {
    /// `target/compound_id`, the compound's key in a dataset of several targets.
    fn key(&self) -> String {
        format!("{}/{}", self.target, self.id)
    }

    /// Reads the fields of `record`; paths are joined to `base`; the message says what is wrong.
    fn parse(
        cols: &Columns,
        record: &csv::StringRecord,
        base: &Path,
    ) -> std::result::Result<Self, String> {
        let get = |c: usize| record.get(c).unwrap_or("");
        let (id, target) = (cols.label.id_of(record), get(cols.target));
        if id.is_empty() || target.is_empty() {
            return Err("empty compound_id or target".into());
        }
        let label = match cols.label.has_value(record) {
            true => Some(cols.label.label(record)?),
            false => None,
        };
        let poses: Vec<PathBuf> = (get(cols.poses).split(';'))
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| base.join(p))
            .collect();
        // Listed twice, a file's poses would count twice in the combination.
        let mut listed = HashSet::new();
        if let Some(twice) = poses.iter().find(|p| !listed.insert(*p)) {
            return Err(format!(
                "the poses cell lists {} twice",
                twice.strip_prefix(base).unwrap_or(twice).display()
            ));
        }
        Ok(Self {
            id: id.to_string(),
            target: target.to_string(),
            label,
            receptor: base.join(get(cols.receptor)),
            poses,
        })
    }
}

/// Loads every row of the manifest at `path` with the options of `options`. A row whose
/// files are missing or unreadable is listed in `skipped` with its line (an error with
/// `strict`); malformed rows are errors.
pub fn load(path: &Path, options: &DatasetSpec) -> Result<Dataset> {
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut reader = open_csv(path)?;
    let cols = read_header(&mut reader, path, Columns::find)?;
    let mut data = Dataset::default();
    let mut receptors: HashMap<PathBuf, ProteinAtoms> = HashMap::new();
    let mut seen = HashSet::new();
    for record in reader.records() {
        let (record, line) = csv_record(record, path)?;
        let err = line_error(path, line);
        let entry = Entry::parse(&cols, &record, &base).map_err(err)?;
        if !seen.insert(entry.key()) {
            return Err(err(format!(
                "compound `{}` of target `{}` appears twice",
                entry.id, entry.target
            )));
        }
        let spec = DatasetSpec {
            target: entry.target.clone(),
            ..options.clone()
        };
        let at = format!("{}:{line}", path.display());
        let keep_h = spec.keep_hydrogens;
        match read_row(
            &entry.receptor,
            &entry.poses,
            &entry.id,
            keep_h,
            &mut receptors,
        ) {
            Ok(row) => add(&mut data, &spec, entry, row, &at)?,
            Err(e) => skip(&mut data, &spec, &entry.key(), &format!("{at}: {e}"))?,
        }
    }
    data.compounds.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(data)
}

/// Adds the compound of `entry` with the poses the selection keeps (listed as skipped if
/// none is left).
fn add(data: &mut Dataset, spec: &DatasetSpec, entry: Entry, row: Row, at: &str) -> Result<()> {
    let (protein, molecules, sources) = row;
    let keep = spec.selection.pick(&molecules);
    if keep.is_empty() {
        let why = format!(
            "{at}: no pose left by the `{}` pose selection",
            spec.selection.name()
        );
        return skip(data, spec, &entry.key(), &why);
    }
    let key = entry.key();
    let mut c = build_compound(
        spec,
        entry.id,
        vec![protein; keep.len()],
        select(&molecules, &keep),
        select(&sources, &keep),
        entry.label,
    )?;
    c.id = key;
    data.compounds.push(c);
    Ok(())
}

type Row = (ProteinAtoms, Vec<Molecule>, Vec<String>);

/// The receptor (read once per file) and the poses of one row: records whose
/// `compound_id` field names another compound are left to that compound's row.
fn read_row(
    receptor: &Path,
    poses: &[PathBuf],
    id: &str,
    keep_hydrogens: bool,
    receptors: &mut HashMap<PathBuf, ProteinAtoms>,
) -> Result<Row> {
    if !receptors.contains_key(receptor) {
        let r = read_protein(receptor, keep_hydrogens)?;
        receptors.insert(receptor.to_path_buf(), r);
    }
    let protein = receptors[receptor].clone();
    if poses.is_empty() {
        return Err(Error::InvalidConfig(
            "the `poses` cell names no file".into(),
        ));
    }
    let (mut molecules, mut sources) = (Vec::new(), Vec::new());
    for path in poses {
        for m in read_ligands(path)? {
            if m.property("compound_id").is_some_and(|c| c != id) {
                continue;
            }
            sources.push(format!("{}:{}", path.display(), m.line));
            molecules.push(m);
        }
    }
    if molecules.is_empty() {
        return Err(Error::Input {
            path: poses[0].clone(),
            message: format!("no pose record of compound `{id}`"),
        });
    }
    Ok((protein, molecules, sources))
}
