//! Datasets: the files users have (receptor + docked poses, or one complex file per pose,
//! plus an assay table) turned into validated multi-pose examples.

mod cache;
mod labels;
mod layout;
mod manifest;
mod selection;
mod targets;

pub use cache::{GraphCache, Lookup, cache_key};
pub use labels::{Assay, KCAL_PER_P, Label, Qualifier, read_labels};
pub use layout::{DatasetSpec, GroupBy};
pub use selection::{PoseSelection, SCORE_FIELDS, docking_score, has_reference, reference_poses};
pub use targets::{TargetSummary, open, summarise_targets};

use crate::error::{Error, Result};
use crate::structure::{
    Molecule, ProteinAtoms, Structure, assemble, is_hydrogen, pocket_indices, read_ligands,
    read_protein,
};
use std::collections::BTreeMap;

/// One compound: its poses as complexes, its label, and what was noticed on the way.
#[derive(Debug, Clone)]
pub struct CompoundData {
    /// Compound id: as in the label table, `target/id` in a dataset of several targets.
    pub id: String,
    /// The target (receptor, assay series) the compound was measured on.
    pub target: String,
    /// One complex per pose (protein first, ligand masked).
    pub poses: Vec<Structure>,
    /// Where each pose came from (`file:line`).
    pub sources: Vec<String>,
    /// RMSD of each pose to the reference pose, when the file records it.
    pub rmsd: Vec<Option<f64>>,
    /// Docking score of each pose (lower is better), when the file records one.
    pub scores: Vec<Option<f64>>,
    /// How many leading poses are reference poses (modelled or crystal) rather than
    /// docking output: 0 when every pose is docked, else 1 and any alternative modelled
    /// poses after pose 0 (see [`has_reference`]).
    pub references: usize,
    /// Heavy-atom ligand bonds of pose 0 (atom indices within the ligand).
    pub ligand_bonds: Vec<(usize, usize, u8)>,
    /// The measurement, if any.
    pub label: Option<Label>,
    /// Protein atoms before the pocket crop.
    pub protein_atoms: usize,
    /// Protein atoms kept (after the crop).
    pub pocket_atoms: usize,
    /// Ligand atoms (pose 0).
    pub ligand_atoms: usize,
    /// Things a user should know about this compound.
    pub warnings: Vec<String>,
}

impl CompoundData {
    /// The label's value when it is exact (censored `<` / `>` labels say only on which
    /// side the value lies).
    pub fn exact_label(&self) -> Option<f64> {
        (self.label.as_ref())
            .filter(|l| l.qualifier == Qualifier::Exact)
            .map(|l| l.value)
    }

    /// The best (lowest) docking score of the docked poses (all but the reference poses),
    /// if any has one.
    pub fn best_docked_score(&self) -> Option<f64> {
        self.scores
            .iter()
            .skip(self.references)
            .flatten()
            .copied()
            .reduce(f64::min)
    }
}

/// A loaded dataset.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// Compounds with poses and a label, in id order.
    pub compounds: Vec<CompoundData>,
    /// Compounds left out, with the reason (listed, never silently dropped).
    pub skipped: Vec<(String, String)>,
    /// Dataset-level notes (dropped hydrogens, waters kept, ...).
    pub notes: Vec<String>,
}

/// Per pose: the protein (layout (b) may move it), the ligand, and where it came from.
type PoseSet = (Vec<ProteinAtoms>, Vec<Molecule>, Vec<String>);

/// Poses of one compound before they meet the receptor.
struct Group {
    molecules: Vec<Molecule>,
    sources: Vec<String>,
}

/// Loads a dataset: reads receptor, poses and labels, groups poses by compound, crops
/// pockets, matches labels. Compounds without poses or without a label are listed in
/// `skipped` (an error with `spec.strict`).
pub fn load(spec: &DatasetSpec) -> Result<Dataset> {
    let mut data = Dataset::default();
    let labels = match &spec.labels {
        Some(path) => read_labels(path)?,
        None => Vec::new(),
    };
    let mut by_id: BTreeMap<String, Label> = labels
        .into_iter()
        .map(|l| (l.compound_id.clone(), l))
        .collect();

    // Per compound: one protein per pose (layout (b) may move the protein), poses, sources.
    let mut compounds: Vec<(String, PoseSet)> = Vec::new();
    if !spec.poses.is_empty() {
        let receptor = match &spec.receptor {
            Some(path) => {
                let r = read_protein(path, spec.keep_hydrogens)?;
                data.notes.push(format!(
                    "receptor {}: {} atoms kept, {} hydrogens dropped, {} water atoms kept",
                    path.display(),
                    r.len(),
                    r.dropped_hydrogens,
                    r.waters()
                ));
                r
            }
            None => {
                data.notes
                    .push("no receptor: ligands only (for the ligand-only model)".into());
                ProteinAtoms::default()
            }
        };
        for (id, group) in group_poses(spec)? {
            let proteins = vec![receptor.clone(); group.molecules.len()];
            compounds.push((id, (proteins, group.molecules, group.sources)));
        }
    }
    compounds.extend(read_complexes(spec)?);

    let mut seen = std::collections::HashSet::new();
    for (id, (proteins, molecules, sources)) in compounds {
        if !seen.insert(id.clone()) {
            return Err(Error::InvalidConfig(format!(
                "compound `{id}` appears in more than one pose file or layout"
            )));
        }
        // Without a label table, or for prediction, compounds are kept unlabelled.
        let label = by_id.remove(&id);
        if label.is_none() && spec.labels.is_some() && !spec.keep_unlabelled {
            skip(&mut data, spec, &id, "has poses but no label")?;
            continue;
        }
        let keep = spec.selection.pick(&molecules);
        if keep.is_empty() {
            let why = format!(
                "has no pose left by the `{}` pose selection ({} pose(s) in {}; did docking fail?)",
                spec.selection.name(),
                molecules.len(),
                sources.first().map_or("?", String::as_str)
            );
            skip(&mut data, spec, &id, &why)?;
            continue;
        }
        let (proteins, molecules, sources) = (
            select(&proteins, &keep),
            select(&molecules, &keep),
            select(&sources, &keep),
        );
        data.compounds.push(build_compound(
            spec, id, proteins, molecules, sources, label,
        )?);
    }
    for id in by_id.into_keys() {
        skip(&mut data, spec, &id, "has a label but no poses")?;
    }
    data.compounds.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(data)
}

/// The entries of `v` at `keep`, in that order.
fn select<T: Clone>(v: &[T], keep: &[usize]) -> Vec<T> {
    keep.iter().map(|&k| v[k].clone()).collect()
}

fn skip(data: &mut Dataset, spec: &DatasetSpec, id: &str, why: &str) -> Result<()> {
    if spec.strict {
        return Err(Error::InvalidConfig(format!(
            "compound `{id}` {why} (strict: --strict or data.strict = true)"
        )));
    }
    data.skipped.push((id.to_string(), why.to_string()));
    Ok(())
}

/// Beyond this, a coordinate is almost surely a unit or format error (Å).
const FAR_COORDINATE: f64 = 1e4;
/// A pose with no protein atom this close (Å) does not touch the receptor.
const CONTACT: f64 = 6.0;
/// Residue names of amino acids, including common protonation and modified forms.
const AMINO_ACIDS: [&str; 28] = [
    "ALA", "ARG", "ASN", "ASP", "CYS", "GLN", "GLU", "GLY", "HIS", "ILE", "LEU", "LYS", "MET",
    "PHE", "PRO", "SER", "THR", "TRP", "TYR", "VAL", "HID", "HIE", "HIP", "CYX", "ASH", "GLH",
    "LYN", "MSE",
];

/// Implausible geometry worth a warning: far-out coordinates, a receptor without amino
/// acids, a pose that touches no protein atom.
fn geometry_warnings(
    proteins: &[ProteinAtoms],
    molecules: &[Molecule],
    sources: &[String],
) -> Vec<String> {
    let mut out = Vec::new();
    let far = |p: &[f64; 3]| p.iter().any(|v| v.abs() > FAR_COORDINATE);
    if proteins[0].pos.iter().any(far) {
        out.push(format!(
            "the receptor has a coordinate beyond {FAR_COORDINATE} Å"
        ));
    }
    if !proteins[0]
        .residue
        .iter()
        .any(|r| AMINO_ACIDS.contains(&r.as_str()))
    {
        out.push("the receptor has no amino-acid residue (is it a protein?)".into());
    }
    for (k, m) in molecules.iter().enumerate() {
        let source = sources.get(k).map_or("", String::as_str);
        if m.pos.iter().any(far) {
            out.push(format!(
                "pose {k} ({source}) has a coordinate beyond {FAR_COORDINATE} Å"
            ));
        }
        let protein = &proteins[k.min(proteins.len() - 1)].pos;
        let touches = m.pos.iter().any(|a| {
            protein.iter().any(|b| {
                let d2: f64 = (0..3).map(|i| (a[i] - b[i]).powi(2)).sum();
                d2 <= CONTACT * CONTACT
            })
        });
        if !touches {
            out.push(format!(
                "pose {k} ({source}) has no protein atom within {CONTACT} Å (is it in the receptor's frame?)"
            ));
        }
    }
    out
}

/// A pocket is asked for but there is no protein to crop it from.
fn no_receptor(spec: &DatasetSpec, id: &str) -> Error {
    let why = match &spec.receptor {
        Some(path) => format!("the receptor {} has no atoms", path.display()),
        None => "no receptor was found or given (a dataset folder needs receptor.pdb or \
                 receptor.cif beside poses/)"
            .into(),
    };
    Error::InvalidConfig(format!(
        "compound `{id}`: {why}; only the ligand-only model runs without a receptor, with \
         pocket_radius = 0"
    ))
}

fn build_compound(
    spec: &DatasetSpec,
    id: String,
    proteins: Vec<ProteinAtoms>,
    molecules: Vec<Molecule>,
    sources: Vec<String>,
    label: Option<Label>,
) -> Result<CompoundData> {
    let mut warnings = Vec::new();
    let molecules: Vec<Molecule> = if spec.keep_hydrogens {
        molecules
    } else {
        molecules.iter().map(Molecule::without_hydrogens).collect()
    };
    if let Some(k) = molecules.iter().position(|m| m.z.is_empty()) {
        let what = if spec.keep_hydrogens {
            "atoms"
        } else {
            "heavy atoms"
        };
        return Err(Error::InvalidConfig(format!(
            "compound `{id}`: pose {k} ({}) has no {what}",
            sources.get(k).map_or("?", String::as_str)
        )));
    }
    let first = &molecules[0];
    for (k, m) in molecules.iter().enumerate().skip(1) {
        if m.z != first.z {
            warnings.push(format!(
                "pose {k} ({}) has other atoms than pose 0 ({} vs {})",
                sources[k],
                m.z.len(),
                first.z.len()
            ));
        }
    }
    let protein_atoms = proteins[0].len();
    let proteins: Vec<ProteinAtoms> = match spec.pocket_radius {
        Some(r) => {
            // One crop for the whole compound: atoms near any ligand atom of any pose.
            let poses: Vec<&[[f64; 3]]> = molecules.iter().map(|m| m.pos.as_slice()).collect();
            if protein_atoms == 0 {
                return Err(no_receptor(spec, &id));
            }
            let keep = pocket_indices(&proteins[0].pos, &poses, r);
            if keep.is_empty() {
                return Err(Error::InvalidConfig(format!(
                    "compound `{id}`: no protein atom within {r} Å of any pose (is the ligand in the receptor's frame?)"
                )));
            }
            proteins.iter().map(|p| p.select(&keep)).collect()
        }
        None => proteins,
    };
    warnings.extend(geometry_warnings(&proteins, &molecules, &sources));
    let scores = molecules.iter().map(docking_score).collect();
    let rmsd = molecules
        .iter()
        .map(|m| {
            ["rmsd_to_reference", "rmsd"]
                .iter()
                .find_map(|k| m.property(k))
                .and_then(|v| v.trim().parse().ok())
        })
        .collect();
    let poses = molecules
        .iter()
        .enumerate()
        .map(|(k, m)| assemble(&format!("{id}:{k}"), &proteins[k], m))
        .collect::<Result<Vec<_>>>()?;
    Ok(CompoundData {
        ligand_atoms: first.z.len(),
        ligand_bonds: first.bonds.clone(),
        pocket_atoms: proteins[0].len(),
        protein_atoms,
        id,
        target: spec.target.clone(),
        poses,
        sources,
        rmsd,
        scores,
        references: reference_poses(&molecules),
        label,
        warnings,
    })
}

/// Reads every ligand file and groups its records into compounds.
fn group_poses(spec: &DatasetSpec) -> Result<BTreeMap<String, Group>> {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for path in &spec.poses {
        let records = read_ligands(path)?;
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("ligand")
            .to_string();
        for m in records {
            let id = match &spec.group_by {
                GroupBy::File => stem.clone(),
                GroupBy::Title => m.title.clone(),
                GroupBy::Property(p) => {
                    m.property(p)
                        .map(str::to_string)
                        .ok_or_else(|| Error::Parse {
                            path: path.clone(),
                            line: m.line,
                            message: format!("record has no `{p}` data field to group poses by"),
                        })?
                }
                GroupBy::Auto => m
                    .property("compound_id")
                    .map(str::to_string)
                    .unwrap_or_else(|| stem.clone()),
            };
            if id.trim().is_empty() {
                return Err(Error::Parse {
                    path: path.clone(),
                    line: m.line,
                    message: "empty compound id".into(),
                });
            }
            let group = groups.entry(id).or_insert(Group {
                molecules: Vec::new(),
                sources: Vec::new(),
            });
            group.sources.push(format!("{}:{}", path.display(), m.line));
            group.molecules.push(m);
        }
    }
    Ok(groups)
}

type ComplexGroups = BTreeMap<String, PoseSet>;

/// Layout (b): one complex file per pose, `<compound>/<pose>.pdb`; the ligand is found
/// by residue name. All poses of a compound must share the protein atoms.
fn read_complexes(spec: &DatasetSpec) -> Result<ComplexGroups> {
    let mut out: ComplexGroups = BTreeMap::new();
    for path in &spec.complexes {
        let atoms = read_protein(path, true)?;
        let is_lig: Vec<bool> = atoms
            .residue
            .iter()
            .map(|r| r == &spec.ligand_resname)
            .collect();
        if !is_lig.iter().any(|&b| b) {
            return Err(Error::Input {
                path: path.clone(),
                message: format!(
                    "no ligand residue `{}` (set the ligand residue name)",
                    spec.ligand_resname
                ),
            });
        }
        let keep = |want: bool| -> Vec<usize> {
            (0..atoms.len())
                .filter(|&i| is_lig[i] == want && (spec.keep_hydrogens || !is_hydrogen(atoms.z[i])))
                .collect()
        };
        let protein = atoms.select(&keep(false));
        let lig = atoms.select(&keep(true));
        let molecule = Molecule {
            title: spec.ligand_resname.clone(),
            z: lig.z,
            pos: lig.pos,
            bonds: Vec::new(),
            properties: Vec::new(),
            line: 0,
        };
        let id = path
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|s| s.to_str())
            .unwrap_or("complex")
            .to_string();
        let entry = out.entry(id.clone()).or_default();
        if entry.0.first().is_some_and(|first| first.z != protein.z) {
            return Err(Error::Input {
                path: path.clone(),
                message: format!("the protein atoms differ from the first pose of `{id}`"),
            });
        }
        entry.0.push(protein);
        entry.1.push(molecule);
        entry.2.push(path.display().to_string());
    }
    Ok(out)
}
