//! Bad input is an error with a message, never a panic.

mod common;

use common::{build, compound, grouped, poses};
use multipose::Error;
use multipose::combine::{
    CombinationConfig, CombinationKind, EngineConfig, GroupedModel, Objective, train_step,
};
use multipose::model::{CompoundGraphs, Params, RepresentationConfig, SchNetConfig, StrategyKind};
use multipose::structure::Structure;

#[test]
fn zero_poses_is_an_error() {
    let config = grouped(StrategyKind::Delta, false, CombinationKind::Mean);
    let e = CompoundGraphs::build(
        "empty",
        &[],
        config.model.strategy,
        &config.model.representation.graph(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::NoPoses { .. }));
    assert!(e.to_string().contains("empty"));
}

#[test]
fn missing_ligand_mask_is_an_error_for_delta_but_not_complex() {
    let s = poses(6, 3, 1, 1).remove(0);
    let unmasked = Structure::new("nomask", s.z().to_vec(), s.pos().to_vec(), None).unwrap();
    let g = grouped(StrategyKind::Delta, false, CombinationKind::Mean)
        .model
        .representation
        .graph();
    let e = CompoundGraphs::build(
        "c",
        std::slice::from_ref(&unmasked),
        StrategyKind::Delta,
        &g,
    )
    .unwrap_err();
    assert!(matches!(e, Error::MissingLigandMask { .. }), "{e}");
    assert!(CompoundGraphs::build("c", &[unmasked], StrategyKind::Complex, &g).is_ok());
}

#[test]
fn bad_configuration_values_are_errors() {
    let mut config = grouped(
        StrategyKind::Delta,
        false,
        CombinationKind::Max {
            negate: true,
            scale: -1.0,
        },
    );
    let params = Params::new(candle_core::DType::F64, &candle_core::Device::Cpu);
    assert!(matches!(
        GroupedModel::new(&config, &params),
        Err(Error::InvalidConfig(_))
    ));
    config.combination = CombinationConfig {
        kind: CombinationKind::Mean,
        learnable: true,
    };
    assert!(matches!(
        GroupedModel::new(&config, &params),
        Err(Error::InvalidConfig(_))
    ));
    config.combination.learnable = false;
    config.model.representation = RepresentationConfig::SchNet(SchNetConfig {
        cutoff: f64::NAN,
        ..common::small_schnet()
    });
    assert!(matches!(
        GroupedModel::new(&config, &params),
        Err(Error::InvalidConfig(_))
    ));
}

#[test]
fn graphs_built_for_another_strategy_are_an_error() {
    let complex = grouped(StrategyKind::Complex, false, CombinationKind::Mean);
    let delta = grouped(StrategyKind::Delta, false, CombinationKind::Mean);
    let c = compound(&complex, 2, 1);
    let (params, model) = build(&delta);
    let e = train_step(
        &model,
        &params,
        &c,
        &Objective::mse(0.0),
        &EngineConfig::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("delta"), "{e}");
}

/// Rewrites the coordinates of every atom line of an SDF's first record with `f`.
fn move_first_pose(sdf: &str, f: impl Fn(f64) -> f64) -> String {
    let mut lines: Vec<String> = sdf.lines().map(str::to_string).collect();
    let atoms: usize = lines[3][0..3].trim().parse().unwrap();
    for line in lines.iter_mut().skip(4).take(atoms) {
        let x: f64 = line[0..10].trim().parse().unwrap();
        *line = format!("{:>10.4}{}", f(x), &line[10..]);
    }
    lines.join("\n") + "\n"
}

#[test]
fn implausible_geometry_is_warned_about() {
    let dir = std::env::temp_dir().join(format!("multipose-geometry-{}", std::process::id()));
    common::tyk2_slice(&dir);
    let pose = dir.join("poses/lig_ejm_31.sdf");
    let text = std::fs::read_to_string(&pose).unwrap();
    let spec = |d: &std::path::Path| multipose::dataset::DatasetSpec::from_dir(d).unwrap();
    let warnings = |d: &std::path::Path| -> Vec<String> {
        let data = multipose::dataset::load(&spec(d)).unwrap();
        data.compounds
            .iter()
            .flat_map(|c| c.warnings.clone())
            .collect()
    };
    assert!(warnings(&dir).is_empty(), "{:?}", warnings(&dir));
    // Pose 0 moved 100 Å away from the protein (no pocket crop: nothing else notices).
    std::fs::write(&pose, move_first_pose(&text, |x| x + 100.0)).unwrap();
    let w = warnings(&dir);
    assert!(
        w.iter()
            .any(|w| w.contains("pose 0") && w.contains("no protein atom")),
        "{w:?}"
    );
    // A coordinate of 1e30 Å.
    std::fs::write(&pose, move_first_pose(&text, |_| 1e30)).unwrap();
    let w = warnings(&dir);
    assert!(w.iter().any(|w| w.contains("beyond")), "{w:?}");
    // A receptor of two water molecules.
    std::fs::write(&pose, &text).unwrap();
    let water = "HETATM    1  O   HOH A 501      -4.000  -3.000 -16.000  1.00  0.00           O\n\
                 HETATM    2  O   HOH A 502      -5.000  -3.500 -15.000  1.00  0.00           O\nEND\n";
    std::fs::write(dir.join("receptor.pdb"), water).unwrap();
    let w = warnings(&dir);
    assert!(w.iter().any(|w| w.contains("amino-acid")), "{w:?}");
}

#[test]
fn an_empty_ligand_or_a_missing_receptor_is_named() {
    let dir = std::env::temp_dir().join(format!("multipose-empty-{}", std::process::id()));
    common::tyk2_slice(&dir);
    let spec = |d: &std::path::Path| {
        let mut s = multipose::dataset::DatasetSpec::from_dir(d).unwrap();
        s.pocket_radius = Some(6.0);
        s
    };
    let error = |d: &std::path::Path| multipose::dataset::load(&spec(d)).unwrap_err().to_string();
    let receptor = std::fs::read(dir.join("receptor.pdb")).unwrap();
    std::fs::remove_file(dir.join("receptor.pdb")).unwrap();
    let e = error(&dir);
    assert!(
        e.contains("no receptor was found") && e.contains("receptor.pdb"),
        "{e}"
    );
    std::fs::write(dir.join("receptor.pdb"), &receptor).unwrap();
    let empty = "empty\n  test\n\n  0  0  0  0  0  0  0  0  0  0999 V2000\nM  END\n$$$$\n";
    std::fs::write(dir.join("poses/lig_ejm_31.sdf"), empty).unwrap();
    let e = error(&dir);
    assert!(
        e.contains("lig_ejm_31") && e.contains("lig_ejm_31.sdf:1") && e.contains("no heavy atoms"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn elements_beyond_the_embedding_are_named_by_the_representation() {
    // Dubnium (105) is an element, so the structure is valid; SchNet embeds 1..=99.
    let mut s = poses(6, 3, 1, 1).remove(0);
    let mut z = s.z().to_vec();
    z[0] = 105;
    s = Structure::new("db", z, s.pos().to_vec(), None).unwrap();
    let r = RepresentationConfig::SchNet(common::small_schnet());
    let e = r.check_elements("cpd", &[s]).unwrap_err().to_string();
    assert!(
        e.contains("cpd") && e.contains("105") && e.contains("SchNet") && e.contains("99"),
        "{e}"
    );
    assert!(r.check_elements("ok", &poses(6, 3, 2, 1)).is_ok());
}

/// A small ViSNet with `max_z` rows of embeddings.
fn visnet(max_z: usize) -> RepresentationConfig {
    RepresentationConfig::ViSNet(multipose::model::visnet::ViSNetConfig {
        hidden_channels: 8,
        num_heads: 2,
        num_layers: 1,
        num_rbf: 4,
        max_z,
        ..Default::default()
    })
}

#[test]
fn an_element_outside_visnets_embedding_names_the_atom() {
    let s = Structure::new("c", vec![6, 17], vec![[0.0; 3], [1.5, 0.0, 0.0]], None).unwrap();
    let e = visnet(10)
        .check_elements("lig_1", &[s])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("lig_1") && e.contains("17") && e.contains("ViSNet"),
        "{e}"
    );
}

#[test]
fn visnet_weights_of_another_width_name_the_tensor() {
    let mut config = grouped(StrategyKind::Complex, false, CombinationKind::Mean);
    config.model.representation = visnet(100);
    let mut params = Params::new(candle_core::DType::F32, &candle_core::Device::Cpu);
    GroupedModel::new(&config, &params).unwrap();
    let weights = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/golden/visnet_delta_max.weights.safetensors");
    let e = multipose::model::load_weights(&mut params, &config.model, &weights)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("representation.visnet.") && e.contains("the model expects"),
        "{e}"
    );
}
