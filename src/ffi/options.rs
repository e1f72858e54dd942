//! `omendb_options`: a builder for the settings fixed at index creation.

use super::boundary::{free_handle, guard, handle_mut, invalid, out};
use super::status::{omendb_error, omendb_status};
use crate::index::IndexOptions;
use crate::metric::Metric;

/// Settings for `omendb_index_create`. Made by `omendb_options_create`, changed by the
/// `omendb_options_set_*` functions, freed by `omendb_options_free`.
pub struct omendb_options {
    pub(crate) inner: IndexOptions,
}

/// Squared Euclidean distance (`omendb_options_set_metric`).
pub const OMENDB_METRIC_L2: u32 = 0;
/// Inner product; distance = 1 - a.b.
pub const OMENDB_METRIC_IP: u32 = 1;
/// Cosine; distance = 1 - cos(a, b). Vectors are normalised once, at insert.
pub const OMENDB_METRIC_COSINE: u32 = 2;

/// Creates options with the defaults: dimensions 0 (taken from the first batch added),
/// metric OMENDB_METRIC_L2, m 16, ef_construction 200, ef_search 64, a fixed seed.
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
        *slot = Box::into_raw(Box::new(omendb_options { inner: IndexOptions::default() }));
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

fn set(options: *mut omendb_options, err_out: *mut *mut omendb_error, f: impl FnOnce(&mut IndexOptions) -> Result<(), omendb_error>) -> omendb_status {
    guard(err_out, || f(&mut handle_mut(options, "options")?.inner))
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
    set(options, err_out, |o| {
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
    set(options, err_out, |o| {
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
    set(options, err_out, |o| {
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
    set(options, err_out, |o| {
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
    set(options, err_out, |o| {
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
    set(options, err_out, |o| {
        o.seed = seed;
        Ok(())
    })
}
