//! Shared helpers for integration tests: TEXMEX readers, brute-force ground truth, recall.
#![allow(dead_code)]

use std::path::PathBuf;

/// `../shared/data` beside the repository, or `$OMENDB_DATA`.
pub fn data_dir() -> PathBuf {
    std::env::var_os("OMENDB_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"))
}

/// Reads up to `limit` records of a `.fvecs` / `.bvecs` file as f32 rows; returns (flat, dim).
pub fn read_vecs(path: &std::path::Path, limit: usize) -> (Vec<f32>, usize) {
    let raw = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let dim = i32::from_le_bytes(raw[0..4].try_into().unwrap()) as usize;
    let bytes_per = if path.extension().is_some_and(|e| e == "bvecs") { 1 } else { 4 };
    let rec = 4 + dim * bytes_per;
    let n = (raw.len() / rec).min(limit);
    let mut out = Vec::with_capacity(n * dim);
    for r in 0..n {
        let body = &raw[r * rec + 4..(r + 1) * rec];
        if bytes_per == 1 {
            out.extend(body.iter().map(|&b| b as f32));
        } else {
            out.extend(body.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())));
        }
    }
    (out, dim)
}

/// Exact top-k ids by brute force (cosine when `cosine`, else L2), ties by lower id.
pub fn brute_force(base: &[f32], queries: &[f32], dim: usize, k: usize, cosine: bool) -> Vec<Vec<u64>> {
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64) * (*x as f64)).sum::<f64>().sqrt();
    let base_norms: Vec<f64> = base.chunks_exact(dim).map(norm).collect();
    queries
        .chunks_exact(dim)
        .map(|q| {
            let qn = norm(q);
            let mut d: Vec<(f64, u64)> = base
                .chunks_exact(dim)
                .enumerate()
                .map(|(i, x)| {
                    let v = if cosine {
                        let dot: f64 = q.iter().zip(x).map(|(a, b)| *a as f64 * *b as f64).sum();
                        1.0 - dot / (qn * base_norms[i])
                    } else {
                        q.iter().zip(x).map(|(a, b)| (*a as f64 - *b as f64).powi(2)).sum()
                    };
                    (v, i as u64)
                })
                .collect();
            d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            d.truncate(k);
            d.into_iter().map(|p| p.1).collect()
        })
        .collect()
}

/// Fraction of true top-k ids found.
pub fn recall(found: &[Vec<u64>], truth: &[Vec<u64>], k: usize) -> f64 {
    let mut hits = 0usize;
    for (f, t) in found.iter().zip(truth) {
        let t: std::collections::HashSet<_> = t.iter().take(k).collect();
        hits += f.iter().take(k).filter(|x| t.contains(x)).count();
    }
    hits as f64 / (k * truth.len()) as f64
}

/// Deterministic pseudo-random floats in [-0.5, 0.5).
pub fn random_vectors(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n * dim)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}

/// Deterministic floats in [-1, 1) from (seed, i) by splitmix64, exact on every platform: the
/// generator the committed fixture files were built with (`persistence.rs`, `fixtures.rs`).
pub fn splitmix_vectors(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    (0..(n * dim) as u64)
        .map(|i| {
            let mut z = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(i.wrapping_mul(0xBF58_476D_1CE4_E5B9));
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// The index's distance between `a` and `b`, computed exactly in f64: squared L2,
/// 1 - a.b (inner product), or 1 - cos(a, b).
pub fn exact_distance(metric: omendb::Metric, a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    match metric {
        omendb::Metric::L2 => a.iter().zip(b).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum(),
        omendb::Metric::InnerProduct => 1.0 - dot,
        omendb::Metric::Cosine => {
            let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
            let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
            1.0 - dot / (na * nb)
        }
    }
}

/// Exact top-k keys of `query` among `(key, vector)` records, ties by lower key.
pub fn brute_force_keyed<'a>(
    records: impl IntoIterator<Item = (u64, &'a [f32])>,
    query: &[f32],
    k: usize,
    metric: omendb::Metric,
) -> Vec<u64> {
    let mut d: Vec<(f64, u64)> = records.into_iter().map(|(key, v)| (exact_distance(metric, query, v), key)).collect();
    d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    d.truncate(k);
    d.into_iter().map(|p| p.1).collect()
}

/// Panics unless `hits` are sorted by distance (non-decreasing) and hold no key twice.
pub fn assert_sorted_unique(hits: &[omendb::Hit<String>]) {
    for w in hits.windows(2) {
        assert!(w[0].distance <= w[1].distance, "hits out of order: {:?} then {:?}", w[0], w[1]);
    }
    let mut keys: Vec<&str> = hits.iter().map(|h| h.key.as_str()).collect();
    keys.sort_unstable();
    let n = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), n, "a key appears twice in one result list");
}

/// Whether `got` is within the float error of an f32 kernel of the exact distance `want`.
pub fn distance_close(got: f32, want: f64) -> bool {
    (got as f64 - want).abs() <= 1e-4 + 1e-4 * want.abs()
}

/// Recomputes every checksum of a (modified) index file, so a test reaches the structural
/// checks.
pub fn reseal(bytes: &mut [u8]) {
    let count = u32::from_le_bytes(bytes[24..28].try_into().unwrap()) as usize;
    for i in 0..count {
        let e = 64 + i * 32;
        let off = u64::from_le_bytes(bytes[e + 8..e + 16].try_into().unwrap()) as usize;
        let len = u64::from_le_bytes(bytes[e + 16..e + 24].try_into().unwrap()) as usize;
        let crc = crc32c::crc32c(&bytes[off..off + len]);
        bytes[e + 24..e + 28].copy_from_slice(&crc.to_le_bytes());
    }
    let table_crc = crc32c::crc32c(&bytes[64..64 + count * 32]);
    bytes[28..32].copy_from_slice(&table_crc.to_le_bytes());
    let crc = crc32c::crc32c(&bytes[..60]);
    bytes[60..64].copy_from_slice(&crc.to_le_bytes());
}

/// The offset and length of section `name` of an index file.
pub fn section(bytes: &[u8], name: &[u8; 4]) -> (usize, usize) {
    let layout = omendb::storage::format::read_layout(bytes).unwrap();
    let s = layout.sections.iter().find(|s| &s.kind == name).unwrap();
    (s.offset as usize, s.len as usize)
}

/// The first `n` base vectors and `nq` queries of a shared data set, with their exact top 10
/// by brute force (the shipped ground truth holds only for the whole base).
pub struct Subset {
    pub base: Vec<f32>,
    pub queries: Vec<f32>,
    pub dim: usize,
    pub truth: Vec<Vec<u64>>,
    pub metric: omendb::Metric,
}

impl Subset {
    /// `folder` under `data_dir()`, its `base` and `query` files.
    pub fn read(folder: &str, base: &str, query: &str, n: usize, nq: usize, metric: omendb::Metric) -> Subset {
        let dir = data_dir().join(folder);
        let (base, dim) = read_vecs(&dir.join(base), n);
        let (queries, _) = read_vecs(&dir.join(query), nq);
        let truth = brute_force(&base, &queries, dim, 10, metric == omendb::Metric::Cosine);
        Subset { base, queries, dim, truth, metric }
    }

    /// glove-50-angular (cosine).
    pub fn glove(n: usize, nq: usize) -> Subset {
        Subset::read("glove-50-angular", "base.fvecs", "query.fvecs", n, nq, omendb::Metric::Cosine)
    }

    /// mnist-784-euclidean (L2).
    pub fn mnist(n: usize, nq: usize) -> Subset {
        Subset::read("mnist-784-euclidean", "base.bvecs", "query.bvecs", n, nq, omendb::Metric::L2)
    }

    /// npl-ir's MiniLM embeddings (384-d, cosine): documents as the base, its queries.
    pub fn minilm(n: usize, nq: usize) -> Subset {
        Subset::read("npl-ir", "corpus_minilm.fvecs", "queries_minilm.fvecs", n, nq, omendb::Metric::Cosine)
    }
}
