//! Persistence: save / load / open (memory-mapped) round trips with metadata and texts, every
//! truncation and every single-bit flip of a small file rejected (by load and by open),
//! foreign files and newer versions rejected, the committed format-1 and format-2 fixtures
//! still answering as they did, a crash (SIGKILL) during save leaving the old or the new file,
//! and saves running while other threads change the index.

mod common;
use common::splitmix_vectors as vectors;
use common::{reseal, section};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use omendb::filter::Filter;
use omendb::hybrid::Fusion;
use omendb::index::SearchRequest;
use omendb::storage::format::{FORMAT_VERSION, NEWEST_VERSION};
use omendb::{Error, Hit, Index, IndexOptions, KeyKind, KeyRef, Keys, Metric, Payloads};


/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("omendb-{tag}-{}-{:?}", std::process::id(), std::thread::current().id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn options(dim: usize, metric: Metric, m: usize) -> IndexOptions {
    IndexOptions { dim, metric, m, ef_construction: 64, ef_search: 32, seed: 42, ..Default::default() }
}

/// Adds rows `range` of `data` in batches of 16 (below the parallel threshold, so the graph
/// is the same on every run) under keys from `key`.
fn add_rows(index: &Index, data: &[f32], dim: usize, range: std::ops::Range<usize>, string_keys: bool, key: impl Fn(usize) -> String) {
    let mut i = range.start;
    while i < range.end {
        let end = (i + 16).min(range.end);
        let rows = &data[i * dim..end * dim];
        // Metadata on most records (every 5th has none) and a text on two thirds of them.
        let metas: Vec<String> = (i..end).map(record_metadata).collect();
        let texts: Vec<String> = (i..end).map(record_text).collect();
        let meta_refs: Vec<Option<&str>> = (i..end).zip(&metas).map(|(j, m)| (j % 5 != 4).then_some(m.as_str())).collect();
        let text_refs: Vec<Option<&str>> = (i..end).zip(&texts).map(|(j, t)| (j % 3 != 2).then_some(t.as_str())).collect();
        let payloads = Payloads { metadata: Some(&meta_refs), texts: Some(&text_refs) };
        if string_keys {
            let names: Vec<String> = (i..end).map(&key).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            index.add_with(Keys::Str(&refs), rows, payloads).unwrap();
        } else {
            let ids: Vec<u64> = (i..end).map(|j| key(j).parse().unwrap()).collect();
            index.add_with(Keys::U64(&ids), rows, payloads).unwrap();
        }
        i = end;
    }
}

/// The metadata of test record i: every kind of value.
fn record_metadata(i: usize) -> String {
    let tags = ["red", "green", "blue", "jazz"];
    format!(
        r#"{{"n": {i}, "half": {}, "even": {}, "genre": "{}", "tags": ["{}", "{}"], "price": {}}}"#,
        i as f64 / 2.0,
        i.is_multiple_of(2),
        ["rock", "jazz", "folk"][i % 3],
        tags[i % 4],
        tags[(i / 4) % 4],
        -0.5 + (i % 11) as f64 * 1.25
    )
}

/// The text of test record i: a few shared words, some rare ones.
fn record_text(i: usize) -> String {
    let words = ["saxophone", "quartet", "field", "recording", "piano", "trio", "live", "studio", "night", "river"];
    format!("{} {} {} the {} item{}", words[i % 10], words[(i / 3) % 10], words[(i * 7) % 10], words[(i / 10) % 10], i % 13)
}

const FILTERS: [&str; 6] = [
    r#"genre = "jazz""#,
    "n < 40 OR even = TRUE",
    r#"tags CONTAINS "blue" AND NOT genre = "rock""#,
    "EXISTS price AND price >= 3.5",
    "half IN (2.5, 10, 17.5)",
    "NOT EXISTS genre",
];
const TEXT_QUERIES: [&str; 4] = ["saxophone quartet", "piano live night", "item7 river", "nothing here"];

fn key_ref(s: &str, string_keys: bool) -> KeyRef<'_> {
    if string_keys {
        KeyRef::Str(s)
    } else {
        KeyRef::U64(s.parse().unwrap())
    }
}

/// An index that went through adds, removes repaired by compact (free slots, some reused),
/// and removes still pending.
fn churned(metric: Metric, string_keys: bool, n: usize, dim: usize) -> (Index, Vec<f32>) {
    let data = vectors(n + 40, dim, 7);
    let index = Index::new(options(dim, metric, 6)).unwrap();
    let key = |i: usize| if string_keys { format!("doc-{i}") } else { (1000 + i).to_string() };
    add_rows(&index, &data, dim, 0..n, string_keys, key);
    for i in (0..n).step_by(7) {
        index.remove(key_ref(&key(i), string_keys)).unwrap();
    }
    index.compact();
    add_rows(&index, &data, dim, n..n + 10, string_keys, key);
    for i in (3..n).step_by(29).filter(|i| i % 7 != 0) {
        index.remove(key_ref(&key(i), string_keys)).unwrap();
    }
    (index, data)
}

fn all_hits(index: &Index, queries: &[f32], dim: usize, k: usize) -> Vec<Vec<Hit<String>>> {
    queries.chunks_exact(dim).map(|q| index.search(q, k, None).unwrap()).collect()
}

fn assert_same(a: &Index, b: &Index, queries: &[f32], dim: usize) {
    assert_eq!(a.len(), b.len());
    assert_eq!(a.dim(), b.dim());
    assert_eq!(a.metric(), b.metric());
    assert_eq!(a.options(), b.options());
    assert_eq!(a.key_kind(), b.key_kind());
    assert_eq!(a.slot_high_water(), b.slot_high_water());
    if a.dim() > 0 {
        assert_eq!(all_hits(a, queries, dim, 10), all_hits(b, queries, dim, 10));
        assert_same_payload_searches(a, b, queries, dim);
    }
}

type Pairs = Vec<(String, f32)>;

/// Filtered, text and hybrid answers of `index` (key and distance or score).
fn payload_answers(index: &Index, queries: &[f32], dim: usize) -> (Vec<Pairs>, Vec<Pairs>, Vec<Pairs>) {
    let collect = |run: &mut dyn FnMut(&mut Pairs)| {
        let mut out = Vec::new();
        run(&mut out);
        out
    };
    let mut filtered = Vec::new();
    for f in FILTERS {
        let f = Filter::parse(f).unwrap();
        for q in queries.chunks_exact(dim).take(5) {
            filtered.push(collect(&mut |o| {
                index.search_where(q, 10, None, &f, |k, d| o.push((k.to_string_plain(), d))).unwrap();
            }));
        }
    }
    let mut text = Vec::new();
    for t in TEXT_QUERIES {
        text.push(collect(&mut |o| {
            index.text_search(t, 10, None, |k, d| o.push((k.to_string_plain(), d))).unwrap();
        }));
        let f = Filter::parse(FILTERS[1]).unwrap();
        text.push(collect(&mut |o| {
            index.text_search(t, 10, Some(&f), |k, d| o.push((k.to_string_plain(), d))).unwrap();
        }));
    }
    let mut hybrid = Vec::new();
    for (i, q) in queries.chunks_exact(dim).take(4).enumerate() {
        for fusion in [Fusion::Rrf { k: 60.0 }, Fusion::Weighted { alpha: 0.7 }] {
            hybrid.push(collect(&mut |o| {
                index.hybrid_search(q, TEXT_QUERIES[i % 4], SearchRequest::new(10, None), fusion, |k, d| o.push((k.to_string_plain(), d))).unwrap();
            }));
        }
    }
    (filtered, text, hybrid)
}

/// Whether filtered and text searches of `index` find anything (so that comparing them tests
/// something).
fn payload_hits(index: &Index, queries: &[f32], dim: usize) -> bool {
    let (f, t, h) = payload_answers(index, queries, dim);
    f.iter().any(|h| !h.is_empty()) && t.iter().any(|h| !h.is_empty()) && h.iter().any(|h| !h.is_empty())
}

fn assert_same_payload_searches(a: &Index, b: &Index, queries: &[f32], dim: usize) {
    let (fa, ta, ha) = payload_answers(a, queries, dim);
    let (fb, tb, hb) = payload_answers(b, queries, dim);
    assert_eq!(fa, fb, "filtered search");
    assert_eq!(ta, tb, "text search");
    assert_eq!(ha, hb, "hybrid search");
    assert_eq!(a.options().text, b.options().text);
    assert_eq!(a.options().bm25, b.options().bm25);
}

#[test]
fn round_trip_answers_exactly_as_the_saved_index() {
    let dir = TempDir::new("roundtrip");
    let dim = 12;
    let queries = vectors(25, dim, 99);
    for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
        for string_keys in [false, true] {
            let (index, data) = churned(metric, string_keys, 300, dim);
            let path = dir.path("index.omendb");
            index.save(&path).unwrap();
            let loaded = Index::load(&path).unwrap();
            loaded.check_invariants().unwrap();
            assert_same(&index, &loaded, &queries, dim);
            let key = |i: usize| if string_keys { format!("doc-{i}") } else { (1000 + i).to_string() };
            assert!(payload_hits(&index, &queries, dim));
            let opened = Index::open(&path).unwrap();
            assert!(opened.is_read_only() && !loaded.is_read_only());
            opened.check_invariants().unwrap();
            assert_same(&index, &opened, &queries, dim);
            for i in 0..310 {
                let k = key(i);
                let kr = key_ref(&k, string_keys);
                assert_eq!(index.contains(kr), loaded.contains(kr), "{k}");
                assert_eq!(index.contains(kr), opened.contains(kr), "{k}");
                assert_eq!(index.metadata(kr), loaded.metadata(kr), "{k}");
                assert_eq!(index.metadata(kr), opened.metadata(kr), "{k}");
                // Texts come back as given, in load and open alike.
                let want = (i % 3 != 2 && index.contains(kr)).then(|| record_text(i));
                assert_eq!(index.text(kr), want, "{k}");
                assert_eq!(loaded.text(kr), want, "{k}");
                assert_eq!(opened.text(kr), want, "{k}");
            }
            // Saving the loaded or the opened index gives the same bytes: nothing was lost or
            // reordered.
            assert_eq!(index.to_bytes().unwrap(), loaded.to_bytes().unwrap());
            assert_eq!(index.to_bytes().unwrap(), opened.to_bytes().unwrap());
            assert_read_only(&opened, &data[..dim], string_keys);
            drop(opened);
            // Further changes behave as they would have on the original (free-slot order,
            // level sampler, pending deletes).
            for target in [&index, &loaded] {
                add_rows(target, &data, dim, 310..330, string_keys, key);
                target.remove(key_ref(&key(1), string_keys)).unwrap();
                target.compact();
                if !string_keys {
                    // Automatic keys continue past the largest key in use, 1000 + 329.
                    assert_eq!(target.add_auto(&data[..3 * dim], 3).unwrap(), 1330);
                }
            }
            assert_same(&index, &loaded, &queries, dim);
            assert_eq!(index.to_bytes().unwrap(), loaded.to_bytes().unwrap());
            loaded.check_invariants().unwrap();
        }
    }
}

/// Every change to an opened index fails with InvalidArgument and changes nothing.
fn assert_read_only(opened: &Index, vector: &[f32], string_keys: bool) {
    let before = opened.to_bytes().unwrap();
    let refused = |r: Result<(), Error>, what: &str| match r {
        Err(Error::InvalidArgument(m)) => assert!(m.contains("read-only"), "{what}: {m}"),
        other => panic!("{what} on an opened index: {other:?}"),
    };
    let (s, u) = (["zzz-new"], [987_654u64]);
    let keys = if string_keys { Keys::Str(&s) } else { Keys::U64(&u) };
    refused(opened.add(keys, vector), "add");
    refused(opened.upsert(keys, vector), "upsert");
    refused(opened.add_auto(vector, 1).map(|_| ()), "add_auto");
    let some_key = if string_keys { "doc-2".to_string() } else { "1002".to_string() };
    refused(opened.remove(key_ref(&some_key, string_keys)), "remove");
    opened.compact();
    assert_eq!(opened.to_bytes().unwrap(), before);
}

#[test]
fn open_reads_version_1_and_small_indexes() {
    // A version 1 file cannot be used in place: open loads it, read-only all the same.
    let opened = Index::open(FIXTURE).unwrap();
    let loaded = Index::load(FIXTURE).unwrap();
    assert!(opened.is_read_only());
    let queries = vectors(10, FIXTURE_DIM, 555);
    assert_same(&loaded, &opened, &queries, FIXTURE_DIM);
    assert!(matches!(opened.add(Keys::Str(&["x"]), &[0.0; FIXTURE_DIM]), Err(Error::InvalidArgument(_))));
    // An index without dimensions, and one with no record.
    let dir = TempDir::new("open-small");
    for index in [Index::new(IndexOptions::default()).unwrap(), Index::new(options(3, Metric::Cosine, 4)).unwrap()] {
        index.save(dir.path("s.omendb")).unwrap();
        let opened = Index::open(dir.path("s.omendb")).unwrap();
        assert_eq!((opened.len(), opened.dim()), (0, index.dim()));
        assert!(opened.is_read_only());
        assert!(matches!(opened.add(Keys::U64(&[1]), &[1.0, 2.0, 3.0]), Err(Error::InvalidArgument(_))));
        if index.dim() > 0 {
            assert!(opened.search(&[1.0, 0.0, 0.0], 3, None).unwrap().is_empty());
        }
    }
    assert!(matches!(Index::open(dir.path("missing.omendb")), Err(Error::Io(_))));
    assert!(matches!(Index::open(&dir.0), Err(Error::Io(_))));
    std::fs::write(dir.path("empty.omendb"), b"").unwrap();
    assert!(matches!(Index::open(dir.path("empty.omendb")), Err(Error::Corrupt(_))));
}

#[test]
fn open_serves_a_larger_index_in_place() {
    // Big enough for several arena chunks (1024, 2048, 4096 slots...) and upper layers.
    let dim = 24;
    let n = 5000;
    let data = vectors(n, dim, 11);
    let index = Index::new(options(dim, Metric::Cosine, 8)).unwrap();
    let keys: Vec<u64> = (0..n as u64).collect();
    index.add(Keys::U64(&keys), &data).unwrap();
    for k in (0..n as u64).step_by(13) {
        index.remove(KeyRef::U64(k)).unwrap();
    }
    let dir = TempDir::new("open-large");
    let path = dir.path("large.omendb");
    index.save(&path).unwrap();
    let opened = Index::open(&path).unwrap();
    let loaded = Index::load(&path).unwrap();
    let queries = vectors(40, dim, 12);
    for q in queries.chunks_exact(dim) {
        let want = loaded.search(q, 10, Some(100)).unwrap();
        assert_eq!(opened.search(q, 10, Some(100)).unwrap(), want);
        assert_eq!(index.search(q, 10, Some(100)).unwrap(), want);
    }
    opened.check_invariants().unwrap();
    // Replacing the file while it is open (save renames a new file over it) is safe.
    loaded.save(&path).unwrap();
    let q = &queries[..dim];
    assert_eq!(opened.search(q, 10, None).unwrap(), loaded.search(q, 10, None).unwrap());
    // Searching from many threads at once.
    std::thread::scope(|s| {
        for t in 0..4 {
            let (opened, loaded, queries) = (&opened, &loaded, &queries);
            s.spawn(move || {
                for q in queries.chunks_exact(dim).skip(t).step_by(4) {
                    assert_eq!(opened.search(q, 5, None).unwrap(), loaded.search(q, 5, None).unwrap());
                }
            });
        }
    });
}

#[test]
fn auto_keys_and_counters_survive() {
    let dim = 4;
    let data = vectors(50, dim, 3);
    let index = Index::new(IndexOptions::default()).unwrap();
    assert_eq!(index.add_auto(&data[..20 * dim], 20).unwrap(), 0);
    let loaded = Index::from_bytes(&index.to_bytes().unwrap()).unwrap();
    assert_eq!(loaded.add_auto(&data[20 * dim..30 * dim], 10).unwrap(), 20);
    assert_eq!(index.add_auto(&data[20 * dim..30 * dim], 10).unwrap(), 20);
    assert_eq!(index.to_bytes().unwrap(), loaded.to_bytes().unwrap());
    assert_eq!(loaded.options().dim, 0, "created with dim 0: kept as created");
    assert_eq!(loaded.dim(), dim);
}

#[test]
fn empty_and_emptied_indexes_round_trip() {
    // Dimensions not yet known.
    let fresh = Index::new(IndexOptions::default()).unwrap();
    let loaded = Index::from_bytes(&fresh.to_bytes().unwrap()).unwrap();
    assert_eq!((loaded.dim(), loaded.len(), loaded.key_kind()), (0, 0, None));
    loaded.add(Keys::U64(&[1]), &[1.0, 2.0, 3.0]).unwrap();
    assert_eq!(loaded.dim(), 3);

    // Dimensions fixed, nothing added.
    let fixed = Index::new(options(5, Metric::Cosine, 8)).unwrap();
    let loaded = Index::from_bytes(&fixed.to_bytes().unwrap()).unwrap();
    assert_eq!((loaded.dim(), loaded.len()), (5, 0));
    assert!(matches!(loaded.add(Keys::U64(&[1]), &[1.0; 4]), Err(Error::DimensionMismatch { .. })));

    // Every record removed: the key kind stays.
    let emptied = Index::new(options(2, Metric::L2, 4)).unwrap();
    emptied.add(Keys::Str(&["a", "b"]), &[1.0, 0.0, 0.0, 1.0]).unwrap();
    emptied.remove(KeyRef::Str("a")).unwrap();
    emptied.remove(KeyRef::Str("b")).unwrap();
    let loaded = Index::from_bytes(&emptied.to_bytes().unwrap()).unwrap();
    assert_eq!((loaded.len(), loaded.key_kind()), (0, Some(KeyKind::Str)));
    assert!(loaded.search(&[1.0, 0.0], 3, None).unwrap().is_empty());
    assert!(matches!(loaded.add(Keys::U64(&[1]), &[1.0, 1.0]), Err(Error::InvalidKey(_))));
    loaded.add(Keys::Str(&["c"]), &[1.0, 1.0]).unwrap();
    assert_eq!(loaded.search(&[1.0, 0.9], 3, None).unwrap()[0].key, "c");
    loaded.check_invariants().unwrap();
}

/// A small index for the exhaustive corruption tests: 40 string keys of dim 4, with free
/// and pending-delete slots, so every section is non-empty.
fn small_file() -> Vec<u8> {
    let (index, _) = churned(Metric::L2, true, 40, 4);
    index.to_bytes().unwrap()
}

fn is_rejection(e: &Error) -> bool {
    matches!(e, Error::Corrupt(_) | Error::UnsupportedVersion { .. })
}

#[test]
fn every_truncation_is_rejected() {
    let bytes = small_file();
    Index::from_bytes(&bytes).unwrap();
    let mut rejected = 0;
    for len in 0..bytes.len() {
        match Index::from_bytes(&bytes[..len]) {
            Err(Error::Corrupt(_)) => rejected += 1,
            Err(e) => panic!("truncated to {len}: unexpected error {e}"),
            Ok(_) => panic!("truncated to {len} of {} bytes: accepted", bytes.len()),
        }
    }
    eprintln!("truncation: {rejected} of {} truncated lengths rejected", bytes.len());
    assert_eq!(rejected, bytes.len());
}

#[test]
fn every_single_bit_flip_is_rejected() {
    let bytes = small_file();
    let mut damaged = bytes.clone();
    let (mut rejected, mut panics) = (0usize, 0usize);
    let start = Instant::now();
    for bit in 0..bytes.len() * 8 {
        damaged[bit / 8] ^= 1 << (bit % 8);
        match std::panic::catch_unwind(|| Index::from_bytes(&damaged)) {
            Ok(Err(e)) if is_rejection(&e) => rejected += 1,
            Ok(Err(e)) => panic!("bit {bit}: unexpected error {e}"),
            Ok(Ok(_)) => panic!("bit {bit} flipped: accepted"),
            Err(_) => panics += 1,
        }
        damaged[bit / 8] ^= 1 << (bit % 8);
    }
    eprintln!(
        "bit flips: {rejected} of {} rejected, {panics} panics, file of {} bytes, {:?}",
        bytes.len() * 8,
        bytes.len(),
        start.elapsed()
    );
    assert_eq!(panics, 0);
    assert_eq!(rejected, bytes.len() * 8);
}

/// `Index::open` of `bytes` written to a file.
fn open_bytes(path: &Path, bytes: &[u8]) -> Result<Index, Error> {
    std::fs::write(path, bytes).unwrap();
    Index::open(path)
}

#[test]
fn open_rejects_every_truncation_and_bit_flip() {
    let bytes = small_file();
    let dir = TempDir::new("open-corrupt");
    let path = dir.path("c.omendb");
    open_bytes(&path, &bytes).unwrap();
    for len in 0..bytes.len() {
        match open_bytes(&path, &bytes[..len]) {
            Err(Error::Corrupt(_)) => {}
            other => panic!("open of a file truncated to {len}: {:?}", other.err()),
        }
    }
    // Each bit flipped in place in the file (one byte written), opened, and flipped back.
    std::fs::write(&path, &bytes).unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    let flip = |at: usize, byte: u8| {
        use std::os::unix::fs::FileExt;
        file.write_all_at(&[byte], at as u64).unwrap();
    };
    let mut rejected = 0;
    for bit in 0..bytes.len() * 8 {
        let at = bit / 8;
        flip(at, bytes[at] ^ (1 << (bit % 8)));
        match std::panic::catch_unwind(|| Index::open(&path)) {
            Ok(Err(e)) if is_rejection(&e) => rejected += 1,
            Ok(Err(e)) => panic!("bit {bit}: unexpected error {e}"),
            Ok(Ok(_)) => panic!("bit {bit} flipped: open accepted it"),
            Err(_) => panic!("bit {bit} flipped: open panicked"),
        }
        flip(at, bytes[at]);
    }
    eprintln!("open: {} truncations and {rejected} bit flips of a {}-byte file rejected", bytes.len(), bytes.len());
    assert_eq!(rejected, bytes.len() * 8);
}

#[test]
fn newer_versions_and_foreign_files_are_rejected() {
    let bytes = small_file();
    let mut newer = bytes.clone();
    newer[8..12].copy_from_slice(&(NEWEST_VERSION + 1).to_le_bytes());
    reseal(&mut newer);
    match Index::from_bytes(&newer) {
        Err(Error::UnsupportedVersion { found, supported }) => {
            assert_eq!((found, supported), (NEWEST_VERSION + 1, NEWEST_VERSION));
        }
        other => panic!("a newer version: {:?}", other.err()),
    }
    let msg = Error::UnsupportedVersion { found: 2, supported: 1 }.to_string();
    assert!(msg.contains("version 2") && msg.contains("1"), "{msg}");

    let foreign: [&[u8]; 5] = [
        b"",
        b"hello, world\n",
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
        &[0u8; 4096],
        b"\x89OMENDB\nbut then nothing of the rest",
    ];
    for f in foreign {
        match Index::from_bytes(f) {
            Err(Error::Corrupt(m)) => eprintln!("{:?}...: {m}", String::from_utf8_lossy(&f[..f.len().min(8)])),
            other => panic!("foreign file accepted or wrong error: {:?}", other.err()),
        }
    }
    let dir = TempDir::new("foreign");
    assert!(matches!(Index::load(dir.path("missing.omendb")), Err(Error::Io(_))));
    assert!(matches!(Index::load(&dir.0), Err(Error::Io(_))), "a directory");
    std::fs::write(dir.path("text.omendb"), "not an index").unwrap();
    let e = Index::load(dir.path("text.omendb")).err().unwrap();
    assert!(matches!(e, Error::Corrupt(_)) && e.to_string().contains("not an OmenDB index file"), "{e}");
    // Saving into a directory that does not exist fails cleanly.
    let index = Index::from_bytes(&bytes).unwrap();
    assert!(matches!(index.save(dir.path("no/such/dir/x.omendb")), Err(Error::Io(_))));
}

#[test]
fn checksummed_but_inconsistent_files_are_rejected() {
    let bytes = small_file();
    let (meta, _) = section(&bytes, b"META");
    let (recs, _) = section(&bytes, b"RECS");
    let (uppr, uppr_len) = section(&bytes, b"UPPR");
    let (keys, _) = section(&bytes, b"KEYS");
    let (mdat, _) = section(&bytes, b"MDAT");
    let (text, _) = section(&bytes, b"TEXT");
    let (txts, txts_len) = section(&bytes, b"TXTS");
    // TXTS: a count, then (slot, text) per record with a text; the first and second slots.
    let txts_slot = |b: &[u8], i: usize| {
        let mut at = txts + 4;
        for _ in 0..i {
            at += 8 + u32::from_le_bytes(b[at + 4..at + 8].try_into().unwrap()) as usize;
        }
        at
    };
    let (first_text, second_text) = (txts_slot(&bytes, 0), txts_slot(&bytes, 1));
    assert!(txts_len > 16 && second_text < txts + txts_len);
    let field = |at: usize| u32::from_le_bytes(bytes[meta + at..meta + at + 4].try_into().unwrap()) as usize;
    let (stride, links, upper, lock) = (field(72), field(76), field(80), field(84));
    // A live slot with an upper layer, and a live slot's record.
    let live = (0..field(56)).find(|&i| bytes[recs + i * stride + lock + 2] == 1).unwrap();
    let tall = (0..field(56)).find(|&i| bytes[recs + i * stride + lock + 1] > 0).unwrap();
    let rec = recs + live * stride;
    // A live slot of level 0 (not `tall`), for an upper-layer link that its level cannot hold.
    let flat = (0..field(56)).find(|&i| bytes[recs + i * stride + lock + 1] == 0 && bytes[recs + i * stride + lock + 2] == 1).unwrap();
    let first_upper_owner = (0..field(56)).find(|&i| bytes[recs + i * stride + lock + 1] > 0).unwrap();
    assert!(first_upper_owner != flat);
    assert!(u32::from_le_bytes(bytes[rec + links..rec + links + 4].try_into().unwrap()) >= 2);
    assert!(uppr_len > 0);
    type Damage = Box<dyn Fn(&mut Vec<u8>)>;
    let put = |b: &mut Vec<u8>, at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let cases: Vec<(&str, Damage)> = vec![
        ("slot count u32::MAX (a huge allocation if trusted)", Box::new(move |b| put(b, meta + 56, u32::MAX))),
        ("dim 65537", Box::new(move |b| put(b, meta, 65537))),
        ("m 0", Box::new(move |b| put(b, meta + 12, 0))),
        ("metric 9", Box::new(move |b| put(b, meta + 8, 9))),
        ("entry out of range", Box::new(move |b| put(b, meta + 64, 1_000_000))),
        ("record count + 1", Box::new(move |b| {
            let n = u32::from_le_bytes(b[meta + 60..meta + 64].try_into().unwrap()) + 1;
            put(b, meta + 60, n)
        })),
        ("record layout: lock inside the links", Box::new(move |b| put(b, meta + 84, links as u32 + 4))),
        ("record layout: upper misaligned", Box::new(move |b| put(b, meta + 80, upper as u32 + 4))),
        ("link out of range", Box::new(move |b| put(b, rec + links + 4, 5_000))),
        ("link to itself", Box::new(move |b| put(b, rec + links + 4, live as u32))),
        // The graph rules: `open` checks them as `load` does (the `file_load` fuzz target found
        // that it did not).
        ("a link twice in one list", Box::new(move |b| {
            let first = u32::from_le_bytes(b[rec + links + 4..rec + links + 8].try_into().unwrap());
            put(b, rec + links + 8, first)
        })),
        ("an upper link to a slot of level 0", Box::new(move |b| {
            put(b, uppr, 1);
            put(b, uppr + 4, flat as u32);
        })),
        ("count above m0", Box::new(move |b| put(b, rec + links, 1_000))),
        ("state 7", Box::new(move |b| b[rec + lock + 2] = 7)),
        ("level 200", Box::new(move |b| b[rec + lock + 1] = 200)),
        ("lock byte set", Box::new(move |b| b[rec + lock] = 1)),
        ("NaN in a vector", Box::new(move |b| b[rec..rec + 4].copy_from_slice(&f32::NAN.to_le_bytes()))),
        // Finite, but beyond what an add accepts under L2: searches would return infinities.
        ("1e30 in a vector", Box::new(move |b| b[rec..rec + 4].copy_from_slice(&1e30f32.to_le_bytes()))),
        ("upper reference off by 4", Box::new(move |b| {
            let at = recs + tall * stride + upper;
            let v = u64::from_le_bytes(b[at..at + 8].try_into().unwrap()) + 4;
            b[at..at + 8].copy_from_slice(&v.to_le_bytes());
        })),
        ("upper link out of range", Box::new(move |b| {
            put(b, uppr, 1);
            put(b, uppr + 4, 70_000);
        })),
        ("key names a slot out of range", Box::new(move |b| put(b, keys, 9_999))),
        ("key length 0", Box::new(move |b| put(b, keys + 4, 0))),
        ("key length u32::MAX", Box::new(move |b| put(b, keys + 4, u32::MAX))),
        ("key not UTF-8", Box::new(move |b| b[keys + 8] = 0xFF)),
        ("metadata field count huge", Box::new(move |b| put(b, mdat, u32::MAX))),
        ("metadata field name not UTF-8", Box::new(move |b| b[mdat + 8] = 0xFF)),
        ("text flag 2", Box::new(move |b| b[text] = 2)),
        ("text k1 NaN", Box::new(move |b| b[text + 12..text + 16].copy_from_slice(&f32::NAN.to_le_bytes()))),
        ("text min token length 0", Box::new(move |b| put(b, text + 4, 0))),
        ("texts count huge", Box::new(move |b| put(b, txts, u32::MAX))),
        ("texts count + 1", Box::new(move |b| {
            let n = u32::from_le_bytes(b[txts..txts + 4].try_into().unwrap()) + 1;
            put(b, txts, n)
        })),
        ("a text of a slot out of range", Box::new(move |b| put(b, first_text, 70_000))),
        ("texts out of slot order", Box::new(move |b| {
            let second = u32::from_le_bytes(b[second_text..second_text + 4].try_into().unwrap());
            put(b, first_text, second)
        })),
        ("a text's length past the section", Box::new(move |b| put(b, first_text + 4, u32::MAX))),
        ("a text not UTF-8", Box::new(move |b| b[first_text + 8] = 0xFF)),
    ];
    let dir = TempDir::new("inconsistent");
    for (what, damage) in cases {
        let mut b = bytes.clone();
        damage(&mut b);
        reseal(&mut b);
        match std::panic::catch_unwind(|| Index::from_bytes(&b)) {
            Ok(Err(Error::Corrupt(m))) => eprintln!("{what}: {m}"),
            Ok(other) => panic!("{what}: {:?}", other.err()),
            Err(_) => panic!("{what}: panicked"),
        }
        match std::panic::catch_unwind(|| open_bytes(&dir.path("x.omendb"), &b)) {
            Ok(Err(Error::Corrupt(_))) => {}
            Ok(other) => panic!("open, {what}: {:?}", other.err()),
            Err(_) => panic!("open, {what}: panicked"),
        }
    }
}

// ---- the committed format-1 fixture ----

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v1-small.omendb");
const FIXTURE_DIM: usize = 8;

/// The index stored in `tests/fixtures/v1-small.omendb`: 200 vectors of dim 8 under string
/// keys "doc-0".."doc-199" (L2, m 8), every 7th removed and repaired, 10 "new-i" added into
/// the freed slots, then 5 more removed and left pending. Kept so the fixture can be
/// regenerated (OMENDB_WRITE_FIXTURE=1) only when a new format version gets its own file.
fn build_fixture_index() -> (Index, Vec<f32>) {
    let dim = FIXTURE_DIM;
    let data = vectors(210, dim, 2024);
    let index = Index::new(IndexOptions { dim, metric: Metric::L2, m: 8, ef_construction: 64, ef_search: 48, seed: 7, ..Default::default() }).unwrap();
    add_rows(&index, &data, dim, 0..200, true, |i| format!("doc-{i}"));
    for i in (0..200).step_by(7) {
        index.remove(KeyRef::Str(&format!("doc-{i}"))).unwrap();
    }
    index.compact();
    add_rows(&index, &data, dim, 200..210, true, |i| format!("new-{}", i - 200));
    for i in [1, 50, 99, 150, 198] {
        index.remove(KeyRef::Str(&format!("doc-{i}"))).unwrap();
    }
    (index, data)
}

/// The live records of the fixture: (key, vector).
fn fixture_records(data: &[f32]) -> Vec<(String, Vec<f32>)> {
    let d = FIXTURE_DIM;
    let removed = |i: usize| i.is_multiple_of(7) || [1, 50, 99, 150, 198].contains(&i);
    let mut out: Vec<(String, Vec<f32>)> =
        (0..200).filter(|&i| !removed(i)).map(|i| (format!("doc-{i}"), data[i * d..(i + 1) * d].to_vec())).collect();
    out.extend((200..210).map(|i| (format!("new-{}", i - 200), data[i * d..(i + 1) * d].to_vec())));
    out
}

#[test]
#[ignore = "writes tests/fixtures/v1-small.omendb; run only when OMENDB_WRITE_FIXTURE=1"]
fn write_v1_fixture() {
    if std::env::var("OMENDB_WRITE_FIXTURE").as_deref() != Ok("1") {
        return;
    }
    assert_eq!(FORMAT_VERSION, 1, "a new format version gets its own fixture file");
    let (index, _) = build_fixture_index();
    std::fs::create_dir_all(Path::new(FIXTURE).parent().unwrap()).unwrap();
    index.save(FIXTURE).unwrap();
}

/// Hits of the fixture for query `vectors(1, 8, 31337)`, k 5, default ef: recorded when the
/// fixture was written. Keys and distances must never change.
const FIXTURE_QUERY_HITS: [(&str, f32); 5] =
    [("doc-129", 1.3537737), ("doc-92", 2.0924873), ("doc-59", 2.1513026), ("doc-128", 2.5565953), ("doc-32", 2.6410394)];

#[test]
fn v1_fixture_loads_with_known_answers() {
    let index = Index::load(FIXTURE).unwrap_or_else(|e| panic!("{FIXTURE}: {e}"));
    index.check_invariants().unwrap();
    let (_, data) = build_fixture_index();
    let records = fixture_records(&data);
    assert_eq!(index.len(), 176);
    assert_eq!(index.dim(), FIXTURE_DIM);
    assert_eq!(index.metric(), Metric::L2);
    assert_eq!(index.key_kind(), Some(KeyKind::Str));
    assert_eq!(index.options(), &IndexOptions { dim: 8, metric: Metric::L2, m: 8, ef_construction: 64, ef_search: 48, seed: 7, ..Default::default() });
    assert_eq!(index.slot_high_water(), 200);
    for (key, v) in &records {
        assert!(index.contains(KeyRef::Str(key)), "{key}");
        // Each record is its own nearest neighbour, at distance 0.
        let hit = &index.search(v, 1, Some(64)).unwrap()[0];
        assert_eq!((hit.key.as_str(), hit.distance), (key.as_str(), 0.0));
    }
    for gone in ["doc-0", "doc-7", "doc-196", "doc-1", "doc-198"] {
        assert!(!index.contains(KeyRef::Str(gone)), "{gone}");
    }
    // Exact answers by brute force (ef 200 >= the records: the search is exhaustive).
    for q in vectors(10, FIXTURE_DIM, 555).chunks_exact(FIXTURE_DIM) {
        let mut exact: Vec<(f32, &str)> = records
            .iter()
            .map(|(k, v)| (v.iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum::<f32>(), k.as_str()))
            .collect();
        exact.sort_by(|a, b| a.0.total_cmp(&b.0));
        let got: Vec<String> = index.search(q, 10, Some(200)).unwrap().into_iter().map(|h| h.key).collect();
        let want: Vec<&str> = exact[..10].iter().map(|p| p.1).collect();
        assert_eq!(got, want);
    }
    // The recorded answer of the default search.
    let hits = index.search(&vectors(1, FIXTURE_DIM, 31337), 5, None).unwrap();
    let got: Vec<(&str, f32)> = hits.iter().map(|h| (h.key.as_str(), h.distance)).collect();
    for ((gk, gd), (wk, wd)) in got.iter().zip(FIXTURE_QUERY_HITS) {
        assert_eq!(*gk, wk);
        assert!((gd - wd).abs() <= 1e-6 * wd.max(1.0), "{gk}: {gd} vs {wd}");
    }
    // While format 1 is the current version, the writer reproduces the fixture byte for byte,
    // and this build rebuilds its own version of the index deterministically. (Not the same
    // bytes as the file: a change to the graph algorithms, such as the repair pass of
    // e131343, changes the links built; the file stays as the older build wrote it.)
    if FORMAT_VERSION == 1 {
        let file = std::fs::read(FIXTURE).unwrap();
        assert_eq!(index.to_bytes().unwrap(), file);
        assert_eq!(build_fixture_index().0.to_bytes().unwrap(), build_fixture_index().0.to_bytes().unwrap());
    }
    // Further adds work.
    index.add(Keys::Str(&["later"]), &[0.5; FIXTURE_DIM]).unwrap();
    assert_eq!(index.search(&[0.5; FIXTURE_DIM], 1, None).unwrap()[0].key, "later");
    index.check_invariants().unwrap();
}

// ---- the committed format-2 fixture ----

const FIXTURE_V2: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v2-small.omendb");

#[test]
#[ignore = "writes tests/fixtures/v2-small.omendb; run only when OMENDB_WRITE_FIXTURE=1"]
fn write_v2_fixture() {
    if std::env::var("OMENDB_WRITE_FIXTURE").as_deref() != Ok("1") {
        return;
    }
    assert_eq!(FORMAT_VERSION, 2, "a new format version gets its own fixture file");
    // The index of the format-1 fixture, now with its metadata and texts (add_rows gives them).
    let (index, _) = build_fixture_index();
    index.save(FIXTURE_V2).unwrap();
    let q = vectors(1, FIXTURE_DIM, 31337);
    let show = |what: &str, run: &mut dyn FnMut(&mut Pairs)| {
        let mut v = Vec::new();
        run(&mut v);
        eprintln!("{what}: {v:?}");
    };
    let f = Filter::parse(FILTERS[0]).unwrap();
    show("filtered", &mut |o| drop(index.search_where(&q, 5, None, &f, |k, d| o.push((k.to_string_plain(), d)))));
    show("text", &mut |o| drop(index.text_search("saxophone quartet", 5, None, |k, d| o.push((k.to_string_plain(), d)))));
    show("hybrid", &mut |o| {
        drop(index.hybrid_search(&q, "piano live night", SearchRequest::new(5, None).with_filter(Some(&f)), Fusion::Rrf { k: 60.0 }, |k, d| o.push((k.to_string_plain(), d))))
    });
}

/// Answers of the format-2 fixture for query `vectors(1, 8, 31337)`, recorded when it was
/// written: filtered (`genre = "jazz"`, k 5), text ("saxophone quartet", k 5), hybrid ("piano
/// live night", the jazz filter, RRF 60, k 5).
const FIXTURE_V2_FILTERED: [(&str, f32); 5] =
    [("doc-172", 3.159433), ("doc-22", 3.2727287), ("doc-43", 3.6659298), ("doc-31", 3.9638894), ("new-8", 3.9871058)];
const FIXTURE_V2_TEXT: [(&str, f32); 5] =
    [("doc-10", 1.18417), ("doc-3", 1.1453736), ("doc-4", 0.95922387), ("doc-31", 0.95922387), ("doc-61", 0.95922387)];
const FIXTURE_V2_HYBRID: [(&str, f32); 5] =
    [("doc-82", 0.030798389), ("new-8", 0.030090498), ("doc-43", 0.029957524), ("doc-148", 0.029380456), ("doc-22", 0.029286927)];

fn assert_close(got: &[(String, f32)], want: &[(&str, f32)], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: {got:?}");
    for ((gk, gd), (wk, wd)) in got.iter().zip(want) {
        assert_eq!(gk, wk, "{what}: {got:?}");
        assert!((gd - wd).abs() <= 1e-6 * wd.abs().max(1.0), "{what}: {gk}: {gd} vs {wd}");
    }
}

#[test]
fn v2_fixture_loads_and_opens_with_known_answers() {
    let loaded = Index::load(FIXTURE_V2).unwrap_or_else(|e| panic!("{FIXTURE_V2}: {e}"));
    let opened = Index::open(FIXTURE_V2).unwrap_or_else(|e| panic!("{FIXTURE_V2}: {e}"));
    let (_, data) = build_fixture_index();
    let records = fixture_records(&data);
    for index in [&loaded, &opened] {
        index.check_invariants().unwrap();
        assert_eq!(index.len(), 176);
        assert_eq!(index.slot_high_water(), 200);
        assert_eq!(index.options(), &IndexOptions { dim: 8, metric: Metric::L2, m: 8, ef_construction: 64, ef_search: 48, seed: 7, ..Default::default() });
        for (key, v) in &records {
            let hit = &index.search(v, 1, Some(64)).unwrap()[0];
            assert_eq!((hit.key.as_str(), hit.distance), (key.as_str(), 0.0));
        }
        // Metadata comes back as it was given (every 5th record has none: an empty object).
        for i in [2usize, 3, 4, 100, 203] {
            let key = if i < 200 { format!("doc-{i}") } else { format!("new-{}", i - 200) };
            let got: serde_json::Value = serde_json::from_str(&index.metadata(KeyRef::Str(&key)).unwrap()).unwrap();
            let want: serde_json::Value = if i % 5 == 4 { serde_json::json!({}) } else { serde_json::from_str(&record_metadata(i)).unwrap() };
            assert_eq!(got, want, "{key}");
        }
        // Written before texts were kept (format 6 and older): a record's terms are there,
        // its text is not (the text search below still finds it).
        assert!(record_text(3).contains("saxophone") && index.contains(KeyRef::Str("doc-3")));
        assert_eq!(index.text(KeyRef::Str("doc-3")), None);
        let q = vectors(1, FIXTURE_DIM, 31337);
        let hits = index.search(&q, 5, None).unwrap();
        let got: Vec<(String, f32)> = hits.into_iter().map(|h| (h.key, h.distance)).collect();
        assert_close(&got, &FIXTURE_QUERY_HITS, "vector search");
        let f = Filter::parse(FILTERS[0]).unwrap();
        let mut got = Vec::new();
        index.search_where(&q, 5, None, &f, |k, d| got.push((k.to_string_plain(), d))).unwrap();
        assert_close(&got, &FIXTURE_V2_FILTERED, "filtered search");
        let mut got = Vec::new();
        index.text_search("saxophone quartet", 5, None, |k, d| got.push((k.to_string_plain(), d))).unwrap();
        assert_close(&got, &FIXTURE_V2_TEXT, "text search");
        let mut got = Vec::new();
        index.hybrid_search(&q, "piano live night", SearchRequest::new(5, None).with_filter(Some(&f)), Fusion::Rrf { k: 60.0 }, |k, d| got.push((k.to_string_plain(), d))).unwrap();
        assert_close(&got, &FIXTURE_V2_HYBRID, "hybrid search");
    }
    assert!(opened.is_read_only());
    // While format 2 is the current version, the writer reproduces the fixture byte for byte.
    // A rebuild from scratch is deterministic, but need not equal the committed file: the
    // fixture's removals go through the repair pass, which may change between versions.
    if FORMAT_VERSION == 2 {
        let file = std::fs::read(FIXTURE_V2).unwrap();
        assert_eq!(loaded.to_bytes().unwrap(), file);
        assert_eq!(opened.to_bytes().unwrap(), file);
        assert_eq!(build_fixture_index().0.to_bytes().unwrap(), build_fixture_index().0.to_bytes().unwrap());
    }
    loaded.add(Keys::Str(&["later"]), &[0.5; FIXTURE_DIM]).unwrap();
    assert_eq!(loaded.search(&[0.5; FIXTURE_DIM], 1, None).unwrap()[0].key, "later");
}

// ---- crash consistency ----

const CHILD_SRC_A: &str = "OMENDB_CRASH_CHILD_A";
const CHILD_SRC_B: &str = "OMENDB_CRASH_CHILD_B";
const CHILD_TARGET: &str = "OMENDB_CRASH_CHILD_TARGET";
const READY: &str = "<crash child: first save done>";

/// The child of `crash_during_save_leaves_old_or_new`: does nothing in a normal test run.
/// With the variables set, loads indexes A and B and saves them in turn to the target path
/// until it is killed.
#[test]
fn crash_child() {
    let (Ok(a), Ok(b), Ok(target)) = (std::env::var(CHILD_SRC_A), std::env::var(CHILD_SRC_B), std::env::var(CHILD_TARGET)) else {
        return;
    };
    let a = Index::load(a).unwrap();
    let b = Index::load(b).unwrap();
    a.save(&target).unwrap();
    // libtest has already printed "test crash_child ... " on this line.
    println!("{READY}");
    use std::io::Write;
    std::io::stdout().flush().unwrap();
    loop {
        b.save(&target).unwrap();
        a.save(&target).unwrap();
    }
}

#[test]
fn crash_during_save_leaves_old_or_new() {
    const KILLS: usize = 200;
    let dir = TempDir::new("crash");
    let dim = 32;
    let data = vectors(2200, dim, 5);
    let a = Index::new(options(dim, Metric::Cosine, 8)).unwrap();
    a.add(Keys::U64(&(0..2000).collect::<Vec<u64>>()), &data[..2000 * dim]).unwrap();
    let (pa, pb, target) = (dir.path("a.omendb"), dir.path("b.omendb"), dir.path("target.omendb"));
    a.save(&pa).unwrap();
    let b = Index::load(&pa).unwrap();
    b.add(Keys::U64(&(2000..2200).collect::<Vec<u64>>()), &data[2000 * dim..]).unwrap();
    for k in 0..100 {
        b.remove(KeyRef::U64(k * 3)).unwrap();
    }
    b.save(&pb).unwrap();
    let (bytes_a, bytes_b) = (std::fs::read(&pa).unwrap(), std::fs::read(&pb).unwrap());
    assert_ne!(bytes_a, bytes_b);
    let t = Instant::now();
    for _ in 0..5 {
        a.save(&target).unwrap();
    }
    let save_time = t.elapsed() / 5;

    let exe = std::env::current_exe().unwrap();
    let mut rng = 0x1234_5678_9ABC_DEF1u64;
    let (mut found_a, mut found_b) = (0, 0);
    let start = Instant::now();
    for i in 0..KILLS {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_SRC_A, &pa)
            .env(CHILD_SRC_B, &pb)
            .env(CHILD_TARGET, &target)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = lines.by_ref().map_while(|l| l.ok()).any(|l| l.contains(READY));
        assert!(ready, "kill {i}: the child ended before its first save");
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // Somewhere in the next four saves.
        let delay = Duration::from_nanos(rng % (4 * save_time.as_nanos() as u64 + 1));
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let got = std::fs::read(&target).unwrap();
        let loaded = Index::load(&target).unwrap_or_else(|e| panic!("kill {i}: {e}"));
        if got == bytes_a {
            found_a += 1;
            assert_eq!(loaded.len(), 2000);
        } else if got == bytes_b {
            found_b += 1;
            assert_eq!(loaded.len(), 2100);
        } else {
            panic!("kill {i}: the file is neither the old nor the new index");
        }
    }
    let temps = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().contains(".tmp-"))
            .collect()
    };
    let leftovers = temps(&dir.0).len();
    eprintln!(
        "crash test: {KILLS} SIGKILLs during saves ({:?} per save, {:?} in all): file was A {found_a} times, B {found_b} times, \
         never anything else; {leftovers} temporary files left behind",
        save_time,
        start.elapsed()
    );
    assert!(found_a > 0 && found_b > 0, "kills should land in both halves of the loop");
    // The killed children's temporary files are unlocked (their locks died with them); once
    // older than STRAY_MIN_AGE (aged here by hand), the next load removes every one.
    for t in temps(&dir.0) {
        age(&t, omendb::storage::atomic::STRAY_MIN_AGE * 2);
    }
    Index::load(&target).unwrap();
    if cfg!(unix) {
        assert_eq!(temps(&dir.0), Vec::<PathBuf>::new());
    }
}

/// Sets the modification time of `path` to `by` ago.
fn age(path: &Path, by: Duration) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(std::time::SystemTime::now() - by).unwrap();
}

/// Issue #21, item 5: strays were judged by pid, so the temporary file of a save in another
/// PID namespace (another container, another NFS client: its pid means nothing here, or names
/// another process) was deleted under it. They are judged by a lock and by age now.
#[test]
#[cfg(unix)]
fn stray_temporary_files_are_judged_by_lock_and_age_not_pid() {
    use std::os::unix::io::AsRawFd;
    let dir = TempDir::new("strays");
    let target = dir.path("x.omendb");
    let old = omendb::storage::atomic::STRAY_MIN_AGE * 2;
    // A pid no process here can have: before the fix, this alone made a file a stray.
    let foreign = u32::MAX;
    let files = [
        (format!(".x.omendb.tmp-{foreign}-0"), old, false, false),           // old, unlocked: a killed save
        (format!(".x.omendb.tmp-{foreign}-1-abc"), old, false, false),       // the new naming, same
        (format!(".x.omendb.tmp-{foreign}-2"), old, true, true),             // a save in progress elsewhere
        (format!(".x.omendb.tmp-{foreign}-3"), Duration::ZERO, false, true), // just created, not yet locked
        (format!(".y.omendb.tmp-{foreign}-0"), old, false, true),            // another index's
        ("x.omendb.bak".to_string(), old, false, true),
    ];
    let mut held = Vec::new();
    for (name, age_by, locked, _) in &files {
        std::fs::write(dir.path(name), b"partial").unwrap();
        age(&dir.path(name), *age_by);
        if *locked {
            // Another open file description: its flock conflicts with the cleaner's as a
            // process in another namespace would.
            let f = std::fs::File::open(dir.path(name)).unwrap();
            // SAFETY: flock on a descriptor this test owns.
            assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }, 0);
            held.push(f);
        }
    }
    let index = Index::new(options(2, Metric::L2, 4)).unwrap();
    index.add(Keys::U64(&[1]), &[1.0, 2.0]).unwrap();
    index.save(&target).unwrap();
    for (name, _, _, kept) in &files {
        assert_eq!(dir.path(name).exists(), *kept, "{name}");
    }
    // Once its saver is gone (the lock released), an old file goes at the next load or open.
    drop(held);
    Index::load(&target).unwrap();
    assert!(!dir.path(&format!(".x.omendb.tmp-{foreign}-2")).exists());
    std::fs::write(dir.path(".x.omendb.tmp-9-9"), b"partial").unwrap();
    age(&dir.path(".x.omendb.tmp-9-9"), old);
    Index::open(&target).unwrap();
    assert!(!dir.path(".x.omendb.tmp-9-9").exists());
}

/// Concurrent savers of one path (threads here; processes elsewhere behave the same, the lock
/// being per open file): none has its temporary file removed under it, every save succeeds.
#[test]
fn concurrent_saves_of_one_path_all_succeed() {
    let dir = TempDir::new("concurrent-saves");
    let target = dir.path("shared.omendb");
    let index = Index::new(options(4, Metric::L2, 4)).unwrap();
    index.add(Keys::U64(&(0..200).collect::<Vec<u64>>()), &vectors(200, 4, 3)).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..25 {
                    index.save(&target).unwrap();
                    Index::load(&target).unwrap();
                }
            });
        }
    });
    assert_eq!(Index::load(&target).unwrap().len(), 200);
}

// ---- concurrency ----

#[test]
fn save_while_other_threads_write_and_search() {
    let dir = TempDir::new("concurrent");
    let dim = 16;
    let data = vectors(4000, dim, 11);
    let index = Index::new(options(dim, Metric::L2, 8)).unwrap();
    index.add(Keys::U64(&(0..1000).collect::<Vec<u64>>()), &data[..1000 * dim]).unwrap();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let (index, data, stop) = (&index, &data, &stop);
        for t in 0..2u64 {
            s.spawn(move || {
                let mut next = 1000 + t as usize * 1500;
                let end = next + 1500;
                while !stop.load(Ordering::Relaxed) && next < end {
                    let keys: Vec<u64> = (next as u64..next as u64 + 10).collect();
                    index.add(Keys::U64(&keys), &data[next * dim..(next + 10) * dim]).unwrap();
                    index.remove(KeyRef::U64(keys[3])).unwrap();
                    next += 10;
                }
            });
        }
        s.spawn(move || {
            let q = &data[..dim];
            while !stop.load(Ordering::Relaxed) {
                assert!(!index.search(q, 5, None).unwrap().is_empty());
            }
        });
        for round in 0..10 {
            let path = dir.path(&format!("snap-{round}.omendb"));
            index.save(&path).unwrap();
            let loaded = Index::load(&path).unwrap();
            loaded.check_invariants().unwrap_or_else(|e| panic!("snapshot {round}: {e}"));
            assert!(loaded.len() >= 1000);
            std::thread::sleep(Duration::from_millis(5));
        }
        stop.store(true, Ordering::Relaxed);
    });
    let path = dir.path("final.omendb");
    index.save(&path).unwrap();
    let loaded = Index::load(&path).unwrap();
    assert_same(&index, &loaded, &data[..20 * dim], dim);
}
