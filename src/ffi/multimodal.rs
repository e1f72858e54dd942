//! Metadata filters, BM25 text search and hybrid search: `omendb_filter`, records with
//! metadata and texts, filtered / text / hybrid searches, and reading a record's metadata.

use std::ffi::{c_char, CStr, CString};

use super::boundary::{free_handle, guard, handle, invalid, matrix, out, slice, utf8, utf8_array};
use super::index::{ef_opt, omendb_index};
use super::results::omendb_results;
use super::status::{early_check, omendb_error, omendb_status};
use crate::filter::Filter;
use crate::hybrid::{Fusion, RRF_K};
use crate::index::{check_k, Index, Keys, Payloads, SearchRequest};
use crate::keys::{KeyKind, KeyRef};

/// A parsed metadata filter. Made by `omendb_filter_parse`, freed by `omendb_filter_free`.
/// Immutable: any number of threads may use one filter in searches at once.
pub struct omendb_filter {
    pub(crate) inner: Filter,
}

/// `omendb_index_hybrid_search`: reciprocal rank fusion. The score of a record is the sum,
/// over the vector and text result lists holding it, of 1 / (param + rank), rank counted
/// from 1; `param` is the RRF constant k (0 means 60, the usual value).
pub const OMENDB_FUSION_RRF: u32 = 0;
/// `omendb_index_hybrid_search`: weighted sum of min-max normalised values. The score of a
/// record is param * minmax(-distance) + (1 - param) * minmax(bm25), each normalised over its
/// own result list (a record missing from a list gets 0 for it); `param` is alpha in [0, 1],
/// the weight of the vector side.
pub const OMENDB_FUSION_WEIGHTED: u32 = 1;

/// Parses filter text (`len` bytes of UTF-8 at `text`; need not be NUL-terminated) into a
/// filter handle.
///
/// The grammar (keywords are case-insensitive):
/// `field = | != | < | <= | > | >= literal`, `field IN (v1, v2, ...)`,
/// `field CONTAINS "s"` (a list of strings holding s), `EXISTS field`, `NOT f`, `f AND f`,
/// `f OR f`, parentheses. Literals: "double-quoted strings" (with \" and \\), integers, floats,
/// TRUE, FALSE. Fields are `[A-Za-z_][A-Za-z0-9_.]*` (a dot reaches into nested objects:
/// `book.year` is the field `year` of the object `book`).
/// Example: `genre = "jazz" AND year >= 1990 AND NOT tags CONTAINS "live"`.
///
/// Types: numbers compare with numbers (integers and floats on one number line), strings
/// with strings (byte order), booleans only by `=` and `!=`. Where a record's field holds a
/// value of another type than the literal, `=`, `<`, `<=`, `>`, `>=` and `IN` are false and
/// `!=` true, and that is no error, since records may differ in a field's type:
/// `year = "1999"` matches no record whose year is a number.
///
/// On success writes a new handle to `*filter_out`; the caller owns it and frees it with
/// `omendb_filter_free`. On failure `*filter_out` is unchanged.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER (`filter_out` NULL, or `text` NULL
/// with `len` > 0), OMENDB_STATUS_INVALID_UTF8, or OMENDB_STATUS_FILTER_SYNTAX, whose message
/// reads "filter syntax error at byte N: what was expected".
///
/// Thread safety: safe to call from any thread.
#[no_mangle]
pub extern "C" fn omendb_filter_parse(text: *const c_char, len: usize, filter_out: *mut *mut omendb_filter, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let slot = out(filter_out, "filter_out")?;
        let text = utf8(text, len, "text")?;
        let inner = Filter::parse(text).map_err(crate::Error::from)?;
        *slot = Box::into_raw(Box::new(omendb_filter { inner }));
        Ok(())
    })
}

/// Frees a filter. NULL is a no-op.
///
/// Thread safety: no search may be using the filter.
#[no_mangle]
pub extern "C" fn omendb_filter_free(filter: *mut omendb_filter) {
    free_handle(filter)
}

/// `n` optional strings: NULL `ptrs` is None (none for every record); a NULL entry is None
/// for that record; with `lens` NULL each non-NULL entry is NUL-terminated.
fn optional_strings<'a>(ptrs: *const *const c_char, lens: *const usize, n: usize, name: &str) -> Result<Option<Vec<Option<&'a str>>>, omendb_error> {
    if ptrs.is_null() {
        return Ok(None);
    }
    let ptrs = slice(ptrs, n, name)?;
    let lens_name = format!("{name}_lens");
    let lens: Option<&[usize]> = if lens.is_null() { None } else { Some(slice(lens, n, &lens_name)?) };
    ptrs.iter()
        .enumerate()
        .map(|(i, &p)| {
            if p.is_null() {
                return Ok(None);
            }
            let what = format!("{name}[{i}]");
            match lens {
                Some(l) => utf8(p, l[i], &what).map(Some),
                None => {
                    // SAFETY: non-NULL; the caller guarantees a NUL-terminated string when
                    // the lengths array is NULL.
                    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
                    utf8(bytes.as_ptr() as *const c_char, bytes.len(), &what).map(Some)
                }
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// One optional-strings argument of the records functions (`metadata` or `texts`) with its
/// lengths, read only after the arguments before it were checked.
struct OptionalStrings {
    ptrs: *const *const c_char,
    lens: *const usize,
    name: &'static str,
}

/// The body of the records functions; `keys` (already read) give the number of records.
fn put_records(
    index: *const omendb_index,
    keys: Keys<'_>,
    vectors: *const f32,
    dim: usize,
    metadata: OptionalStrings,
    texts: OptionalStrings,
    upsert: bool,
) -> Result<(), omendb_error> {
    let n = keys.len();
    let idx: &Index = &handle(index, "index")?.inner;
    let vectors = matrix(vectors, n, dim, "vectors")?;
    early_check(idx.check_row_shape(n, dim))?;
    let metadata = optional_strings(metadata.ptrs, metadata.lens, n, metadata.name)?;
    let texts = optional_strings(texts.ptrs, texts.lens, n, texts.name)?;
    let payloads = Payloads { metadata: metadata.as_deref(), texts: texts.as_deref() };
    if upsert { idx.upsert_with(keys, vectors, payloads)? } else { idx.add_with(keys, vectors, payloads)? }
    Ok(())
}

/// Adds `n` records with u64 keys, as `omendb_index_add_batch`, each with optional metadata
/// and text.
///
/// `metadata[i]` is record i's metadata: a JSON object whose fields filters test (strings,
/// numbers, booleans, lists of strings, nested objects), `metadata_lens[i]` bytes of UTF-8.
/// A nested object's fields are reached by dotted names: `{"book": {"year": 1999}}` holds
/// the field `book.year`, and so does `{"book.year": 1999}` (a key with a dot names the same
/// path). A key repeated in one object, a path given twice, or a path that is both a value and
/// an object (`{"a": 1, "a.b": 2}`) is refused; an empty object holds no field.
/// `omendb_index_metadata` gives the object back nested.
/// `texts[i]` is record i's text, searched by `omendb_index_text_search` and
/// `omendb_index_hybrid_search`, `text_lens[i]` bytes of UTF-8. `metadata` (or `texts`) may
/// be NULL: no record has metadata (text); an entry may be NULL: that record has none. With
/// `metadata_lens` (`text_lens`) NULL, every non-NULL entry is a NUL-terminated string. All
/// strings are read during the call and copied.
///
/// All or nothing: on any error no record of the batch is stored.
///
/// Returns the statuses of `omendb_index_add_batch`, plus OMENDB_STATUS_INVALID_UTF8, and
/// OMENDB_STATUS_INVALID_ARGUMENT for metadata that is not a JSON object of supported values
/// (the message names the record).
///
/// Thread safety: as `omendb_index_add_batch`.
#[no_mangle]
pub extern "C" fn omendb_index_add_records(
    index: *const omendb_index,
    keys: *const u64,
    n: usize,
    vectors: *const f32,
    dim: usize,
    metadata: *const *const c_char,
    metadata_lens: *const usize,
    texts: *const *const c_char,
    text_lens: *const usize,
    err_out: *mut *mut omendb_error,
) -> omendb_status {
    guard(err_out, || {
        let keys = slice(keys, n, "keys")?;
        put_records(index, Keys::U64(keys), vectors, dim, OptionalStrings { ptrs: metadata, lens: metadata_lens, name: "metadata" }, OptionalStrings { ptrs: texts, lens: text_lens, name: "texts" }, false)
    })
}

/// As `omendb_index_add_records`, but a key already stored gets the new vector, metadata and
/// text (see `omendb_index_upsert_batch`; a record given no metadata or text has none after).
///
/// Returns the statuses of `omendb_index_add_records`, except that a stored key is not an
/// error.
///
/// Thread safety: as `omendb_index_add_batch`.
#[no_mangle]
pub extern "C" fn omendb_index_upsert_records(
    index: *const omendb_index,
    keys: *const u64,
    n: usize,
    vectors: *const f32,
    dim: usize,
    metadata: *const *const c_char,
    metadata_lens: *const usize,
    texts: *const *const c_char,
    text_lens: *const usize,
    err_out: *mut *mut omendb_error,
) -> omendb_status {
    guard(err_out, || {
        let keys = slice(keys, n, "keys")?;
        put_records(index, Keys::U64(keys), vectors, dim, OptionalStrings { ptrs: metadata, lens: metadata_lens, name: "metadata" }, OptionalStrings { ptrs: texts, lens: text_lens, name: "texts" }, true)
    })
}

/// As `omendb_index_add_records`, with string keys given as in `omendb_index_add_batch_str`
/// (`key_lens` NULL: NUL-terminated keys).
///
/// Returns the statuses of `omendb_index_add_records` and of `omendb_index_add_batch_str`.
///
/// Thread safety: as `omendb_index_add_batch`.
#[no_mangle]
pub extern "C" fn omendb_index_add_records_str(
    index: *const omendb_index,
    keys: *const *const c_char,
    key_lens: *const usize,
    n: usize,
    vectors: *const f32,
    dim: usize,
    metadata: *const *const c_char,
    metadata_lens: *const usize,
    texts: *const *const c_char,
    text_lens: *const usize,
    err_out: *mut *mut omendb_error,
) -> omendb_status {
    guard(err_out, || {
        let keys = utf8_array(keys, key_lens, n, "keys")?;
        put_records(index, Keys::Str(&keys), vectors, dim, OptionalStrings { ptrs: metadata, lens: metadata_lens, name: "metadata" }, OptionalStrings { ptrs: texts, lens: text_lens, name: "texts" }, false)
    })
}

/// As `omendb_index_upsert_records`, with string keys (see `omendb_index_add_records_str`).
///
/// Thread safety: as `omendb_index_add_batch`.
#[no_mangle]
pub extern "C" fn omendb_index_upsert_records_str(
    index: *const omendb_index,
    keys: *const *const c_char,
    key_lens: *const usize,
    n: usize,
    vectors: *const f32,
    dim: usize,
    metadata: *const *const c_char,
    metadata_lens: *const usize,
    texts: *const *const c_char,
    text_lens: *const usize,
    err_out: *mut *mut omendb_error,
) -> omendb_status {
    guard(err_out, || {
        let keys = utf8_array(keys, key_lens, n, "keys")?;
        put_records(index, Keys::Str(&keys), vectors, dim, OptionalStrings { ptrs: metadata, lens: metadata_lens, name: "metadata" }, OptionalStrings { ptrs: texts, lens: text_lens, name: "texts" }, true)
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
        early_check(check_k(k))?;
        early_check(idx.check_query_shape(n, dim))?;
        idx.check_queries(queries, n, k)?;
        let mut results = omendb_results::new(n, idx.result_width(k), idx.key_kind() == Some(KeyKind::Str))?;
        let request = SearchRequest::new(k, ef_opt(ef)).with_filter(Some(filter));
        idx.search_batch(queries, request, &mut results.sinks(), omendb_results::record)?;
        *slot = Box::into_raw(Box::new(results));
        Ok(())
    })
}

fn optional_filter<'a>(filter: *const omendb_filter) -> Option<&'a Filter> {
    // SAFETY: NULL or a filter made by omendb_filter_parse and not yet freed, per contract.
    unsafe { filter.as_ref() }.map(|f| &f.inner)
}

/// Runs one search that emits (key, score) into a fresh one-query results object.
fn one_query(idx: &Index, k: usize, search: impl FnOnce(&mut dyn FnMut(KeyRef<'_>, f32)) -> crate::Result<usize>) -> Result<omendb_results, omendb_error> {
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
        let filter = optional_filter(filter);
        let results = one_query(idx, k, |emit| idx.text_search(query, k, filter, emit))?;
        *slot = Box::into_raw(Box::new(results));
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
        let fusion = match fusion {
            OMENDB_FUSION_RRF => Fusion::Rrf { k: if param == 0.0 { RRF_K } else { param } },
            OMENDB_FUSION_WEIGHTED => Fusion::Weighted { alpha: param },
            other => return Err(invalid(format!("unknown fusion {other} (OMENDB_FUSION_RRF = 0, OMENDB_FUSION_WEIGHTED = 1)"))),
        };
        match fusion {
            Fusion::Rrf { k } if !(k.is_finite() && k >= 0.0) => {
                return Err(invalid(format!("the RRF constant must be finite and >= 0, got {k}")))
            }
            Fusion::Weighted { alpha } if !(0.0..=1.0).contains(&alpha) => {
                return Err(invalid(format!("alpha must be in [0, 1], got {alpha}")))
            }
            _ => {}
        }
        early_check(idx.check_query_shape(1, dim))?;
        let filter = optional_filter(filter);
        let results = one_query(idx, k, |emit| idx.hybrid_search(vector, text, SearchRequest::new(k, ef_opt(ef)).with_filter(filter), fusion, emit))?;
        *slot = Box::into_raw(Box::new(results));
        Ok(())
    })
}

fn write_metadata(idx: &Index, key: KeyRef<'_>, json_out: *mut *mut c_char, len_out: *mut usize) -> Result<(), omendb_error> {
    let slot = out(json_out, "json_out")?;
    if !idx.contains(key) {
        return Err(crate::Error::KeyNotFound(key.to_string_plain()).into());
    }
    let json = idx.metadata(key).unwrap_or_else(|| "{}".to_string());
    let len = json.len();
    let c = CString::new(json).map_err(|_| omendb_error::new(omendb_status::OMENDB_STATUS_INTERNAL, "metadata JSON holds a NUL byte"))?;
    if !len_out.is_null() {
        *out(len_out, "len_out")? = len;
    }
    *slot = c.into_raw();
    Ok(())
}

/// Writes the metadata of the record with u64 key `key`, as a JSON object (`{}` when it has
/// none), to `*json_out`: a new NUL-terminated UTF-8 string that the caller owns and frees with
/// `omendb_string_free`; its length in bytes (without the NUL) goes to `*len_out` (`len_out`
/// may be NULL). On failure nothing is written.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER, OMENDB_STATUS_KEY_NOT_FOUND.
///
/// Thread safety: as `omendb_index_contains`.
#[no_mangle]
pub extern "C" fn omendb_index_metadata(index: *const omendb_index, key: u64, json_out: *mut *mut c_char, len_out: *mut usize, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || write_metadata(&handle(index, "index")?.inner, KeyRef::U64(key), json_out, len_out))
}

/// As `omendb_index_metadata`, for the string key `key` (`len` bytes of UTF-8).
///
/// Returns the statuses of `omendb_index_metadata`, plus OMENDB_STATUS_INVALID_UTF8.
///
/// Thread safety: as `omendb_index_contains`.
#[no_mangle]
pub extern "C" fn omendb_index_metadata_str(index: *const omendb_index, key: *const c_char, len: usize, json_out: *mut *mut c_char, len_out: *mut usize, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        let key = utf8(key, len, "key")?;
        write_metadata(idx, KeyRef::Str(key), json_out, len_out)
    })
}

/// Frees a string returned by this library (`omendb_index_metadata`). NULL is a no-op.
///
/// Thread safety: the string must not be in use by another thread.
#[no_mangle]
pub extern "C" fn omendb_string_free(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: made by CString::into_raw in this library and freed once, per contract.
        drop(unsafe { CString::from_raw(s) });
    }
}
