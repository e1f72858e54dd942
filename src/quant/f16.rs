//! f16: each component as an IEEE half float (`half` crate); distances convert back to f32 in
//! the kernel (F16C / AVX-512). No training.

use super::kernels::CodeKernels;
use crate::metric::Metric;

/// Half-float codes of `dim` components.
#[derive(Debug)]
pub struct F16Codec {
    dim: usize,
    l2: bool,
    kernels: KernelsDebug,
}

/// The kernels, with a Debug that prints their name only.
#[derive(Clone, Copy)]
pub(crate) struct KernelsDebug(pub CodeKernels);

impl std::fmt::Debug for KernelsDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.name)
    }
}

impl F16Codec {
    /// The codec for `dim` dimensions under `metric`.
    pub fn new(dim: usize, metric: Metric) -> F16Codec {
        F16Codec { dim, l2: metric == Metric::L2, kernels: KernelsDebug(CodeKernels::detect()) }
    }

    /// Words per code: two halves a word.
    pub fn words(&self) -> usize {
        self.dim.div_ceil(2)
    }

    /// Writes the halves of `v` into `out` (a spare half in the last word is 0).
    pub fn encode(&self, v: &[f32], out: &mut [f32]) {
        let halves: &mut [u16] = bytemuck::cast_slice_mut(out);
        halves.fill(0);
        for (h, &x) in halves.iter_mut().zip(v) {
            *h = half::f16::from_f32(x).to_bits();
        }
    }

    /// Squared L2, or 1 - dot under inner product and cosine.
    #[inline]
    pub fn distance(&self, a: &[f32], b: &[f32]) -> f32 {
        let a: &[u16] = &bytemuck::cast_slice(a)[..self.dim];
        let b: &[u16] = &bytemuck::cast_slice(b)[..self.dim];
        if self.l2 {
            (self.kernels.0.l2_f16)(a, b)
        } else {
            1.0 - (self.kernels.0.dot_f16)(a, b)
        }
    }
}
