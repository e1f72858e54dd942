//! `omendb_results`: the owned answer of a search, with string or u64 keys.

use std::ffi::c_char;

use super::boundary::{free_handle, guard, handle, invalid, out};
use super::status::{omendb_error, omendb_status};
use crate::keys::{KeyRef, NO_KEY};

/// The results of a batch of searches: for each query up to k hits, nearest first.
/// Made by `omendb_index_search_results`, freed by `omendb_results_free`. Immutable, so
/// any number of threads may read it at once.
pub struct omendb_results {
    /// Places per query: min(k, records that can match), fixed before the search runs.
    pub(crate) width: usize,
    pub(crate) counts: Vec<usize>,
    pub(crate) distances: Vec<f32>,
    pub(crate) keys: Vec<u64>,
    /// String keys, each stored with a trailing NUL so C can use it as a C string.
    pub(crate) str_keys: Option<Vec<Vec<u8>>>,
}

/// One query's rows of a results object being filled.
pub(crate) struct Sink<'a> {
    pub count: &'a mut usize,
    pub distances: &'a mut [f32],
    pub keys: &'a mut [u64],
    pub str_keys: Option<&'a mut [Vec<u8>]>,
}

impl omendb_results {
    /// Room for `n` rows of `width` hits: the caller passes min(k, records that can match),
    /// never k itself, so a huge k costs nothing. An allocation that fails (a huge batch) is an
    /// error, not an abort of the host process.
    pub(crate) fn new(n: usize, width: usize, strings: bool) -> Result<omendb_results, omendb_error> {
        let cells = n.checked_mul(width).ok_or_else(|| invalid("n * k overflows"))?;
        let too_big = |_| invalid(format!("cannot allocate results for {n} queries x {width} hits"));
        fn filled<T: Clone>(len: usize, value: T) -> Result<Vec<T>, std::collections::TryReserveError> {
            let mut v = Vec::new();
            v.try_reserve_exact(len)?;
            v.resize(len, value);
            Ok(v)
        }
        Ok(omendb_results {
            width,
            counts: filled(n, 0).map_err(too_big)?,
            distances: filled(cells, f32::INFINITY).map_err(too_big)?,
            keys: filled(cells, NO_KEY).map_err(too_big)?,
            str_keys: if strings { Some(filled(cells, Vec::new()).map_err(too_big)?) } else { None },
        })
    }

    /// One sink per query, even where rows are 0 wide (an empty index): the search checks
    /// every query it is given.
    pub(crate) fn sinks(&mut self) -> Vec<Sink<'_>> {
        let width = self.width;
        let mut distances = self.distances.as_mut_slice();
        let mut keys = self.keys.as_mut_slice();
        let mut strs = self.str_keys.as_deref_mut();
        let mut sinks = Vec::with_capacity(self.counts.len());
        for count in self.counts.iter_mut() {
            let (d, rest_d) = std::mem::take(&mut distances).split_at_mut(width);
            let (k, rest_k) = std::mem::take(&mut keys).split_at_mut(width);
            distances = rest_d;
            keys = rest_k;
            let str_keys = strs.take().map(|s| {
                let (row, rest) = s.split_at_mut(width);
                strs = Some(rest);
                row
            });
            sinks.push(Sink { count, distances: d, keys: k, str_keys });
        }
        sinks
    }

    pub(crate) fn record(sink: &mut Sink<'_>, rank: usize, key: KeyRef<'_>, distance: f32) {
        if rank >= sink.distances.len() {
            // Records added while the search ran can exceed the row size chosen before it.
            return;
        }
        sink.distances[rank] = distance;
        match key {
            KeyRef::U64(k) => sink.keys[rank] = k,
            KeyRef::Str(s) => {
                if let Some(strs) = sink.str_keys.as_deref_mut() {
                    // The length goes out separately, so a key holding NUL bytes comes back whole.
                    let slot = &mut strs[rank];
                    slot.clear();
                    slot.extend_from_slice(s.as_bytes());
                    slot.push(0);
                }
            }
        }
        *sink.count = rank + 1;
    }

    fn position(&self, query: usize, rank: usize) -> Result<usize, omendb_error> {
        let count = *self.counts.get(query).ok_or_else(|| {
            omendb_error::new(
                omendb_status::OMENDB_STATUS_OUT_OF_RANGE,
                format!("query {query} is past the end ({} queries)", self.counts.len()),
            )
        })?;
        if rank >= count {
            return Err(omendb_error::new(
                omendb_status::OMENDB_STATUS_OUT_OF_RANGE,
                format!("rank {rank} is past the end (query {query} has {count} hits)"),
            ));
        }
        Ok(query * self.width + rank)
    }
}

/// Frees a results object. NULL is a no-op. Pointers obtained from it become invalid.
///
/// Thread safety: no other thread may be reading the results.
#[no_mangle]
pub extern "C" fn omendb_results_free(results: *mut omendb_results) {
    free_handle(results)
}

/// Writes the number of queries to `*n_out`.
///
/// Returns OMENDB_STATUS_OK or OMENDB_STATUS_NULL_POINTER.
///
/// Thread safety: safe from any thread.
#[no_mangle]
pub extern "C" fn omendb_results_num_queries(results: *const omendb_results, n_out: *mut usize, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let r = handle(results, "results")?;
        *out(n_out, "n_out")? = r.counts.len();
        Ok(())
    })
}

/// Writes the number of hits of query `query` (0..=k) to `*count_out`.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER, or OMENDB_STATUS_OUT_OF_RANGE when
/// `query` is not below the number of queries.
///
/// Thread safety: safe from any thread.
#[no_mangle]
pub extern "C" fn omendb_results_count(results: *const omendb_results, query: usize, count_out: *mut usize, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let r = handle(results, "results")?;
        let count = *r.counts.get(query).ok_or_else(|| {
            omendb_error::new(omendb_status::OMENDB_STATUS_OUT_OF_RANGE, format!("query {query} is past the end"))
        })?;
        *out(count_out, "count_out")? = count;
        Ok(())
    })
}

/// Writes the distance of hit `rank` (0 = nearest) of query `query` to `*distance_out`.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER or OMENDB_STATUS_OUT_OF_RANGE.
///
/// Thread safety: safe from any thread.
#[no_mangle]
pub extern "C" fn omendb_results_distance(results: *const omendb_results, query: usize, rank: usize, distance_out: *mut f32, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let r = handle(results, "results")?;
        let i = r.position(query, rank)?;
        *out(distance_out, "distance_out")? = r.distances[i];
        Ok(())
    })
}

/// Writes the u64 key of hit `rank` of query `query` to `*key_out`.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER, OMENDB_STATUS_OUT_OF_RANGE, or
/// OMENDB_STATUS_INVALID_KEY when the index holds string keys.
///
/// Thread safety: safe from any thread.
#[no_mangle]
pub extern "C" fn omendb_results_key(results: *const omendb_results, query: usize, rank: usize, key_out: *mut u64, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let r = handle(results, "results")?;
        let i = r.position(query, rank)?;
        if r.str_keys.is_some() {
            return Err(omendb_error::new(
                omendb_status::OMENDB_STATUS_INVALID_KEY,
                "these results hold string keys: use omendb_results_key_str",
            ));
        }
        *out(key_out, "key_out")? = r.keys[i];
        Ok(())
    })
}

/// Writes the string key of hit `rank` of query `query`: a pointer to its UTF-8 bytes,
/// NUL-terminated, to `*key_out`, and its length in bytes (without the NUL) to `*len_out`
/// (`len_out` may be NULL). The string is owned by the results and valid until
/// `omendb_results_free`.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER, OMENDB_STATUS_OUT_OF_RANGE, or
/// OMENDB_STATUS_INVALID_KEY when the index holds u64 keys.
///
/// Thread safety: safe from any thread.
#[no_mangle]
pub extern "C" fn omendb_results_key_str(results: *const omendb_results, query: usize, rank: usize, key_out: *mut *const c_char, len_out: *mut usize, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let r = handle(results, "results")?;
        let i = r.position(query, rank)?;
        let Some(strs) = &r.str_keys else {
            return Err(omendb_error::new(
                omendb_status::OMENDB_STATUS_INVALID_KEY,
                "these results hold u64 keys: use omendb_results_key",
            ));
        };
        let key = out(key_out, "key_out")?;
        if !len_out.is_null() {
            *out(len_out, "len_out")? = strs[i].len() - 1;
        }
        *key = strs[i].as_ptr() as *const c_char;
        Ok(())
    })
}

/// Writes a pointer to all distances, row by row, to `*distances_out` and their number to
/// `*len_out`. Each row is `w = *len_out / n_queries` floats wide, where w = min(k, records
/// in the index when the search started) (0 for an empty index): query i's hits are at
/// `[i * w, i * w + count_i)`, the rest INFINITY. Owned by the results; valid until
/// `omendb_results_free`.
///
/// Returns OMENDB_STATUS_OK or OMENDB_STATUS_NULL_POINTER.
///
/// Thread safety: safe from any thread.
#[no_mangle]
pub extern "C" fn omendb_results_distances(results: *const omendb_results, distances_out: *mut *const f32, len_out: *mut usize, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let r = handle(results, "results")?;
        let d = out(distances_out, "distances_out")?;
        *out(len_out, "len_out")? = r.distances.len();
        *d = r.distances.as_ptr();
        Ok(())
    })
}
