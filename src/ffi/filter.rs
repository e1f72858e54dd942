//! `omendb_filter`: a metadata filter, parsed once and used by any number of searches.

use std::ffi::c_char;

use super::boundary::{free_handle, guard, new_handle, out, utf8};
use super::status::{omendb_error, omendb_status};
use crate::filter::Filter;

/// A parsed metadata filter. Made by `omendb_filter_parse`, freed by `omendb_filter_free`.
/// Immutable: any number of threads may use one filter in searches at once.
pub struct omendb_filter {
    pub(crate) inner: Filter,
}

/// Parses filter text (`len` bytes of UTF-8 at `text`; need not be NUL-terminated) into a
/// filter handle.
///
/// The grammar (keywords are case-insensitive):
/// `field = | != | < | <= | > | >= literal`, `field IN (v1, v2, ...)`,
/// `field CONTAINS "s"` (a list of strings holding s), `field CONTAINS 3` (a list of numbers
/// holding 3), `EXISTS field`, `NOT f`, `f AND f`, `f OR f`, parentheses. Literals:
/// "double-quoted strings" (with \" and \\), integers, floats, TRUE, FALSE, NULL (`field =
/// null` matches a field stored as JSON null; `EXISTS` counts it; `<` and the like refuse it). Fields are `[A-Za-z_][A-Za-z0-9_.]*` (a dot reaches into nested objects:
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
        *slot = new_handle(omendb_filter { inner });
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
