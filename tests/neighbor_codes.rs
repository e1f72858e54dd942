//! The neighbour codes option (`IndexOptions::neighbor_codes`, issue 26): recall and exact
//! distances on CI-sized subsets of the shared real data, the codes kept by a save (format
//! version 8: a load answers exactly as before), a durable directory, the mapped open (no
//! codes, f32 searches), the bad-input rules, and damaged version-8 files.

mod common;
use common::*;
use omendb::index::options_must_match;
use omendb::quant::Dtype;
use omendb::{Durability, Error, Index, IndexOptions, Keys};

const N_QUERY: usize = 100;

type Data = Subset;

fn glove(n: usize) -> Data {
    Subset::glove(n, N_QUERY)
}

fn mnist(n: usize) -> Data {
    Subset::mnist(n, N_QUERY)
}

/// A fresh directory under the system's temporary one, removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("omendb-codes-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }

    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn options(d: &Data, bits: u8) -> IndexOptions {
    IndexOptions { metric: d.metric, neighbor_codes: bits, ..Default::default() }
}

fn build(d: &Data, bits: u8) -> Index {
    let index = Index::new(options(d, bits)).unwrap();
    let keys: Vec<u64> = (0..(d.base.len() / d.dim) as u64).collect();
    index.add(Keys::U64(&keys), &d.base).unwrap();
    index
}

/// Every query's hits (key and distance), at `ef`.
fn answers(index: &Index, d: &Data, ef: usize) -> Vec<Vec<(String, f32)>> {
    d.queries
        .chunks_exact(d.dim)
        .map(|q| index.search(q, 10, Some(ef)).unwrap().into_iter().map(|h| (h.key, h.distance)).collect())
        .collect()
}

fn recall_of(found: &[Vec<(String, f32)>], d: &Data) -> f64 {
    let keys: Vec<Vec<u64>> = found.iter().map(|hits| hits.iter().map(|(k, _)| k.parse().unwrap()).collect()).collect();
    recall(&keys, &d.truth, 10)
}

fn in_use(index: &Index) -> bool {
    index.stats()["neighbor_codes_in_use"].as_bool().unwrap()
}

/// Recall at ef 64 is close to the f32 index's, every distance returned is exact, and the
/// blocks cost memory.
fn recall_and_exact_distances(d: &Data, bits: u8, min_recall: f64) {
    let plain = build(d, 0);
    let coded = build(d, bits);
    assert!(in_use(&coded) && !in_use(&plain));
    assert_eq!(coded.stats()["neighbor_codes"], bits);
    let (a, b) = (answers(&plain, d, 64), answers(&coded, d, 64));
    let (r_plain, r_coded) = (recall_of(&a, d), recall_of(&b, d));
    eprintln!(
        "{bits}-bit codes: recall@10 {r_coded:.4} (f32 {r_plain:.4}), {} bytes/vector (f32 {})",
        coded.memory_bytes() / coded.len(),
        plain.memory_bytes() / plain.len()
    );
    assert!(r_coded >= min_recall, "recall {r_coded}");
    assert!(coded.memory_bytes() > plain.memory_bytes());
    for (q, hits) in d.queries.chunks_exact(d.dim).zip(&b) {
        for (key, dist) in hits {
            let i: usize = key.parse().unwrap();
            let want = exact_distance(d.metric, q, &d.base[i * d.dim..(i + 1) * d.dim]);
            assert!(distance_close(*dist, want), "key {key}: {dist} vs {want}");
        }
    }
}

#[test]
fn glove_8_bit_recall_and_exact_distances() {
    recall_and_exact_distances(&glove(20_000), 8, 0.97);
}

#[test]
fn mnist_4_bit_recall_and_exact_distances() {
    recall_and_exact_distances(&mnist(5_000), 4, 0.97);
}

#[test]
fn a_load_answers_as_the_saved_index_did() {
    // Each node keeps its own code (the default layout), at 50 and 784 dimensions. (The
    // blocks beside the links are tested in hnsw::search.)
    let glove = glove(5_000);
    load_answers_as_saved(&glove, 8, "per_node");
    load_answers_as_saved(&glove, 4, "per_node");
    load_answers_as_saved(&mnist(3_000), 4, "per_node");
}

fn load_answers_as_saved(d: &Data, bits: u8, layout: &str) {
    let dir = TempDir::new(&format!("load{bits}{layout}"));
    let n = d.base.len() / d.dim;
    // The codes are learned from the first batch; a load must not learn them again from the
    // first 4,096 records it finds. Then removes, a repair, and new records in the freed
    // slots (each slot's code must follow its new vector).
    let index = Index::new(options(d, bits)).unwrap();
    let keys: Vec<u64> = (0..n as u64 + 300).collect();
    let fresh: Vec<f32> = d.base[..300 * d.dim].iter().map(|x| x * 0.5 + 0.01).collect();
    index.add(Keys::U64(&keys[..1_000]), &d.base[..1_000 * d.dim]).unwrap();
    index.add(Keys::U64(&keys[1_000..n]), &d.base[1_000 * d.dim..]).unwrap();
    assert_eq!(index.stats()["neighbor_codes_layout"], layout);
    index.remove_batch(Keys::U64(&keys[..400])).unwrap();
    index.compact();
    let slots = index.stats()["slots"].as_u64().unwrap();
    index.add(Keys::U64(&keys[n..]), &fresh).unwrap();
    assert_eq!(index.stats()["slots"].as_u64().unwrap(), slots, "the new records reuse freed slots");
    index.check_invariants().unwrap();
    let path = dir.path().join(format!("codes{bits}.omen"));
    index.save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 8, "format version");
    let before = answers(&index, d, 32);
    let loaded = Index::load(&path).unwrap();
    assert!(in_use(&loaded));
    assert_eq!(loaded.options().neighbor_codes, bits);
    assert_eq!(loaded.stats()["neighbor_codes_layout"], layout);
    assert_eq!(answers(&loaded, d, 32), before, "{bits} bits, {layout}");
    loaded.check_invariants().unwrap();
    // Saved again, the same bytes.
    let again = dir.path().join("again.omen");
    loaded.save(&again).unwrap();
    assert_eq!(std::fs::read(&again).unwrap(), bytes);

    // Mapped: the codes one per node go to memory beside the mapping, derived from its
    // vectors at open, so the same graph, codes and search answer as the loaded index did.
    let mapped = Index::open(&path).unwrap();
    assert!(in_use(&mapped));
    assert_eq!(mapped.stats()["neighbor_codes_layout"], "per_node");
    assert_eq!(answers(&mapped, d, 32), before, "mapped, {bits} bits");
    assert_eq!(mapped.to_bytes().unwrap(), bytes, "mapped, saved again");
}

#[test]
fn codes_learned_after_a_load_of_a_small_index() {
    // Saved with fewer records than the codes learn from: NCOD is empty, and the loaded index
    // learns them once it has enough, as the saved one would have.
    let d = glove(2_000);
    let dir = TempDir::new("small");
    let index = Index::new(options(&d, 8)).unwrap();
    let first = 100;
    index.add(Keys::U64(&(0..first as u64).collect::<Vec<_>>()), &d.base[..first * d.dim]).unwrap();
    assert!(!in_use(&index));
    let path = dir.path().join("small.omen");
    index.save(&path).unwrap();
    let loaded = Index::load(&path).unwrap();
    assert!(!in_use(&loaded));
    let rest: Vec<u64> = (first as u64..2_000).collect();
    loaded.add(Keys::U64(&rest), &d.base[first * d.dim..]).unwrap();
    assert!(in_use(&loaded));
    loaded.check_invariants().unwrap();
    assert!(recall_of(&answers(&loaded, &d, 64), &d) >= 0.95);
}

#[test]
fn a_durable_directory_keeps_the_codes() {
    let d = glove(3_000);
    let dir = TempDir::new("durable");
    let path = dir.path().join("db");
    let opts = options(&d, 4);
    let keys: Vec<u64> = (0..3_000).collect();
    let before = {
        let index = Index::open_dir(&path, options_must_match(&opts, &[]), Durability::default()).unwrap();
        // The codes are learned from the first batch; the checkpoint holds all 3,000 records
        // and must keep those codes (a reopening that learned them again from the first
        // 3,000 would answer differently).
        index.add(Keys::U64(&keys[..300]), &d.base[..300 * d.dim]).unwrap();
        index.add(Keys::U64(&keys[300..]), &d.base[300 * d.dim..]).unwrap();
        index.checkpoint().unwrap();
        assert!(in_use(&index));
        answers(&index, &d, 32)
    };
    let index = Index::open_dir(&path, options_must_match(&opts, &[]), Durability::default()).unwrap();
    assert!(in_use(&index));
    assert_eq!(answers(&index, &d, 32), before);
    // Removes only in the log: replayed on reopening, over the checkpoint's codes.
    index.remove_batch(Keys::U64(&keys[..100])).unwrap();
    drop(index);
    let index = Index::open_dir(&path, options_must_match(&opts, &[]), Durability::default()).unwrap();
    assert!(in_use(&index));
    assert_eq!(index.len(), 2_900);
    index.check_invariants().unwrap();
    drop(index);
    // Asking for other codes names the conflict.
    let other = IndexOptions { neighbor_codes: 8, ..opts };
    match Index::open_dir(&path, options_must_match(&other, &["neighbor_codes"]), Durability::default()) {
        Err(Error::InvalidArgument(m)) => assert!(m.contains("neighbor_codes 4"), "{m}"),
        other => panic!("expected a conflict, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn bad_neighbor_code_options_are_refused() {
    for bits in [1u8, 2, 7, 16] {
        match Index::new(IndexOptions { neighbor_codes: bits, ..Default::default() }) {
            Err(Error::InvalidArgument(m)) => assert!(m.contains("0, 4 or 8"), "{m}"),
            other => panic!("{bits} bits: {:?}", other.map(|_| ())),
        }
    }
    match Index::new(IndexOptions { neighbor_codes: 8, dtype: Dtype::Int8, ..Default::default() }) {
        Err(Error::InvalidArgument(m)) => assert!(m.contains("f32 only"), "{m}"),
        other => panic!("{:?}", other.map(|_| ())),
    }
}

#[test]
fn damaged_neighbor_code_fields_are_rejected() {
    // A small 8-bit index of 300 records: the codes are learned, NCOD holds 2 x dim ranges.
    let dim = 12;
    let data = splitmix_vectors(300, dim, 8);
    let index = Index::new(IndexOptions { dim, neighbor_codes: 8, ..Default::default() }).unwrap();
    index.add(Keys::U64(&(0..300).collect::<Vec<u64>>()), &data).unwrap();
    let bytes = index.to_bytes().unwrap();
    let (meta, _) = section(&bytes, b"META");
    let (ncod, ncod_len) = section(&bytes, b"NCOD");
    assert_eq!(ncod_len, 8 * dim);
    // NCOD is the last section: its table entry is the last one.
    let entry = 64 + 11 * 32;
    assert_eq!(&bytes[entry..entry + 4], b"NCOD");
    type Damage = Box<dyn Fn(&mut Vec<u8>)>;
    let put = |b: &mut Vec<u8>, at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let put_f32 = |b: &mut Vec<u8>, at: usize, v: f32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let cases: Vec<(&str, &str, Damage)> = vec![
        ("bits 3", "0, 4 or 8", Box::new(move |b| put(b, meta + 104, 3))),
        ("bits 264", "out of range", Box::new(move |b| put(b, meta + 104, 264))),
        ("ranges without codes", "NCOD", Box::new(move |b| put(b, meta + 104, 0))),
        ("a NaN lowest value", "NCOD", Box::new(move |b| put_f32(b, ncod, f32::NAN))),
        ("a lowest value of 1e30", "NCOD", Box::new(move |b| put_f32(b, ncod + 4, 1e30))),
        ("a negative step", "NCOD", Box::new(move |b| put_f32(b, ncod + 4 * dim, -0.5))),
        ("an infinite step", "NCOD", Box::new(move |b| put_f32(b, ncod + 4 * dim + 8, f32::INFINITY))),
        ("NCOD 4 bytes short", "NCOD", Box::new(move |b| {
            let len = u64::from_le_bytes(b[entry + 16..entry + 24].try_into().unwrap()) - 4;
            b[entry + 16..entry + 24].copy_from_slice(&len.to_le_bytes());
            let end = ncod + len as usize;
            b[end..end + 4].fill(0); // now padding, which must be zero
        })),
    ];
    let dir = TempDir::new("damaged");
    let path = dir.path().join("x.omendb");
    for (what, needle, damage) in cases {
        let mut b = bytes.clone();
        damage(&mut b);
        reseal(&mut b);
        match Index::from_bytes(&b) {
            Err(Error::Corrupt(m)) => assert!(m.contains(needle), "{what}: {m}"),
            other => panic!("{what}: {:?}", other.map(|_| ())),
        }
        std::fs::write(&path, &b).unwrap();
        match Index::open(&path) {
            Err(Error::Corrupt(_)) => {}
            other => panic!("open, {what}: {:?}", other.map(|_| ())),
        }
    }
    // Undamaged, both read it.
    Index::from_bytes(&bytes).unwrap();
    std::fs::write(&path, &bytes).unwrap();
    Index::open(&path).unwrap();
}

#[test]
fn long_codes_are_kept_one_per_node() {
    // m 64 at 8,192 dimensions and 8 bits: beside the links a block would hold 128 codes of
    // 8 KiB, over the 1 MiB a block may take; each node keeps its own code, and searches stay
    // exact.
    let dim = 8192;
    let index = Index::new(IndexOptions { dim, m: 64, neighbor_codes: 8, ..Default::default() }).unwrap();
    let n = 300;
    let data: Vec<f32> = (0..n * dim).map(|i| ((i * 7919 % 1009) as f32 / 1009.0) - 0.5).collect();
    index.add(Keys::U64(&(0..n as u64).collect::<Vec<_>>()), &data).unwrap();
    assert!(in_use(&index));
    assert_eq!(index.stats()["neighbor_codes_layout"], "per_node");
    // The f32 record (32 KiB) and one 8 KiB code, not 128 codes.
    assert!(index.memory_bytes() / n < 48 * 1024, "{} bytes a vector", index.memory_bytes() / n);
    index.check_invariants().unwrap();
    for i in [0usize, 151, 299] {
        let hits = index.search(&data[i * dim..(i + 1) * dim], 1, None).unwrap();
        assert_eq!(hits[0].key, i.to_string());
        assert!(hits[0].distance.abs() < 1e-3);
    }
}
