//! Ligand chemistry (src/chem) against RDKit on 52 Polaris compounds: molecular weight,
//! aromatic atoms, rings and hydrogens, read from Kekulé SDF records as `multipose dock`
//! writes them (fixture: tools/dock/chem_golden.py).

use multipose::chem::{MolGraph, morgan_counts};
use multipose::structure::read_ligands;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/chem")
        .join(name)
}

#[test]
fn weight_aromaticity_rings_and_hydrogens_match_rdkit() {
    let mols = read_ligands(&fixture("sample.sdf")).unwrap();
    let mut table = csv::Reader::from_path(fixture("rdkit.csv")).unwrap();
    let rows: Vec<csv::StringRecord> = table.records().map(|r| r.unwrap()).collect();
    assert_eq!(mols.len(), rows.len());
    assert!(rows.len() >= 50);
    let mut aromatic_off = Vec::new();
    for (m, r) in mols.iter().zip(&rows) {
        assert_eq!(m.title, &r[0]);
        let g = MolGraph::new(&m.z, &m.bonds);
        let mw: f64 = r[1].parse().unwrap();
        assert!(
            (g.molecular_weight() - mw).abs() < 0.05,
            "{}: MW {} vs RDKit {mw}",
            &r[0],
            g.molecular_weight()
        );
        let h: u32 = r[4].parse().unwrap();
        assert_eq!(g.hydrogens.iter().sum::<u32>(), h, "{}: hydrogens", &r[0]);
        let rings: usize = r[3].parse().unwrap();
        assert_eq!(g.rings.len(), rings, "{}: rings", &r[0]);
        let aromatic: usize = r[2].parse().unwrap();
        let ours = g.aromatic.iter().filter(|&&a| a).count();
        if ours != aromatic {
            aromatic_off.push(format!("{}: {ours} vs RDKit {aromatic}", &r[0]));
        }
    }
    // Hückel per ring is RDKit's model for these drug-like ring systems.
    assert!(
        aromatic_off.is_empty(),
        "aromatic atoms differ: {aromatic_off:?}"
    );
}

#[test]
fn fingerprints_of_a_record_and_its_renumbered_copy_agree() {
    let mols = read_ligands(&fixture("sample.sdf")).unwrap();
    for m in mols.iter().take(10) {
        let n = m.z.len();
        // Reverse the atom order.
        let z: Vec<u32> = m.z.iter().rev().copied().collect();
        let bonds: Vec<(usize, usize, u8)> = m
            .bonds
            .iter()
            .map(|&(a, b, o)| (n - 1 - a, n - 1 - b, o))
            .collect();
        let a = morgan_counts(&MolGraph::new(&m.z, &m.bonds), 3);
        let b = morgan_counts(&MolGraph::new(&z, &bonds), 3);
        assert_eq!(a, b, "{}", m.title);
    }
}
