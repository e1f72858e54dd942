//! Metrics: what "distance" means for an index. [`crate::space::Space`] binds one to the
//! kernels (and codec) that compute it.
//!
//! All metrics are "smaller is closer":
//! - `L2`: squared Euclidean distance;
//! - `InnerProduct`: 1 - a.b;
//! - `Cosine`: 1 - cos(a, b), computed as 1 - a.b on vectors normalised once at insert
//!   (the index keeps the normalised vector) and queries normalised once per search.

use crate::error::{Error, Result};

/// How distance between two vectors is measured. The numbers are the C API's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Metric {
    /// Squared Euclidean distance.
    L2 = 0,
    /// 1 - dot product.
    InnerProduct = 1,
    /// 1 - cosine similarity.
    Cosine = 2,
}

impl Metric {
    /// The metric for a C enum value.
    pub fn from_u32(v: u32) -> Result<Metric> {
        match v {
            0 => Ok(Metric::L2),
            1 => Ok(Metric::InnerProduct),
            2 => Ok(Metric::Cosine),
            _ => Err(Error::InvalidArgument(format!(
                "metric {v} is not one of 0 (l2), 1 (inner product), 2 (cosine)"
            ))),
        }
    }

    /// Short name: "l2", "ip" or "cosine".
    pub fn name(self) -> &'static str {
        match self {
            Metric::L2 => "l2",
            Metric::InnerProduct => "ip",
            Metric::Cosine => "cosine",
        }
    }

    /// The metric named `s` ("l2", "ip", "cosine"; a few aliases), case-insensitive: the one
    /// vocabulary of the C API (`omendb_metric_from_name`), the CLI and the bindings.
    pub fn from_name(s: &str) -> Result<Metric> {
        match s.to_ascii_lowercase().as_str() {
            "l2" | "l2sq" | "euclidean" => Ok(Metric::L2),
            "ip" | "dot" | "inner_product" => Ok(Metric::InnerProduct),
            "cos" | "cosine" | "angular" => Ok(Metric::Cosine),
            _ => Err(Error::InvalidArgument(format!(
                "unknown metric {s:?}: expected l2 (euclidean, l2sq), ip (dot, inner_product) or cosine (cos, angular)"
            ))),
        }
    }
}
