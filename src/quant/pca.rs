//! Principal directions of a sample: the few directions along which a data set varies most,
//! so that a code of fewer dimensions than the vectors keeps most of their differences (the
//! projected neighbour codes of `hnsw::codes`).
//!
//! Subspace iteration on the sample's covariance, then a Rayleigh-Ritz step (a small
//! symmetric eigenproblem, by Jacobi rotations) to order the directions by variance. The
//! subspace needs only to capture nearly the most variance, not exact eigenvectors, so a
//! dozen iterations do.

/// Iterations of the subspace; the variance captured changes by well under 0.1 % after them
/// on glove, MNIST and MiniLM samples.
const ITERATIONS: usize = 12;

/// The `k` leading principal directions of `sample` (row-major, `dim` wide, at least one
/// row), as `k` orthonormal rows of `dim` values, the direction of most variance first, and
/// the variance along each. `k` is at most `dim`.
pub fn principal_directions(sample: &[f32], dim: usize, k: usize) -> (Vec<f32>, Vec<f64>) {
    assert!(dim > 0 && k > 0 && k <= dim && sample.len() >= dim);
    let cov = covariance(sample, dim);
    // Columns of q (dim x k, column-major: column c at c * dim), started deterministic.
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut q: Vec<f64> = (0..dim * k)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        })
        .collect();
    orthonormalize(&mut q, dim, k);
    let mut z = vec![0f64; dim * k];
    for _ in 0..ITERATIONS {
        multiply(&cov, &q, &mut z, dim, k);
        std::mem::swap(&mut q, &mut z);
        orthonormalize(&mut q, dim, k);
    }
    // Rayleigh-Ritz: h = q^T C q, its eigenvectors turn q into the ordered directions.
    multiply(&cov, &q, &mut z, dim, k);
    let mut h = vec![0f64; k * k];
    for a in 0..k {
        for b in a..k {
            let v: f64 = q[a * dim..(a + 1) * dim].iter().zip(&z[b * dim..(b + 1) * dim]).map(|(x, y)| x * y).sum();
            h[a * k + b] = v;
            h[b * k + a] = v;
        }
    }
    let (values, vectors) = jacobi_eigen(h, k);
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    let mut out = Vec::with_capacity(k * dim);
    for &e in &order {
        // Direction e = sum_a vectors[a][e] * q_a.
        let mut d = vec![0f64; dim];
        for a in 0..k {
            let c = vectors[a * k + e];
            for (x, &y) in d.iter_mut().zip(&q[a * dim..(a + 1) * dim]) {
                *x += c * y;
            }
        }
        out.extend(d.iter().map(|&x| x as f32));
    }
    (out, order.iter().map(|&e| values[e].max(0.0)).collect())
}

/// The sample's covariance, `dim x dim`, row-major.
fn covariance(sample: &[f32], dim: usize) -> Vec<f64> {
    let rows = sample.len() / dim;
    let mut mean = vec![0f64; dim];
    for row in sample.chunks_exact(dim) {
        for (m, &x) in mean.iter_mut().zip(row) {
            *m += x as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= rows as f64);
    let mut cov = vec![0f64; dim * dim];
    let mut centred = vec![0f64; dim];
    for row in sample.chunks_exact(dim) {
        for ((c, &x), m) in centred.iter_mut().zip(row).zip(&mean) {
            *c = x as f64 - m;
        }
        // The upper triangle, one rank-one update a row; mirrored below.
        for i in 0..dim {
            let ci = centred[i];
            for (o, &cj) in cov[i * dim + i..(i + 1) * dim].iter_mut().zip(&centred[i..]) {
                *o += ci * cj;
            }
        }
    }
    for i in 0..dim {
        for j in i..dim {
            let v = cov[i * dim + j] / rows as f64;
            cov[i * dim + j] = v;
            cov[j * dim + i] = v;
        }
    }
    cov
}

/// `z = C q` for a symmetric `dim x dim` C and `k` columns.
fn multiply(cov: &[f64], q: &[f64], z: &mut [f64], dim: usize, k: usize) {
    for c in 0..k {
        let col = &q[c * dim..(c + 1) * dim];
        for (i, out) in z[c * dim..(c + 1) * dim].iter_mut().enumerate() {
            *out = cov[i * dim..(i + 1) * dim].iter().zip(col).map(|(a, b)| a * b).sum();
        }
    }
}

/// Modified Gram-Schmidt over the `k` columns, twice (once is not enough in floating point
/// when columns are nearly parallel); a column that vanishes is replaced by a unit vector.
fn orthonormalize(q: &mut [f64], dim: usize, k: usize) {
    for _ in 0..2 {
        for c in 0..k {
            let (done, rest) = q.split_at_mut(c * dim);
            let col = &mut rest[..dim];
            for p in 0..c {
                let prev = &done[p * dim..(p + 1) * dim];
                let r: f64 = prev.iter().zip(col.iter()).map(|(a, b)| a * b).sum();
                col.iter_mut().zip(prev).for_each(|(x, &y)| *x -= r * y);
            }
            let norm = col.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm > 1e-300 {
                col.iter_mut().for_each(|x| *x /= norm);
            } else {
                col.fill(0.0);
                col[c % dim] = 1.0;
            }
        }
    }
}

/// Eigenvalues and eigenvectors (column e of the row-major `k x k` result) of a symmetric
/// matrix, by cyclic Jacobi rotations.
fn jacobi_eigen(mut a: Vec<f64>, k: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0f64; k * k];
    for i in 0..k {
        v[i * k + i] = 1.0;
    }
    for _sweep in 0..50 {
        let off: f64 = (0..k).flat_map(|i| (0..k).filter(move |&j| j != i).map(move |j| (i, j))).map(|(i, j)| a[i * k + j].powi(2)).sum();
        let total: f64 = a.iter().map(|x| x * x).sum();
        if off <= 1e-22 * total.max(1e-300) {
            break;
        }
        for p in 0..k {
            for r in p + 1..k {
                let apr = a[p * k + r];
                if apr.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[r * k + r] - a[p * k + p]) / (2.0 * apr);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for i in 0..k {
                    let (aip, air) = (a[i * k + p], a[i * k + r]);
                    a[i * k + p] = c * aip - s * air;
                    a[i * k + r] = s * aip + c * air;
                }
                for i in 0..k {
                    let (api, ari) = (a[p * k + i], a[r * k + i]);
                    a[p * k + i] = c * api - s * ari;
                    a[r * k + i] = s * api + c * ari;
                }
                for i in 0..k {
                    let (vip, vir) = (v[i * k + p], v[i * k + r]);
                    v[i * k + p] = c * vip - s * vir;
                    v[i * k + r] = s * vip + c * vir;
                }
            }
        }
    }
    ((0..k).map(|i| a[i * k + i]).collect(), v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Data stretched along known orthogonal axes: the directions found are those axes, in
    /// order of stretch, and orthonormal.
    #[test]
    fn finds_the_axes_of_most_variance() {
        let dim = 12;
        let mut seed = 7u64;
        let mut rand = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        // Variance along axis j grows with j; axes permuted so order is not index order.
        let scale = |j: usize| [0.1, 3.0, 0.2, 5.0, 0.3, 1.0, 0.05, 2.0, 0.4, 0.01, 0.6, 0.02][j];
        let sample: Vec<f32> = (0..3000).flat_map(|_| (0..dim).map(|j| 10.0 + scale(j) * rand()).collect::<Vec<_>>()).collect();
        let (dirs, var) = principal_directions(&sample, dim, 4);
        for (row, want) in dirs.chunks_exact(dim).zip([3, 1, 7, 5]) {
            assert!(row[want].abs() > 0.99, "{row:?} should be axis {want}");
        }
        for a in 0..4 {
            for b in 0..4 {
                let d: f32 = dirs[a * dim..(a + 1) * dim].iter().zip(&dirs[b * dim..(b + 1) * dim]).map(|(x, y)| x * y).sum();
                assert!((d - if a == b { 1.0 } else { 0.0 }).abs() < 1e-4, "{a}.{b} = {d}");
            }
        }
        assert!(var.windows(2).all(|w| w[0] >= w[1]), "{var:?}");
        assert!((var[0] - 25.0 / 12.0).abs() < 0.2, "{var:?}");
    }
}
