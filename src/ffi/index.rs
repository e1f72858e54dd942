//! `omendb_index`: create, add, upsert, remove, search, inspect, free.

use std::ffi::c_char;

use super::boundary::{free_handle, guard, handle, matrix, out, slice_mut, utf8, utf8_array};
use super::options::omendb_options;
use super::results::omendb_results;
use super::status::{early_check, omendb_error, omendb_status};
use crate::index::{check_k, Index, IndexOptions, Keys, SearchRequest};
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

pub(crate) fn ef_opt(ef: usize) -> Option<usize> {
    (ef != 0).then_some(ef)
}

/// Creates an empty index.
///
/// `options` may be NULL for the defaults (see `omendb_options_create`); the index copies
/// them, so they may be freed right after. On success writes a new handle to `*index_out`;
/// the caller owns it and frees it with `omendb_index_free`. On failure `*index_out` is
/// unchanged.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER (`index_out` is NULL) or
/// OMENDB_STATUS_INVALID_ARGUMENT.
///
/// Thread safety: safe to call from any thread.
#[no_mangle]
pub extern "C" fn omendb_index_create(options: *const omendb_options, index_out: *mut *mut omendb_index, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let slot = out(index_out, "index_out")?;
        let opts = if options.is_null() { IndexOptions::default() } else { handle(options, "options")?.inner.clone() };
        let inner = Index::new(opts)?;
        *slot = Box::into_raw(Box::new(omendb_index { inner }));
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
    let keys = super::boundary::slice(keys, n, "keys")?;
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
/// all such calls on this index. Writes the first key used to `*first_key_out` (the batch
/// holds `first .. first + n - 1`).
///
/// Returns the statuses of `omendb_index_add_batch`; OMENDB_STATUS_DUPLICATE_KEY if one of
/// those numbers was already added by hand.
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

/// Searches `n` queries (row-major `n x dim` floats at `queries`, read in place) for their `k`
/// nearest records each, in parallel on all cores. `ef` is the beam width (0 = the index's
/// ef_search; raised to k when smaller).
///
/// On success, for query i, writes its hits nearest first to `keys_out[i * k ..]` and
/// `distances_out[i * k ..]`; when a query has fewer than k hits (a small index) the rest of
/// its row holds OMENDB_NO_KEY and INFINITY. Both arrays are the caller's and must hold
/// `out_len >= n * k` elements. Distances are in the metric's units (squared L2; 1 - dot;
/// 1 - cosine). An empty index gives rows of OMENDB_NO_KEY. Nothing is written on failure.
///
/// Sizes: the arrays are yours, so size them for the k you pass; the library allocates
/// nothing by k. A k above the number of records (`omendb_index_len`) returns the same hits as
/// k = that number, so a caller sizing buffers for "everything" passes min(k, len).
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER, OMENDB_STATUS_INVALID_ARGUMENT (k = 0),
/// OMENDB_STATUS_BUFFER_TOO_SMALL, OMENDB_STATUS_DIMENSION_MISMATCH, OMENDB_STATUS_NON_FINITE,
/// OMENDB_STATUS_ZERO_VECTOR (cosine), or OMENDB_STATUS_INVALID_KEY when the index holds string
/// keys (use `omendb_index_search_results`).
///
/// Thread safety: safe to call concurrently with any other call except `omendb_index_free`.
#[no_mangle]
pub extern "C" fn omendb_index_search(index: *const omendb_index, queries: *const f32, n: usize, dim: usize, k: usize, ef: usize, keys_out: *mut u64, distances_out: *mut f32, out_len: usize, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        let queries = matrix(queries, n, dim, "queries")?;
        early_check(check_k(k))?;
        let need = n.checked_mul(k).ok_or_else(|| super::boundary::invalid("n * k overflows"))?;
        if out_len < need {
            return Err(omendb_error::new(
                omendb_status::OMENDB_STATUS_BUFFER_TOO_SMALL,
                format!("the output arrays hold {out_len} entries, {n} queries x k = {k} need {need}"),
            ));
        }
        if idx.key_kind() == Some(KeyKind::Str) {
            return Err(omendb_error::new(
                omendb_status::OMENDB_STATUS_INVALID_KEY,
                "this index holds string keys: use omendb_index_search_results",
            ));
        }
        early_check(idx.check_query_shape(n, dim))?;
        let keys_out = slice_mut(keys_out, need, "keys_out")?;
        let distances_out = slice_mut(distances_out, need, "distances_out")?;
        // search_batch checks the whole batch before it emits a hit, so nothing is written on
        // failure; each row's tail past its hits is filled after.
        let mut rows: Vec<(&mut [u64], &mut [f32], usize)> =
            keys_out.chunks_mut(k).zip(distances_out.chunks_mut(k)).map(|(keys, dists)| (keys, dists, 0)).collect();
        idx.search_batch(queries, SearchRequest::new(k, ef_opt(ef)), &mut rows, |(keys, dists, hits), rank, key, d| {
            // A string key only if a first add of string keys ran since the check above: a miss.
            let (key, d) = if let KeyRef::U64(key) = key { (key, d) } else { (NO_KEY, f32::INFINITY) };
            keys[rank] = key;
            dists[rank] = d;
            *hits = rank + 1;
        })?;
        for (keys, dists, hits) in rows {
            keys[hits..].fill(NO_KEY);
            dists[hits..].fill(f32::INFINITY);
        }
        Ok(())
    })
}

/// Searches like `omendb_index_search`, for indexes with either kind of key, and returns the
/// hits in a new results object written to `*results_out`; the caller owns it and frees it with
/// `omendb_results_free`. On failure `*results_out` is unchanged.
///
/// The object holds min(k, records in the index when the search starts) places per query
/// (see `omendb_results_distances`), never k itself: a huge k on a small index costs no
/// memory. Each query's hit count is `omendb_results_count`.
///
/// Returns the statuses of `omendb_index_search` except OMENDB_STATUS_BUFFER_TOO_SMALL and
/// OMENDB_STATUS_INVALID_KEY.
///
/// Thread safety: as `omendb_index_search`.
#[no_mangle]
pub extern "C" fn omendb_index_search_results(index: *const omendb_index, queries: *const f32, n: usize, dim: usize, k: usize, ef: usize, results_out: *mut *mut omendb_results, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        let slot = out(results_out, "results_out")?;
        let queries = matrix(queries, n, dim, "queries")?;
        early_check(check_k(k))?;
        early_check(idx.check_query_shape(n, dim))?;
        idx.check_queries(queries, n, k)?;
        let mut results = omendb_results::new(n, idx.result_width(k), idx.key_kind() == Some(KeyKind::Str))?;
        {
            let mut sinks = results.sinks();
            idx.search_batch(queries, SearchRequest::new(k, ef_opt(ef)), &mut sinks, omendb_results::record)?;
        }
        *slot = Box::into_raw(Box::new(results));
        Ok(())
    })
}
