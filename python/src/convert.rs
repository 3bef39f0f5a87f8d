//! Values between Python and the library: through JSON text, which both sides read, so
//! no conversion is written twice.

use multipose::train::TrainConfig;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::path::PathBuf;

/// A serialisable value as the Python object `json.loads` makes of it.
pub fn to_python(py: Python<'_>, value: &impl serde::Serialize) -> PyResult<PyObject> {
    let text = serde_json::to_string(value).map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(py.import("json")?.call_method1("loads", (text,))?.unbind())
}

/// A training configuration from a dict (sections of `multipose config --default`) or
/// the path of a TOML file.
pub fn train_config(config: &Bound<'_, PyAny>) -> PyResult<TrainConfig> {
    let text = if let Ok(path) = config.extract::<PathBuf>() {
        std::fs::read_to_string(&path)
            .map_err(|e| pyo3::exceptions::PyOSError::new_err(format!("{}: {e}", path.display())))?
    } else {
        let value = to_json(config)?;
        toml::to_string(&to_toml(&value)?).map_err(|e| PyValueError::new_err(e.to_string()))?
    };
    TrainConfig::from_toml(&text, &[]).map_err(crate::errors::to_py)
}

/// A Python value (dicts, lists, numbers, strings, booleans) as JSON, read by `json.dumps`.
fn to_json(value: &Bound<'_, PyAny>) -> PyResult<serde_json::Value> {
    let text: String = value
        .py()
        .import("json")?
        .call_method1("dumps", (value,))?
        .extract()?;
    serde_json::from_str(&text).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// JSON to TOML (null has no TOML form: leave the key out for its default).
fn to_toml(v: &serde_json::Value) -> PyResult<toml::Value> {
    use serde_json::Value as J;
    Ok(match v {
        J::Bool(b) => toml::Value::Boolean(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        J::String(s) => toml::Value::String(s.clone()),
        J::Array(a) => toml::Value::Array(a.iter().map(to_toml).collect::<PyResult<_>>()?),
        J::Object(o) => toml::Value::Table(
            o.iter()
                .map(|(k, v)| Ok((k.clone(), to_toml(v)?)))
                .collect::<PyResult<_>>()?,
        ),
        J::Null => {
            return Err(PyValueError::new_err(
                "None is not a configuration value; leave the key out for its default",
            ));
        }
    })
}

/// `section.key` overrides from a dict such as `{"model.combination": "max"}`.
pub fn overrides(
    settings: Option<&Bound<'_, pyo3::types::PyDict>>,
) -> PyResult<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (k, v) in settings.into_iter().flat_map(|d| d.iter()) {
        let key: String = k.extract()?;
        let text = match to_toml(&to_json(&v)?)? {
            toml::Value::String(s) => format!("{s:?}"),
            other => other.to_string(),
        };
        out.push((key, text));
    }
    Ok(out)
}
