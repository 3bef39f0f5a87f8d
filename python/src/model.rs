//! `multipose.Model` (a trained run, or an imported mtenn model) and its `Prediction`.

use crate::convert::{overrides, to_python};
use crate::errors::to_py;
use multipose::dataset::DatasetSpec;
use multipose::train::{
    DataConfig, Member, TrainedModel, data_settings, import_mtenn, load_members, mtenn_settings,
    predict_members,
};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A trained model: the weights a run folder reports, on a device.
#[pyclass(module = "multipose", unsendable)]
pub struct Model {
    trained: TrainedModel,
    run_dir: PathBuf,
}

/// Per-compound and per-pose predictions, as lists of dicts.
#[pyclass(module = "multipose", frozen)]
pub struct Prediction {
    /// One dict per compound: compound_id, target, prediction, combined, n_poses, top_pose.
    #[pyo3(get)]
    compounds: PyObject,
    /// One dict per pose: compound_id, pose, source, prediction, weight.
    #[pyo3(get)]
    poses: PyObject,
}

#[pymethods]
impl Prediction {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let n = self.compounds.bind(py).len()?;
        let k = self.poses.bind(py).len()?;
        Ok(format!("Prediction({n} compounds, {k} poses)"))
    }
}

#[pymethods]
impl Model {
    /// The model of the run folder `run_dir` (what `multipose predict --model` uses).
    #[staticmethod]
    #[pyo3(signature = (run_dir, device = "cpu"))]
    fn load(run_dir: PathBuf, device: &str) -> PyResult<Self> {
        let device = multipose::device::parse(device).map_err(to_py)?;
        let trained = TrainedModel::load(&run_dir, &device).map_err(to_py)?;
        Ok(Self { trained, run_dir })
    }

    /// An mtenn model: its weights, optionally asapdiscovery-ml's model_config.json, and
    /// `settings` such as `{"model.combination": "max"}` for what neither gives (as
    /// `multipose import-mtenn`). The run folder goes to `out` (default: a new folder
    /// under the system's temporary directory).
    #[staticmethod]
    #[pyo3(signature = (weights, config = None, out = None, settings = None, device = "cpu"))]
    fn from_mtenn(
        weights: PathBuf,
        config: Option<PathBuf>,
        out: Option<PathBuf>,
        settings: Option<&Bound<'_, PyDict>>,
        device: &str,
    ) -> PyResult<Self> {
        let text = match &config {
            Some(p) => Some(std::fs::read_to_string(p).map_err(|e| {
                pyo3::exceptions::PyOSError::new_err(format!("{}: {e}", p.display()))
            })?),
            None => None,
        };
        let (train_config, keys, assumed) =
            mtenn_settings(text.as_deref().zip(config.as_deref()), overrides(settings)?)
                .map_err(to_py)?;
        for a in assumed {
            eprintln!("multipose: assumed {a} (pass settings={{...}} or config= to set it)");
        }
        let out = out.unwrap_or_else(|| fresh_dir("mtenn"));
        import_mtenn(&weights, train_config, &keys, &out).map_err(to_py)?;
        Self::load(out, device)
    }

    /// Predictions for `poses` in `receptor`: `poses` is an SDF/MOL2 path, a list of
    /// them, or SDF text; compounds are grouped as `multipose predict` groups them;
    /// `target` names the receptor for a model trained on several.
    #[pyo3(signature = (receptor, poses, target = None))]
    fn predict(
        &self,
        py: Python<'_>,
        receptor: PathBuf,
        poses: &Bound<'_, PyAny>,
        target: Option<String>,
    ) -> PyResult<Prediction> {
        let data = load_poses(receptor, target, poses, &self.trained.config.data)?;
        let preds = self.trained.predict(&data.compounds).map_err(to_py)?;
        let mut compounds = Vec::new();
        let mut rows = Vec::new();
        for (c, p) in data.compounds.iter().zip(&preds) {
            let top = multipose::combine::top_pose(&p.weights);
            compounds.push(serde_json::json!({
                "compound_id": c.id, "target": c.target, "prediction": p.output,
                "combined": p.combined, "n_poses": p.poses.len(), "top_pose": top,
            }));
            rows.extend(pose_rows(c, &p.poses, &p.weights));
        }
        Ok(Prediction {
            compounds: to_python(py, &compounds)?,
            poses: to_python(py, &rows)?,
        })
    }

    /// Every tensor under mtenn's state-dict names as NumPy float32 arrays (both aliases
    /// of each filter network, and SchNet's Gaussian centres), as torch's `state_dict`.
    fn state_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let numpy = py.import("numpy")?;
        let out = PyDict::new(py);
        for (name, t) in self.trained.state_dict().map_err(to_py)? {
            let dims = t.dims().to_vec();
            let values = t
                .flatten_all()
                .and_then(|f| f.to_vec1::<f32>())
                .map_err(|e| to_py(e.into()))?;
            let array = numpy
                .call_method1("asarray", (values, "float32"))?
                .call_method1("reshape", (dims,))?;
            out.set_item(name, array)?;
        }
        Ok(out)
    }

    /// Sets the weights from a dict of arrays under mtenn's names (e.g. from
    /// `state_dict()`, or a torch state dict converted with `.numpy()`); missing,
    /// unexpected or mis-shaped tensors raise ValueError naming them.
    fn load_state_dict(&mut self, state: &Bound<'_, PyDict>) -> PyResult<()> {
        let numpy = state.py().import("numpy")?;
        let mut tensors = Vec::with_capacity(state.len());
        for (k, v) in state.iter() {
            let name: String = k.extract()?;
            // asarray, not ascontiguousarray: that one turns a 0-d array (ViSNet's mean and std) into
            // shape (1,).
            let array = numpy.call_method1("asarray", (v, "float32"))?;
            let dims: Vec<usize> = array.getattr("shape")?.extract()?;
            let values: Vec<f32> = array
                .call_method0("ravel")?
                .call_method0("tolist")?
                .extract()?;
            let t = candle_core::Tensor::from_vec(values, dims, &candle_core::Device::Cpu)
                .map_err(|e| to_py(e.into()))?;
            tensors.push((name, t));
        }
        self.trained.load_state_dict(tensors).map_err(to_py)
    }

    /// The run folder the model was loaded from.
    #[getter]
    fn run_dir(&self) -> PathBuf {
        self.run_dir.clone()
    }

    fn __repr__(&self) -> String {
        let m = &self.trained.config.model;
        format!(
            "Model({}, strategy={}, combination={})",
            self.run_dir.display(),
            m.strategy,
            m.combination
        )
    }
}

/// Several models as one (`multipose predict --model` repeated, or a folder with
/// `ensemble.json`): trained runs and ligand-only models, mean ± std of their predictions.
#[pyclass(module = "multipose", unsendable)]
pub struct Ensemble {
    members: Vec<(PathBuf, Member)>,
}

#[pymethods]
impl Ensemble {
    /// The models of `paths` (one folder or a list): run folders of `train`, ligand-only
    /// models of `fit-baseline`, or folders whose ensemble.json lists such members.
    #[staticmethod]
    #[pyo3(signature = (paths, device = "cpu"))]
    fn load(paths: &Bound<'_, PyAny>, device: &str) -> PyResult<Self> {
        let dirs = match paths.extract::<PathBuf>() {
            Ok(one) => vec![one],
            Err(_) => paths.extract::<Vec<PathBuf>>()?,
        };
        let device = multipose::device::parse(device).map_err(to_py)?;
        let members = load_members(&dirs, &device).map_err(to_py)?;
        Ok(Self { members })
    }

    /// Predictions for `poses` in `receptor` (as `Model.predict`): per compound the
    /// members' mean (`prediction`), their `std` and count (`models`); per pose the
    /// members' mean prediction and weight.
    #[pyo3(signature = (receptor, poses, target = None))]
    fn predict(
        &self,
        py: Python<'_>,
        receptor: PathBuf,
        poses: &Bound<'_, PyAny>,
        target: Option<String>,
    ) -> PyResult<Prediction> {
        let settings = data_settings(&self.members).map_err(to_py)?;
        let data = load_poses(receptor, target, poses, &settings)?;
        let preds = predict_members(&self.members, &data.compounds).map_err(to_py)?;
        let mut compounds = Vec::new();
        let mut rows = Vec::new();
        for (c, p) in data.compounds.iter().zip(&preds) {
            compounds.push(serde_json::json!({
                "compound_id": c.id, "target": c.target, "prediction": p.mean, "std": p.std,
                "models": p.models, "n_poses": p.poses.len(), "top_pose": p.top_pose,
            }));
            rows.extend(pose_rows(c, &p.poses, &p.weights));
        }
        Ok(Prediction {
            compounds: to_python(py, &compounds)?,
            poses: to_python(py, &rows)?,
        })
    }

    /// The member folders, in order.
    #[getter]
    fn members(&self) -> Vec<PathBuf> {
        self.members.iter().map(|(p, _)| p.clone()).collect()
    }

    fn __repr__(&self) -> String {
        format!("Ensemble({} models)", self.members.len())
    }
}

/// One dict per pose of `c`: compound_id, pose, source, prediction, weight.
fn pose_rows<'a>(
    c: &'a multipose::dataset::CompoundData,
    poses: &'a [f64],
    weights: &'a [f64],
) -> impl Iterator<Item = serde_json::Value> + 'a {
    poses
        .iter()
        .zip(weights)
        .enumerate()
        .map(move |(k, (y, w))| {
            serde_json::json!({
                "compound_id": c.id, "pose": k, "source": c.sources.get(k),
                "prediction": y, "weight": w,
            })
        })
}

/// Every compound of `poses` (files or SDF text) in `receptor`, loaded with `data`'s
/// settings (pose selection, pocket, hydrogens); `target` names the receptor ("" unnamed).
fn load_poses(
    receptor: PathBuf,
    target: Option<String>,
    poses: &Bound<'_, PyAny>,
    data: &DataConfig,
) -> PyResult<multipose::dataset::Dataset> {
    let (files, scratch) = pose_files(poses)?;
    let spec = DatasetSpec {
        receptor: Some(receptor),
        target: target.unwrap_or_default(),
        poses: files,
        keep_hydrogens: data.keep_hydrogens,
        pocket_radius: data.pocket(),
        selection: data.poses,
        keep_unlabelled: true,
        ..DatasetSpec::default()
    };
    let data = multipose::dataset::load(&spec);
    if let Some(dir) = scratch {
        let _ = std::fs::remove_dir_all(dir);
    }
    data.map_err(to_py)
}

/// Pose files from a path, a list of paths, or SDF text (written to a scratch folder,
/// returned for removal).
fn pose_files(poses: &Bound<'_, PyAny>) -> PyResult<(Vec<PathBuf>, Option<PathBuf>)> {
    if let Ok(text) = poses.extract::<String>()
        && text.contains('\n')
    {
        let dir = fresh_dir("poses");
        let io = |e: std::io::Error| pyo3::exceptions::PyOSError::new_err(e.to_string());
        std::fs::create_dir_all(&dir).map_err(io)?;
        let file = dir.join("poses.sdf");
        std::fs::write(&file, text).map_err(io)?;
        return Ok((vec![file], Some(dir)));
    }
    if let Ok(path) = poses.extract::<PathBuf>() {
        return Ok((vec![path], None));
    }
    Ok((poses.extract::<Vec<PathBuf>>()?, None))
}

/// A folder name under the temporary directory that this process has not used.
fn fresh_dir(kind: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("multipose-{kind}-{}-{n}", std::process::id()))
}
