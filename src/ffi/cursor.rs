//! `omendb_cursor`: pages through the keys of an index (or of the records a filter matches),
//! in key order, from a snapshot taken when the cursor is made.

use std::ffi::c_char;

use super::boundary::{free_handle, guard, handle, handle_mut, new_handle, optional_handle, out, slice_mut};
use super::filter::omendb_filter;
use super::index::omendb_index;
use super::status::{omendb_error, omendb_status};
use crate::index::KeySnapshot;

/// A cursor over the keys of an index. Made by `omendb_cursor_create`, read with
/// `omendb_cursor_next` (u64 keys) or `omendb_cursor_next_str` (string keys), freed by
/// `omendb_cursor_free`.
///
/// It holds a snapshot: the keys of the records that matched when it was made, in key order
/// (u64 ascending; strings by their UTF-8 bytes), copied. Writes to the index after that do
/// not change what it returns: a key removed since is still listed (`omendb_index_get` then
/// fails with OMENDB_STATUS_KEY_NOT_FOUND), a key added since is not. It holds no reference to
/// the index, so it stays valid (and safe) after the index is freed.
pub struct omendb_cursor {
    keys: KeySnapshot,
    next: usize,
    /// The strings handed out by the last `omendb_cursor_next_str`, kept until the next call.
    page: Vec<Vec<u8>>,
}

/// Makes a cursor over the keys of the records whose metadata matches `filter` (NULL: every
/// record), as they stand now (see `omendb_cursor`). Its memory grows with the keys.
///
/// On success writes a new handle to `*cursor_out`; the caller owns it and frees it with
/// `omendb_cursor_free`. On failure `*cursor_out` is unchanged.
///
/// Returns OMENDB_STATUS_OK or OMENDB_STATUS_NULL_POINTER.
///
/// Thread safety: as `omendb_index_contains`. A cursor itself must not be used by two threads
/// at once.
#[no_mangle]
pub extern "C" fn omendb_cursor_create(index: *const omendb_index, filter: *const omendb_filter, cursor_out: *mut *mut omendb_cursor, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let idx = &handle(index, "index")?.inner;
        let slot = out(cursor_out, "cursor_out")?;
        let keys = idx.keys_snapshot(optional_handle(filter).map(|f| &f.inner));
        *slot = new_handle(omendb_cursor { keys, next: 0, page: Vec::new() });
        Ok(())
    })
}

/// Frees a cursor. NULL is a no-op.
///
/// Thread safety: the cursor must not be in use by another thread.
#[no_mangle]
pub extern "C" fn omendb_cursor_free(cursor: *mut omendb_cursor) {
    free_handle(cursor)
}

/// Writes the number of keys the cursor holds in all (`*total_out`) and has not yet handed
/// out (`*remaining_out`); either may be NULL.
///
/// Returns OMENDB_STATUS_OK or OMENDB_STATUS_NULL_POINTER.
#[no_mangle]
pub extern "C" fn omendb_cursor_len(cursor: *const omendb_cursor, total_out: *mut usize, remaining_out: *mut usize, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let c = handle(cursor, "cursor")?;
        let total = match &c.keys {
            KeySnapshot::U64(k) => k.len(),
            KeySnapshot::Str(k) => k.len(),
        };
        if !total_out.is_null() {
            *out(total_out, "total_out")? = total;
        }
        if !remaining_out.is_null() {
            *out(remaining_out, "remaining_out")? = total - c.next;
        }
        Ok(())
    })
}

/// Writes the next keys, at most `max`, to `keys_out` (room for `max`) and their number to
/// `*n_out`: 0 once every key was handed out. For an index of u64 keys (or one with no record).
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER (cursor or n_out NULL, or keys_out
/// NULL with max > 0), or OMENDB_STATUS_INVALID_KEY (the index holds string keys: use
/// `omendb_cursor_next_str`).
///
/// Thread safety: the cursor must not be used by two threads at once.
#[no_mangle]
pub extern "C" fn omendb_cursor_next(cursor: *mut omendb_cursor, keys_out: *mut u64, max: usize, n_out: *mut usize, err_out: *mut *mut omendb_error) -> omendb_status {
    guard(err_out, || {
        let c = handle_mut(cursor, "cursor")?;
        let count = out(n_out, "n_out")?;
        let KeySnapshot::U64(keys) = &c.keys else {
            return Err(crate::Error::InvalidKey("the index holds string keys: use omendb_cursor_next_str".into()).into());
        };
        let n = max.min(keys.len() - c.next);
        let dest = slice_mut(keys_out, n, "keys_out")?;
        dest.copy_from_slice(&keys[c.next..c.next + n]);
        c.next += n;
        *count = n;
        Ok(())
    })
}

/// Writes the next string keys, at most `max`: pointers to their UTF-8 bytes to `keys_out`
/// and their lengths to `lens_out` (room for `max` each), their number to `*n_out` (0 once
/// every key was handed out). Each string is followed by a NUL (keys may hold NUL bytes: use
/// the length); the strings belong to the cursor and stay valid until its next call or
/// `omendb_cursor_free`.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_NULL_POINTER, or OMENDB_STATUS_INVALID_KEY (the
/// index holds u64 keys: use `omendb_cursor_next`).
///
/// Thread safety: the cursor must not be used by two threads at once.
#[no_mangle]
pub extern "C" fn omendb_cursor_next_str(
    cursor: *mut omendb_cursor,
    keys_out: *mut *const c_char,
    lens_out: *mut usize,
    max: usize,
    n_out: *mut usize,
    err_out: *mut *mut omendb_error,
) -> omendb_status {
    guard(err_out, || {
        let c = handle_mut(cursor, "cursor")?;
        let count = out(n_out, "n_out")?;
        let KeySnapshot::Str(keys) = &c.keys else {
            return Err(crate::Error::InvalidKey("the index holds u64 keys: use omendb_cursor_next".into()).into());
        };
        let n = max.min(keys.len() - c.next);
        let ptrs = slice_mut(keys_out, n, "keys_out")?;
        let lens = slice_mut(lens_out, n, "lens_out")?;
        c.page = keys[c.next..c.next + n]
            .iter()
            .map(|k| {
                let mut b = Vec::with_capacity(k.len() + 1);
                b.extend_from_slice(k.as_bytes());
                b.push(0);
                b
            })
            .collect();
        for (i, b) in c.page.iter().enumerate() {
            ptrs[i] = b.as_ptr() as *const c_char;
            lens[i] = b.len() - 1;
        }
        c.next += n;
        *count = n;
        Ok(())
    })
}
