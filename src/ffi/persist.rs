//! Saving an index to a file, loading it back and opening it memory-mapped
//! (`omendb_index_save`, `omendb_index_load`, `omendb_index_open`), and the same bytes in
//! memory (`omendb_index_serialize`, `omendb_index_deserialize`).

use std::ffi::c_char;

use super::boundary::{self, guard, handle, new_handle, out, slice, utf8};
use super::index::omendb_index;
use super::status::{omendb_error, omendb_status};
use crate::index::Index;

/// Saves `index` to the file at `path` (`path_len` bytes of UTF-8, no NUL needed), in the
/// versioned format of docs/format.md, atomically: the bytes go to a temporary file in the
/// same directory, which is flushed to disk (fsync) and renamed over `path`, and the directory
/// is fsynced. A crash or power loss at any moment leaves the previous file (or none) or the
/// new one, whole; at worst a stray temporary file `.<name>.tmp-<unique>` remains beside it,
/// which the next save, load or open of `path` removes once it is a minute old. A save in
/// progress holds a lock on its temporary file, so no other process (in any PID namespace,
/// or on another NFS client with working locks) removes it.
///
/// `path` may be a symbolic link: the file it names is replaced and the link stays. A path
/// that names an existing directory, FIFO, device or socket is refused (OMENDB_STATUS_IO), so a
/// save never replaces one. File names up to the system's limit (255 bytes) work: a name too
/// long for its temporary name is shortened there.
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

/// Serializes `index` into a new buffer: the bytes `omendb_index_save` would write to a file
/// (same format, same checks when read back), for a caller that keeps them elsewhere (a
/// database column, a message, Python's pickle).
///
/// On success writes the buffer's address to `*bytes_out` and its length to `*len_out`; the
/// caller owns the buffer and frees it with `omendb_bytes_free(*bytes_out, *len_out)`. On
/// failure both are unchanged.
///
/// A durable index serializes as it stands, like a snapshot: the bytes make a plain index,
/// not bound to the directory.
///
/// Returns OMENDB_STATUS_OK or OMENDB_STATUS_NULL_POINTER.
///
/// Thread safety: as `omendb_index_save` (writers wait while the bytes are made).
#[no_mangle]
pub extern "C" fn omendb_index_serialize(
    index: *const omendb_index,
    bytes_out: *mut *mut u8,
    len_out: *mut usize,
    err_out: *mut *mut omendb_error,
) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        out(bytes_out, "bytes_out")?;
        out(len_out, "len_out")?;
        boundary::bytes_out(idx.to_bytes()?, bytes_out, len_out)
    })
}

/// Makes an index in memory from `len` bytes made by `omendb_index_serialize` (or read from a
/// file written by `omendb_index_save`), checked as `omendb_index_load` checks a file. The
/// bytes are copied: the caller may free them after the call.
///
/// On success writes a new handle to `*index_out` (freed with `omendb_index_free`).
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER, OMENDB_STATUS_CORRUPT or
/// OMENDB_STATUS_UNSUPPORTED_VERSION.
///
/// Thread safety: safe to call from any thread.
#[no_mangle]
pub extern "C" fn omendb_index_deserialize(
    bytes: *const u8,
    len: usize,
    index_out: *mut *mut omendb_index,
    err_out: *mut *mut omendb_error,
) -> omendb_status {
    guard(err_out, || {
        let slot = out(index_out, "index_out")?;
        let bytes = slice(bytes, len, "bytes")?;
        let inner = Index::from_bytes(bytes)?;
        *slot = new_handle(omendb_index { inner });
        Ok(())
    })
}

/// Frees a buffer made by `omendb_index_serialize`, given the length it was made with. NULL is
/// a no-op.
///
/// Thread safety: safe to call from any thread.
#[no_mangle]
pub extern "C" fn omendb_bytes_free(bytes: *mut u8, len: usize) {
    boundary::free_bytes(bytes, len)
}

/// Loads an index from the file at `path` (`path_len` bytes of UTF-8, no NUL needed), written
/// by `omendb_index_save`, into memory. Every checksum and structural rule of the file is
/// checked first: a damaged or foreign file is refused, never trusted. A path that names
/// anything but a regular file (a FIFO, device, socket or directory) fails at once with
/// OMENDB_STATUS_IO, without waiting on it; so does `omendb_index_open`.
///
/// The exception: the directory of a durable index (`omendb_options_set_path`) loads as it
/// stands, without its lock, so while a writer has it open: its newest snapshot and the log
/// after it (up to a torn end, left as it is), into an index of its own that is not durable
/// (changes to it are not written back). A directory without a snapshot is OMENDB_STATUS_IO.
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
        *slot = new_handle(omendb_index { inner });
        Ok(())
    })
}

/// Opens the index file at `path` (`path_len` bytes of UTF-8, no NUL needed) read-only, with
/// its vectors and graph served straight from a memory mapping of the file: nothing of them is
/// copied, so opening a large index is fast and uses little memory, and the operating system
/// pages records in (and out) as searches touch them (for a quantized index, its codes and
/// the full-precision vectors it re-ranks with). Keys, metadata and texts are read into
/// memory. Opening reads the whole file once to check every checksum and every record (a
/// damaged or foreign file is refused, as by `omendb_index_load`).
///
/// The index answers every search (plain, batched, filtered, text, hybrid) exactly as an
/// index loaded with `omendb_index_load` does. An index made with neighbour codes
/// (`omendb_options_set_neighbor_codes`) gets them in anonymous memory beside the mapping,
/// one per node, made at open from the mapped vectors (an O(n dim) pass, like a load's): its
/// searches walk the graph on the codes in memory and re-score from the mapping.
///
/// It is read-only: `omendb_index_add*`, `_upsert*`, `_add_records`, `_upsert_records`,
/// `_remove` and `_compact` on it return OMENDB_STATUS_INVALID_ARGUMENT ("index opened
/// read-only"). `omendb_index_save` works (to another path, or to this one: the open index
/// keeps reading the file it opened).
///
/// A file written by an older format version, or one whose records are laid out differently
/// from this build's, cannot be used in place: it is loaded into memory instead (same answers,
/// still read-only).
///
/// Changing the file while it is open: replacing it with `omendb_index_save`, which renames a
/// new file over it, is safe (the open index keeps the old one). Rewriting it in place at the
/// same length gives wrong answers (or errors) until it is reopened, never a read outside the
/// mapping: every link read from it is bounds-checked. Truncating it is the one thing a
/// mapping cannot survive: a search that touches a page past the new end gets SIGBUS, as with
/// LMDB or SQLite's memory-mapped I/O. Where other processes may shrink the file, use
/// `omendb_index_load`, which reads it into memory.
///
/// The directory of a durable index opens read-only beside its writer, as it stands: read
/// into memory as `omendb_index_load` reads it (the log cannot be replayed onto a mapping),
/// with every change refused. It does not follow later writes: open it again for those.
///
/// On success writes a new handle to `*index_out`; the caller owns it and frees it with
/// `omendb_index_free`, which unmaps the file. On failure `*index_out` is unchanged.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER (`index_out` NULL, or `path` NULL with
/// `path_len` > 0), OMENDB_STATUS_INVALID_UTF8, OMENDB_STATUS_IO (the file cannot be opened or
/// mapped), OMENDB_STATUS_CORRUPT (not an OmenDB index file, truncated, or damaged), or
/// OMENDB_STATUS_UNSUPPORTED_VERSION (a newer format version).
///
/// Thread safety: safe to call from any thread; the index it returns may be searched from many
/// threads at once, like any other.
#[no_mangle]
pub extern "C" fn omendb_index_open(path: *const c_char, path_len: usize, index_out: *mut *mut omendb_index, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let slot = out(index_out, "index_out")?;
        let path = utf8(path, path_len, "path")?;
        let inner = Index::open(path)?;
        *slot = new_handle(omendb_index { inner });
        Ok(())
    })
}

/// Writes true to `*read_only_out` if `index` was opened with `omendb_index_open` (every
/// change to it is refused), false otherwise.
///
/// Returns OMENDB_STATUS_OK or OMENDB_STATUS_NULL_POINTER (`index` or `read_only_out` NULL).
///
/// Thread safety: safe to call concurrently with any other call except `omendb_index_free`.
#[no_mangle]
pub extern "C" fn omendb_index_is_read_only(index: *const omendb_index, read_only_out: *mut bool, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        let slot = out(read_only_out, "read_only_out")?;
        *slot = idx.is_read_only();
        Ok(())
    })
}
