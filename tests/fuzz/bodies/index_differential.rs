//! Differential test of `Index` against a brute-force model (a map key -> vector).
//!
//! The input is a script: a header (metric, dimensions fixed or taken from the first batch,
//! m, ef_construction, ef_search, seed) and then one operation per opcode byte: add, upsert,
//! add_auto, a bulk add of many generated vectors, add with string keys, remove, search,
//! batch search, compact, and a save / load round trip (`to_bytes` -> `from_bytes`, after
//! which the loaded index must answer a probe search exactly as the saved one did, and
//! carries on against the same model). Vectors come from the input bytes: mostly multiples of 1/8 in
//! [-15, 15] (exact in f32, so L2 and inner-product distances are exact and ties are real
//! ties), with bytes for 0, -0, large and small magnitudes, NaN and the infinities, and rows
//! of the wrong length.
//!
//! After every operation: the outcome (Ok, or the error variant) is the model's; `len`,
//! `contains` and `key_kind` agree; `check_invariants` holds. A search that succeeds returns
//! min(k, len) distinct stored keys, nearest first, each with its exact distance; while the
//! index has used at most 256 slots it scans every record, so its distance list must equal
//! the model's exact top-k (within a tolerance scaled to the magnitudes involved; ties in any
//! order). Above that only the weaker checks apply (HNSW is approximate).
//!
//! OMENDB_FUZZ_EXTREME=1 widens the value bytes to magnitudes near the ends of the f32 range
//! (1e-30, 1e20, -3e38); see RELIABILITY.md for what that finds under cosine.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use omendb::index::{SearchRequest, MAX_COMPONENT};
use omendb::{Error, Index, IndexOptions, KeyKind, KeyRef, Keys, Metric};

/// Below this many slots ever used, a search scans every record (src/hnsw/search.rs).
const EXACT_SLOTS: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    U(u64),
    S(String),
}

impl Key {
    fn as_ref(&self) -> KeyRef<'_> {
        match self {
            Key::U(k) => KeyRef::U64(*k),
            Key::S(s) => KeyRef::Str(s),
        }
    }
    fn kind(&self) -> KeyKind {
        match self {
            Key::U(_) => KeyKind::U64,
            Key::S(_) => KeyKind::Str,
        }
    }
    /// As `Hit::key` spells it.
    fn plain(&self) -> String {
        match self {
            Key::U(k) => k.to_string(),
            Key::S(s) => s.clone(),
        }
    }
}

/// The outcome class of a call: Ok or the error's variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Ok,
    InvalidArgument,
    DimensionMismatch,
    NonFinite,
    ZeroVector,
    InvalidKey,
    DuplicateKey,
    KeyNotFound,
    Other,
}

fn class_of<T>(r: &Result<T, Error>) -> Class {
    match r {
        Ok(_) => Class::Ok,
        Err(Error::InvalidArgument(_)) => Class::InvalidArgument,
        Err(Error::DimensionMismatch { .. }) => Class::DimensionMismatch,
        Err(Error::NonFiniteValue { .. } | Error::ValueTooLarge { .. }) => Class::NonFinite,
        Err(Error::ZeroVector { .. }) => Class::ZeroVector,
        Err(Error::InvalidKey(_)) => Class::InvalidKey,
        Err(Error::DuplicateKey(_)) => Class::DuplicateKey,
        Err(Error::KeyNotFound(_)) => Class::KeyNotFound,
        #[allow(unreachable_patterns)]
        Err(_) => Class::Other,
    }
}

fn extreme() -> bool {
    static E: OnceLock<bool> = OnceLock::new();
    *E.get_or_init(|| std::env::var_os("OMENDB_FUZZ_EXTREME").is_some_and(|v| v != "0"))
}

/// One vector component from one byte.
fn value(b: u8) -> f32 {
    match b {
        0..=239 => (b as f32 - 120.0) / 8.0,
        240 => 1e3,
        241 => -1e3,
        242 => 1e6,
        243 => -1e6,
        244 => 1e9,
        245 => -1e9,
        246 => 0.0,
        247 => -0.0,
        248 => 1e-3,
        249 => -1e-3,
        250 => f32::NAN,
        251 => f32::INFINITY,
        252 => f32::NEG_INFINITY,
        253 if extreme() => 1e-30,
        253 => 1e-6,
        254 if extreme() => 1e20,
        254 => 1e15,
        _ if extreme() => -3e38,
        _ => -1e15,
    }
}

/// A u64 key from one byte: a small key space (so that keys collide), and a few large ones,
/// the last of which is u64::MAX (OMENDB_NO_KEY, never a valid key).
fn key_u64(b: u8) -> u64 {
    match b {
        0..=249 => (b % 48) as u64,
        250 => 1 << 32,
        251 => 1 << 53,
        252 => u64::MAX / 2,
        253 => u64::MAX - 2,
        254 => u64::MAX - 1,
        _ => u64::MAX,
    }
}

struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Input<'_> {
    fn next(&mut self) -> Option<u8> {
        let b = self.data.get(self.pos).copied();
        self.pos += 1;
        b
    }
    fn byte(&mut self) -> u8 {
        self.next().unwrap_or(0)
    }
}

/// A small xorshift generator for bulk vectors.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

struct Model {
    metric: Metric,
    /// 0 until the first batch fixes it (as the index's `dim()`).
    dim: usize,
    kind: Option<KeyKind>,
    records: HashMap<Key, Vec<f32>>,
    next_auto: u64,
}

impl Model {
    /// What `Index::add` / `upsert` does: every check, in the index's order, then the change.
    fn put(&mut self, keys: &[Key], flat: &[f32], upsert: bool) -> Class {
        let n = keys.len();
        if n == 0 {
            return if flat.is_empty() { Class::Ok } else { Class::InvalidArgument };
        }
        let dim = if self.dim == 0 {
            if flat.is_empty() || !flat.len().is_multiple_of(n) {
                return Class::InvalidArgument;
            }
            flat.len() / n
        } else {
            if flat.len() != n * self.dim {
                return Class::DimensionMismatch;
            }
            self.dim
        };
        if let Some(c) = flat.chunks_exact(dim).map(|row| self.row_class(row)).find(|c| *c != Class::Ok) {
            return c;
        }
        let mut seen = HashSet::new();
        for k in keys {
            let invalid = match k {
                Key::U(u) => *u == u64::MAX,
                Key::S(s) => s.is_empty(),
            };
            if invalid || self.kind.is_some_and(|kind| kind != k.kind()) {
                return Class::InvalidKey;
            }
            if !seen.insert(k) || (!upsert && self.records.contains_key(k)) {
                return Class::DuplicateKey;
            }
        }
        self.dim = dim;
        self.kind = Some(keys[0].kind());
        for (k, row) in keys.iter().zip(flat.chunks_exact(dim)) {
            self.records.insert(k.clone(), row.to_vec());
            // Automatic keys continue past every u64 key stored.
            if let Key::U(u) = k {
                self.next_auto = self.next_auto.max(u.saturating_add(1));
            }
        }
        Class::Ok
    }

    fn remove(&mut self, key: &Key) -> Class {
        let invalid = matches!(key, Key::U(u64::MAX)) || self.kind.is_some_and(|kind| kind != key.kind());
        if invalid {
            Class::InvalidKey
        } else if self.records.remove(key).is_some() {
            Class::Ok
        } else {
            Class::KeyNotFound
        }
    }

    /// The checks of `Index::search` (one query of any length).
    fn check_query(&self, q: &[f32], k: usize) -> Class {
        if k == 0 {
            return Class::InvalidArgument;
        }
        if self.dim != 0 && q.len() != self.dim {
            return Class::DimensionMismatch;
        }
        self.row_class(q)
    }

    /// The checks of one vector, stored or query: NaN and infinities, then (L2 and inner
    /// product) components beyond `MAX_COMPONENT`, or (cosine) the zero vector.
    fn row_class(&self, row: &[f32]) -> Class {
        if row.iter().any(|x| !x.is_finite()) {
            return Class::NonFinite;
        }
        if self.metric == Metric::Cosine {
            if row.iter().all(|&x| x == 0.0) {
                return Class::ZeroVector;
            }
        } else if row.iter().any(|x| x.abs() > MAX_COMPONENT) {
            return Class::NonFinite;
        }
        Class::Ok
    }

    /// The checks of `Index::search_batch` (`n` queries in `flat`).
    fn check_queries(&self, flat: &[f32], n: usize, k: usize) -> Class {
        if k == 0 {
            return Class::InvalidArgument;
        }
        if n == 0 {
            return Class::Ok;
        }
        if flat.is_empty() || !flat.len().is_multiple_of(n) {
            return Class::InvalidArgument;
        }
        let dim = flat.len() / n;
        if self.dim != 0 && dim != self.dim {
            return Class::DimensionMismatch;
        }
        flat.chunks_exact(dim).map(|row| self.row_class(row)).find(|c| *c != Class::Ok).unwrap_or(Class::Ok)
    }

    /// Exact distance (f64) from `q` to `v`, and a tolerance for the index's f32 value: the
    /// rounding error of an f32 sum grows with the magnitude of its terms, not of the result.
    fn distance(&self, q: &[f32], v: &[f32]) -> (f64, f64) {
        let (d, scale) = match self.metric {
            Metric::L2 => {
                let d: f64 = q.iter().zip(v).map(|(a, b)| (*a as f64 - *b as f64).powi(2)).sum();
                let s: f64 = q.iter().zip(v).map(|(a, b)| (*a as f64).powi(2) + (*b as f64).powi(2)).sum();
                (d, s)
            }
            Metric::InnerProduct => {
                let dot: f64 = q.iter().zip(v).map(|(a, b)| *a as f64 * *b as f64).sum();
                let s: f64 = q.iter().zip(v).map(|(a, b)| (*a as f64 * *b as f64).abs()).sum();
                (1.0 - dot, 1.0 + s)
            }
            Metric::Cosine => {
                let norm = |x: &[f32]| x.iter().map(|a| (*a as f64).powi(2)).sum::<f64>().sqrt();
                let dot: f64 = q.iter().zip(v).map(|(a, b)| *a as f64 * *b as f64).sum();
                (1.0 - dot / (norm(q) * norm(v)), 2.0)
            }
        };
        (d, 1e-4 * (1.0 + scale))
    }

    /// Checks one search result against the model; `exact`: it must be the exact top k.
    fn check_hits(&self, q: &[f32], k: usize, hits: &[(String, f32)], exact: bool, what: &str) {
        let by_plain: HashMap<String, &Key> = self.records.keys().map(|key| (key.plain(), key)).collect();
        let want = k.min(self.records.len());
        if exact {
            assert_eq!(hits.len(), want, "{what}: {} hits for k {k} over {} records", hits.len(), self.records.len());
        } else {
            assert!(hits.len() <= want, "{what}: {} hits for k {k} over {} records", hits.len(), self.records.len());
        }
        let mut seen = HashSet::new();
        let mut tol: f64 = 0.0;
        for (i, (plain, d)) in hits.iter().enumerate() {
            let key = by_plain.get(plain).unwrap_or_else(|| panic!("{what}: hit {i} is {plain}, which is not stored"));
            assert!(seen.insert(plain.clone()), "{what}: {plain} returned twice");
            let (true_d, t) = self.distance(q, &self.records[*key]);
            assert!(
                (*d as f64 - true_d).abs() <= t,
                "{what}: hit {i} ({plain}) has distance {d}, exact {true_d} (tolerance {t})"
            );
            if i > 0 {
                assert!(hits[i - 1].1 <= *d, "{what}: hits not nearest first: {hits:?}");
            }
        }
        if exact {
            let mut all: Vec<(f64, f64)> = self.records.values().map(|v| self.distance(q, v)).collect();
            for &(_, t) in &all {
                tol = tol.max(t);
            }
            all.sort_by(|a, b| a.0.total_cmp(&b.0));
            for (i, ((_, d), (true_d, _))) in hits.iter().zip(&all).enumerate() {
                assert!(
                    (*d as f64 - true_d).abs() <= tol,
                    "{what}: rank {i}: distance {d}, exact top-k has {true_d}; hits {hits:?}, exact {:?}",
                    &all[..want]
                );
            }
        }
    }
}

fn check_state(index: &Index, model: &Model, step: usize) {
    assert_eq!(index.len(), model.records.len(), "step {step}: len");
    assert_eq!(index.dim(), model.dim, "step {step}: dim");
    assert_eq!(index.key_kind(), model.kind, "step {step}: key kind");
    for key in model.records.keys() {
        assert!(index.contains(key.as_ref()), "step {step}: {key:?} is stored but contains() is false");
    }
    for b in 0..48u64 {
        for key in [Key::U(b), Key::S(format!("s{b}"))] {
            assert_eq!(index.contains(key.as_ref()), model.records.contains_key(&key), "step {step}: contains({key:?})");
        }
    }
    if let Err(e) = index.check_invariants() {
        panic!("step {step}: invariant broken: {e}");
    }
}

/// A batch of `n` rows: usually rows of the expected length, sometimes one float more or
/// less per row, or one stray float at the end.
fn rows(input: &mut Input, n: usize, dim: usize) -> Vec<f32> {
    let shape = input.byte();
    let len = match shape % 16 {
        0 => dim + 1,
        1 => dim.saturating_sub(1),
        _ => dim,
    };
    let mut flat: Vec<f32> = (0..n * len).map(|_| value(input.byte())).collect();
    if shape % 16 == 2 {
        flat.push(value(input.byte()));
    }
    flat
}

pub fn run(data: &[u8]) {
    let mut input = Input { data, pos: 0 };
    let header = input.byte();
    let metric = match header % 4 {
        0 | 1 => Metric::L2,
        2 => Metric::InnerProduct,
        _ => Metric::Cosine,
    };
    // Fixed dimensions 4 (usually), or 0 = taken from the first batch.
    let fixed_dim = if header & 0x30 == 0x30 { 0 } else { 4 };
    let options = IndexOptions {
        dim: fixed_dim,
        metric,
        m: 2 + (input.byte() % 15) as usize,
        ef_construction: 1 + (input.byte() % 64) as usize,
        ef_search: 1 + (input.byte() % 64) as usize,
        seed: input.byte() as u64,
        ..IndexOptions::default()
    };
    let mut index = Index::new(options).expect("valid options");
    let mut model = Model { metric, dim: fixed_dim, kind: None, records: HashMap::new(), next_auto: 0 };
    let mut step = 0;

    while let Some(op) = input.next() {
        step += 1;
        let dim = if model.dim == 0 { 1 + (op as usize >> 4) % 6 } else { model.dim };
        match op % 11 {
            // add / upsert, u64 keys
            0..=2 => {
                let upsert = op % 11 == 2;
                let n = (input.byte() % 9) as usize;
                let keys: Vec<u64> = (0..n).map(|_| key_u64(input.byte())).collect();
                let flat = rows(&mut input, n, dim);
                let mkeys: Vec<Key> = keys.iter().map(|&k| Key::U(k)).collect();
                let got = if upsert { index.upsert(Keys::U64(&keys), &flat) } else { index.add(Keys::U64(&keys), &flat) };
                let want = model.put(&mkeys, &flat, upsert);
                assert_eq!(class_of(&got), want, "step {step}: put(upsert={upsert}, {keys:?}, {flat:?}): {got:?}");
            }
            // add_auto
            3 => {
                let n = (input.byte() % 5) as usize;
                let flat = rows(&mut input, n, dim);
                let first = model.next_auto;
                let got = index.add_auto(&flat, n);
                // Keys run up to u64::MAX - 1: a range past it is refused before anything else.
                let want = match first.checked_add(n as u64) {
                    None => Class::InvalidKey,
                    Some(end) => model.put(&(first..end).map(Key::U).collect::<Vec<_>>(), &flat, false),
                };
                assert_eq!(class_of(&got), want, "step {step}: add_auto({n}, {flat:?}): {got:?}");
                if let Ok(k) = got {
                    assert_eq!(k, first, "step {step}: add_auto's first key");
                    // (model.put moved next_auto past the keys, for n > 0)
                }
            }
            // bulk add / upsert of generated vectors: reaches the graph path and the parallel insert
            4 => {
                let b = input.byte();
                let upsert = b & 1 == 1;
                let n = 16 + (input.byte() % 64) as usize;
                let base = 64 + (b as u64 >> 1) * 128;
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((input.byte() as u64) << 8 | b as u64) | 1);
                let keys: Vec<u64> = (base..base + n as u64).collect();
                let flat: Vec<f32> = (0..n * dim).map(|_| value((rng.next() % 240) as u8)).collect();
                let mkeys: Vec<Key> = keys.iter().map(|&k| Key::U(k)).collect();
                let got = if upsert { index.upsert(Keys::U64(&keys), &flat) } else { index.add(Keys::U64(&keys), &flat) };
                let want = model.put(&mkeys, &flat, upsert);
                assert_eq!(class_of(&got), want, "step {step}: bulk put(upsert={upsert}, {n} from {base}): {got:?}");
            }
            // add with string keys (InvalidKey once the index holds u64 keys)
            5 => {
                let n = (input.byte() % 3) as usize;
                let names: Vec<String> = (0..n)
                    .map(|_| match input.byte() {
                        255 => String::new(),
                        b => format!("s{}", b % 48),
                    })
                    .collect();
                let refs: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
                let flat = rows(&mut input, n, dim);
                let mkeys: Vec<Key> = names.iter().map(|s| Key::S(s.clone())).collect();
                let got = index.add(Keys::Str(&refs), &flat);
                let want = model.put(&mkeys, &flat, false);
                assert_eq!(class_of(&got), want, "step {step}: add_str({names:?}, {flat:?}): {got:?}");
            }
            // remove
            6 => {
                let b = input.byte();
                let key = if (250..253).contains(&b) { Key::S(format!("s{}", b % 48)) } else { Key::U(key_u64(b)) };
                let key = if let (Some(KeyKind::Str), Key::U(u)) = (model.kind, &key) {
                    if b < 240 {
                        Key::S(format!("s{}", u % 48))
                    } else {
                        key
                    }
                } else {
                    key
                };
                let got = index.remove(key.as_ref());
                let want = model.remove(&key);
                assert_eq!(class_of(&got), want, "step {step}: remove({key:?}): {got:?}");
            }
            // search
            7 => {
                let kb = input.byte();
                let k = (kb % 20) as usize;
                let ef = match input.byte() {
                    0 => None,
                    e => Some(e as usize),
                };
                let q = rows(&mut input, 1, dim);
                let got = index.search(&q, k, ef);
                let want = model.check_query(&q, k);
                assert_eq!(class_of(&got), want, "step {step}: search(k {k}, ef {ef:?}, {q:?}): {got:?}");
                if let Ok(hits) = got {
                    let hits: Vec<(String, f32)> = hits.into_iter().map(|h| (h.key, h.distance)).collect();
                    if model.dim == 0 {
                        assert!(hits.is_empty(), "step {step}: hits from an index without dimensions");
                    } else {
                        let exact = index.slot_high_water() <= EXACT_SLOTS;
                        model.check_hits(&q, k, &hits, exact, &format!("step {step}: search k {k} ef {ef:?} {q:?}"));
                    }
                }
            }
            // batch search
            8 => {
                let n = (input.byte() % 6) as usize;
                let k = 1 + (input.byte() % 12) as usize;
                let k = if op & 0x80 != 0 && op & 0x40 != 0 { 0 } else { k };
                let flat = rows(&mut input, n, dim);
                let mut sinks: Vec<Vec<(String, f32)>> = vec![Vec::new(); n];
                let got = index.search_batch(&flat, SearchRequest::new(k, None), &mut sinks, |sink, rank, key, d| {
                    assert_eq!(rank, sink.len(), "ranks come in order");
                    sink.push((key.to_string_plain(), d));
                });
                let want = model.check_queries(&flat, n, k);
                assert_eq!(class_of(&got), want, "step {step}: search_batch(n {n}, k {k}, {flat:?}): {got:?}");
                if got.is_ok() && n > 0 && model.dim != 0 {
                    let exact = index.slot_high_water() <= EXACT_SLOTS;
                    for (i, (q, hits)) in flat.chunks_exact(model.dim).zip(&sinks).enumerate() {
                        model.check_hits(q, k, hits, exact, &format!("step {step}: search_batch query {i} of {n}, k {k}"));
                    }
                } else {
                    assert!(sinks.iter().all(|s| s.is_empty()), "step {step}: a failed or empty batch search emitted hits");
                }
            }
            // compact
            9 => index.compact(),
            // save / load round trip
            _ => {
                let probe: Vec<f32> = (0..model.dim).map(|i| 0.125 * (i as f32 + 1.0)).collect();
                let before = (model.dim != 0).then(|| index.search(&probe, 10, None).expect("probe search"));
                let bytes = index.to_bytes().unwrap_or_else(|e| panic!("step {step}: to_bytes: {e}"));
                index = Index::from_bytes(&bytes).unwrap_or_else(|e| panic!("step {step}: from_bytes of to_bytes: {e}"));
                let after = (model.dim != 0).then(|| index.search(&probe, 10, None).expect("probe search"));
                assert_eq!(before, after, "step {step}: the loaded index answers a search differently");
            }
        }
        check_state(&index, &model, step);
    }
}
