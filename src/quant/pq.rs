//! Product quantization: the vector is cut into `m` sub-vectors of `dim / m` components, each
//! stored as the byte naming the nearest of 256 centroids learned by k-means on the first
//! batch (per sub-space). A query gets a table of its distance to every centroid of every
//! sub-space (`m x 256` floats); its distance to a code is then `m` table look-ups ("ADC").
//! Between two codes (while building the graph) the sub-distances come from per-sub-space
//! 256 x 256 centroid tables.
//!
//! Rules: `dim >= 128`; `m` must divide `dim` (0 picks `dim / 8` when 8 divides it); the first
//! batch must hold at least [`MIN_TRAIN`] vectors. Each is checked with a clear error.

use crate::error::{Error, Result};
use crate::metric::Metric;

/// Fewest vectors the first batch must hold to train the centroids.
pub const MIN_TRAIN: usize = 1024;
/// Smallest dimension PQ accepts.
pub const MIN_DIM: usize = 128;
/// Centroids per sub-space (one byte per sub-space).
pub const CENTROIDS: usize = 256;
/// Training uses at most this many vectors (a strided sample of the first batch).
const MAX_TRAIN: usize = 20_000;
/// k-means iterations.
const ITERATIONS: usize = 12;

/// The default number of sub-spaces for `dim`: dim / 8 (8 components per byte), if 8 divides dim.
pub fn default_m(dim: usize) -> Option<usize> {
    dim.is_multiple_of(8).then_some(dim / 8)
}

/// Checks that PQ can cut `dim` dimensions into `m` sub-spaces (0 = [`default_m`]); returns m.
pub fn check_shape(dim: usize, m: usize) -> Result<usize> {
    if dim < MIN_DIM {
        return Err(Error::InvalidArgument(format!("pq needs at least {MIN_DIM} dimensions, the index has {dim}")));
    }
    match m {
        0 => default_m(dim)
            .ok_or_else(|| Error::InvalidArgument(format!("pq: 8 does not divide dim {dim}; set pq_m to a divisor of {dim}"))),
        m if m > dim || !dim.is_multiple_of(m) => Err(Error::InvalidArgument(format!("pq: {m} sub-spaces do not divide dim {dim}"))),
        m => Ok(m),
    }
}

/// Trained product quantizer.
#[derive(Debug)]
pub struct PqCodec {
    dim: usize,
    m: usize,
    dsub: usize,
    l2: bool,
    /// `m x 256 x dsub` centroids.
    centroids: Vec<f32>,
    /// `m x 256 x 256` distances between centroids of one sub-space (L2: squared distance;
    /// dot: -dot, so that 1 + the sum is 1 - x.y).
    pair: Vec<f32>,
}

impl PqCodec {
    /// Trains `m` (0 = [`default_m`]) sub-quantizers on `sample`.
    pub fn train(dim: usize, metric: Metric, sample: &[f32], m: usize) -> Result<PqCodec> {
        let m = check_shape(dim, m)?;
        let dsub = dim / m;
        let n = sample.len() / dim;
        let stride = n.div_ceil(MAX_TRAIN).max(1);
        let rows: Vec<&[f32]> = sample.chunks_exact(dim).step_by(stride).collect();
        let mut centroids = vec![0f32; m * CENTROIDS * dsub];
        use rayon::prelude::*;
        centroids.par_chunks_exact_mut(CENTROIDS * dsub).enumerate().for_each(|(j, out)| {
            let sub: Vec<f32> = rows.iter().flat_map(|r| r[j * dsub..(j + 1) * dsub].iter().copied()).collect();
            kmeans(&sub, dsub, out, j as u64);
        });
        Ok(Self::from_centroids(dim, metric, m, centroids))
    }

    /// The codec with these centroids (`m x 256 x dim / m`, as [`PqCodec::centroids`] gives
    /// them): rebuilds the centroid-pair tables, so it equals the codec they came from. The
    /// caller checked the shape.
    pub fn from_centroids(dim: usize, metric: Metric, m: usize, centroids: Vec<f32>) -> PqCodec {
        let dsub = dim / m;
        let l2 = metric == Metric::L2;
        let mut pair = vec![0f32; m * CENTROIDS * CENTROIDS];
        for j in 0..m {
            let cj = &centroids[j * CENTROIDS * dsub..(j + 1) * CENTROIDS * dsub];
            for a in 0..CENTROIDS {
                for b in 0..CENTROIDS {
                    let (x, y) = (&cj[a * dsub..(a + 1) * dsub], &cj[b * dsub..(b + 1) * dsub]);
                    pair[(j * CENTROIDS + a) * CENTROIDS + b] = sub_distance(l2, x, y);
                }
            }
        }
        PqCodec { dim, m, dsub, l2, centroids, pair }
    }

    /// The trained centroids, `m x 256 x dim / m` (what a saved index keeps).
    pub fn centroids(&self) -> &[f32] {
        &self.centroids
    }

    /// Bytes held: centroids and centroid-pair tables.
    pub fn memory_bytes(&self) -> usize {
        (self.centroids.len() + self.pair.len()) * 4
    }

    /// Sub-spaces.
    pub fn m(&self) -> usize {
        self.m
    }

    /// Words per code: m bytes rounded up.
    pub fn words(&self) -> usize {
        self.m.div_ceil(4)
    }

    fn centroid(&self, j: usize, c: usize) -> &[f32] {
        let at = (j * CENTROIDS + c) * self.dsub;
        &self.centroids[at..at + self.dsub]
    }

    /// Writes the nearest centroid of each sub-vector of `v` (by L2, whatever the metric).
    pub fn encode(&self, v: &[f32], out: &mut [f32]) {
        let bytes = super::bytes_mut(out);
        bytes.fill(0);
        for j in 0..self.m {
            let x = &v[j * self.dsub..(j + 1) * self.dsub];
            let best = (0..CENTROIDS)
                .map(|c| (crate::distance::scalar::l2sq(x, self.centroid(j, c)), c))
                .min_by(|a, b| a.0.total_cmp(&b.0))
                .map_or(0, |(_, c)| c);
            bytes[j] = best as u8;
        }
    }

    /// The per-query table: `out[j * 256 + c]` = distance of sub-vector j of `q` to centroid c.
    pub fn lookup_table(&self, q: &[f32], out: &mut Vec<f32>) {
        out.clear();
        for j in 0..self.m {
            let x = &q[j * self.dsub..(j + 1) * self.dsub];
            out.extend((0..CENTROIDS).map(|c| sub_distance(self.l2, x, self.centroid(j, c))));
        }
    }

    /// Distance from a lookup table (`m * 256` floats) or a code `a` to code `b`.
    #[inline]
    pub fn distance(&self, a: &[f32], b: &[f32]) -> f32 {
        let cb = &super::bytes(b)[..self.m];
        let sum = if a.len() == self.m * CENTROIDS {
            adc(a, cb)
        } else {
            let ca = &super::bytes(a)[..self.m];
            let mut s = 0f32;
            for (j, (&x, &y)) in ca.iter().zip(cb).enumerate() {
                s += self.pair[(j * CENTROIDS + x as usize) * CENTROIDS + y as usize];
            }
            s
        };
        if self.l2 {
            sum
        } else {
            1.0 + sum
        }
    }

    /// Dimensions.
    pub fn dim(&self) -> usize {
        self.dim
    }
}

/// Sum of `table[j * 256 + code[j]]`, four independent sums to overlap the loads.
#[inline]
pub fn adc(table: &[f32], code: &[u8]) -> f32 {
    let mut acc = [0f32; 4];
    let mut chunks = code.chunks_exact(4);
    let mut j = 0;
    for c in &mut chunks {
        for (lane, &b) in c.iter().enumerate() {
            acc[lane] += table[(j + lane) * CENTROIDS + b as usize];
        }
        j += 4;
    }
    for (lane, &b) in chunks.remainder().iter().enumerate() {
        acc[lane] += table[(j + lane) * CENTROIDS + b as usize];
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// Squared L2 between two sub-vectors, or minus their dot product.
fn sub_distance(l2: bool, x: &[f32], y: &[f32]) -> f32 {
    if l2 {
        crate::distance::scalar::l2sq(x, y)
    } else {
        -crate::distance::scalar::dot(x, y)
    }
}

/// Lloyd's k-means of `points` (`d` wide) into `out` (256 centroids), seeded by a strided pick.
/// Empty clusters take the point farthest from its centroid.
fn kmeans(points: &[f32], d: usize, out: &mut [f32], seed: u64) {
    let n = points.len() / d;
    let k = CENTROIDS;
    for c in 0..k {
        let p = ((c as u64 * 2_654_435_761 + seed) % n as u64) as usize;
        out[c * d..(c + 1) * d].copy_from_slice(&points[p * d..(p + 1) * d]);
    }
    let mut assign = vec![0usize; n];
    let mut dist = vec![0f32; n];
    for _ in 0..ITERATIONS {
        for (i, p) in points.chunks_exact(d).enumerate() {
            let (best, bd) = (0..k)
                .map(|c| (c, crate::distance::scalar::l2sq(p, &out[c * d..(c + 1) * d])))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap_or((0, 0.0));
            assign[i] = best;
            dist[i] = bd;
        }
        let mut sums = vec![0f64; k * d];
        let mut counts = vec![0usize; k];
        for (i, p) in points.chunks_exact(d).enumerate() {
            counts[assign[i]] += 1;
            for (s, &x) in sums[assign[i] * d..(assign[i] + 1) * d].iter_mut().zip(p) {
                *s += x as f64;
            }
        }
        for c in 0..k {
            if counts[c] > 0 {
                for (o, s) in out[c * d..(c + 1) * d].iter_mut().zip(&sums[c * d..(c + 1) * d]) {
                    *o = (*s / counts[c] as f64) as f32;
                }
            } else if let Some((far, _)) = dist.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)) {
                out[c * d..(c + 1) * d].copy_from_slice(&points[far * d..(far + 1) * d]);
                dist[far] = 0.0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_shapes_get_clear_errors() {
        let data = vec![0.5f32; 2000 * 130];
        let e = PqCodec::train(130, Metric::L2, &data, 0).unwrap_err();
        assert!(e.to_string().contains("does not divide"), "{e}");
        let e = PqCodec::train(130, Metric::L2, &data, 7).unwrap_err();
        assert!(e.to_string().contains("do not divide"), "{e}");
        let e = PqCodec::train(64, Metric::L2, &data[..2000 * 64], 0).unwrap_err();
        assert!(e.to_string().contains("at least 128"), "{e}");
    }

    #[test]
    fn adc_equals_the_distance_to_the_decoded_vector() {
        let dim = 128;
        let data: Vec<f32> = (0..1500 * dim).map(|i| ((i * 2_654_435_761usize) % 1000) as f32 / 1000.0).collect();
        let pq = PqCodec::train(dim, Metric::L2, &data, 16).unwrap();
        let q = &data[..dim];
        let mut table = Vec::new();
        pq.lookup_table(q, &mut table);
        for row in data.chunks_exact(dim).skip(1).take(50) {
            let mut code = vec![0f32; pq.words()];
            pq.encode(row, &mut code);
            let bytes = crate::quant::bytes(&code);
            let decoded: Vec<f32> = (0..16).flat_map(|j| pq.centroid(j, bytes[j] as usize).to_vec()).collect();
            let want = crate::distance::scalar::l2sq(q, &decoded);
            let got = pq.distance(&table, &code);
            assert!((got - want).abs() <= 1e-3 * (1.0 + want), "{got} vs {want}");
        }
    }
}
