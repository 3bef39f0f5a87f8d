//! Datasets of several targets on the bundled real data: a folder of target folders, a
//! manifest CSV, pose selections, within-target folds, and the benchmark end to end.

use multipose::dataset::{DatasetSpec, PoseSelection, open, summarise_targets};
use multipose::train::{TrainConfig, make_split};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("multipose-mt-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let dest = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &dest);
        } else {
            std::fs::copy(&path, &dest).unwrap();
        }
    }
}

/// `ROOT/tyk2` and `ROOT/eg5` copied from `data/`, and a target folder without a receptor.
fn two_targets(name: &str) -> PathBuf {
    let dir = tmp(name);
    copy_dir(&root().join("data/tyk2"), &dir.join("tyk2"));
    copy_dir(&root().join("data/eg5"), &dir.join("eg5"));
    let orphan = dir.join("orphan/poses");
    std::fs::create_dir_all(&orphan).unwrap();
    std::fs::copy(
        root().join("data/tyk2/poses/lig_ejm_31.sdf"),
        orphan.join("lig_ejm_31.sdf"),
    )
    .unwrap();
    dir
}

fn options() -> DatasetSpec {
    DatasetSpec {
        pocket_radius: Some(6.0),
        ..DatasetSpec::default()
    }
}

#[test]
fn folder_of_targets_keys_compounds_by_target_and_lists_a_target_without_receptor() {
    let dir = two_targets("folders");
    let data = open(&dir, &options()).unwrap();
    assert_eq!(data.compounds.len(), 13 + 6);
    assert!(
        data.compounds
            .iter()
            .all(|c| c.id.starts_with(&format!("{}/", c.target)))
    );
    assert!(data.compounds.iter().any(|c| c.id == "tyk2/lig_ejm_31"));
    assert_eq!(data.skipped.len(), 1);
    let (id, why) = &data.skipped[0];
    assert_eq!(id, "orphan/*");
    assert!(
        why.contains("orphan") && why.contains("receptor.pdb"),
        "{why}"
    );
    let targets = summarise_targets(&data);
    let names: Vec<&str> = targets.iter().map(|t| t.target.as_str()).collect();
    assert_eq!(names, ["eg5", "orphan", "tyk2"]);
    assert_eq!((targets[2].compounds, targets[2].poses), (13, 130));
    assert_eq!(targets[1].skipped, 1);
    let strict = DatasetSpec {
        strict: true,
        ..options()
    };
    let e = open(&dir, &strict).unwrap_err().to_string();
    assert!(e.contains("orphan") && e.contains("receptor"), "{e}");
}

#[test]
fn manifest_rows_resolve_relative_paths_and_missing_files_are_listed_by_line() {
    let dir = tmp("manifest");
    copy_dir(&root().join("data/tyk2"), &dir.join("files/tyk2"));
    let manifest = dir.join("set.csv");
    std::fs::write(
        &manifest,
        "compound_id,target,receptor,poses,value,unit,type\n\
         lig_ejm_31,tyk2,files/tyk2/receptor.pdb,files/tyk2/poses/lig_ejm_31.sdf,0.096,uM,Ki\n\
         lig_ejm_42,tyk2,files/tyk2/receptor.pdb,files/tyk2/poses/lig_ejm_42.sdf,64,nM,Ki\n\
         lig_gone,tyk2,files/tyk2/receptor.pdb,files/tyk2/poses/lig_gone.sdf,1,uM,Ki\n\
         lig_ejm_43,kinase,files/tyk2/receptor.pdb,files/tyk2/poses/lig_ejm_43.sdf,,,\n",
    )
    .unwrap();
    let data = open(&manifest, &options()).unwrap();
    let ids: Vec<&str> = data.compounds.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        ["kinase/lig_ejm_43", "tyk2/lig_ejm_31", "tyk2/lig_ejm_42"]
    );
    // 0.096 µM and 64 nM Ki on the p scale; the row without a value stays unlabelled.
    let pk = |i: usize| data.compounds[i].label.as_ref().map(|l| l.value);
    assert!((pk(1).unwrap() - 7.0177).abs() < 1e-3);
    assert!((pk(2).unwrap() - 7.1938).abs() < 1e-3);
    assert!(pk(0).is_none());
    assert_eq!(data.compounds[0].poses.len(), 10);
    assert_eq!(data.skipped.len(), 1);
    let (id, why) = &data.skipped[0];
    assert_eq!(id, "tyk2/lig_gone");
    assert!(
        why.contains("set.csv:4") && why.contains("lig_gone.sdf"),
        "{why}"
    );
    let e = open(
        &manifest,
        &DatasetSpec {
            strict: true,
            ..options()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("set.csv:4"), "{e}");
    // One pose file listed twice in a cell would count its poses twice: refused.
    let twice = dir.join("twice.csv");
    std::fs::write(
        &twice,
        "compound_id,target,receptor,poses,value,unit,type
         lig_ejm_31,tyk2,files/tyk2/receptor.pdb,files/tyk2/poses/lig_ejm_31.sdf; files/tyk2/poses/lig_ejm_31.sdf,0.096,uM,Ki
",
    )
    .unwrap();
    let e = open(&twice, &options()).unwrap_err().to_string();
    assert!(
        e.contains("twice.csv:2") && e.contains("lig_ejm_31.sdf twice"),
        "{e}"
    );
}

#[test]
fn pose_selections_on_real_docking_output() {
    let dir = root().join("data/tyk2");
    let pick = |selection| {
        open(
            &dir,
            &DatasetSpec {
                selection,
                ..options()
            },
        )
        .unwrap()
    };
    let all = pick(PoseSelection::All);
    let reference = pick(PoseSelection::Reference);
    let top = pick(PoseSelection::TopDocked);
    let docked = pick(PoseSelection::Docked);
    for (k, c) in all.compounds.iter().enumerate() {
        assert_eq!(reference.compounds[k].poses.len(), 1);
        assert_eq!(reference.compounds[k].rmsd[0], Some(0.0));
        assert_eq!(docked.compounds[k].poses.len(), c.poses.len() - 1);
        let best = c.scores[1..]
            .iter()
            .flatten()
            .copied()
            .fold(f64::INFINITY, f64::min);
        assert_eq!(top.compounds[k].scores, vec![Some(best)], "{}", c.id);
        assert!(top.compounds[k].sources[0].contains(".sdf:"));
    }
}

#[test]
fn within_target_folds_test_every_compound_once_and_keep_targets_apart() {
    let dir = two_targets("folds");
    let data = open(&dir, &options()).unwrap();
    let mut tested = vec![0; data.compounds.len()];
    for fold in 0..3 {
        let config = TrainConfig::from_toml(
            &format!("[split]\nkind = \"per_target\"\nfolds = 3\nfold = {fold}\n"),
            &[],
        )
        .unwrap();
        let split = make_split(&config, &data.compounds).unwrap();
        for &i in &split.test {
            tested[i] += 1;
        }
        let targets = |part: &[usize]| {
            let mut t: Vec<&str> = part
                .iter()
                .map(|&i| data.compounds[i].target.as_str())
                .collect();
            t.sort();
            t.dedup();
            t
        };
        assert_eq!(targets(&split.test), ["eg5", "tyk2"]);
        assert_eq!(targets(&split.train), ["eg5", "tyk2"]);
    }
    assert!(tested.iter().all(|&n| n == 1), "{tested:?}");
    let config =
        TrainConfig::from_toml("[split]\nkind = \"target\"\nfolds = 2\nfold = 1\n", &[]).unwrap();
    let split = make_split(&config, &data.compounds).unwrap();
    let test_targets: Vec<&str> = split
        .test
        .iter()
        .map(|&i| data.compounds[i].target.as_str())
        .collect();
    assert!(test_targets.windows(2).all(|w| w[0] == w[1]) && !test_targets.is_empty());
    assert!(
        split
            .train
            .iter()
            .all(|&i| data.compounds[i].target != test_targets[0])
    );
}

#[test]
fn benchmark_end_to_end_on_two_real_targets_and_reuses_finished_runs() {
    let dir = two_targets("bench");
    std::fs::remove_dir_all(dir.join("orphan")).unwrap();
    let out = dir.join("out");
    let run_with = |arms: &str, seeds: &str, folds: &str, epochs: &str| {
        Command::new(env!("CARGO_BIN_EXE_multipose"))
            .args(["benchmark", "--data"])
            .arg(&dir)
            .arg("--out")
            .arg(&out)
            .args(["--folds", folds, "--arms", arms, "--seeds", seeds])
            .args(["--samples", "50"])
            .args(["--model.hidden_channels", "8", "--model.num_filters", "8"])
            .args([
                "--model.num_interactions",
                "1",
                "--model.num_gaussians",
                "8",
            ])
            .args(["--model.cutoff", "4.0", "--data.pocket_radius", "4.0"])
            .args(["--optim.epochs", epochs, "--data.min_target_size", "3"])
            .output()
            .unwrap()
    };
    let run = |arms: &str, seeds: &str| run_with(arms, seeds, "2", "1");
    let first = run("vina,single_top,mean", "1");
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "{stderr}");
    assert!(stderr.contains("[4/4]"), "{stderr}");
    let table = std::fs::read_to_string(out.join("benchmark.md")).unwrap();
    for arm in [
        "| vina |",
        "| single_top |",
        "| mean |",
        "eg5 (6)",
        "tyk2 (13)",
    ] {
        assert!(table.contains(arm), "{arm} missing from\n{table}");
    }
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    let arms = results["report"]["arms"].as_array().unwrap();
    assert_eq!(arms.len(), 3);
    // Every compound is scored once, out of fold, by every arm.
    assert!(arms.iter().all(|a| a["compounds"] == 19), "{arms:?}");
    assert!(out.join("per_target_rho.png").exists() && out.join("per_target_rho.svg").exists());
    let second = run("vina,single_top,mean", "1");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        second.status.success() && stderr.matches("already done").count() == 4,
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("benchmark.md")).unwrap(),
        table
    );
    // A second seed per fold: the first members are reused, the new ones trained, and
    // the averaged predictions still score every compound once.
    let third = run("mean", "2");
    let stderr = String::from_utf8_lossy(&third.stderr);
    assert!(third.status.success(), "{stderr}");
    assert_eq!(stderr.matches("already done").count(), 2, "{stderr}");
    assert_eq!(stderr.matches("seed 1: trained").count(), 2, "{stderr}");
    assert!(out.join("mean/fold1-seed1/summary.json").exists());
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["report"]["arms"][0]["compounds"], 19);
    assert_eq!(
        results["report"]["arms"][0]["runs"],
        serde_json::json!([4, 4])
    );
    // Changed settings or folds are refused before anything is written: the finished
    // report and the runs' split files stay as they were.
    let kept = |name: &str| std::fs::read_to_string(out.join(name)).unwrap();
    let before = [
        kept("results.json"),
        kept("benchmark.md"),
        kept("base_config.toml"),
        kept("mean/fold0.split.json"),
    ];
    for (folds, epochs, why) in [("2", "2", "other settings"), ("3", "1", "other compounds")] {
        let refused = run_with("mean", "1", folds, epochs);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{stderr}");
        assert!(
            stderr.contains(why) && stderr.contains("nothing was changed"),
            "{stderr}"
        );
        let after = [
            kept("results.json"),
            kept("benchmark.md"),
            kept("base_config.toml"),
            kept("mean/fold0.split.json"),
        ];
        assert_eq!(after, before);
    }
    // The same compounds with a pose moved: the data changed under the finished runs.
    let pose = dir.join("tyk2/poses/lig_ejm_31.sdf");
    let text = std::fs::read_to_string(&pose).unwrap();
    let line = text.lines().nth(5).unwrap(); // a carbon (the models see no H)
    let moved = format!("{}9{}", &line[..9], &line[10..]);
    std::fs::write(&pose, text.replacen(line, &moved, 1)).unwrap();
    let refused = run("mean", "1");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("other data"),
        "{stderr}"
    );
    assert_eq!(kept("results.json"), before[0]);
}

#[test]
fn whole_target_folds_that_leave_a_test_part_empty_are_refused() {
    let dir = two_targets("emptyfold");
    std::fs::remove_dir_all(dir.join("orphan")).unwrap();
    let text = format!(
        "[data]\npath = {:?}\npocket_radius = 4.0\n[model]\nhidden_channels = 8\nnum_filters = 8\n\
         num_interactions = 1\nnum_gaussians = 6\ncutoff = 4.0\n[optim]\nepochs = 1\n\
         [split]\nkind = \"target\"\nfolds = 3\nfold = 2\n",
        dir.display().to_string()
    );
    let config = TrainConfig::from_toml(&text, &[]).unwrap();
    let options = multipose::train::RunOptions {
        quiet: true,
        ..Default::default()
    };
    let e = multipose::train::train(&config, &dir.join("run"), &options)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no test compound") && e.contains("fewer folds"),
        "{e}"
    );
    assert!(!dir.join("run/metrics.jsonl").exists());
}

#[test]
fn a_benchmark_stopped_by_ctrl_c_exits_130_with_one_message() {
    let dir = two_targets("ctrlc");
    std::fs::remove_dir_all(dir.join("orphan")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_multipose"))
        .args(["benchmark", "--data"])
        .arg(&dir)
        .arg("--out")
        .arg(dir.join("out"))
        .args(["--folds", "2", "--arms", "mean", "--samples", "20"])
        .args(["--model.hidden_channels", "8", "--model.num_filters", "8"])
        .args(["--optim.epochs", "200", "--data.pocket_radius", "4.0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Long enough to be inside the first run, far shorter than 2 x 200 epochs.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert_eq!(stderr.matches("interrupted").count(), 1, "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}

#[test]
fn benchmark_on_two_fep_plus_series_reports_fep_plus_beside_trained_objectives() {
    let dir = tmp("fepplus");
    for s in ["opls_stress__cr_bace1", "opls_stress__fxa_set4"] {
        copy_dir(&root().join("data/fepplus").join(s), &dir.join(s));
    }
    let out = dir.join("out");
    let run = |regime: &str, arms: &str| {
        Command::new(env!("CARGO_BIN_EXE_multipose"))
            .args(["benchmark", "--data"])
            .arg(&dir)
            .arg("--out")
            .arg(&out)
            .args(["--folds", "2", "--regime", regime, "--arms", arms])
            .args(["--samples", "50", "--data.poses", "reference"])
            .args(["--model.hidden_channels", "8", "--model.num_filters", "8"])
            .args([
                "--model.num_interactions",
                "1",
                "--model.num_gaussians",
                "8",
            ])
            .args(["--model.cutoff", "4.0", "--data.pocket_radius", "4.0"])
            .args(["--optim.epochs", "1", "--data.min_target_size", "3"])
            .output()
            .unwrap()
    };
    let done = run("within", "vina,fep_plus,mean+pairwise+delta");
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success(), "{stderr}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    let arms = results["report"]["arms"].as_array().unwrap();
    let names: Vec<&str> = arms.iter().map(|a| a["arm"].as_str().unwrap()).collect();
    assert_eq!(names, ["vina", "fep_plus", "mean+pairwise+delta"]);
    // FEP+ predicted every compound of both series (22), read from their fep_plus.csv.
    assert_eq!(arms[1]["compounds"], 22, "{arms:?}");
    assert!(
        arms[2]["rho_minus_fep_plus"]["value"].is_number(),
        "{arms:?}"
    );
    let table = std::fs::read_to_string(out.join("benchmark.md")).unwrap();
    assert!(
        table.contains("Δρ vs fep_plus") && table.contains("| fep_plus |"),
        "{table}"
    );
    assert!(out.join("mean+pairwise+delta/fold1/summary.json").exists());
    // FEP+ is relative to a series' own measurements: not a whole-target reference.
    let refused = run("whole", "vina,fep_plus");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("fep_plus"),
        "{stderr}"
    );
}
