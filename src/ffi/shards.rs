//! What a caller needs to split one collection into several indexes (shards) and search them
//! as one: the BM25 corpus statistics of a query (`omendb_index_text_stats`), a text search
//! scored with statistics summed over every shard (`omendb_index_text_search_with_stats`), and
//! the hybrid fusion of lists merged from several shards (`omendb_fuse`). The Python package's
//! `omendb.ray` is built on these three.

use std::ffi::c_char;

use super::boundary::{guard, handle, new_handle, optional_handle, out, slice, slice_mut, utf8};
use super::filter::omendb_filter;
use super::index::omendb_index;
use super::results::omendb_results;
use super::search::{fusion_from_c, one_query};
use super::status::{early_check, omendb_error, omendb_status};
use crate::hybrid;
use crate::index::check_k;
use crate::text::CorpusStats;

/// The BM25 corpus statistics of `query` (`len` bytes of UTF-8) in this index: the number of
/// records with a text (`*docs_out`), the total length of those texts in terms
/// (`*tokens_out`), and for each distinct term of the query, as this index's text options cut
/// it (in sorted order), the number of texts holding it (`doc_freqs_out`).
///
/// A collection split over several indexes with the same text options scores a text query as
/// one index would by summing these statistics over every index (element by element) and
/// passing the sums to `omendb_index_text_search_with_stats` on each: idf and mean length are
/// then the whole collection's, and every record gets the score it has in one index of all
/// records.
///
/// On success, and on OMENDB_STATUS_BUFFER_TOO_SMALL, `*terms_out` is set to the number of
/// distinct query terms (0 for a query with none). When `doc_freqs_cap` is smaller than that,
/// nothing else is written and OMENDB_STATUS_BUFFER_TOO_SMALL is returned: call again with a
/// larger array (`doc_freqs_out` may be NULL when `doc_freqs_cap` is 0, to learn the count).
/// The output pointers must not overlap.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER, OMENDB_STATUS_INVALID_UTF8,
/// OMENDB_STATUS_INVALID_ARGUMENT (a misaligned output pointer), or
/// OMENDB_STATUS_BUFFER_TOO_SMALL.
///
/// Thread safety: as `omendb_index_search`.
#[no_mangle]
pub extern "C" fn omendb_index_text_stats(
    index: *const omendb_index,
    query: *const c_char,
    len: usize,
    docs_out: *mut u64,
    tokens_out: *mut u64,
    doc_freqs_out: *mut u64,
    doc_freqs_cap: usize,
    terms_out: *mut usize,
    err_out: *mut *mut omendb_error,
) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        let query = utf8(query, len, "query")?;
        let terms_slot = out(terms_out, "terms_out")?;
        let docs_slot = out(docs_out, "docs_out")?;
        let tokens_slot = out(tokens_out, "tokens_out")?;
        let stats = idx.text_stats(query);
        *terms_slot = stats.doc_freqs.len();
        if doc_freqs_cap < stats.doc_freqs.len() {
            return Err(omendb_error::new(
                omendb_status::OMENDB_STATUS_BUFFER_TOO_SMALL,
                format!("the query has {} distinct terms, doc_freqs_out holds {doc_freqs_cap}", stats.doc_freqs.len()),
            ));
        }
        let freqs = slice_mut(doc_freqs_out, doc_freqs_cap, "doc_freqs_out")?;
        freqs[..stats.doc_freqs.len()].copy_from_slice(&stats.doc_freqs);
        *docs_slot = stats.docs;
        *tokens_slot = stats.tokens;
        Ok(())
    })
}

/// As `omendb_index_text_search`, but scored with the corpus statistics given (`docs`,
/// `tokens`, and `terms` document frequencies in `doc_freqs`) instead of this index's own:
/// the sums of `omendb_index_text_stats` over every index of a collection split in several
/// (see there). Scores are then those of one index of all records, so the caller merges
/// the shards' hits by score.
///
/// Returns the statuses of `omendb_index_text_search`, and OMENDB_STATUS_INVALID_ARGUMENT
/// when the statistics cannot be the collection's for this query: `terms` is not the query's
/// number of distinct terms (statistics of another query, or of an index with other text
/// options), a count is below this index's own (`docs`, `tokens`, or a term's frequency: the
/// sums must include this index, as it is now), or a frequency exceeds `docs`. Statistics of
/// another query that pass these checks go unnoticed.
///
/// Thread safety: as `omendb_index_search`.
#[no_mangle]
pub extern "C" fn omendb_index_text_search_with_stats(
    index: *const omendb_index,
    query: *const c_char,
    len: usize,
    k: usize,
    filter: *const omendb_filter,
    docs: u64,
    tokens: u64,
    doc_freqs: *const u64,
    terms: usize,
    results_out: *mut *mut omendb_results,
    err_out: *mut *mut omendb_error,
) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        let slot = out(results_out, "results_out")?;
        let query = utf8(query, len, "query")?;
        let corpus = CorpusStats { docs, tokens, doc_freqs: slice(doc_freqs, terms, "doc_freqs")?.to_vec() };
        early_check(check_k(k))?;
        let filter = optional_handle(filter).map(|f| &f.inner);
        *slot = new_handle(one_query(idx, k, |emit| idx.text_search_with(query, k, filter, Some(&corpus), emit))?);
        Ok(())
    })
}

/// The fusion of `omendb_index_hybrid_search` applied to two result lists the caller holds,
/// such as the vector hits and the text hits of several shards, each merged into one list
/// (see `omendb_index_text_search_with_stats`). Fusing after the merge gives the ranking of a
/// hybrid search on one index of all records, up to the graph's approximation (each list
/// must be as deep as the single index's: 100, or k when larger).
///
/// `vector_ids` / `vector_distances` (`vector_len` entries) is the vector list, closest
/// first; `text_ids` / `text_scores` (`text_len` entries) the text list, best first. Ids are
/// the caller's (u64 keys, or positions in a list of string keys); an id listed twice in one
/// list counts at its first place. `fusion` and `param` as in `omendb_index_hybrid_search`.
///
/// Writes the `*len_out` = min(k, distinct ids) best ids and their fused scores (higher is
/// better, descending; equal scores: lower id first, where one index's hybrid search puts the
/// lower slot first, so ties may rank otherwise than there) to `ids_out` and `scores_out`,
/// which hold `out_len` entries; min(k, vector_len + text_len) entries are always enough.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER, OMENDB_STATUS_INVALID_ARGUMENT (k = 0,
/// an unknown `fusion`, `param` out of range, a non-finite value with the weighted fusion, a
/// misaligned pointer), or OMENDB_STATUS_BUFFER_TOO_SMALL (`out_len` below the number of
/// results, which is then written to `*len_out`).
///
/// Thread safety: safe to call from any thread.
#[no_mangle]
pub extern "C" fn omendb_fuse(
    fusion: u32,
    param: f32,
    vector_ids: *const u64,
    vector_distances: *const f32,
    vector_len: usize,
    text_ids: *const u64,
    text_scores: *const f32,
    text_len: usize,
    k: usize,
    ids_out: *mut u64,
    scores_out: *mut f32,
    out_len: usize,
    len_out: *mut usize,
    err_out: *mut *mut omendb_error,
) -> omendb_status {
    guard(err_out, || {
        let pairs = |ids: *const u64, values: *const f32, n: usize, names: [&str; 2]| -> Result<Vec<(u64, f32)>, omendb_error> {
            let ids = slice(ids, n, names[0])?;
            let values = slice(values, n, names[1])?;
            Ok(ids.iter().copied().zip(values.iter().copied()).collect())
        };
        let vector = pairs(vector_ids, vector_distances, vector_len, ["vector_ids", "vector_distances"])?;
        let text = pairs(text_ids, text_scores, text_len, ["text_ids", "text_scores"])?;
        let len_slot = out(len_out, "len_out")?;
        early_check(check_k(k))?;
        let fusion = fusion_from_c(fusion, param)?;
        let fused = hybrid::fuse(&vector, &text, fusion, k)?;
        if out_len < fused.len() {
            *len_slot = fused.len();
            return Err(omendb_error::new(
                omendb_status::OMENDB_STATUS_BUFFER_TOO_SMALL,
                format!("the output arrays hold {out_len} entries, the fusion gives {}", fused.len()),
            ));
        }
        let ids = slice_mut(ids_out, out_len, "ids_out")?;
        let scores = slice_mut(scores_out, out_len, "scores_out")?;
        for (i, (id, score)) in fused.iter().enumerate() {
            ids[i] = *id;
            scores[i] = *score;
        }
        *len_slot = fused.len();
        Ok(())
    })
}

