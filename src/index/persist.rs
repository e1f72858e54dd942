//! Saving, loading and opening an index file (the format itself: `storage::format`; the
//! mapped open: `storage::mapped`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use parking_lot::RwLock;

use crate::error::{Error, Result};
use crate::space::Space;

use super::{Index, IndexOptions};

impl Index {
    /// Saves the index to `path` in the file format of `docs/format.md`, atomically: the bytes
    /// go to a temporary file in the same directory, which is fsynced and renamed over `path`,
    /// then the directory is fsynced. A crash at any moment leaves the previous file (or
    /// none) or the new one, whole.
    ///
    /// Concurrency: the index is saved as it stands at one moment. Calls that change it (add,
    /// upsert, add_auto, remove, compact) wait while the bytes are written (not during the
    /// fsync); searches keep running.
    pub fn save(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        crate::storage::atomic::write_atomically(path.as_ref(), |out| self.write_snapshot(out).map(|_| ()))
    }

    /// The bytes [`Index::save`] would write.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = std::io::Cursor::new(Vec::new());
        self.write_snapshot(&mut out)?;
        Ok(out.into_inner())
    }

    fn write_snapshot(&self, out: &mut dyn crate::storage::atomic::WriteSeek) -> Result<u64> {
        let _no_writers = self.persist_gate.write();
        self.write_snapshot_gated(out)
    }

    /// As `write_snapshot`, for a caller that already holds the persist gate exclusively.
    pub(super) fn write_snapshot_gated(&self, out: &mut dyn crate::storage::atomic::WriteSeek) -> Result<u64> {
        let graph = self.graph.get();
        let _no_repair = graph.map(|g| g.maintenance.lock());
        let keys = self.keys.read();
        let metadata = self.meta.read();
        let text = self.text.read();
        let options = IndexOptions { ef_search: self.ef_search(), ..self.options.clone() };
        let snapshot = crate::storage::format::Snapshot {
            options: &options,
            graph,
            keys: &keys,
            inserted: self.inserted.load(Ordering::Acquire),
            next_auto_key: self.next_auto_key.load(Ordering::Acquire),
            metadata: &metadata,
            text: &text,
            raw: self.raw.get(),
        };
        crate::storage::format::write_index(&snapshot, out)
    }

    /// Loads an index saved by [`Index::save`] into memory. It answers every call exactly as
    /// the saved index did, and further adds behave as they would have there.
    ///
    /// Fails with `Error::Io` if the file cannot be read, `Error::Corrupt` if it is not an
    /// index file or is damaged (truncated, a checksum or a structural check fails), and
    /// `Error::UnsupportedVersion` if a newer format version wrote it.
    ///
    /// A durable index's directory (see [`Index::open_dir`]) loads as it stands, without taking
    /// its lock (a writer may have it open): its newest snapshot and the log after it, into an
    /// index of its own, not durable: changes to it are not written back.
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Index> {
        if Index::is_durable_dir(path.as_ref()) {
            return Index::read_dir(path.as_ref(), false);
        }
        crate::storage::atomic::remove_stray_temps(path.as_ref());
        let source = crate::storage::format::FileSource::open(path.as_ref())?;
        Ok(Index::from_restored(crate::storage::format::read_index(&source)?, false))
    }

    /// Loads an index from the bytes of a saved file (see [`Index::load`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Index> {
        Ok(Index::from_restored(crate::storage::format::read_index(bytes)?, false))
    }

    pub(crate) fn from_restored(r: crate::storage::format::Restored, read_only: bool) -> Index {
        let graph = OnceLock::new();
        if let Some(g) = r.graph {
            let _ = graph.set(g);
        }
        let raw = OnceLock::new();
        if let Some(store) = r.raw {
            let _ = raw.set(store);
        }
        Index {
            exact: Space::new(r.options.metric),
            ef_search: std::sync::atomic::AtomicUsize::new(r.options.ef_search),
            threads: RwLock::new(None),
            raw,
            options: r.options,
            graph,
            keys: RwLock::new(r.keys),
            inserted: AtomicU64::new(r.inserted),
            next_auto_key: AtomicU64::new(r.next_auto_key),
            persist_gate: RwLock::new(()),
            meta: RwLock::new(r.metadata),
            text: RwLock::new(r.text),
            meta_version: AtomicU64::new(0),
            filter_cache: parking_lot::Mutex::new(None),
            read_only,
            durable: None,
        }
    }

    /// Opens an index file read-only, serving vectors and graph straight from a memory mapping
    /// of the file (see `storage::mapped`): nothing is copied, so opening costs one checked
    /// pass over the file and the operating system pages records in and out as searches need
    /// them. Searches of every kind answer exactly as [`Index::load`]'s index would (an f32
    /// index made with neighbour codes gets them at open, one per node, in anonymous memory
    /// beside the mapping: the default layout); calls that change the index (add, upsert, add_auto, remove, compact) fail with
    /// `Error::InvalidArgument` ("index opened read-only"). Saving it elsewhere works.
    ///
    /// Replacing the file with `save`, which renames a new file over it, is safe: the open
    /// index keeps the old one. Rewriting it in place gives wrong answers until it is reopened
    /// (every link read from the mapping is bounds-checked, so never a wild read); truncating
    /// it makes a search that touches a lost page fault (SIGBUS): use [`Index::load`] where
    /// another process may shrink the file. Errors as [`Index::load`].
    ///
    /// A durable index's directory opens read-only as it stands, beside its writer (no lock
    /// taken): read into memory as [`Index::load`] reads it (a log cannot be replayed onto a
    /// mapping), then every change refused.
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Index> {
        if Index::is_durable_dir(path.as_ref()) {
            return Index::read_dir(path.as_ref(), true);
        }
        Ok(Index::from_restored(crate::storage::mapped::open(path.as_ref())?, true))
    }

    /// Metadata field names ever used, in the order first seen, and the number of records
    /// with a text. For tools that describe an index (`omendb info`).
    pub fn payload_summary(&self) -> (Vec<String>, usize) {
        (self.meta.read().field_names().map(str::to_string).collect(), self.text.read().len())
    }

    /// Whether the index was opened read-only from a file mapping ([`Index::open`]).
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Fails with `InvalidArgument` on an index opened read-only.
    pub(crate) fn check_writable(&self) -> Result<()> {
        if self.read_only {
            return Err(Error::InvalidArgument(
                "index opened read-only (Index::open / omendb_index_open): load it to change it".into(),
            ));
        }
        Ok(())
    }
}
