//! `multipose bench --data`: epochs over a real dataset, packed and not, and the dump the
//! mtenn comparison script reads.

mod common;

use std::process::{Command, Output};

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_multipose"))
        .arg("bench")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn epochs_over_a_real_dataset_packed_or_not_give_the_same_loss() {
    let dir = std::env::temp_dir().join(format!("multipose-bench-data-{}", std::process::id()));
    common::tyk2_slice(&dir);
    let data = dir.to_str().unwrap();
    let small = ["--compounds", "3", "--pocket-radius", "6", "--json"];
    let out = bench(&[&["--data", data, "--pack", "true,false"], &small[..]].concat());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    for r in &rows {
        // The slice keeps 3 poses of each compound; the first 3 compounds are timed.
        assert_eq!(
            (r["compounds"].as_u64(), r["total_poses"].as_u64()),
            (Some(3), Some(9))
        );
        assert!(r["epoch_s"].as_f64().unwrap() > 0.0);
    }
    let (a, b) = (
        rows[0]["loss"].as_f64().unwrap(),
        rows[1]["loss"].as_f64().unwrap(),
    );
    assert!(
        a.is_finite() && (a - b).abs() <= 1e-5 * a.abs().max(1.0),
        "{a} vs {b}"
    );

    let dump = dir.join("dump");
    let out = bench(&[
        "--data",
        data,
        "--compounds",
        "3",
        "--dump",
        dump.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let settings: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dump.join("settings.json")).unwrap())
            .unwrap();
    let compounds = settings["compounds"].as_array().unwrap();
    assert_eq!(compounds.len(), 3);
    assert!(
        compounds
            .iter()
            .all(|c| c["n_poses"] == 3 && c["target"].is_f64())
    );
    let inputs = std::fs::read(dump.join("inputs.safetensors")).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&inputs).unwrap();
    assert_eq!(
        tensors.len(),
        3 * 3 * 3,
        "z, pos and ligand mask of 9 poses"
    );
    assert!(dump.join("weights.safetensors").is_file());
    std::fs::remove_dir_all(&dir).ok();
}
