//! Datasets of several targets: a folder of target folders (`ROOT/<target>/receptor.pdb`,
//! `poses/`, `labels.csv`), a manifest CSV, or one dataset folder, behind one `open`.

use super::{Dataset, DatasetSpec, Qualifier, load, manifest};
use crate::error::{Error, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Loads the dataset at `path`: a manifest CSV (a file), a dataset folder (with `poses/`
/// or `complexes/`), or a folder of target folders. `options` gives everything but the
/// files (hydrogens, pocket, grouping, pose selection, strictness).
pub fn open(path: &Path, options: &DatasetSpec) -> Result<Dataset> {
    if path.is_file() {
        return manifest::load(path, options);
    }
    if DatasetSpec::is_dataset_dir(path) {
        return load(&with_options(DatasetSpec::from_dir(path)?, options));
    }
    load_targets(path, options)
}

/// `spec`'s files with the options of `options`.
pub(super) fn with_options(spec: DatasetSpec, options: &DatasetSpec) -> DatasetSpec {
    DatasetSpec {
        group_by: options.group_by.clone(),
        ligand_resname: options.ligand_resname.clone(),
        keep_hydrogens: options.keep_hydrogens,
        pocket_radius: options.pocket_radius,
        strict: options.strict,
        selection: options.selection,
        ..spec
    }
}

/// Every sub-folder with `poses/` or `complexes/` is a target named by the folder.
fn load_targets(root: &Path, options: &DatasetSpec) -> Result<Dataset> {
    let io = |source| Error::Io {
        path: root.to_path_buf(),
        source,
    };
    let mut dirs: Vec<_> = std::fs::read_dir(root)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut data = Dataset::default();
    let mut found = 0;
    for dir in dirs {
        if !DatasetSpec::is_dataset_dir(&dir) {
            continue;
        }
        found += 1;
        // The folder's own name, also where it is a link to a folder named otherwise.
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let mut spec = match DatasetSpec::from_dir(&dir) {
            Ok(spec) => with_options(spec, options),
            Err(e) if !options.strict => {
                data.skipped.push((format!("{name}/*"), e.to_string()));
                continue;
            }
            Err(e) => return Err(e),
        };
        spec.target = name.clone();
        if spec.receptor.is_none() && !spec.poses.is_empty() {
            let why = format!(
                "{}: no receptor.pdb (or receptor.cif, receptor.pdb.gz, protein.pdb) in the target folder; its {} pose file(s) are left out",
                dir.display(),
                spec.poses.len()
            );
            if options.strict {
                return Err(Error::InvalidConfig(format!("target `{name}`: {why}")));
            }
            data.skipped.push((format!("{name}/*"), why));
            continue;
        }
        data.absorb(load(&spec)?, &name);
    }
    if found == 0 {
        return Err(Error::Input {
            path: root.to_path_buf(),
            message: "no poses: expected poses/*.sdf|mol2 (with receptor.pdb) or \
                      complexes/<compound>/*.pdb, target folders <target>/poses/..., or a \
                      manifest CSV"
                .into(),
        });
    }
    Ok(data)
}

impl Dataset {
    /// Adds one target's compounds, ids prefixed with `target/` so that they stay unique.
    pub(super) fn absorb(&mut self, part: Dataset, target: &str) {
        for mut c in part.compounds {
            c.id = format!("{target}/{}", c.id);
            c.target = target.to_string();
            self.compounds.push(c);
        }
        self.skipped.extend(
            part.skipped
                .into_iter()
                .map(|(id, why)| (format!("{target}/{id}"), why)),
        );
        self.notes
            .extend(part.notes.into_iter().map(|n| format!("{target}: {n}")));
        self.compounds.sort_by(|a, b| a.id.cmp(&b.id));
    }
}

/// What `inspect` shows per target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetSummary {
    /// Target name.
    pub target: String,
    /// Compounds loaded.
    pub compounds: usize,
    /// Compounds with an exact (uncensored) label.
    pub exact_labels: usize,
    /// Poses over all compounds.
    pub poses: usize,
    /// Smallest and largest label (p scale).
    pub label_range: Option<(f64, f64)>,
    /// Compounds listed as skipped for this target.
    pub skipped: usize,
}

/// One summary per target, in name order (skipped entries are matched by their `target/`
/// prefix).
pub fn summarise_targets(data: &Dataset) -> Vec<TargetSummary> {
    let mut by: BTreeMap<&str, TargetSummary> = BTreeMap::new();
    for c in &data.compounds {
        let s = by
            .entry(c.target.as_str())
            .or_insert_with(|| empty(&c.target));
        s.compounds += 1;
        s.poses += c.poses.len();
        if let Some(l) = &c.label {
            s.exact_labels += usize::from(l.qualifier == Qualifier::Exact);
            s.label_range = Some(match s.label_range {
                Some((lo, hi)) => (lo.min(l.value), hi.max(l.value)),
                None => (l.value, l.value),
            });
        }
    }
    // A single-target dataset lists skipped compounds without the `target/` prefix.
    let sole = data.compounds.first().map_or("", |c| c.target.as_str());
    for (id, _) in &data.skipped {
        let t = id.split_once('/').map_or(sole, |(t, _)| t);
        by.entry(t).or_insert_with(|| empty(t)).skipped += 1;
    }
    by.into_values().collect()
}

fn empty(target: &str) -> TargetSummary {
    TargetSummary {
        target: target.to_string(),
        compounds: 0,
        exact_labels: 0,
        poses: 0,
        label_range: None,
        skipped: 0,
    }
}
