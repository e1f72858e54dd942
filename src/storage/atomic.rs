//! Replacing a file atomically: the new bytes go to a temporary file in the same directory,
//! which is flushed to disk (fsync) and then renamed over the target; the directory is
//! fsynced last, so the rename itself is durable. A crash at any moment leaves either the old
//! file or the new one at the path, never a mix; at worst a stray temporary file remains
//! (named `.<name>.tmp-<unique>`).
//!
//! Strays are judged by a lock, not by a process id: a saver holds an exclusive `flock` on its
//! temporary file from the moment it creates it until the rename, and the lock dies with the
//! process. The next save, load or open of the path removes the temporary files that nobody
//! holds and that were last written more than [`STRAY_MIN_AGE`] ago (the age covers the
//! instant between a file's creation and its lock). A pid would be wrong for a saver in
//! another PID namespace (another container) or on another NFS client, whose pid means nothing
//! here.
//!
//! The target: a symbolic link is followed (the file it names is replaced, the link stays),
//! and a path that names something other than a regular file (a directory, FIFO, device or
//! socket) is refused, so a save never replaces `/dev/null` or a pipe. A name too long for a
//! temporary name beside it (within 255 bytes) gets a shortened one, ending in a hash of the
//! full name.

use std::fs::OpenOptions;
use std::io::{BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};

/// A temporary file nobody holds is removed only once it is at least this old (see the module
/// doc): older than any gap between a save creating its file and locking it.
pub const STRAY_MIN_AGE: Duration = Duration::from_secs(60);

/// The longest file name most file systems accept, in bytes.
const NAME_MAX: usize = 255;
/// Bytes a temporary name adds to its stem: the leading dot, `.tmp-` and the unique part.
const TEMP_OVERHEAD: usize = 1 + 5 + 48;

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
    let path = &resolve_target(path)?;
    let (dir, prefix) = temp_prefix(path)?;
    remove_stray_temps(path);
    let (file, tmp_path) = create_temp(&dir, &prefix)?;
    let mut tmp = TempFile { path: tmp_path, armed: true };
    // Held until the rename: the lock tells every cleaner that this file is in use.
    lock_exclusive(&file);

    let mut out = BufWriter::with_capacity(1 << 20, &file);
    write(&mut out)?;
    out.into_inner().map_err(|e| io("cannot write", &tmp.path, e.into_error()))?;
    file.sync_all().map_err(|e| io("cannot fsync", &tmp.path, e))?;
    std::fs::rename(&tmp.path, path).map_err(|e| io("cannot rename into place", path, e))?;
    tmp.armed = false;
    drop(file);
    sync_dir(&dir)
}

/// The file a save to `path` replaces: `path` itself, or the end of the chain of symbolic
/// links starting there (up to 40, as the kernel allows). Refuses an existing target that is
/// not a regular file.
fn resolve_target(path: &Path) -> Result<PathBuf> {
    let mut target = path.to_path_buf();
    for _ in 0..40 {
        let meta = match std::fs::symlink_metadata(&target) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(target),
            Err(e) => return Err(io("cannot stat", &target, e)),
            Ok(m) => m,
        };
        if meta.file_type().is_symlink() {
            let link = std::fs::read_link(&target).map_err(|e| io("cannot read link", &target, e))?;
            target = match target.parent() {
                Some(parent) if link.is_relative() => parent.join(link),
                _ => link,
            };
            continue;
        }
        if !meta.is_file() {
            return Err(Error::Io(format!(
                "{} is not a regular file (a directory, FIFO, device or socket): a save replaces only files",
                target.display()
            )));
        }
        return Ok(target);
    }
    Err(Error::Io(format!("{}: too many levels of symbolic links", path.display())))
}

/// The directory of `path` and the prefix of its temporary files' names, `.<stem>.tmp-`: the
/// stem is the file name, or where that would make a name longer than `NAME_MAX`, its first
/// bytes and a hash of the whole name.
fn temp_prefix(path: &Path) -> Result<(PathBuf, String)> {
    let name = path
        .file_name()
        .ok_or_else(|| Error::Io(format!("{} does not name a file", path.display())))?
        .to_string_lossy();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let stem = if name.len() + TEMP_OVERHEAD <= NAME_MAX {
        name.into_owned()
    } else {
        let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
        let mut keep = NAME_MAX - TEMP_OVERHEAD - 17;
        while !name.is_char_boundary(keep) {
            keep -= 1;
        }
        format!("{}~{hash:016x}", &name[..keep])
    };
    Ok((dir, format!(".{stem}.tmp-")))
}

/// Creates a new temporary file `<prefix><unique>` in `dir`. The unique part mixes the pid, a
/// counter and the clock, since a pid alone repeats across PID namespaces.
fn create_temp(dir: &Path, prefix: &str) -> Result<(std::fs::File, PathBuf)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut tries = 0;
    loop {
        let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp_path = dir.join(format!("{prefix}{}-{n}-{nanos:x}", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&tmp_path) {
            Ok(file) => return Ok((file, tmp_path)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && tries < 16 => tries += 1,
            Err(e) => return Err(io("cannot create", &tmp_path, e)),
        }
    }
}

/// Takes an exclusive lock on a temporary file being written. Best effort: a file system
/// without locks leaves only the age rule to protect it.
fn lock_exclusive(file: &std::fs::File) {
    #[cfg(unix)]
    {
        use std::os::unix::io::AsRawFd;
        // SAFETY: flock on a descriptor we own; it reads no memory of ours.
        let _ = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    }
    #[cfg(not(unix))]
    let _ = file;
}

/// Whether nobody holds a lock on `path` (a temporary file): true when we could take it.
/// The lock is let go when the returned file closes.
#[cfg(unix)]
fn unlocked(path: &Path) -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    let file = OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW).open(path).ok()?;
    // SAFETY: flock on a descriptor we own; it reads no memory of ours.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    (rc == 0).then_some(file)
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

/// Removes the temporary files that killed saves of `path` left behind: those beside it named
/// `.<stem>.tmp-...` that no process holds locked and that were last written at least
/// [`STRAY_MIN_AGE`] ago. Best effort: errors are ignored, and the file of a save in progress
/// (locked) is never touched. Returns how many it removed. Unix only (elsewhere they stay).
pub fn remove_stray_temps(path: &Path) -> usize {
    #[cfg(unix)]
    {
        let path = resolve_target(path).unwrap_or_else(|_| path.to_path_buf());
        let Ok((dir, prefix)) = temp_prefix(&path) else { return 0 };
        let Ok(entries) = std::fs::read_dir(&dir) else { return 0 };
        let now = SystemTime::now();
        let mut removed = 0;
        for entry in entries.flatten() {
            if !entry.file_name().to_string_lossy().starts_with(&prefix) {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            // A clock behind the file's (skew between NFS clients) reads as young: kept.
            let old = meta.modified().ok().and_then(|m| now.duration_since(m).ok()).is_some_and(|age| age >= STRAY_MIN_AGE);
            if !meta.file_type().is_file() || !old {
                continue;
            }
            // Removed while we hold its lock: no saver can be writing it.
            if let Some(_held) = unlocked(&entry.path()) {
                if std::fs::remove_file(entry.path()).is_ok() {
                    removed += 1;
                }
            }
        }
        removed
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        0
    }
}
