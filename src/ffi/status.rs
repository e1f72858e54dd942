//! Status codes and the owned error object.

use std::ffi::{c_char, CStr, CString};

use super::boundary::{free_handle, optional_handle};
use crate::error::Error;

/// The result of every fallible call. Numbers are stable and never reused; new codes are
/// only ever appended.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum omendb_status {
    /// Success.
    OMENDB_STATUS_OK = 0,
    /// A bug in OmenDB (a caught panic or a broken invariant); the message says where.
    OMENDB_STATUS_INTERNAL = 1,
    /// A required pointer was NULL (or NULL with a non-zero length).
    OMENDB_STATUS_NULL_POINTER = 2,
    /// An argument is out of its range (k = 0, m < 2, an unknown enum value, a misaligned buffer...).
    OMENDB_STATUS_INVALID_ARGUMENT = 3,
    /// A vector's length differs from the index's dimensions.
    OMENDB_STATUS_DIMENSION_MISMATCH = 4,
    /// A vector holds NaN or an infinity, or (under L2 and inner product) a value beyond
    /// ±1e16, whose distances would overflow to infinity.
    OMENDB_STATUS_NON_FINITE = 5,
    /// A zero vector was given to a cosine index.
    OMENDB_STATUS_ZERO_VECTOR = 6,
    /// A key is empty, longer than 65536 bytes, or of the other kind than the index's keys.
    OMENDB_STATUS_INVALID_KEY = 7,
    /// A string is not valid UTF-8.
    OMENDB_STATUS_INVALID_UTF8 = 8,
    /// The key is already stored (or repeats within one batch).
    OMENDB_STATUS_DUPLICATE_KEY = 9,
    /// The key is not stored.
    OMENDB_STATUS_KEY_NOT_FOUND = 10,
    /// An output buffer is smaller than the call needs.
    OMENDB_STATUS_BUFFER_TOO_SMALL = 11,
    /// A position is past the end (of a results object, for example).
    OMENDB_STATUS_OUT_OF_RANGE = 12,
    /// The operating system refused a file operation (open, read, write, fsync, rename); the
    /// message names the path and the OS error.
    OMENDB_STATUS_IO = 13,
    /// A file is not a valid OmenDB index: a foreign file, truncated, or damaged (a checksum
    /// or a structural check failed).
    OMENDB_STATUS_CORRUPT = 14,
    /// The file was written in a newer format version than this library reads.
    OMENDB_STATUS_UNSUPPORTED_VERSION = 15,
    /// Filter text does not parse; the message names the byte offset at fault and what was
    /// expected there.
    OMENDB_STATUS_FILTER_SYNTAX = 16,
    /// A durable index directory is open for writing elsewhere (another process, or another
    /// handle in this one); the message names the holder's pid. One writer per directory.
    OMENDB_STATUS_LOCKED = 17,
}

use omendb_status::*;

/// Every status, for `omendb_status_name` and tests.
pub const ALL_STATUSES: [omendb_status; 18] = [
    OMENDB_STATUS_OK,
    OMENDB_STATUS_INTERNAL,
    OMENDB_STATUS_NULL_POINTER,
    OMENDB_STATUS_INVALID_ARGUMENT,
    OMENDB_STATUS_DIMENSION_MISMATCH,
    OMENDB_STATUS_NON_FINITE,
    OMENDB_STATUS_ZERO_VECTOR,
    OMENDB_STATUS_INVALID_KEY,
    OMENDB_STATUS_INVALID_UTF8,
    OMENDB_STATUS_DUPLICATE_KEY,
    OMENDB_STATUS_KEY_NOT_FOUND,
    OMENDB_STATUS_BUFFER_TOO_SMALL,
    OMENDB_STATUS_OUT_OF_RANGE,
    OMENDB_STATUS_IO,
    OMENDB_STATUS_CORRUPT,
    OMENDB_STATUS_UNSUPPORTED_VERSION,
    OMENDB_STATUS_FILTER_SYNTAX,
    OMENDB_STATUS_LOCKED,
];

impl omendb_status {
    /// The constant's name as a static NUL-terminated string.
    pub fn name(self) -> &'static CStr {
        match self {
            OMENDB_STATUS_OK => c"OMENDB_STATUS_OK",
            OMENDB_STATUS_INTERNAL => c"OMENDB_STATUS_INTERNAL",
            OMENDB_STATUS_NULL_POINTER => c"OMENDB_STATUS_NULL_POINTER",
            OMENDB_STATUS_INVALID_ARGUMENT => c"OMENDB_STATUS_INVALID_ARGUMENT",
            OMENDB_STATUS_DIMENSION_MISMATCH => c"OMENDB_STATUS_DIMENSION_MISMATCH",
            OMENDB_STATUS_NON_FINITE => c"OMENDB_STATUS_NON_FINITE",
            OMENDB_STATUS_ZERO_VECTOR => c"OMENDB_STATUS_ZERO_VECTOR",
            OMENDB_STATUS_INVALID_KEY => c"OMENDB_STATUS_INVALID_KEY",
            OMENDB_STATUS_INVALID_UTF8 => c"OMENDB_STATUS_INVALID_UTF8",
            OMENDB_STATUS_DUPLICATE_KEY => c"OMENDB_STATUS_DUPLICATE_KEY",
            OMENDB_STATUS_KEY_NOT_FOUND => c"OMENDB_STATUS_KEY_NOT_FOUND",
            OMENDB_STATUS_BUFFER_TOO_SMALL => c"OMENDB_STATUS_BUFFER_TOO_SMALL",
            OMENDB_STATUS_OUT_OF_RANGE => c"OMENDB_STATUS_OUT_OF_RANGE",
            OMENDB_STATUS_IO => c"OMENDB_STATUS_IO",
            OMENDB_STATUS_CORRUPT => c"OMENDB_STATUS_CORRUPT",
            OMENDB_STATUS_UNSUPPORTED_VERSION => c"OMENDB_STATUS_UNSUPPORTED_VERSION",
            OMENDB_STATUS_FILTER_SYNTAX => c"OMENDB_STATUS_FILTER_SYNTAX",
            OMENDB_STATUS_LOCKED => c"OMENDB_STATUS_LOCKED",
        }
    }
}

/// An error: a status code and a message. Owned by the caller, who frees it with
/// `omendb_error_free`.
pub struct omendb_error {
    pub(crate) code: omendb_status,
    pub(crate) message: CString,
}

impl omendb_error {
    /// An error with `code` and `message` (interior NULs are replaced).
    pub(crate) fn new(code: omendb_status, message: impl Into<String>) -> omendb_error {
        let text = message.into().replace('\0', "\\0");
        omendb_error { code, message: CString::new(text).unwrap_or_default() }
    }
}

/// The outcome of an engine check (`index/check.rs`) that an export runs ahead of its other
/// checks, to keep the order in which the C API reports errors. The C API has always given
/// these invalid-argument messages bare, without the "invalid argument: " that `Error`'s
/// display puts first, and still does.
pub(crate) fn early_check(result: crate::Result<()>) -> Result<(), omendb_error> {
    result.map_err(|e| match e {
        Error::InvalidArgument(message) => omendb_error::new(OMENDB_STATUS_INVALID_ARGUMENT, message),
        other => other.into(),
    })
}

impl From<Error> for omendb_error {
    fn from(e: Error) -> omendb_error {
        let code = match &e {
            Error::InvalidArgument(_) => OMENDB_STATUS_INVALID_ARGUMENT,
            Error::DimensionMismatch { .. } => OMENDB_STATUS_DIMENSION_MISMATCH,
            Error::NonFiniteValue { .. } | Error::ValueTooLarge { .. } => OMENDB_STATUS_NON_FINITE,
            Error::ZeroVector { .. } => OMENDB_STATUS_ZERO_VECTOR,
            Error::InvalidKey(_) => OMENDB_STATUS_INVALID_KEY,
            Error::DuplicateKey(_) => OMENDB_STATUS_DUPLICATE_KEY,
            Error::KeyNotFound(_) => OMENDB_STATUS_KEY_NOT_FOUND,
            Error::Internal(_) => OMENDB_STATUS_INTERNAL,
            Error::Io(_) => OMENDB_STATUS_IO,
            Error::Corrupt(_) => OMENDB_STATUS_CORRUPT,
            Error::UnsupportedVersion { .. } => OMENDB_STATUS_UNSUPPORTED_VERSION,
            Error::FilterSyntax { .. } => OMENDB_STATUS_FILTER_SYNTAX,
            Error::Locked(_) => OMENDB_STATUS_LOCKED,
        };
        omendb_error::new(code, e.to_string())
    }
}

/// The name of a status code, such as "OMENDB_STATUS_NULL_POINTER", as a static NUL-terminated
/// string; "OMENDB_STATUS_UNKNOWN" for a number that is not a status.
///
/// Never fails. The string is static: do not free it.
///
/// Thread safety: safe to call from any thread.
#[no_mangle]
pub extern "C" fn omendb_status_name(status: u32) -> *const c_char {
    ALL_STATUSES
        .iter()
        .find(|s| **s as u32 == status)
        .map_or(c"OMENDB_STATUS_UNKNOWN".as_ptr(), |s| s.name().as_ptr())
}

/// The status code carried by `error`; OMENDB_STATUS_OK when `error` is NULL.
///
/// Thread safety: safe from any thread while `error` is not being freed.
#[no_mangle]
pub extern "C" fn omendb_error_code(error: *const omendb_error) -> omendb_status {
    optional_handle(error).map_or(OMENDB_STATUS_OK, |e| e.code)
}

/// The message carried by `error`, a NUL-terminated UTF-8 string owned by the error and valid
/// until `omendb_error_free(error)`; "" when `error` is NULL.
///
/// Thread safety: safe from any thread while `error` is not being freed.
#[no_mangle]
pub extern "C" fn omendb_error_message(error: *const omendb_error) -> *const c_char {
    optional_handle(error).map_or(c"".as_ptr(), |e| e.message.as_ptr())
}

/// Frees an error returned through an `err_out` parameter. NULL is a no-op.
///
/// Thread safety: the error must not be in use by another thread.
#[no_mangle]
pub extern "C" fn omendb_error_free(error: *mut omendb_error) {
    free_handle(error)
}
