//! NEON kernels for aarch64.
//!
//! # Soundness invariant
//!
//! The inner kernels are `#[target_feature(enable = "neon")]` functions. They
//! are reached only through the private safe wrappers below, which are only
//! handed out inside a [`Kernels`] built by [`neon_kernels`], and that returns
//! `Some` only after run-time detection confirmed NEON (always present on
//! aarch64 Linux/macOS targets, but we check rather than assume).
//!
//! Each kernel requires `a.len() == b.len()`. The wrappers check this with
//! `debug_assert_eq!` and re-slice `b` to `a.len()`, so a shorter `b` panics
//! instead of reading out of bounds.
//!
//! Eight 4-lane accumulators (32 floats per iteration) keep enough FMAs in
//! flight for wide cores (e.g. Apple M-series: 4 FMA pipes, latency 3-4).

#![deny(unsafe_op_in_unsafe_fn)]

use core::arch::aarch64::*;

use super::Kernels;

/// The NEON kernel set, if this CPU has NEON.
pub fn neon_kernels() -> Option<Kernels> {
    if std::arch::is_aarch64_feature_detected!("neon") {
        Some(Kernels {
            l2sq: l2sq_neon,
            dot: dot_neon,
            name: "neon",
        })
    } else {
        None
    }
}

#[inline]
fn l2sq_neon(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len(), "l2sq: slices differ in length");
    let b = &b[..a.len()];
    // SAFETY: only reachable through `neon_kernels()`, which hands it out only
    // after detecting NEON; `b.len() == a.len()`.
    unsafe { l2sq_neon_impl(a, b) }
}

#[inline]
fn dot_neon(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len(), "dot: slices differ in length");
    let b = &b[..a.len()];
    // SAFETY: only reachable through `neon_kernels()`, which hands it out only
    // after detecting NEON; `b.len() == a.len()`.
    unsafe { dot_neon_impl(a, b) }
}

/// Loads 4 lanes from `p`.
///
/// # Safety
/// `p..p+4` must be readable `f32`s.
#[inline(always)]
unsafe fn ld(p: *const f32) -> float32x4_t {
    // SAFETY: the caller guarantees 4 readable floats at `p`; `vld1q_f32`
    // has no alignment requirement beyond that of `f32`. NEON is part of the
    // aarch64 baseline, so the intrinsic itself needs no extra feature here.
    unsafe { vld1q_f32(p) }
}

/// # Safety
/// The CPU must support NEON, and `b.len() >= a.len()`.
#[target_feature(enable = "neon")]
unsafe fn l2sq_neon_impl(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len();
    debug_assert!(b.len() >= n);
    let pa = a.as_ptr();
    let pb = b.as_ptr();
    let mut acc = [vdupq_n_f32(0.0); 8];
    let mut i = 0;
    while i + 32 <= n {
        for (k, slot) in acc.iter_mut().enumerate() {
            let off = i + 4 * k;
            // SAFETY: off + 4 <= i + 32 <= n <= a.len(), b.len().
            let (va, vb) = unsafe { (ld(pa.add(off)), ld(pb.add(off))) };
            let d = vsubq_f32(va, vb);
            *slot = vfmaq_f32(*slot, d, d);
        }
        i += 32;
    }
    // At most 31 elements remain: blocks of 16, 8 and 4 go to distinct
    // accumulators (constant indices, so they stay in registers).
    if i + 16 <= n {
        for (k, slot) in acc[..4].iter_mut().enumerate() {
            let off = i + 4 * k;
            // SAFETY: off + 4 <= i + 16 <= n <= a.len(), b.len().
            let (va, vb) = unsafe { (ld(pa.add(off)), ld(pb.add(off))) };
            let d = vsubq_f32(va, vb);
            *slot = vfmaq_f32(*slot, d, d);
        }
        i += 16;
    }
    if i + 8 <= n {
        for (k, slot) in acc[4..6].iter_mut().enumerate() {
            let off = i + 4 * k;
            // SAFETY: off + 4 <= i + 8 <= n <= a.len(), b.len().
            let (va, vb) = unsafe { (ld(pa.add(off)), ld(pb.add(off))) };
            let d = vsubq_f32(va, vb);
            *slot = vfmaq_f32(*slot, d, d);
        }
        i += 8;
    }
    if i + 4 <= n {
        // SAFETY: i + 4 <= n <= a.len(), b.len().
        let (va, vb) = unsafe { (ld(pa.add(i)), ld(pb.add(i))) };
        let d = vsubq_f32(va, vb);
        acc[6] = vfmaq_f32(acc[6], d, d);
        i += 4;
    }
    let s01 = vaddq_f32(acc[0], acc[1]);
    let s23 = vaddq_f32(acc[2], acc[3]);
    let s45 = vaddq_f32(acc[4], acc[5]);
    let s67 = vaddq_f32(acc[6], acc[7]);
    let mut sum = vaddvq_f32(vaddq_f32(vaddq_f32(s01, s23), vaddq_f32(s45, s67)));
    // Scalar tail of at most 3 elements (bounds-checked indexing).
    while i < n {
        let d = a[i] - b[i];
        sum += d * d;
        i += 1;
    }
    sum
}

/// # Safety
/// The CPU must support NEON, and `b.len() >= a.len()`.
#[target_feature(enable = "neon")]
unsafe fn dot_neon_impl(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len();
    debug_assert!(b.len() >= n);
    let pa = a.as_ptr();
    let pb = b.as_ptr();
    let mut acc = [vdupq_n_f32(0.0); 8];
    let mut i = 0;
    while i + 32 <= n {
        for (k, slot) in acc.iter_mut().enumerate() {
            let off = i + 4 * k;
            // SAFETY: off + 4 <= i + 32 <= n <= a.len(), b.len().
            let (va, vb) = unsafe { (ld(pa.add(off)), ld(pb.add(off))) };
            *slot = vfmaq_f32(*slot, va, vb);
        }
        i += 32;
    }
    // At most 31 elements remain: blocks of 16, 8 and 4 go to distinct
    // accumulators (constant indices, so they stay in registers).
    if i + 16 <= n {
        for (k, slot) in acc[..4].iter_mut().enumerate() {
            let off = i + 4 * k;
            // SAFETY: off + 4 <= i + 16 <= n <= a.len(), b.len().
            let (va, vb) = unsafe { (ld(pa.add(off)), ld(pb.add(off))) };
            *slot = vfmaq_f32(*slot, va, vb);
        }
        i += 16;
    }
    if i + 8 <= n {
        for (k, slot) in acc[4..6].iter_mut().enumerate() {
            let off = i + 4 * k;
            // SAFETY: off + 4 <= i + 8 <= n <= a.len(), b.len().
            let (va, vb) = unsafe { (ld(pa.add(off)), ld(pb.add(off))) };
            *slot = vfmaq_f32(*slot, va, vb);
        }
        i += 8;
    }
    if i + 4 <= n {
        // SAFETY: i + 4 <= n <= a.len(), b.len().
        let (va, vb) = unsafe { (ld(pa.add(i)), ld(pb.add(i))) };
        acc[6] = vfmaq_f32(acc[6], va, vb);
        i += 4;
    }
    let s01 = vaddq_f32(acc[0], acc[1]);
    let s23 = vaddq_f32(acc[2], acc[3]);
    let s45 = vaddq_f32(acc[4], acc[5]);
    let s67 = vaddq_f32(acc[6], acc[7]);
    let mut sum = vaddvq_f32(vaddq_f32(vaddq_f32(s01, s23), vaddq_f32(s45, s67)));
    // Scalar tail of at most 3 elements (bounds-checked indexing).
    while i < n {
        sum += a[i] * b[i];
        i += 1;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neon_is_detected() {
        assert!(neon_kernels().is_some());
    }

    #[test]
    #[should_panic]
    fn shorter_b_panics() {
        let k = neon_kernels().expect("neon");
        (k.l2sq)(&[1.0; 40], &[1.0; 39]);
    }
}
