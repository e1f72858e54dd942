//! `omendb_options`: a builder for the settings fixed at index creation.

use std::ffi::c_char;

use super::boundary::{free_handle, guard, handle_mut, invalid, new_handle, out, utf8, utf8_array};
use super::status::{omendb_error, omendb_status};
use crate::index::IndexOptions;
use crate::metric::Metric;
use crate::quant::raw::RawStorage;
use crate::quant::Dtype;
use crate::storage::wal::{Durability, SyncMode};
use crate::text::{Bm25Params, StopWords};

/// Settings for `omendb_index_create`. Made by `omendb_options_create`, changed by the
/// `omendb_options_set_*` functions, freed by `omendb_options_free`.
pub struct omendb_options {
    pub(crate) inner: IndexOptions,
    /// The options a setter was called for: reopening a durable directory compares only
    /// these with the stored ones (the rest take the stored values).
    pub(crate) explicit: Vec<&'static str>,
    /// `omendb_options_set_path`: the directory of a durable index.
    pub(crate) path: Option<std::path::PathBuf>,
    /// `omendb_options_set_sync` and `omendb_options_set_checkpoint_bytes`.
    pub(crate) durability: Durability,
}

impl omendb_options {
    fn mark(&mut self, name: &'static str) {
        if !self.explicit.contains(&name) {
            self.explicit.push(name);
        }
    }
}

/// Squared Euclidean distance (`omendb_options_set_metric`).
pub const OMENDB_METRIC_L2: u32 = 0;
/// Inner product; distance = 1 - a.b.
pub const OMENDB_METRIC_IP: u32 = 1;
/// Cosine; distance = 1 - cos(a, b). Vectors are normalised once, at insert.
pub const OMENDB_METRIC_COSINE: u32 = 2;

/// Vectors stored as f32 (`omendb_options_set_dtype`; the default).
pub const OMENDB_DTYPE_F32: u32 = 0;
/// Vectors stored as IEEE half floats (2 bytes a dimension).
pub const OMENDB_DTYPE_F16: u32 = 1;
/// Scalar quantization, one byte a dimension (7-bit codes, 0..=127, so the VNNI / pmaddubsw
/// instructions apply): offsets and ranges learned per dimension from the first batch added,
/// which must hold at least 256 vectors; one step for all dimensions (the widest range / 127).
pub const OMENDB_DTYPE_INT8: u32 = 2;
/// One bit a dimension: whether the component is above that dimension's mean over the first
/// batch added (any size). The graph is built by Hamming distance; a search compares the query
/// with each code's two-level vector (per dimension, the batch's mean below or above the
/// threshold) under the metric.
pub const OMENDB_DTYPE_BINARY: u32 = 3;
/// Product quantization: `pq_m` bytes a vector (one of 256 centroids per sub-space), trained
/// by k-means on the first batch added, which must hold at least 1024 vectors; dimensions
/// must be at least 128 and divisible by `pq_m`.
pub const OMENDB_DTYPE_PQ: u32 = 4;

/// Creates options with the defaults: dimensions 0 (taken from the first batch added),
/// metric OMENDB_METRIC_L2, m 16, ef_construction 200, ef_search 64, a fixed seed, dtype
/// OMENDB_DTYPE_F32, rerank 4, pq_m 0 (dim / 8), full-precision vectors in memory, no
/// neighbour codes.
///
/// On success writes a new handle to `*options_out`; the caller owns it and frees it with
/// `omendb_options_free`. On failure `*options_out` is unchanged.
///
/// Returns OMENDB_STATUS_OK, or OMENDB_STATUS_NULL_POINTER if `options_out` is NULL.
///
/// Thread safety: safe to call from any thread.
#[no_mangle]
pub extern "C" fn omendb_options_create(options_out: *mut *mut omendb_options, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let slot = out(options_out, "options_out")?;
        *slot = new_handle(omendb_options {
            inner: IndexOptions::default(),
            explicit: Vec::new(),
            path: None,
            durability: Durability::default(),
        });
        Ok(())
    })
}

/// Frees options. NULL is a no-op. Indexes created from them are not affected.
///
/// Thread safety: the options must not be in use by another thread.
#[no_mangle]
pub extern "C" fn omendb_options_free(options: *mut omendb_options) {
    free_handle(options)
}

/// Runs setter `name`: changes the options through `f` and marks `name` as set.
fn set(
    options: *mut omendb_options,
    err_out: *mut *mut omendb_error,
    name: &'static str,
    f: impl FnOnce(&mut IndexOptions) -> Result<(), omendb_error>,
) -> omendb_status {
    guard(err_out, || {
        let o = handle_mut(options, "options")?;
        f(&mut o.inner)?;
        o.mark(name);
        Ok(())
    })
}

fn in_range(name: &str, value: u64, lo: u64, hi: u64) -> Result<usize, omendb_error> {
    if (lo..=hi).contains(&value) {
        Ok(value as usize)
    } else {
        Err(invalid(format!("{name} must be in {lo}..={hi}, got {value}")))
    }
}

/// Sets the vector dimensions (1..=65536), or 0 to take them from the first batch added.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER (options is NULL), or
/// OMENDB_STATUS_INVALID_ARGUMENT (out of range; the options are unchanged).
///
/// Thread safety: the options must not be used by another thread during the call.
#[no_mangle]
pub extern "C" fn omendb_options_set_dim(options: *mut omendb_options, dim: u64, err_out: *mut *mut omendb_error) -> omendb_status {
    set(options, err_out, "dim", |o| {
        o.dim = in_range("dim", dim, 0, crate::index::MAX_DIM as u64)?;
        Ok(())
    })
}

/// Sets the metric: OMENDB_METRIC_L2, OMENDB_METRIC_IP or OMENDB_METRIC_COSINE.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER, or OMENDB_STATUS_INVALID_ARGUMENT for
/// any other number (the options are unchanged).
///
/// Thread safety: the options must not be used by another thread during the call.
#[no_mangle]
pub extern "C" fn omendb_options_set_metric(options: *mut omendb_options, metric: u32, err_out: *mut *mut omendb_error) -> omendb_status {
    set(options, err_out, "metric", |o| {
        o.metric = Metric::from_u32(metric).map_err(omendb_error::from)?;
        Ok(())
    })
}

/// Sets M, the links per node on the upper layers (2..=512; layer 0 gets 2 * M). Default 16.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER or OMENDB_STATUS_INVALID_ARGUMENT.
///
/// Thread safety: the options must not be used by another thread during the call.
#[no_mangle]
pub extern "C" fn omendb_options_set_m(options: *mut omendb_options, m: u64, err_out: *mut *mut omendb_error) -> omendb_status {
    set(options, err_out, "m", |o| {
        o.m = in_range("m", m, 2, crate::index::MAX_M as u64)?;
        Ok(())
    })
}

/// Sets ef_construction, the beam width while inserting (1..=1048576). Default 200.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER or OMENDB_STATUS_INVALID_ARGUMENT.
///
/// Thread safety: the options must not be used by another thread during the call.
#[no_mangle]
pub extern "C" fn omendb_options_set_ef_construction(options: *mut omendb_options, ef_construction: u64, err_out: *mut *mut omendb_error) -> omendb_status {
    set(options, err_out, "ef_construction", |o| {
        o.ef_construction = in_range("ef_construction", ef_construction, 1, crate::index::MAX_EF as u64)?;
        Ok(())
    })
}

/// Sets the default ef_search, the beam width of a search that passes ef = 0
/// (1..=1048576). Default 64. A search always uses at least k.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER or OMENDB_STATUS_INVALID_ARGUMENT.
///
/// Thread safety: the options must not be used by another thread during the call.
#[no_mangle]
pub extern "C" fn omendb_options_set_ef_search(options: *mut omendb_options, ef_search: u64, err_out: *mut *mut omendb_error) -> omendb_status {
    set(options, err_out, "ef_search", |o| {
        o.ef_search = in_range("ef_search", ef_search, 1, crate::index::MAX_EF as u64)?;
        Ok(())
    })
}

/// Sets the seed of the level sampler. With the same seed, inserting the same records one
/// batch of fewer than 32 at a time builds the same graph.
///
/// Returns OMENDB_STATUS_OK or OMENDB_STATUS_NULL_POINTER.
///
/// Thread safety: the options must not be used by another thread during the call.
#[no_mangle]
pub extern "C" fn omendb_options_set_seed(options: *mut omendb_options, seed: u64, err_out: *mut *mut omendb_error) -> omendb_status {
    set(options, err_out, "seed", |o| {
        o.seed = seed;
        Ok(())
    })
}

/// Sets how vectors are stored in the graph: OMENDB_DTYPE_F32 (default), OMENDB_DTYPE_F16,
/// OMENDB_DTYPE_INT8, OMENDB_DTYPE_BINARY or OMENDB_DTYPE_PQ.
///
/// Memory per vector (m = 16): the record holds the code and 33 link slots, rounded up to 64
/// bytes. With `omendb_options_set_full_precision_dir` the full-precision vectors stay out of
/// anonymous memory; `omendb_index_memory_bytes` counts them only when they are in memory.
///
/// With any dtype but f32 the graph is built and searched on the compact codes, and each
/// search re-scores its best `rerank * k` candidates (see `omendb_options_set_rerank`) with the
/// full-precision vectors, which the index also keeps (see
/// `omendb_options_set_full_precision_dir`); distances returned are exact. int8 and pq learn
/// their codes from the first batch added: `omendb_index_add` (and the other adds) fails with
/// OMENDB_STATUS_INVALID_ARGUMENT, storing nothing, while that batch holds fewer than 256
/// (int8) or 1024 (pq) vectors. Later values outside int8's learned ranges saturate. Every
/// dtype can be saved (`omendb_index_save`, format version 3, binary 4, 5 where the records
/// pack: codes, trained codec and full-precision vectors); `omendb_index_load` restores it with
/// the full-precision vectors in memory, and `omendb_index_open` serves them from the file
/// mapping.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER, or OMENDB_STATUS_INVALID_ARGUMENT for
/// any other number (the options are unchanged).
///
/// Thread safety: the options must not be used by another thread during the call.
#[no_mangle]
pub extern "C" fn omendb_options_set_dtype(options: *mut omendb_options, dtype: u32, err_out: *mut *mut omendb_error) -> omendb_status {
    set(options, err_out, "dtype", |o| {
        o.dtype = Dtype::from_u32(dtype).map_err(omendb_error::from)?;
        Ok(())
    })
}

/// Sets the re-ranking depth of a quantized index (1..=1024, default 4): each search re-scores
/// its best `rerank * k` candidates with the full-precision vectors, taken from every node its
/// beam (of width ef) computed a distance to. Higher: better recall, slower searches. No
/// effect with f32.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER or OMENDB_STATUS_INVALID_ARGUMENT.
///
/// Thread safety: the options must not be used by another thread during the call.
#[no_mangle]
pub extern "C" fn omendb_options_set_rerank(options: *mut omendb_options, rerank: u64, err_out: *mut *mut omendb_error) -> omendb_status {
    set(options, err_out, "rerank", |o| {
        o.rerank = in_range("rerank", rerank, 1, crate::index::MAX_RERANK as u64)?;
        Ok(())
    })
}

/// Sets the bits per dimension of the neighbour codes of an f32 index: 0 (none, the default),
/// 8 or 4. A search (and an insert) then steers its layer-0 beam by scoring neighbours' codes
/// instead of their f32 vectors, and re-scores the best nodes it reached with the f32 vectors,
/// so the distances returned stay exact. 8 bits suit low dimensions (glove-50), 4 bits high
/// ones (MNIST-784, MiniLM-384); BENCHMARKS.md has the measurements.
///
/// Each node keeps its own code, in an array beside the records (`omendb_index_stats` names
/// the layout, `neighbor_codes_layout`: "per_node"): about `dim` bytes at 8 bits or `dim / 2`
/// at 4, rounded up to the kernels' 64- or 32-byte reads; 1.1x the memory of the index
/// without codes at 384 or 784 dimensions (MiniLM, MNIST) and 1.2x at 50 (glove-50, 64
/// bytes); `omendb_index_memory_bytes` counts them. (An earlier layout kept a block of
/// every neighbour's code beside each node's links, at 4.6-9x the memory; it measured slower
/// and remains only for benchmarks, BENCHMARKS.md.)
/// The codes are learned from the first 256 to 4096 records; until then searches score the
/// vectors. A saved index keeps what was learned (format version 8) and a load makes the same
/// codes. `omendb_index_open`, where it serves the records in place from the mapping, makes
/// them at open from the mapped vectors, into memory beside the mapping (the codes' share of
/// memory above; the vectors stay in the page cache), and answers as the loaded index does.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER, or OMENDB_STATUS_INVALID_ARGUMENT for
/// any other number (the options are unchanged); `omendb_index_create` fails with
/// OMENDB_STATUS_INVALID_ARGUMENT when they are set with a dtype other than f32.
///
/// Thread safety: the options must not be used by another thread during the call.
#[no_mangle]
pub extern "C" fn omendb_options_set_neighbor_codes(options: *mut omendb_options, bits: u32, err_out: *mut *mut omendb_error) -> omendb_status {
    set(options, err_out, "neighbor_codes", |o| {
        o.neighbor_codes = match bits {
            0 | 4 | 8 => bits as u8,
            _ => return Err(invalid(format!("neighbor_codes must be 0, 4 or 8 bits, got {bits}"))),
        };
        Ok(())
    })
}

/// Sets the number of PQ sub-spaces (1..=65536, or 0 for dim / 8). It must divide the
/// dimensions and applies to OMENDB_DTYPE_PQ only: `omendb_index_create` (or, when the
/// dimensions come from the first batch, that add) fails with OMENDB_STATUS_INVALID_ARGUMENT
/// otherwise, naming both numbers.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER or OMENDB_STATUS_INVALID_ARGUMENT.
///
/// Thread safety: the options must not be used by another thread during the call.
#[no_mangle]
pub extern "C" fn omendb_options_set_pq_m(options: *mut omendb_options, pq_m: u64, err_out: *mut *mut omendb_error) -> omendb_status {
    set(options, err_out, "pq_m", |o| {
        o.pq_m = in_range("pq_m", pq_m, 0, crate::index::MAX_DIM as u64)?;
        Ok(())
    })
}

/// Sets where a quantized index keeps its full-precision vectors: with a directory (`dir`,
/// `dir_len` bytes of UTF-8, no NUL needed), in a temporary file created there when the index
/// gets its first vectors and unlinked at once (it disappears with the index, even after a
/// crash), memory-mapped: those pages are page cache, which the OS can write back and evict,
/// not anonymous memory. With `dir_len` 0 (the default), in anonymous memory. No effect with
/// f32.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER (options NULL, or dir NULL with
/// dir_len > 0) or OMENDB_STATUS_INVALID_UTF8. A directory that cannot hold the file makes
/// the first add fail with OMENDB_STATUS_IO.
///
/// Thread safety: the options must not be used by another thread during the call.
#[no_mangle]
pub extern "C" fn omendb_options_set_full_precision_dir(options: *mut omendb_options, dir: *const c_char, dir_len: usize, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let o = handle_mut(options, "options")?;
        o.inner.raw_storage = if dir_len == 0 { RawStorage::Memory } else { RawStorage::File(utf8(dir, dir_len, "dir")?.into()) };
        o.mark("full_precision_dir");
        Ok(())
    })
}

/// `omendb_options_set_stop_words`: keep every word.
pub const OMENDB_STOP_WORDS_NONE: u32 = 0;
/// `omendb_options_set_stop_words`: drop the English stop words (the default; the list of
/// Lucene's English analyzer).
pub const OMENDB_STOP_WORDS_ENGLISH: u32 = 1;
/// `omendb_options_set_stop_words`: drop the caller's words (compared after lower-casing).
pub const OMENDB_STOP_WORDS_CUSTOM: u32 = 2;

/// Sets how texts and text queries are folded before they are cut into terms: `lowercase`
/// (Unicode case folding, the default true) and `normalize_unicode` (NFKC first, so composed
/// and decomposed accents match; the default true). Saved with the index; a durable index
/// compares these settings (the tokenizer's, as one option "text") with the stored ones.
///
/// Returns OMENDB_STATUS_OK or OMENDB_STATUS_NULL_POINTER.
///
/// Thread safety: the options must not be used by another thread during the call.
#[no_mangle]
pub extern "C" fn omendb_options_set_text_case(options: *mut omendb_options, lowercase: bool, normalize_unicode: bool, err_out: *mut *mut omendb_error) -> omendb_status {
    set(options, err_out, "text", |o| {
        o.text.lowercase = lowercase;
        o.text.normalize_unicode = normalize_unicode;
        Ok(())
    })
}

/// Sets the stemmer of texts and text queries: "english" (Snowball English, Porter 2:
/// "measuring" and "measurement" both become "measur") or "none" (the default; "" is none
/// too), `len` bytes of UTF-8, case-insensitive. Saved with the index.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER, OMENDB_STATUS_INVALID_UTF8 or
/// OMENDB_STATUS_INVALID_ARGUMENT (another language: the message lists the accepted ones).
///
/// Thread safety: the options must not be used by another thread during the call.
#[no_mangle]
pub extern "C" fn omendb_options_set_stemmer(options: *mut omendb_options, language: *const c_char, len: usize, err_out: *mut *mut omendb_error) -> omendb_status {
    set(options, err_out, "text", |o| {
        let language = utf8(language, len, "language")?;
        o.text.stem_english = match language.to_ascii_lowercase().as_str() {
            "english" | "en" | "porter2" => true,
            "none" | "" => false,
            other => return Err(invalid(format!("unknown stemmer language {other:?}: expected english (en, porter2) or none"))),
        };
        Ok(())
    })
}

/// Sets the stop words dropped from texts and text queries: OMENDB_STOP_WORDS_NONE,
/// OMENDB_STOP_WORDS_ENGLISH (the default) or OMENDB_STOP_WORDS_CUSTOM with `n` words
/// (`words[i]`, `lens[i]` bytes of UTF-8; `lens` NULL: NUL-terminated), compared after
/// lower-casing. `words` is read only with OMENDB_STOP_WORDS_CUSTOM. Saved with the index.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER, OMENDB_STATUS_INVALID_UTF8 or
/// OMENDB_STATUS_INVALID_ARGUMENT (an unknown mode).
///
/// Thread safety: the options must not be used by another thread during the call.
#[no_mangle]
pub extern "C" fn omendb_options_set_stop_words(
    options: *mut omendb_options,
    mode: u32,
    words: *const *const c_char,
    lens: *const usize,
    n: usize,
    err_out: *mut *mut omendb_error,
) -> omendb_status {
    set(options, err_out, "text", |o| {
        o.text.stop_words = match mode {
            OMENDB_STOP_WORDS_NONE => StopWords::None,
            OMENDB_STOP_WORDS_ENGLISH => StopWords::English,
            OMENDB_STOP_WORDS_CUSTOM => StopWords::Custom(utf8_array(words, lens, n, "words")?.into_iter().map(str::to_lowercase).collect()),
            other => return Err(invalid(format!("unknown stop word mode {other} (OMENDB_STOP_WORDS_NONE, _ENGLISH or _CUSTOM)"))),
        };
        Ok(())
    })
}

/// Sets the shortest and longest terms kept, in characters (Unicode scalar values): 1 <= min
/// <= max <= 65,536 (defaults 2 and 255). Saved with the index.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER or OMENDB_STATUS_INVALID_ARGUMENT.
///
/// Thread safety: the options must not be used by another thread during the call.
#[no_mangle]
pub extern "C" fn omendb_options_set_token_chars(options: *mut omendb_options, min_chars: usize, max_chars: usize, err_out: *mut *mut omendb_error) -> omendb_status {
    set(options, err_out, "text", |o| {
        let max = in_range("max_chars", max_chars as u64, 1, 65_536)?;
        let min = in_range("min_chars", min_chars as u64, 1, max as u64)?;
        o.text.min_token_chars = min;
        o.text.max_token_chars = max;
        Ok(())
    })
}

/// Sets the BM25 parameters of text search: `k1` (term-frequency saturation, finite and >= 0;
/// default 1.5) and `b` (length normalisation, 0 to 1; default 0.75). Saved with the index; a
/// durable index compares the pair (option "bm25") with the stored one.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER or OMENDB_STATUS_INVALID_ARGUMENT.
///
/// Thread safety: the options must not be used by another thread during the call.
#[no_mangle]
pub extern "C" fn omendb_options_set_bm25(options: *mut omendb_options, k1: f32, b: f32, err_out: *mut *mut omendb_error) -> omendb_status {
    set(options, err_out, "bm25", |o| {
        let params = Bm25Params { k1, b };
        params.validate()?;
        o.bm25 = params;
        Ok(())
    })
}

/// `omendb_options_set_sync`: each write is on disk before the call that made it returns
/// (concurrent writers share one fsync). The default.
pub const OMENDB_SYNC_ALWAYS: u32 = 0;
/// `omendb_options_set_sync`: the log is synced every `interval_ms` by a background thread.
pub const OMENDB_SYNC_BATCH: u32 = 1;
/// `omendb_options_set_sync`: the operating system decides when the log reaches the disk
/// (and checkpoints and `omendb_index_free` sync it).
pub const OMENDB_SYNC_OFF: u32 = 2;

/// Makes `omendb_index_create` open a durable index in directory `path` (`path_len` bytes of
/// UTF-8, no NUL needed): created, with the directory, if there is none there, or else
/// recovered: the newest snapshot is loaded and the write-ahead log after it replayed. Every
/// add, upsert and remove is then in the log before it returns (see `omendb_options_set_sync`
/// for when it reaches the disk), and `omendb_index_checkpoint` writes a new snapshot.
///
/// When the directory holds an index, the options set on these options must equal the stored
/// ones (else OMENDB_STATUS_INVALID_ARGUMENT at create, naming the option); options not set
/// take the stored values. The directory is locked while the index lives: a second create on
/// it, from this process or another, fails with OMENDB_STATUS_LOCKED. Layout and record
/// format: docs/format.md. With `path_len` 0, no directory (the default: an index in memory).
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER (options NULL, or path NULL with
/// path_len > 0) or OMENDB_STATUS_INVALID_UTF8.
///
/// Thread safety: the options must not be used by another thread during the call.
#[no_mangle]
pub extern "C" fn omendb_options_set_path(options: *mut omendb_options, path: *const c_char, path_len: usize, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let o = handle_mut(options, "options")?;
        o.path = if path_len == 0 { None } else { Some(utf8(path, path_len, "path")?.into()) };
        Ok(())
    })
}

/// Sets when a durable index's writes reach the disk: OMENDB_SYNC_ALWAYS (before each call
/// returns: an acknowledged write survives a crash of the machine), OMENDB_SYNC_BATCH (at most
/// `interval_ms` milliseconds later, 1..=60000: a crash of the machine loses at most that
/// window) or OMENDB_SYNC_OFF (when the OS writes back). Under every mode a crash of the
/// process alone loses no returned write. `interval_ms` is read only with OMENDB_SYNC_BATCH.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER or OMENDB_STATUS_INVALID_ARGUMENT (an
/// unknown mode, or an interval out of range).
///
/// Thread safety: the options must not be used by another thread during the call.
#[no_mangle]
pub extern "C" fn omendb_options_set_sync(options: *mut omendb_options, mode: u32, interval_ms: u32, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let o = handle_mut(options, "options")?;
        o.durability.sync = match mode {
            OMENDB_SYNC_ALWAYS => SyncMode::Always,
            OMENDB_SYNC_BATCH => SyncMode::Batch(std::time::Duration::from_millis(in_range("interval_ms", interval_ms as u64, 1, 60_000)? as u64)),
            OMENDB_SYNC_OFF => SyncMode::Off,
            other => return Err(invalid(format!("unknown sync mode {other} (OMENDB_SYNC_ALWAYS, _BATCH or _OFF)"))),
        };
        Ok(())
    })
}

/// Sets the log size, in bytes, past which a durable index checkpoints on its own (the write
/// that crosses it runs the checkpoint before it returns); 0 for never (only
/// `omendb_index_checkpoint`). Default 256 MiB.
///
/// Returns OMENDB_STATUS_OK or OMENDB_STATUS_NULL_POINTER.
///
/// Thread safety: the options must not be used by another thread during the call.
#[no_mangle]
pub extern "C" fn omendb_options_set_checkpoint_bytes(options: *mut omendb_options, bytes: u64, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        handle_mut(options, "options")?.durability.checkpoint_bytes = bytes;
        Ok(())
    })
}
