//! A durable index: one bound to a directory, whose every change is in the write-ahead log
//! before the call that made it returns (`storage::wal`), with checkpoints that write a
//! snapshot and start a new log, and recovery that loads the newest snapshot and replays the
//! log after it.
//!
//! Ordering: a change is appended to the log while the key map's write lock is held (where it
//! becomes visible), so the log's order is the order in which changes took effect, also for
//! concurrent writers of the same key. The call then waits for the disk as its sync mode says
//! (outside every lock: writers waiting together share one fsync). A change is thus visible to
//! searches in this process a moment before it is durable; it is acknowledged (the call
//! returns) only once it is.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::keys::KeyRef;
use crate::options::IndexOptions;
use crate::storage::wal::dir::{self, DirLock};
use crate::storage::wal::frame;
use crate::storage::wal::op::{self, Op, OwnedKeys};
use crate::storage::wal::writer::LogWriter;
use crate::storage::wal::{Durability, Recovery, SyncMode};

use super::{Index, Keys, Payloads};

/// The durable side of an index (absent for an index without a directory).
pub(crate) struct Durable {
    dir: PathBuf,
    log: Arc<LogWriter>,
    sync: SyncMode,
    checkpoint_bytes: u64,
    /// One checkpoint at a time.
    checkpointing: Mutex<()>,
    /// Set while an automatic checkpoint runs, so writers do not queue up behind it.
    auto_checkpoint_running: AtomicBool,
    flusher: Option<Flusher>,
    recovery: Recovery,
    /// Dropped last: the directory stays locked until everything above is closed.
    _lock: DirLock,
}

/// `SyncMode::Batch`'s background thread: syncs the log every interval until stopped.
struct Flusher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Flusher {
    fn start(log: Weak<LogWriter>, interval: std::time::Duration) -> Flusher {
        let stop = Arc::new(AtomicBool::new(false));
        let stop_seen = stop.clone();
        let thread = std::thread::Builder::new()
            .name("omendb-log-sync".into())
            .spawn(move || {
                while !stop_seen.load(Ordering::Acquire) {
                    std::thread::park_timeout(interval);
                    let Some(log) = log.upgrade() else { return };
                    // A failure is kept by the log and reported to the next writer.
                    let _ = log.flush();
                }
            })
            .ok();
        Flusher { stop, thread }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

impl Drop for Durable {
    fn drop(&mut self) {
        self.flusher.take();
        // Closing syncs what `Off` and `Batch` left in the cache; a failure here has nobody to
        // tell, and recovery reads whatever reached the disk.
        let _ = self.log.flush();
    }
}

impl Index {
    /// Opens the durable index in directory `dir`, creating it (and the directory) if there
    /// is none there yet, or recovering it: the newest snapshot is loaded and the log after it
    /// replayed, up to the first torn or damaged record, which is cut off with everything
    /// after it ([`Index::recovery`] says how much).
    ///
    /// `options` decides the options: called with None for a new index, it returns the
    /// options to create it with; called with the stored options of an existing one, it
    /// returns an error if the caller's options conflict with them
    /// ([`options_must_match`] is the usual check). The directory is locked for writing
    /// while the index lives: a second open fails with `Error::Locked`.
    pub fn open_dir(
        dir: impl AsRef<Path>,
        options: impl FnOnce(Option<&IndexOptions>) -> Result<IndexOptions>,
        durability: Durability,
    ) -> Result<Index> {
        let dir = dir.as_ref();
        if let SyncMode::Batch(d) = durability.sync {
            if d.is_zero() {
                return Err(Error::InvalidArgument("the batch sync interval must be above 0".into()));
            }
        }
        if !dir.is_dir() {
            std::fs::create_dir_all(dir).map_err(|e| Error::Io(format!("cannot create directory {}: {e}", dir.display())))?;
            // The new directory's own name must be durable too, or a power loss could take
            // every acknowledged write with it.
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                dir::sync_dir(parent)?;
            }
        }
        let lock = DirLock::acquire(dir)?;
        dir::remove_temporaries(dir)?;
        let (snapshots, logs) = dir::list(dir)?;
        let (mut index, log, recovery) = match snapshots.last() {
            None if logs.is_empty() => {
                let index = Index::new(options(None)?)?;
                let bytes = index.to_bytes()?;
                crate::storage::atomic::write_atomically(&dir::snapshot_path(dir, 1), |out| {
                    out.write_all(&bytes).map_err(|e| Error::Io(format!("cannot write snapshot: {e}")))
                })?;
                let log = LogWriter::create(dir, 1, 1)?;
                (index, log, Recovery { snapshot_generation: 1, ..Recovery::default() })
            }
            None => {
                return Err(Error::Corrupt(format!(
                    "{} holds logs but no snapshot: it is not a whole OmenDB directory",
                    dir.display()
                )))
            }
            Some(&generation) => {
                let index = Index::load(dir::snapshot_path(dir, generation))?;
                let stored = index.stored_options();
                options(Some(&stored))?;
                let (log, recovery) = index.replay(dir, generation, &logs)?;
                for &old in snapshots.iter().filter(|&&g| g < generation) {
                    let _ = std::fs::remove_file(dir::snapshot_path(dir, old));
                }
                (index, log, recovery)
            }
        };
        let log = Arc::new(log);
        let flusher = match durability.sync {
            SyncMode::Batch(interval) => Some(Flusher::start(Arc::downgrade(&log), interval)),
            _ => None,
        };
        index.durable = Some(Durable {
            dir: dir.to_path_buf(),
            log,
            sync: durability.sync,
            checkpoint_bytes: durability.checkpoint_bytes,
            checkpointing: Mutex::new(()),
            auto_checkpoint_running: AtomicBool::new(false),
            flusher,
            recovery,
            _lock: lock,
        });
        Ok(index)
    }

    /// The options as stored, with the dimensions the index has taken from its first batch.
    fn stored_options(&self) -> IndexOptions {
        IndexOptions { dim: self.dim(), ..self.options.clone() }
    }

    /// Replays the logs of generation `from` and later onto this index (loaded from snapshot
    /// `from`); returns the writer that continues the last of them.
    fn replay(&self, dir: &Path, from: u64, logs: &[u64]) -> Result<(LogWriter, Recovery)> {
        let (recovery, resume) = self.replay_logs(dir, from, logs, true)?;
        for &old in logs.iter().filter(|&&g| g < from) {
            let _ = std::fs::remove_file(dir::log_path(dir, old));
        }
        let writer = match resume {
            Some((generation, len, next)) if len >= frame::HEADER_LEN as u64 => LogWriter::resume(dir, generation, len, next)?,
            // The damaged header is replaced by a good one (the file held nothing usable).
            Some((generation, _, next)) => LogWriter::create(dir, generation, next)?,
            // Nothing before it is replayed, so its records may number from 1 again.
            None => LogWriter::create(dir, from, 1)?,
        };
        dir::sync_dir(dir)?;
        Ok((writer, recovery))
    }

    /// Replays the logs of generation `from` and later; with `repair`, cuts the torn or damaged
    /// end and removes later logs (the writer's open), else leaves every file as it is (a
    /// reader's). Returns what it found and where the last log's whole records end.
    #[allow(clippy::type_complexity)]
    fn replay_logs(&self, dir: &Path, from: u64, logs: &[u64], repair: bool) -> Result<(Recovery, Option<(u64, u64, u64)>)> {
        let mut recovery = Recovery { snapshot_generation: from, ..Recovery::default() };
        let mut next_seq = None;
        let mut resume = None;
        let live: Vec<u64> = logs.iter().copied().filter(|&g| g >= from).collect();
        for (i, &generation) in live.iter().enumerate() {
            let path = dir::log_path(dir, generation);
            let bytes = dir::read_file(&path)?;
            let scan = match frame::scan(&bytes) {
                Ok(scan) => scan,
                Err(Error::UnsupportedVersion { found, supported }) => {
                    return Err(Error::UnsupportedVersion { found, supported })
                }
                // A header is synced before its file is named, so it is never torn: one that
                // does not check was damaged later. Nothing in the file can be trusted.
                Err(e) => frame::Scan {
                    generation,
                    first_seq: next_seq.unwrap_or(1),
                    records: Vec::new(),
                    valid_len: 0,
                    stopped: Some(e.to_string()),
                },
            };
            if scan.generation != generation {
                return Err(Error::Corrupt(format!("{} says it is generation {}", path.display(), scan.generation)));
            }
            if let Some(expected) = next_seq {
                if scan.first_seq != expected {
                    return Err(Error::Corrupt(format!(
                        "{} starts at record {}, but the log before it ended at {}",
                        path.display(),
                        scan.first_seq,
                        expected
                    )));
                }
            }
            for record in &scan.records {
                let op = op::decode(record.kind, record.payload).map_err(|e| {
                    Error::Corrupt(format!("{}: record {}: {e}", path.display(), record.seq))
                })?;
                self.apply(op).map_err(|e| {
                    Error::Corrupt(format!("{}: record {} does not apply to the index: {e}", path.display(), record.seq))
                })?;
                recovery.records_replayed += 1;
            }
            next_seq = Some(scan.first_seq + scan.records.len() as u64);
            let torn = scan.stopped.is_some();
            recovery.bytes_dropped += (bytes.len() - scan.valid_len) as u64;
            resume = Some((generation, scan.valid_len as u64, scan.first_seq + scan.records.len() as u64));
            if torn {
                recovery.stopped = scan.stopped.map(|why| format!("{}: {why}", path.display()));
                // Nothing after damage is trusted: later logs go with the tail.
                for &later in &live[i + 1..] {
                    let later_path = dir::log_path(dir, later);
                    recovery.bytes_dropped += std::fs::metadata(&later_path).map_or(0, |m| m.len());
                    if repair {
                        std::fs::remove_file(&later_path)
                            .map_err(|e| Error::Io(format!("cannot remove {}: {e}", later_path.display())))?;
                    }
                }
                break;
            }
        }
        Ok((recovery, resume))
    }

    /// Whether `path` is a durable index's directory (one holding a snapshot): `load` and
    /// `open` read such a directory; any other directory is refused as before, as not a file.
    pub(super) fn is_durable_dir(path: &Path) -> bool {
        path.is_dir() && dir::list(path).is_ok_and(|(snapshots, _)| !snapshots.is_empty())
    }

    /// Reads a durable directory as it stands, without its lock and without changing any
    /// file (`Index::load` and `Index::open` of a directory): the newest snapshot and the
    /// log after it, up to its first torn or damaged record. A checkpoint the writer finishes
    /// meanwhile may remove the files being read: the read then starts over (a few times).
    pub(super) fn read_dir(dir: &Path, read_only: bool) -> Result<Index> {
        let mut last = None;
        for _ in 0..5 {
            let (snapshots, logs) = dir::list(dir)?;
            let Some(&generation) = snapshots.last() else {
                return Err(Error::Io(format!(
                    "{} is a directory without an OmenDB snapshot (an index file, or a durable index's directory, was expected)",
                    dir.display()
                )));
            };
            let attempt = Index::load(dir::snapshot_path(dir, generation))
                .and_then(|index| index.replay_logs(dir, generation, &logs, false).map(|_| index));
            match attempt {
                Ok(mut index) => {
                    index.read_only = read_only;
                    return Ok(index);
                }
                // A file listed a moment ago is gone: a checkpoint replaced it.
                Err(Error::Io(m)) if m.contains("No such file") => last = Some(Error::Io(m)),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Io(format!("{}: changed under every read", dir.display()))))
    }

    /// Repeats one logged operation.
    fn apply(&self, op: Op) -> Result<()> {
        match op {
            Op::Put { upsert, auto, keys, dim: _, vectors, metadata, texts } => {
                let meta: Option<Vec<Option<&str>>> = metadata.as_ref().map(|m| m.iter().map(|s| s.as_deref()).collect());
                let text: Option<Vec<Option<&str>>> = texts.as_ref().map(|t| t.iter().map(|s| s.as_deref()).collect());
                let payloads = Payloads { metadata: meta.as_deref(), texts: text.as_deref() };
                match &keys {
                    OwnedKeys::U64(k) => {
                        self.put(Keys::U64(k), &vectors, payloads, put_kind(upsert))?;
                        if auto {
                            if let Some(&last) = k.last() {
                                self.next_auto_key.fetch_max(last + 1, Ordering::SeqCst);
                            }
                        }
                    }
                    OwnedKeys::Str(k) => {
                        let refs: Vec<&str> = k.iter().map(String::as_str).collect();
                        self.put(Keys::Str(&refs), &vectors, payloads, put_kind(upsert))?;
                    }
                }
                Ok(())
            }
            Op::Remove { key } => match &key {
                OwnedKeys::U64(k) if k.len() == 1 => self.remove_key(KeyRef::U64(k[0])).map(|_| ()),
                OwnedKeys::U64(k) => self.remove_keys(Keys::U64(k)).map(|_| ()),
                OwnedKeys::Str(k) if k.len() == 1 => self.remove_key(KeyRef::Str(&k[0])).map(|_| ()),
                OwnedKeys::Str(k) => {
                    let refs: Vec<&str> = k.iter().map(String::as_str).collect();
                    self.remove_keys(Keys::Str(&refs)).map(|_| ())
                }
            },
        }
    }

    /// Appends a record to the log of a durable index; None for an index without one.
    pub(super) fn log_append(&self, kind: u8, payload: &[u8]) -> Result<Option<u64>> {
        match &self.durable {
            None => Ok(None),
            Some(d) => d.log.append(kind, payload, frame::body_crc(kind, payload)).map(Some),
        }
    }

    /// Whether changes must be logged (a durable index).
    pub(super) fn is_durable(&self) -> bool {
        self.durable.is_some()
    }

    /// Called by every change once it took effect and let go of its locks: waits for the disk
    /// as the sync mode says, then starts an automatic checkpoint if the log has grown past
    /// its threshold.
    pub(super) fn after_logged(&self, seq: Option<u64>) -> Result<()> {
        let (Some(d), Some(seq)) = (&self.durable, seq) else { return Ok(()) };
        if d.sync == SyncMode::Always {
            d.log.wait_durable(seq)?;
        }
        if d.checkpoint_bytes > 0
            && d.log.len() >= d.checkpoint_bytes
            && !d.auto_checkpoint_running.swap(true, Ordering::AcqRel)
        {
            // The write is durable already: a checkpoint that fails leaves the log to grow and
            // is tried again after a later write.
            let _ = self.checkpoint();
            d.auto_checkpoint_running.store(false, Ordering::Release);
        }
        Ok(())
    }

    /// Fails if the log of a durable index failed earlier.
    pub(super) fn check_log_healthy(&self) -> Result<()> {
        self.durable.as_ref().map_or(Ok(()), |d| d.log.check_healthy())
    }

    /// Writes a checkpoint of a durable index: a snapshot of every change so far (the index
    /// file format, written atomically) and a new, empty log; the old log and snapshot are
    /// removed after. Writers wait only while the snapshot is serialised in memory, not while
    /// it is written and synced. Fails with `InvalidArgument` on an index without a directory.
    pub fn checkpoint(&self) -> Result<()> {
        let d = self.durable.as_ref().ok_or_else(|| {
            Error::InvalidArgument("checkpoint needs a durable index (one opened with a path)".into())
        })?;
        let _one = d.checkpointing.lock();
        let (bytes, generation) = {
            let _no_writers = self.persist_gate.write();
            if d.log.is_empty() {
                return Ok(());
            }
            let mut out = std::io::Cursor::new(Vec::new());
            self.write_snapshot_gated(&mut out)?;
            (out.into_inner(), d.log.rotate()?)
        };
        crate::storage::atomic::write_atomically(&dir::snapshot_path(&d.dir, generation), |out| {
            out.write_all(&bytes).map_err(|e| Error::Io(format!("cannot write snapshot: {e}")))
        })?;
        // The snapshot is in place: what it covers is no longer needed.
        let (snapshots, logs) = dir::list(&d.dir)?;
        for g in snapshots.into_iter().filter(|&g| g < generation) {
            let _ = std::fs::remove_file(dir::snapshot_path(&d.dir, g));
        }
        for g in logs.into_iter().filter(|&g| g < generation) {
            let _ = std::fs::remove_file(dir::log_path(&d.dir, g));
        }
        dir::sync_dir(&d.dir)
    }

    /// Syncs the log of a durable index now (what `SyncMode::Off` and `Batch` leave to later).
    /// Does nothing on an index without a directory.
    pub fn flush(&self) -> Result<()> {
        self.durable.as_ref().map_or(Ok(()), |d| d.log.flush())
    }

    /// The size of the live log (what a checkpoint would fold into a snapshot); None for an
    /// index without a directory.
    pub fn log_bytes(&self) -> Option<u64> {
        self.durable.as_ref().map(|d| d.log.len())
    }

    /// What opening a durable index found in its log; None for an index without a directory.
    pub fn recovery(&self) -> Option<&Recovery> {
        self.durable.as_ref().map(|d| &d.recovery)
    }

    /// `stats`' `durable` field: null, or the directory and the live log's size.
    pub(super) fn durable_stats(&self) -> serde_json::Value {
        match &self.durable {
            None => serde_json::Value::Null,
            Some(d) => serde_json::json!({ "dir": d.dir.display().to_string(), "log_bytes": d.log.len() }),
        }
    }

    /// The directory of a durable index.
    pub fn dir(&self) -> Option<&Path> {
        self.durable.as_ref().map(|d| d.dir.as_path())
    }
}

fn put_kind(upsert: bool) -> op::PutKind {
    if upsert {
        op::PutKind::Upsert
    } else {
        op::PutKind::Add
    }
}

/// The usual conflict check of [`Index::open_dir`]: a new index gets `options`; an existing
/// one must have been created with exactly `options` (its dimensions as taken from its first
/// batch when created with 0), or with what `explicit` leaves out: only the options it names
/// are compared. Names: "dim", "metric", "m", "ef_construction", "ef_search", "seed", "dtype",
/// "rerank", "pq_m", "full_precision_dir", "text", "bm25", "neighbor_codes".
pub fn options_must_match<'a>(
    options: &'a IndexOptions,
    explicit: &'a [&'a str],
) -> impl FnOnce(Option<&IndexOptions>) -> Result<IndexOptions> + 'a {
    move |stored| {
        let Some(stored) = stored else { return Ok(options.clone()) };
        let differs = |name: &str| match name {
            "dim" => options.dim != stored.dim,
            "metric" => options.metric != stored.metric,
            "m" => options.m != stored.m,
            "ef_construction" => options.ef_construction != stored.ef_construction,
            "ef_search" => options.ef_search != stored.ef_search,
            "seed" => options.seed != stored.seed,
            "dtype" => options.dtype != stored.dtype,
            "rerank" => options.rerank != stored.rerank,
            "pq_m" => options.pq_m != stored.pq_m,
            "full_precision_dir" => options.raw_storage != stored.raw_storage,
            "text" => options.text != stored.text,
            "bm25" => options.bm25 != stored.bm25,
            "neighbor_codes" => options.neighbor_codes != stored.neighbor_codes,
            _ => false,
        };
        for name in explicit {
            if differs(name) {
                return Err(Error::InvalidArgument(format!(
                    "option {name} conflicts with the index stored in the directory (created with {})",
                    describe(stored, name)
                )));
            }
        }
        Ok(stored.clone())
    }
}

fn describe(o: &IndexOptions, name: &str) -> String {
    match name {
        "dim" => format!("dim {}", o.dim),
        "metric" => format!("metric {}", o.metric.name()),
        "m" => format!("m {}", o.m),
        "ef_construction" => format!("ef_construction {}", o.ef_construction),
        "ef_search" => format!("ef_search {}", o.ef_search),
        "seed" => format!("seed {}", o.seed),
        "dtype" => format!("dtype {}", o.dtype.name()),
        "rerank" => format!("rerank {}", o.rerank),
        "pq_m" => format!("pq_m {}", o.pq_m),
        "full_precision_dir" => format!("full-precision vectors in {:?}", o.raw_storage),
        "neighbor_codes" => format!("neighbor_codes {}", o.neighbor_codes),
        other => format!("other {other} settings"),
    }
}
