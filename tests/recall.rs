//! Recall against exact ground truth on the shared real data sets (CI-sized subsets: the
//! first `N_BASE` base vectors and `N_QUERY` queries, truth recomputed by brute force).

mod common;
use common::*;
use omendb::{Index, IndexOptions, Keys, Metric};

const N_QUERY: usize = 300;

fn run(folder: &str, base_file: &str, query_file: &str, n_base: usize, metric: Metric, ef: usize) -> f64 {
    let dir = data_dir().join(folder);
    let (base, dim) = read_vecs(&dir.join(base_file), n_base);
    let (queries, qdim) = read_vecs(&dir.join(query_file), N_QUERY);
    assert_eq!(dim, qdim);
    let truth = brute_force(&base, &queries, dim, 10, metric == Metric::Cosine);
    let index = Index::new(IndexOptions { metric, ..Default::default() }).unwrap();
    let keys: Vec<u64> = (0..(base.len() / dim) as u64).collect();
    index.add(Keys::U64(&keys), &base).unwrap();
    assert_eq!(index.len(), keys.len());
    let found: Vec<Vec<u64>> = queries
        .chunks_exact(dim)
        .map(|q| index.search(q, 10, Some(ef)).unwrap().iter().map(|h| h.key.parse().unwrap()).collect())
        .collect();
    recall(&found, &truth, 10)
}

#[test]
fn glove_cosine_recall_at_10() {
    let r = run("glove-50-angular", "base.fvecs", "query.fvecs", 30_000, Metric::Cosine, 64);
    eprintln!("glove-50-angular 30K, ef=64: recall@10 = {r:.4}");
    assert!(r >= 0.95, "recall@10 = {r}");
}

#[test]
fn mnist_l2_recall_at_10() {
    let r = run("mnist-784-euclidean", "base.bvecs", "query.bvecs", 10_000, Metric::L2, 32);
    eprintln!("mnist-784-euclidean 10K, ef=32: recall@10 = {r:.4}");
    assert!(r >= 0.95, "recall@10 = {r}");
}
