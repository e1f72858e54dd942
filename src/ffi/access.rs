//! `omendb_index` calls that read stored records back or act on many at once: get (one key,
//! string key, a batch), count (all, or what a filter matches), remove_batch and remove_where,
//! and the statistics of the whole index.

use std::ffi::c_char;

use super::boundary::{guard, handle, optional_handle, out, slice, slice_mut, string_out, utf8, utf8_array};
use super::filter::omendb_filter;
use super::index::omendb_index;
use super::status::{omendb_error, omendb_status};
use crate::index::{Index, Keys};
use crate::keys::KeyRef;

/// Checks the caller's `dim` against the index's: a buffer of another width would be read
/// or written wrong.
fn check_dim(idx: &Index, dim: usize) -> Result<(), omendb_error> {
    let have = idx.dim();
    if dim != have {
        return Err(crate::Error::DimensionMismatch { expected: have, got: dim }.into());
    }
    Ok(())
}

fn get_into(idx: &Index, key: KeyRef<'_>, out: &mut [f32]) -> Result<(), omendb_error> {
    let v = idx.get_vector(key).ok_or_else(|| crate::Error::KeyNotFound(key.to_string()))?;
    out.copy_from_slice(&v);
    Ok(())
}

/// Writes the stored vector of the record with u64 key `key` to `vector_out` (`dim` floats,
/// `dim` equal to the index's dimensions). Under the cosine metric this is the vector as
/// stored: normalised to length 1 at insert. For a quantized dtype it is the full-precision
/// vector kept for re-ranking, not the code: every dtype gives back what was added (normalised
/// under cosine), bit for bit. Metadata and text: `omendb_index_metadata`,
/// `omendb_index_get_text`.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER, OMENDB_STATUS_DIMENSION_MISMATCH
/// (`dim` is not the index's), OMENDB_STATUS_KEY_NOT_FOUND or OMENDB_STATUS_INVALID_KEY (the
/// index holds string keys). Nothing is written on failure.
///
/// Thread safety: as `omendb_index_contains`.
#[no_mangle]
pub extern "C" fn omendb_index_get(index: *const omendb_index, key: u64, vector_out: *mut f32, dim: usize, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        check_dim(idx, dim)?;
        let out = slice_mut(vector_out, dim, "vector_out")?;
        idx.check_key_kind(KeyRef::U64(key))?;
        get_into(idx, KeyRef::U64(key), out)
    })
}

/// As `omendb_index_get`, for the string key `key` (`len` bytes of UTF-8).
///
/// Returns the statuses of `omendb_index_get`, and OMENDB_STATUS_INVALID_UTF8.
///
/// Thread safety: as `omendb_index_contains`.
#[no_mangle]
pub extern "C" fn omendb_index_get_str(index: *const omendb_index, key: *const c_char, len: usize, vector_out: *mut f32, dim: usize, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        let key = KeyRef::Str(utf8(key, len, "key")?);
        check_dim(idx, dim)?;
        let out = slice_mut(vector_out, dim, "vector_out")?;
        idx.check_key_kind(key)?;
        get_into(idx, key, out)
    })
}

/// The vectors of `n` records with u64 keys `keys`, row-major into `vectors_out` (`n * dim`
/// floats), as `omendb_index_get` gives each. All or nothing: if a key is not stored, the call
/// fails with OMENDB_STATUS_KEY_NOT_FOUND naming it and `vectors_out` is not written.
///
/// Returns the statuses of `omendb_index_get`.
///
/// Thread safety: as `omendb_index_contains`. A record removed by another thread during the
/// call may be reported missing.
#[no_mangle]
pub extern "C" fn omendb_index_get_batch(index: *const omendb_index, keys: *const u64, n: usize, vectors_out: *mut f32, dim: usize, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        let keys = slice(keys, n, "keys")?;
        check_dim(idx, dim)?;
        let total = n.checked_mul(dim).ok_or_else(|| super::boundary::invalid("n * dim overflows"))?;
        let out = slice_mut(vectors_out, total, "vectors_out")?;
        let mut rows = Vec::with_capacity(total.min(1 << 24));
        for &k in keys {
            idx.check_key_kind(KeyRef::U64(k))?;
            rows.extend(idx.get_vector(KeyRef::U64(k)).ok_or_else(|| crate::Error::KeyNotFound(k.to_string()))?);
        }
        out.copy_from_slice(&rows);
        Ok(())
    })
}

/// Writes the number of records whose metadata matches `filter` to `*count_out`: exact, from
/// the filter's index of the metadata (no vector is read). With `filter` NULL, every record
/// (`omendb_index_len`).
///
/// Returns OMENDB_STATUS_OK or OMENDB_STATUS_NULL_POINTER.
///
/// Thread safety: as `omendb_index_contains`.
#[no_mangle]
pub extern "C" fn omendb_index_count(index: *const omendb_index, filter: *const omendb_filter, count_out: *mut usize, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        let slot = out(count_out, "count_out")?;
        *slot = idx.count(optional_handle(filter).map(|f| &f.inner));
        Ok(())
    })
}

/// Removes the `n` records with u64 keys `keys`, all or nothing: if a key is not stored (or
/// repeats), nothing is removed. As one change: a durable index logs it as one record.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER, OMENDB_STATUS_KEY_NOT_FOUND,
/// OMENDB_STATUS_DUPLICATE_KEY, OMENDB_STATUS_INVALID_KEY (the index holds string keys), or
/// OMENDB_STATUS_INVALID_ARGUMENT (an index opened read-only).
///
/// Thread safety: as `omendb_index_add_batch`.
#[no_mangle]
pub extern "C" fn omendb_index_remove_batch(index: *const omendb_index, keys: *const u64, n: usize, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        idx.remove_batch(Keys::U64(slice(keys, n, "keys")?))?;
        Ok(())
    })
}

/// As `omendb_index_remove_batch`, for string keys given as in `omendb_index_add_batch_str`.
///
/// Returns the statuses of `omendb_index_remove_batch`, and OMENDB_STATUS_INVALID_UTF8.
///
/// Thread safety: as `omendb_index_add_batch`.
#[no_mangle]
pub extern "C" fn omendb_index_remove_batch_str(index: *const omendb_index, keys: *const *const c_char, key_lens: *const usize, n: usize, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        let keys = utf8_array(keys, key_lens, n, "keys")?;
        idx.remove_batch(Keys::Str(&keys))?;
        Ok(())
    })
}

/// Removes every record whose metadata matches `filter` and writes how many to
/// `*removed_out` (may be NULL). All or nothing and as one change: other writers wait while it
/// runs (searches do not), so it removes exactly what matched at one moment; a durable index
/// logs it as one record. Afterwards `omendb_index_count` with the same filter gives 0, and
/// the removed records' memory is reused as after `omendb_index_remove`.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER (index or filter) or
/// OMENDB_STATUS_INVALID_ARGUMENT (an index opened read-only).
///
/// Thread safety: as `omendb_index_add_batch`.
#[no_mangle]
pub extern "C" fn omendb_index_remove_where(index: *const omendb_index, filter: *const omendb_filter, removed_out: *mut usize, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        let filter = &handle(filter, "filter")?.inner;
        let removed = idx.remove_where(filter)?;
        if !removed_out.is_null() {
            *out(removed_out, "removed_out")? = removed;
        }
        Ok(())
    })
}

/// Writes the index's statistics to `*json_out` as a JSON object: a new NUL-terminated UTF-8
/// string that the caller owns and frees with `omendb_string_free` (its length, without the
/// NUL, to `*len_out`, which may be NULL). Fields (more may be added):
/// `records`, `pending_removes` (removed, the graph not yet repaired around them), `slots`,
/// `dim`, `metric`, `dtype`, `m`, `ef_construction`, `ef_search`, `key_kind` ("u64",
/// "string" or null), `neighbor_codes` (bits, 0 for none), `neighbor_codes_in_use` (whether
/// searches score them now: not before they are learned), `neighbor_codes_layout`
/// ("per_node", "beside_links", or null: no codes, or no record yet; a mapped open's are
/// "per_node"), `text`
/// (the tokenizer options), `bm25` (`k1`, `b`), `levels` (records per top layer),
/// `mean_layer0_degree`, `memory`
/// (approximate bytes: `graph`, `keys`, `full_precision`, `codec`, `metadata`, `text`,
/// `total`) and `durable` (null, or `{"dir", "log_bytes"}`). It visits every record's links:
/// its cost grows with the records.
///
/// Returns OMENDB_STATUS_OK or OMENDB_STATUS_NULL_POINTER.
///
/// Thread safety: as `omendb_index_contains`.
#[no_mangle]
pub extern "C" fn omendb_index_stats(index: *const omendb_index, json_out: *mut *mut c_char, len_out: *mut usize, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        out(json_out, "json_out")?;
        string_out(idx.stats().to_string(), json_out, "json_out", len_out)
    })
}
