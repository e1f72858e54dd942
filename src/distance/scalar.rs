//! Portable scalar kernels.
//!
//! These are deliberately simple left-to-right loops: they are the oracle every
//! SIMD kernel is tested against, and the fallback on CPUs without a SIMD set
//! we have a kernel for.
//!
//! Like the SIMD kernels, `l2sq` and `dot` require slices of equal length:
//! a longer `b` is a bug caught by `debug_assert!`, a shorter `b` panics.

/// Squared Euclidean distance `sum((a[i] - b[i])^2)`.
#[inline]
pub fn l2sq(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len(), "l2sq: slices differ in length");
    let b = &b[..a.len()];
    let mut sum = 0.0f32;
    for (x, y) in a.iter().zip(b) {
        let d = x - y;
        sum += d * d;
    }
    sum
}

/// Dot product `sum(a[i] * b[i])`.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len(), "dot: slices differ in length");
    let b = &b[..a.len()];
    let mut sum = 0.0f32;
    for (x, y) in a.iter().zip(b) {
        sum += x * y;
    }
    sum
}

/// Euclidean norm `sqrt(sum(a[i]^2))`.
#[inline]
pub fn norm(a: &[f32]) -> f32 {
    dot(a, a).sqrt()
}

/// Scales `v` to unit length in place and returns its original norm (as f32,
/// so infinite for a vector longer than `f32::MAX`).
///
/// The norm is computed in f64: squaring f32 components in f32 overflows above
/// about 1.8e19 and underflows below about 1e-19, which used to leave such
/// vectors unnormalised. In f64 every finite non-zero f32 vector has a finite,
/// positive norm, so only the zero vector is left unchanged.
pub fn normalize(v: &mut [f32]) -> f32 {
    let n = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
    if n > 0.0 && n.is_finite() {
        let inv = 1.0 / n;
        for x in v.iter_mut() {
            *x = (f64::from(*x) * inv) as f32;
        }
    }
    n as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_known_values() {
        assert_eq!(l2sq(&[1.0, 2.0, 3.0], &[4.0, 6.0, 3.0]), 25.0);
        assert_eq!(dot(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]), 32.0);
        assert_eq!(norm(&[3.0, 4.0]), 5.0);
    }

    #[test]
    fn empty_is_zero() {
        assert_eq!(l2sq(&[], &[]), 0.0);
        assert_eq!(dot(&[], &[]), 0.0);
        assert_eq!(norm(&[]), 0.0);
    }

    #[test]
    fn normalize_returns_original_norm() {
        let mut v = [3.0f32, 0.0, 4.0];
        assert_eq!(normalize(&mut v), 5.0);
        assert!((norm(&v) - 1.0).abs() < 1e-6);
        assert_eq!(v, [0.6, 0.0, 0.8]);
    }

    #[test]
    fn normalize_zero_vector_is_unchanged() {
        let mut v = [0.0f32; 4];
        assert_eq!(normalize(&mut v), 0.0);
        assert_eq!(v, [0.0; 4]);
        let mut e: [f32; 0] = [];
        assert_eq!(normalize(&mut e), 0.0);
    }

    #[test]
    fn normalize_huge_and_tiny_vectors() {
        for scale in [1e20f32, 3e38, 1e-30, 1e-45] {
            let mut v = [scale, 0.0, scale, 0.0];
            normalize(&mut v);
            let h = std::f32::consts::FRAC_1_SQRT_2;
            assert!((v[0] - h).abs() < 1e-6 && (v[2] - h).abs() < 1e-6, "{scale}: {v:?}");
            assert_eq!((v[1], v[3]), (0.0, 0.0));
        }
    }

    #[test]
    #[should_panic]
    fn shorter_b_panics() {
        l2sq(&[1.0, 2.0], &[1.0]);
    }
}
