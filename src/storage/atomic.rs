//! Replacing a file atomically: the new bytes go to a temporary file in the same directory,
//! which is flushed to disk (fsync) and then renamed over the target; the directory is
//! fsynced last, so the rename itself is durable. A crash at any moment leaves either the old
//! file or the new one at the path, never a mix; at worst a stray temporary file remains
//! (named `.<name>.tmp-<pid>-<n>`). The next save or load of that path removes the strays of
//! processes that no longer run (on Linux, where `/proc` tells which do; elsewhere they stay).

use std::fs::OpenOptions;
use std::io::{BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

fn io(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::Io(format!("{what} {}: {e}", path.display()))
}

/// Removes the temporary file unless the rename happened.
struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A byte sink that can also go back (to fill in a header once the rest is written).
pub trait WriteSeek: Write + Seek {}
impl<T: Write + Seek> WriteSeek for T {}

/// Writes `path` atomically with the bytes `write` produces (through a buffered writer). If
/// `write` or any step fails, the old file is untouched and the temporary file is removed.
pub fn write_atomically(path: &Path, write: impl FnOnce(&mut dyn WriteSeek) -> Result<()>) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| Error::Io(format!("{} does not name a file", path.display())))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp_name = format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    remove_stray_temps(path);
    let tmp_path = dir.join(tmp_name);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp_path)
        .map_err(|e| io("cannot create", &tmp_path, e))?;
    let mut tmp = TempFile { path: tmp_path, armed: true };

    let mut out = BufWriter::with_capacity(1 << 20, file);
    write(&mut out)?;
    let file = out.into_inner().map_err(|e| io("cannot write", &tmp.path, e.into_error()))?;
    file.sync_all().map_err(|e| io("cannot fsync", &tmp.path, e))?;
    drop(file);
    std::fs::rename(&tmp.path, path).map_err(|e| io("cannot rename into place", path, e))?;
    tmp.armed = false;
    sync_dir(&dir)
}

/// Makes a rename in `dir` durable (a no-op where directories cannot be opened, as on Windows).
fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let d = std::fs::File::open(dir).map_err(|e| io("cannot open directory", dir, e))?;
        d.sync_all().map_err(|e| io("cannot fsync directory", dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Removes the temporary files that saves of `path` by processes that are gone left behind
/// (`.<name>.tmp-<pid>-<n>` beside it, `<pid>` not running). Best effort: errors are ignored,
/// and a temporary file of a running process (a save in progress) is never touched. Only on
/// Linux, where `/proc/<pid>` says whether a process runs.
pub fn remove_stray_temps(path: &Path) -> usize {
    if !cfg!(target_os = "linux") {
        return 0;
    }
    let (Some(name), dir) = (path.file_name(), path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."))) else {
        return 0;
    };
    let prefix = format!(".{}.tmp-", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(rest) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)) else { continue };
        let Some((pid, counter)) = rest.split_once('-') else { continue };
        let (Ok(pid), Ok(_)) = (pid.parse::<u32>(), counter.parse::<u64>()) else { continue };
        if pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists() {
            continue;
        }
        if entry.file_type().is_ok_and(|t| t.is_file()) && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}
