//! The committed index files under `tests/fixtures/`, taken together: every one loads, and
//! what a load of it saves again is the same bytes as before a change (a refactor of the
//! engine or the writer must not change a single byte); plus the format-5 fixture, an f32 index
//! whose records pack (`docs/format.md`, "Version 5"), the format-6 fixture, whose metadata
//! holds null and lists of numbers, and the format-7 fixture, the format-5 fixture's index
//! written with its texts as given (TXTS), and the format-8 fixture, that index made with 8-bit
//! neighbour codes (NCOD), each with the answers recorded when it was written.
//! The older fixtures keep their own tests (`persistence.rs`, `quant_persistence.rs`).

mod common;
use common::splitmix_vectors as vectors;
use std::path::Path;

use omendb::filter::Filter;
use omendb::{Index, IndexOptions, KeyKind, KeyRef, Keys, Metric, Payloads};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
const FIXTURE_V5: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v5-packed-small.omendb");
const FIXTURE_V7: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v7-texts-small.omendb");

/// FNV-1a over the bytes: enough to tell two saves apart, and printable.
fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

/// The bytes a load of each fixture saves again: (file, length, fingerprint), recorded with
/// the build before the #22 reshaping (84cdc47) and the writers of the newer fixtures. A change
/// here means the writer (or the engine under it) changed what it writes.
const RESAVED: [(&str, usize, u64); 9] = [
    ("v1-small.omendb", 31168, 0x6e82f903c6c07463),
    ("v2-small.omendb", 47808, 0xa278e82158601634),
    ("v3-binary-small.omendb", 48064, 0x326b1a114c89aa15),
    ("v3-int8-small.omendb", 38336, 0x025149f24c1c7fec),
    ("v4-binary-unpacked.omendb", 43264, 0xa79ecbbbbf7f6f60),
    ("v5-packed-small.omendb", 81024, 0x69915b06dba5c318),
    ("v6-metadata-small.omendb", 24128, 0xc720d6e707919b35),
    ("v7-texts-small.omendb", 86976, 0xabb428b7ff7ad3ee),
    ("v8-codes-small.omendb", 87104, 0xa053abdacfab6eaa),
];

#[test]
fn every_fixture_resaves_to_the_recorded_bytes() {
    let mut report = String::new();
    let mut wrong = Vec::new();
    for (name, len, print) in RESAVED {
        let path = Path::new(FIXTURES).join(name);
        let index = Index::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        index.check_invariants().unwrap_or_else(|e| panic!("{name}: {e}"));
        let bytes = index.to_bytes().unwrap();
        let got = (bytes.len(), fingerprint(&bytes));
        report.push_str(&format!("    (\"{name}\", {}, 0x{:016x}),\n", got.0, got.1));
        if got != (len, print) {
            wrong.push(name);
        }
    }
    assert!(wrong.is_empty(), "re-saved bytes differ for {wrong:?}; now:\n{report}");
}

// ---- the format-5 fixture ----

const V5_DIM: usize = 12;


fn v5_options() -> IndexOptions {
    // 12 dimensions with m 16: the layer-0 list ends 4 bytes short of the upper reference, and
    // moving the lock, level and state there saves a cache line (256 -> 192 bytes a record).
    IndexOptions { dim: V5_DIM, metric: Metric::Cosine, m: 16, ef_construction: 64, ef_search: 40, seed: 5, ..Default::default() }
}

/// The index stored in `v5-packed-small.omendb`: 300 records under string keys "r-0".."r-299",
/// in batches of 16 (one thread: the same graph every time), with nested metadata on most and
/// a text on two thirds; every 9th removed and repaired, 6 added into the freed slots, 4 more
/// removed and left pending.
fn build_v5_index() -> (Index, Vec<f32>) {
    build_v5_index_with(v5_options())
}

/// The index of `build_v5_index`, made with `options`.
fn build_v5_index_with(options: IndexOptions) -> (Index, Vec<f32>) {
    let data = vectors(306, V5_DIM, 55);
    let index = Index::new(options).unwrap();
    let mut i = 0;
    while i < 306 {
        let end = (i + 16).min(if i < 300 { 300 } else { 306 });
        let metas: Vec<String> =
            (i..end).map(|j| format!("{{\"n\": {j}, \"group\": {{\"name\": \"g{}\", \"even\": {}}}}}", j % 7, j % 2 == 0)).collect();
        let texts: Vec<String> = (i..end).map(|j| format!("record {j} of group g{} {}", j % 7, ["red", "green", "blue"][j % 3])).collect();
        let meta_refs: Vec<Option<&str>> = (i..end).zip(&metas).map(|(j, m)| (j % 5 != 4).then_some(m.as_str())).collect();
        let text_refs: Vec<Option<&str>> = (i..end).zip(&texts).map(|(j, t)| (j % 3 != 2).then_some(t.as_str())).collect();
        let names: Vec<String> = (i..end).map(|j| format!("r-{j}")).collect();
        let keys: Vec<&str> = names.iter().map(String::as_str).collect();
        let payloads = Payloads { metadata: Some(&meta_refs), texts: Some(&text_refs) };
        index.add_with(Keys::Str(&keys), &data[i * V5_DIM..end * V5_DIM], payloads).unwrap();
        i = end;
        if i == 300 {
            for r in (0..300).step_by(9) {
                index.remove(KeyRef::Str(&format!("r-{r}"))).unwrap();
            }
            index.compact();
        }
    }
    for r in [10, 100, 200, 299] {
        index.remove(KeyRef::Str(&format!("r-{r}"))).unwrap();
    }
    (index, data)
}

#[test]
#[ignore = "writes tests/fixtures/v5-packed-small.omendb; run only when OMENDB_WRITE_FIXTURE=1"]
fn write_v5_fixture() {
    if std::env::var("OMENDB_WRITE_FIXTURE").as_deref() != Ok("1") {
        return;
    }
    let (index, _) = build_v5_index();
    index.save(FIXTURE_V5).unwrap();
    let query = vectors(1, V5_DIM, 777);
    let hits: Vec<(String, f32)> = index.search(&query, 5, None).unwrap().into_iter().map(|h| (h.key, h.distance)).collect();
    eprintln!("plain: {hits:?}");
    let filter = Filter::parse("group.even = TRUE AND n < 150").unwrap();
    let mut filtered = Vec::new();
    index.search_where(&query, 5, None, &filter, |k, d| filtered.push((k.to_string_plain(), d))).unwrap();
    eprintln!("filtered: {filtered:?}");
}

/// Answers recorded when the fixture was written (query `vectors(1, 12, 777)`, k 5).
const V5_PLAIN: [(&str, f32); 5] =
    [("r-218", 0.29482114), ("r-300", 0.30575424), ("r-78", 0.31191206), ("r-266", 0.32808912), ("r-106", 0.3505714)];
const V5_FILTERED: [(&str, f32); 5] =
    [("r-78", 0.31191206), ("r-106", 0.3505714), ("r-30", 0.3527307), ("r-22", 0.39234436), ("r-52", 0.56795144)];

fn check_v5_answers(index: &Index, what: &str) {
    let query = vectors(1, V5_DIM, 777);
    let plain: Vec<(String, f32)> = index.search(&query, 5, None).unwrap().into_iter().map(|h| (h.key, h.distance)).collect();
    let want: Vec<(String, f32)> = V5_PLAIN.iter().map(|(k, d)| (k.to_string(), *d)).collect();
    assert_eq!(plain, want, "{what}: plain search");
    let filter = Filter::parse("group.even = TRUE AND n < 150").unwrap();
    let mut filtered = Vec::new();
    index.search_where(&query, 5, None, &filter, |k, d| filtered.push((k.to_string_plain(), d))).unwrap();
    let want: Vec<(String, f32)> = V5_FILTERED.iter().map(|(k, d)| (k.to_string(), *d)).collect();
    assert_eq!(filtered, want, "{what}: filtered search");
}

#[test]
fn v5_fixture_loads_and_opens_with_known_answers() {
    let bytes = std::fs::read(FIXTURE_V5).unwrap();
    assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 5, "format version in the header");
    let loaded = Index::load(FIXTURE_V5).unwrap();
    loaded.check_invariants().unwrap();
    assert_eq!(loaded.len(), 300 - 34 + 6 - 4);
    assert_eq!(loaded.dim(), V5_DIM);
    assert_eq!(loaded.key_kind(), Some(KeyKind::Str));
    assert_eq!(loaded.options(), &v5_options());
    assert_eq!(loaded.metadata(KeyRef::Str("r-1")).unwrap(), r#"{"group":{"even":false,"name":"g1"},"n":1}"#);
    check_v5_answers(&loaded, "load");
    let opened = Index::open(FIXTURE_V5).unwrap();
    assert!(opened.is_read_only());
    check_v5_answers(&opened, "open");
    // Written before texts were kept: a record's terms score it, its text is not there.
    for index in [&loaded, &opened] {
        assert_eq!(text_hits(index, "103 green"), ["r-103"]);
        assert_eq!(index.text(KeyRef::Str("r-103")), None);
    }
    // Without texts to keep, this build writes the same bytes (the same index built now keeps
    // its texts: that is the format-7 fixture).
    assert_eq!(loaded.to_bytes().unwrap(), bytes, "load, save");
    assert_eq!(opened.to_bytes().unwrap(), bytes, "open, save");
}

/// The key of the best text hit for `query` (none for no hit).
fn text_hits(index: &Index, query: &str) -> Vec<String> {
    let mut found = Vec::new();
    index.text_search(query, 1, None, |k, _| found.push(k.to_string_plain())).unwrap();
    found
}

// ---- the format-7 fixture: the format-5 index with its texts as given ----

#[test]
#[ignore = "writes tests/fixtures/v7-texts-small.omendb; run only when OMENDB_WRITE_FIXTURE=1"]
fn write_v7_fixture() {
    if std::env::var("OMENDB_WRITE_FIXTURE").as_deref() != Ok("1") {
        return;
    }
    build_v5_index().0.save(FIXTURE_V7).unwrap();
}

#[test]
fn v7_fixture_loads_and_opens_with_known_answers() {
    let bytes = std::fs::read(FIXTURE_V7).unwrap();
    assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 7, "format version in the header");
    let loaded = Index::load(FIXTURE_V7).unwrap();
    loaded.check_invariants().unwrap();
    let opened = Index::open(FIXTURE_V7).unwrap();
    for (index, what) in [(&loaded, "load"), (&opened, "open")] {
        assert_eq!(index.options(), &v5_options(), "{what}");
        check_v5_answers(index, what);
        assert_eq!(text_hits(index, "103 green"), ["r-103"], "{what}");
        // Record j had "record j of group g{j % 7} {red, green, blue}" unless j % 3 == 2.
        assert_eq!(index.text(KeyRef::Str("r-103")).as_deref(), Some("record 103 of group g5 green"), "{what}");
        assert_eq!(index.text(KeyRef::Str("r-303")).as_deref(), Some("record 303 of group g2 red"), "{what}");
        assert_eq!(index.text(KeyRef::Str("r-104")), None, "{what}: added without a text");
        assert_eq!(index.text(KeyRef::Str("r-9")), None, "{what}: removed");
        assert!(!index.contains(KeyRef::Str("r-9")));
    }
    // The file is what this build writes for the same index, byte for byte.
    assert_eq!(loaded.to_bytes().unwrap(), bytes, "load, save");
    assert_eq!(opened.to_bytes().unwrap(), bytes, "open, save");
    assert_eq!(build_v5_index().0.to_bytes().unwrap(), bytes, "build, save");
}

// ---- the format-8 fixture: the format-7 index with 8-bit neighbour codes ----

const FIXTURE_V8: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v8-codes-small.omendb");

fn v8_options() -> IndexOptions {
    IndexOptions { neighbor_codes: 8, ..v5_options() }
}

#[test]
#[ignore = "writes tests/fixtures/v8-codes-small.omendb; run only when OMENDB_WRITE_FIXTURE=1"]
fn write_v8_fixture() {
    if std::env::var("OMENDB_WRITE_FIXTURE").as_deref() != Ok("1") {
        return;
    }
    build_v5_index_with(v8_options()).0.save(FIXTURE_V8).unwrap();
}

#[test]
fn v8_fixture_loads_and_opens_with_known_answers() {
    let bytes = std::fs::read(FIXTURE_V8).unwrap();
    assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 8, "format version in the header");
    let loaded = Index::load(FIXTURE_V8).unwrap();
    loaded.check_invariants().unwrap();
    let opened = Index::open(FIXTURE_V8).unwrap();
    // Loaded, the codes are in the blocks again; mapped, in blocks beside the mapping.
    assert_eq!(loaded.stats()["neighbor_codes_in_use"], true);
    assert_eq!(opened.stats()["neighbor_codes_in_use"], true);
    for (index, what) in [(&loaded, "load"), (&opened, "open")] {
        assert_eq!(index.options(), &v8_options(), "{what}");
        check_v5_answers(index, what);
        assert_eq!(index.text(KeyRef::Str("r-103")).as_deref(), Some("record 103 of group g5 green"), "{what}");
    }
    // The file is what this build writes for the same index, byte for byte, whether it was
    // loaded, mapped (which keeps the codes' ranges to write them again) or built.
    assert_eq!(loaded.to_bytes().unwrap(), bytes, "load, save");
    assert_eq!(opened.to_bytes().unwrap(), bytes, "open, save");
    assert_eq!(build_v5_index_with(v8_options()).0.to_bytes().unwrap(), bytes, "build, save");
}

// ---- the format-6 fixture: null and lists of numbers in the metadata ----

const FIXTURE_V6: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v6-metadata-small.omendb");
const V6_DIM: usize = 8;

fn v6_options() -> IndexOptions {
    IndexOptions { dim: V6_DIM, metric: Metric::L2, m: 8, ef_construction: 48, ef_search: 32, seed: 6, ..Default::default() }
}

/// The index stored in `v6-metadata-small.omendb`: 120 records under u64 keys 0..120, in
/// batches of 20 (one thread: the same graph every time); record i's metadata holds
/// `scores` = [i % 5, i % 7 + 0.5] and `note` = null for every third, a string otherwise.
fn build_v6_index() -> Index {
    let data = vectors(120, V6_DIM, 66);
    let index = Index::new(v6_options()).unwrap();
    for start in (0..120).step_by(20) {
        let keys: Vec<u64> = (start as u64..start as u64 + 20).collect();
        let metas: Vec<String> = (start..start + 20)
            .map(|i| {
                let note = if i % 3 == 0 { "null".to_string() } else { format!("\"n{i}\"") };
                format!(r#"{{"scores": [{}, {}.5], "note": {note}}}"#, i % 5, i % 7)
            })
            .collect();
        let meta_refs: Vec<Option<&str>> = metas.iter().map(|m| Some(m.as_str())).collect();
        let payloads = Payloads { metadata: Some(&meta_refs), texts: None };
        index.add_with(Keys::U64(&keys), &data[start * V6_DIM..(start + 20) * V6_DIM], payloads).unwrap();
    }
    index
}

const V6_FILTERS: [&str; 3] = ["scores CONTAINS 3", "note = null", "scores CONTAINS 2.5 AND note != null"];

#[test]
#[ignore = "writes tests/fixtures/v6-metadata-small.omendb; run only when OMENDB_WRITE_FIXTURE=1"]
fn write_v6_fixture() {
    if std::env::var("OMENDB_WRITE_FIXTURE").as_deref() != Ok("1") {
        return;
    }
    let index = build_v6_index();
    index.save(FIXTURE_V6).unwrap();
    let query = vectors(1, V6_DIM, 666);
    for text in V6_FILTERS {
        let mut found = Vec::new();
        index.search_where(&query, 4, None, &Filter::parse(text).unwrap(), |k, d| found.push((k.to_string_plain(), d))).unwrap();
        eprintln!("{text}: {found:?}");
    }
}

/// Answers recorded when the fixture was written (query `vectors(1, 8, 666)`, k 4), one row
/// per filter of `V6_FILTERS`.
const V6_ANSWERS: [[(&str, f32); 4]; 3] = [
    [("118", 2.19664), ("33", 2.5445514), ("8", 2.7974763), ("68", 2.856255)],
    [("105", 0.97332996), ("0", 1.857242), ("102", 1.8984532), ("51", 2.408973)],
    [("107", 1.9599099), ("44", 2.5401988), ("79", 2.8485808), ("58", 2.869769)],
];

fn check_v6_answers(index: &Index, what: &str) {
    let query = vectors(1, V6_DIM, 666);
    for (text, want) in V6_FILTERS.iter().zip(&V6_ANSWERS) {
        let mut found = Vec::new();
        index.search_where(&query, 4, None, &Filter::parse(text).unwrap(), |k, d| found.push((k.to_string_plain(), d))).unwrap();
        let want: Vec<(String, f32)> = want.iter().map(|(k, d)| (k.to_string(), *d)).collect();
        assert_eq!(found, want, "{what}: {text}");
    }
}

#[test]
fn v6_fixture_loads_and_opens_with_known_answers() {
    let bytes = std::fs::read(FIXTURE_V6).unwrap();
    assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 6, "format version in the header");
    let loaded = Index::load(FIXTURE_V6).unwrap();
    loaded.check_invariants().unwrap();
    assert_eq!(loaded.len(), 120);
    assert_eq!(loaded.metadata(KeyRef::U64(3)).unwrap(), r#"{"note":null,"scores":[3,3.5]}"#);
    assert_eq!(loaded.metadata(KeyRef::U64(4)).unwrap(), r#"{"note":"n4","scores":[4,4.5]}"#);
    check_v6_answers(&loaded, "load");
    let opened = Index::open(FIXTURE_V6).unwrap();
    check_v6_answers(&opened, "open");
    assert_eq!(loaded.to_bytes().unwrap(), bytes, "load, save");
    assert_eq!(build_v6_index().to_bytes().unwrap(), bytes, "build, save");
    // The same index without null or lists of numbers is written in an older version.
    let plain = Index::new(v6_options()).unwrap();
    plain.add(Keys::U64(&[1]), &vectors(1, V6_DIM, 1)).unwrap();
    assert!(u32::from_le_bytes(plain.to_bytes().unwrap()[8..12].try_into().unwrap()) < 6);
}

// ---- a durable directory (docs/format.md, "Durable directories") ----------------------------

const DURABLE_FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/durable-v1");
const DURABLE_DIM: usize = 6;
/// Bytes of a torn record appended to the fixture's log: a frame that promises 100 bytes of
/// payload, cut after 20.
const DURABLE_TORN: usize = 20;

fn durable_options() -> IndexOptions {
    IndexOptions { dim: DURABLE_DIM, metric: Metric::Cosine, m: 8, ef_construction: 32, ..IndexOptions::default() }
}

fn durable_payloads(prefix: &str, range: std::ops::Range<usize>, version: u32) -> (Vec<String>, Vec<String>, Vec<String>) {
    let keys = range.clone().map(|i| format!("{prefix}-{i}")).collect();
    let meta = range.clone().map(|i| format!(r#"{{"n": {i}, "v": {version}, "tag": {{"odd": {}}}}}"#, i % 2 == 1)).collect();
    let texts = range.map(|i| format!("alpha word{i} version{version}")).collect();
    (keys, meta, texts)
}

fn durable_put(index: &Index, prefix: &str, range: std::ops::Range<usize>, version: u32, upsert: bool) {
    let (keys, meta, texts) = durable_payloads(prefix, range.clone(), version);
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let meta: Vec<Option<&str>> = meta.iter().map(|m| Some(m.as_str())).collect();
    let texts: Vec<Option<&str>> = texts.iter().map(|t| Some(t.as_str())).collect();
    let v = vectors(range.len(), DURABLE_DIM, range.start as u64 * 31 + version as u64);
    let payloads = Payloads { metadata: Some(&meta), texts: Some(&texts) };
    if upsert {
        index.upsert_with(Keys::Str(&keys), &v, payloads).unwrap();
    } else {
        index.add_with(Keys::Str(&keys), &v, payloads).unwrap();
    }
}

/// Writes the fixture's directory into `dir`: 40 records (two batches) and an upsert, a checkpoint, then a
/// batch of 5, a remove and an upsert in the log, and a torn record at its end.
fn write_durable_dir(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    let options = durable_options();
    let durability = omendb::Durability { sync: omendb::SyncMode::Off, checkpoint_bytes: 0 };
    let index = Index::open_dir(dir, omendb::index::options_must_match(&options, &[]), durability).unwrap();
    // Batches under 32 records are linked one by one: the same graph on every run.
    durable_put(&index, "d", 0..20, 1, false);
    durable_put(&index, "d", 20..40, 1, false);
    durable_put(&index, "d", 3..4, 2, true);
    index.checkpoint().unwrap();
    durable_put(&index, "e", 0..5, 5, false);
    index.remove(KeyRef::Str("d-7")).unwrap();
    durable_put(&index, "d", 10..11, 3, true);
    drop(index);
    let _ = std::fs::remove_file(dir.join("LOCK"));
    let log = dir.join("log-0000000000000002.wal");
    let mut bytes = std::fs::read(&log).unwrap();
    let mut torn = Vec::new();
    torn.extend_from_slice(&100u32.to_le_bytes());
    torn.extend_from_slice(&[0xAB; DURABLE_TORN - 4]);
    bytes.extend_from_slice(&torn);
    std::fs::write(&log, bytes).unwrap();
}

fn dir_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() != "LOCK")
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect();
    files.sort();
    files
}

#[test]
#[ignore = "writes tests/fixtures/durable-v1; run only when OMENDB_WRITE_FIXTURE=1"]
fn write_durable_fixture() {
    if std::env::var("OMENDB_WRITE_FIXTURE").as_deref() != Ok("1") {
        return;
    }
    write_durable_dir(Path::new(DURABLE_FIXTURE));
    let work = std::env::temp_dir().join("omendb-durable-fixture-answers");
    copy_fixture(&work);
    let index = Index::open_dir(&work, omendb::index::options_must_match(&IndexOptions::default(), &[]), Default::default()).unwrap();
    let query = vectors(1, DURABLE_DIM, 4242);
    let hits: Vec<(String, f32)> = index.search(&query, 5, None).unwrap().into_iter().map(|h| (h.key, h.distance)).collect();
    eprintln!("plain: {hits:?}");
}

fn copy_fixture(to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for (name, bytes) in dir_files(Path::new(DURABLE_FIXTURE)) {
        std::fs::write(to.join(name), bytes).unwrap();
    }
}

/// Answers recorded when the fixture was written (query `vectors(1, 6, 4242)`, k 5).
const DURABLE_PLAIN: [(&str, f32); 5] =
    [("d-13", 0.23029172), ("d-18", 0.3757742), ("e-0", 0.41445172), ("d-23", 0.42048), ("d-39", 0.45218563)];

#[test]
fn durable_fixture_recovers_with_known_answers() {
    let work = std::env::temp_dir().join(format!("omendb-durable-fixture-{}", std::process::id()));
    copy_fixture(&work);
    let index = Index::open_dir(&work, omendb::index::options_must_match(&IndexOptions::default(), &[]), Default::default()).unwrap();
    let r = index.recovery().unwrap();
    assert_eq!((r.snapshot_generation, r.records_replayed, r.bytes_dropped), (2, 3, DURABLE_TORN as u64));
    assert!(r.stopped.as_deref().is_some_and(|why| why.contains("torn")), "{:?}", r.stopped);
    index.check_invariants().unwrap();
    assert_eq!(index.len(), 40 + 5 - 1);
    assert_eq!(index.options(), &durable_options());
    assert!(!index.contains(KeyRef::Str("d-7")));
    assert_eq!(index.metadata(KeyRef::Str("d-3")).unwrap(), r#"{"n":3,"tag":{"odd":true},"v":2}"#);
    assert_eq!(index.metadata(KeyRef::Str("d-10")).unwrap(), r#"{"n":10,"tag":{"odd":false},"v":3}"#);
    let mut found = Vec::new();
    index.text_search("word4 version5", 1, None, |k, _| found.push(k.to_string_plain())).unwrap();
    assert_eq!(found, ["e-4"]);
    // The snapshot was written before texts were kept: the texts it holds score but do not come
    // back; the texts replayed from the log do.
    assert_eq!(index.text(KeyRef::Str("d-3")), None);
    assert_eq!(index.text(KeyRef::Str("e-4")).as_deref(), Some("alpha word4 version5"));
    assert_eq!(index.text(KeyRef::Str("d-10")).as_deref(), Some("alpha word10 version3"));
    let query = vectors(1, DURABLE_DIM, 4242);
    let plain: Vec<(String, f32)> = index.search(&query, 5, None).unwrap().into_iter().map(|h| (h.key, h.distance)).collect();
    let want: Vec<(String, f32)> = DURABLE_PLAIN.iter().map(|(k, d)| (k.to_string(), *d)).collect();
    assert_eq!(plain, want);
    drop(index);
    let _ = std::fs::remove_dir_all(&work);

    // The fixture is what this build writes for the same calls, byte for byte, but for its
    // snapshot: written before texts were kept (format 2), it is written now with them
    // (format 7, TXTS), and holds the same records otherwise.
    let again = std::env::temp_dir().join(format!("omendb-durable-fixture-again-{}", std::process::id()));
    write_durable_dir(&again);
    let (now, then) = (dir_files(&again), dir_files(Path::new(DURABLE_FIXTURE)));
    let names = |files: &[(String, Vec<u8>)]| files.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
    assert_eq!(names(&now), names(&then));
    let version = |bytes: &[u8]| u32::from_le_bytes(bytes[8..12].try_into().unwrap());
    for ((name, now), (_, then)) in now.iter().zip(&then) {
        if !name.starts_with("snapshot-") {
            assert!(now == then, "{name}: the file written now differs from the fixture's");
            continue;
        }
        assert_eq!((version(now), version(then)), (7, 2), "{name}");
        let (now, then) = (Index::from_bytes(now).unwrap(), Index::from_bytes(then).unwrap());
        assert_eq!(now.len(), then.len());
        for i in 0..40 {
            let key = format!("d-{i}");
            let key = KeyRef::Str(&key);
            assert_eq!(now.metadata(key), then.metadata(key), "{key}");
            assert_eq!(now.get_vector(key), then.get_vector(key), "{key}");
            assert_eq!(then.text(key), None, "{key}");
            let version = if i == 3 { 2 } else { 1 };
            assert_eq!(now.text(key), Some(format!("alpha word{i} version{version}")), "{key}");
        }
        let query = vectors(1, DURABLE_DIM, 4242);
        assert_eq!(now.search(&query, 10, None).unwrap(), then.search(&query, 10, None).unwrap());
    }
    let _ = std::fs::remove_dir_all(&again);
}
