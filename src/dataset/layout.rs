//! Where a dataset's files are, and how poses group into compounds.

use super::PoseSelection;
use crate::error::{Error, Result};
use crate::structure::LigandFormat;
use std::path::{Path, PathBuf};

/// How the records of ligand files are grouped into compounds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum GroupBy {
    /// The `compound_id` data field when present, else one compound per file (by stem).
    #[default]
    Auto,
    /// One compound per file, named by the file stem.
    File,
    /// By the record's title line.
    Title,
    /// By an SDF data field.
    Property(String),
}

impl GroupBy {
    /// Parses `auto`, `file`, `title` or `property:NAME`.
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "auto" => Self::Auto,
            "file" => Self::File,
            "title" => Self::Title,
            _ => match s.strip_prefix("property:") {
                Some(p) if !p.is_empty() => Self::Property(p.to_string()),
                _ => {
                    return Err(Error::InvalidConfig(format!(
                        "unknown grouping `{s}` (expected auto, file, title or property:NAME)"
                    )));
                }
            },
        })
    }
}

/// Files and options of a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetSpec {
    /// Receptor (PDB or mmCIF) for docking output.
    pub receptor: Option<PathBuf>,
    /// Ligand pose files (SDF or MOL2): one per compound, or grouped by a field.
    pub poses: Vec<PathBuf>,
    /// Grouping of pose records into compounds.
    pub group_by: GroupBy,
    /// One complex file per pose, `<compound>/<pose>.pdb|cif`.
    pub complexes: Vec<PathBuf>,
    /// Residue name of the ligand in complex files.
    pub ligand_resname: String,
    /// Label table (CSV or asapdiscovery JSON).
    pub labels: Option<PathBuf>,
    /// Keep hydrogens (dropped by default).
    pub keep_hydrogens: bool,
    /// Keep only protein atoms within this many Å of any pose of the compound.
    pub pocket_radius: Option<f64>,
    /// Make unmatched compounds an error instead of a listed skip.
    pub strict: bool,
    /// Keep compounds without a label (prediction), labelled where the table has them.
    pub keep_unlabelled: bool,
    /// Target (receptor / assay series) the compounds belong to; "" = unnamed.
    pub target: String,
    /// Which poses of each compound are kept.
    pub selection: PoseSelection,
}

impl Default for DatasetSpec {
    fn default() -> Self {
        Self {
            receptor: None,
            poses: Vec::new(),
            group_by: GroupBy::Auto,
            complexes: Vec::new(),
            ligand_resname: "LIG".into(),
            labels: None,
            keep_hydrogens: false,
            pocket_radius: None,
            strict: false,
            keep_unlabelled: false,
            target: String::new(),
            selection: PoseSelection::All,
        }
    }
}

/// The ligand files of `dir` (any [`LigandFormat`], compressed or not), sorted.
fn ligand_files(dir: &Path) -> Result<Vec<PathBuf>> {
    files_where(dir, |p| LigandFormat::of(p).is_some())
}

fn sorted_files(dir: &Path, extensions: &[&str]) -> Result<Vec<PathBuf>> {
    files_where(dir, |p| {
        p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| extensions.contains(&e.to_ascii_lowercase().as_str()))
    })
}

/// The files of `dir` that `keep` accepts, sorted.
fn files_where(dir: &Path, keep: impl Fn(&Path) -> bool) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(Error::io(dir))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && keep(p))
        .collect();
    files.sort();
    Ok(files)
}

impl DatasetSpec {
    /// Whether `dir` holds a dataset of its own (`poses/` or `complexes/`), as opposed
    /// to a folder of target folders.
    pub fn is_dataset_dir(dir: &Path) -> bool {
        dir.join("poses").is_dir() || dir.join("complexes").is_dir()
    }

    /// The conventional layout of a dataset folder: `receptor.pdb` (or `.cif`, either
    /// gzip-compressed as `.pdb.gz`),
    /// `poses/*.sdf|mol2` (or `complexes/<compound>/*.pdb|cif`), `labels.csv` (or `.json`).
    pub fn from_dir(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::Io {
                path: dir.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "not a folder"),
            });
        }
        let first = |names: &[&str]| names.iter().map(|n| dir.join(n)).find(|p| p.is_file());
        let mut spec = DatasetSpec {
            receptor: first(&[
                "receptor.pdb",
                "receptor.cif",
                "receptor.pdb.gz",
                "receptor.cif.gz",
                "protein.pdb",
                "protein.cif",
            ]),
            labels: first(&["labels.csv", "labels.json"]),
            target: dir
                .canonicalize()
                .ok()
                .and_then(|d| d.file_name().and_then(|n| n.to_str()).map(str::to_string))
                .unwrap_or_default(),
            ..DatasetSpec::default()
        };
        let poses = dir.join("poses");
        if poses.is_dir() {
            spec.poses = ligand_files(&poses)?;
        }
        let complexes = dir.join("complexes");
        if complexes.is_dir() {
            let mut dirs: Vec<PathBuf> = std::fs::read_dir(&complexes)
                .map_err(Error::io(&complexes))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir())
                .collect();
            dirs.sort();
            for d in dirs {
                spec.complexes.extend(sorted_files(&d, &["pdb", "cif"])?);
            }
        }
        if spec.poses.is_empty() && spec.complexes.is_empty() {
            return Err(Error::Input {
                path: dir.to_path_buf(),
                message: "no poses: expected poses/*.sdf|mol2 (with receptor.pdb) or complexes/<compound>/*.pdb".into(),
            });
        }
        Ok(spec)
    }
}
