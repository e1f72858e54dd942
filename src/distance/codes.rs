//! Distance kernels over codes: u8 (int8 codes), bits (binary codes) and half floats, each a
//! scalar oracle plus x86 SIMD versions handed out only after run-time feature detection.
//!
//! # Soundness invariant
//!
//! The `#[target_feature]` functions are reached only through the private safe wrappers in
//! `x86`, which are handed out only inside a [`CodeKernels`] built after
//! `is_x86_feature_detected!` confirmed every feature they were compiled for. Each wrapper
//! re-slices its second argument to the first one's length, so a shorter slice panics instead
//! of being read out of bounds.

/// A sum over two arrays of 7-bit codes (bytes in 0..=127: see `int8`), such as the
/// squared L2 distance sum of (a_i - b_i)^2. Bytes above 127 give unspecified sums (no UB).
pub type U8Fn = fn(&[u8], &[u8]) -> u32;
/// Hamming distance between two bit arrays (byte length a multiple of 8).
pub type BitsFn = fn(&[u8], &[u8]) -> u32;
/// Sum of the floats `q[i]` whose bit i is set in `bits` (little-endian within each byte;
/// `q.len() == 8 * bits.len()`): the dot product of a query with a 0/1 code.
pub type MaskedSumFn = fn(&[f32], &[u8]) -> f32;
/// A primitive over two arrays of IEEE half floats (as u16 bits).
pub type F16Fn = fn(&[u16], &[u16]) -> f32;

/// The code kernels this CPU runs fastest.
#[derive(Clone, Copy)]
pub struct CodeKernels {
    /// Sum of (a_i - b_i)^2 over u8.
    pub l2_u8: U8Fn,
    /// Sum of a_i * b_i over u8.
    pub dot_u8: U8Fn,
    /// Number of differing bits.
    pub hamming: BitsFn,
    /// Sum of the query components selected by a code's set bits.
    pub masked_sum: MaskedSumFn,
    /// Squared L2 over half floats.
    pub l2_f16: F16Fn,
    /// Dot product over half floats.
    pub dot_f16: F16Fn,
    /// Instruction sets used, for benches.
    pub name: &'static str,
}

impl CodeKernels {
    /// The portable scalar kernels: the test oracle.
    pub fn scalar() -> CodeKernels {
        CodeKernels {
            l2_u8: scalar::l2_u8,
            dot_u8: scalar::dot_u8,
            hamming: scalar::hamming,
            masked_sum: scalar::masked_sum,
            l2_f16: scalar::l2_f16,
            dot_f16: scalar::dot_f16,
            name: "scalar",
        }
    }

    /// Every kernel set this CPU can run, fastest first; scalar last.
    pub fn all_available() -> Vec<CodeKernels> {
        #[allow(unused_mut)]
        let mut v = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            v.extend(x86::avx512());
            v.extend(x86::avx2());
        }
        v.push(Self::scalar());
        v
    }

    /// The fastest set, detected once and cached.
    #[inline]
    pub fn detect() -> CodeKernels {
        static DETECTED: std::sync::OnceLock<CodeKernels> = std::sync::OnceLock::new();
        *DETECTED.get_or_init(|| Self::all_available().into_iter().next().unwrap_or_else(Self::scalar))
    }
}

/// Scalar oracles.
pub mod scalar {
    /// Sum of (a_i - b_i)^2.
    pub fn l2_u8(a: &[u8], b: &[u8]) -> u32 {
        a.iter().zip(b).map(|(&x, &y)| (x as i32 - y as i32).pow(2) as u32).sum()
    }

    /// Sum of a_i * b_i.
    pub fn dot_u8(a: &[u8], b: &[u8]) -> u32 {
        a.iter().zip(b).map(|(&x, &y)| x as u32 * y as u32).sum()
    }

    /// Differing bits.
    pub fn hamming(a: &[u8], b: &[u8]) -> u32 {
        a.iter().zip(b).map(|(&x, &y)| (x ^ y).count_ones()).sum()
    }

    /// Sum of `q[i]` over the set bits i (left to right).
    pub fn masked_sum(q: &[f32], bits: &[u8]) -> f32 {
        let mut sum = 0f32;
        for (chunk, &byte) in q.chunks(8).zip(bits) {
            for (j, &x) in chunk.iter().enumerate() {
                if byte >> j & 1 == 1 {
                    sum += x;
                }
            }
        }
        sum
    }

    /// Squared L2 over half floats.
    pub fn l2_f16(a: &[u16], b: &[u16]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| {
                let d = half::f16::from_bits(x).to_f32() - half::f16::from_bits(y).to_f32();
                d * d
            })
            .sum()
    }

    /// Dot product over half floats.
    pub fn dot_f16(a: &[u16], b: &[u16]) -> f32 {
        a.iter().zip(b).map(|(&x, &y)| half::f16::from_bits(x).to_f32() * half::f16::from_bits(y).to_f32()).sum()
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    #![deny(unsafe_op_in_unsafe_fn)]
    use super::{scalar, CodeKernels};
    use core::arch::x86_64::*;

    pub fn avx512() -> Option<CodeKernels> {
        let ok = is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vnni")
            && is_x86_feature_detected!("avx512vpopcntdq")
            && is_x86_feature_detected!("popcnt");
        ok.then_some(CodeKernels {
            l2_u8: l2_u8_avx512,
            dot_u8: dot_u8_avx512,
            hamming: hamming_avx512,
            masked_sum: masked_sum_avx512,
            l2_f16: l2_f16_avx512,
            dot_f16: dot_f16_avx512,
            name: "avx512vnni",
        })
    }

    pub fn avx2() -> Option<CodeKernels> {
        let ok = is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c")
            && is_x86_feature_detected!("popcnt");
        ok.then_some(CodeKernels {
            l2_u8: l2_u8_avx2,
            dot_u8: dot_u8_avx2,
            hamming: hamming_popcnt,
            // Scalar: binary codes on an AVX2-only CPU fall back to the oracle.
            masked_sum: scalar::masked_sum,
            l2_f16: l2_f16_avx2,
            dot_f16: dot_f16_avx2,
            name: "avx2",
        })
    }

    // ---- safe wrappers (private; handed out only by the detecting constructors above) ----

    fn l2_u8_avx512(a: &[u8], b: &[u8]) -> u32 {
        let b = &b[..a.len()];
        // SAFETY: reachable only through `avx512()`, after AVX-512F/BW/VNNI were detected; equal lengths.
        unsafe { u8_avx512::<true>(a, b) }
    }
    fn dot_u8_avx512(a: &[u8], b: &[u8]) -> u32 {
        let b = &b[..a.len()];
        // SAFETY: as above.
        unsafe { u8_avx512::<false>(a, b) }
    }
    fn hamming_avx512(a: &[u8], b: &[u8]) -> u32 {
        let b = &b[..a.len()];
        // SAFETY: reachable only through `avx512()`, after AVX-512F/BW and VPOPCNTDQ were detected.
        unsafe { hamming_avx512_impl(a, b) }
    }
    fn masked_sum_avx512(q: &[f32], bits: &[u8]) -> f32 {
        let q = &q[..bits.len() * 8];
        // SAFETY: reachable only through `avx512()`, after AVX-512F was detected; q holds
        // exactly 8 floats per byte of `bits`.
        unsafe { masked_sum_avx512_impl(q, bits) }
    }
    fn hamming_popcnt(a: &[u8], b: &[u8]) -> u32 {
        let b = &b[..a.len()];
        // SAFETY: reachable only through `avx2()` / `avx512()`, after POPCNT was detected.
        unsafe { hamming_popcnt_impl(a, b) }
    }
    fn l2_f16_avx512(a: &[u16], b: &[u16]) -> f32 {
        let b = &b[..a.len()];
        // SAFETY: reachable only through `avx512()`, after AVX-512F was detected.
        unsafe { f16_avx512::<true>(a, b) }
    }
    fn dot_f16_avx512(a: &[u16], b: &[u16]) -> f32 {
        let b = &b[..a.len()];
        // SAFETY: as above.
        unsafe { f16_avx512::<false>(a, b) }
    }
    fn l2_u8_avx2(a: &[u8], b: &[u8]) -> u32 {
        let b = &b[..a.len()];
        // SAFETY: reachable only through `avx2()`, after AVX2 was detected.
        unsafe { u8_avx2::<true>(a, b) }
    }
    fn dot_u8_avx2(a: &[u8], b: &[u8]) -> u32 {
        let b = &b[..a.len()];
        // SAFETY: as above.
        unsafe { u8_avx2::<false>(a, b) }
    }
    fn l2_f16_avx2(a: &[u16], b: &[u16]) -> f32 {
        let b = &b[..a.len()];
        // SAFETY: reachable only through `avx2()`, after AVX2, FMA and F16C were detected.
        unsafe { f16_avx2::<true>(a, b) }
    }
    fn dot_f16_avx2(a: &[u16], b: &[u16]) -> f32 {
        let b = &b[..a.len()];
        // SAFETY: as above.
        unsafe { f16_avx2::<false>(a, b) }
    }

    // ---- kernels ----

    /// Sums over 7-bit codes with VNNI's u8 x i8 dot (`vpdpbusd`, 4 products per i32 lane):
    /// `L2` squares |a - b| (at most 127, so it is a valid i8), else multiplies a by b. One
    /// 64-byte step adds at most 4 * 127^2 to a lane: no overflow below 2^16 dimensions.
    ///
    /// # Safety
    /// AVX-512F, AVX-512BW and AVX-512VNNI; `b.len() >= a.len()`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn u8_avx512<const L2: bool>(a: &[u8], b: &[u8]) -> u32 {
        let n = a.len();
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc0 = _mm512_setzero_si512();
        let mut acc1 = _mm512_setzero_si512();
        let mut i = 0;
        while i + 128 <= n {
            // SAFETY: i + 128 <= n, so the four 64-byte loads lie inside both slices.
            let (a0, a1, b0, b1) = unsafe {
                (
                    _mm512_loadu_si512(pa.add(i) as *const __m512i),
                    _mm512_loadu_si512(pa.add(i + 64) as *const __m512i),
                    _mm512_loadu_si512(pb.add(i) as *const __m512i),
                    _mm512_loadu_si512(pb.add(i + 64) as *const __m512i),
                )
            };
            if L2 {
                let d0 = _mm512_abs_epi8(_mm512_sub_epi8(a0, b0));
                let d1 = _mm512_abs_epi8(_mm512_sub_epi8(a1, b1));
                acc0 = _mm512_dpbusd_epi32(acc0, d0, d0);
                acc1 = _mm512_dpbusd_epi32(acc1, d1, d1);
            } else {
                acc0 = _mm512_dpbusd_epi32(acc0, a0, b0);
                acc1 = _mm512_dpbusd_epi32(acc1, a1, b1);
            }
            i += 128;
        }
        if i + 64 <= n {
            // SAFETY: i + 64 <= n.
            let (a0, b0) =
                unsafe { (_mm512_loadu_si512(pa.add(i) as *const __m512i), _mm512_loadu_si512(pb.add(i) as *const __m512i)) };
            if L2 {
                let d0 = _mm512_abs_epi8(_mm512_sub_epi8(a0, b0));
                acc0 = _mm512_dpbusd_epi32(acc0, d0, d0);
            } else {
                acc0 = _mm512_dpbusd_epi32(acc0, a0, b0);
            }
            i += 64;
        }
        if i < n {
            // The tail through a masked load: bytes past the end read as 0 on both sides.
            let mask: __mmask64 = (1u64 << (n - i)) - 1;
            // SAFETY: the masked load touches only bytes i..n, inside both slices.
            let (a0, b0) = unsafe { (_mm512_maskz_loadu_epi8(mask, pa.add(i) as *const i8), _mm512_maskz_loadu_epi8(mask, pb.add(i) as *const i8)) };
            if L2 {
                let d0 = _mm512_abs_epi8(_mm512_sub_epi8(a0, b0));
                acc1 = _mm512_dpbusd_epi32(acc1, d0, d0);
            } else {
                acc1 = _mm512_dpbusd_epi32(acc1, a0, b0);
            }
        }
        _mm512_reduce_add_epi32(_mm512_add_epi32(acc0, acc1)) as u32
    }

    /// Sums over 7-bit codes with `pmaddubsw` (u8 x i8 pairs into i16: at most 2 * 127^2,
    /// below i16's saturation) and `pmaddwd` by ones into i32 lanes.
    ///
    /// # Safety
    /// AVX2; `b.len() >= a.len()`.
    #[target_feature(enable = "avx2")]
    unsafe fn u8_avx2<const L2: bool>(a: &[u8], b: &[u8]) -> u32 {
        let n = a.len();
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let ones = _mm256_set1_epi16(1);
        let mut acc0 = _mm256_setzero_si256();
        let mut acc1 = _mm256_setzero_si256();
        let mut i = 0;
        while i + 64 <= n {
            // SAFETY: i + 64 <= n, so the four 32-byte loads lie inside both slices.
            let (a0, a1, b0, b1) = unsafe {
                (
                    _mm256_loadu_si256(pa.add(i) as *const __m256i),
                    _mm256_loadu_si256(pa.add(i + 32) as *const __m256i),
                    _mm256_loadu_si256(pb.add(i) as *const __m256i),
                    _mm256_loadu_si256(pb.add(i + 32) as *const __m256i),
                )
            };
            let (p0, p1) = if L2 {
                let d0 = _mm256_abs_epi8(_mm256_sub_epi8(a0, b0));
                let d1 = _mm256_abs_epi8(_mm256_sub_epi8(a1, b1));
                (_mm256_maddubs_epi16(d0, d0), _mm256_maddubs_epi16(d1, d1))
            } else {
                (_mm256_maddubs_epi16(a0, b0), _mm256_maddubs_epi16(a1, b1))
            };
            acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(p0, ones));
            acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(p1, ones));
            i += 64;
        }
        let acc = _mm256_add_epi32(acc0, acc1);
        let s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256::<1>(acc));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
        let head = _mm_cvtsi128_si32(s) as u32;
        let tail = if L2 { scalar::l2_u8(&a[i..], &b[i..]) } else { scalar::dot_u8(&a[i..], &b[i..]) };
        head + tail
    }

    /// # Safety
    /// AVX-512F, AVX-512BW and AVX-512VPOPCNTDQ; `b.len() >= a.len()`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vpopcntdq")]
    unsafe fn hamming_avx512_impl(a: &[u8], b: &[u8]) -> u32 {
        let n = a.len();
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc0 = _mm512_setzero_si512();
        let mut acc1 = _mm512_setzero_si512();
        let mut i = 0;
        while i + 128 <= n {
            // SAFETY: i + 128 <= n: the four 64-byte loads are in bounds.
            let (x0, x1, y0, y1) = unsafe {
                (
                    _mm512_loadu_si512(pa.add(i) as *const __m512i),
                    _mm512_loadu_si512(pa.add(i + 64) as *const __m512i),
                    _mm512_loadu_si512(pb.add(i) as *const __m512i),
                    _mm512_loadu_si512(pb.add(i + 64) as *const __m512i),
                )
            };
            acc0 = _mm512_add_epi64(acc0, _mm512_popcnt_epi64(_mm512_xor_si512(x0, y0)));
            acc1 = _mm512_add_epi64(acc1, _mm512_popcnt_epi64(_mm512_xor_si512(x1, y1)));
            i += 128;
        }
        while i < n {
            // A last partial block through a masked load: bytes past the end read as 0.
            let mask: __mmask64 = if n - i >= 64 { u64::MAX } else { (1u64 << (n - i)) - 1 };
            // SAFETY: the masked loads touch only bytes i..min(i + 64, n), inside both slices.
            let (x, y) = unsafe { (_mm512_maskz_loadu_epi8(mask, pa.add(i) as *const i8), _mm512_maskz_loadu_epi8(mask, pb.add(i) as *const i8)) };
            acc0 = _mm512_add_epi64(acc0, _mm512_popcnt_epi64(_mm512_xor_si512(x, y)));
            i += 64;
        }
        _mm512_reduce_add_epi64(_mm512_add_epi64(acc0, acc1)) as u32
    }

    /// Four accumulators, each adding the 16 query floats of one block under the block's 16
    /// code bits as a lane mask.
    ///
    /// # Safety
    /// AVX-512F; `q.len() == 8 * bits.len()`.
    #[target_feature(enable = "avx512f")]
    unsafe fn masked_sum_avx512_impl(q: &[f32], bits: &[u8]) -> f32 {
        let n = q.len();
        let (pq, pb) = (q.as_ptr(), bits.as_ptr());
        let mut acc = [_mm512_setzero_ps(); 4];
        let mut i = 0;
        while i + 64 <= n {
            for (j, a) in acc.iter_mut().enumerate() {
                let at = i + 16 * j;
                // SAFETY: at + 16 <= n = 8 * bits.len(): 16 floats of q and the 2 bytes
                // bits[at / 8..at / 8 + 2] are in bounds.
                let (m, v) = unsafe { ((pb.add(at / 8) as *const u16).read_unaligned(), _mm512_loadu_ps(pq.add(at))) };
                *a = _mm512_mask_add_ps(*a, m, *a, v);
            }
            i += 64;
        }
        while i + 16 <= n {
            // SAFETY: i + 16 <= n, as above.
            let (m, v) = unsafe { ((pb.add(i / 8) as *const u16).read_unaligned(), _mm512_loadu_ps(pq.add(i))) };
            acc[0] = _mm512_mask_add_ps(acc[0], m, acc[0], v);
            i += 16;
        }
        if i < n {
            // 8 floats left (n is a multiple of 8): one byte of bits, a masked load of 8 lanes.
            // SAFETY: i / 8 < bits.len(); the load reads lanes i..i + 8 <= n only.
            let (m, v) = unsafe { (*pb.add(i / 8) as u16, _mm512_maskz_loadu_ps(0xff, pq.add(i))) };
            acc[1] = _mm512_mask_add_ps(acc[1], m, acc[1], v);
        }
        _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])))
    }

    /// # Safety
    /// POPCNT; `b.len() >= a.len()`.
    #[target_feature(enable = "popcnt")]
    unsafe fn hamming_popcnt_impl(a: &[u8], b: &[u8]) -> u32 {
        let n = a.len();
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        // (No closure here: a closure would not inherit `popcnt` and count bits the slow way.)
        let (mut s0, mut s1, mut s2, mut s3) = (0, 0, 0, 0);
        let mut i = 0;
        while i + 32 <= n {
            // SAFETY: i + 32 <= n: four unaligned 8-byte reads inside both slices.
            unsafe {
                let w = |k: usize| (pa.add(i + k) as *const u64).read_unaligned() ^ (pb.add(i + k) as *const u64).read_unaligned();
                let (w0, w1, w2, w3) = (w(0), w(8), w(16), w(24));
                s0 += w0.count_ones();
                s1 += w1.count_ones();
                s2 += w2.count_ones();
                s3 += w3.count_ones();
            }
            i += 32;
        }
        while i + 8 <= n {
            // SAFETY: i + 8 <= n.
            let w = unsafe { (pa.add(i) as *const u64).read_unaligned() ^ (pb.add(i) as *const u64).read_unaligned() };
            s0 += w.count_ones();
            i += 8;
        }
        (s0 + s1) + (s2 + s3) + scalar::hamming(&a[i..], &b[i..])
    }

    /// # Safety
    /// AVX-512F; `b.len() >= a.len()`.
    #[target_feature(enable = "avx512f")]
    unsafe fn f16_avx512<const L2: bool>(a: &[u16], b: &[u16]) -> f32 {
        let n = a.len();
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc0 = _mm512_setzero_ps();
        let mut acc1 = _mm512_setzero_ps();
        let mut i = 0;
        while i + 32 <= n {
            // SAFETY: i + 32 <= n: the 16-half loads at i and i + 16 are in bounds.
            let (a0, a1, b0, b1) = unsafe {
                (
                    _mm512_cvtph_ps(_mm256_loadu_si256(pa.add(i) as *const __m256i)),
                    _mm512_cvtph_ps(_mm256_loadu_si256(pa.add(i + 16) as *const __m256i)),
                    _mm512_cvtph_ps(_mm256_loadu_si256(pb.add(i) as *const __m256i)),
                    _mm512_cvtph_ps(_mm256_loadu_si256(pb.add(i + 16) as *const __m256i)),
                )
            };
            if L2 {
                let d0 = _mm512_sub_ps(a0, b0);
                let d1 = _mm512_sub_ps(a1, b1);
                acc0 = _mm512_fmadd_ps(d0, d0, acc0);
                acc1 = _mm512_fmadd_ps(d1, d1, acc1);
            } else {
                acc0 = _mm512_fmadd_ps(a0, b0, acc0);
                acc1 = _mm512_fmadd_ps(a1, b1, acc1);
            }
            i += 32;
        }
        let head = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
        let tail = if L2 { scalar::l2_f16(&a[i..], &b[i..]) } else { scalar::dot_f16(&a[i..], &b[i..]) };
        head + tail
    }

    /// # Safety
    /// AVX2, FMA and F16C; `b.len() >= a.len()`.
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn f16_avx2<const L2: bool>(a: &[u16], b: &[u16]) -> f32 {
        let n = a.len();
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc0 = _mm256_setzero_ps();
        let mut acc1 = _mm256_setzero_ps();
        let mut i = 0;
        while i + 16 <= n {
            // SAFETY: i + 16 <= n: the 8-half loads at i and i + 8 are in bounds.
            let (a0, a1, b0, b1) = unsafe {
                (
                    _mm256_cvtph_ps(_mm_loadu_si128(pa.add(i) as *const __m128i)),
                    _mm256_cvtph_ps(_mm_loadu_si128(pa.add(i + 8) as *const __m128i)),
                    _mm256_cvtph_ps(_mm_loadu_si128(pb.add(i) as *const __m128i)),
                    _mm256_cvtph_ps(_mm_loadu_si128(pb.add(i + 8) as *const __m128i)),
                )
            };
            if L2 {
                let d0 = _mm256_sub_ps(a0, b0);
                let d1 = _mm256_sub_ps(a1, b1);
                acc0 = _mm256_fmadd_ps(d0, d0, acc0);
                acc1 = _mm256_fmadd_ps(d1, d1, acc1);
            } else {
                acc0 = _mm256_fmadd_ps(a0, b0, acc0);
                acc1 = _mm256_fmadd_ps(a1, b1, acc1);
            }
            i += 16;
        }
        let acc = _mm256_add_ps(acc0, acc1);
        let s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps::<1>(acc));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_movehdup_ps(s));
        let head = _mm_cvtss_f32(s);
        let tail = if L2 { scalar::l2_f16(&a[i..], &b[i..]) } else { scalar::dot_f16(&a[i..], &b[i..]) };
        head + tail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut s = seed;
        move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        }
    }

    #[test]
    fn every_kernel_matches_the_scalar_oracle_on_every_length() {
        let oracle = CodeKernels::scalar();
        let mut r = rng(0x5EED);
        for k in CodeKernels::all_available() {
            for n in 0..=1100usize {
                let a: Vec<u8> = (0..n).map(|_| r() as u8).collect();
                let b: Vec<u8> = (0..n).map(|_| r() as u8).collect();
                let (ca, cb): (Vec<u8>, Vec<u8>) = (a.iter().map(|x| x & 127).collect(), b.iter().map(|x| x & 127).collect());
                assert_eq!((k.l2_u8)(&ca, &cb), (oracle.l2_u8)(&ca, &cb), "{} l2_u8 n={n}", k.name);
                assert_eq!((k.dot_u8)(&ca, &cb), (oracle.dot_u8)(&ca, &cb), "{} dot_u8 n={n}", k.name);
                let bits = n / 8 * 8;
                assert_eq!((k.hamming)(&a[..bits], &b[..bits]), (oracle.hamming)(&a[..bits], &b[..bits]), "{} hamming n={n}", k.name);
                // Queries of small integers: every partial sum is exact, so any order agrees.
                let q: Vec<f32> = (0..bits).map(|_| (r() % 201) as f32 - 100.0).collect();
                let code = &a[..bits / 8];
                let want: f32 = (0..bits).filter(|&i| code[i / 8] >> (i % 8) & 1 == 1).map(|i| q[i]).sum();
                assert_eq!((oracle.masked_sum)(&q, code), want, "scalar masked_sum n={n}");
                assert_eq!((k.masked_sum)(&q, code), want, "{} masked_sum n={n}", k.name);
                let ha: Vec<u16> = (0..n).map(|_| half::f16::from_f32((r() % 2001) as f32 / 1000.0 - 1.0).to_bits()).collect();
                let hb: Vec<u16> = (0..n).map(|_| half::f16::from_f32((r() % 2001) as f32 / 1000.0 - 1.0).to_bits()).collect();
                for (got, want, what) in [
                    ((k.l2_f16)(&ha, &hb), (oracle.l2_f16)(&ha, &hb), "l2_f16"),
                    ((k.dot_f16)(&ha, &hb), (oracle.dot_f16)(&ha, &hb), "dot_f16"),
                ] {
                    assert!((got - want).abs() <= 1e-4 * (1.0 + want.abs()), "{} {what} n={n}: {got} vs {want}", k.name);
                }
            }
        }
    }

    #[test]
    fn u8_sums_do_not_overflow_at_the_largest_dimension() {
        let a = vec![127u8; crate::index::MAX_DIM];
        let b = vec![0u8; crate::index::MAX_DIM];
        for k in CodeKernels::all_available() {
            assert_eq!((k.l2_u8)(&a, &b), 127 * 127 * crate::index::MAX_DIM as u32, "{}", k.name);
            assert_eq!((k.dot_u8)(&a, &a), 127 * 127 * crate::index::MAX_DIM as u32, "{}", k.name);
        }
    }
}
