//! The files of a durable index directory, and its lock.
//!
//! ```text
//! DIR/LOCK                         held (flock, exclusive) by the process writing; holds its pid
//! DIR/snapshot-<generation>.omendb a checkpoint: every record of the logs older than <generation>
//! DIR/log-<generation>.wal         the records written after that checkpoint
//! ```
//!
//! Generations are 16 lower-case hex digits, so names sort in order. Recovery loads the newest
//! snapshot and replays the logs of its generation and later; older files are left over from a
//! checkpoint that ended before it could remove them, and are removed.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

fn io(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::Io(format!("{what} {}: {e}", path.display()))
}

pub fn snapshot_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("snapshot-{generation:016x}.omendb"))
}

pub fn log_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("log-{generation:016x}.wal"))
}

/// Fsyncs a directory, so that the names created or removed in it are durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io("cannot fsync directory", dir, e))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// The generations of the snapshots and of the logs in `dir`, each in ascending order.
pub fn list(dir: &Path) -> Result<(Vec<u64>, Vec<u64>)> {
    let (mut snapshots, mut logs) = (Vec::new(), Vec::new());
    for entry in std::fs::read_dir(dir).map_err(|e| io("cannot list", dir, e))? {
        let name = entry.map_err(|e| io("cannot list", dir, e))?.file_name();
        let Some(name) = name.to_str() else { continue };
        let parse = |prefix: &str, suffix: &str| {
            let hex = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
            (hex.len() == 16).then(|| u64::from_str_radix(hex, 16).ok()).flatten()
        };
        if let Some(g) = parse("snapshot-", ".omendb") {
            snapshots.push(g);
        } else if let Some(g) = parse("log-", ".wal") {
            logs.push(g);
        }
    }
    snapshots.sort_unstable();
    logs.sort_unstable();
    Ok((snapshots, logs))
}

/// The directory's write lock, held for as long as this value lives (and never longer than
/// the process: the kernel drops an flock with its last descriptor).
pub struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the lock of `dir`, or fails with `Error::Locked` naming the process holding it.
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        let path = dir.join("LOCK");
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io("cannot open", &path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(Error::Locked(format!(
                    "{} is open for writing by {} (one writer per directory)",
                    dir.display(),
                    if holder.is_empty() { "another process".to_string() } else { format!("process {holder}") }
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io("cannot lock", &path, e)),
        }
        // The pid is for the message above only; the lock itself decides.
        let _ = file.set_len(0).and_then(|()| file.rewind()).and_then(|()| write!(file, "{}", std::process::id()));
        Ok(DirLock { _file: file })
    }
}

/// Removes what a crashed checkpoint or log rotation may leave: temporary files of snapshots
/// and logs. Safe only while holding the directory's lock (nobody else writes there).
pub fn remove_temporaries(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| io("cannot list", dir, e))? {
        let entry = entry.map_err(|e| io("cannot list", dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if (name.starts_with(".snapshot-") || name.starts_with(".log-")) && name.contains(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// Reads a whole file.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| io("cannot read", path, e))
}
