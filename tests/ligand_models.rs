//! Ligand-only models on real Polaris compounds: fitted, saved and read back as an
//! ensemble member of `predict`, scored out of fold by the benchmark's folds, and the
//! errors a user meets.

use multipose::baseline::{LigandModelKind, SavedLigandModel};
use multipose::benchmark::{Regime, all_features, fold_splits, ligand_predictions};
use multipose::dataset::{CompoundData, DatasetSpec, open};
use multipose::train::{Member, TrainConfig, load_members};
use std::path::{Path, PathBuf};

/// The first `n` compounds of each Polaris target (embedded conformers) as a dataset of
/// two targets in a temporary folder.
fn polaris_slice(n: usize, tag: &str) -> PathBuf {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/polaris/embedded");
    let dir = std::env::temp_dir().join(format!("multipose-ligand-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for target in ["sars_cov_2_mpro", "mers_cov_mpro"] {
        let (from, to) = (src.join(target), dir.join(target));
        std::fs::create_dir_all(to.join("poses")).unwrap();
        std::fs::copy(from.join("receptor.pdb"), to.join("receptor.pdb")).unwrap();
        let labels = std::fs::read_to_string(from.join("labels.csv")).unwrap();
        let kept: Vec<&str> = labels.lines().take(n + 1).collect();
        std::fs::write(to.join("labels.csv"), kept.join("\n") + "\n").unwrap();
        for line in &kept[1..] {
            let id = line.split(',').next().unwrap();
            let f = format!("{id}.sdf.gz");
            std::fs::copy(from.join("poses").join(&f), to.join("poses").join(&f)).unwrap();
        }
    }
    dir
}

fn load(dir: &Path) -> Vec<CompoundData> {
    let options = DatasetSpec {
        pocket_radius: Some(6.0),
        ..DatasetSpec::default()
    };
    open(dir, &options).unwrap().compounds
}

#[test]
fn a_saved_fingerprint_model_predicts_through_the_ensemble_loader() {
    let dir = polaris_slice(60, "saved");
    let compounds = load(&dir);
    assert_eq!(compounds.len(), 120);
    let fitted = SavedLigandModel::fit(LigandModelKind::Fingerprint, &compounds).unwrap();
    assert_eq!(fitted.targets, vec!["mers_cov_mpro", "sars_cov_2_mpro"]);
    assert_eq!(fitted.compounds, vec![60, 60]);
    let model_dir = dir.join("model");
    fitted.save(&model_dir).unwrap();
    // An ensemble folder that lists it.
    std::fs::write(dir.join("ensemble.json"), r#"{"members": ["model"]}"#).unwrap();
    let members = load_members(std::slice::from_ref(&dir), &candle_core::Device::Cpu).unwrap();
    assert_eq!(members.len(), 1);
    assert!(matches!(members[0].1, Member::Ligand(_)));
    let preds = members[0].1.predict(&compounds).unwrap();
    let direct = fitted.predict(&compounds).unwrap();
    for ((p, d), c) in preds.iter().zip(&direct).zip(&compounds) {
        assert_eq!(p.output, *d);
        assert_eq!(p.poses.len(), c.poses.len());
        assert!(p.output.is_finite());
    }
    // Training compounds are fitted better than the mean does.
    let mae = |f: &dyn Fn(usize) -> f64| -> f64 {
        compounds
            .iter()
            .enumerate()
            .map(|(i, c)| (f(i) - c.label.as_ref().unwrap().value).abs())
            .sum::<f64>()
            / 120.0
    };
    let mean = SavedLigandModel::fit(LigandModelKind::TrainMean, &compounds)
        .unwrap()
        .predict(&compounds)
        .unwrap();
    assert!(mae(&|i| direct[i]) < mae(&|i| mean[i]));

    // A compound of a target the model never saw is refused, naming the targets.
    let mut other = compounds[..1].to_vec();
    other[0].target = "cathepsin".into();
    let e = fitted.predict(&other).unwrap_err().to_string();
    assert!(
        e.contains("cathepsin") && e.contains("mers_cov_mpro, sars_cov_2_mpro"),
        "{e}"
    );
    // A model file of another format or radius is refused, not misread.
    let text = std::fs::read_to_string(model_dir.join("ligand_model.json")).unwrap();
    std::fs::write(
        model_dir.join("ligand_model.json"),
        text.replace("\"morgan_radius\":3", "\"morgan_radius\":2"),
    )
    .unwrap();
    let e = SavedLigandModel::load(&model_dir).unwrap_err().to_string();
    assert!(e.contains("refit"), "{e}");
    std::fs::write(dir.join("ensemble.json"), r#"{"members": []}"#).unwrap();
    let e = load_members(std::slice::from_ref(&dir), &candle_core::Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("no members"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ligand_arms_score_every_compound_once_out_of_fold() {
    let dir = polaris_slice(40, "folds");
    let compounds = load(&dir);
    let mut base = TrainConfig::default();
    base.split.group = multipose::train::SplitGroup::Cluster;
    let splits = fold_splits(&base, &compounds, 4, Regime::Within).unwrap();
    let feats = all_features(&compounds);
    for kind in [
        LigandModelKind::TrainMean,
        LigandModelKind::MwLinear,
        LigandModelKind::Fingerprint,
    ] {
        let scored = ligand_predictions(kind, &compounds, &feats, &splits);
        let mut ids: Vec<&str> = scored.iter().map(|s| s.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!((scored.len(), ids.len()), (80, 80), "{kind}");
        assert!(scored.iter().all(|s| s.prediction.is_finite()));
    }
    // A ligand on both targets is tested in one fold.
    for s in &splits {
        for &i in &s.test {
            let name = compounds[i].id.split_once('/').unwrap().1;
            for (j, c) in compounds.iter().enumerate() {
                if c.id.ends_with(&format!("/{name}")) {
                    assert!(
                        s.test.contains(&j),
                        "{} tested apart from {}",
                        c.id,
                        compounds[i].id
                    );
                }
            }
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
