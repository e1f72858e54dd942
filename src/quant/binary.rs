//! Binary codes: one bit per dimension, set when the component is positive; the distance is
//! the Hamming distance (a popcount of the XOR), whatever the metric. No training. Codes are
//! padded with zero bits to a multiple of 64 so the kernels read whole 64-bit words.

use super::f16::KernelsDebug;
use super::kernels::CodeKernels;

/// Sign-bit codes of `dim` components.
#[derive(Debug)]
pub struct BinaryCodec {
    dim: usize,
    kernels: KernelsDebug,
}

impl BinaryCodec {
    /// The codec for `dim` dimensions.
    pub fn new(dim: usize) -> BinaryCodec {
        BinaryCodec { dim, kernels: KernelsDebug(CodeKernels::detect()) }
    }

    /// Words per code: 2 per 64 dimensions.
    pub fn words(&self) -> usize {
        self.dim.div_ceil(64) * 2
    }

    /// Sets bit i (little-endian within each byte) when `v[i] > 0`.
    pub fn encode(&self, v: &[f32], out: &mut [f32]) {
        let bytes = super::bytes_mut(out);
        bytes.fill(0);
        for (i, &x) in v.iter().enumerate() {
            if x > 0.0 {
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
