//! Long work off the Python thread: the library runs on a worker while this thread,
//! holding the GIL only briefly, watches for Ctrl-C (Python sees signals only on its
//! main thread) and asks the worker to stop at its next batch.

use pyo3::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Runs `work` (given the interrupt flag) and returns its result as a Python result;
/// Ctrl-C sets the flag, waits for the worker, and raises KeyboardInterrupt.
pub fn interruptible<T: Send>(
    py: Python<'_>,
    work: impl FnOnce(Arc<AtomicBool>) -> multipose::Result<T> + Send,
) -> PyResult<T> {
    let flag = Arc::new(AtomicBool::new(false));
    let worker_flag = flag.clone();
    let mut signal = None;
    let result = std::thread::scope(|s| {
        let handle = s.spawn(move || work(worker_flag));
        while !handle.is_finished() {
            if signal.is_none()
                && let Err(e) = py.check_signals()
            {
                flag.store(true, Ordering::SeqCst);
                signal = Some(e);
            }
            py.allow_threads(|| std::thread::sleep(Duration::from_millis(50)));
        }
        handle.join()
    });
    let result = result.map_err(|_| {
        pyo3::exceptions::PyRuntimeError::new_err("multipose: the worker thread panicked")
    })?;
    match (result, signal) {
        (Err(_), Some(e)) => Err(e),
        (r, _) => r.map_err(crate::errors::to_py),
    }
}
