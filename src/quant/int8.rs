//! int8: 8-bit scalar quantization with ranges learned per dimension.
//!
//! Training (on the first batch added) learns each dimension's minimum `lo[i]` and maximum.
//! A component is stored as the byte `c = round((x - lo[i]) / step)`, clamped to 0..=127
//! (values outside the learned range saturate). Codes use 7 bits so that |c - d| and c, d
//! are valid operands of the u8 x i8 multiply-add instructions (`vpdpbusd` with AVX-512 VNNI,
//! `pmaddubsw` with AVX2), which square and sum 64 bytes in two instructions. One `step`
//! serves every dimension: the widest learned range / 127. With a per-dimension offset and a
//! shared step the distance between two codes is an exact integer sum scaled once:
//! - L2: |x - y|^2 = step^2 * sum (c_i - d_i)^2;
//! - dot: x.y = t(c) + t(d) + step^2 * sum c_i d_i, where `t(c) = step * sum lo_i c_i +
//!   sum lo_i^2 / 2` is stored with each code (one f32 after the bytes).
//!
//! The price of the shared step is resolution on dimensions much narrower than the widest.

use super::f16::KernelsDebug;
use super::kernels::CodeKernels;
use crate::metric::Metric;

/// Highest code: 7 bits (see the module doc).
const LEVELS: f32 = 127.0;

/// Fewest vectors the first batch must hold to learn the ranges.
pub const MIN_TRAIN: usize = 256;

/// Trained 8-bit codec.
#[derive(Debug)]
pub struct Int8Codec {
    dim: usize,
    l2: bool,
    /// Per-dimension minimum (the offset of code 0).
    lo: Vec<f32>,
    /// Per-dimension maximum seen in training.
    hi: Vec<f32>,
    step: f32,
    /// sum lo_i^2 / 2.
    half_lo_sq: f32,
    kernels: KernelsDebug,
}

impl Int8Codec {
    /// Learns the ranges of `sample` (row-major, `dim` wide, at least one row).
    pub fn train(dim: usize, metric: Metric, sample: &[f32]) -> Int8Codec {
        let mut lo = vec![f32::INFINITY; dim];
        let mut hi = vec![f32::NEG_INFINITY; dim];
        for row in sample.chunks_exact(dim) {
            for ((l, h), &x) in lo.iter_mut().zip(hi.iter_mut()).zip(row) {
                *l = l.min(x);
                *h = h.max(x);
            }
        }
        Self::from_ranges(dim, metric, lo, hi)
    }

    /// The codec with these per-dimension ranges (as [`Int8Codec::ranges`] gives them): equals
    /// the codec they came from, since everything else derives from them.
    pub fn from_ranges(dim: usize, metric: Metric, lo: Vec<f32>, hi: Vec<f32>) -> Int8Codec {
        let widest = lo.iter().zip(&hi).map(|(l, h)| h - l).fold(0f32, f32::max);
        let step = if widest > 0.0 && widest.is_finite() { widest / LEVELS } else { 1.0 };
        let half_lo_sq = lo.iter().map(|&l| l as f64 * l as f64).sum::<f64>() as f32 / 2.0;
        Int8Codec { dim, l2: metric == Metric::L2, lo, hi, step, half_lo_sq, kernels: KernelsDebug(CodeKernels::detect()) }
    }

    /// Words per code: the bytes rounded up to a word, then the f32 `t`.
    pub fn words(&self) -> usize {
        self.dim.div_ceil(4) + 1
    }

    /// Bytes held: the two range arrays.
    pub fn memory_bytes(&self) -> usize {
        (self.lo.len() + self.hi.len()) * 4
    }

    /// The learned minima and maxima, dim each (what a saved index keeps).
    pub fn ranges(&self) -> (&[f32], &[f32]) {
        (&self.lo, &self.hi)
    }

    /// The learned range of dimension `i`.
    pub fn range(&self, i: usize) -> (f32, f32) {
        (self.lo[i], self.hi[i])
    }

    /// Writes the code of `v` into `out`.
    pub fn encode(&self, v: &[f32], out: &mut [f32]) {
        let t_at = self.dim.div_ceil(4);
        let (codes, t) = out.split_at_mut(t_at);
        let bytes = super::bytes_mut(codes);
        bytes.fill(0);
        let mut lo_c = 0f64;
        for (i, &x) in v.iter().enumerate() {
            let c = ((x - self.lo[i]) / self.step).round().clamp(0.0, LEVELS) as u8;
            bytes[i] = c;
            lo_c += self.lo[i] as f64 * c as f64;
        }
        t[0] = (self.step as f64 * lo_c) as f32 + self.half_lo_sq;
    }

    /// The vector a code stands for.
    pub fn decode(&self, code: &[f32], out: &mut [f32]) {
        let bytes = super::bytes(code);
        for (i, o) in out.iter_mut().enumerate().take(self.dim) {
            *o = self.lo[i] + self.step * bytes[i] as f32;
        }
    }

    /// Squared L2, or 1 - dot under inner product and cosine, between the decoded vectors.
    #[inline]
    pub fn distance(&self, a: &[f32], b: &[f32]) -> f32 {
        let t_at = self.dim.div_ceil(4);
        let ca = &super::bytes(a)[..self.dim];
        let cb = &super::bytes(b)[..self.dim];
        let s2 = self.step * self.step;
        if self.l2 {
            s2 * (self.kernels.0.l2_u8)(ca, cb) as f32
        } else {
            1.0 - (a[t_at] + b[t_at] + s2 * (self.kernels.0.dot_u8)(ca, cb) as f32)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize, dim: usize) -> Vec<f32> {
        (0..n * dim).map(|i| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) * (1.0 + (i % dim) as f32 / dim as f32)).collect()
    }

    #[test]
    fn code_distances_match_the_decoded_vectors() {
        let dim = 37;
        let data = sample(300, dim);
        for metric in [Metric::L2, Metric::InnerProduct] {
            let c = Int8Codec::train(dim, metric, &data);
            let rows: Vec<&[f32]> = data.chunks_exact(dim).take(20).collect();
            for a in &rows {
                for b in &rows {
                    let (mut ca, mut cb) = (vec![0f32; c.words()], vec![0f32; c.words()]);
                    c.encode(a, &mut ca);
                    c.encode(b, &mut cb);
                    let (mut da, mut db) = (vec![0f32; dim], vec![0f32; dim]);
                    c.decode(&ca, &mut da);
                    c.decode(&cb, &mut db);
                    let want = match metric {
                        Metric::L2 => crate::distance::scalar::l2sq(&da, &db),
                        _ => 1.0 - crate::distance::scalar::dot(&da, &db),
                    };
                    let got = c.distance(&ca, &cb);
                    assert!((got - want).abs() <= 1e-3 * (1.0 + want.abs()), "{metric:?}: {got} vs {want}");
                    // And the decoded vectors are within half a step of the originals.
                    for (x, y) in a.iter().zip(&da) {
                        assert!((x - y).abs() <= c.step / 2.0 + 1e-6);
                    }
                }
            }
        }
    }
}
