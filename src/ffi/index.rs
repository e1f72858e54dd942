//! `omendb_index`: create, add, upsert, remove, inspect, compact, free. Its searches are in
//! `search.rs`, records with metadata and texts in `records.rs`, saving and loading in
//! `persist.rs`.

use std::ffi::c_char;

use super::boundary::{free_handle, guard, handle, matrix, new_handle, out, slice, utf8, utf8_array};
use super::options::omendb_options;
use super::status::{early_check, omendb_error, omendb_status};
use crate::index::{Index, IndexOptions, Keys};
use crate::keys::{KeyKind, KeyRef, NO_KEY};

/// An HNSW vector index. Made by `omendb_index_create`, freed by `omendb_index_free`.
/// All functions taking a `const omendb_index *` may be called from many threads at once.
pub struct omendb_index {
    pub(crate) inner: Index,
}

/// The u64 written in place of a key where a search found fewer than k hits (UINT64_MAX).
/// It is never a valid key.
pub const OMENDB_NO_KEY: u64 = u64::MAX;

/// `omendb_index_key_kind`: no record added yet.
pub const OMENDB_KEY_KIND_NONE: u32 = 0;
/// `omendb_index_key_kind`: the index holds u64 keys.
pub const OMENDB_KEY_KIND_U64: u32 = 1;
/// `omendb_index_key_kind`: the index holds string keys.
pub const OMENDB_KEY_KIND_STRING: u32 = 2;

const _: () = assert!(OMENDB_NO_KEY == NO_KEY);

/// Creates an empty index, or, with a path set (`omendb_options_set_path`), opens the durable
/// index in that directory: created if there is none, recovered if there is.
///
/// `options` may be NULL for the defaults (see `omendb_options_create`); the index copies
/// them, so they may be freed right after. On success writes a new handle to `*index_out`;
/// the caller owns it and frees it with `omendb_index_free`. On failure `*index_out` is
/// unchanged.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER (`index_out` is NULL) or
/// OMENDB_STATUS_INVALID_ARGUMENT (also: an option set conflicts with a stored index's). With
/// a path also OMENDB_STATUS_LOCKED (the directory is open for writing elsewhere),
/// OMENDB_STATUS_IO, OMENDB_STATUS_CORRUPT (a snapshot fails its checks, or a log record
/// does not apply) and OMENDB_STATUS_UNSUPPORTED_VERSION. A torn or damaged end of the log is
/// not an error: it is cut off (the records before it are kept).
///
/// Thread safety: safe to call from any thread.
#[no_mangle]
pub extern "C" fn omendb_index_create(options: *const omendb_options, index_out: *mut *mut omendb_index, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let slot = out(index_out, "index_out")?;
        let inner = match options.is_null() {
            true => Index::new(IndexOptions::default())?,
            false => {
                let o = handle(options, "options")?;
                match &o.path {
                    None => Index::new(o.inner.clone())?,
                    Some(dir) => Index::open_dir(
                        dir,
                        crate::index::options_must_match(&o.inner, &o.explicit),
                        o.durability.clone(),
                    )?,
                }
            }
        };
        *slot = new_handle(omendb_index { inner });
        Ok(())
    })
}

/// Frees an index and everything it holds. NULL is a no-op.
///
/// Thread safety: no other call on this index may be running or start afterwards.
#[no_mangle]
pub extern "C" fn omendb_index_free(index: *mut omendb_index) {
    free_handle(index)
}

/// Adds `n` records with u64 keys: `keys[i]` names the vector at `vectors[i * dim ..
/// (i + 1) * dim]` (row-major, read in place, not retained). The first batch added to an index
/// created with dimensions 0 sets them. Large batches are inserted on all cores.
///
/// All or nothing: on any error no record of the batch is stored.
///
/// Returns OMENDB_STATUS_OK, or: OMENDB_STATUS_NULL_POINTER (index NULL, or keys/vectors NULL
/// with n > 0), OMENDB_STATUS_DIMENSION_MISMATCH, OMENDB_STATUS_NON_FINITE (NaN or infinity),
/// OMENDB_STATUS_ZERO_VECTOR (cosine), OMENDB_STATUS_INVALID_KEY (the index holds string keys,
/// or a key is OMENDB_NO_KEY), OMENDB_STATUS_DUPLICATE_KEY (already stored, or twice in the
/// batch), OMENDB_STATUS_INVALID_ARGUMENT (dim 0 or too large).
///
/// Thread safety: safe to call concurrently with any other call on the index except
/// `omendb_index_free`.
#[no_mangle]
pub extern "C" fn omendb_index_add_batch(index: *const omendb_index, keys: *const u64, n: usize, vectors: *const f32, dim: usize, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || put_u64(index, keys, n, vectors, dim, false))
}

/// As `omendb_index_add_batch`, but a key already stored gets the new vector: its old record
/// is removed and the new one inserted, in one step as seen by searches.
///
/// Returns the statuses of `omendb_index_add_batch`, except that a stored key is not an error
/// (a key twice in the batch still is: OMENDB_STATUS_DUPLICATE_KEY).
///
/// Thread safety: as `omendb_index_add_batch`.
#[no_mangle]
pub extern "C" fn omendb_index_upsert_batch(index: *const omendb_index, keys: *const u64, n: usize, vectors: *const f32, dim: usize, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || put_u64(index, keys, n, vectors, dim, true))
}

fn put_u64(index: *const omendb_index, keys: *const u64, n: usize, vectors: *const f32, dim: usize, upsert: bool) -> Result<(), omendb_error> {
    let idx = &handle(index, "index")?.inner;
    let keys = slice(keys, n, "keys")?;
    let vectors = matrix(vectors, n, dim, "vectors")?;
    early_check(idx.check_row_shape(n, dim))?;
    let keys = Keys::U64(keys);
    if upsert { idx.upsert(keys, vectors)? } else { idx.add(keys, vectors)? }
    Ok(())
}

/// Adds `n` records with string keys. `keys[i]` points to the UTF-8 bytes of key i and
/// `key_lens[i]` gives their length (keys may then hold any bytes of valid UTF-8, NUL
/// included); if `key_lens` is NULL each key is a NUL-terminated string instead. Keys are
/// copied; vectors are as in `omendb_index_add_batch`. A key holds 1..=65536 bytes.
///
/// All or nothing: on any error no record of the batch is stored.
///
/// Returns the statuses of `omendb_index_add_batch`, plus OMENDB_STATUS_INVALID_UTF8, and
/// OMENDB_STATUS_INVALID_KEY for an empty or too long key or an index of u64 keys.
///
/// Thread safety: as `omendb_index_add_batch`.
#[no_mangle]
pub extern "C" fn omendb_index_add_batch_str(index: *const omendb_index, keys: *const *const c_char, key_lens: *const usize, n: usize, vectors: *const f32, dim: usize, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || put_str(index, keys, key_lens, n, vectors, dim, false))
}

/// As `omendb_index_add_batch_str`, replacing the records of keys already stored (see
/// `omendb_index_upsert_batch`).
///
/// Thread safety: as `omendb_index_add_batch`.
#[no_mangle]
pub extern "C" fn omendb_index_upsert_batch_str(index: *const omendb_index, keys: *const *const c_char, key_lens: *const usize, n: usize, vectors: *const f32, dim: usize, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || put_str(index, keys, key_lens, n, vectors, dim, true))
}

fn put_str(index: *const omendb_index, keys: *const *const c_char, key_lens: *const usize, n: usize, vectors: *const f32, dim: usize, upsert: bool) -> Result<(), omendb_error> {
    let idx = &handle(index, "index")?.inner;
    let keys = utf8_array(keys, key_lens, n, "keys")?;
    let vectors = matrix(vectors, n, dim, "vectors")?;
    early_check(idx.check_row_shape(n, dim))?;
    let keys = Keys::Str(&keys);
    if upsert { idx.upsert(keys, vectors)? } else { idx.add(keys, vectors)? }
    Ok(())
}

/// Adds `n` records under automatic u64 keys: consecutive numbers counting up from 0 across
/// all such calls on this index, skipping every key in use: after a key k added by hand they
/// continue at k + 1 or later. Writes the first key used to `*first_key_out` (the batch holds
/// `first .. first + n - 1`).
///
/// Returns the statuses of `omendb_index_add_batch`.
///
/// Thread safety: as `omendb_index_add_batch`.
#[no_mangle]
pub extern "C" fn omendb_index_add_auto(index: *const omendb_index, vectors: *const f32, n: usize, dim: usize, first_key_out: *mut u64, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        let first_out = out(first_key_out, "first_key_out")?;
        let vectors = matrix(vectors, n, dim, "vectors")?;
        early_check(idx.check_row_shape(n, dim))?;
        *first_out = idx.add_auto(vectors, n)?;
        Ok(())
    })
}

/// Removes the record with u64 key `key`. It is never returned by a search that starts after
/// this call returns; its memory is reused by later inserts.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER, OMENDB_STATUS_KEY_NOT_FOUND, or
/// OMENDB_STATUS_INVALID_KEY (the index holds string keys).
///
/// Thread safety: as `omendb_index_add_batch`.
#[no_mangle]
pub extern "C" fn omendb_index_remove(index: *const omendb_index, key: u64, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || Ok(handle(index, "index")?.inner.remove(KeyRef::U64(key))?))
}

/// Removes the record with string key `key` (`len` bytes of UTF-8). See `omendb_index_remove`.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER, OMENDB_STATUS_INVALID_UTF8,
/// OMENDB_STATUS_KEY_NOT_FOUND, or OMENDB_STATUS_INVALID_KEY.
///
/// Thread safety: as `omendb_index_add_batch`.
#[no_mangle]
pub extern "C" fn omendb_index_remove_str(index: *const omendb_index, key: *const c_char, len: usize, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        Ok(idx.remove(KeyRef::Str(utf8(key, len, "key")?))?)
    })
}

/// Writes whether u64 key `key` is stored to `*found_out`.
///
/// Returns OMENDB_STATUS_OK or OMENDB_STATUS_NULL_POINTER.
///
/// Thread safety: safe to call concurrently with any other call except `omendb_index_free`.
#[no_mangle]
pub extern "C" fn omendb_index_contains(index: *const omendb_index, key: u64, found_out: *mut bool, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        *out(found_out, "found_out")? = idx.contains(KeyRef::U64(key));
        Ok(())
    })
}

/// Writes whether string key `key` (`len` bytes of UTF-8) is stored to `*found_out`.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER or OMENDB_STATUS_INVALID_UTF8.
///
/// Thread safety: as `omendb_index_contains`.
#[no_mangle]
pub extern "C" fn omendb_index_contains_str(index: *const omendb_index, key: *const c_char, len: usize, found_out: *mut bool, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        let key = utf8(key, len, "key")?;
        *out(found_out, "found_out")? = idx.contains(KeyRef::Str(key));
        Ok(())
    })
}

/// Writes the number of records to `*len_out`.
///
/// Returns OMENDB_STATUS_OK or OMENDB_STATUS_NULL_POINTER.
///
/// Thread safety: as `omendb_index_contains`.
#[no_mangle]
pub extern "C" fn omendb_index_len(index: *const omendb_index, len_out: *mut usize, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        *out(len_out, "len_out")? = idx.len();
        Ok(())
    })
}

/// Writes the dimensions to `*dim_out`: 0 while an index created with dimensions 0 has had no
/// record added.
///
/// Returns OMENDB_STATUS_OK or OMENDB_STATUS_NULL_POINTER.
///
/// Thread safety: as `omendb_index_contains`.
#[no_mangle]
pub extern "C" fn omendb_index_dim(index: *const omendb_index, dim_out: *mut usize, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        *out(dim_out, "dim_out")? = idx.dim();
        Ok(())
    })
}

/// Writes the default beam width of searches that pass ef = 0 to `*ef_out`: the options'
/// ef_search, unless `omendb_index_set_ef_search` changed it.
///
/// Returns OMENDB_STATUS_OK or OMENDB_STATUS_NULL_POINTER.
///
/// Thread safety: as `omendb_index_contains`.
#[no_mangle]
pub extern "C" fn omendb_index_ef_search(index: *const omendb_index, ef_out: *mut usize, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        *out(ef_out, "ef_out")? = idx.ef_search();
        Ok(())
    })
}

/// Changes the default beam width of searches that pass ef = 0 (hnswlib's `set_ef`), 1 to
/// 1,048,576 (2^20). Searches already running keep the width they started with. It is a setting, not a
/// record: `omendb_index_save` stores it, and so does a durable index's next checkpoint, but
/// the write-ahead log does not (a durable index reopened before a checkpoint has the stored
/// value). Allowed on an index from `omendb_index_open` (it changes no file).
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_INVALID_ARGUMENT (ef out of range) or
/// OMENDB_STATUS_NULL_POINTER.
///
/// Thread safety: safe while other threads search, add or remove.
#[no_mangle]
pub extern "C" fn omendb_index_set_ef_search(index: *const omendb_index, ef: u64, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        idx.set_ef_search(usize::try_from(ef).unwrap_or(usize::MAX))?;
        Ok(())
    })
}

/// Sets how many threads the batch calls of this index use (adds, upserts and searches of
/// several records, graph repair): 0 (the default) means one per core, shared by every index
/// of the process; n from 1 to 1,024 gives this index a pool of n threads of its own (freed
/// with the index, or when the setting changes). Calls already running keep their threads.
/// A setting of this process: not saved.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_INVALID_ARGUMENT (above 1,024),
/// OMENDB_STATUS_IO (the threads cannot be started) or OMENDB_STATUS_NULL_POINTER.
///
/// Thread safety: safe while other threads use the index.
#[no_mangle]
pub extern "C" fn omendb_index_set_threads(index: *const omendb_index, threads: usize, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        idx.set_threads(threads)?;
        Ok(())
    })
}

/// Writes the number of threads the batch calls of this index use to `*threads_out`: 0 for
/// one per core (the default), else what `omendb_index_set_threads` set.
///
/// Returns OMENDB_STATUS_OK or OMENDB_STATUS_NULL_POINTER.
///
/// Thread safety: as `omendb_index_contains`.
#[no_mangle]
pub extern "C" fn omendb_index_threads(index: *const omendb_index, threads_out: *mut usize, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        *out(threads_out, "threads_out")? = idx.threads();
        Ok(())
    })
}

/// Writes the metric (an OMENDB_METRIC_* value) to `*metric_out`.
///
/// Returns OMENDB_STATUS_OK or OMENDB_STATUS_NULL_POINTER.
///
/// Thread safety: as `omendb_index_contains`.
#[no_mangle]
pub extern "C" fn omendb_index_metric(index: *const omendb_index, metric_out: *mut u32, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        *out(metric_out, "metric_out")? = idx.metric() as u32;
        Ok(())
    })
}

/// Writes the kind of key the index holds (an OMENDB_KEY_KIND_* value) to `*kind_out`;
/// OMENDB_KEY_KIND_NONE until the first record is added.
///
/// Returns OMENDB_STATUS_OK or OMENDB_STATUS_NULL_POINTER.
///
/// Thread safety: as `omendb_index_contains`.
#[no_mangle]
pub extern "C" fn omendb_index_key_kind(index: *const omendb_index, kind_out: *mut u32, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        *out(kind_out, "kind_out")? = match idx.key_kind() {
            None => OMENDB_KEY_KIND_NONE,
            Some(KeyKind::U64) => OMENDB_KEY_KIND_U64,
            Some(KeyKind::Str) => OMENDB_KEY_KIND_STRING,
        };
        Ok(())
    })
}

/// Writes the approximate number of bytes of memory the index holds to `*bytes_out`.
///
/// Returns OMENDB_STATUS_OK or OMENDB_STATUS_NULL_POINTER.
///
/// Thread safety: as `omendb_index_contains`.
#[no_mangle]
pub extern "C" fn omendb_index_memory_bytes(index: *const omendb_index, bytes_out: *mut usize, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        *out(bytes_out, "bytes_out")? = idx.memory_bytes();
        Ok(())
    })
}

/// Writes a checkpoint of a durable index: a snapshot of everything stored (written to a
/// temporary file, synced, renamed into place) and a new, empty log; the old ones are
/// removed. Writers wait only while the snapshot is serialised in memory; searches never wait.
/// Reopening after a checkpoint replays only what was written after it.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER, OMENDB_STATUS_INVALID_ARGUMENT (an
/// index without a path) or OMENDB_STATUS_IO (the index and its log are unchanged).
///
/// Thread safety: as `omendb_index_add_batch`.
#[no_mangle]
pub extern "C" fn omendb_index_checkpoint(index: *const omendb_index, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        handle(index, "index")?.inner.checkpoint()?;
        Ok(())
    })
}

/// Syncs a durable index's log to disk now: what OMENDB_SYNC_BATCH and OMENDB_SYNC_OFF leave
/// for later. A no-op for an index without a path.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER or OMENDB_STATUS_IO.
///
/// Thread safety: as `omendb_index_add_batch`.
#[no_mangle]
pub extern "C" fn omendb_index_flush(index: *const omendb_index, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        handle(index, "index")?.inner.flush()?;
        Ok(())
    })
}

/// What opening a durable index found in its log: the records replayed onto the snapshot
/// (`*records_replayed_out`) and the bytes of torn or damaged log cut from its end
/// (`*bytes_dropped_out`; non-zero after a crash during a write, or damage). Both are 0 for a
/// new directory and for an index without a path. Either pointer may be NULL.
///
/// Returns OMENDB_STATUS_OK or OMENDB_STATUS_NULL_POINTER (index).
///
/// Thread safety: as `omendb_index_len`.
#[no_mangle]
pub extern "C" fn omendb_index_recovery(
    index: *const omendb_index,
    records_replayed_out: *mut u64,
    bytes_dropped_out: *mut u64,
    err_out: *mut *mut omendb_error,
) -> omendb_status {
    guard(err_out, || {
        let r = handle(index, "index")?.inner.recovery().cloned().unwrap_or_default();
        if !records_replayed_out.is_null() {
            *out(records_replayed_out, "records_replayed_out")? = r.records_replayed;
        }
        if !bytes_dropped_out.is_null() {
            *out(bytes_dropped_out, "bytes_dropped_out")? = r.bytes_dropped;
        }
        Ok(())
    })
}

/// Repairs the graph around every removed record now and makes their memory reusable
/// (removal does this on its own from time to time).
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER or OMENDB_STATUS_INVALID_ARGUMENT (an
/// index opened read-only with `omendb_index_open`).
///
/// Thread safety: as `omendb_index_add_batch`.
#[no_mangle]
pub extern "C" fn omendb_index_compact(index: *const omendb_index, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        idx.check_writable()?;
        idx.compact();
        Ok(())
    })
}
