//! Appending to the live log file, and group commit: concurrent writers that each need their
//! record on disk share one fsync (the first to ask leads, syncs everything written so far,
//! and wakes the others), as RocksDB's write groups do.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use super::dir::{log_path, sync_dir};
use super::frame;
use crate::error::{Error, Result};

fn io(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::Io(format!("{what} {}: {e}", path.display()))
}

struct Active {
    file: Arc<File>,
    path: PathBuf,
    generation: u64,
    /// The sequence number the next record gets.
    next_seq: u64,
    /// Bytes of the file.
    len: u64,
}

struct SyncState {
    /// Every record numbered below this is on disk.
    durable_below: u64,
    /// A writer is syncing on behalf of all.
    leading: bool,
}

/// The log being written: one file at a time, replaced by `rotate` at each checkpoint.
pub struct LogWriter {
    dir: PathBuf,
    active: Mutex<Active>,
    sync: Mutex<SyncState>,
    synced: Condvar,
    /// Set once a write or fsync failed: what is on disk is no longer known, so every later
    /// write is refused until the index is reopened (and recovery reads what is there).
    failed: Mutex<Option<String>>,
}

impl LogWriter {
    /// Continues log file `path` (generation `generation`), whose whole records end at byte
    /// `len` and whose next record is numbered `next_seq`; the file is cut to `len` first.
    pub fn resume(dir: &Path, generation: u64, len: u64, next_seq: u64) -> Result<LogWriter> {
        let path = log_path(dir, generation);
        // Append mode: every write lands at the end, also after the cut below.
        let file = std::fs::OpenOptions::new().append(true).open(&path).map_err(|e| io("cannot open log", &path, e))?;
        if file.metadata().map_err(|e| io("cannot stat log", &path, e))?.len() != len {
            file.set_len(len).map_err(|e| io("cannot cut the torn tail of log", &path, e))?;
            file.sync_all().map_err(|e| io("cannot fsync log", &path, e))?;
        }
        Ok(LogWriter::over(dir, file, path, generation, len, next_seq))
    }

    /// Starts a new log: generation `generation`, first record `next_seq`.
    pub fn create(dir: &Path, generation: u64, next_seq: u64) -> Result<LogWriter> {
        let (file, path) = create_file(dir, generation, next_seq)?;
        Ok(LogWriter::over(dir, file, path, generation, frame::HEADER_LEN as u64, next_seq))
    }

    fn over(dir: &Path, file: File, path: PathBuf, generation: u64, len: u64, next_seq: u64) -> LogWriter {
        LogWriter {
            dir: dir.to_path_buf(),
            active: Mutex::new(Active { file: Arc::new(file), path, generation, next_seq, len }),
            sync: Mutex::new(SyncState { durable_below: next_seq, leading: false }),
            synced: Condvar::new(),
            failed: Mutex::new(None),
        }
    }

    /// Fails if an earlier write or fsync failed.
    pub fn check_healthy(&self) -> Result<()> {
        match &*self.failed.lock() {
            Some(why) => Err(Error::Io(format!(
                "the write-ahead log failed earlier ({why}); nothing more is written: reopen the index to recover"
            ))),
            None => Ok(()),
        }
    }

    fn fail(&self, e: &Error) {
        self.failed.lock().get_or_insert_with(|| e.to_string());
    }

    /// Appends one record (its payload and `frame::body_crc` of it) and returns its sequence
    /// number. The bytes reach the operating system before this returns; they are on disk
    /// once `wait_durable` for the number returns. On failure the file is cut back to its
    /// last whole record, so nothing of this record remains.
    pub fn append(&self, kind: u8, payload: &[u8], body_crc: u32) -> Result<u64> {
        self.check_healthy()?;
        let len = u32::try_from(payload.len())
            .map_err(|_| Error::InvalidArgument(format!("a batch of {} bytes is too large for one log record", payload.len())))?;
        let mut a = self.active.lock();
        let seq = a.next_seq;
        let head = frame::frame(seq, kind, len, body_crc);
        let mut file = &*a.file;
        let written = file.write_all(&head).and_then(|()| file.write_all(payload));
        if let Err(e) = written {
            let err = io("cannot append to log", &a.path, e);
            // Cut the partial record, so recovery never sees it (it would stop there anyway).
            if a.file.set_len(a.len).is_err() {
                self.fail(&err);
            }
            return Err(err);
        }
        a.len += (frame::FRAME_LEN + payload.len()) as u64;
        a.next_seq += 1;
        Ok(seq)
    }

    /// Returns once record `seq` is on disk: syncs the log (or waits for the writer already
    /// syncing, whose fsync may cover it).
    pub fn wait_durable(&self, seq: u64) -> Result<()> {
        let mut st = self.sync.lock();
        loop {
            if st.durable_below > seq {
                return Ok(());
            }
            self.check_healthy()?;
            if st.leading {
                self.synced.wait(&mut st);
                continue;
            }
            st.leading = true;
            drop(st);
            let (file, path, below) = {
                let a = self.active.lock();
                (a.file.clone(), a.path.clone(), a.next_seq)
            };
            let result = file.sync_data().map_err(|e| io("cannot fsync log", &path, e));
            st = self.sync.lock();
            st.leading = false;
            match &result {
                Ok(()) => st.durable_below = st.durable_below.max(below),
                Err(e) => self.fail(e),
            }
            self.synced.notify_all();
            result?;
        }
    }

    /// Syncs whatever was written and is not yet on disk.
    pub fn flush(&self) -> Result<()> {
        let last = self.active.lock().next_seq;
        if self.sync.lock().durable_below >= last {
            return Ok(());
        }
        self.wait_durable(last - 1)
    }

    /// Bytes of the live log file.
    pub fn len(&self) -> u64 {
        self.active.lock().len
    }

    /// Whether the live log holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() <= frame::HEADER_LEN as u64
    }

    /// The live file's generation.
    pub fn generation(&self) -> u64 {
        self.active.lock().generation
    }

    /// Ends the live file (synced whole) and starts the next generation; returns it. Called
    /// by a checkpoint while no write is running.
    pub fn rotate(&self) -> Result<u64> {
        self.check_healthy()?;
        let mut a = self.active.lock();
        let synced = a.file.sync_data().map_err(|e| io("cannot fsync log", &a.path, e));
        if let Err(e) = &synced {
            self.fail(e);
        }
        synced?;
        let generation = a.generation + 1;
        let (file, path) = create_file(&self.dir, generation, a.next_seq)?;
        {
            let mut st = self.sync.lock();
            st.durable_below = st.durable_below.max(a.next_seq);
        }
        *a = Active { file: Arc::new(file), path, generation, next_seq: a.next_seq, len: frame::HEADER_LEN as u64 };
        Ok(generation)
    }
}

/// A new log file whose header is on disk before it has its name (written to a temporary
/// name, synced, renamed, the directory synced), so a log file's header is never torn.
fn create_file(dir: &Path, generation: u64, first_seq: u64) -> Result<(File, PathBuf)> {
    let path = log_path(dir, generation);
    let tmp = dir.join(format!(".log-{generation:016x}.wal.tmp"));
    // A temporary name left by a crash is ours to replace: the directory is locked.
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| io("cannot create log", &tmp, e))?;
    file.write_all(&frame::header(generation, first_seq)).map_err(|e| io("cannot write log", &tmp, e))?;
    file.sync_all().map_err(|e| io("cannot fsync log", &tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| io("cannot rename log into place", &path, e))?;
    sync_dir(dir)?;
    Ok((file, path))
}
