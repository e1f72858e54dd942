//! Metrics and how each maps onto the two distance primitives.
//!
//! All metrics are "smaller is closer":
//! - `L2`: squared Euclidean distance;
//! - `InnerProduct`: 1 - a.b;
//! - `Cosine`: 1 - cos(a, b), computed as 1 - a.b on vectors normalised once at insert
//!   (the index keeps the normalised vector) and queries normalised once per search.

use crate::distance::{self, Kernels};
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

    /// The metric named `s` ("l2", "ip", "cosine"; a few aliases).
    pub fn from_name(s: &str) -> Result<Metric> {
        match s.to_ascii_lowercase().as_str() {
            "l2" | "l2sq" | "euclidean" => Ok(Metric::L2),
            "ip" | "dot" | "inner_product" => Ok(Metric::InnerProduct),
            "cos" | "cosine" | "angular" => Ok(Metric::Cosine),
            _ => Err(Error::InvalidArgument(format!("unknown metric {s:?}: expected l2, ip or cosine"))),
        }
    }
}

/// A metric bound to the kernels picked for this CPU.
#[derive(Clone, Copy)]
pub struct Space {
    metric: Metric,
    kernels: Kernels,
}

impl Space {
    /// The metric with the fastest kernels this CPU runs.
    pub fn new(metric: Metric) -> Space {
        Space { metric, kernels: distance::detect() }
    }

    /// The metric.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// The distance between `a` and `b` when it is at most `bound`; otherwise some value above
    /// `bound`. Under L2 the partial sums of squares only grow, so a long vector is measured in
    /// blocks and given up as soon as the sum passes the bound: a search rejects most
    /// candidates early without changing any decision. Other metrics compute in full.
    #[inline]
    pub fn distance_within(&self, a: &[f32], b: &[f32], bound: f32) -> f32 {
        const BLOCK: usize = 128;
        if self.metric != Metric::L2 || a.len() < 2 * BLOCK || bound == f32::INFINITY {
            return self.distance(a, b);
        }
        let b = &b[..a.len()];
        let mut sum = 0.0;
        for (x, y) in a.chunks(BLOCK).zip(b.chunks(BLOCK)) {
            sum += (self.kernels.l2sq)(x, y);
            if sum > bound {
                return sum;
            }
        }
        sum
    }

    /// Distance between two vectors as stored (normalised already under cosine).
    #[inline]
    pub fn distance(&self, a: &[f32], b: &[f32]) -> f32 {
        match self.metric {
            Metric::L2 => (self.kernels.l2sq)(a, b),
            Metric::InnerProduct | Metric::Cosine => 1.0 - (self.kernels.dot)(a, b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_within_is_exact_below_the_bound_and_above_it_otherwise() {
        let space = Space::new(Metric::L2);
        let mut s = 7u64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        for dim in [1usize, 100, 256, 257, 784, 1536] {
            let a: Vec<f32> = (0..dim).map(|_| next()).collect();
            let b: Vec<f32> = (0..dim).map(|_| next()).collect();
            let full = space.distance(&a, &b);
            for bound in [0.0, full * 0.25, full * 0.99, full, full * 1.01, f32::INFINITY] {
                let got = space.distance_within(&a, &b, bound);
                if full <= bound {
                    assert!((got - full).abs() <= 1e-4 * full.max(1.0), "dim {dim} bound {bound}: {got} vs {full}");
                } else {
                    assert!(got > bound, "dim {dim} bound {bound}: {got} should exceed it");
                }
            }
        }
    }
}
