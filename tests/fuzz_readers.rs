//! Mutation fuzzing of every reader on a committed seed corpus (`tests/fixtures/fuzz/`,
//! made by `tools/fuzz/make_corpus.py`): random bit flips, byte changes, deletions,
//! duplications, insertions and truncations of a valid file must give a value or an
//! error, never a panic. proptest drives the mutations (cargo-fuzz needs a nightly
//! toolchain) and shrinks a failure to a minimal one.
//!
//! `MULTIPOSE_FUZZ_CASES` sets the cases per reader (default 256, a few seconds each in
//! CI); `MULTIPOSE_FUZZ_SECONDS` runs rounds of that many cases, each with a fresh random
//! seed, until the time is up. A long run, every reader in parallel:
//! `MULTIPOSE_FUZZ_CASES=5000 MULTIPOSE_FUZZ_SECONDS=600 cargo test --release --test
//! fuzz_readers -- --nocapture` (each reader prints its count).

mod common;

use multipose::chem::{MolGraph, morgan_counts};
use multipose::combine::GroupedModel;
use multipose::dataset::{GraphCache, read_labels};
use multipose::dock::read_input;
use multipose::graph::GraphConfig;
use multipose::model::{Params, StrategyKind, load_weights, save_weights};
use multipose::structure::{parse_mol2, parse_sdf, read_ligands, read_protein};
use multipose::train::{TrainConfig, grouped_config};
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn corpus(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/fuzz")
            .join(name),
    )
    .unwrap()
}

fn cases() -> u32 {
    std::env::var("MULTIPOSE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// One edit of a byte string.
#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Set(usize, u8),
    Delete(usize, usize),
    Duplicate(usize, usize),
    Insert(usize, Vec<u8>),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    // Bytes that matter to text formats, as well as arbitrary ones.
    let byte = prop_oneof![
        any::<u8>(),
        Just(b'\n'),
        Just(b' '),
        Just(b'-'),
        Just(b'0'),
        Just(b'9'),
        Just(b'.'),
        Just(b','),
        Just(b'"'),
    ];
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(i, b)| Edit::Flip(i, 1 << b)),
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Edit::Set(i, b)),
        (any::<usize>(), 1usize..64).prop_map(|(i, n)| Edit::Delete(i, n)),
        (any::<usize>(), 1usize..200).prop_map(|(i, n)| Edit::Duplicate(i, n)),
        (any::<usize>(), prop::collection::vec(byte, 1..12)).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(seed: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for e in edits {
        let at = |i: usize, v: &Vec<u8>| if v.is_empty() { 0 } else { i % v.len() };
        match e {
            Edit::Flip(i, m) if !v.is_empty() => {
                let k = at(*i, &v);
                v[k] ^= m;
            }
            Edit::Set(i, b) if !v.is_empty() => {
                let k = at(*i, &v);
                v[k] = *b;
            }
            Edit::Delete(i, n) => {
                let k = at(*i, &v);
                let end = (k + n).min(v.len());
                v.drain(k..end);
            }
            Edit::Duplicate(i, n) => {
                let k = at(*i, &v);
                let end = (k + n).min(v.len());
                let piece = v[k..end].to_vec();
                v.splice(k..k, piece);
            }
            Edit::Insert(i, b) => {
                let k = at(*i, &v);
                v.splice(k..k, b.iter().copied());
            }
            Edit::Truncate(i) => {
                let k = at(*i, &v);
                v.truncate(k);
            }
            _ => {}
        }
    }
    v
}

fn mutations() -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec(edit(), 1..6)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Runs `body` on mutations: one round of [`cases`] cases, or rounds until
/// `MULTIPOSE_FUZZ_SECONDS` have passed; a failure panics with proptest's minimal case.
fn fuzz(reader: &str, body: impl Fn(Vec<Edit>) -> Result<(), TestCaseError>) {
    let seconds: Option<f64> = std::env::var("MULTIPOSE_FUZZ_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok());
    let started = Instant::now();
    let mut total = 0u64;
    loop {
        let mut runner = TestRunner::new(config());
        if let Err(e) = runner.run(&mutations(), &body) {
            panic!("{reader}: {e}");
        }
        total += u64::from(cases());
        if seconds.is_none_or(|s| started.elapsed().as_secs_f64() >= s) {
            break;
        }
    }
    eprintln!(
        "fuzz {reader}: {total} cases in {:.0} s, no panic",
        started.elapsed().as_secs_f64()
    );
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("multipose-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn sdf() {
    fuzz("sdf", |edits| {
        let bytes = apply(&corpus("ligand.sdf"), &edits);
        let _ = parse_sdf(&String::from_utf8_lossy(&bytes), Path::new("fuzz.sdf"));
        Ok(())
    });
}

#[test]
fn sdf_gz_and_ligand_chemistry() {
    // Mutations of the compressed file (gzip's framing and checksum) and of the text
    // inside it; whatever parses goes through the ligand chemistry too.
    let text = corpus("ligand.sdf");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &text).unwrap();
    let seed = gz.finish().unwrap();
    let path = scratch("ligand.sdf.gz");
    fuzz("sdf_gz", |edits| {
        std::fs::write(&path, apply(&seed, &edits)).unwrap();
        let _ = read_ligands(&path);
        if let Ok(mols) = parse_sdf(
            &String::from_utf8_lossy(&apply(&text, &edits)),
            Path::new("f.sdf"),
        ) {
            for m in mols {
                let g = MolGraph::new(&m.z, &m.bonds);
                let _ = (g.molecular_weight(), morgan_counts(&g, 3));
            }
        }
        Ok(())
    });
}

#[test]
fn compound_csv() {
    fuzz_file("compound_csv", "compounds.csv", |p| {
        let _ = read_input(p, "compound_id", None, &["pIC50_sars_cov_2_mpro"]);
    });
}

#[test]
fn mol2() {
    fuzz("mol2", |edits| {
        let bytes = apply(&corpus("ligand.mol2"), &edits);
        let _ = parse_mol2(&String::from_utf8_lossy(&bytes), Path::new("fuzz.mol2"));
        Ok(())
    });
}

/// Fuzzes a reader that takes a path: each mutation of corpus file `name` is written to
/// a scratch file of that name and read.
fn fuzz_file(reader: &str, name: &str, read: impl Fn(&Path)) {
    let path = scratch(name);
    let seed = corpus(name);
    fuzz(reader, |edits| {
        std::fs::write(&path, apply(&seed, &edits)).unwrap();
        read(&path);
        Ok(())
    });
}

#[test]
fn pdb() {
    fuzz_file("pdb", "receptor.pdb", |p| {
        let _ = read_protein(p, false);
    });
}

#[test]
fn labels_csv() {
    fuzz_file("labels_csv", "labels.csv", |p| {
        let _ = read_labels(p);
    });
}

#[test]
fn labels_json() {
    fuzz_file("labels_json", "labels.json", |p| {
        let _ = read_labels(p);
    });
}

#[test]
fn config_toml() {
    fuzz("config_toml", |edits| {
        let bytes = apply(&corpus("config.toml"), &edits);
        let _ = TrainConfig::from_toml(&String::from_utf8_lossy(&bytes), &[]);
        Ok(())
    });
}

#[test]
fn graph_cache() {
    let poses = common::poses(12, 5, 3, 7);
    let dir = scratch("cache");
    let cache = GraphCache::new(&dir).unwrap();
    let g = GraphConfig::default();
    let (good, _) = cache
        .get_or_build("c", &poses, StrategyKind::Complex, &g)
        .unwrap();
    let key = multipose::dataset::cache_key(&poses, StrategyKind::Complex, &g);
    let file = dir.join(format!("{key}.safetensors"));
    let valid = std::fs::read(&file).unwrap();
    fuzz("graph_cache", |edits| {
        std::fs::write(&file, apply(&valid, &edits)).unwrap();
        // Whatever the file now holds, the graphs come back right.
        let (again, _) = cache
            .get_or_build("c", &poses, StrategyKind::Complex, &g)
            .unwrap();
        prop_assert_eq!(&again, &good);
        Ok(())
    });
}

#[test]
fn weights() {
    let config = TrainConfig::default();
    let grouped = grouped_config(&config, multipose::dataset::Assay::Pki).unwrap();
    let params = Params::new(candle_core::DType::F32, &candle_core::Device::Cpu);
    GroupedModel::new(&grouped, &params).unwrap();
    let path = scratch("weights.safetensors");
    save_weights(&params, &grouped.model, &path).unwrap();
    let valid = std::fs::read(&path).unwrap();
    let params = std::sync::Mutex::new(params);
    fuzz("weights", |edits| {
        std::fs::write(&path, apply(&valid, &edits)).unwrap();
        let mut params = params.lock().unwrap_or_else(|e| e.into_inner());
        let _ = load_weights(&mut params, &grouped.model, &path);
        Ok(())
    });
}
