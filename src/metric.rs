//! Metrics and how each maps onto the two distance primitives.
//!
//! All metrics are "smaller is closer":
//! - `L2`: squared Euclidean distance;
//! - `InnerProduct`: 1 - a.b;
//! - `Cosine`: 1 - cos(a, b), computed as 1 - a.b on vectors normalised once at insert
//!   (the index keeps the normalised vector) and queries normalised once per search.

use std::sync::Arc;

use crate::distance::{self, Kernels};
use crate::quant::Codec;
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

/// A metric bound to the kernels picked for this CPU, and for a quantized index the codec
/// whose codes the graph stores in place of vectors.
#[derive(Clone)]
pub struct Space {
    /// What `distance` computes, decided once: the f32 paths test one byte, as before codecs.
    op: Op,
    metric: Metric,
    kernels: Kernels,
    codec: Option<Arc<Codec>>,
}

#[derive(Clone, Copy)]
enum Op {
    L2,
    OneMinusDot,
    Codec,
}

fn f32_op(metric: Metric) -> Op {
    match metric {
        Metric::L2 => Op::L2,
        Metric::InnerProduct | Metric::Cosine => Op::OneMinusDot,
    }
}

impl Space {
    /// The metric with the fastest kernels this CPU runs.
    pub fn new(metric: Metric) -> Space {
        Space { op: f32_op(metric), metric, kernels: distance::detect(), codec: None }
    }

    /// A space over codes of `codec` (see `quant`): `distance` compares codes, or a prepared
    /// query (`Codec::prepare_query`) with a code.
    pub fn quantized(metric: Metric, codec: Arc<Codec>) -> Space {
        Space { op: Op::Codec, metric, kernels: distance::detect(), codec: Some(codec) }
    }

    /// The codec of a quantized space.
    pub fn codec(&self) -> Option<&Arc<Codec>> {
        self.codec.as_ref()
    }

    /// 32-bit words per stored vector of `dim` dimensions: `dim`, or the code's size.
    pub fn stored_words(&self, dim: usize) -> usize {
        self.codec.as_ref().map_or(dim, |c| c.words())
    }

    /// The metric.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// Distance between two vectors as stored (normalised already under cosine).
    #[inline]
    pub fn distance(&self, a: &[f32], b: &[f32]) -> f32 {
        match self.op {
            Op::L2 => (self.kernels.l2sq)(a, b),
            Op::OneMinusDot => 1.0 - (self.kernels.dot)(a, b),
            Op::Codec => self.codec_distance(a, b),
        }
    }

    /// Out of line, so the codecs' code does not grow the f32 search loops.
    #[inline(never)]
    fn codec_distance(&self, a: &[f32], b: &[f32]) -> f32 {
        self.codec.as_ref().map_or(f32::NAN, |c| c.distance(a, b))
    }
}
