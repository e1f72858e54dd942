//! Quantization: the storage type of an index's vectors (its `dtype`).
//!
//! A quantized index keeps a compact code per record in the node arena (where the f32 vector
//! would be) and builds and searches the graph on those codes; the full-precision vectors sit
//! in a separate [`crate::quant::raw::RawStore`] read only to re-score the best `rerank * k` candidates of
//! each search ("adaptive precision"). Codes are stored as whole 32-bit words so the arena and
//! the search loop handle them as they handle f32 vectors; each codec reads its bytes back out.
//!
//! | dtype    | code per vector                      | training                           |
//! |----------|--------------------------------------|------------------------------------|
//! | `f32`    | the vector                           | none                               |
//! | `f16`    | dim half floats                      | none                               |
//! | `int8`   | dim bytes + one f32                  | per-dimension ranges, first batch  |
//! | `binary` | dim bits (centred sign), padded to 64 | per-dimension means, first batch   |
//! | `pq`     | m bytes (one centroid per sub-space) | k-means per sub-space, first batch |
//!
//! Distances between codes use SIMD kernels picked at run time (`kernels`), each tested
//! against its scalar version.

pub mod binary;
pub mod f16;
pub mod int8;
/// The code kernels (`crate::distance::codes`), under the name the codecs use.
pub use crate::distance::codes as kernels;
pub mod pq;
pub mod raw;

use crate::error::{Error, Result};
use crate::metric::Metric;

/// The storage type of an index's vectors. The numbers are the C API's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Dtype {
    /// Full-precision f32 vectors (no re-ranking needed).
    #[default]
    F32 = 0,
    /// IEEE half floats.
    F16 = 1,
    /// 8-bit scalar quantization with ranges learned per dimension.
    Int8 = 2,
    /// One bit per dimension (its sign); Hamming distance.
    Binary = 3,
    /// Product quantization: m sub-spaces x 256 centroids.
    Pq = 4,
}

impl Dtype {
    /// The dtype for a C enum value.
    pub fn from_u32(v: u32) -> Result<Dtype> {
        match v {
            0 => Ok(Dtype::F32),
            1 => Ok(Dtype::F16),
            2 => Ok(Dtype::Int8),
            3 => Ok(Dtype::Binary),
            4 => Ok(Dtype::Pq),
            _ => Err(Error::InvalidArgument(format!(
                "dtype {v} is not one of 0 (f32), 1 (f16), 2 (int8), 3 (binary), 4 (pq)"
            ))),
        }
    }

    /// Short name: "f32", "f16", "int8", "binary" or "pq".
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "f32",
            Dtype::F16 => "f16",
            Dtype::Int8 => "int8",
            Dtype::Binary => "binary",
            Dtype::Pq => "pq",
        }
    }

    /// The dtype named `s` (the names of [`Dtype::name`], a few aliases).
    pub fn from_name(s: &str) -> Result<Dtype> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "float32" => Ok(Dtype::F32),
            "f16" | "float16" | "half" => Ok(Dtype::F16),
            "int8" | "i8" | "u8" | "sq8" => Ok(Dtype::Int8),
            "binary" | "b1" | "bit" => Ok(Dtype::Binary),
            "pq" => Ok(Dtype::Pq),
            _ => Err(Error::InvalidArgument(format!(
                "unknown dtype {s:?}: expected f32 (float32), f16 (float16, half), int8 (i8, u8, sq8), binary (bit, b1) or pq"
            ))),
        }
    }

    /// Fewest vectors the first batch must hold to train this dtype's codec (0: no training).
    pub fn min_training_vectors(self) -> usize {
        match self {
            Dtype::F32 | Dtype::F16 => 0,
            // Any first batch: its means become the bit thresholds.
            Dtype::Binary => 1,
            Dtype::Int8 => int8::MIN_TRAIN,
            Dtype::Pq => pq::MIN_TRAIN,
        }
    }
}

/// A trained encoder and distance for one dtype other than f32.
#[derive(Debug)]
pub enum Codec {
    /// Half floats.
    F16(f16::F16Codec),
    /// 8-bit scalar codes.
    Int8(int8::Int8Codec),
    /// Sign bits.
    Binary(binary::BinaryCodec),
    /// Product-quantization codes.
    Pq(pq::PqCodec),
}

impl Codec {
    /// Builds the codec of `dtype` for `dim`-dimensional vectors under `metric`, training it
    /// on `sample` (row-major, already normalised under cosine) when the dtype learns from
    /// data. `pq_m` is the number of PQ sub-spaces (0 = dim / 8... see [`pq::default_m`]).
    pub fn train(dtype: Dtype, metric: Metric, dim: usize, sample: &[f32], pq_m: usize) -> Result<Codec> {
        let n = sample.len() / dim.max(1);
        let need = dtype.min_training_vectors();
        if n < need {
            return Err(Error::InvalidArgument(format!(
                "a {} index learns its codes from the first batch added, which must hold at least {need} vectors; got {n}",
                dtype.name()
            )));
        }
        Ok(match dtype {
            Dtype::F32 => return Err(Error::Internal("f32 has no codec".into())),
            Dtype::F16 => Codec::F16(f16::F16Codec::new(dim, metric)),
            Dtype::Int8 => Codec::Int8(int8::Int8Codec::train(dim, metric, sample)),
            Dtype::Binary => Codec::Binary(binary::BinaryCodec::train(dim, metric, sample)),
            Dtype::Pq => Codec::Pq(pq::PqCodec::train(dim, metric, sample, pq_m)?),
        })
    }

    /// The dtype.
    pub fn dtype(&self) -> Dtype {
        match self {
            Codec::F16(_) => Dtype::F16,
            Codec::Int8(_) => Dtype::Int8,
            Codec::Binary(_) => Dtype::Binary,
            Codec::Pq(_) => Dtype::Pq,
        }
    }

    /// 32-bit words per code.
    pub fn words(&self) -> usize {
        match self {
            Codec::F16(c) => c.words(),
            Codec::Int8(c) => c.words(),
            Codec::Binary(c) => c.words(),
            Codec::Pq(c) => c.words(),
        }
    }

    /// Bytes the trained codec holds (ranges, centroids, tables).
    pub fn memory_bytes(&self) -> usize {
        match self {
            Codec::F16(_) => 0,
            Codec::Binary(c) => c.memory_bytes(),
            Codec::Int8(c) => c.memory_bytes(),
            Codec::Pq(c) => c.memory_bytes(),
        }
    }

    /// Writes the code of `v` (dim floats) into `out` (`words()` words).
    pub fn encode(&self, v: &[f32], out: &mut [f32]) {
        match self {
            Codec::F16(c) => c.encode(v, out),
            Codec::Int8(c) => c.encode(v, out),
            Codec::Binary(c) => c.encode(v, out),
            Codec::Pq(c) => c.encode(v, out),
        }
    }

    /// The form of query `q` that [`Codec::distance`] takes as its first argument: its code,
    /// for PQ its per-query table of distances to every centroid, for binary codes the
    /// centred query itself (compared with codes asymmetrically).
    pub fn prepare_query(&self, q: &[f32], out: &mut Vec<f32>) {
        match self {
            Codec::Pq(c) => return c.lookup_table(q, out),
            Codec::Binary(c) => return c.prepare_query(q, out),
            _ => {}
        }
        out.clear();
        out.resize(self.words(), 0.0);
        self.encode(q, out);
    }

    /// Distance between a prepared query (or a code) `a` and a code `b`, in the metric's
    /// units (approximately: the distance between the decoded vectors); for binary codes,
    /// whatever the metric, the Hamming distance between codes and a signed dot product from
    /// a prepared query (see `binary`).
    #[inline]
    pub fn distance(&self, a: &[f32], b: &[f32]) -> f32 {
        match self {
            Codec::F16(c) => c.distance(a, b),
            Codec::Int8(c) => c.distance(a, b),
            Codec::Binary(c) => c.distance(a, b),
            Codec::Pq(c) => c.distance(a, b),
        }
    }
}

// ---- persistence (the QCOD section of docs/format.md) ----
impl Dtype {
    /// 32-bit words per code of a `dim`-dimensional vector; `pq_m` is the PQ codec's m.
    pub fn code_words(self, dim: usize, pq_m: usize) -> usize {
        match self {
            Dtype::F32 => dim,
            Dtype::F16 => dim.div_ceil(2),
            Dtype::Int8 => dim.div_ceil(4) + 1,
            Dtype::Binary => dim.div_ceil(64) * 2,
            Dtype::Pq => pq_m.div_ceil(4),
        }
    }

    /// Floats of trained state a codec of this dtype keeps (see [`Codec::state`]).
    pub fn state_len(self, dim: usize, pq_m: usize) -> usize {
        match self {
            Dtype::F32 | Dtype::F16 => 0,
            Dtype::Int8 => 2 * dim,
            Dtype::Binary => 3 * dim,
            Dtype::Pq => pq::CENTROIDS * dim / pq_m.max(1) * pq_m,
        }
    }
}

impl Codec {
    /// The PQ codec's number of sub-spaces; 0 for other dtypes.
    pub fn pq_m(&self) -> usize {
        match self {
            Codec::Pq(c) => c.m(),
            _ => 0,
        }
    }

    /// The trained state, as floats: nothing (f16), the minima then the maxima (int8), the
    /// thresholds, then the levels of clear and of set bits (binary), the centroids `m x 256 x dim / m` (pq). [`Codec::from_state`]
    /// rebuilds an equal codec from it.
    pub fn state(&self) -> Vec<f32> {
        match self {
            Codec::F16(_) => Vec::new(),
            Codec::Int8(c) => {
                let (lo, hi) = c.ranges();
                lo.iter().chain(hi).copied().collect()
            }
            Codec::Binary(c) => c.state(),
            Codec::Pq(c) => c.centroids().to_vec(),
        }
    }

    /// The codec whose [`Codec::state`] is `state` (read from a file: every value is checked;
    /// a bad one is an `InvalidArgument` error naming it).
    pub fn from_state(dtype: Dtype, metric: Metric, dim: usize, pq_m: usize, state: Vec<f32>) -> Result<Codec> {
        let bad = |what: String| Err(Error::InvalidArgument(what));
        // A binary codec of a format 3 file holds its thresholds only.
        let legacy = dtype == Dtype::Binary && state.len() == dim;
        if state.len() != dtype.state_len(dim, pq_m) && !legacy {
            return bad(format!("{} codec state of {} floats, expected {}", dtype.name(), state.len(), dtype.state_len(dim, pq_m)));
        }
        if let Some(i) = state.iter().position(|x| !x.is_finite()) {
            return bad(format!("{} codec state has a non-finite value at {i}", dtype.name()));
        }
        Ok(match dtype {
            Dtype::F32 => return bad("f32 has no codec".into()),
            Dtype::F16 => Codec::F16(f16::F16Codec::new(dim, metric)),
            Dtype::Int8 => {
                let hi = state[dim..].to_vec();
                let mut lo = state;
                lo.truncate(dim);
                if let Some(i) = lo.iter().zip(&hi).position(|(l, h)| l > h) {
                    return bad(format!("int8 codec range {i} is empty"));
                }
                Codec::Int8(int8::Int8Codec::from_ranges(dim, metric, lo, hi))
            }
            Dtype::Binary => {
                let c = binary::BinaryCodec::from_state(dim, metric, &state);
                if let Some(i) = c.levels_out_of_order() {
                    return bad(format!("binary codec levels of dimension {i} do not straddle its threshold"));
                }
                Codec::Binary(c)
            }
            Dtype::Pq => {
                if pq::check_shape(dim, pq_m)? != pq_m {
                    return bad(format!("pq with {pq_m} sub-spaces"));
                }
                Codec::Pq(pq::PqCodec::from_centroids(dim, metric, pq_m, state))
            }
        })
    }
}

/// The bytes of a slice of code words.
#[inline]
pub(crate) fn bytes(words: &[f32]) -> &[u8] {
    bytemuck::cast_slice(words)
}

/// The bytes of a mutable slice of code words.
#[inline]
pub(crate) fn bytes_mut(words: &mut [f32]) -> &mut [u8] {
    bytemuck::cast_slice_mut(words)
}
