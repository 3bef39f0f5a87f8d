//! Reading the files users have: real PDB / mmCIF / SDF / MOL2 / label tables, pose
//! grouping, pocket cropping, the graph cache, and errors that name file and line.

use multipose::Error;
use multipose::dataset::{
    Assay, DatasetSpec, GraphCache, GroupBy, Lookup, Qualifier, load, read_labels,
};
use multipose::graph::GraphConfig;
use multipose::model::StrategyKind;
use multipose::structure::{parse_sdf, read_protein, read_sdf};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(rel: &str) -> PathBuf {
    root().join("tests/fixtures/data").join(rel)
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("multipose-data-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn tyk2_pdb_elements_with_charges_caps_and_waters() {
    let path = root().join("data/tyk2/receptor.pdb");
    let heavy = read_protein(&path, false).unwrap();
    // 4,658 atoms of which 2,316 hydrogens; `N1+` / `O1-` element columns parse as N / O.
    assert_eq!(heavy.len(), 2342);
    assert_eq!(heavy.dropped_hydrogens, 2316);
    assert_eq!(heavy.z.iter().filter(|&&z| z == 7).count(), 369 + 35);
    assert_eq!(heavy.z.iter().filter(|&&z| z == 8).count(), 386 + 37);
    assert_eq!(heavy.z.iter().filter(|&&z| z == 16).count(), 13);
    assert!(heavy.residue.iter().any(|r| r == "ACE"));
    assert!(heavy.residue.iter().any(|r| r == "NME"));
    assert_eq!(heavy.waters(), 2);
    let all = read_protein(&path, true).unwrap();
    assert_eq!(all.len(), 4658);
}

#[test]
fn a_gzipped_receptor_reads_as_the_plain_file_and_a_corrupt_one_is_named() {
    let plain = root().join("data/tyk2/receptor.pdb");
    let gz = tmp("receptor.pdb.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, &std::fs::read(&plain).unwrap()).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let (a, b) = (
        read_protein(&plain, false).unwrap(),
        read_protein(&gz, false).unwrap(),
    );
    assert_eq!((a.z, a.pos), (b.z, b.pos));
    // A dataset folder finds it as its receptor.
    let dir = tmp("gz_dataset");
    std::fs::create_dir_all(dir.join("poses")).unwrap();
    std::fs::copy(&gz, dir.join("receptor.pdb.gz")).unwrap();
    let pose = root().join("data/tyk2/poses/lig_ejm_31.sdf");
    std::fs::copy(pose, dir.join("poses/lig_ejm_31.sdf")).unwrap();
    let spec = multipose::dataset::DatasetSpec::from_dir(&dir).unwrap();
    assert_eq!(spec.receptor, Some(dir.join("receptor.pdb.gz")));
    let bad = tmp("bad.pdb.gz");
    std::fs::write(&bad, b"ATOM  not gzip").unwrap();
    let e = read_protein(&bad, false).unwrap_err().to_string();
    assert!(e.contains("bad.pdb.gz") && e.contains("gzip"), "{e}");
}

#[test]
fn mmcif_reads_the_same_atoms_as_pdb() {
    let pdb_path = root().join("data/tyk2/receptor.pdb");
    let (pdb, _) = pdbtbx::ReadOptions::new()
        .set_level(pdbtbx::StrictnessLevel::Loose)
        .read(pdb_path.to_str().unwrap())
        .unwrap();
    let cif = tmp("tyk2.cif");
    pdbtbx::save(&pdb, cif.to_str().unwrap(), pdbtbx::StrictnessLevel::Loose).unwrap();
    let a = read_protein(&pdb_path, false).unwrap();
    let b = read_protein(&cif, false).unwrap();
    assert_eq!(a.z, b.z);
    for (p, q) in a.pos.iter().zip(&b.pos) {
        assert!(
            (p[0] - q[0]).abs() < 1e-3 && (p[1] - q[1]).abs() < 1e-3 && (p[2] - q[2]).abs() < 1e-3
        );
    }
}

#[test]
fn multi_record_sdf_and_grouping() {
    let vina = read_sdf(&fixture("vina-multipose/vina_output.sdf")).unwrap();
    assert_eq!(vina.len(), 9, "9 Vina poses, the last without $$$$");
    assert!(vina.iter().all(|m| m.z == vina[0].z));
    let heavy = vina[0].without_hydrogens();
    assert!(heavy.z.iter().all(|&z| z != 1) && heavy.z.len() < vina[0].z.len());
    assert!(
        heavy
            .bonds
            .iter()
            .all(|&(a, b, _)| a < heavy.z.len() && b < heavy.z.len())
    );

    // The bundled poses carry compound ids and RMSDs as data fields.
    let tyk2 = read_sdf(&root().join("data/tyk2/poses/lig_ejm_31.sdf")).unwrap();
    assert!(tyk2.len() >= 2);
    assert!(
        tyk2.iter()
            .all(|m| m.property("compound_id") == Some("lig_ejm_31"))
    );
    assert_eq!(tyk2[0].property("pose_source"), Some("glide"));

    // One SDF holding two compounds' poses, grouped by a data field.
    let mut text = String::new();
    for (i, m) in tyk2.iter().take(2).enumerate() {
        let _ = m;
        let record =
            std::fs::read_to_string(root().join("data/tyk2/poses/lig_ejm_31.sdf")).unwrap();
        let first = record
            .split("$$$$")
            .next()
            .unwrap()
            .trim_start_matches('\n')
            .to_string();
        text.push_str(&first.replace("lig_ejm_31\n", &format!("cmpd_{i}\n")));
        text.push_str("$$$$\n");
    }
    let dir = tmp("grouped");
    std::fs::create_dir_all(dir.join("poses")).unwrap();
    std::fs::write(dir.join("poses/all.sdf"), &text).unwrap();
    std::fs::write(
        dir.join("labels.csv"),
        "compound_id,value,unit,type\ncmpd_0,7,,pKi\ncmpd_1,6,,pKi\n",
    )
    .unwrap();
    std::fs::copy(
        root().join("data/tyk2/receptor.pdb"),
        dir.join("receptor.pdb"),
    )
    .unwrap();
    let mut spec = DatasetSpec::from_dir(&dir).unwrap();
    spec.group_by = GroupBy::Property("compound_id".into());
    let data = load(&spec).unwrap();
    assert_eq!(data.compounds.len(), 2);
    spec.group_by = GroupBy::File;
    let data = load(&spec).unwrap();
    assert_eq!(data.compounds.len(), 0);
    assert_eq!(
        data.skipped.len(),
        3,
        "all.sdf has no label; cmpd_0/1 have no poses"
    );
}

#[test]
fn v3000_and_mol2_read_the_same_molecule_as_v2000() {
    let v2000 = read_sdf(&root().join("data/tyk2/poses/lig_ejm_31.sdf"))
        .unwrap()
        .remove(0);
    // A V3000 block of the same molecule.
    let mut t = format!(
        "{}\n  test\n\n  0  0  0     0  0            999 V3000\n",
        v2000.title
    );
    t.push_str("M  V30 BEGIN CTAB\n");
    t.push_str(&format!(
        "M  V30 COUNTS {} {} 0 0 0\nM  V30 BEGIN ATOM\n",
        v2000.z.len(),
        v2000.bonds.len()
    ));
    let symbols = |z: u32| match z {
        1 => "H",
        6 => "C",
        7 => "N",
        8 => "O",
        9 => "F",
        16 => "S",
        17 => "Cl",
        _ => "Br",
    };
    for (i, (z, p)) in v2000.z.iter().zip(&v2000.pos).enumerate() {
        t.push_str(&format!(
            "M  V30 {} {} {:.4} {:.4} -\nM  V30 {:.4} 0\n",
            i + 1,
            symbols(*z),
            p[0],
            p[1],
            p[2]
        ));
    }
    t.push_str("M  V30 END ATOM\nM  V30 BEGIN BOND\n");
    for (i, (a, b, o)) in v2000.bonds.iter().enumerate() {
        t.push_str(&format!("M  V30 {} {} {} {}\n", i + 1, o, a + 1, b + 1));
    }
    t.push_str("M  V30 END BOND\nM  V30 END CTAB\nM  END\n$$$$\n");
    let v3000 = parse_sdf(&t, Path::new("v3000.sdf")).unwrap().remove(0);
    assert_eq!(v3000.z, v2000.z);
    assert_eq!(v3000.bonds, v2000.bonds);
    for (p, q) in v3000.pos.iter().zip(&v2000.pos) {
        assert!((p[0] - q[0]).abs() < 1e-4 && (p[2] - q[2]).abs() < 1e-4);
    }
    // The same molecule as MOL2 (SYBYL atom types).
    let mut m = format!(
        "@<TRIPOS>MOLECULE\n{}\n{} {}\nSMALL\nNO_CHARGES\n\n@<TRIPOS>ATOM\n",
        v2000.title,
        v2000.z.len(),
        v2000.bonds.len()
    );
    for (i, (z, p)) in v2000.z.iter().zip(&v2000.pos).enumerate() {
        let ty = match z {
            6 => "C.ar",
            7 => "N.am",
            8 => "O.2",
            17 => "Cl",
            1 => "H",
            _ => "S.3",
        };
        m.push_str(&format!(
            "{} A{} {:.4} {:.4} {:.4} {} 1 LIG 0.0\n",
            i + 1,
            i + 1,
            p[0],
            p[1],
            p[2],
            ty
        ));
    }
    m.push_str("@<TRIPOS>BOND\n");
    for (i, (a, b, o)) in v2000.bonds.iter().enumerate() {
        m.push_str(&format!(
            "{} {} {} {}\n",
            i + 1,
            a + 1,
            b + 1,
            if *o == 4 { "ar".into() } else { o.to_string() }
        ));
    }
    let mol2 = multipose::structure::parse_mol2(&m, Path::new("x.mol2"))
        .unwrap()
        .remove(0);
    assert_eq!(mol2.z, v2000.z);
    assert_eq!(mol2.bonds.len(), v2000.bonds.len());
}

#[test]
fn labels_with_mixed_units_qualifiers_and_standard_errors() {
    let tyk2 = read_labels(&root().join("data/tyk2/labels.csv")).unwrap();
    assert_eq!(tyk2.len(), 13);
    assert!(
        tyk2.iter()
            .all(|l| l.assay == Assay::Pki && l.stderr.is_some())
    );
    let ejm31 = tyk2.iter().find(|l| l.compound_id == "lig_ejm_31").unwrap();
    assert!(
        (ejm31.value - (-(0.096e-6f64).log10())).abs() < 1e-9,
        "0.096 µM Ki"
    );
    let nm = std::fs::read_to_string(root().join("data/tyk2/labels.csv")).unwrap();
    assert!(nm.contains(",nM,"), "the bundled table mixes µM and nM");

    let path = tmp("labels.csv");
    std::fs::write(
        &path,
        "id,value,unit,type,stderr,date\na,<10,uM,IC50,,2020-01-02\nb,>100,nM,IC50,5,2021-03-04\nc,6.5,,pIC50,0.2,\nd,-9.5,kcal/mol,dG,,\n",
    )
    .unwrap();
    let l = read_labels(&path).unwrap();
    assert_eq!(
        (l[0].qualifier, l[0].assay),
        (Qualifier::Above, Assay::Pic50)
    );
    assert!((l[0].value - 5.0).abs() < 1e-12);
    assert_eq!(l[1].qualifier, Qualifier::Below);
    assert!((l[1].value - 7.0).abs() < 1e-12);
    assert!((l[1].stderr.unwrap() - 5.0 / (100.0 * std::f64::consts::LN_10)).abs() < 1e-12);
    assert_eq!(l[0].date.as_deref(), Some("2020-01-02"));
    assert_eq!(l[2].stderr, Some(0.2));
    assert!((l[3].value - 9.5 / (0.592_487 * std::f64::consts::LN_10)).abs() < 1e-9);

    let json = tmp("asap.json");
    std::fs::write(
        &json,
        r#"[{"compound_id": "ASAP-1", "date_created": "2022-05-01", "experimental_data": {"pIC50": 5.2, "pIC50_stderr": 0.1, "pIC50_range": 0}},
            {"compound_id": "ASAP-2", "experimental_data": {"pIC50": 4.0, "pIC50_range": -1}}]"#,
    )
    .unwrap();
    let l = read_labels(&json).unwrap();
    assert_eq!(l[0].stderr, Some(0.1));
    assert_eq!(l[1].qualifier, Qualifier::Below);
}

#[test]
fn bad_labels_name_file_and_line() {
    let cases = [
        ("compound_id,value\na,7\na,8\n", "two labels"),
        ("compound_id,value\na,nan\n", ":2:"),
        (
            "compound_id,value,unit,type\na,3,parsecs,IC50\n",
            "unknown concentration unit",
        ),
        (
            "compound_id,value,type\na,3,potency\n",
            "unknown measurement type",
        ),
        ("compound_id,value\na,seven\n", ":2:"),
        ("name\na\n", "no `value` column"),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let path = tmp(&format!("bad{i}.csv"));
        std::fs::write(&path, text).unwrap();
        let e = read_labels(&path).unwrap_err().to_string();
        assert!(e.contains(want), "{text:?}: {e}");
        assert!(e.contains(&format!("bad{i}.csv")), "{e}");
    }
}

#[test]
fn bad_structure_lines_name_file_and_line() {
    let good = std::fs::read_to_string(fixture("pdbbind/1a28_ligand.sdf")).unwrap();
    let lines: Vec<&str> = good.lines().collect();
    // Line 5 is the first atom line.
    let mut broken = lines.clone();
    let bad_atom = lines[4]
        .replacen(" C ", " Xx ", 1)
        .replacen(" O ", " Xx ", 1)
        .replacen(" N ", " Xx ", 1);
    broken[4] = &bad_atom;
    let e = parse_sdf(&broken.join("\n"), Path::new("lig.sdf")).unwrap_err();
    assert!(matches!(e, Error::Parse { line: 5, .. }), "{e}");
    assert!(e.to_string().starts_with("lig.sdf:5:"), "{e}");
    let mut broken = lines.clone();
    broken[4] = "   12.0  abc  1.0 C   0  0";
    let e = parse_sdf(&broken.join("\n"), Path::new("lig.sdf"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("lig.sdf:5") && e.contains("y coordinate"), "{e}");
    let mut broken = lines.clone();
    broken[3] = "xx";
    let e = parse_sdf(&broken.join("\n"), Path::new("lig.sdf"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("lig.sdf:4") && e.contains("atom count"), "{e}");
    // A NaN coordinate is named at its line, not later by its atom in the complex.
    let mut broken = lines.clone();
    let nan_atom = format!("{:>10}{}", "nan", &lines[5][10..]);
    broken[5] = &nan_atom;
    let e = parse_sdf(&broken.join("\n"), Path::new("lig.sdf"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("lig.sdf:6") && e.contains("x coordinate"), "{e}");
    // A counts line announcing more atoms than the block holds.
    let atoms: usize = lines[3][0..3].trim().parse().unwrap();
    let mut broken = lines.clone();
    let more = format!("{:>3}{}", atoms + 2, &lines[3][3..]);
    broken[3] = &more;
    let e = parse_sdf(&broken.join("\n"), Path::new("lig.sdf"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("counts line") && e.contains("more atoms"), "{e}");
    let truncated = lines[..8].join("\n");
    let e = parse_sdf(&truncated, Path::new("lig.sdf"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("file ends"), "{e}");
    let e = multipose::structure::parse_mol2(
        "@<TRIPOS>MOLECULE\nx\n@<TRIPOS>ATOM\n1 C1 0 0 zero C.3\n",
        Path::new("m.mol2"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("m.mol2:4:"), "{e}");
    let pdb = tmp("noelement.pdb");
    std::fs::write(
        &pdb,
        "ATOM      1  CA  ALA A   1      11.104  13.207   2.100  1.00  0.00\nEND\n",
    )
    .unwrap();
    let e = read_protein(&pdb, false).unwrap_err().to_string();
    assert!(
        e.contains("no element symbol") || e.contains("noelement.pdb"),
        "{e}"
    );
}

#[test]
fn pocket_crop_keeps_exactly_the_atoms_within_the_radius() {
    let mut spec = DatasetSpec::from_dir(&root().join("data/tyk2")).unwrap();
    let full = load(&spec).unwrap();
    spec.pocket_radius = Some(6.0);
    let cropped = load(&spec).unwrap();
    let receptor = read_protein(&root().join("data/tyk2/receptor.pdb"), false).unwrap();
    for (c, f) in cropped.compounds.iter().zip(&full.compounds) {
        assert_eq!(c.protein_atoms, receptor.len());
        assert!(c.pocket_atoms < receptor.len() && c.pocket_atoms > 50);
        let ligand: Vec<[f64; 3]> = c
            .poses
            .iter()
            .flat_map(|p| {
                let mask = p.ligand_mask().unwrap();
                p.pos()
                    .iter()
                    .zip(mask)
                    .filter(|(_, m)| **m)
                    .map(|(x, _)| *x)
                    .collect::<Vec<_>>()
            })
            .collect();
        let near = |q: &[f64; 3]| {
            ligand.iter().any(|l| {
                (l[0] - q[0]).powi(2) + (l[1] - q[1]).powi(2) + (l[2] - q[2]).powi(2) <= 36.0
            })
        };
        let kept: Vec<[f64; 3]> = c.poses[0].pos()[..c.pocket_atoms].to_vec();
        assert!(kept.iter().all(near), "{}: a kept atom beyond 6 Å", c.id);
        let expected = receptor.pos.iter().filter(|q| near(q)).count();
        assert_eq!(
            expected, c.pocket_atoms,
            "{}: an atom within 6 Å was dropped",
            c.id
        );
        // Every pose of a compound shares the crop.
        assert!(
            c.poses
                .iter()
                .all(|p| p.pos()[..c.pocket_atoms] == kept[..])
        );
        assert_eq!(f.pocket_atoms, receptor.len());
    }
}

#[test]
fn cache_hit_returns_identical_graphs() {
    let spec = DatasetSpec {
        pocket_radius: Some(8.0),
        ..DatasetSpec::from_dir(&root().join("data/tyk2")).unwrap()
    };
    let data = load(&spec).unwrap();
    let c = &data.compounds[0];
    let dir = tmp("cache");
    let _ = std::fs::remove_dir_all(&dir);
    let cache = GraphCache::new(&dir).unwrap();
    let g = GraphConfig::default();
    let (first, lookup) = cache
        .get_or_build(&c.id, &c.poses, StrategyKind::Delta, &g)
        .unwrap();
    assert_eq!(lookup, Lookup::Built);
    let (second, lookup) = cache
        .get_or_build(&c.id, &c.poses, StrategyKind::Delta, &g)
        .unwrap();
    assert!(lookup.hit());
    assert_eq!(first, second);
    // Other graph settings are another entry.
    let other = GraphConfig { cutoff: 6.0, ..g };
    assert!(
        !cache
            .get_or_build(&c.id, &c.poses, StrategyKind::Delta, &other)
            .unwrap()
            .1
            .hit()
    );
}

#[test]
fn a_bad_cache_file_is_rebuilt_with_its_reason() {
    let spec = DatasetSpec {
        pocket_radius: Some(6.0),
        ..DatasetSpec::from_dir(&root().join("data/tyk2")).unwrap()
    };
    let data = load(&spec).unwrap();
    let (a, b) = (&data.compounds[0], &data.compounds[1]);
    let dir = tmp("cache-bad");
    let _ = std::fs::remove_dir_all(&dir);
    let cache = GraphCache::new(&dir).unwrap();
    let g = GraphConfig::default();
    let build = |c: &multipose::dataset::CompoundData| {
        cache
            .get_or_build(&c.id, &c.poses, StrategyKind::Delta, &g)
            .unwrap()
    };
    let (good, _) = build(a);
    build(b);
    let file = |c: &multipose::dataset::CompoundData| {
        let key = multipose::dataset::cache_key(&c.poses, StrategyKind::Delta, &g);
        dir.join(format!("{key}.safetensors"))
    };
    let pristine = std::fs::read(file(a)).unwrap();
    let flipped = {
        let mut v = pristine.clone();
        let k = v.len() - 20;
        v[k] ^= 0x40;
        v
    };
    for (what, bytes, reason) in [
        ("a flipped byte", flipped, "checksum"),
        (
            "another compound's file",
            std::fs::read(file(b)).unwrap(),
            "key",
        ),
        (
            "a truncated file",
            pristine[..pristine.len() / 2].to_vec(),
            "safetensors",
        ),
    ] {
        std::fs::write(file(a), bytes).unwrap();
        let (graphs, lookup) = build(a);
        match lookup {
            Lookup::Rebuilt(why) => assert!(why.contains(reason), "{what}: {why}"),
            other => panic!("{what}: {other:?}"),
        }
        assert_eq!(graphs, good, "{what}");
        assert!(build(a).1.hit(), "{what}: the rebuilt file is valid");
    }
}

#[test]
fn bundled_dataset_loads_completely() {
    let spec = DatasetSpec::from_dir(&root().join("data/tyk2")).unwrap();
    let data = load(&spec).unwrap();
    assert_eq!(data.compounds.len() + data.skipped.len(), 13);
    for c in &data.compounds {
        assert!(c.poses.len() >= 2, "{}: multi-pose", c.id);
        assert_eq!(c.rmsd[0], Some(0.0), "{}: pose 0 is the reference", c.id);
        assert!(c.warnings.is_empty(), "{}: {:?}", c.id, c.warnings);
        assert!(c.label.is_some());
    }
}

#[test]
fn ligand_only_pdbbind_poses_with_labels() {
    let mut labels = String::from("compound_id,value,type\n");
    for l in std::fs::read_to_string(fixture("pdbbind/labels.csv"))
        .unwrap()
        .lines()
        .skip(1)
    {
        let f: Vec<&str> = l.split(',').collect();
        labels.push_str(&format!("{}_dock,{},pKi\n", f[0], f[1]));
    }
    let path = tmp("pdbbind_labels.csv");
    std::fs::write(&path, labels).unwrap();
    let spec = DatasetSpec {
        poses: vec![
            fixture("pdbbind/1a28_dock.sdf"),
            fixture("pdbbind/1a4k_dock.sdf"),
        ],
        labels: Some(path),
        group_by: GroupBy::File,
        ..DatasetSpec::default()
    };
    let data = load(&spec).unwrap();
    assert_eq!(data.compounds.len(), 2);
    assert_eq!(data.compounds[0].poses.len(), 3);
    assert_eq!(data.compounds[1].poses.len(), 10);
    assert!((data.compounds[0].label.as_ref().unwrap().value - 8.29).abs() < 1e-12);
    assert!(
        data.skipped.len() > 10,
        "labels of the other PDBbind ids are listed as skipped"
    );
}

#[test]
fn a_structure_the_pdb_reader_cannot_build_is_an_error_naming_the_file() {
    // pdbtbx 0.12 panics ("Invalid characters in Conformer creation") on a residue name
    // with a control character; multipose turns that into an error.
    let path = tmp("control_char.pdb");
    let line =
        "ATOM      1  N   A\u{7}A A   1      11.104   6.134  -6.504  1.00  0.00           N\nEND\n";
    std::fs::write(&path, line).unwrap();
    let e = read_protein(&path, false).unwrap_err().to_string();
    assert!(
        e.contains("control_char.pdb") && e.contains("malformed"),
        "{e}"
    );
}
