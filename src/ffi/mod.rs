//! The C ABI: the only `extern "C"` code of the crate. Its doc comments become
//! `include/omendb.h` (cbindgen), so every item here is documented for C users.
//!
//! Conventions (see README.md): every fallible function returns `omendb_status` and takes an
//! optional `omendb_error **err_out` last; outputs are written only on success; handles are
//! opaque and freed by their `_free` function, which accepts NULL; every export runs inside
//! `boundary::guard`, so no panic crosses into C.
#![allow(non_camel_case_types)]
#![deny(missing_docs)]
// Exports take raw pointers from C and check them in `boundary` before any use; they stay
// safe `extern "C"` functions (as in rustls-ffi) so C sees one calling convention.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

// One file per C object (rustls-ffi's layout). cbindgen writes the header's declarations
// module by module in this order, so it is the order of include/omendb.h.
pub(crate) mod boundary;
pub mod index;
pub mod access;
pub mod cursor;
pub mod search;
pub mod shards;
pub mod filter;
pub mod records;
pub mod metadata;
pub mod options;
pub mod names;
pub mod persist;
pub mod results;
pub mod status;

use std::ffi::c_char;

/// The library version, "MAJOR.MINOR.PATCH", as a static NUL-terminated string (the same as
/// the OMENDB_VERSION macro of the header the caller compiled against, if the library is the
/// matching build). Do not free it.
///
/// Thread safety: safe to call from any thread.
#[no_mangle]
pub extern "C" fn omendb_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char
}
