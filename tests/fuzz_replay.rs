//! The fuzz targets of `tests/fuzz` on the stable toolchain, for CI and `cargo test`:
//! every committed input (`tests/fuzz/seeds/<target>/` and `tests/fuzz/regressions/<target>/`)
//! goes through the same body as under libFuzzer, then a bounded number of inputs mutated
//! from them (a fixed pseudo-random sequence, capped in time). This is not coverage-guided
//! fuzzing (that needs nightly and cargo-fuzz: `make fuzz-smoke`, RELIABILITY.md); it keeps
//! the regressions fixed and the targets' checks working where nightly is not available.
//!
//! OMENDB_FUZZ_REPLAY_SECONDS sets the time cap per target (default 5); a failing input is
//! written to `target/fuzz-replay-failures/<target>` and its path printed.

#[path = "fuzz/bodies/filter_parse.rs"]
mod filter_parse;
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
