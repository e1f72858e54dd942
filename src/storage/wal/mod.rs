//! The write-ahead log of a durable index directory: every change is appended here as one
//! record before the call that made it returns, and replayed after the last checkpoint when the
//! directory is opened again. Byte layout: docs/format.md, "Durable directories".
//!
//! - `frame`: the bytes of a log file (header, framed and checksummed records) and the scan
//!   that reads them back, stopping at the first torn or damaged record;
//! - `op`: the operations a record holds (a batch put, a remove) and their payload;
//! - `writer`: appending, group commit (one fsync for every writer waiting), rotation;
//! - `dir`: the directory's files, their names, and its write lock.

pub mod dir;
pub mod frame;
pub mod op;
pub mod writer;

use std::time::Duration;

/// When a write reaches the disk, relative to the call that made it returning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncMode {
    /// Before the call returns (fdatasync; concurrent writers share one): an acknowledged
    /// write survives a crash of the process or of the machine.
    Always,
    /// At most this long after the call returns (a background thread syncs the log at that
    /// interval): a crash of the process loses nothing, a crash of the machine (power, kernel)
    /// loses at most the writes of the last interval.
    Batch(Duration),
    /// When the operating system writes its cache back (and at checkpoints and close): a
    /// crash of the process loses nothing, a crash of the machine loses the writes not yet
    /// written back.
    Off,
}

/// How a durable index writes (see `Index::open_dir`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Durability {
    /// When a write reaches the disk.
    pub sync: SyncMode,
    /// A checkpoint runs when the log grows past this many bytes (0: only when asked).
    pub checkpoint_bytes: u64,
}

/// Default automatic-checkpoint threshold: 256 MiB of log.
pub const DEFAULT_CHECKPOINT_BYTES: u64 = 256 << 20;
/// Default interval of `SyncMode::Batch`.
pub const DEFAULT_BATCH_INTERVAL: Duration = Duration::from_millis(100);

impl Default for Durability {
    fn default() -> Self {
        Durability { sync: SyncMode::Always, checkpoint_bytes: DEFAULT_CHECKPOINT_BYTES }
    }
}

/// What opening a directory found in its logs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// The generation of the snapshot loaded.
    pub snapshot_generation: u64,
    /// Log records replayed on top of it.
    pub records_replayed: u64,
    /// Bytes of torn or damaged log dropped (cut from the log's end).
    pub bytes_dropped: u64,
    /// Why the replay stopped before the end of the log, if it did.
    pub stopped: Option<String>,
}
