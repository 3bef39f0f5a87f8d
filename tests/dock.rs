//! `multipose dock` end to end on real input: two Polaris compounds and two bad rows into
//! the SARS-CoV-2 Mpro receptor (exhaustiveness 1, so it takes seconds), then the
//! resume and refusal rules. Needs a Python with vina, meeko and rdkit, named by
//! MULTIPOSE_PYTHON (`.ci/run` makes one); without it the test says so and passes.

use multipose::dataset::{DatasetSpec, open};
use multipose::dock::{DockJob, DockSettings, Site, Target, run};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn job(dir: &Path, python: PathBuf) -> DockJob {
    let input = dir.join("in.csv");
    std::fs::write(
        &input,
        "compound_id,cxsmiles,pIC50\n\
         asap-0000,COC[C@]1(C)C(=O)N(C2=CN=CC3=CC=CC=C23)C(=O)N1C |&1:3|,5.19\n\
         broken,C1CC(,4.0\n\
         badlabel,CCO,high\n\
         unlabelled/one,CC(=O)Nc1ccc(O)cc1.Cl,\n",
    )
    .unwrap();
    DockJob {
        input,
        id_column: "compound_id".into(),
        smiles_column: None,
        targets: vec![Target {
            name: "sars".into(),
            receptor: root().join("data/polaris/source/sars_cov_2_mpro.pdb"),
            site: Site::Ligand {
                resname: Some("LIG".into()),
                chain: Some("A".into()),
            },
            label: Some("pIC50".into()),
        }],
        out: dir.join("out"),
        settings: DockSettings {
            exhaustiveness: 1,
            poses: 4,
            ..DockSettings::default()
        },
        jobs: 2,
        python,
        labelled_only: false,
        label_type: ("pIC50".into(), "p".into()),
        deadline: None,
        retry_failed: false,
    }
}

#[test]
fn smiles_to_a_dataset_resumably_with_every_failure_listed() {
    let Some(python) = std::env::var_os("MULTIPOSE_PYTHON").map(PathBuf::from) else {
        eprintln!(
            "MULTIPOSE_PYTHON is not set: the docking test needs a Python with vina, meeko, rdkit"
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!("multipose-dock-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let job = job(&dir, python);
    let quiet = |_: &multipose::dock::Event| {};
    let first = run(&job, &quiet).unwrap();
    assert_eq!(first.docked_now, 3, "{first:?}");
    assert_eq!(first.left, 0);
    let reasons: Vec<String> = first
        .failed
        .iter()
        .map(|f| format!("{} {}", f.id, f.reason))
        .collect();
    assert_eq!(first.failed.len(), 2, "{reasons:?}");
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("broken smiles: RDKit cannot parse")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("badlabel label: column `pIC50`")),
        "{reasons:?}"
    );
    let out = &job.out;
    let record = std::fs::read_to_string(out.join("docking.csv")).unwrap();
    assert!(record.contains("sars,broken,3,failed"), "{record}");
    // The `&1` centre is enumerated: both isomers docked, their poses in one group.
    let poses =
        multipose::structure::read_ligands(&out.join("sars/poses/asap-0000.sdf.gz")).unwrap();
    assert!(poses.len() >= 2 && poses.len() <= 4, "{}", poses.len());
    let row: Vec<&str> = record
        .lines()
        .find(|l| l.starts_with("sars,asap-0000,"))
        .unwrap()
        .split(',')
        .collect();
    assert_eq!((row[3], row[5], row[6]), ("docked", "2", "2"), "{record}");
    assert!(
        poses
            .iter()
            .all(|m| m.property("isomer_smiles").is_some() && m.property("pose_name").is_some())
    );
    let scores: Vec<f64> = poses
        .iter()
        .map(|m| m.property("vina_score").unwrap().parse().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] <= w[1]), "{scores:?}");
    // A salt is docked as its largest fragment, and the record says so.
    assert!(
        record.contains("kept the largest of 2 fragments"),
        "{record}"
    );
    // A label-free compound with an id that is no file name is docked under a safe name.
    assert!(out.join("sars/poses/unlabelled_one.sdf.gz").is_file());
    let labels = std::fs::read_to_string(out.join("sars/labels.csv")).unwrap();
    assert_eq!(
        labels,
        "compound_id,value,unit,type\nasap-0000,5.19,p,pIC50\n"
    );
    // The output is a dataset: one labelled compound, with all poses docked.
    let options = DatasetSpec {
        pocket_radius: Some(6.0),
        ..DatasetSpec::default()
    };
    let data = open(out, &options).unwrap();
    assert_eq!(data.compounds.len(), 1);
    assert_eq!(data.compounds[0].references, 0);
    assert_eq!(data.compounds[0].poses.len(), poses.len());

    // A rerun docks nothing; one lost result (an interruption) is docked again alone,
    // from docking.csv where the scratch folder is gone.
    let again = run(&job, &quiet).unwrap();
    assert_eq!((again.docked_now, again.reused), (0, 3));
    std::fs::remove_dir_all(out.join(".dock")).unwrap();
    std::fs::remove_file(out.join("sars/poses/unlabelled_one.sdf.gz")).unwrap();
    let resumed = run(&job, &quiet).unwrap();
    assert_eq!((resumed.docked_now, resumed.reused), (1, 2), "{resumed:?}");
    let same =
        multipose::structure::read_ligands(&out.join("sars/poses/asap-0000.sdf.gz")).unwrap();
    assert_eq!(same, poses, "finished compounds are left as they were");

    // A deadline already passed starts nothing and leaves everything for a rerun.
    let mut late = job.clone();
    late.out = dir.join("late");
    late.deadline = Some(0.0);
    let none = run(&late, &quiet).unwrap();
    assert_eq!((none.docked_now, none.left), (0, 3), "{none:?}");

    // A site that is not in the receptor names what the file has and how to say it.
    let mut nosite = job.clone();
    nosite.out = dir.join("nosite");
    nosite.targets[0].site = Site::Ligand {
        resname: Some("XYZ".into()),
        chain: None,
    };
    let e = run(&nosite, &quiet).unwrap_err().to_string();
    assert!(
        e.contains("no residue XYZ") && e.contains("LIG") && e.contains("--site"),
        "{e}"
    );

    // Other settings into the same folder are refused before anything is docked.
    let mut other = job.clone();
    other.settings.exhaustiveness = 2;
    let e = run(&other, &quiet).unwrap_err().to_string();
    assert!(e.contains("other settings"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_python_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("multipose-dock-nopy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let job = job(&dir, PathBuf::from("/nonexistent/python3"));
    let e = run(&job, &|_: &multipose::dock::Event| {})
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot run Python") && e.contains("requirements.txt"),
        "{e}"
    );
    assert!(
        !job.out.join("dock.json").exists(),
        "nothing is written before Python is found"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
