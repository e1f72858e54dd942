//! The searches of `omendb_index`: the k nearest into the caller's arrays
//! (`omendb_index_search`) or into a new `omendb_results` (`_search_results`,
//! `_search_filtered`), BM25 text search and hybrid search. Each export checks its pointers,
//! builds one `SearchRequest` (k, ef, filter) and hands it to `Index`, which checks the values
//! and runs a batch's queries in parallel.

use std::ffi::c_char;

use super::boundary::{guard, handle, invalid, matrix, new_handle, optional_handle, out, slice, slice_mut, utf8};
use super::filter::omendb_filter;
use super::index::omendb_index;
use super::results::omendb_results;
use super::status::{early_check, omendb_error, omendb_status};
use crate::hybrid::{Fusion, RRF_K};
use crate::index::{check_k, Index, SearchRequest};
use crate::keys::{KeyKind, KeyRef, NO_KEY};

/// `omendb_index_hybrid_search`: reciprocal rank fusion. The score of a record is the sum,
/// over the vector and text result lists holding it, of 1 / (param + rank), rank counted
/// from 1; `param` is the RRF constant k (0 means 60, the usual value).
pub const OMENDB_FUSION_RRF: u32 = 0;
/// `omendb_index_hybrid_search`: weighted sum of min-max normalised values. The score of a
/// record is param * minmax(-distance) + (1 - param) * minmax(bm25), each normalised over its
/// own result list (a record missing from a list gets 0 for it); `param` is alpha in [0, 1],
/// the weight of the vector side.
pub const OMENDB_FUSION_WEIGHTED: u32 = 1;

/// The `ef` of an exact search (SIZE_MAX): every record (matching the filter, if any) is
/// scored at full precision with the SIMD kernels, no graph involved: recall 1 by
/// construction, for a cost that grows with the records. Any search function takes it.
/// (The header's definition is in cbindgen.toml: cbindgen cannot write SIZE_MAX.)
pub const OMENDB_EF_EXACT: usize = usize::MAX;

const _: () = assert!(OMENDB_EF_EXACT == crate::index::EXACT_EF);

/// The beam width a C caller asks for: 0 is the index's `ef_search`.
fn optional_ef(ef: usize) -> Option<usize> {
    (ef != 0).then_some(ef)
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
        let need = n.checked_mul(k).ok_or_else(|| invalid("n * k overflows"))?;
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
        idx.search_batch(queries, SearchRequest::new(k, optional_ef(ef)), &mut rows, |(keys, dists, hits), rank, key, d| {
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
        *slot = new_handle(batch_results(idx, queries, n, dim, SearchRequest::new(k, optional_ef(ef)))?);
        Ok(())
    })
}

/// Searches `n` queries (row-major `n x dim` floats, read in place) for their `k` nearest
/// records among those whose metadata matches `filter`, in parallel on all cores. `ef` as in
/// `omendb_index_search` (0 = the index's ef_search). Each query gets min(k, matching records)
/// hits: few matches are scanned exactly, otherwise the graph is searched with the filter
/// applied during traversal.
///
/// On success writes a new results object to `*results_out`, laid out as by
/// `omendb_index_search_results` (distances in the metric's units, nearest first); the caller
/// owns it and frees it with `omendb_results_free`. On failure `*results_out` is unchanged.
///
/// Returns the statuses of `omendb_index_search_results`; OMENDB_STATUS_NULL_POINTER also when
/// `filter` is NULL.
///
/// Thread safety: as `omendb_index_search`; `filter` may be shared by concurrent searches.
#[no_mangle]
pub extern "C" fn omendb_index_search_filtered(
    index: *const omendb_index,
    queries: *const f32,
    n: usize,
    dim: usize,
    k: usize,
    ef: usize,
    filter: *const omendb_filter,
    results_out: *mut *mut omendb_results,
    err_out: *mut *mut omendb_error,
) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        let slot = out(results_out, "results_out")?;
        let filter = &handle(filter, "filter")?.inner;
        let queries = matrix(queries, n, dim, "queries")?;
        let request = SearchRequest::new(k, optional_ef(ef)).with_filter(Some(filter));
        *slot = new_handle(batch_results(idx, queries, n, dim, request)?);
        Ok(())
    })
}

/// The body of `omendb_index_search_results` and `_search_filtered` once the pointers are
/// read: every query is checked before the results object is allocated (its size is the one
/// error left after them), then the batch is searched into it.
fn batch_results(idx: &Index, queries: &[f32], n: usize, dim: usize, request: SearchRequest<'_>) -> Result<omendb_results, omendb_error> {
    early_check(check_k(request.k))?;
    early_check(idx.check_query_shape(n, dim))?;
    idx.check_queries(queries, n, request.k)?;
    let mut results = omendb_results::new(n, idx.result_width(request.k), idx.key_kind() == Some(KeyKind::Str))?;
    idx.search_batch(queries, request, &mut results.sinks(), omendb_results::record)?;
    Ok(results)
}

/// Runs one search that emits (key, score) into a fresh one-query results object.
pub(super) fn one_query(idx: &Index, k: usize, search: impl FnOnce(&mut dyn FnMut(KeyRef<'_>, f32)) -> crate::Result<usize>) -> Result<omendb_results, omendb_error> {
    let mut results = omendb_results::new(1, idx.result_width(k), idx.key_kind() == Some(KeyKind::Str))?;
    {
        let mut sinks = results.sinks();
        let sink = &mut sinks[0];
        let mut rank = 0;
        search(&mut |key, score| {
            omendb_results::record(sink, rank, key, score);
            rank += 1;
        })?;
    }
    Ok(results)
}

/// Range search: every record within `radius` of `query` (`dim` floats), that is at a
/// distance <= `radius` in the metric's units (squared L2, 1 - dot, 1 - cos), nearest first,
/// at most `limit` of them (0: no limit), among those whose metadata matches `filter` (NULL:
/// all records).
///
/// Exact (every record scored) for an index of up to 4,096 records, and for any index with
/// `ef` = OMENDB_EF_EXACT. Above that, the graph is searched for the 64 nearest, then 256,
/// 1,024 and so on, until the farthest found lies beyond the radius: a record the graph
/// misses at that depth is missed (BENCHMARKS.md gives the recall on GloVe-50 for a few
/// radii). `ef` as in `omendb_index_search` (0 = the index's ef_search), raised to each depth.
///
/// On success writes a new one-query results object to `*results_out` (freed with
/// `omendb_results_free`), holding min(limit, records) places; on failure it is unchanged.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER, OMENDB_STATUS_DIMENSION_MISMATCH,
/// OMENDB_STATUS_NON_FINITE, OMENDB_STATUS_ZERO_VECTOR, or OMENDB_STATUS_INVALID_ARGUMENT (a
/// NaN radius).
///
/// Thread safety: as `omendb_index_search`.
#[no_mangle]
pub extern "C" fn omendb_index_range_search(
    index: *const omendb_index,
    query: *const f32,
    dim: usize,
    radius: f32,
    limit: usize,
    ef: usize,
    filter: *const omendb_filter,
    results_out: *mut *mut omendb_results,
    err_out: *mut *mut omendb_error,
) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        let slot = out(results_out, "results_out")?;
        let query = super::boundary::slice(query, dim, "query")?;
        early_check(idx.check_query_shape(1, dim))?;
        let filter = optional_handle(filter).map(|f| &f.inner);
        let width = if limit == 0 { usize::MAX } else { limit };
        *slot = new_handle(one_query(idx, width, |emit| idx.range_visit(query, radius, limit, filter, optional_ef(ef), emit))?);
        Ok(())
    })
}

/// BM25 search over the records' texts (see `omendb_index_add_records`): the `k` best
/// records for `query` (`len` bytes of UTF-8), best first, among those whose metadata matches
/// `filter` (NULL: all records). Records without text never match.
///
/// On success writes a new one-query results object to `*results_out`; the caller owns it and
/// frees it with `omendb_results_free`. Its distances array holds BM25 scores, not distances:
/// higher is better, and hits come in descending score order. A query with no indexed word,
/// or an empty index, gives 0 hits. On failure `*results_out` is unchanged. The object holds
/// min(k, records) places, never k itself (a huge k costs no memory).
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER (`index` or `results_out` NULL, or
/// `query` NULL with `len` > 0), OMENDB_STATUS_INVALID_UTF8, or
/// OMENDB_STATUS_INVALID_ARGUMENT (k = 0).
///
/// Thread safety: as `omendb_index_search`.
#[no_mangle]
pub extern "C" fn omendb_index_text_search(
    index: *const omendb_index,
    query: *const c_char,
    len: usize,
    k: usize,
    filter: *const omendb_filter,
    results_out: *mut *mut omendb_results,
    err_out: *mut *mut omendb_error,
) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        let slot = out(results_out, "results_out")?;
        let query = utf8(query, len, "query")?;
        early_check(check_k(k))?;
        let filter = optional_handle(filter).map(|f| &f.inner);
        *slot = new_handle(one_query(idx, k, |emit| idx.text_search(query, k, filter, emit))?);
        Ok(())
    })
}

/// Hybrid search: a vector search for `vector` (`dim` floats) and a BM25 search for `text`
/// (`text_len` bytes of UTF-8), each 100 deep (at least k) and both restricted to records
/// matching `filter` (NULL: all records), fused into the `k` best records, best first.
///
/// `fusion` is OMENDB_FUSION_RRF (`param` = the RRF constant k, >= 0; 0 means 60) or
/// OMENDB_FUSION_WEIGHTED (`param` = alpha in [0, 1], the weight of the vector side); see
/// those constants for the formulas. `ef` as in `omendb_index_search` (0 = the index's
/// ef_search; raised to the search depth).
///
/// On success writes a new one-query results object to `*results_out`; the caller owns it and
/// frees it with `omendb_results_free`. Its distances array holds fused scores, not
/// distances: higher is better, in descending order. On failure `*results_out` is unchanged.
/// The object holds min(k, records) places, never k itself (a huge k costs no memory).
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER, OMENDB_STATUS_INVALID_UTF8,
/// OMENDB_STATUS_INVALID_ARGUMENT (k = 0, an unknown `fusion`, `param` out of range),
/// OMENDB_STATUS_DIMENSION_MISMATCH, OMENDB_STATUS_NON_FINITE or OMENDB_STATUS_ZERO_VECTOR
/// (cosine).
///
/// Thread safety: as `omendb_index_search`.
#[no_mangle]
pub extern "C" fn omendb_index_hybrid_search(
    index: *const omendb_index,
    vector: *const f32,
    dim: usize,
    text: *const c_char,
    text_len: usize,
    k: usize,
    ef: usize,
    filter: *const omendb_filter,
    fusion: u32,
    param: f32,
    results_out: *mut *mut omendb_results,
    err_out: *mut *mut omendb_error,
) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        let slot = out(results_out, "results_out")?;
        let vector = slice(vector, dim, "vector")?;
        let text = utf8(text, text_len, "text")?;
        early_check(check_k(k))?;
        let fusion = fusion_from_c(fusion, param)?;
        early_check(idx.check_query_shape(1, dim))?;
        let request = SearchRequest::new(k, optional_ef(ef)).with_filter(optional_handle(filter).map(|f| &f.inner));
        *slot = new_handle(one_query(idx, k, |emit| idx.hybrid_search(vector, text, request, fusion, emit))?);
        Ok(())
    })
}

/// The fusion of `omendb_index_hybrid_search` from its C constant and parameter. The range of
/// the parameter is checked here as well as by `hybrid::fuse`, which runs only after both
/// searches: C callers learn of a bad parameter before a bad vector, with a bare message.
pub(super) fn fusion_from_c(fusion: u32, param: f32) -> Result<Fusion, omendb_error> {
    let fusion = match fusion {
        OMENDB_FUSION_RRF => Fusion::Rrf { k: if param == 0.0 { RRF_K } else { param } },
        OMENDB_FUSION_WEIGHTED => Fusion::Weighted { alpha: param },
        other => return Err(invalid(format!("unknown fusion {other} (OMENDB_FUSION_RRF = 0, OMENDB_FUSION_WEIGHTED = 1)"))),
    };
    match fusion {
        Fusion::Rrf { k } if !(k.is_finite() && k >= 0.0) => {
            Err(invalid(format!("the RRF constant must be finite and >= 0, got {k}")))
        }
        Fusion::Weighted { alpha } if !(0.0..=1.0).contains(&alpha) => {
            Err(invalid(format!("alpha must be in [0, 1], got {alpha}")))
        }
        _ => Ok(fusion),
    }
}
