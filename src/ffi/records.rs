//! Records with metadata and texts: `omendb_index_add_records`, `_upsert_records` and their
//! string-key forms.

use std::ffi::c_char;

use super::boundary::{guard, handle, matrix, optional_utf8_array, slice, utf8_array};
use super::index::omendb_index;
use super::status::{early_check, omendb_error, omendb_status};
use crate::index::{Index, Keys, Payloads};

/// The payload arguments of the records functions, as C gives them: optional arrays of
/// metadata and texts, each with optional lengths. Read only after the arguments before them
/// were checked.
struct PayloadArgs {
    metadata: *const *const c_char,
    metadata_lens: *const usize,
    texts: *const *const c_char,
    text_lens: *const usize,
}

/// The body of the records functions; `keys` (already read) give the number of records.
fn put_records(
    index: *const omendb_index,
    keys: Keys<'_>,
    vectors: *const f32,
    dim: usize,
    payloads: PayloadArgs,
    upsert: bool,
) -> Result<(), omendb_error> {
    let n = keys.len();
    let idx: &Index = &handle(index, "index")?.inner;
    let vectors = matrix(vectors, n, dim, "vectors")?;
    early_check(idx.check_row_shape(n, dim))?;
    let metadata = optional_utf8_array(payloads.metadata, payloads.metadata_lens, n, "metadata")?;
    let texts = optional_utf8_array(payloads.texts, payloads.text_lens, n, "texts")?;
    let payloads = Payloads { metadata: metadata.as_deref(), texts: texts.as_deref() };
    if upsert { idx.upsert_with(keys, vectors, payloads)? } else { idx.add_with(keys, vectors, payloads)? }
    Ok(())
}

/// Adds `n` records with u64 keys, as `omendb_index_add_batch`, each with optional metadata
/// and text.
///
/// `metadata[i]` is record i's metadata: a JSON object whose fields filters test (strings,
/// numbers, booleans, null, lists of strings, lists of numbers, nested objects; a list holds
/// strings or numbers, not both), `metadata_lens[i]` bytes of UTF-8.
/// A nested object's fields are reached by dotted names: `{"book": {"year": 1999}}` holds
/// the field `book.year`, and so does `{"book.year": 1999}` (a key with a dot names the same
/// path). A key repeated in one object, a path given twice, or a path that is both a value and
/// an object (`{"a": 1, "a.b": 2}`) is refused; an empty object holds no field.
/// `omendb_index_metadata` gives the object back nested.
/// `texts[i]` is record i's text, searched by `omendb_index_text_search` and
/// `omendb_index_hybrid_search` and kept as given (`omendb_index_get_text`), `text_lens[i]`
/// bytes of UTF-8. `metadata` (or `texts`) may
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
        put_records(index, Keys::U64(keys), vectors, dim, PayloadArgs { metadata, metadata_lens, texts, text_lens }, false)
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
        put_records(index, Keys::U64(keys), vectors, dim, PayloadArgs { metadata, metadata_lens, texts, text_lens }, true)
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
        put_records(index, Keys::Str(&keys), vectors, dim, PayloadArgs { metadata, metadata_lens, texts, text_lens }, false)
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
        put_records(index, Keys::Str(&keys), vectors, dim, PayloadArgs { metadata, metadata_lens, texts, text_lens }, true)
    })
}
