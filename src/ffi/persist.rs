//! Saving an index to a file and loading it back (`omendb_index_save`, `omendb_index_load`).

use std::ffi::c_char;

use super::boundary::{guard, handle, out, utf8};
use super::index::omendb_index;
use super::status::{omendb_error, omendb_status};
use crate::index::Index;

/// Saves `index` to the file at `path` (`path_len` bytes of UTF-8, no NUL needed), in the
/// versioned format of docs/format.md, atomically: the bytes go to a temporary file in the
/// same directory, which is flushed to disk (fsync) and renamed over `path`, and the directory
/// is fsynced. A crash or power loss at any moment leaves the previous file (or none) or the
/// new one, whole; at worst a stray temporary file `.<name>.tmp-<pid>-<n>` remains beside it.
///
/// The file holds everything: options, vectors, graph, keys, removed slots and counters, so an
/// index loaded from it answers every call exactly as `index` did at the time of the save.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER (`index` NULL, or `path` NULL with
/// `path_len` > 0), OMENDB_STATUS_INVALID_UTF8, or OMENDB_STATUS_IO (the file cannot be
/// created, written, synced or renamed: the message names the path and the OS error; an empty
/// path gives this too). On failure the file at `path` is unchanged.
///
/// Thread safety: safe to call concurrently with any other call except `omendb_index_free`.
/// The index is saved as it stands at one moment: calls that change it (add, upsert, remove,
/// compact) wait while the bytes are written; searches keep running.
#[no_mangle]
pub extern "C" fn omendb_index_save(index: *const omendb_index, path: *const c_char, path_len: usize, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        let path = utf8(path, path_len, "path")?;
        idx.save(path)?;
        Ok(())
    })
}

/// Loads an index from the file at `path` (`path_len` bytes of UTF-8, no NUL needed), written
/// by `omendb_index_save`, into memory. Every checksum and structural rule of the file is
/// checked first: a damaged or foreign file is refused, never trusted.
///
/// On success writes a new handle to `*index_out`; the caller owns it and frees it with
/// `omendb_index_free`. On failure `*index_out` is unchanged.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER (`index_out` NULL, or `path` NULL with
/// `path_len` > 0), OMENDB_STATUS_INVALID_UTF8, OMENDB_STATUS_IO (the file cannot be opened or
/// read), OMENDB_STATUS_CORRUPT (not an OmenDB index file, truncated, or damaged: the message
/// says which part), or OMENDB_STATUS_UNSUPPORTED_VERSION (written by a newer OmenDB in a format
/// version this library cannot read).
///
/// Thread safety: safe to call from any thread.
#[no_mangle]
pub extern "C" fn omendb_index_load(path: *const c_char, path_len: usize, index_out: *mut *mut omendb_index, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let slot = out(index_out, "index_out")?;
        let path = utf8(path, path_len, "path")?;
        let inner = Index::load(path)?;
        *slot = Box::into_raw(Box::new(omendb_index { inner }));
        Ok(())
    })
}
