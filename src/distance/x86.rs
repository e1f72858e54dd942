//! AVX2+FMA and AVX-512F kernels for x86_64.
//!
//! # Soundness invariant
//!
//! The inner kernels are `#[target_feature]` functions: calling one on a CPU
//! without the feature is undefined behaviour. They are reached only through
//! the private safe wrappers below, and those wrappers are only ever handed
//! out as function pointers inside a [`Kernels`] built by [`avx2_kernels`] or
//! [`avx512_kernels`], which return `Some` only after run-time feature
//! detection confirmed the CPU has every feature the kernel was compiled for.
//! The wrappers are deliberately not `pub`, so no code outside this module can
//! call them without going through that check.
//!
//! Each kernel requires `a.len() == b.len()`. The wrappers check this with
//! `debug_assert_eq!` and re-slice `b` to `a.len()`, so a shorter `b` panics
//! instead of reading out of bounds; the kernels then only touch
//! `a[..a.len()]` and `b[..a.len()]`.
//!
//! Loads are unaligned (`loadu`), so any sub-slice works. Four independent
//! accumulators hide the FMA latency (4 cycles on most cores against two
//! loads per cycle).

#![deny(unsafe_op_in_unsafe_fn)]

use core::arch::x86_64::*;

use super::Kernels;

/// The AVX2+FMA kernel set, if this CPU has both features.
pub fn avx2_kernels() -> Option<Kernels> {
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        Some(Kernels {
            l2sq: l2sq_avx2,
            dot: dot_avx2,
            name: "avx2",
        })
    } else {
        None
    }
}

/// The AVX-512F kernel set, if this CPU has AVX-512F.
pub fn avx512_kernels() -> Option<Kernels> {
    if is_x86_feature_detected!("avx512f") {
        Some(Kernels {
            l2sq: l2sq_avx512,
            dot: dot_avx512,
            name: "avx512",
        })
    } else {
        None
    }
}

// ---------------------------------------------------------------------------
// Safe wrappers. Private: only reachable through the constructors above.
// ---------------------------------------------------------------------------

#[inline]
fn l2sq_avx2(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len(), "l2sq: slices differ in length");
    let b = &b[..a.len()];
    // SAFETY: this function is only reachable through `avx2_kernels()`, which
    // hands it out only after detecting AVX2 and FMA; `b.len() == a.len()`.
    unsafe { l2sq_avx2_impl(a, b) }
}

#[inline]
fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len(), "dot: slices differ in length");
    let b = &b[..a.len()];
    // SAFETY: as for `l2sq_avx2`: AVX2+FMA were detected before this function
    // was handed out, and `b.len() == a.len()`.
    unsafe { dot_avx2_impl(a, b) }
}

#[inline]
fn l2sq_avx512(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len(), "l2sq: slices differ in length");
    let b = &b[..a.len()];
    // SAFETY: this function is only reachable through `avx512_kernels()`,
    // which hands it out only after detecting AVX-512F; `b.len() == a.len()`.
    unsafe { l2sq_avx512_impl(a, b) }
}

#[inline]
fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len(), "dot: slices differ in length");
    let b = &b[..a.len()];
    // SAFETY: as for `l2sq_avx512`: AVX-512F was detected before this function
    // was handed out, and `b.len() == a.len()`.
    unsafe { dot_avx512_impl(a, b) }
}

// ---------------------------------------------------------------------------
// AVX2 + FMA
// ---------------------------------------------------------------------------

/// Horizontal sum of the 8 lanes.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn hsum256(v: __m256) -> f32 {
    let lo = _mm256_castps256_ps128(v);
    let hi = _mm256_extractf128_ps::<1>(v);
    let s = _mm_add_ps(lo, hi); // 4 lanes
    let shuf = _mm_movehdup_ps(s); // (s1, s1, s3, s3)
    let s = _mm_add_ps(s, shuf); // (s0+s1, _, s2+s3, _)
    let shuf = _mm_movehl_ps(shuf, s); // lane 0 = s2+s3
    _mm_cvtss_f32(_mm_add_ss(s, shuf))
}

/// # Safety
/// The CPU must support AVX2 and FMA, and `b.len() >= a.len()`.
#[target_feature(enable = "avx2,fma")]
unsafe fn l2sq_avx2_impl(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len();
    debug_assert!(b.len() >= n);
    let pa = a.as_ptr();
    let pb = b.as_ptr();
    let mut acc0 = _mm256_setzero_ps();
    let mut acc1 = _mm256_setzero_ps();
    let mut acc2 = _mm256_setzero_ps();
    let mut acc3 = _mm256_setzero_ps();
    let mut i = 0;
    while i + 32 <= n {
        // SAFETY: i + 32 <= n <= a.len(), b.len(), so the four unaligned
        // 8-lane loads at i, i+8, i+16, i+24 of each slice are in bounds.
        let (a0, a1, a2, a3, b0, b1, b2, b3) = unsafe {
            (
                _mm256_loadu_ps(pa.add(i)),
                _mm256_loadu_ps(pa.add(i + 8)),
                _mm256_loadu_ps(pa.add(i + 16)),
                _mm256_loadu_ps(pa.add(i + 24)),
                _mm256_loadu_ps(pb.add(i)),
                _mm256_loadu_ps(pb.add(i + 8)),
                _mm256_loadu_ps(pb.add(i + 16)),
                _mm256_loadu_ps(pb.add(i + 24)),
            )
        };
        let d0 = _mm256_sub_ps(a0, b0);
        let d1 = _mm256_sub_ps(a1, b1);
        let d2 = _mm256_sub_ps(a2, b2);
        let d3 = _mm256_sub_ps(a3, b3);
        acc0 = _mm256_fmadd_ps(d0, d0, acc0);
        acc1 = _mm256_fmadd_ps(d1, d1, acc1);
        acc2 = _mm256_fmadd_ps(d2, d2, acc2);
        acc3 = _mm256_fmadd_ps(d3, d3, acc3);
        i += 32;
    }
    while i + 8 <= n {
        // SAFETY: i + 8 <= n <= a.len(), b.len(): one 8-lane load each is in bounds.
        let (va, vb) = unsafe { (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))) };
        let d = _mm256_sub_ps(va, vb);
        acc0 = _mm256_fmadd_ps(d, d, acc0);
        i += 8;
    }
    let acc = _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3));
    let mut sum = hsum256(acc);
    // Scalar tail of at most 7 elements (bounds-checked indexing).
    while i < n {
        let d = a[i] - b[i];
        sum += d * d;
        i += 1;
    }
    sum
}

/// # Safety
/// The CPU must support AVX2 and FMA, and `b.len() >= a.len()`.
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2_impl(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len();
    debug_assert!(b.len() >= n);
    let pa = a.as_ptr();
    let pb = b.as_ptr();
    let mut acc0 = _mm256_setzero_ps();
    let mut acc1 = _mm256_setzero_ps();
    let mut acc2 = _mm256_setzero_ps();
    let mut acc3 = _mm256_setzero_ps();
    let mut i = 0;
    while i + 32 <= n {
        // SAFETY: i + 32 <= n <= a.len(), b.len(), so the four unaligned
        // 8-lane loads at i, i+8, i+16, i+24 of each slice are in bounds.
        let (a0, a1, a2, a3, b0, b1, b2, b3) = unsafe {
            (
                _mm256_loadu_ps(pa.add(i)),
                _mm256_loadu_ps(pa.add(i + 8)),
                _mm256_loadu_ps(pa.add(i + 16)),
                _mm256_loadu_ps(pa.add(i + 24)),
                _mm256_loadu_ps(pb.add(i)),
                _mm256_loadu_ps(pb.add(i + 8)),
                _mm256_loadu_ps(pb.add(i + 16)),
                _mm256_loadu_ps(pb.add(i + 24)),
            )
        };
        acc0 = _mm256_fmadd_ps(a0, b0, acc0);
        acc1 = _mm256_fmadd_ps(a1, b1, acc1);
        acc2 = _mm256_fmadd_ps(a2, b2, acc2);
        acc3 = _mm256_fmadd_ps(a3, b3, acc3);
        i += 32;
    }
    while i + 8 <= n {
        // SAFETY: i + 8 <= n <= a.len(), b.len(): one 8-lane load each is in bounds.
        let (va, vb) = unsafe { (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))) };
        acc0 = _mm256_fmadd_ps(va, vb, acc0);
        i += 8;
    }
    let acc = _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3));
    let mut sum = hsum256(acc);
    // Scalar tail of at most 7 elements (bounds-checked indexing).
    while i < n {
        sum += a[i] * b[i];
        i += 1;
    }
    sum
}

// ---------------------------------------------------------------------------
// AVX-512F
// ---------------------------------------------------------------------------

/// Mask selecting the low `rem` lanes, `1 <= rem < 16`.
#[inline(always)]
fn tail_mask(rem: usize) -> __mmask16 {
    debug_assert!(rem > 0 && rem < 16);
    ((1u32 << rem) - 1) as __mmask16
}

/// # Safety
/// The CPU must support AVX-512F, and `b.len() >= a.len()`.
#[target_feature(enable = "avx512f")]
unsafe fn l2sq_avx512_impl(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len();
    debug_assert!(b.len() >= n);
    let pa = a.as_ptr();
    let pb = b.as_ptr();
    let mut acc0 = _mm512_setzero_ps();
    let mut acc1 = _mm512_setzero_ps();
    let mut acc2 = _mm512_setzero_ps();
    let mut acc3 = _mm512_setzero_ps();
    let mut i = 0;
    while i + 64 <= n {
        // SAFETY: i + 64 <= n <= a.len(), b.len(), so the four unaligned
        // 16-lane loads at i, i+16, i+32, i+48 of each slice are in bounds.
        let (a0, a1, a2, a3, b0, b1, b2, b3) = unsafe {
            (
                _mm512_loadu_ps(pa.add(i)),
                _mm512_loadu_ps(pa.add(i + 16)),
                _mm512_loadu_ps(pa.add(i + 32)),
                _mm512_loadu_ps(pa.add(i + 48)),
                _mm512_loadu_ps(pb.add(i)),
                _mm512_loadu_ps(pb.add(i + 16)),
                _mm512_loadu_ps(pb.add(i + 32)),
                _mm512_loadu_ps(pb.add(i + 48)),
            )
        };
        let d0 = _mm512_sub_ps(a0, b0);
        let d1 = _mm512_sub_ps(a1, b1);
        let d2 = _mm512_sub_ps(a2, b2);
        let d3 = _mm512_sub_ps(a3, b3);
        acc0 = _mm512_fmadd_ps(d0, d0, acc0);
        acc1 = _mm512_fmadd_ps(d1, d1, acc1);
        acc2 = _mm512_fmadd_ps(d2, d2, acc2);
        acc3 = _mm512_fmadd_ps(d3, d3, acc3);
        i += 64;
    }
    // Up to three full 16-lane blocks, spread over accumulators so that their
    // FMAs do not form a dependency chain.
    if i + 16 <= n {
        // SAFETY: i + 16 <= n <= a.len(), b.len(): one 16-lane load each is in bounds.
        let (va, vb) = unsafe { (_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i))) };
        let d = _mm512_sub_ps(va, vb);
        acc0 = _mm512_fmadd_ps(d, d, acc0);
        i += 16;
        if i + 16 <= n {
            // SAFETY: i + 16 <= n, as above.
            let (va, vb) = unsafe { (_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i))) };
            let d = _mm512_sub_ps(va, vb);
            acc1 = _mm512_fmadd_ps(d, d, acc1);
            i += 16;
            if i + 16 <= n {
                // SAFETY: i + 16 <= n, as above.
                let (va, vb) =
                    unsafe { (_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i))) };
                let d = _mm512_sub_ps(va, vb);
                acc2 = _mm512_fmadd_ps(d, d, acc2);
                i += 16;
            }
        }
    }
    if i < n {
        let m = tail_mask(n - i);
        // SAFETY: 0 < n - i < 16. A masked load reads only the lanes set in
        // `m`, i.e. elements i..n, which are in bounds for both slices;
        // masked-off lanes are not accessed and cannot fault (they read as 0,
        // so they add 0 to the accumulator). `pa.add(i)` is in bounds (i < n).
        let (va, vb) = unsafe {
            (
                _mm512_maskz_loadu_ps(m, pa.add(i)),
                _mm512_maskz_loadu_ps(m, pb.add(i)),
            )
        };
        let d = _mm512_sub_ps(va, vb);
        acc3 = _mm512_fmadd_ps(d, d, acc3);
    }
    let acc = _mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3));
    _mm512_reduce_add_ps(acc)
}

/// # Safety
/// The CPU must support AVX-512F, and `b.len() >= a.len()`.
#[target_feature(enable = "avx512f")]
unsafe fn dot_avx512_impl(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len();
    debug_assert!(b.len() >= n);
    let pa = a.as_ptr();
    let pb = b.as_ptr();
    let mut acc0 = _mm512_setzero_ps();
    let mut acc1 = _mm512_setzero_ps();
    let mut acc2 = _mm512_setzero_ps();
    let mut acc3 = _mm512_setzero_ps();
    let mut i = 0;
    while i + 64 <= n {
        // SAFETY: i + 64 <= n <= a.len(), b.len(), so the four unaligned
        // 16-lane loads at i, i+16, i+32, i+48 of each slice are in bounds.
        let (a0, a1, a2, a3, b0, b1, b2, b3) = unsafe {
            (
                _mm512_loadu_ps(pa.add(i)),
                _mm512_loadu_ps(pa.add(i + 16)),
                _mm512_loadu_ps(pa.add(i + 32)),
                _mm512_loadu_ps(pa.add(i + 48)),
                _mm512_loadu_ps(pb.add(i)),
                _mm512_loadu_ps(pb.add(i + 16)),
                _mm512_loadu_ps(pb.add(i + 32)),
                _mm512_loadu_ps(pb.add(i + 48)),
            )
        };
        acc0 = _mm512_fmadd_ps(a0, b0, acc0);
        acc1 = _mm512_fmadd_ps(a1, b1, acc1);
        acc2 = _mm512_fmadd_ps(a2, b2, acc2);
        acc3 = _mm512_fmadd_ps(a3, b3, acc3);
        i += 64;
    }
    if i + 16 <= n {
        // SAFETY: i + 16 <= n <= a.len(), b.len(): one 16-lane load each is in bounds.
        let (va, vb) = unsafe { (_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i))) };
        acc0 = _mm512_fmadd_ps(va, vb, acc0);
        i += 16;
        if i + 16 <= n {
            // SAFETY: i + 16 <= n, as above.
            let (va, vb) = unsafe { (_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i))) };
            acc1 = _mm512_fmadd_ps(va, vb, acc1);
            i += 16;
            if i + 16 <= n {
                // SAFETY: i + 16 <= n, as above.
                let (va, vb) =
                    unsafe { (_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i))) };
                acc2 = _mm512_fmadd_ps(va, vb, acc2);
                i += 16;
            }
        }
    }
    if i < n {
        let m = tail_mask(n - i);
        // SAFETY: 0 < n - i < 16. A masked load reads only the lanes set in
        // `m`, i.e. elements i..n, which are in bounds for both slices;
        // masked-off lanes are not accessed and cannot fault (they read as 0).
        let (va, vb) = unsafe {
            (
                _mm512_maskz_loadu_ps(m, pa.add(i)),
                _mm512_maskz_loadu_ps(m, pb.add(i)),
            )
        };
        acc3 = _mm512_fmadd_ps(va, vb, acc3);
    }
    let acc = _mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3));
    _mm512_reduce_add_ps(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_match_cpu_features() {
        assert_eq!(
            avx2_kernels().is_some(),
            is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
        );
        assert_eq!(avx512_kernels().is_some(), is_x86_feature_detected!("avx512f"));
    }

    #[test]
    #[should_panic]
    fn avx2_shorter_b_panics() {
        let Some(k) = avx2_kernels() else {
            panic!("no avx2 on this CPU; nothing to test");
        };
        (k.l2sq)(&[1.0; 40], &[1.0; 39]);
    }

    #[test]
    #[should_panic]
    fn avx512_shorter_b_panics() {
        let Some(k) = avx512_kernels() else {
            panic!("no avx512 on this CPU; nothing to test");
        };
        (k.dot)(&[1.0; 40], &[1.0; 39]);
    }
}
