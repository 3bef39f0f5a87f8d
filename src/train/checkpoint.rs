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

/// Folder of a run's newest complete checkpoint: weights, optimiser state and progress of
/// the last finished epoch, swapped in whole (see [`commit_checkpoint`]).
pub const CHECKPOINT: &str = "checkpoint";
/// Where the next checkpoint is written before it is swapped in; never read.
const PARTIAL: &str = "checkpoint.partial";
/// The checkpoint being replaced, between the two renames of a swap.
const PREVIOUS: &str = "checkpoint.previous";

/// The newest complete checkpoint folder of run folder `out`, if any: `checkpoint`, or
/// `checkpoint.previous` when a swap stopped between its two renames.
pub fn current_checkpoint(out: &Path) -> Option<PathBuf> {
    [CHECKPOINT, PREVIOUS]
        .iter()
        .map(|name| out.join(name))
        .find(|dir| dir.is_dir())
}

/// Makes `files` (name, bytes) the run's checkpoint, with the files named in `keep`
/// carried over from the current one. Everything is written and synced into a fresh
/// folder first, then swapped in by two renames: a crash or a full disk at any byte leaves
/// the previous checkpoint or the new one, never a mix of epochs.
pub fn commit_checkpoint(out: &Path, files: &[(&str, Vec<u8>)], keep: &[&str]) -> Result<()> {
    let partial = out.join(PARTIAL);
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(Error::io(&partial))?;
    }
    std::fs::create_dir_all(&partial).map_err(Error::io(&partial))?;
    let mut sums = std::collections::BTreeMap::new();
    for (name, bytes) in files {
        write_synced(&partial.join(name), bytes)?;
        sums.insert(name.to_string(), sha256(bytes));
    }
    if let Some(current) = current_checkpoint(out) {
        for name in keep {
            let from = current.join(name);
            if from.is_file() {
                let bytes = std::fs::read(&from).map_err(Error::io(&from))?;
                write_synced(&partial.join(name), &bytes)?;
                sums.insert(name.to_string(), sha256(&bytes));
            }
        }
    }
    let manifest = serde_json::to_vec_pretty(&sums).unwrap_or_default();
    write_synced(&partial.join(CHECKSUMS), &manifest)?;
    sync_dir(&partial);
    let (current, previous) = (out.join(CHECKPOINT), out.join(PREVIOUS));
    if current.exists() {
        if previous.exists() {
            std::fs::remove_dir_all(&previous).map_err(Error::io(&previous))?;
        }
        std::fs::rename(&current, &previous).map_err(Error::io(&current))?;
    }
    std::fs::rename(&partial, &current).map_err(Error::io(&partial))?;
    sync_dir(out);
    if previous.exists() {
        std::fs::remove_dir_all(&previous).map_err(Error::io(&previous))?;
    }
    Ok(())
}

/// SHA-256 of every other file of a checkpoint, written with it.
const CHECKSUMS: &str = "checksums.json";

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks the files of checkpoint folder `dir` against the checksums written with them:
/// a file changed or damaged since (a flipped byte, another run's weights) is an error
/// naming it. A checkpoint without checksums (older versions) passes.
pub fn verify_checkpoint(dir: &Path) -> Result<()> {
    let manifest = dir.join(CHECKSUMS);
    let Ok(text) = std::fs::read_to_string(&manifest) else {
        return Ok(());
    };
    let sums: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&text).map_err(|e| Error::Parse {
            path: manifest.clone(),
            line: e.line(),
            message: e.to_string(),
        })?;
    for (name, want) in &sums {
        let path = dir.join(name);
        let bytes = std::fs::read(&path).map_err(Error::io(&path))?;
        if &sha256(&bytes) != want {
            return Err(Error::Input {
                path,
                message: "does not match the checksum written with the checkpoint: the file was changed or damaged since".into(),
            });
        }
    }
    Ok(())
}

/// Best effort: makes the renames inside `dir` durable (not all file systems allow it).
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Writes and syncs one checkpoint file. Honours the fault-injection budget below.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let allowed = fault::take(bytes.len());
    let mut file = std::fs::File::create(path).map_err(Error::io(path))?;
    file.write_all(&bytes[..allowed]).map_err(Error::io(path))?;
    if allowed < bytes.len() {
        return Err(Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "no space left on device (injected by MULTIPOSE_FAULT_AFTER_BYTES)",
            ),
        });
    }
    file.sync_all().map_err(Error::io(path))
}

/// A test hook: with `MULTIPOSE_FAULT_AFTER_BYTES=k` in the environment, checkpoint writes
/// of this process fail after k bytes in total, as on a full disk, so that tests can cut
/// a checkpoint at any byte. Unset (always, in real use), nothing is limited.
mod fault {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn budget() -> Option<&'static AtomicU64> {
        static BUDGET: OnceLock<Option<AtomicU64>> = OnceLock::new();
        BUDGET
            .get_or_init(|| {
                std::env::var("MULTIPOSE_FAULT_AFTER_BYTES")
                    .ok()?
                    .parse()
                    .ok()
                    .map(AtomicU64::new)
            })
            .as_ref()
    }

    /// How many of `want` bytes may still be written.
    pub(super) fn take(want: usize) -> usize {
        let Some(left) = budget() else {
            return want;
        };
        let mut granted = 0;
        let _ = left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| {
            granted = l.min(want as u64);
            Some(l - granted)
        });
        granted as usize
    }
}

/// An exclusive lock on a run folder for the life of a training process (released when
/// dropped, or by the OS when the process dies), so two runs never write one folder.
#[derive(Debug)]
pub struct RunLock {
    _file: std::fs::File,
}

/// Locks the existing run folder `out`, or says that another process holds it.
pub fn lock_run(out: &Path) -> Result<RunLock> {
    let path = out.join(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(Error::io(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(RunLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::RunInUse {
            path: out.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(Error::Io { path, source }),
    }
}
