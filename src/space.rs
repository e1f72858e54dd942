//! [`Space`]: a metric bound to the distance kernels picked for this CPU and, for a quantized
//! index, the codec whose codes the graph stores in place of vectors. The graph measures every
//! distance through it.

use std::sync::Arc;

use crate::distance::{self, Kernels};
use crate::metric::Metric;
use crate::quant::Codec;

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
