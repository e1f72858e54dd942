//! Distance kernels: a scalar reference and SIMD versions picked once at run time.
//!
//! Every metric reduces to two primitives over `f32` slices of equal length:
//! squared Euclidean distance and dot product. `Kernels::detect()` returns the
//! fastest pair the CPU supports; `scalar` is the oracle every SIMD kernel is tested against.
//! `codes` holds the kernels over quantized codes (u8, bits, half floats), likewise; `blocks`
//! those that score the neighbour codes inside the graph's blocks.

pub mod blocks;
pub mod codes;
pub mod scalar;
#[cfg(target_arch = "x86_64")]
pub mod x86;
#[cfg(target_arch = "aarch64")]
pub mod neon;

/// A distance primitive over two slices of equal length.
pub type KernelFn = fn(&[f32], &[f32]) -> f32;

/// The pair of primitives all metrics are built from.
#[derive(Clone, Copy)]
pub struct Kernels {
    /// Squared L2 distance.
    pub l2sq: KernelFn,
    /// Dot product.
    pub dot: KernelFn,
    /// Name of the instruction set, for logs and benches ("avx512", "avx2", "neon", "scalar").
    pub name: &'static str,
}

impl core::fmt::Debug for Kernels {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Kernels").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Kernels {
    /// The fastest kernel set this CPU supports, chosen on the first call by
    /// run-time feature detection and cached for the life of the process.
    ///
    /// Preference: AVX-512F, then AVX2+FMA (x86_64); NEON (aarch64); scalar.
    #[inline]
    pub fn detect() -> Kernels {
        static DETECTED: std::sync::OnceLock<Kernels> = std::sync::OnceLock::new();
        *DETECTED.get_or_init(|| {
            Self::all_available()
                .into_iter()
                .next()
                .unwrap_or_else(Self::scalar)
        })
    }

    /// The portable scalar kernels (the test oracle).
    #[inline]
    pub fn scalar() -> Kernels {
        Kernels {
            l2sq: scalar::l2sq,
            dot: scalar::dot,
            name: "scalar",
        }
    }

    /// Every kernel set this CPU can run, fastest first; `scalar` is always last.
    pub fn all_available() -> Vec<Kernels> {
        #[allow(unused_mut)]
        let mut v = Vec::with_capacity(3);
        #[cfg(target_arch = "x86_64")]
        {
            v.extend(x86::avx512_kernels());
            v.extend(x86::avx2_kernels());
        }
        #[cfg(target_arch = "aarch64")]
        {
            v.extend(neon::neon_kernels());
        }
        v.push(Self::scalar());
        v
    }
}

/// The fastest kernel set this CPU supports (see [`Kernels::detect`]).
#[inline]
pub fn detect() -> Kernels {
    Kernels::detect()
}

/// The portable scalar kernel set (see [`Kernels::scalar`]).
#[inline]
pub fn scalar_kernels() -> Kernels {
    Kernels::scalar()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SplitMix64: tiny deterministic generator for test data.
    struct SplitMix64(u64);

    impl SplitMix64 {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// Uniform in [-1, 1).
        fn next_f32(&mut self) -> f32 {
            // 24 random bits -> [0, 1) exactly representable, then to [-1, 1).
            ((self.next_u64() >> 40) as f32 / (1u32 << 24) as f32) * 2.0 - 1.0
        }

        fn vec(&mut self, n: usize) -> Vec<f32> {
            (0..n).map(|_| self.next_f32()).collect()
        }
    }

    const MAX_DIM: usize = 1100;

    /// Exact-ish reference in f64, plus the sum of |terms| that bounds the
    /// f32 rounding error of any summation order.
    fn reference(a: &[f32], b: &[f32], l2: bool) -> (f64, f64) {
        let mut sum = 0.0f64;
        let mut abs = 0.0f64;
        for (&x, &y) in a.iter().zip(b) {
            let t = if l2 {
                let d = x as f64 - y as f64;
                d * d
            } else {
                x as f64 * y as f64
            };
            sum += t;
            abs += t.abs();
        }
        (sum, abs)
    }

    /// Error allowance for an f32 sum of `n` terms whose magnitudes add to `abs`.
    ///
    /// Rounding the products (and the differences for l2) costs at most about
    /// `eps * abs`; the accumulation behaves like a random walk of per-step
    /// errors, `~0.3 * eps * sqrt(n) * abs` for a left-to-right sum and less
    /// for the blocked SIMD sums. `4 * sqrt(n)` leaves more than 10 sigma of
    /// room while still catching a single dropped or doubled element (which
    /// changes the result by ~abs/n, far above this for n <= 1100).
    fn tolerance(n: usize, abs: f64) -> f64 {
        f32::EPSILON as f64 * abs * (2.0 + 4.0 * (n as f64).sqrt())
    }

    fn check_all_dims(k: Kernels) {
        let mut rng = SplitMix64(0x0DDB_1A5E_5BAD_5EED);
        for dim in 1..=MAX_DIM {
            // Sub-slices starting at varying offsets exercise unaligned loads.
            let off_a = dim % 4;
            let off_b = (dim / 4) % 3;
            let abuf = rng.vec(dim + 4);
            let bbuf = rng.vec(dim + 4);
            let a = &abuf[off_a..off_a + dim];
            let b = &bbuf[off_b..off_b + dim];
            for (l2, f, oracle) in [
                (true, k.l2sq, scalar::l2sq as KernelFn),
                (false, k.dot, scalar::dot as KernelFn),
            ] {
                let what = if l2 { "l2sq" } else { "dot" };
                let got = f(a, b) as f64;
                let (want, abs) = reference(a, b, l2);
                let tol = tolerance(dim, abs);
                assert!(
                    (got - want).abs() <= tol,
                    "{} {what} dim={dim}: got {got}, f64 reference {want}, tol {tol}",
                    k.name
                );
                let scal = oracle(a, b) as f64;
                assert!(
                    (got - scal).abs() <= 2.0 * tol,
                    "{} {what} dim={dim}: got {got}, scalar {scal}, tol {}",
                    k.name,
                    2.0 * tol
                );
            }
        }
    }

    #[test]
    fn every_kernel_matches_reference_on_dims_1_to_1100() {
        let all = Kernels::all_available();
        assert_eq!(all.last().unwrap().name, "scalar");
        for k in all {
            check_all_dims(k);
        }
    }

    #[test]
    fn empty_slices_give_zero() {
        for k in Kernels::all_available() {
            assert_eq!((k.l2sq)(&[], &[]), 0.0, "{}", k.name);
            assert_eq!((k.dot)(&[], &[]), 0.0, "{}", k.name);
        }
    }

    #[test]
    fn identical_vectors_have_zero_l2sq() {
        let mut rng = SplitMix64(42);
        for k in Kernels::all_available() {
            for dim in 0..=MAX_DIM {
                let a = rng.vec(dim);
                assert_eq!((k.l2sq)(&a, &a), 0.0, "{} dim={dim}", k.name);
                assert_eq!((k.l2sq)(&a, &a.clone()), 0.0, "{} dim={dim}", k.name);
            }
        }
    }

    #[test]
    fn exact_small_integers() {
        // Small integers are exact in f32 under any summation order.
        for k in Kernels::all_available() {
            for dim in 1..=200usize {
                let a: Vec<f32> = (0..dim).map(|i| (i % 7) as f32 - 3.0).collect();
                let b: Vec<f32> = (0..dim).map(|i| (i % 5) as f32 - 2.0).collect();
                let l2: f32 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
                let d: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
                assert_eq!((k.l2sq)(&a, &b), l2, "{} dim={dim}", k.name);
                assert_eq!((k.dot)(&a, &b), d, "{} dim={dim}", k.name);
            }
        }
    }

    #[test]
    fn shorter_b_panics_for_every_kernel() {
        for k in Kernels::all_available() {
            for f in [k.l2sq, k.dot] {
                let r = std::panic::catch_unwind(|| f(&[1.0; 37], &[1.0; 36]));
                assert!(r.is_err(), "{}: shorter b must panic", k.name);
            }
        }
    }

    #[test]
    fn detect_picks_the_best_and_is_stable() {
        let best = Kernels::all_available()[0];
        assert_eq!(detect().name, best.name);
        assert_eq!(Kernels::detect().name, detect().name);
        assert_eq!(scalar_kernels().name, "scalar");
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") {
                assert_eq!(detect().name, "avx512");
            } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                assert_eq!(detect().name, "avx2");
            } else {
                assert_eq!(detect().name, "scalar");
            }
        }
        #[cfg(target_arch = "aarch64")]
        assert_eq!(detect().name, "neon");
        eprintln!("distance kernels available: {:?}", Kernels::all_available());
    }
}
