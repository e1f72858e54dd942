//! The fuzz targets of `tests/fuzz` on the stable toolchain, for CI and `cargo test`:
//! every committed input (`tests/fuzz/seeds/<target>/` and `tests/fuzz/regressions/<target>/`)
//! goes through the same body as under libFuzzer, then a bounded number of inputs mutated
//! from them (a fixed pseudo-random sequence, capped in time). This is not coverage-guided
//! fuzzing (that needs nightly and cargo-fuzz: `make fuzz-smoke`, RELIABILITY.md); it keeps
//! the regressions fixed and the targets' checks working where nightly is not available.
//!
//! OMENDB_FUZZ_REPLAY_SECONDS sets the time cap per target (default 5); a failing input is
//! written to `target/fuzz-replay-failures/<target>` and its path printed.

#[path = "fuzz/bodies/file_load.rs"]
mod file_load;
#[path = "fuzz/bodies/filter_parse.rs"]
mod filter_parse;
#[path = "fuzz/bodies/log_replay.rs"]
mod log_replay;
#[path = "fuzz/bodies/index_differential.rs"]
mod index_differential;
#[path = "fuzz/bodies/metadata_parse.rs"]
mod metadata_parse;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz")
}

/// Every committed input of `target`, in name order.
fn committed_inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for kind in ["seeds", "regressions"] {
        let Ok(dir) = std::fs::read_dir(fuzz_dir().join(kind).join(target)) else { continue };
        for entry in dir {
            let path = entry.unwrap().path();
            if path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    files.into_iter().map(|p| (p.clone(), std::fs::read(&p).unwrap())).collect()
}

/// Runs `body` on `data`; on a panic, saves the input and fails with where it is.
fn run_one(target: &str, what: &str, body: fn(&[u8]), data: &[u8]) {
    if catch_unwind(AssertUnwindSafe(|| body(data))).is_err() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-replay-failures");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(target);
        std::fs::write(&path, data).unwrap();
        panic!("{target}: {what} fails (the panic is above); input saved to {}", path.display());
    }
}

/// xorshift64*: the mutation sequence is the same on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One to eight edits of `base`, of the kinds libFuzzer makes: set, flip or insert a byte,
/// delete or duplicate a range, splice in part of `other`.
fn mutate(rng: &mut Rng, base: &[u8], other: &[u8], max_len: usize) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..1 + rng.below(8) {
        let pos = rng.below(v.len() + 1);
        match rng.below(6) {
            0 if pos < v.len() => v[pos] = rng.next() as u8,
            1 if pos < v.len() => v[pos] ^= 1 << rng.below(8),
            2 => v.insert(pos, rng.next() as u8),
            3 if pos < v.len() => {
                let end = (pos + 1 + rng.below(16)).min(v.len());
                v.drain(pos..end);
            }
            4 if pos < v.len() => {
                let end = (pos + 1 + rng.below(16)).min(v.len());
                let copy = v[pos..end].to_vec();
                v.splice(pos..pos, copy);
            }
            _ if !other.is_empty() => {
                let start = rng.below(other.len());
                let end = (start + 1 + rng.below(64)).min(other.len());
                v.splice(pos..pos, other[start..end].iter().copied());
            }
            _ => v.push(rng.next() as u8),
        }
    }
    v.truncate(max_len);
    v
}

fn time_cap() -> Duration {
    let secs = std::env::var("OMENDB_FUZZ_REPLAY_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5.0);
    Duration::from_secs_f64(secs)
}

/// Replays the committed inputs of `target` (at least `min_inputs` of them must exist), then
/// up to `mutations` mutated inputs within the time cap.
fn replay(target: &str, body: fn(&[u8]), min_inputs: usize, mutations: usize, max_len: usize) {
    let inputs = committed_inputs(target);
    assert!(inputs.len() >= min_inputs, "{target}: {} committed inputs, expected at least {min_inputs}", inputs.len());
    for (path, data) in &inputs {
        run_one(target, &format!("committed input {}", path.display()), body, data);
    }
    let start = Instant::now();
    let mut rng = Rng(0x0F0E_DB00_5EED_0001 ^ target.len() as u64);
    let mut done = 0;
    while done < mutations && start.elapsed() < time_cap() {
        let base = &inputs[rng.below(inputs.len())].1;
        let other = &inputs[rng.below(inputs.len())].1;
        let data = mutate(&mut rng, base, other, max_len);
        run_one(target, &format!("mutation {done}"), body, &data);
        done += 1;
    }
    println!("{target}: {} committed inputs and {done} mutations passed in {:.1} s", inputs.len(), start.elapsed().as_secs_f64());
}

#[test]
fn filter_parse_inputs() {
    replay("filter_parse", filter_parse::run, 3, 200_000, 1024);
}

#[test]
fn metadata_parse_inputs() {
    replay("metadata_parse", metadata_parse::run, 5, 200_000, 1024);
}

#[test]
fn index_differential_inputs() {
    replay("index_differential", index_differential::run, 1, 5_000, 2048);
}

#[test]
fn log_replay_inputs() {
    replay("log_replay", log_replay::run, 5, 20_000, 1 << 14);
}

/// Writes the committed seeds of `log_replay` (`tests/fuzz/seeds/log_replay/`): the logs of
/// small directories (u64 and string keys, metadata and texts, upserts, removes, automatic
/// keys, a torn tail), each behind the mode byte 1 (fix checksums). Run with
/// `OMENDB_WRITE_SEEDS=1 cargo test --release --test fuzz_replay -- --ignored write_log_replay_seeds`.
#[test]
#[ignore = "writes tests/fuzz/seeds/log_replay; run only when OMENDB_WRITE_SEEDS=1"]
fn write_log_replay_seeds() {
    use omendb::{Durability, Index, IndexOptions, KeyRef, Keys, Payloads, SyncMode};
    if std::env::var("OMENDB_WRITE_SEEDS").as_deref() != Ok("1") {
        return;
    }
    let out = fuzz_dir().join("seeds/log_replay");
    std::fs::create_dir_all(&out).unwrap();
    let scratch = std::env::temp_dir().join(format!("omendb-log-seeds-{}", std::process::id()));
    let seed = |name: &str, ops: &dyn Fn(&Index)| {
        let _ = std::fs::remove_dir_all(&scratch);
        let durability = Durability { sync: SyncMode::Off, checkpoint_bytes: 0 };
        let index = Index::open_dir(&scratch, omendb::index::options_must_match(&IndexOptions::default(), &[]), durability).unwrap();
        ops(&index);
        drop(index);
        let mut bytes = vec![1u8];
        bytes.extend(std::fs::read(scratch.join("log-0000000000000001.wal")).unwrap());
        std::fs::write(out.join(name), bytes).unwrap();
    };
    let v = |n: usize, dim: usize| -> Vec<f32> { (0..n * dim).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect() };
    seed("empty", &|_| {});
    seed("u64-adds", &|ix| {
        ix.add(Keys::U64(&[1, 2, 3]), &v(3, 4)).unwrap();
        ix.add(Keys::U64(&[10]), &v(1, 4)).unwrap();
    });
    seed("u64-upsert-remove", &|ix| {
        ix.add(Keys::U64(&[1, 2, 3, 4]), &v(4, 3)).unwrap();
        ix.upsert(Keys::U64(&[2, 9]), &v(2, 3)).unwrap();
        ix.remove(KeyRef::U64(3)).unwrap();
        ix.remove(KeyRef::U64(9)).unwrap();
    });
    seed("str-payloads", &|ix| {
        let meta = [Some(r#"{"a": 1, "b": {"c": "x"}}"#), None, Some(r#"{"tags": ["p", "q"]}"#)];
        let texts = [Some("red fox"), Some("blue whale"), None];
        ix.add_with(Keys::Str(&["k1", "k2", "k3"]), &v(3, 2), Payloads { metadata: Some(&meta), texts: Some(&texts) }).unwrap();
        ix.upsert_with(Keys::Str(&["k2"]), &v(1, 2), Payloads { metadata: Some(&[Some(r#"{"a": 2}"#)]), texts: None }).unwrap();
        ix.remove(KeyRef::Str("k1")).unwrap();
    });
    seed("auto-keys", &|ix| {
        ix.add_auto(&v(5, 2), 5).unwrap();
        ix.add_auto(&v(2, 2), 2).unwrap();
        ix.remove(KeyRef::U64(1)).unwrap();
    });
    seed("remove-batch", &|ix| {
        ix.add(Keys::U64(&[1, 2, 3, 4, 5]), &v(5, 3)).unwrap();
        ix.remove_batch(Keys::U64(&[2, 4])).unwrap();
        let filter = omendb::filter::Filter::parse("EXISTS a").unwrap();
        ix.remove_where(&filter).unwrap();
    });
    seed("str-remove-batch", &|ix| {
        let meta = [Some(r#"{"a": 1}"#), None, Some(r#"{"a": 2}"#)];
        ix.add_with(Keys::Str(&["x", "y", "z"]), &v(3, 2), Payloads { metadata: Some(&meta), texts: None }).unwrap();
        ix.remove_batch(Keys::Str(&["y"])).unwrap();
        ix.remove_where(&omendb::filter::Filter::parse("a = 2").unwrap()).unwrap();
    });
    seed("many", &|ix| {
        for i in 0..20u64 {
            ix.upsert(Keys::U64(&[i % 7, 100 + i]), &v(2, 5)).unwrap();
        }
    });
    let _ = std::fs::remove_dir_all(&scratch);
}

#[test]
fn file_load_inputs() {
    replay("file_load", file_load::run, 10, 20_000, 1 << 16);
}

/// Writes the committed seeds of `file_load` (`tests/fuzz/seeds/file_load/`): small files of
/// every kind the writer makes (each dtype, metric and key kind, packed and unpacked records,
/// pending deletes, free slots, metadata and texts, an empty index), each behind the mode byte
/// 3 (fix checksums, also open mapped), plus the format 1 and 2 fixtures. Run with
/// `OMENDB_WRITE_SEEDS=1 cargo test --release --test fuzz_replay -- --ignored write_file_load_seeds`.
#[test]
#[ignore = "writes tests/fuzz/seeds/file_load; run only when OMENDB_WRITE_SEEDS=1"]
fn write_file_load_seeds() {
    use omendb::quant::Dtype;
    use omendb::{Index, IndexOptions, KeyRef, Keys, Metric, Payloads};
    if std::env::var("OMENDB_WRITE_SEEDS").as_deref() != Ok("1") {
        return;
    }
    let mut rng = Rng(0x5EED_F11E);
    let mut vectors = |n: usize, dim: usize| -> Vec<f32> { (0..n * dim).map(|_| (rng.below(2001) as f32 - 1000.0) / 250.0).collect() };
    let dir = fuzz_dir().join("seeds/file_load");
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, index: &Index| {
        let mut bytes = vec![3u8];
        bytes.extend(index.to_bytes().unwrap());
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    let numbered = |n: u64| (0..n).collect::<Vec<u64>>();
    let opts = |dim, metric, m, dtype| IndexOptions { dim, metric, m, ef_construction: 32, seed: 3, dtype, ..Default::default() };

    write("empty", &Index::new(IndexOptions::default()).unwrap());
    // f32, L2, u64 keys, three removed and awaiting repair.
    let index = Index::new(opts(3, Metric::L2, 4, Dtype::F32)).unwrap();
    index.add(Keys::U64(&numbered(40)), &vectors(40, 3)).unwrap();
    for k in [5, 17, 33] {
        index.remove(KeyRef::U64(k)).unwrap();
    }
    write("f32-l2-deleted", &index);
    // f32, inner product, removed then compacted: free slots.
    let index = Index::new(opts(4, Metric::InnerProduct, 3, Dtype::F32)).unwrap();
    index.add(Keys::U64(&numbered(30)), &vectors(30, 4)).unwrap();
    for k in 0..10 {
        index.remove(KeyRef::U64(k * 3)).unwrap();
    }
    index.compact();
    write("f32-ip-free", &index);
    // f32, cosine, string keys with metadata and texts.
    let index = Index::new(opts(2, Metric::Cosine, 2, Dtype::F32)).unwrap();
    let names: Vec<String> = (0..12).map(|i| format!("doc-{i}")).collect();
    let keys: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
    let metas: Vec<String> = (0..12).map(|i| format!("{{\"n\": {i}, \"tag\": \"t{}\", \"ok\": {}}}", i % 3, i % 2 == 0)).collect();
    let metadata: Vec<Option<&str>> = metas.iter().enumerate().map(|(i, m)| (i % 4 != 3).then_some(m.as_str())).collect();
    let texts: Vec<Option<&str>> = (0..12).map(|i| (i % 5 != 4).then_some(["red fox", "blue whale song", "the quick brown fox"][i % 3])).collect();
    index.add_with(Keys::Str(&keys), &vectors(12, 2), Payloads { metadata: Some(&metadata), texts: Some(&texts) }).unwrap();
    index.remove(KeyRef::Str("doc-4")).unwrap();
    write("f32-cos-str-payloads", &index);
    // Packed records: f32 at 12 dims with m 8, binary at 64 dims with m 5.
    let index = Index::new(opts(12, Metric::L2, 8, Dtype::F32)).unwrap();
    index.add(Keys::U64(&numbered(24)), &vectors(24, 12)).unwrap();
    write("f32-packed", &index);
    let index = Index::new(opts(64, Metric::L2, 5, Dtype::Binary)).unwrap();
    index.add(Keys::U64(&numbered(20)), &vectors(20, 64)).unwrap();
    index.remove(KeyRef::U64(7)).unwrap();
    write("binary-packed", &index);
    // The other codecs, small.
    let index = Index::new(opts(16, Metric::Cosine, 4, Dtype::Binary)).unwrap();
    index.add(Keys::U64(&numbered(20)), &vectors(20, 16)).unwrap();
    write("binary-cos", &index);
    let index = Index::new(opts(6, Metric::L2, 3, Dtype::F16)).unwrap();
    index.add(Keys::U64(&numbered(20)), &vectors(20, 6)).unwrap();
    write("f16", &index);
    let index = Index::new(opts(4, Metric::InnerProduct, 2, Dtype::Int8)).unwrap();
    index.add(Keys::U64(&numbered(256)), &vectors(256, 4)).unwrap();
    index.remove(KeyRef::U64(100)).unwrap();
    write("int8", &index);
    write("int8-untrained", &Index::new(opts(8, Metric::L2, 4, Dtype::Int8)).unwrap());
    for fixture in ["v1-small", "v2-small"] {
        let mut bytes = vec![3u8];
        bytes.extend(std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/{fixture}.omendb"))).unwrap());
        std::fs::write(dir.join(fixture), bytes).unwrap();
    }
}
