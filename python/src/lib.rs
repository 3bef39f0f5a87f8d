//! The `multipose` Python module: training, trained models, mtenn import and datasets,
//! over the Rust library. Values cross as JSON-shaped Python objects (dicts and lists),
//! so `pandas.DataFrame(result.poses)` works without NumPy here.

mod convert;
mod errors;
mod model;
mod run;

use pyo3::prelude::*;
use std::path::PathBuf;

/// Trains a model: `config` is a dict with the sections of `multipose config --default`
/// or the path of such a TOML file; the run folder `out` gets what `multipose train`
/// writes. Returns the summary as a dict. Ctrl-C stops at the next batch (the run stays
/// resumable) and raises KeyboardInterrupt.
#[pyfunction]
#[pyo3(signature = (config, out, quiet = true))]
fn train(
    py: Python<'_>,
    config: &Bound<'_, PyAny>,
    out: PathBuf,
    quiet: bool,
) -> PyResult<PyObject> {
    let config = convert::train_config(config)?;
    let summary = run::interruptible(py, move |interrupt| {
        let options = multipose::train::RunOptions {
            quiet,
            interrupt: Some(interrupt),
            ..Default::default()
        };
        multipose::train::train(&config, &out, &options)
    })?;
    convert::to_python(py, &summary)
}

/// A dataset as `train` reads it (a folder, a folder of target folders or a manifest):
/// a dict with `compounds` (id, target, poses, label, atom counts) and `skipped`.
#[pyfunction]
fn load_dataset(py: Python<'_>, path: PathBuf) -> PyResult<PyObject> {
    let spec = multipose::dataset::DatasetSpec {
        keep_unlabelled: true,
        ..Default::default()
    };
    let data = multipose::dataset::open(&path, &spec).map_err(errors::to_py)?;
    let compounds: Vec<serde_json::Value> = data
        .compounds
        .iter()
        .map(|c| {
            serde_json::json!({
                "compound_id": c.id,
                "target": c.target,
                "poses": c.poses.len(),
                "label": c.label.as_ref().map(|l| l.value),
                "protein_atoms": c.protein_atoms,
                "pocket_atoms": c.pocket_atoms,
                "ligand_atoms": c.ligand_atoms,
                "sources": c.sources,
            })
        })
        .collect();
    let skipped: Vec<serde_json::Value> = data
        .skipped
        .iter()
        .map(|(id, why)| serde_json::json!({"compound_id": id, "reason": why}))
        .collect();
    convert::to_python(
        py,
        &serde_json::json!({"compounds": compounds, "skipped": skipped}),
    )
}

/// multipose: multi-pose binding-affinity models (Rust), from Python.
#[pymodule]
#[pyo3(name = "multipose")]
fn multipose_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(train, m)?)?;
    m.add_function(wrap_pyfunction!(load_dataset, m)?)?;
    m.add_class::<model::Model>()?;
    m.add_class::<model::Ensemble>()?;
    m.add_class::<model::Prediction>()?;
    Ok(())
}
