//! Files of a run folder, always written whole: to a temporary name, then renamed.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Writes `path` by calling `write` on a temporary sibling and renaming it into place, so
/// a crash or a full disk never leaves a truncated file under the real name.
pub fn write_atomic(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp: PathBuf = path.with_extension(format!(
        "{}.partial",
        path.extension().and_then(|e| e.to_str()).unwrap_or("tmp")
    ));
    if let Err(e) = write(&tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// [`write_atomic`] for text.
pub fn write_text(path: &Path, text: &str) -> Result<()> {
    write_atomic(path, |tmp| {
        std::fs::write(tmp, text).map_err(|source| Error::Io {
            path: tmp.to_path_buf(),
            source,
        })
    })
}
