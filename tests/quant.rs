//! Quantized indexes (f16, int8, binary, pq): recall after re-ranking on CI-sized subsets of
//! the shared real data, exact re-ranked distances, and the bad-input rules (training size,
//! PQ shapes). Saving them: tests/quant_persistence.rs.

mod common;
use common::*;
use omendb::quant::raw::RawStorage;
use omendb::quant::Dtype;
use omendb::{Error, Index, IndexOptions, Keys};

const N_QUERY: usize = 200;

type Data = Subset;

fn mnist(n: usize) -> Data {
    Subset::mnist(n, N_QUERY)
}

fn minilm(n: usize) -> Data {
    Subset::minilm(n, N_QUERY)
}

fn build(d: &Data, dtype: Dtype, rerank: usize, raw_storage: RawStorage) -> Index {
    let index = Index::new(IndexOptions { metric: d.metric, dtype, rerank, raw_storage, ..Default::default() }).unwrap();
    let keys: Vec<u64> = (0..(d.base.len() / d.dim) as u64).collect();
    index.add(Keys::U64(&keys), &d.base).unwrap();
    index
}

fn recall_of(index: &Index, d: &Data, ef: usize) -> f64 {
    let found: Vec<Vec<u64>> = d
        .queries
        .chunks_exact(d.dim)
        .map(|q| index.search(q, 10, Some(ef)).unwrap().iter().map(|h| h.key.parse().unwrap()).collect())
        .collect();
    recall(&found, &d.truth, 10)
}

fn check(d: &Data, name: &str, dtype: Dtype, rerank: usize, ef: usize, min_recall: f64) {
    let index = build(d, dtype, rerank, RawStorage::Memory);
    let r = recall_of(&index, d, ef);
    let f32_bytes = d.dim * 4;
    eprintln!(
        "{name} {} rerank={rerank} ef={ef}: recall@10 = {r:.4}, {} bytes/vector in the graph (f32 vector alone: {f32_bytes})",
        dtype.name(),
        index.memory_bytes() / index.len()
    );
    assert!(r >= min_recall, "{name} {}: recall@10 = {r}", dtype.name());
    // Re-ranked distances are exact.
    let q = &d.queries[..d.dim];
    for h in index.search(q, 10, Some(ef)).unwrap() {
        let i: usize = h.key.parse().unwrap();
        let want = exact_distance(d.metric, q, &d.base[i * d.dim..(i + 1) * d.dim]);
        assert!(distance_close(h.distance, want), "{} {}: {} vs {want}", name, dtype.name(), h.distance);
    }
}

#[test]
fn mnist_recall_after_reranking() {
    let d = mnist(5_000);
    check(&d, "mnist 5K", Dtype::F16, 2, 64, 0.95);
    check(&d, "mnist 5K", Dtype::Int8, 3, 64, 0.95);
    check(&d, "mnist 5K", Dtype::Binary, 10, 100, 0.90);
}

#[test]
fn minilm_recall_after_reranking() {
    let d = minilm(5_000);
    check(&d, "minilm 5K", Dtype::F16, 2, 64, 0.95);
    check(&d, "minilm 5K", Dtype::Int8, 3, 64, 0.95);
    check(&d, "minilm 5K", Dtype::Binary, 10, 100, 0.90);
    check(&d, "minilm 5K", Dtype::Pq, 8, 100, 0.90);
}

#[test]
fn full_precision_vectors_in_a_file() {
    let d = minilm(2_000);
    let index = build(&d, Dtype::Int8, 4, RawStorage::File(std::env::temp_dir()));
    let mem = build(&d, Dtype::Int8, 4, RawStorage::Memory);
    assert!(index.memory_bytes() + 2_000 * d.dim * 4 <= mem.memory_bytes(), "file-backed vectors are not counted as memory");
    assert!(recall_of(&index, &d, 64) >= 0.95);
    let e = Index::new(IndexOptions {
        dtype: Dtype::Int8,
        raw_storage: RawStorage::File("/nonexistent/omendb".into()),
        ..Default::default()
    })
    .unwrap()
    .add(Keys::U64(&(0..300u64).collect::<Vec<_>>()), &random_vectors(300, 8, 1))
    .unwrap_err();
    assert!(matches!(e, Error::Io(_)), "{e:?}");
}

#[test]
fn upsert_and_remove_keep_quantized_results_exact() {
    let dim = 32;
    for dtype in [Dtype::F16, Dtype::Int8, Dtype::Binary] {
        let index = Index::new(IndexOptions { dim, dtype, ..Default::default() }).unwrap();
        let base = random_vectors(2_000, dim, 7);
        let keys: Vec<u64> = (0..2_000).collect();
        index.add(Keys::U64(&keys), &base).unwrap();
        // Move key 5 onto the first query; remove key 6.
        let q = random_vectors(1, dim, 99);
        index.upsert(Keys::U64(&[5]), &q).unwrap();
        index.remove(omendb::KeyRef::U64(6)).unwrap();
        let hits = index.search(&q, 5, Some(64)).unwrap();
        assert_eq!(hits[0].key, "5", "{}", dtype.name());
        assert!(hits[0].distance.abs() < 1e-6, "{}: {}", dtype.name(), hits[0].distance);
        assert!(hits.iter().all(|h| h.key != "6"));
        index.check_invariants().unwrap();
    }
}

#[test]
fn training_needs_enough_vectors_in_the_first_batch() {
    for (dtype, need) in [(Dtype::Int8, 256), (Dtype::Pq, 1024)] {
        let index = Index::new(IndexOptions { dim: 128, dtype, ..Default::default() }).unwrap();
        let small = random_vectors(need - 1, 128, 3);
        let keys: Vec<u64> = (0..(need - 1) as u64).collect();
        let e = index.add(Keys::U64(&keys), &small).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
        assert!(e.to_string().contains(&format!("at least {need} vectors")), "{e}");
        assert_eq!(index.len(), 0);
        // A batch that is large enough trains the codec; later small batches are fine.
        let big = random_vectors(need, 128, 4);
        let keys: Vec<u64> = (0..need as u64).collect();
        index.add(Keys::U64(&keys), &big).unwrap();
        index.add(Keys::U64(&[1_000_000]), &random_vectors(1, 128, 5)).unwrap();
        assert_eq!(index.len(), need + 1);
    }
}

#[test]
fn pq_shapes_are_checked() {
    let e = Index::new(IndexOptions { dim: 130, dtype: Dtype::Pq, ..Default::default() }).err().unwrap();
    assert!(e.to_string().contains("does not divide dim 130"), "{e}");
    let e = Index::new(IndexOptions { dim: 128, dtype: Dtype::Pq, pq_m: 12, ..Default::default() }).err().unwrap();
    assert!(e.to_string().contains("12 sub-spaces do not divide dim 128"), "{e}");
    let e = Index::new(IndexOptions { dim: 64, dtype: Dtype::Pq, ..Default::default() }).err().unwrap();
    assert!(e.to_string().contains("at least 128"), "{e}");
    let e = Index::new(IndexOptions { dim: 128, dtype: Dtype::Int8, pq_m: 16, ..Default::default() }).err().unwrap();
    assert!(e.to_string().contains("pq_m applies to dtype pq only"), "{e}");
    // Dimensions taken from the first batch are checked then.
    let index = Index::new(IndexOptions { dtype: Dtype::Pq, pq_m: 7, ..Default::default() }).unwrap();
    let e = index.add(Keys::U64(&(0..1024u64).collect::<Vec<_>>()), &random_vectors(1024, 128, 1)).unwrap_err();
    assert!(e.to_string().contains("7 sub-spaces do not divide dim 128"), "{e}");
    let e = Index::new(IndexOptions { rerank: 0, ..Default::default() }).err().unwrap();
    assert!(e.to_string().contains("rerank"), "{e}");
}

#[test]
fn dtype_names_round_trip() {
    for d in [Dtype::F32, Dtype::F16, Dtype::Int8, Dtype::Binary, Dtype::Pq] {
        assert_eq!(Dtype::from_name(d.name()).unwrap(), d);
        assert_eq!(Dtype::from_u32(d as u32).unwrap(), d);
    }
    assert!(Dtype::from_u32(5).is_err());
    assert!(Dtype::from_name("int4").is_err());
}
