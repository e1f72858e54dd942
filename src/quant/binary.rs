//! Binary codes: one bit per dimension, set when the component is above that dimension's
//! mean over the first batch added (the sign of the centred component; a single-vector first
//! batch gives thresholds equal to it); the distance is the Hamming distance (a popcount of the
//! XOR), whatever the metric. Centring matters for embeddings whose dimensions have non-zero
//! means: uncentred signs would agree on those dimensions for almost every pair. Codes are
//! padded with zero bits to a multiple of 64 so the kernels read whole 64-bit words.

use super::f16::KernelsDebug;
use super::kernels::CodeKernels;

/// Sign-bit codes of `dim` components.
#[derive(Debug)]
pub struct BinaryCodec {
    dim: usize,
    /// Per-dimension threshold: the mean of the training sample.
    threshold: Vec<f32>,
    kernels: KernelsDebug,
}

impl BinaryCodec {
    /// The codec for `dim` dimensions with thresholds at 0 (plain signs).
    pub fn new(dim: usize) -> BinaryCodec {
        BinaryCodec { dim, threshold: vec![0.0; dim], kernels: KernelsDebug(CodeKernels::detect()) }
    }

    /// The codec with thresholds at the per-dimension means of `sample` (row-major; plain
    /// signs when it is empty).
    pub fn train(dim: usize, sample: &[f32]) -> BinaryCodec {
        let mut c = Self::new(dim);
        let n = sample.len() / dim.max(1);
        if n > 0 {
            let mut sum = vec![0f64; dim];
            for row in sample.chunks_exact(dim) {
                for (s, &x) in sum.iter_mut().zip(row) {
                    *s += x as f64;
                }
            }
            c.threshold = sum.iter().map(|s| (s / n as f64) as f32).collect();
        }
        c
    }

    /// The codec with these per-dimension thresholds (as [`BinaryCodec::thresholds`] gives them).
    pub fn from_thresholds(threshold: Vec<f32>) -> BinaryCodec {
        BinaryCodec { dim: threshold.len(), threshold, kernels: KernelsDebug(CodeKernels::detect()) }
    }

    /// The per-dimension thresholds (what a saved index keeps).
    pub fn thresholds(&self) -> &[f32] {
        &self.threshold
    }

    /// Bytes held: the thresholds.
    pub fn memory_bytes(&self) -> usize {
        self.threshold.len() * 4
    }

    /// Words per code: 2 per 64 dimensions.
    pub fn words(&self) -> usize {
        self.dim.div_ceil(64) * 2
    }

    /// Sets bit i (little-endian within each byte) when `v[i]` is above threshold i.
    pub fn encode(&self, v: &[f32], out: &mut [f32]) {
        let bytes = super::bytes_mut(out);
        bytes.fill(0);
        for (i, (&x, &t)) in v.iter().zip(&self.threshold).enumerate() {
            if x > t {
                bytes[i / 8] |= 1 << (i % 8);
            }
        }
    }

    /// The number of dimensions whose signs differ.
    #[inline]
    pub fn distance(&self, a: &[f32], b: &[f32]) -> f32 {
        (self.kernels.0.hamming)(super::bytes(a), super::bytes(b)) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hamming_counts_sign_differences() {
        let c = BinaryCodec::new(70);
        let a: Vec<f32> = (0..70).map(|i| if i % 3 == 0 { 1.0 } else { -1.0 }).collect();
        let mut b = a.clone();
        for i in [0, 5, 64, 69] {
            b[i] = -b[i];
        }
        let (mut ca, mut cb) = (vec![0f32; c.words()], vec![0f32; c.words()]);
        c.encode(&a, &mut ca);
        c.encode(&b, &mut cb);
        assert_eq!(c.distance(&ca, &cb), 4.0);
        assert_eq!(c.distance(&ca, &ca), 0.0);
    }
}
