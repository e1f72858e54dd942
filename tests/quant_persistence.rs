//! Saving quantized indexes (format version 3): a loaded or opened index answers exactly as the
//! saved one (same keys, bit-equal distances) for every dtype, keeps working after load, and a
//! damaged file is rejected (every truncation and every bit of a small binary index).

mod common;
use common::*;
use omendb::quant::Dtype;
use omendb::storage::format::{self, BINARY_LEVELS_VERSION, PACKED_RECORDS_VERSION, QUANT_VERSION};
use omendb::{Error, Index, IndexOptions, KeyRef, Keys, Metric};

fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("omendb-qp-{name}-{}.omendb", std::process::id()))
}

/// Every query's hits as (key, distance bits).
fn answers(index: &Index, queries: &[f32], dim: usize) -> Vec<Vec<(String, u32)>> {
    queries
        .chunks_exact(dim)
        .map(|q| index.search(q, 10, Some(64)).unwrap().into_iter().map(|h| (h.key, h.distance.to_bits())).collect())
        .collect()
}

fn build(dtype: Dtype, metric: Metric, n: usize, dim: usize) -> (Index, Vec<f32>) {
    let index = Index::new(IndexOptions { metric, dtype, rerank: 3, ..Default::default() }).unwrap();
    let base = random_vectors(n, dim, 7);
    let keys: Vec<u64> = (0..n as u64).collect();
    index.add(Keys::U64(&keys), &base).unwrap();
    // Deleted (pending repair) slots must survive the round trip too.
    for k in (0..n as u64).step_by(37) {
        index.remove(KeyRef::U64(k)).unwrap();
    }
    (index, base)
}

#[test]
fn every_dtype_round_trips_through_save_load_and_open() {
    // The format version each writes: 3 for a quantized index, 4 for binary, 5 where the
    // records are packed (f16 at 24 dims and binary at 384: a 12-word code and 33 list words
    // end 4 bytes short of the upper reference, and packing saves a cache line).
    let cases = [
        (Dtype::F16, Metric::L2, 400, 24, PACKED_RECORDS_VERSION),
        (Dtype::Int8, Metric::Cosine, 400, 24, QUANT_VERSION),
        (Dtype::Int8, Metric::L2, 300, 17, QUANT_VERSION),
        (Dtype::Binary, Metric::L2, 300, 70, BINARY_LEVELS_VERSION),
        (Dtype::Binary, Metric::Cosine, 300, 384, PACKED_RECORDS_VERSION),
        (Dtype::Pq, Metric::L2, 1100, 128, QUANT_VERSION),
        (Dtype::Pq, Metric::Cosine, 1024, 128, QUANT_VERSION),
    ];
    for (dtype, metric, n, dim, version) in cases {
        let what = format!("{} {metric:?} n={n} dim={dim}", dtype.name());
        let (index, _) = build(dtype, metric, n, dim);
        let queries = random_vectors(20, dim, 99);
        let want = answers(&index, &queries, dim);
        assert!(want.iter().all(|h| h.len() == 10), "{what}");
        let path = temp_path(&format!("rt-{}", dtype.name()));
        index.save(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let layout = format::read_layout(&bytes[..]).unwrap();
        assert_eq!(layout.version, version, "{what}");
        let records = layout.meta.record_layout.unwrap();
        assert_eq!(records.is_packed(), version == PACKED_RECORDS_VERSION, "{what}: {records:?}");
        assert_eq!(index.to_bytes().unwrap(), bytes, "{what}: save and to_bytes agree");

        let loaded = Index::load(&path).unwrap();
        assert_eq!((loaded.dtype(), loaded.options().rerank, loaded.len()), (dtype, 3, index.len()), "{what}");
        assert_eq!(answers(&loaded, &queries, dim), want, "{what}: loaded");
        assert_eq!(loaded.to_bytes().unwrap(), bytes, "{what}: a loaded index saves the same bytes");

        let opened = Index::open(&path).unwrap();
        assert!(opened.is_read_only());
        assert_eq!(answers(&opened, &queries, dim), want, "{what}: opened");
        assert_eq!(opened.to_bytes().unwrap(), bytes, "{what}: an opened index saves the same bytes");
        // Opened: the full-precision vectors are served from the mapping, not memory.
        assert!(opened.memory_bytes() < loaded.memory_bytes(), "{what}");

        // The loaded index keeps working: new records are coded with the restored codec.
        let extra = random_vectors(5, dim, 1234);
        loaded.add(Keys::U64(&[100_000, 100_001, 100_002, 100_003, 100_004]), &extra).unwrap();
        let hit = &loaded.search(&extra[dim..2 * dim], 1, Some(64)).unwrap()[0];
        assert_eq!(hit.key, "100001", "{what}");
        assert!(hit.distance.abs() < 1e-4, "{what}: {}", hit.distance);
        let _ = std::fs::remove_file(&path);
    }
}

#[test]
fn an_untrained_quantized_index_round_trips() {
    // int8 with dim set learns its ranges from the first batch: saved before any add.
    let index = Index::new(IndexOptions { dim: 16, dtype: Dtype::Int8, ..Default::default() }).unwrap();
    let loaded = Index::from_bytes(&index.to_bytes().unwrap()).unwrap();
    assert_eq!((loaded.dtype(), loaded.len()), (Dtype::Int8, 0));
    let e = loaded.add(Keys::U64(&[1]), &random_vectors(1, 16, 1)).unwrap_err();
    assert!(e.to_string().contains("at least 256"), "{e}");
    let base = random_vectors(300, 16, 3);
    loaded.add(Keys::U64(&(0..300).collect::<Vec<u64>>()), &base).unwrap();
    assert_eq!(loaded.search(&base[..16], 1, None).unwrap()[0].key, "0");
}

fn small_binary_file() -> Vec<u8> {
    let index = Index::new(IndexOptions { dtype: Dtype::Binary, m: 4, ..Default::default() }).unwrap();
    index.add(Keys::U64(&(0..12).collect::<Vec<u64>>()), &random_vectors(12, 8, 5)).unwrap();
    index.remove(KeyRef::U64(3)).unwrap();
    index.to_bytes().unwrap()
}

#[test]
fn every_truncation_and_every_bit_flip_of_a_small_quantized_file_is_rejected() {
    let bytes = small_binary_file();
    let layout = format::read_layout(&bytes[..]).unwrap();
    assert_eq!(layout.version, BINARY_LEVELS_VERSION);
    assert!(layout.section(b"QCOD").len > 0 && layout.section(b"FULL").len > 0);
    Index::from_bytes(&bytes).unwrap();
    for len in 0..bytes.len() {
        match Index::from_bytes(&bytes[..len]) {
            Err(Error::Corrupt(_)) => {}
            other => panic!("truncated to {len}: {:?}", other.err()),
        }
    }
    let mut damaged = bytes.clone();
    for at in 0..bytes.len() {
        for bit in 0..8 {
            damaged[at] ^= 1 << bit;
            match Index::from_bytes(&damaged) {
                Err(Error::Corrupt(_)) | Err(Error::UnsupportedVersion { .. }) => {}
                other => panic!("bit {bit} of byte {at} flipped: {:?}", other.err()),
            }
            damaged[at] ^= 1 << bit;
        }
    }
}

#[test]
fn open_rejects_every_flipped_byte_of_a_small_quantized_file() {
    // Through the memory-mapped reader: one bit per byte (bit = offset mod 8), every byte.
    let bytes = small_binary_file();
    let path = temp_path("flip");
    let mut damaged = bytes.clone();
    for at in 0..bytes.len() {
        damaged[at] ^= 1 << (at % 8);
        std::fs::write(&path, &damaged).unwrap();
        match Index::open(&path) {
            Err(Error::Corrupt(_)) | Err(Error::UnsupportedVersion { .. }) => {}
            other => panic!("byte {at} flipped: {:?}", other.err()),
        }
        damaged[at] ^= 1 << (at % 8);
    }
    std::fs::write(&path, &bytes).unwrap();
    Index::open(&path).unwrap();
    let _ = std::fs::remove_file(&path);
}

// ---- the committed format-3 fixture ----

const FIXTURE_V3: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v3-int8-small.omendb");

/// The index of the format-3 fixture: int8, dim 8, m 4, 300 records, keys 0..300 less every
/// 50th (removed: deleted slots awaiting repair).
fn build_v3_fixture_index() -> Index {
    let index = Index::new(IndexOptions { dim: 8, m: 4, ef_construction: 64, seed: 7, dtype: Dtype::Int8, rerank: 5, ..Default::default() }).unwrap();
    index.add(Keys::U64(&(0..300).collect::<Vec<u64>>()), &random_vectors(300, 8, 11)).unwrap();
    for k in (0..300).step_by(50) {
        index.remove(KeyRef::U64(k)).unwrap();
    }
    index
}

fn fixture_answers(index: &Index) -> Vec<(String, f32)> {
    let q = random_vectors(1, 8, 31337);
    index.search(&q, 5, Some(32)).unwrap().into_iter().map(|h| (h.key, h.distance)).collect()
}

#[test]
#[ignore = "writes tests/fixtures/v3-int8-small.omendb; run only when OMENDB_WRITE_FIXTURE=1"]
fn write_v3_fixture() {
    if std::env::var("OMENDB_WRITE_FIXTURE").as_deref() != Ok("1") {
        return;
    }
    assert_eq!(QUANT_VERSION, 3, "a new format version gets its own fixture file");
    let index = build_v3_fixture_index();
    index.save(FIXTURE_V3).unwrap();
    eprintln!("answers: {:?}", fixture_answers(&index));
}

/// Answers of the format-3 fixture for `random_vectors(1, 8, 31337)`, k 5, ef 32, recorded when
/// it was written.
const FIXTURE_V3_ANSWERS: [(&str, f32); 5] =
    [("204", 0.1874501), ("7", 0.18926887), ("217", 0.1969352), ("198", 0.21338446), ("9", 0.24348918)];

#[test]
fn v3_fixture_loads_and_opens_with_known_answers() {
    let loaded = Index::load(FIXTURE_V3).unwrap_or_else(|e| panic!("{FIXTURE_V3}: {e}"));
    let opened = Index::open(FIXTURE_V3).unwrap_or_else(|e| panic!("{FIXTURE_V3}: {e}"));
    let base = random_vectors(300, 8, 11);
    for index in [&loaded, &opened] {
        assert_eq!((index.dtype(), index.options().rerank, index.len()), (Dtype::Int8, 5, 294));
        let got = fixture_answers(index);
        assert_eq!(got.len(), 5);
        for ((gk, gd), (wk, wd)) in got.iter().zip(FIXTURE_V3_ANSWERS) {
            assert_eq!(gk, wk, "{got:?}");
            assert!((gd - wd).abs() <= 1e-6 * wd.abs().max(1.0), "{gk}: {gd} vs {wd}");
        }
        // Re-ranked distances are exact: a stored vector is at distance 0 from itself.
        let hit = &index.search(&base[8 * 7..8 * 8], 1, Some(32)).unwrap()[0];
        assert_eq!((hit.key.as_str(), hit.distance), ("7", 0.0));
    }
    // While format 3 is the quantized version, the writer reproduces the fixture byte for byte.
    if QUANT_VERSION == 3 {
        let file = std::fs::read(FIXTURE_V3).unwrap();
        assert_eq!(format::read_layout(&file[..]).unwrap().version, 3);
        assert_eq!(loaded.to_bytes().unwrap(), file);
        assert_eq!(opened.to_bytes().unwrap(), file);
    }
}

// ---- a format-3 binary file (thresholds only, written by 7e60bad) ----

const FIXTURE_V3_BINARY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v3-binary-small.omendb");

/// The fixture holds a binary index, L2, dim 16, m 4, ef_construction 64, seed 7, rerank 5:
/// `random_vectors(300, 16, 11)` under keys 0..300, less every 50th (removed). Written by the
/// last build before format 4, whose codec kept thresholds only. Read today it gets levels one
/// below and one above each threshold; saved again it is a format 4 file with the same
/// thresholds.
#[test]
fn v3_binary_fixture_loads_opens_and_is_rewritten_as_format_4() {
    let file = std::fs::read(FIXTURE_V3_BINARY).unwrap();
    assert_eq!(format::read_layout(&file[..]).unwrap().version, 3);
    assert_eq!(format::read_layout(&file[..]).unwrap().section(b"QCOD").len, 16 * 4);
    let loaded = Index::load(FIXTURE_V3_BINARY).unwrap_or_else(|e| panic!("{FIXTURE_V3_BINARY}: {e}"));
    let opened = Index::open(FIXTURE_V3_BINARY).unwrap_or_else(|e| panic!("{FIXTURE_V3_BINARY}: {e}"));
    let base = random_vectors(300, 16, 11);
    let q = random_vectors(1, 16, 31337);
    // The exact 5 nearest live records, by brute force.
    let mut exact: Vec<(f32, u64)> = (0..300u64)
        .filter(|k| k % 50 != 0)
        .map(|k| (base[k as usize * 16..][..16].iter().zip(&q).map(|(a, b)| (a - b) * (a - b)).sum::<f32>(), k))
        .collect();
    exact.sort_by(|a, b| a.0.total_cmp(&b.0));
    for index in [&loaded, &opened] {
        assert_eq!((index.dtype(), index.options().rerank, index.len()), (Dtype::Binary, 5, 294));
        // With ef 128 and rerank 5 the 5 nearest are found, at their exact (re-ranked) distances.
        let hits = index.search(&q, 5, Some(128)).unwrap();
        for (h, (d, k)) in hits.iter().zip(&exact) {
            assert_eq!(h.key, k.to_string(), "{hits:?}");
            assert!((h.distance - d).abs() <= 1e-5 * d.max(1.0), "{}: {} vs {d}", h.key, h.distance);
        }
        let hit = &index.search(&base[16 * 7..16 * 8], 1, Some(32)).unwrap()[0];
        assert_eq!((hit.key.as_str(), hit.distance), ("7", 0.0));
    }
    let rewritten = loaded.to_bytes().unwrap();
    let layout = format::read_layout(&rewritten[..]).unwrap();
    assert_eq!(layout.version, BINARY_LEVELS_VERSION);
    assert_eq!(layout.section(b"QCOD").len, 3 * 16 * 4);
    let again = Index::from_bytes(&rewritten).unwrap();
    assert_eq!(again.search(&q, 5, Some(128)).unwrap(), loaded.search(&q, 5, Some(128)).unwrap());
}

// ---- a format-4 binary file whose records a later build packs (written by 5c414ee) ----

const FIXTURE_V4_UNPACKED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v4-binary-unpacked.omendb");

/// The fixture holds a binary index, L2, dim 64, m 5 (m0 10), ef_construction 64, seed 7,
/// rerank 5: `random_vectors(120, 64, 13)` under keys 0..120, less every 40th (removed).
/// Written by the last build before packed records: a 2-word code and an 11-word list end at
/// byte 52, so its 128-byte records now pack into 64 bytes (lock bytes at 52, upper at 56).
/// It loads and opens (copied, as the layouts differ) and answers alike both ways, and is
/// saved again as format 5 with the packed layout.
#[test]
fn v4_unpacked_fixture_loads_opens_and_is_rewritten_packed() {
    let file = std::fs::read(FIXTURE_V4_UNPACKED).unwrap();
    let old = format::read_layout(&file[..]).unwrap();
    assert_eq!(old.version, BINARY_LEVELS_VERSION);
    let old_records = old.meta.record_layout.unwrap();
    assert_eq!((old_records.stride, old_records.upper, old_records.lock, old_records.is_packed()), (128, 56, 64, false));
    let loaded = Index::load(FIXTURE_V4_UNPACKED).unwrap_or_else(|e| panic!("{FIXTURE_V4_UNPACKED}: {e}"));
    let opened = Index::open(FIXTURE_V4_UNPACKED).unwrap_or_else(|e| panic!("{FIXTURE_V4_UNPACKED}: {e}"));
    let base = random_vectors(120, 64, 13);
    let queries = random_vectors(10, 64, 4242);
    for index in [&loaded, &opened] {
        assert_eq!((index.dtype(), index.options().rerank, index.options().m, index.len()), (Dtype::Binary, 5, 5, 117));
        // Every record finds itself at distance 0, and every hit's distance is the exact
        // full-precision one for its key (re-ranked from FULL).
        for k in (0..120u64).filter(|k| k % 40 != 0) {
            let v = &base[k as usize * 64..][..64];
            let hits = index.search(v, 3, Some(64)).unwrap();
            assert_eq!((hits[0].key.as_str(), hits[0].distance), (k.to_string().as_str(), 0.0), "{hits:?}");
            for h in &hits {
                let other = &base[h.key.parse::<usize>().unwrap() * 64..][..64];
                let d: f32 = v.iter().zip(other).map(|(a, b)| (a - b) * (a - b)).sum();
                assert!((h.distance - d).abs() <= 1e-4 * d.max(1.0), "{}: {} vs {d}", h.key, h.distance);
            }
        }
        assert!(index.search(&base[..64], 1, Some(64)).unwrap()[0].key != "0", "key 0 was removed");
    }
    let rewritten = loaded.to_bytes().unwrap();
    assert_eq!(opened.to_bytes().unwrap(), rewritten);
    for q in queries.chunks_exact(64) {
        assert_eq!(opened.search(q, 5, Some(128)).unwrap(), loaded.search(q, 5, Some(128)).unwrap());
    }
    let new = format::read_layout(&rewritten[..]).unwrap();
    assert_eq!(new.version, PACKED_RECORDS_VERSION);
    let new_records = new.meta.record_layout.unwrap();
    assert_eq!((new_records.stride, new_records.upper, new_records.lock, new_records.is_packed()), (64, 56, 52, true));
    assert!(rewritten.len() < file.len(), "{} vs {}", rewritten.len(), file.len());
    // The packed file opens in place: its records are served from the mapping.
    let path = temp_path("packed");
    std::fs::write(&path, &rewritten).unwrap();
    let reopened = Index::open(&path).unwrap();
    assert!(reopened.memory_bytes() < loaded.memory_bytes(), "{} vs {}", reopened.memory_bytes(), loaded.memory_bytes());
    for q in queries.chunks_exact(64) {
        assert_eq!(reopened.search(q, 5, Some(128)).unwrap(), loaded.search(q, 5, Some(128)).unwrap());
    }
    let _ = std::fs::remove_file(&path);
}
