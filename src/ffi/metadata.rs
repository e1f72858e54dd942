//! Reading a record's metadata back as JSON: `omendb_index_metadata`, `_metadata_str`, and
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
    string_out(idx.metadata(key).unwrap_or_else(|| "{}".to_string()), json_out, len_out, "metadata JSON")
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
    free_string(s)
}
