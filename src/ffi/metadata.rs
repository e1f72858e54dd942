//! Reading a record's payloads back: its metadata as JSON (`omendb_index_metadata`,
//! `_metadata_str`), its text as given (`omendb_index_get_text`, `_get_text_str`), and
//! `omendb_string_free` for the strings they return.

use std::ffi::c_char;

use super::boundary::{free_string, guard, handle, out, string_out, utf8};
use super::index::omendb_index;
use super::status::{omendb_error, omendb_status};
use crate::index::Index;
use crate::keys::KeyRef;

/// The body of both exports: the JSON of `key`'s metadata into a new C string.
fn write_metadata(idx: &Index, key: KeyRef<'_>, json_out: *mut *mut c_char, len_out: *mut usize) -> Result<(), omendb_error> {
    out(json_out, "json_out")?;
    if !idx.contains(key) {
        return Err(crate::Error::KeyNotFound(key.to_string_plain()).into());
    }
    string_out(idx.metadata(key).unwrap_or_else(|| "{}".to_string()), json_out, "json_out", len_out)
}

/// The body of both text exports: `key`'s text into a new C string, or NULL for none.
fn write_text(idx: &Index, key: KeyRef<'_>, text_out: *mut *mut c_char, len_out: *mut usize) -> Result<(), omendb_error> {
    out(text_out, "text_out")?;
    if !idx.contains(key) {
        return Err(crate::Error::KeyNotFound(key.to_string_plain()).into());
    }
    match idx.text(key) {
        Some(text) => string_out(text, text_out, "text_out", len_out),
        None => {
            *out(text_out, "text_out")? = std::ptr::null_mut();
            if !len_out.is_null() {
                *out(len_out, "len_out")? = 0;
            }
            Ok(())
        }
    }
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

/// Writes the text of the record with u64 key `key`, as it was given to
/// `omendb_index_add_records` or `omendb_index_upsert_records` (the document that
/// `omendb_index_text_search` searches), to `*text_out`: a new NUL-terminated UTF-8 string
/// that the caller owns and frees with `omendb_string_free`; its length in bytes (without the
/// NUL) goes to `*len_out` (`len_out` may be NULL). A text given with its length may hold NUL
/// bytes: then only `*len_out` tells where it ends. A record with no text gets NULL in
/// `*text_out` and 0 in `*len_out`, with OMENDB_STATUS_OK; so does a record whose text was
/// read from a file saved before texts were kept (format version 6 or older), which
/// `omendb_index_text_search` still finds. On failure nothing is written.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER, OMENDB_STATUS_KEY_NOT_FOUND.
///
/// Thread safety: as `omendb_index_contains`.
#[no_mangle]
pub extern "C" fn omendb_index_get_text(index: *const omendb_index, key: u64, text_out: *mut *mut c_char, len_out: *mut usize, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || write_text(&handle(index, "index")?.inner, KeyRef::U64(key), text_out, len_out))
}

/// As `omendb_index_get_text`, for the string key `key` (`len` bytes of UTF-8).
///
/// Returns the statuses of `omendb_index_get_text`, plus OMENDB_STATUS_INVALID_UTF8.
///
/// Thread safety: as `omendb_index_contains`.
#[no_mangle]
pub extern "C" fn omendb_index_get_text_str(index: *const omendb_index, key: *const c_char, len: usize, text_out: *mut *mut c_char, len_out: *mut usize, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        let key = utf8(key, len, "key")?;
        write_text(idx, KeyRef::Str(key), text_out, len_out)
    })
}

/// Frees a string returned by this library (`omendb_index_metadata`, `omendb_index_get_text`,
/// `omendb_index_stats`). NULL is a no-op.
///
/// Thread safety: the string must not be in use by another thread.
#[no_mangle]
pub extern "C" fn omendb_string_free(s: *mut c_char) {
    free_string(s)
}
