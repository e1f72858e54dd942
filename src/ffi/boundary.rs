//! Everything that crosses the C boundary goes through here: the panic guard of every
//! export (`guard`, and `free_guarded` for the `_free` functions, which return nothing), and
//! every read of a raw pointer: into slices, strings and handles (each checked for NULL), and
//! back into the boxes and strings it came from. No other file of `ffi` has `unsafe`.

use std::any::Any;
use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::status::{omendb_error, omendb_status};

/// What an export body returns.
pub(crate) type FfiResult = Result<(), omendb_error>;

/// Runs `body` and turns its outcome into a status, writing an owned error to `err_out`
/// (when non-NULL) on failure and NULL on success. A panic becomes OMENDB_STATUS_INTERNAL
/// and never unwinds into the caller.
pub(crate) fn guard(err_out: *mut *mut omendb_error, body: impl FnOnce() -> FfiResult) -> omendb_status {
    let outcome = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|panic| {
        Err(omendb_error::new(omendb_status::OMENDB_STATUS_INTERNAL, format!("panic: {}", panic_message(&panic))))
    });
    let (status, error) = match outcome {
        Ok(()) => (omendb_status::OMENDB_STATUS_OK, std::ptr::null_mut()),
        Err(e) => (e.code, new_handle(e)),
    };
    if err_out.is_null() {
        free_handle(error);
    } else {
        // SAFETY: a non-NULL `err_out` points to writable storage for one pointer, per the
        // contract of every export.
        unsafe { *err_out = error };
    }
    status
}

fn panic_message(panic: &Box<dyn Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".into()
    }
}

/// An error for a NULL `name`.
pub(crate) fn null(name: &str) -> omendb_error {
    omendb_error::new(omendb_status::OMENDB_STATUS_NULL_POINTER, format!("{name} is NULL"))
}

/// An INVALID_ARGUMENT error.
pub(crate) fn invalid(message: impl Into<String>) -> omendb_error {
    omendb_error::new(omendb_status::OMENDB_STATUS_INVALID_ARGUMENT, message)
}

/// `&T` behind a handle, or NULL_POINTER.
pub(crate) fn handle<'a, T>(ptr: *const T, name: &str) -> Result<&'a T, omendb_error> {
    // SAFETY: a non-NULL handle was made by this library's `_create` and not yet freed, per
    // the caller's contract; handles are only ever shared (`&T`).
    unsafe { ptr.as_ref() }.ok_or_else(|| null(name))
}

/// A place to write one output value, or NULL_POINTER.
pub(crate) fn out<'a, T>(ptr: *mut T, name: &str) -> Result<&'a mut T, omendb_error> {
    if !ptr.is_aligned() {
        return Err(invalid(format!("{name} is not aligned for its type")));
    }
    // SAFETY: non-NULL (checked by as_mut) and aligned; the caller provides writable storage.
    unsafe { ptr.as_mut() }.ok_or_else(|| null(name))
}

/// `len` elements at `ptr` as a slice. (NULL, 0) is the empty slice; (NULL, n > 0) is an error.
pub(crate) fn slice<'a, T>(ptr: *const T, len: usize, name: &str) -> Result<&'a [T], omendb_error> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(null(name));
    }
    if !ptr.is_aligned() {
        return Err(invalid(format!("{name} is not aligned for its element type")));
    }
    if len.checked_mul(std::mem::size_of::<T>()).is_none_or(|b| b > isize::MAX as usize) {
        return Err(invalid(format!("{name}: length {len} is too large")));
    }
    // SAFETY: non-NULL, aligned, and the caller guarantees `len` readable elements that stay
    // unchanged for the duration of the call.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// As [`slice`], for an output buffer.
pub(crate) fn slice_mut<'a, T>(ptr: *mut T, len: usize, name: &str) -> Result<&'a mut [T], omendb_error> {
    if len == 0 {
        return Ok(&mut []);
    }
    if ptr.is_null() {
        return Err(null(name));
    }
    if !ptr.is_aligned() {
        return Err(invalid(format!("{name} is not aligned for its element type")));
    }
    if len.checked_mul(std::mem::size_of::<T>()).is_none_or(|b| b > isize::MAX as usize) {
        return Err(invalid(format!("{name}: length {len} is too large")));
    }
    // SAFETY: as in `slice`; the caller guarantees exclusive, writable storage.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
}

/// `rows * dim` floats, checking the product for overflow.
pub(crate) fn matrix<'a>(ptr: *const f32, rows: usize, dim: usize, name: &str) -> Result<&'a [f32], omendb_error> {
    let len = rows.checked_mul(dim).ok_or_else(|| invalid(format!("{name}: {rows} x {dim} overflows")))?;
    slice(ptr, len, name)
}

/// A UTF-8 string of `len` bytes at `ptr`.
pub(crate) fn utf8<'a>(ptr: *const c_char, len: usize, name: &str) -> Result<&'a str, omendb_error> {
    let bytes = slice(ptr as *const u8, len, name)?;
    std::str::from_utf8(bytes).map_err(|e| {
        omendb_error::new(
            omendb_status::OMENDB_STATUS_INVALID_UTF8,
            format!("{name} is not valid UTF-8 (bad byte at offset {})", e.valid_up_to()),
        )
    })
}

/// A NUL-terminated UTF-8 string at the non-NULL `ptr`.
fn nul_terminated<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, omendb_error> {
    // SAFETY: non-NULL (checked by the callers); the caller of the export guarantees a
    // NUL-terminated string that stays unchanged for the duration of the call.
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    utf8(bytes.as_ptr() as *const c_char, bytes.len(), name)
}

/// `n` strings given as pointers and byte lengths; with `lens` NULL each string is
/// NUL-terminated instead.
pub(crate) fn utf8_array<'a>(
    ptrs: *const *const c_char,
    lens: *const usize,
    n: usize,
    name: &str,
) -> Result<Vec<&'a str>, omendb_error> {
    let ptrs = slice(ptrs, n, name)?;
    let lens: Option<&[usize]> = if lens.is_null() { None } else { Some(slice(lens, n, "key_lens")?) };
    ptrs.iter()
        .enumerate()
        .map(|(i, &p)| {
            let what = format!("{name}[{i}]");
            match lens {
                Some(l) => utf8(p, l[i], &what),
                None if p.is_null() => Err(null(&what)),
                None => nul_terminated(p, &what),
            }
        })
        .collect()
}

/// `n` optional strings: NULL `ptrs` is None (none for every record); a NULL entry is None
/// for that record; with `lens` NULL each non-NULL entry is NUL-terminated. The lengths are
/// named `{name}_lens` in errors.
pub(crate) fn optional_utf8_array<'a>(
    ptrs: *const *const c_char,
    lens: *const usize,
    n: usize,
    name: &str,
) -> Result<Option<Vec<Option<&'a str>>>, omendb_error> {
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
                None => nul_terminated(p, &what).map(Some),
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// `&mut T` behind a handle that the caller uses from one thread at a time (builders).
pub(crate) fn handle_mut<'a, T>(ptr: *mut T, name: &str) -> Result<&'a mut T, omendb_error> {
    // SAFETY: a non-NULL handle was made by this library and not yet freed; the caller's
    // contract for builder handles is exclusive use during the call.
    unsafe { ptr.as_mut() }.ok_or_else(|| null(name))
}

/// `&T` behind an optional handle: None for NULL.
pub(crate) fn optional_handle<'a, T>(ptr: *const T) -> Option<&'a T> {
    // SAFETY: NULL or a handle made by this library and not yet freed, per the caller's
    // contract; handles are only ever shared (`&T`).
    unsafe { ptr.as_ref() }
}

/// A new handle owning `value`, for the caller to free with the matching `_free` function
/// (which calls [`free_handle`]).
pub(crate) fn new_handle<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Hands `text` to C as a new NUL-terminated string in `*string_out` (named `out_name` in
/// errors; freed with `omendb_string_free`) and its length in bytes, without the NUL, in
/// `*len_out` (which may be NULL). `text` may hold NUL bytes (a record's text may: texts
/// cross with their lengths); then only `*len_out` tells where it ends.
pub(crate) fn string_out(text: String, string_out: *mut *mut c_char, out_name: &str, len_out: *mut usize) -> Result<(), omendb_error> {
    let slot = out(string_out, out_name)?;
    if !len_out.is_null() {
        *out(len_out, "len_out")? = text.len();
    }
    *slot = new_string(text);
    Ok(())
}

/// Bytes before a string handed to C that hold the length of its allocation, so that
/// [`free_string`] gives back exactly what was allocated whatever NUL bytes the text holds
/// (`CString` finds its length with strlen, which stops at the first).
const STRING_HEADER: usize = std::mem::size_of::<usize>();

/// A new NUL-terminated string owning a copy of `text`, for the caller to free with
/// `omendb_string_free` (which calls [`free_string`]).
pub(crate) fn new_string(text: String) -> *mut c_char {
    let total = STRING_HEADER + text.len() + 1;
    let mut bytes = Vec::with_capacity(total);
    bytes.extend_from_slice(&total.to_le_bytes());
    bytes.extend_from_slice(text.as_bytes());
    bytes.push(0);
    let start = Box::into_raw(bytes.into_boxed_slice()).cast::<u8>();
    start.wrapping_add(STRING_HEADER).cast::<c_char>()
}

/// Hands `bytes` to C: the buffer's address in `*bytes_out` and its length in `*len_out`,
/// for the caller to free with `omendb_bytes_free(ptr, len)` (which calls [`free_bytes`]).
pub(crate) fn bytes_out(bytes: Vec<u8>, bytes_out: *mut *mut u8, len_out: *mut usize) -> Result<(), omendb_error> {
    let slot = out(bytes_out, "bytes_out")?;
    let len_slot = out(len_out, "len_out")?;
    let boxed = bytes.into_boxed_slice();
    *len_slot = boxed.len();
    *slot = Box::into_raw(boxed).cast::<u8>();
    Ok(())
}

/// Frees a buffer made by [`bytes_out`] given the length it was handed out with. NULL is a
/// no-op.
pub(crate) fn free_bytes(ptr: *mut u8, len: usize) {
    if ptr.is_null() {
        return;
    }
    free_guarded(|| {
        // SAFETY: made by `bytes_out` (Box<[u8]>::into_raw) with exactly `len` bytes, and freed
        // once, per the caller's contract.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) })
    })
}

/// The body of a `_free` function, which has no status to report a panic with: a panic while
/// freeing (a bug) is caught, and the memory it was freeing is leaked rather than unwound
/// into C.
fn free_guarded(body: impl FnOnce()) {
    let _ = catch_unwind(AssertUnwindSafe(body));
}

/// Frees a handle made by [`new_handle`]. NULL is a no-op.
pub(crate) fn free_handle<T>(ptr: *mut T) {
    if ptr.is_null() {
        return;
    }
    free_guarded(|| {
        // SAFETY: made by `new_handle` (Box::into_raw) and freed once, per the caller's
        // contract.
        drop(unsafe { Box::from_raw(ptr) })
    })
}

/// Frees a string made by [`new_string`]. NULL is a no-op.
pub(crate) fn free_string(ptr: *mut c_char) {
    if ptr.is_null() {
        return;
    }
    free_guarded(|| {
        let start = ptr.cast::<u8>().wrapping_sub(STRING_HEADER);
        // SAFETY: `ptr` was made by `new_string` and is freed once, per the caller's contract,
        // so `start` is the start of a boxed byte slice whose first STRING_HEADER bytes hold
        // its length (read unaligned: a `[u8; N]` has alignment 1).
        unsafe {
            let total = usize::from_le_bytes(start.cast::<[u8; STRING_HEADER]>().read());
            drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(start, total)));
        }
    })
}
