//! Library errors as Python exceptions, with the CLI's messages: OSError for files that
//! cannot be read or written, KeyboardInterrupt for an interrupted run, ValueError for
//! everything a user's input or settings got wrong.

use multipose::Error;
use pyo3::PyErr;
use pyo3::exceptions::{PyKeyboardInterrupt, PyOSError, PyValueError};

/// The Python exception for a library error.
pub fn to_py(e: Error) -> PyErr {
    let message = e.to_string();
    match e {
        Error::Io { .. } | Error::RunInUse { .. } => PyOSError::new_err(message),
        Error::Interrupted(_) => PyKeyboardInterrupt::new_err(message),
        _ => PyValueError::new_err(message),
    }
}
