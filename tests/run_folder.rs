//! Run folders under faults and misuse. A checkpoint is one atomic unit: a full disk at any byte of any epoch's checkpoint
//! leaves a run that `--resume` continues to exactly the uninterrupted result, or that
//! refuses to resume with a clear message when no epoch was saved yet. And `predict`
//! uses the weights the run reported.

mod common;

use std::path::Path;
use std::process::{Command, Output};

const CONFIG: &str = "[model]\nhidden_channels = 8\nnum_filters = 8\nnum_interactions = 1\n\
    num_gaussians = 6\ncutoff = 5.0\nmax_num_neighbors = 8\n[data]\npocket_radius = 5.0\n\
    [optim]\nepochs = 3\nbatch_size = 2\n[split]\ntrain = 0.6\nval = 0.2\ntest = 0.2\n";

fn multipose(args: &[&str], dir: &Path, fault: Option<u64>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_multipose"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("MULTIPOSE_FAULT_AFTER_BYTES");
    if let Some(k) = fault {
        cmd.env("MULTIPOSE_FAULT_AFTER_BYTES", k.to_string());
    }
    cmd.output().unwrap()
}

fn setup(name: &str, early_stopping: &str) -> std::path::PathBuf {
    let base = std::env::temp_dir().join(format!("multipose-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    common::tyk2_slice(&base.join("data"));
    let config = format!("{CONFIG}[early_stopping]\nkind = \"{early_stopping}\"\n");
    std::fs::write(base.join("config.toml"), config).unwrap();
    base
}

/// [`setup`] and its configuration for library calls.
fn setup_config(name: &str) -> (std::path::PathBuf, multipose::train::TrainConfig) {
    let base = setup(name, "none");
    let toml = std::fs::read_to_string(base.join("config.toml")).unwrap();
    let mut config = multipose::train::TrainConfig::from_toml(&toml, &[]).unwrap();
    config.data.path = base.join("data");
    (base, config)
}

fn train(base: &Path, out: &str, fault: Option<u64>) -> Output {
    train_with(base, out, &[], fault)
}

/// `train` with the test config into `out`, plus `extra` arguments.
fn train_with(base: &Path, out: &str, extra: &[&str], fault: Option<u64>) -> Output {
    let mut args = vec![
        "train",
        "--config",
        "config.toml",
        "--data.path",
        "data",
        "--out",
        out,
        "--quiet",
    ];
    args.extend(extra);
    multipose(&args, base, fault)
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn folder_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

#[test]
fn a_full_disk_anywhere_in_a_checkpoint_never_mixes_epochs() {
    let base = setup("faults", "none");
    let straight = train(&base, "straight", None);
    assert!(straight.status.success(), "{}", text(&straight));
    let expected = std::fs::read_to_string(base.join("straight/predictions.csv")).unwrap();
    // One epoch's checkpoint is about this many bytes: cut the first three across it.
    let size = folder_bytes(&base.join("straight/checkpoint"));
    let cuts: Vec<u64> = (0..10).map(|j| j * size * 3 / 10 + j * 37 % size).collect();
    let (mut resumed_runs, mut refused) = (0, 0);
    for (j, &k) in cuts.iter().enumerate() {
        let out = format!("cut{j}");
        let cut = train(&base, &out, Some(k));
        assert!(!cut.status.success(), "k = {k}: the fault did not happen");
        let run = base.join(&out);
        let resumed = multipose(&["train", "--resume", &out, "--quiet"], &base, None);
        if run.join("checkpoint").exists() || run.join("checkpoint.previous").exists() {
            assert!(resumed.status.success(), "k = {k}: {}", text(&resumed));
            let got = std::fs::read_to_string(run.join("predictions.csv")).unwrap();
            assert_eq!(got, expected, "k = {k}: resumed run differs");
            resumed_runs += 1;
        } else {
            refused += 1;
            assert!(!resumed.status.success(), "k = {k}");
            assert!(
                text(&resumed).contains("no complete checkpoint"),
                "{}",
                text(&resumed)
            );
        }
    }
    // The cuts fell before the first checkpoint and inside later ones.
    assert!(
        resumed_runs >= 5 && refused >= 1,
        "{resumed_runs} resumed, {refused} refused"
    );
}

#[test]
fn predict_uses_the_weights_the_run_reported() {
    // Early stopping `none` reports the last weights, although a best file exists.
    let base = setup("weights", "none");
    let run = train(&base, "run", None);
    assert!(run.status.success(), "{}", text(&run));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(base.join("run/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["weights"], "last.safetensors");
    let predicted = multipose(
        &["predict", "--model", "run", "data", "--out", "p.csv"],
        &base,
        None,
    );
    assert!(predicted.status.success(), "{}", text(&predicted));
    let column = |path: &Path, name: &str| -> Vec<(String, String)> {
        let mut r = csv::Reader::from_path(path).unwrap();
        let h = r.headers().unwrap().clone();
        let (i, p) = (
            h.iter().position(|c| c == "compound_id").unwrap(),
            h.iter().position(|c| c == name).unwrap(),
        );
        let mut v: Vec<_> = r
            .records()
            .map(|x| {
                let x = x.unwrap();
                (x[i].to_string(), x[p].to_string())
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        column(&base.join("p.csv"), "prediction"),
        column(&base.join("run/predictions.csv"), "prediction")
    );
    // The label column carries the folder's labels; with a partial table given by
    // --labels, every compound is still predicted and labelled where the table has it.
    let labels = column(&base.join("p.csv"), "label");
    assert!(labels.iter().all(|(_, l)| !l.is_empty()), "{labels:?}");
    let table = std::fs::read_to_string(base.join("data/labels.csv")).unwrap();
    let mut lines = table.lines();
    let partial = format!("{}\n{}\n", lines.next().unwrap(), lines.next().unwrap());
    std::fs::write(base.join("one_label.csv"), partial).unwrap();
    let args = ["predict", "--model", "run", "--labels", "one_label.csv"];
    let args = [&args[..], &["data", "--out", "q.csv"]].concat();
    let relabelled = multipose(&args, &base, None);
    assert!(relabelled.status.success(), "{}", text(&relabelled));
    let q = column(&base.join("q.csv"), "label");
    assert_eq!(q.len(), labels.len(), "{q:?}");
    assert_eq!(q.iter().filter(|(_, l)| !l.is_empty()).count(), 1, "{q:?}");
    // --pocket-radius 0 keeps the whole protein, as in the config.
    let whole = ["predict", "--model", "run", "data", "--pocket-radius", "0"];
    let whole = multipose(&whole, &base, None);
    assert!(whole.status.success(), "{}", text(&whole));
    // Evaluating data without labels is an error, not an empty success.
    std::fs::remove_file(base.join("data/labels.csv")).unwrap();
    let unlabelled = multipose(&["evaluate", "--model", "run", "data"], &base, None);
    assert!(!unlabelled.status.success(), "{}", text(&unlabelled));
    // The reported file gone: an error naming it, no silent fallback.
    std::fs::remove_file(base.join("run/checkpoint/last.safetensors")).unwrap();
    let missing = multipose(&["predict", "--model", "run", "data"], &base, None);
    assert!(!missing.status.success());
    assert!(
        text(&missing).contains("last.safetensors"),
        "{}",
        text(&missing)
    );
}

#[test]
fn a_run_folder_is_used_by_one_process_at_a_time() {
    let (base, config) = setup_config("lock");
    let out = base.join("run");
    std::fs::create_dir_all(&out).unwrap();
    let held = multipose::train::lock_run(&out).unwrap();
    let quiet = multipose::train::RunOptions {
        quiet: true,
        ..Default::default()
    };
    let e = multipose::train::train(&config, &out, &quiet).unwrap_err();
    assert!(matches!(e, multipose::Error::RunInUse { .. }), "{e}");
    assert!(
        !out.join("config.toml").exists(),
        "the refused run wrote into the folder"
    );
    drop(held);
    assert!(multipose::train::train(&config, &out, &quiet).is_ok());
    // Resuming a folder that does not exist neither creates it nor panics.
    let typo = base.join("no-such-run");
    assert!(multipose::train::resume(&typo, &quiet).is_err());
    assert!(!typo.exists());
}

#[test]
fn interruptions_and_divergence_are_typed_and_said_once() {
    let (base, mut config) = setup_config("typed");
    let stop = multipose::train::RunOptions {
        quiet: true,
        stop_after_epochs: Some(1),
        ..Default::default()
    };
    let e = multipose::train::train(&config, &base.join("stopped"), &stop).unwrap_err();
    assert!(matches!(e, multipose::Error::Interrupted(_)), "{e}");
    config.optim.lr = 1e30;
    let quiet = multipose::train::RunOptions {
        quiet: true,
        ..Default::default()
    };
    let e = multipose::train::train(&config, &base.join("diverged"), &quiet).unwrap_err();
    match e {
        multipose::Error::Diverged(m) => assert!(m.contains("nothing is saved"), "{m}"),
        other => panic!("expected a divergence, got {other}"),
    }
    // An I/O error names its file and says its cause once.
    let missing = multipose(&["train", "--config", "no-such.toml"], &base, None);
    let message = text(&missing);
    assert!(!missing.status.success());
    assert!(message.contains("no-such.toml"), "{message}");
    assert_eq!(message.matches("os error 2").count(), 1, "{message}");
}

#[test]
fn resume_refuses_an_edited_config_and_extends_only_the_epochs() {
    let base = setup("extend", "none");
    let straight = train(&base, "straight", None);
    assert!(straight.status.success(), "{}", text(&straight));
    let short = train_with(&base, "short", &["--optim.epochs", "2"], None);
    assert!(short.status.success(), "{}", text(&short));
    let config = base.join("short/config.toml");
    let saved = std::fs::read_to_string(&config).unwrap();
    // A truncated config would fall back to defaults: refused, naming the keys.
    let lines: Vec<&str> = saved.lines().collect();
    std::fs::write(&config, lines[..lines.len() / 2].join("\n")).unwrap();
    let refused = multipose(&["train", "--resume", "short", "--quiet"], &base, None);
    assert!(!refused.status.success());
    let message = text(&refused);
    assert!(
        message.contains("config.toml") && message.contains("differs"),
        "{message}"
    );
    std::fs::write(&config, &saved).unwrap();
    // Only the epoch count may change on resume.
    let other = ["train", "--resume", "short", "--model.cutoff", "4.0"];
    let refused = multipose(&other, &base, None);
    assert!(!refused.status.success() && text(&refused).contains("only --optim.epochs"));
    // Extending the finished 2-epoch run to 3 equals training 3 epochs straight.
    let extend = [
        "train",
        "--resume",
        "short",
        "--optim.epochs",
        "3",
        "--quiet",
    ];
    let extended = multipose(&extend, &base, None);
    assert!(extended.status.success(), "{}", text(&extended));
    assert_eq!(
        std::fs::read_to_string(base.join("short/predictions.csv")).unwrap(),
        std::fs::read_to_string(base.join("straight/predictions.csv")).unwrap()
    );
    assert!(
        std::fs::read_to_string(&config)
            .unwrap()
            .contains("epochs = 3")
    );
    // A state claiming more epochs than the run has (checksums made to agree) is refused.
    let checkpoint = base.join("short/checkpoint");
    let state_path = checkpoint.join("state.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
    state["epochs_done"] = 999.into();
    let state_text = state.to_string();
    std::fs::write(&state_path, &state_text).unwrap();
    let sums_path = checkpoint.join("checksums.json");
    let mut sums: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sums_path).unwrap()).unwrap();
    use sha2::Digest;
    sums["state.json"] = format!("{:x}", sha2::Sha256::digest(state_text.as_bytes())).into();
    std::fs::write(&sums_path, sums.to_string()).unwrap();
    let refused = multipose(&["train", "--resume", "short", "--quiet"], &base, None);
    let message = text(&refused);
    assert!(
        !refused.status.success() && message.contains("999 epochs done"),
        "{message}"
    );
}

#[test]
fn a_compound_left_out_is_listed_or_with_strict_stops_the_run() {
    let base = setup("strict", "none");
    let labels = base.join("data/labels.csv");
    let table = std::fs::read_to_string(&labels).unwrap();
    let kept: Vec<&str> = table
        .lines()
        .filter(|l| !l.starts_with("lig_ejm_42,"))
        .collect();
    std::fs::write(&labels, kept.join("\n") + "\n").unwrap();
    let lenient = train(&base, "lenient", None);
    assert!(lenient.status.success(), "{}", text(&lenient));
    let summary = std::fs::read_to_string(base.join("lenient/summary.json")).unwrap();
    assert!(
        summary.contains("lig_ejm_42") && summary.contains("no label"),
        "{summary}"
    );
    let strict = train_with(&base, "strict", &["--data.strict", "true"], None);
    assert!(!strict.status.success());
    assert!(text(&strict).contains("lig_ejm_42"), "{}", text(&strict));
}

#[test]
fn damaged_or_non_finite_weights_are_refused_naming_the_file() {
    let (base, config) = setup_config("damaged");
    let run = train(&base, "run", None);
    assert!(run.status.success(), "{}", text(&run));
    // One flipped byte in the middle of the last weights.
    let weights = base.join("run/checkpoint/last.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5a;
    std::fs::write(&weights, &bytes).unwrap();
    for args in [
        vec!["train", "--resume", "run", "--optim.epochs", "4"],
        vec!["predict", "--model", "run", "data"],
    ] {
        let refused = multipose(&args, &base, None);
        let message = text(&refused);
        assert!(!refused.status.success(), "{args:?}");
        assert!(
            message.contains("last.safetensors") && message.contains("checksum"),
            "{args:?}: {message}"
        );
    }
    // A weights file with a NaN is refused when loaded, naming the tensor.
    bytes[middle] ^= 0x5a;
    let mut tensors = candle_core::safetensors::load(&weights, &candle_core::Device::Cpu).unwrap();
    let (name, t) = tensors
        .iter()
        .next()
        .map(|(k, v)| (k.clone(), v.clone()))
        .unwrap();
    let nan = (t.ones_like().unwrap() * f64::NAN).unwrap();
    tensors.insert(name.clone(), nan);
    let bad = base.join("nan.safetensors");
    candle_core::safetensors::save(&tensors, &bad).unwrap();
    let grouped =
        multipose::train::grouped_config(&config, multipose::dataset::Assay::Pki).unwrap();
    let mut params =
        multipose::model::Params::new(candle_core::DType::F32, &candle_core::Device::Cpu);
    multipose::combine::GroupedModel::new(&grouped, &params).unwrap();
    let e = multipose::model::load_weights(&mut params, &grouped.model, &bad).unwrap_err();
    assert!(
        e.to_string().contains(&name) && e.to_string().contains("NaN"),
        "{e}"
    );
}

#[test]
fn an_override_without_its_value_does_not_swallow_the_next_option() {
    let base = setup("novalue", "none");
    let args = ["train", "--optim.epochs", "--out", "x"];
    let o = multipose(&args, &base, None);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("`--optim.epochs` needs a value"),
        "{}",
        text(&o)
    );
    assert!(!base.join("x").exists());
}

#[test]
fn a_new_run_refuses_a_folder_of_other_files_or_of_a_run_without_its_checkpoint() {
    let base = setup("fresh", "none");
    // A folder of the user's own files: nothing in it is overwritten or appended to.
    let mine = base.join("mine");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(mine.join("predictions.csv"), "my notes\n").unwrap();
    let refused = train(&base, "mine", None);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("is not empty") && text(&refused).contains("predictions.csv"),
        "{}",
        text(&refused)
    );
    assert_eq!(
        std::fs::read_to_string(mine.join("predictions.csv")).unwrap(),
        "my notes\n"
    );
    // A finished run whose checkpoint/ was deleted: neither trained into again (which
    // would append epochs 1, 2, ... to its metrics.jsonl) nor resumed.
    let done = train(&base, "run", None);
    assert!(done.status.success(), "{}", text(&done));
    std::fs::remove_dir_all(base.join("run/checkpoint")).unwrap();
    let metrics = std::fs::read_to_string(base.join("run/metrics.jsonl")).unwrap();
    let again = train(&base, "run", None);
    assert!(!again.status.success());
    assert!(text(&again).contains("checkpoint"), "{}", text(&again));
    assert_eq!(
        std::fs::read_to_string(base.join("run/metrics.jsonl")).unwrap(),
        metrics
    );
    let resumed = multipose(&["train", "--resume", "run", "--quiet"], &base, None);
    assert!(!resumed.status.success());
    assert!(
        text(&resumed).contains("checkpoint/ was deleted"),
        "{}",
        text(&resumed)
    );
    // An empty folder is fine.
    std::fs::create_dir_all(base.join("empty")).unwrap();
    let fresh = train(&base, "empty", None);
    assert!(fresh.status.success(), "{}", text(&fresh));
}

#[test]
fn an_ensemble_of_runs_that_read_their_data_differently_is_refused() {
    let base = setup("ensemble-data", "none");
    let a = train_with(&base, "a", &["--data.pocket_radius", "5.0"], None);
    let b = train_with(&base, "b", &["--data.pocket_radius", "7.0"], None);
    assert!(a.status.success() && b.status.success(), "{}", text(&b));
    for (first, second) in [("a", "b"), ("b", "a")] {
        let out = multipose(
            &[
                "predict", "--model", first, "--model", second, "data", "--out", "p.csv",
            ],
            &base,
            None,
        );
        assert!(!out.status.success());
        let e = text(&out);
        assert!(
            e.contains("data.pocket_radius") && e.contains("separately"),
            "{e}"
        );
    }
    // Runs that agree still make an ensemble.
    let same = multipose(
        &[
            "predict", "--model", "a", "--model", "a", "data", "--out", "p.csv",
        ],
        &base,
        None,
    );
    assert!(same.status.success(), "{}", text(&same));
}

#[test]
fn predict_refuses_a_run_whose_config_was_edited_after_training() {
    let base = setup("edited", "none");
    let run = train(&base, "run", None);
    assert!(run.status.success(), "{}", text(&run));
    let config = base.join("run/config.toml");
    let saved = std::fs::read_to_string(&config).unwrap();
    assert!(saved.contains("combination = \"max\""), "{saved}");
    std::fs::write(
        &config,
        saved.replace("combination = \"max\"", "combination = \"mean\""),
    )
    .unwrap();
    for verb in ["predict", "evaluate"] {
        let out = multipose(
            &[verb, "--model", "run", "data", "--out", "p.csv"],
            &base,
            None,
        );
        assert!(!out.status.success(), "{verb} accepted the edit");
        let e = text(&out);
        assert!(
            e.contains("config.toml") && e.contains("model.combination"),
            "{e}"
        );
    }
    std::fs::write(&config, &saved).unwrap();
    let restored = multipose(
        &["predict", "--model", "run", "data", "--out", "p.csv"],
        &base,
        None,
    );
    assert!(restored.status.success(), "{}", text(&restored));
}

#[test]
fn predict_warns_of_a_ligand_far_from_its_receptor_without_a_pocket_crop() {
    let base = setup("far", "none");
    let run = train(&base, "run", None);
    assert!(run.status.success(), "{}", text(&run));
    let far = base.join("far");
    std::fs::create_dir_all(far.join("poses")).unwrap();
    std::fs::copy(base.join("data/receptor.pdb"), far.join("receptor.pdb")).unwrap();
    let text_sdf = std::fs::read_to_string(base.join("data/poses/lig_ejm_31.sdf")).unwrap();
    let first = text_sdf.split_inclusive("$$$$\n").next().unwrap();
    // Every atom line moved 60 Å along x: the pose is out of the receptor's frame.
    let moved: Vec<String> = first
        .lines()
        .map(
            |l| match l.len() > 40 && l[..10].trim().parse::<f64>().is_ok() {
                true => format!(
                    "{:10.4}{}",
                    l[..10].trim().parse::<f64>().unwrap() + 60.0,
                    &l[10..]
                ),
                false => l.to_string(),
            },
        )
        .collect();
    std::fs::write(far.join("poses/lig_ejm_31.sdf"), moved.join("\n") + "\n").unwrap();
    let out = multipose(
        &[
            "predict",
            "--model",
            "run",
            "far",
            "--pocket-radius",
            "0",
            "--out",
            "p.csv",
        ],
        &base,
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("warning") && text(&out).contains("no protein atom within"),
        "{}",
        text(&out)
    );
}

#[test]
fn predict_checks_its_out_path_before_predicting() {
    let base = setup("unwritable", "none");
    let run = train(&base, "run", None);
    assert!(run.status.success(), "{}", text(&run));
    let out = multipose(
        &[
            "predict",
            "--model",
            "run",
            "data",
            "--out",
            "no/such/dir/p.csv",
        ],
        &base,
        None,
    );
    assert!(!out.status.success());
    let e = text(&out);
    assert!(
        e.contains("--out") && e.contains("no/such/dir/p.csv"),
        "{e}"
    );
    // Refused before the models ran: nothing about predicted compounds was printed.
    assert!(!e.contains("poses/s"), "{e}");
}
