//! The operations both APIs serve (HTTP/JSON in `api.rs`, gRPC in `grpc.rs`), on plain Rust
//! values: each transport only turns its requests into these calls and their results into
//! its answers, so the two cannot drift apart. Every function here runs index calls: call it
//! on a blocking thread.

use std::sync::Arc;

use serde_json::{json, Value};

use omendb::filter::Filter;
use omendb::hybrid::Fusion;
use omendb::index::{IndexOptions, SearchRequest};
use omendb::quant::Dtype;
use omendb::{KeyRef, Keys, Metric, Payloads};

use crate::collections::{Collection, KeyChoice, Registry};
use crate::error::ApiError;

/// Most records one write request may carry (more: 413 / RESOURCE_EXHAUSTED).
pub const MAX_BATCH: usize = 100_000;
/// Most queries one search request may carry (more: 413 / RESOURCE_EXHAUSTED).
pub const MAX_QUERIES: usize = 10_000;
/// Largest k a search may ask for (more: INVALID_ARGUMENT).
pub const MAX_K: usize = 10_000;

/// A key as a request carries it.
#[derive(Clone, Debug, PartialEq)]
pub enum OwnedKey {
    U64(u64),
    Str(String),
}

impl OwnedKey {
    pub fn as_key(&self) -> KeyRef<'_> {
        match self {
            OwnedKey::U64(k) => KeyRef::U64(*k),
            OwnedKey::Str(s) => KeyRef::Str(s),
        }
    }

    fn of(key: KeyRef<'_>) -> OwnedKey {
        match key {
            KeyRef::U64(k) => OwnedKey::U64(k),
            KeyRef::Str(s) => OwnedKey::Str(s.to_string()),
        }
    }

    /// Checks that this key is of the collection's kind; `what` names it in the message.
    pub fn check(&self, collection: &Collection, what: &str) -> Result<(), ApiError> {
        match (self, collection.key) {
            (OwnedKey::U64(_), KeyChoice::U64) | (OwnedKey::Str(_), KeyChoice::Str) => Ok(()),
            (_, KeyChoice::U64) => Err(ApiError::invalid(format!("{what} must be an integer in 0..2^64-1 (collection keys are u64)"))),
            (_, KeyChoice::Str) => Err(ApiError::invalid(format!("{what} must be a string (collection keys are strings)"))),
        }
    }

    /// A key written as text (a URL path segment): a u64 collection's keys are decimal.
    pub fn parse(collection: &Collection, text: &str) -> Result<OwnedKey, ApiError> {
        match collection.key {
            KeyChoice::U64 => text.parse::<u64>().map(OwnedKey::U64).map_err(|_| ApiError::invalid(format!("record id {text:?} is not a u64 (collection keys are u64)"))),
            KeyChoice::Str => Ok(OwnedKey::Str(text.to_string())),
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            OwnedKey::U64(k) => json!(k),
            OwnedKey::Str(s) => json!(s),
        }
    }
}

// ---- collections ----

/// The options of a new collection; None takes the library's default (`key`: strings).
#[derive(Default)]
pub struct CreateSpec {
    pub dim: usize,
    pub metric: Option<String>,
    pub m: Option<usize>,
    pub ef_construction: Option<usize>,
    pub ef_search: Option<usize>,
    pub dtype: Option<String>,
    pub key: Option<String>,
    /// Bits of the neighbour codes (`IndexOptions::neighbor_codes`); checked by the library.
    pub neighbor_codes: Option<u32>,
}

pub fn create(registry: &Registry, name: &str, spec: CreateSpec) -> Result<Arc<Collection>, ApiError> {
    let defaults = IndexOptions::default();
    let options = IndexOptions {
        dim: spec.dim,
        metric: spec.metric.as_deref().map(Metric::from_name).transpose()?.unwrap_or(defaults.metric),
        m: spec.m.unwrap_or(defaults.m),
        ef_construction: spec.ef_construction.unwrap_or(defaults.ef_construction),
        ef_search: spec.ef_search.unwrap_or(defaults.ef_search),
        dtype: spec.dtype.as_deref().map(Dtype::from_name).transpose()?.unwrap_or(defaults.dtype),
        neighbor_codes: match spec.neighbor_codes {
            None => defaults.neighbor_codes,
            Some(bits) => u8::try_from(bits)
                .map_err(|_| ApiError::invalid(format!("neighbor_codes must be 0, 4 or 8 bits, got {bits}")))?,
        },
        ..defaults
    };
    if options.dim == 0 {
        return Err(ApiError::invalid("dim must be at least 1"));
    }
    let key = spec.key.as_deref().map(KeyChoice::from_name).transpose()?.unwrap_or(KeyChoice::Str);
    registry.create(name, options, key)
}

/// A collection as both APIs describe it.
pub struct Info {
    pub name: String,
    pub count: u64,
    pub dim: u64,
    pub metric: String,
    pub m: u64,
    pub ef_construction: u64,
    pub ef_search: u64,
    pub dtype: String,
    pub key: &'static str,
    pub neighbor_codes: u64,
    pub memory_bytes: u64,
}

pub fn describe(c: &Collection) -> Info {
    let stats = c.index.stats();
    let number = |v: &Value| v.as_u64().unwrap_or(0);
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    Info {
        name: c.name.clone(),
        count: c.index.len() as u64,
        dim: number(&stats["dim"]),
        metric: text(&stats["metric"]),
        m: number(&stats["m"]),
        ef_construction: number(&stats["ef_construction"]),
        ef_search: number(&stats["ef_search"]),
        dtype: text(&stats["dtype"]),
        key: c.key.name(),
        neighbor_codes: number(&stats["neighbor_codes"]),
        memory_bytes: number(&stats["memory"]["total"]),
    }
}

// ---- records ----

/// A record to write: metadata as a JSON object's text.
pub struct RecordIn {
    pub id: OwnedKey,
    pub vector: Vec<f32>,
    pub metadata: Option<String>,
    pub text: Option<String>,
}

/// Adds (or upserts) records, all or nothing; returns once they are in the log and synced.
pub fn put_records(c: &Collection, records: &[RecordIn], upsert: bool) -> Result<usize, ApiError> {
    let n = records.len();
    if n > MAX_BATCH {
        return Err(ApiError::too_large(format!("{n} records in one request; at most {MAX_BATCH}")));
    }
    let dim = records.first().map_or(0, |r| r.vector.len());
    // Every length is checked before anything is allocated: n * dim is then the floats the
    // request carried, not a product a hostile first record could make huge.
    for (i, r) in records.iter().enumerate() {
        r.id.check(c, &format!("records[{i}].id"))?;
        if r.vector.len() != dim {
            return Err(ApiError::from(omendb::Error::DimensionMismatch { expected: dim, got: r.vector.len() }).with_context(format!("records[{i}].vector")));
        }
    }
    let mut vectors = Vec::with_capacity(n * dim);
    for r in records {
        vectors.extend_from_slice(&r.vector);
    }
    let meta_refs: Vec<Option<&str>> = records.iter().map(|r| r.metadata.as_deref()).collect();
    let text_refs: Vec<Option<&str>> = records.iter().map(|r| r.text.as_deref()).collect();
    let payloads = Payloads {
        metadata: meta_refs.iter().any(Option::is_some).then_some(&meta_refs[..]),
        texts: text_refs.iter().any(Option::is_some).then_some(&text_refs[..]),
    };
    let (u64_keys, str_keys): (Vec<u64>, Vec<&str>) = match c.key {
        KeyChoice::U64 => (records.iter().filter_map(|r| if let OwnedKey::U64(k) = r.id { Some(k) } else { None }).collect(), Vec::new()),
        KeyChoice::Str => (Vec::new(), records.iter().filter_map(|r| if let OwnedKey::Str(s) = &r.id { Some(s.as_str()) } else { None }).collect()),
    };
    let keys = match c.key {
        KeyChoice::U64 => Keys::U64(&u64_keys),
        KeyChoice::Str => Keys::Str(&str_keys),
    };
    if upsert {
        c.index.upsert_with(keys, &vectors, payloads)?;
    } else {
        c.index.add_with(keys, &vectors, payloads)?;
    }
    Ok(n)
}

/// A record read back: metadata as a JSON object ({} for none).
pub struct RecordOut {
    pub id: OwnedKey,
    pub vector: Vec<f32>,
    pub metadata: Value,
    /// The record's text as given; None if it has none.
    pub text: Option<String>,
}

pub fn get_record(c: &Collection, id: &OwnedKey) -> Result<RecordOut, ApiError> {
    id.check(c, "the record id")?;
    let key = id.as_key();
    let vector = c.index.get_vector(key).ok_or_else(|| ApiError::from(omendb::Error::KeyNotFound(key.to_string())))?;
    Ok(RecordOut { id: id.clone(), vector, metadata: metadata_of(c, key), text: c.index.text(key) })
}

pub fn delete_record(c: &Collection, id: &OwnedKey) -> Result<(), ApiError> {
    id.check(c, "the record id")?;
    c.index.remove(id.as_key())?;
    Ok(())
}

fn metadata_of(c: &Collection, key: KeyRef<'_>) -> Value {
    c.index.metadata(key).and_then(|m| serde_json::from_str(&m).ok()).unwrap_or_else(|| json!({}))
}

// ---- searches ----

/// What a hit carries beyond its key and score.
#[derive(Clone, Copy, Default)]
pub struct Include {
    pub metadata: bool,
    pub vector: bool,
    pub text: bool,
}

impl Include {
    /// Whether any field beyond the key and score is asked for.
    pub fn any(&self) -> bool {
        self.metadata || self.vector || self.text
    }

    /// From names ("metadata", "vector", "text").
    pub fn from_names(fields: &[String]) -> Result<Include, ApiError> {
        let mut inc = Include::default();
        for f in fields {
            match f.as_str() {
                "metadata" => inc.metadata = true,
                "vector" => inc.vector = true,
                "text" => inc.text = true,
                other => return Err(ApiError::invalid(format!("include: unknown field {other:?} (expected \"metadata\", \"vector\", \"text\")"))),
            }
        }
        Ok(inc)
    }
}

/// One hit: a distance (vector search) or a score (text, hybrid).
pub struct Hit {
    pub id: OwnedKey,
    pub value: f32,
    pub metadata: Option<Value>,
    pub vector: Option<Vec<f32>>,
    /// With include text: the record's text, None inside if it has none.
    pub text: Option<Option<String>>,
}

/// A hit as the search gave it: its key and distance or score only. Its fields are looked up
/// by `fill` after the search has returned: the index calls the visitor under its key map's
/// read lock, and a second read lock taken there would wait behind a waiting writer, which
/// waits on the first (a deadlock under concurrent writes).
fn bare(key: KeyRef<'_>, value: f32) -> Hit {
    Hit { id: OwnedKey::of(key), value, metadata: None, vector: None, text: None }
}

/// The included fields of each hit, looked up after the search.
fn fill(c: &Collection, mut hits: Vec<Hit>, inc: Include) -> Vec<Hit> {
    for h in &mut hits {
        let key = h.id.as_key();
        h.metadata = inc.metadata.then(|| metadata_of(c, key));
        h.vector = if inc.vector { c.index.get_vector(key) } else { None };
        h.text = inc.text.then(|| c.index.text(key));
    }
    hits
}

pub fn check_k(k: usize) -> Result<(), ApiError> {
    if (1..=MAX_K).contains(&k) {
        Ok(())
    } else {
        Err(ApiError::invalid(format!("k = {k} is out of range (1..={MAX_K})")))
    }
}

fn parse_filter(text: Option<&str>) -> Result<Option<Filter>, ApiError> {
    text.map(Filter::parse)
        .transpose()
        .map_err(|e| ApiError::from(omendb::Error::FilterSyntax { offset: e.offset, message: e.message }))
}

/// Whether a search is small enough to run on the async thread that took the request: one
/// query, no filter, nothing to include, k at most 100 and a beam whose work (max(ef, k) x dim)
/// stays within about a tenth of a millisecond. Handing such a search to the blocking pool and
/// back costs about as much as the search itself (BENCHMARKS.md, "Server load"); anything
/// larger goes to the pool, so it cannot hold up the other connections of its thread. Included
/// fields are excluded because their locks can be held by a large write batch for a long time.
pub fn runs_inline(c: &Collection, queries: usize, k: usize, ef: Option<usize>, filter: Option<&str>, inc: Include) -> bool {
    const INLINE_WORK: usize = 1 << 16; // ef 128 at 512 dimensions, ef 1,024 at 64
    let beam = ef.unwrap_or_else(|| c.index.ef_search()).max(k);
    queries == 1 && filter.is_none() && !inc.any() && k <= 100 && beam.saturating_mul(c.index.dim()) <= INLINE_WORK
}

/// The k nearest records of each query, nearest first.
pub fn search(c: &Collection, queries: &[Vec<f32>], k: usize, ef: Option<usize>, filter: Option<&str>, inc: Include) -> Result<Vec<Vec<Hit>>, ApiError> {
    check_k(k)?;
    if queries.len() > MAX_QUERIES {
        return Err(ApiError::too_large(format!("{} queries in one request; at most {MAX_QUERIES}", queries.len())));
    }
    let filter = parse_filter(filter)?;
    let mut rows = Vec::with_capacity(queries.len());
    for q in queries {
        let mut hits = Vec::new();
        let request = SearchRequest { k, ef, filter: filter.as_ref() };
        c.index.search_visit(q, request, |key, d| hits.push(bare(key, d)))?;
        rows.push(fill(c, hits, inc));
    }
    Ok(rows)
}

/// BM25 search: the k best records for `query`, best first.
pub fn text_search(c: &Collection, query: &str, k: usize, filter: Option<&str>, inc: Include) -> Result<Vec<Hit>, ApiError> {
    check_k(k)?;
    let filter = parse_filter(filter)?;
    let mut hits = Vec::new();
    c.index.text_search(query, k, filter.as_ref(), |key, s| hits.push(bare(key, s)))?;
    Ok(fill(c, hits, inc))
}

/// A hybrid search; `fusion` "rrf" (None) or "weighted" with `alpha` (None: 0.5).
#[allow(clippy::too_many_arguments)] // the request's fields, one each
pub fn hybrid_search(
    c: &Collection,
    vector: &[f32],
    query: &str,
    k: usize,
    ef: Option<usize>,
    filter: Option<&str>,
    fusion: Option<&str>,
    alpha: Option<f32>,
    inc: Include,
) -> Result<Vec<Hit>, ApiError> {
    check_k(k)?;
    // alpha is the weighted fusion's parameter (its range is checked by the fusion itself).
    let fusion = match Fusion::from_name(fusion.unwrap_or("rrf"), 0.0)? {
        Fusion::Weighted { .. } => Fusion::Weighted { alpha: alpha.unwrap_or(0.5) },
        rrf => rrf,
    };
    let filter = parse_filter(filter)?;
    let mut hits = Vec::new();
    let request = SearchRequest { k, ef, filter: filter.as_ref() };
    c.index.hybrid_search(vector, query, request, fusion, |key, s| hits.push(bare(key, s)))?;
    Ok(fill(c, hits, inc))
}
