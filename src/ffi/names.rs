//! The vocabulary: the names of metrics, dtypes, fusions and sync modes, and their
//! OMENDB_* values. The names are parsed where their enum lives (`Metric::from_name`,
//! `Dtype::from_name`, `Fusion::from_name`; sync modes here) and these functions give them to
//! C, Python and Go, so every entry point (the CLI and the server too) accepts the same names
//! and aliases and refuses others with the same message, which lists the accepted ones.

use std::ffi::{c_char, CStr};

use super::boundary::{guard, out, utf8};
use super::options::{OMENDB_SYNC_ALWAYS, OMENDB_SYNC_BATCH, OMENDB_SYNC_OFF};
use super::search::{OMENDB_FUSION_RRF, OMENDB_FUSION_WEIGHTED};
use super::status::{omendb_error, omendb_status};
use crate::error::Error;
use crate::hybrid::Fusion;
use crate::metric::Metric;
use crate::quant::Dtype;

/// Fusion names (parsed by `Fusion::from_name`, which holds the aliases).
const FUSIONS: [(u32, &CStr); 2] = [(OMENDB_FUSION_RRF, c"rrf"), (OMENDB_FUSION_WEIGHTED, c"weighted")];
/// Sync mode names.
const SYNC_MODES: [(u32, &CStr, &[&str]); 3] = [
    (OMENDB_SYNC_ALWAYS, c"always", &["full"]),
    (OMENDB_SYNC_BATCH, c"batch", &["normal"]),
    (OMENDB_SYNC_OFF, c"off", &["none"]),
];

fn from_table(table: &[(u32, &CStr, &[&str])], what: &str, name: &str) -> Result<u32, Error> {
    let lower = name.to_ascii_lowercase();
    for (value, canonical, aliases) in table {
        if canonical.to_str() == Ok(lower.as_str()) || aliases.contains(&lower.as_str()) {
            return Ok(*value);
        }
    }
    let accepted: Vec<String> = table
        .iter()
        .map(|(_, c, a)| {
            let c = c.to_str().unwrap_or_default();
            if a.is_empty() { c.to_string() } else { format!("{c} ({})", a.join(", ")) }
        })
        .collect();
    Err(Error::InvalidArgument(format!("unknown {what} {name:?}: expected {}", accepted.join(" or "))))
}

fn name_in(table: &[(u32, &CStr, &[&str])], value: u32) -> *const c_char {
    table.iter().find(|(v, ..)| *v == value).map_or(std::ptr::null(), |(_, c, _)| c.as_ptr())
}

/// Parses a metric name into its OMENDB_METRIC_* value. Names are case-insensitive:
/// "l2" (also "euclidean", "l2sq"), "ip" (also "dot", "inner_product") and "cosine" (also
/// "cos", "angular"). `name` is `name_len` bytes of UTF-8, not NUL-terminated.
///
/// On success writes the value to `*metric_out`; otherwise it is unchanged.
///
/// Returns OMENDB_STATUS_OK, OMENDB_STATUS_INVALID_ARGUMENT (an unknown name: the message
/// lists the accepted ones), OMENDB_STATUS_INVALID_UTF8, or OMENDB_STATUS_NULL_POINTER.
///
/// Thread safety: safe to call from any thread.
#[no_mangle]
pub extern "C" fn omendb_metric_from_name(
    name: *const c_char,
    name_len: usize,
    metric_out: *mut u32,
    err_out: *mut *mut omendb_error,
) -> omendb_status {
    guard(err_out, || {
        let name = utf8(name, name_len, "name")?;
        let slot = out(metric_out, "metric_out")?;
        *slot = Metric::from_name(name)? as u32;
        Ok(())
    })
}

/// The canonical name of an OMENDB_METRIC_* value ("l2", "ip", "cosine"), a static string
/// (do not free it); NULL for a value that is not a metric.
///
/// Thread safety: safe to call from any thread.
#[no_mangle]
pub extern "C" fn omendb_metric_name(metric: u32) -> *const c_char {
    match Metric::from_u32(metric) {
        Ok(Metric::L2) => c"l2".as_ptr(),
        Ok(Metric::InnerProduct) => c"ip".as_ptr(),
        Ok(Metric::Cosine) => c"cosine".as_ptr(),
        Err(_) => std::ptr::null(),
    }
}

/// Parses a dtype name into its OMENDB_DTYPE_* value, case-insensitive: "f32" (also
/// "float32"), "f16" ("float16", "half"), "int8" ("i8", "u8", "sq8"), "binary" ("bit", "b1")
/// and "pq". Otherwise as `omendb_metric_from_name`.
///
/// Thread safety: safe to call from any thread.
#[no_mangle]
pub extern "C" fn omendb_dtype_from_name(
    name: *const c_char,
    name_len: usize,
    dtype_out: *mut u32,
    err_out: *mut *mut omendb_error,
) -> omendb_status {
    guard(err_out, || {
        let name = utf8(name, name_len, "name")?;
        let slot = out(dtype_out, "dtype_out")?;
        *slot = Dtype::from_name(name)? as u32;
        Ok(())
    })
}

/// The canonical name of an OMENDB_DTYPE_* value ("f32", "f16", "int8", "binary", "pq"), a
/// static string; NULL for a value that is not a dtype.
///
/// Thread safety: safe to call from any thread.
#[no_mangle]
pub extern "C" fn omendb_dtype_name(dtype: u32) -> *const c_char {
    match Dtype::from_u32(dtype) {
        Ok(Dtype::F32) => c"f32".as_ptr(),
        Ok(Dtype::F16) => c"f16".as_ptr(),
        Ok(Dtype::Int8) => c"int8".as_ptr(),
        Ok(Dtype::Binary) => c"binary".as_ptr(),
        Ok(Dtype::Pq) => c"pq".as_ptr(),
        Err(_) => std::ptr::null(),
    }
}

/// Parses a fusion name into its OMENDB_FUSION_* value, case-insensitive: "rrf" (also
/// "reciprocal_rank") and "weighted" ("linear"). Otherwise as `omendb_metric_from_name`.
///
/// Thread safety: safe to call from any thread.
#[no_mangle]
pub extern "C" fn omendb_fusion_from_name(
    name: *const c_char,
    name_len: usize,
    fusion_out: *mut u32,
    err_out: *mut *mut omendb_error,
) -> omendb_status {
    guard(err_out, || {
        let name = utf8(name, name_len, "name")?;
        let slot = out(fusion_out, "fusion_out")?;
        *slot = match Fusion::from_name(name, 0.0)? {
            Fusion::Rrf { .. } => OMENDB_FUSION_RRF,
            Fusion::Weighted { .. } => OMENDB_FUSION_WEIGHTED,
        };
        Ok(())
    })
}

/// The canonical name of an OMENDB_FUSION_* value ("rrf", "weighted"), a static string; NULL
/// for a value that is not a fusion.
///
/// Thread safety: safe to call from any thread.
#[no_mangle]
pub extern "C" fn omendb_fusion_name(fusion: u32) -> *const c_char {
    FUSIONS.iter().find(|(v, _)| *v == fusion).map_or(std::ptr::null(), |(_, c)| c.as_ptr())
}

/// Parses a sync mode name into its OMENDB_SYNC_* value, case-insensitive: "always" (also
/// "full"), "batch" ("normal") and "off" ("none"). Otherwise as `omendb_metric_from_name`.
///
/// Thread safety: safe to call from any thread.
#[no_mangle]
pub extern "C" fn omendb_sync_from_name(
    name: *const c_char,
    name_len: usize,
    sync_out: *mut u32,
    err_out: *mut *mut omendb_error,
) -> omendb_status {
    guard(err_out, || {
        let name = utf8(name, name_len, "name")?;
        let slot = out(sync_out, "sync_out")?;
        *slot = from_table(&SYNC_MODES, "sync mode", name)?;
        Ok(())
    })
}

/// The canonical name of an OMENDB_SYNC_* value ("always", "batch", "off"), a static string;
/// NULL for a value that is not a sync mode.
///
/// Thread safety: safe to call from any thread.
#[no_mangle]
pub extern "C" fn omendb_sync_name(sync: u32) -> *const c_char {
    name_in(&SYNC_MODES, sync)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(f: extern "C" fn(*const c_char, usize, *mut u32, *mut *mut omendb_error) -> omendb_status, name: &str) -> Option<u32> {
        let mut value = u32::MAX;
        let status = f(name.as_ptr().cast(), name.len(), &mut value, std::ptr::null_mut());
        (status == omendb_status::OMENDB_STATUS_OK).then_some(value)
    }

    fn name(p: *const c_char) -> Option<String> {
        // SAFETY: the name functions return NULL or a static NUL-terminated string.
        (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string())
    }

    #[test]
    fn every_canonical_name_round_trips_and_aliases_agree() {
        for v in 0..8u32 {
            if let Some(n) = name(omendb_metric_name(v)) {
                assert_eq!(parse(omendb_metric_from_name, &n), Some(v));
            }
            if let Some(n) = name(omendb_dtype_name(v)) {
                assert_eq!(parse(omendb_dtype_from_name, &n), Some(v));
            }
            if let Some(n) = name(omendb_fusion_name(v)) {
                assert_eq!(parse(omendb_fusion_from_name, &n), Some(v));
            }
            if let Some(n) = name(omendb_sync_name(v)) {
                assert_eq!(parse(omendb_sync_from_name, &n), Some(v));
            }
        }
        assert_eq!(name(omendb_metric_name(3)), None);
        assert_eq!(parse(omendb_metric_from_name, "Angular"), Some(super::super::options::OMENDB_METRIC_COSINE));
        assert_eq!(parse(omendb_metric_from_name, "euclidean"), Some(0));
        assert_eq!(parse(omendb_metric_from_name, "dot"), Some(1));
        assert_eq!(parse(omendb_dtype_from_name, "half"), Some(1));
        assert_eq!(parse(omendb_fusion_from_name, "RRF"), Some(OMENDB_FUSION_RRF));
        assert_eq!(parse(omendb_sync_from_name, "off"), Some(OMENDB_SYNC_OFF));
        assert_eq!(parse(omendb_metric_from_name, "angularr"), None);
        assert_eq!(parse(omendb_fusion_from_name, ""), None);
    }

    #[test]
    fn unknown_names_list_the_accepted_ones() {
        let err = Fusion::from_name("max", 0.0).unwrap_err();
        assert_eq!(err.to_string(), "invalid argument: unknown fusion \"max\": expected rrf (reciprocal_rank) or weighted (linear)");
        let err = Metric::from_name("angularr").unwrap_err();
        assert_eq!(err.to_string(), "invalid argument: unknown metric \"angularr\": expected l2 (euclidean, l2sq), ip (dot, inner_product) or cosine (cos, angular)");
        let err = Dtype::from_name("float64").unwrap_err();
        assert!(err.to_string().contains("expected f32 (float32), f16 (float16, half), int8 (i8, u8, sq8), binary (bit, b1) or pq"), "{err}");
    }
}
