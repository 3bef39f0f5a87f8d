//! Dataset options shared by the commands that read data.

use anyhow::Context;
use clap::Args;
use multipose::dataset::{Dataset, DatasetSpec, GroupBy, PoseSelection, load, open};
use std::path::PathBuf;

/// Where the data is: a dataset folder, or files named one by one.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// Dataset folder (receptor.pdb, poses/*.sdf|mol2 or complexes/<compound>/*.pdb,
    /// labels.csv|json), a folder of such target folders, or a manifest CSV (one row per
    /// compound: compound_id, target, receptor, poses, value, unit, type). Default: the
    /// bundled TYK2 set.
    #[arg(default_value = "data/tyk2")]
    pub data: PathBuf,
    /// Receptor (PDB or mmCIF), instead of the folder's.
    #[arg(long)]
    pub receptor: Option<PathBuf>,
    /// Ligand pose files (SDF or MOL2), instead of the folder's poses/.
    #[arg(long, num_args = 1..)]
    pub poses: Vec<PathBuf>,
    /// Label table (CSV or asapdiscovery JSON), instead of the folder's.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Grouping of pose records into compounds: auto, file, title or property:NAME.
    #[arg(long, default_value = "auto")]
    pub group_by: String,
    /// Ligand residue name in complex files.
    #[arg(long, default_value = "LIG")]
    pub ligand_resname: String,
    /// Keep hydrogens (dropped by default).
    #[arg(long)]
    pub keep_hydrogens: bool,
    /// Keep only protein atoms within this many Å of any pose of the compound (0: the
    /// whole protein; default: the model's data.pocket_radius, or train's default for
    /// `inspect`).
    #[arg(long)]
    pub pocket_radius: Option<f64>,
    /// Fail on compounds with poses but no label (or a label but no poses).
    #[arg(long)]
    pub strict: bool,
    /// Which poses of each compound to use: all, reference (pose 0), docked (all but
    /// pose 0) or top_docked (the best-scored of those). Default: all, or what the
    /// model was trained on.
    #[arg(long)]
    pub pose_selection: Option<PoseSelection>,
}

impl DataArgs {
    /// Loads the dataset: files named one by one, or `data` as a dataset folder, a
    /// folder of target folders or a manifest. `selection` applies unless
    /// `--pose-selection` is given, `pocket` unless `--pocket-radius` is; `labels` false
    /// keeps compounds without a label.
    pub fn load(
        &self,
        selection: PoseSelection,
        pocket: Option<f64>,
        labels: bool,
    ) -> anyhow::Result<Dataset> {
        let mut spec = self.spec()?;
        spec.selection = self.pose_selection.unwrap_or(selection);
        // --pocket-radius 0 keeps the whole protein, as data.pocket_radius = 0 does.
        spec.pocket_radius = match self.pocket_radius {
            Some(r) => Some(r).filter(|r| *r > 0.0),
            None => pocket,
        };
        // Prediction reports the label where the table (the folder's, or --labels) has
        // one, and predicts every compound either way.
        spec.keep_unlabelled = !labels;
        let named = !self.poses.is_empty() || self.receptor.is_some() || self.labels.is_some();
        let data = if named || DatasetSpec::is_dataset_dir(&self.data) {
            load(&spec)?
        } else {
            open(&self.data, &spec)
                .with_context(|| format!("reading dataset {}", self.data.display()))?
        };
        Ok(data)
    }

    /// The dataset specification these options describe.
    pub fn spec(&self) -> anyhow::Result<DatasetSpec> {
        let single = !self.poses.is_empty() || DatasetSpec::is_dataset_dir(&self.data);
        let mut spec = if !single {
            DatasetSpec::default()
        } else if self.poses.is_empty() {
            DatasetSpec::from_dir(&self.data)
                .with_context(|| format!("reading dataset folder {}", self.data.display()))?
        } else {
            DatasetSpec {
                poses: self.poses.clone(),
                ..DatasetSpec::default()
            }
        };
        if self.receptor.is_some() {
            spec.receptor = self.receptor.clone();
        }
        if self.labels.is_some() {
            spec.labels = self.labels.clone();
        }
        if let Some(r) = self.pocket_radius
            && !(r.is_finite() && r >= 0.0)
        {
            anyhow::bail!("--pocket-radius must be ≥ 0 Å (0 keeps the whole protein), got {r}");
        }
        spec.group_by = GroupBy::parse(&self.group_by)?;
        spec.ligand_resname = self.ligand_resname.clone();
        spec.keep_hydrogens = self.keep_hydrogens;
        spec.pocket_radius = self.pocket_radius.filter(|r| *r > 0.0);
        spec.strict = self.strict;
        Ok(spec)
    }
}
