//! `Index`: the public face of the engine. Validates input, owns the key map, and drives the
//! HNSW graph. Every method takes `&self`; an `Index` may be shared by many threads.
//!
//! Failure contract: a call that returns an error has changed nothing (batches are
//! all-or-nothing: every record is checked before the first one is stored).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use parking_lot::RwLock;
use rayon::prelude::*;

use crate::distance::scalar;
use crate::error::{Error, Result};
use crate::hnsw::insert::{level_for, uniform};
use crate::hnsw::scratch::{with_scratch, Scratch};
use crate::hnsw::{Graph, Params, Pin};
use crate::keys::{KeyKind, KeyMap, KeyRef};
use crate::metric::{Metric, Space};
use crate::storage::raw::{RawStorage, RawStore};
use crate::quant::{Codec, Dtype};
use crate::filter::{self, Filter, Metadata, MetadataStore, SearchPlan};
use crate::hybrid::{self, Fusion};
use crate::storage::arena::STATE_LIVE;
use crate::text::{Bm25Params, TextIndex, TokenizerOptions};

/// Settings fixed when an index is created.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexOptions {
    /// Vector dimensions; 0 = taken from the first batch added.
    pub dim: usize,
    /// Distance metric.
    pub metric: Metric,
    /// Links per node on the upper layers (layer 0 gets 2 * m).
    pub m: usize,
    /// Beam width while inserting.
    pub ef_construction: usize,
    /// Default beam width while searching (raised to k when smaller).
    pub ef_search: usize,
    /// Seed of the level sampler; a single-threaded build with the same seed is reproducible.
    pub seed: u64,
    /// How record texts and text queries are cut into terms.
    pub text: TokenizerOptions,
    /// BM25 parameters of text search.
    pub bm25: Bm25Params,
    /// How vectors are stored in the graph (see `quant`); f32 by default.
    pub dtype: Dtype,
    /// Quantized dtypes: each search re-scores its best `rerank * k` candidates with the
    /// full-precision vectors (ef is raised to at least that many).
    pub rerank: usize,
    /// PQ sub-spaces (must divide `dim`); 0 = dim / 8.
    pub pq_m: usize,
    /// Quantized dtypes: where the full-precision vectors used to re-rank live.
    pub raw_storage: RawStorage,
}

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions {
            dim: 0,
            metric: Metric::L2,
            m: 16,
            ef_construction: 200,
            ef_search: 64,
            seed: 0x0E_4E_4D_B0,
            text: TokenizerOptions::default(),
            bm25: Bm25Params::default(),
            dtype: Dtype::F32,
            rerank: DEFAULT_RERANK,
            pq_m: 0,
            raw_storage: RawStorage::Memory,
        }
    }
}

/// Default re-ranking depth of quantized indexes, in multiples of k.
pub const DEFAULT_RERANK: usize = 4;
/// Largest accepted `rerank`.
pub const MAX_RERANK: usize = 1024;

/// Largest accepted `m`, `ef` and dimension count: far above any useful value, low enough
/// that sizes computed from them cannot overflow.
pub const MAX_M: usize = 512;
/// See [`MAX_M`].
pub const MAX_EF: usize = 1 << 20;
/// See [`MAX_M`].
pub const MAX_DIM: usize = 1 << 16;
/// Largest component magnitude accepted under L2 and inner product: at `MAX_DIM` dimensions,
/// a squared distance of components within ±1e16 stays below `f32::MAX` (65,536 x (2e16)^2 =
/// 2.6e37), so no distance becomes infinite or NaN. Cosine normalises and needs no bound.
pub const MAX_COMPONENT: f32 = 1e16;

impl IndexOptions {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        if self.dim > MAX_DIM {
            return Err(Error::InvalidArgument(format!("dim {} is above the limit of {MAX_DIM}", self.dim)));
        }
        if !(2..=MAX_M).contains(&self.m) {
            return Err(Error::InvalidArgument(format!("m must be in 2..={MAX_M}, got {}", self.m)));
        }
        if !(1..=MAX_EF).contains(&self.ef_construction) {
            return Err(Error::InvalidArgument(format!(
                "ef_construction must be in 1..={MAX_EF}, got {}",
                self.ef_construction
            )));
        }
        if !(1..=MAX_EF).contains(&self.ef_search) {
            return Err(Error::InvalidArgument(format!("ef_search must be in 1..={MAX_EF}, got {}", self.ef_search)));
        }
        if !(1..=MAX_RERANK).contains(&self.rerank) {
            return Err(Error::InvalidArgument(format!("rerank must be in 1..={MAX_RERANK}, got {}", self.rerank)));
        }
        if self.pq_m != 0 && self.dtype != Dtype::Pq {
            return Err(Error::InvalidArgument(format!("pq_m applies to dtype pq only, not {}", self.dtype.name())));
        }
        if self.dtype == Dtype::Pq && self.dim != 0 {
            crate::quant::pq::check_shape(self.dim, self.pq_m)?;
        }
        Ok(())
    }
}

/// One search result.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit<K> {
    /// The record's key.
    pub key: K,
    /// Its distance to the query (see `metric` for the units).
    pub distance: f32,
}

/// Keys of a batch, one per vector.
#[derive(Clone, Copy, Debug)]
pub enum Keys<'a> {
    /// Numeric keys.
    U64(&'a [u64]),
    /// String keys.
    Str(&'a [&'a str]),
}

impl<'a> Keys<'a> {
    /// Number of keys.
    pub fn len(&self) -> usize {
        match self {
            Keys::U64(k) => k.len(),
            Keys::Str(k) => k.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Key `i`.
    pub fn get(&self, i: usize) -> KeyRef<'a> {
        match self {
            Keys::U64(k) => KeyRef::U64(k[i]),
            Keys::Str(k) => KeyRef::Str(k[i]),
        }
    }
}

/// Optional payloads of a batch, one entry per record (`None` = this record has none).
#[derive(Clone, Copy, Debug, Default)]
pub struct Payloads<'a> {
    /// Metadata as JSON objects (see `filter`): searchable with filters.
    pub metadata: Option<&'a [Option<&'a str>]>,
    /// Texts: searchable with BM25 (`text_search`, `hybrid_search`).
    pub texts: Option<&'a [Option<&'a str>]>,
}

/// An HNSW vector index with string or u64 keys.
pub struct Index {
    options: IndexOptions,
    graph: OnceLock<Graph>,
    keys: RwLock<KeyMap>,
    /// Records inserted so far (drives the level sampler).
    inserted: AtomicU64,
    /// Next key handed out by `add_auto`.
    next_auto_key: AtomicU64,
    /// Metadata of every record (records added without any have an empty object).
    meta: RwLock<MetadataStore>,
    /// Texts of the records that were given one, for BM25.
    text: RwLock<TextIndex>,
    /// Bumped (under `meta`'s write lock) on every metadata change.
    meta_version: AtomicU64,
    /// The last filter evaluated, at which metadata version, and its matching slots: a filter
    /// reused across queries (a batch, or repeated calls) is evaluated once.
    filter_cache: parking_lot::Mutex<Option<(Filter, u64, std::sync::Arc<roaring::RoaringBitmap>)>>,
    /// Quantized dtypes: the full-precision vectors, by slot, for re-ranking.
    raw: OnceLock<RawStore>,
    /// The metric on full-precision vectors (re-ranking).
    exact: Space,
    /// Shared by every call that changes the index (add, upsert, add_auto, remove, compact);
    /// taken exclusively by `save` for a consistent snapshot. Searches do not take it.
    persist_gate: RwLock<()>,
    /// Opened from a file mapping: every change is refused (see `Index::open`).
    read_only: bool,
}

/// Repair runs once this many deletes are pending, or more than an eighth of the records.
const REPAIR_MIN_PENDING: usize = 64;

impl Index {
    /// A new, empty index.
    pub fn new(options: IndexOptions) -> Result<Index> {
        options.validate()?;
        let text = TextIndex::new(options.text.clone(), options.bm25)?;
        let index = Index {
            exact: Space::new(options.metric),
            options,
            raw: OnceLock::new(),
            graph: OnceLock::new(),
            keys: RwLock::new(KeyMap::default()),
            inserted: AtomicU64::new(0),
            next_auto_key: AtomicU64::new(0),
            persist_gate: RwLock::new(()),
            meta: RwLock::new(MetadataStore::new()),
            text: RwLock::new(text),
            meta_version: AtomicU64::new(0),
            filter_cache: parking_lot::Mutex::new(None),
            read_only: false,
        };
        // A dtype that learns from data waits for the first batch.
        if index.options.dim > 0 && index.options.dtype.min_training_vectors() == 0 {
            index.graph_for(index.options.dim, &[])?;
        }
        Ok(index)
    }

    /// The options the index was created with (`dim` as created, see [`Index::dim`]).
    pub fn options(&self) -> &IndexOptions {
        &self.options
    }

    /// Dimensions, or 0 while they are still to be taken from the first batch.
    pub fn dim(&self) -> usize {
        self.graph.get().map_or(self.options.dim, |g| g.store.dim())
    }

    /// The metric.
    pub fn metric(&self) -> Metric {
        self.options.metric
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.keys.read().len()
    }

    /// Whether the index holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Result places a search for `k` needs: min(k, records). Every result buffer the library
    /// allocates is sized by this, never by k alone, so a huge k costs no memory.
    pub fn result_width(&self, k: usize) -> usize {
        k.min(self.len())
    }

    /// The kind of key the index holds, once a record was added.
    pub fn key_kind(&self) -> Option<KeyKind> {
        self.keys.read().kind()
    }

    /// Whether `key` is stored.
    pub fn contains(&self, key: KeyRef<'_>) -> bool {
        self.keys.read().slot_of(key).is_some()
    }

    /// Approximate bytes of memory held by the index.
    pub fn memory_bytes(&self) -> usize {
        self.graph.get().map_or(0, |g| g.memory_bytes())
            + self.keys.read().memory_bytes()
            + self.raw.get().map_or(0, |r| r.memory_bytes(self.slot_high_water() as u32))
            + self.graph.get().and_then(|g| g.space.codec()).map_or(0, |c| c.memory_bytes())
    }

    /// The storage type of the vectors.
    pub fn dtype(&self) -> Dtype {
        self.options.dtype
    }

    /// One past the highest slot the index has ever used: with slot reuse it stays near the
    /// largest number of records held at once (plus deletes awaiting repair).
    pub fn slot_high_water(&self) -> usize {
        self.graph.get().map_or(0, |g| g.store.high_water() as usize)
    }

    /// The graph, created for `dim` dimensions on first use; a quantized dtype that learns
    /// from data trains its codec on `batch` (the first batch added, row-major, as given).
    fn graph_for(&self, dim: usize, batch: &[f32]) -> Result<&Graph> {
        if dim == 0 {
            return Err(Error::InvalidArgument("vectors must have at least one dimension".into()));
        }
        if dim > MAX_DIM {
            return Err(Error::InvalidArgument(format!("dim {dim} is above the limit of {MAX_DIM}")));
        }
        let space = match (self.graph.get(), self.options.dtype) {
            (Some(_), _) | (None, Dtype::F32) => Space::new(self.options.metric),
            (None, dtype) => {
                let codec = if self.options.metric == Metric::Cosine && dtype.min_training_vectors() > 0 {
                    let mut sample = batch.to_vec();
                    sample.chunks_exact_mut(dim).for_each(|r| {
                        scalar::normalize(r);
                    });
                    Codec::train(dtype, self.options.metric, dim, &sample, self.options.pq_m)?
                } else {
                    Codec::train(dtype, self.options.metric, dim, batch, self.options.pq_m)?
                };
                if self.raw.get().is_none() {
                    let _ = self.raw.set(RawStore::new(dim, &self.options.raw_storage)?);
                }
                Space::quantized(self.options.metric, std::sync::Arc::new(codec))
            }
        };
        let g = self.graph.get_or_init(|| {
            Graph::new(dim, Params::new(self.options.m, self.options.ef_construction), space)
        });
        if g.store.dim() != dim {
            return Err(Error::DimensionMismatch { expected: g.store.dim(), got: dim });
        }
        Ok(g)
    }

    /// Works out the row length of a batch of `n` rows held in `flat`, and checks it.
    fn batch_dim(&self, n: usize, flat: &[f32]) -> Result<usize> {
        let dim = self.dim();
        if n == 0 {
            if !flat.is_empty() {
                return Err(Error::InvalidArgument(format!("{} floats given for 0 keys", flat.len())));
            }
            return Ok(dim);
        }
        if dim == 0 {
            if flat.len() % n != 0 || flat.is_empty() {
                return Err(Error::InvalidArgument(format!(
                    "{} floats do not split into {n} vectors of equal length",
                    flat.len()
                )));
            }
            return Ok(flat.len() / n);
        }
        if flat.len() != n * dim {
            return Err(Error::DimensionMismatch { expected: dim, got: flat.len() / n.max(1) });
        }
        Ok(dim)
    }

    /// Checks vectors (stored or queries) for NaN, infinities, (under L2 and inner product)
    /// components too large for f32 distances, and (under cosine) zero length.
    fn check_vectors(&self, flat: &[f32], dim: usize) -> Result<()> {
        let bounded = self.options.metric != Metric::Cosine;
        if dim == 0 {
            // An empty query to an index whose dimensions are not fixed yet: one row of no
            // floats (`chunks_exact(0)` would panic). Nothing in it is non-finite or too large;
            // under cosine it is the zero vector.
            return if bounded { Ok(()) } else { Err(Error::ZeroVector { index: 0 }) };
        }
        for (i, row) in flat.chunks_exact(dim).enumerate() {
            if let Some(c) = row.iter().position(|x| !x.is_finite()) {
                return Err(Error::NonFiniteValue { index: i, component: c });
            }
            if bounded {
                if let Some(c) = row.iter().position(|x| x.abs() > MAX_COMPONENT) {
                    return Err(Error::ValueTooLarge { index: i, component: c, limit: MAX_COMPONENT });
                }
            }
            if !bounded && row.iter().all(|&x| x == 0.0) {
                return Err(Error::ZeroVector { index: i });
            }
        }
        Ok(())
    }

    fn check_batch_keys(&self, keys: Keys<'_>, map: &KeyMap, allow_existing: bool) -> Result<()> {
        let mut seen = std::collections::HashSet::with_capacity(keys.len());
        for i in 0..keys.len() {
            let k = keys.get(i);
            map.check_kind(k)?;
            if i > 0 && k.kind() != keys.get(0).kind() {
                return Err(Error::InvalidKey("a batch mixes key kinds".into()));
            }
            if !seen.insert(k) {
                return Err(Error::DuplicateKey(format!("{k} appears twice in one batch")));
            }
            if !allow_existing && map.slot_of(k).is_some() {
                return Err(Error::DuplicateKey(format!("{k} is already in the index (use upsert to replace it)")));
            }
        }
        Ok(())
    }

    /// Adds `keys.len()` vectors stored row-major in `vectors`. Fails, adding nothing, if a
    /// key is already stored or repeats within the batch, or a vector is invalid.
    /// Uses every core for large batches.
    pub fn add(&self, keys: Keys<'_>, vectors: &[f32]) -> Result<()> {
        self.add_with(keys, vectors, Payloads::default())
    }

    /// As [`Index::add`], with per-record metadata and texts.
    pub fn add_with(&self, keys: Keys<'_>, vectors: &[f32], payloads: Payloads<'_>) -> Result<()> {
        self.check_writable()?;
        let _writer = self.persist_gate.read();
        self.put(keys, vectors, payloads, false)
    }

    /// Like [`Index::add`], but a key already stored gets the new vector (its old record is
    /// removed in the same step).
    pub fn upsert(&self, keys: Keys<'_>, vectors: &[f32]) -> Result<()> {
        self.upsert_with(keys, vectors, Payloads::default())
    }

    /// As [`Index::upsert`], with per-record metadata and texts (which replace the old ones).
    pub fn upsert_with(&self, keys: Keys<'_>, vectors: &[f32], payloads: Payloads<'_>) -> Result<()> {
        self.check_writable()?;
        let _writer = self.persist_gate.read();
        self.put(keys, vectors, payloads, true)
    }

    /// Adds vectors under the next free automatic u64 keys; returns the first key used.
    /// Automatic keys count up from 0, one per record added this way.
    pub fn add_auto(&self, vectors: &[f32], n: usize) -> Result<u64> {
        self.check_writable()?;
        let _writer = self.persist_gate.read();
        // Reserve a range; give it back if the add fails, so keys stay dense.
        let first = self.next_auto_key.fetch_add(n as u64, Ordering::SeqCst);
        let keys: Vec<u64> = (first..first + n as u64).collect();
        match self.put(Keys::U64(&keys), vectors, Payloads::default(), false) {
            Ok(()) => Ok(first),
            Err(e) => {
                let _ = self.next_auto_key.compare_exchange(
                    first + n as u64,
                    first,
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                );
                Err(e)
            }
        }
    }

    fn put(&self, keys: Keys<'_>, vectors: &[f32], payloads: Payloads<'_>, upsert: bool) -> Result<()> {
        let n = keys.len();
        let dim = self.batch_dim(n, vectors)?;
        let metadata = parse_payloads(n, payloads)?;
        if n == 0 {
            return Ok(());
        }
        self.check_vectors(vectors, dim)?;
        // Checked once here for a clear early error, and again under the write lock below.
        // Before `graph_for`: a refused first batch must not fix the index's dimensions.
        self.check_batch_keys(keys, &self.keys.read(), upsert)?;
        let graph = self.graph_for(dim, vectors)?;

        let first = self.inserted.fetch_add(n as u64, Ordering::Relaxed);
        let levels: Vec<u8> =
            (0..n as u64).map(|i| level_for(uniform(self.options.seed, first + i), graph.params.ml)).collect();
        let slots = graph.store.take_fresh(&levels);
        let ids: Vec<u32> = slots.iter().map(|s| s.id()).collect();
        let mut normalized = Vec::new();
        let mut code = vec![0f32; graph.store.words()];
        let mut raw_error = None;
        for (slot, row) in slots.iter().zip(vectors.chunks_exact(dim)) {
            let v = if self.options.metric == Metric::Cosine {
                normalized.clear();
                normalized.extend_from_slice(row);
                scalar::normalize(&mut normalized);
                &normalized[..]
            } else {
                row
            };
            match (graph.space.codec(), self.raw.get()) {
                (Some(codec), Some(raw)) => {
                    codec.encode(v, &mut code);
                    graph.store.write_vector(slot, &code);
                    if let Err(e) = raw.write(slot, v) {
                        raw_error.get_or_insert(e);
                    }
                }
                _ => graph.store.write_vector(slot, v),
            }
            graph.store.set_state(slot.id(), STATE_LIVE);
        }
        graph.capacity_hint.fetch_max(graph.store.high_water(), Ordering::AcqRel);

        // Publish the keys (all or nothing), then link the nodes.
        let replaced = {
            let mut map = self.keys.write();
            if let Err(e) = raw_error.map_or_else(|| self.check_batch_keys(keys, &map, upsert), Err) {
                drop(map);
                for &id in &ids {
                    graph.mark_deleted(id);
                }
                return Err(e);
            }
            let mut replaced = Vec::new();
            for (i, &id) in ids.iter().enumerate() {
                if let Some(old) = map.set(keys.get(i), id) {
                    replaced.push(old);
                }
            }
            replaced
        };
        // Payloads go in before the nodes are linked, so a search that finds a node also
        // sees its metadata and text.
        {
            let mut meta = self.meta.write();
            self.meta_version.fetch_add(1, Ordering::AcqRel);
            for &old in &replaced {
                meta.remove(old);
            }
            for (&id, m) in ids.iter().zip(metadata) {
                match m {
                    // Checked by parse_payloads; cannot fail here.
                    Some(m) => meta.set_metadata(id, m)?,
                    None => meta.set_empty(id),
                }
            }
        }
        {
            let mut text = self.text.write();
            for &old in &replaced {
                text.remove(old);
            }
            if let Some(texts) = payloads.texts {
                for (&id, t) in ids.iter().zip(texts) {
                    if let Some(t) = t {
                        text.set(id, t);
                    }
                }
            }
        }
        self.link(graph, &ids);
        for old in replaced {
            graph.mark_deleted(old);
        }
        self.maybe_repair(graph);
        Ok(())
    }

    fn link(&self, graph: &Graph, ids: &[u32]) {
        let insert_one = |id: u32| {
            let pin = graph.pin();
            with_scratch(|s| graph.insert(&pin, id, s));
        };
        // The first node of an empty graph goes in alone, so the others find an entry point.
        let (head, rest) = match graph.entry() {
            None => ids.split_at(1),
            Some(_) => ids.split_at(0),
        };
        head.iter().for_each(|&id| insert_one(id));
        if rest.len() >= 32 {
            rest.par_iter().for_each(|&id| insert_one(id));
        } else {
            rest.iter().for_each(|&id| insert_one(id));
        }
    }

    /// Removes the record with `key`. It never appears in results after this returns; its
    /// slot is reused once the graph has been repaired around it.
    pub fn remove(&self, key: KeyRef<'_>) -> Result<()> {
        self.check_writable()?;
        let _writer = self.persist_gate.read();
        let slot = {
            let mut map = self.keys.write();
            map.check_kind(key)?;
            map.remove(key).ok_or_else(|| Error::KeyNotFound(key.to_string()))?
        };
        {
            let mut meta = self.meta.write();
            self.meta_version.fetch_add(1, Ordering::AcqRel);
            meta.remove(slot);
        }
        self.text.write().remove(slot);
        let graph = self.graph.get().ok_or_else(|| Error::Internal("key mapped without a graph".into()))?;
        graph.mark_deleted(slot);
        self.maybe_repair(graph);
        Ok(())
    }

    fn maybe_repair(&self, graph: &Graph) {
        let pending = graph.pending_deletes();
        if pending >= REPAIR_MIN_PENDING.max(self.len() / 8) {
            graph.repair();
        }
    }

    /// Checks the index's internal consistency; call it while no other operation runs on the
    /// index. The key map and the slots agree (every key names a distinct live slot, and no
    /// other slot is live), and the graph's structure holds (see `Graph::check_invariants`).
    /// Returns the first violation found. For tests and debugging: it visits every link.
    pub fn check_invariants(&self) -> std::result::Result<(), String> {
        let map = self.keys.read();
        let Some(graph) = self.graph.get() else {
            return if map.is_empty() { Ok(()) } else { Err("keys stored without a graph".into()) };
        };
        let high = graph.store.high_water();
        let mut seen = std::collections::HashSet::with_capacity(map.len());
        for (slot, key) in map.entries() {
            if slot >= high || !graph.is_live(slot) {
                return Err(format!("key {key} is in slot {slot}, which is not live"));
            }
            if map.slot_of(key) != Some(slot) {
                return Err(format!("slot {slot} holds key {key}, which maps to {:?}", map.slot_of(key)));
            }
            seen.insert(slot);
        }
        if seen.len() != map.len() {
            return Err(format!("{} keys but {} slots hold one", map.len(), seen.len()));
        }
        if let Some(id) = (0..high).find(|&id| graph.is_live(id) && !seen.contains(&id)) {
            return Err(format!("slot {id} is live but no key maps to it"));
        }
        drop(map);
        graph.check_invariants()
    }

    /// Number of live records that no search can reach (see
    /// `Graph::unreachable_live_nodes`); call it while no other operation runs. For tests.
    pub fn unreachable_count(&self) -> usize {
        self.graph.get().map_or(0, |g| g.unreachable_live_nodes().len())
    }

    /// Mean number of layer-0 links of a live record (see `Graph::mean_layer0_links`); call
    /// it while no other operation runs. For tests.
    pub fn mean_layer0_links(&self) -> f64 {
        self.graph.get().map_or(0.0, |g| g.mean_layer0_links())
    }

    /// Repairs the graph around every pending delete now and frees their slots.
    /// Does nothing on an index opened read-only (nothing there can change).
    pub fn compact(&self) {
        if self.read_only {
            return;
        }
        let _writer = self.persist_gate.read();
        if let Some(g) = self.graph.get() {
            g.repair();
        }
    }

    /// Checks a query and k; returns the graph to search, or None for an empty index.
    fn prepare_search(&self, query_len: usize, k: usize) -> Result<Option<&Graph>> {
        if k == 0 {
            return Err(Error::InvalidArgument("k must be at least 1".into()));
        }
        let Some(graph) = self.graph.get() else {
            return Ok(None);
        };
        if query_len != graph.store.dim() {
            return Err(Error::DimensionMismatch { expected: graph.store.dim(), got: query_len });
        }
        Ok(Some(graph))
    }

    /// Runs one search and hands each hit (key, distance) to `emit`, nearest first; returns
    /// the number of hits. `filter` sees slot ids (the hook for metadata filters).
    pub fn search_visit(
        &self,
        query: &[f32],
        k: usize,
        ef: Option<usize>,
        filter: Option<&dyn Fn(u32) -> bool>,
        emit: impl FnMut(KeyRef<'_>, f32),
    ) -> Result<usize> {
        let Some(graph) = self.check_query(query, k)? else { return Ok(0) };
        Ok(self.visit(graph, query, k, ef, filter, emit))
    }

    /// `search_visit` of a query already checked against `graph` (by `check_query` or
    /// `check_batch`): each search checks its queries once.
    fn visit(
        &self,
        graph: &Graph,
        query: &[f32],
        k: usize,
        ef: Option<usize>,
        filter: Option<&dyn Fn(u32) -> bool>,
        mut emit: impl FnMut(KeyRef<'_>, f32),
    ) -> usize {
        // No clamp of k here (a lock per search): nothing below allocates by k or ef; a beam
        // wider than the graph becomes a scan of its slots.
        let ef = self.search_ef(ef, k);
        let pin: Pin<'_> = graph.pin();
        with_scratch(|s| {
            self.nearest(graph, query, k, s, |target, pool, s| graph.knn_pool(&pin, target, k, ef, pool, s, filter));
            // `found` holds up to ef nodes: a record removed since the graph search (its key
            // gone) is skipped and the next one takes its place, so k hits still come back.
            let map = self.keys.read();
            let mut count = 0;
            for c in &s.found {
                if count == k {
                    break;
                }
                if let Some(key) = map.key_of(c.id) {
                    emit(key, c.dist);
                    count += 1;
                }
            }
            count
        })
    }

    /// The `k` nearest records to `query`, nearest first (fewer if the index holds fewer).
    /// `ef` defaults to the index's `ef_search`; a value below `k` is raised to `k`.
    pub fn search(&self, query: &[f32], k: usize, ef: Option<usize>) -> Result<Vec<Hit<String>>> {
        self.search_filtered(query, k, ef, None)
    }

    /// As [`Index::search`], keeping only slots for which `filter` holds.
    pub fn search_filtered(
        &self,
        query: &[f32],
        k: usize,
        ef: Option<usize>,
        filter: Option<&dyn Fn(u32) -> bool>,
    ) -> Result<Vec<Hit<String>>> {
        let mut hits = Vec::with_capacity(k.min(1024));
        self.search_visit(query, k, ef, filter, |key, d| hits.push(Hit { key: key.to_string_plain(), distance: d }))?;
        Ok(hits)
    }

    /// Checks a batch of `n` queries stored row-major in `queries` before any is searched, so
    /// that a batch fails as a whole or not at all. Returns the row length.
    pub fn check_queries(&self, queries: &[f32], n: usize, k: usize) -> Result<usize> {
        self.check_batch(queries, n, k).map(|(dim, _)| dim)
    }

    /// `check_queries`, also returning the graph the queries were checked against (None for
    /// an empty index, or when n = 0).
    fn check_batch(&self, queries: &[f32], n: usize, k: usize) -> Result<(usize, Option<&Graph>)> {
        if k == 0 {
            return Err(Error::InvalidArgument("k must be at least 1".into()));
        }
        if n == 0 {
            return Ok((self.dim(), None));
        }
        if queries.len() % n != 0 || queries.is_empty() {
            return Err(Error::InvalidArgument(format!("{} floats do not split into {n} queries", queries.len())));
        }
        let dim = queries.len() / n;
        let graph = self.prepare_search(dim, k)?;
        self.check_vectors(queries, dim)?;
        Ok((dim, graph))
    }

    /// Searches `n` queries in parallel; `sinks[i]` receives the hits of query i through `emit`.
    /// The batch is checked as a whole first (see [`Index::check_queries`]).
    pub fn search_batch<S, F>(&self, queries: &[f32], k: usize, ef: Option<usize>, sinks: &mut [S], emit: F) -> Result<()>
    where
        S: Send,
        F: Fn(&mut S, usize, KeyRef<'_>, f32) + Sync,
    {
        let n = sinks.len();
        let (dim, graph) = self.check_batch(queries, n, k)?;
        // The graph the queries were checked against (a graph, once made, stays).
        let Some(graph) = graph else { return Ok(()) };
        if dim == 0 {
            return Ok(());
        }
        let one = |(q, sink): (&[f32], &mut S)| {
            let mut rank = 0;
            self.visit(graph, q, k, ef, None, |key, d| {
                emit(sink, rank, key, d);
                rank += 1;
            });
        };
        if n >= 4 {
            queries.par_chunks_exact(dim).zip(sinks.par_iter_mut()).for_each(one);
        } else {
            queries.chunks_exact(dim).zip(sinks.iter_mut()).for_each(one);
        }
        Ok(())
    }
}

/// Checks the payload arrays of a batch of `n` records and parses the metadata, so that a bad
/// payload fails the batch before anything is stored.
fn parse_payloads(n: usize, payloads: Payloads<'_>) -> Result<Vec<Option<Metadata>>> {
    if let Some(t) = payloads.texts {
        if t.len() != n {
            return Err(Error::InvalidArgument(format!("{} texts for {n} records", t.len())));
        }
    }
    match payloads.metadata {
        None => Ok(vec![None; n]),
        Some(m) if m.len() != n => Err(Error::InvalidArgument(format!("{} metadata entries for {n} records", m.len()))),
        Some(m) => m
            .iter()
            .enumerate()
            .map(|(i, json)| {
                json.map(|j| {
                    filter::parse_metadata(j).map_err(|e| match e {
                        Error::InvalidArgument(msg) => Error::InvalidArgument(format!("record {i}: {msg}")),
                        other => other,
                    })
                })
                .transpose()
            })
            .collect(),
    }
}

/// Hits per side that hybrid search fuses (at least k).
pub const HYBRID_DEPTH: usize = 100;

// ---- filtered, text and hybrid search ----
impl Index {
    /// The metadata of `key` as a JSON object, or None if the key is not stored.
    pub fn metadata(&self, key: KeyRef<'_>) -> Option<String> {
        let slot = self.keys.read().slot_of(key)?;
        self.meta.read().get_json(slot)
    }

    /// The slots whose metadata matches `filter`, from the cache when the same filter was
    /// evaluated against the same metadata version.
    fn matching(&self, filter: &Filter) -> std::sync::Arc<roaring::RoaringBitmap> {
        let meta = self.meta.read();
        // Read under the lock: writers bump it while holding the write lock.
        let version = self.meta_version.load(Ordering::Acquire);
        if let Some((f, v, bits)) = &*self.filter_cache.lock() {
            if *v == version && f == filter {
                return bits.clone();
            }
        }
        let bits = std::sync::Arc::new(meta.evaluate(filter));
        *self.filter_cache.lock() = Some((filter.clone(), version, bits.clone()));
        bits
    }

    /// The beam width of a search for k: `ef` or the default, at least k.
    fn search_ef(&self, ef: Option<usize>, k: usize) -> usize {
        ef.unwrap_or(self.options.ef_search).clamp(1, MAX_EF).max(k)
    }

    /// Candidates a search for k re-scores at full precision: `rerank * k` for a quantized
    /// index, 0 (none) for f32. They come from every node the beam evaluated, so the beam
    /// need not be that wide.
    fn rerank_pool(&self, k: usize) -> usize {
        if self.options.dtype == Dtype::F32 {
            0
        } else {
            self.options.rerank.saturating_mul(k).min(MAX_EF)
        }
    }

    /// Re-scores the best `rerank * k` candidates in `s.found` (from a search on codes) with
    /// the full-precision vectors and sorts them; drops the rest. `query` is the prepared f32
    /// query (normalised under cosine).
    fn rerank(&self, query: &[f32], k: usize, s: &mut Scratch) {
        let Some(raw) = self.raw.get() else { return };
        s.found.truncate(self.options.rerank.saturating_mul(k));
        for c in s.found.iter_mut() {
            c.dist = self.exact.distance(query, raw.row(c.id));
        }
        s.found.sort_unstable();
    }

    /// Checks a query vector; returns the graph (None for an empty index).
    fn check_query(&self, query: &[f32], k: usize) -> Result<Option<&Graph>> {
        let graph = self.prepare_search(query.len(), k)?;
        self.check_vectors(query, query.len())?;
        Ok(graph)
    }

    /// Runs `search` for `query` and leaves its candidates in `s.found`, nearest first: the
    /// query normalised under cosine, and for a quantized index prepared for its codes (the
    /// `target` `search` gets, with the `pool` of candidates to return) and the candidates
    /// then re-ranked at full precision.
    fn nearest(&self, graph: &Graph, query: &[f32], k: usize, s: &mut Scratch, search: impl FnOnce(&[f32], usize, &mut Scratch)) {
        let mut q = std::mem::take(&mut s.query);
        q.clear();
        q.extend_from_slice(query);
        if self.options.metric == Metric::Cosine {
            scalar::normalize(&mut q);
        }
        match graph.space.codec() {
            None => search(&q, 0, s),
            Some(codec) => {
                let mut prepared = Vec::new();
                codec.prepare_query(&q, &mut prepared);
                search(&prepared, self.rerank_pool(k), s);
                self.rerank(&q, k, s);
            }
        }
        s.query = q;
    }

    /// Fills `s.found` with the nearest live records among `bits` (all when None), nearest
    /// first: an exact scan when few match, a graph search keeping only matches otherwise.
    fn nearest_slots(&self, graph: &Graph, pin: &Pin<'_>, query: &[f32], k: usize, ef: usize, bits: Option<&roaring::RoaringBitmap>, s: &mut Scratch) {
        self.nearest(graph, query, k, s, |target, pool, s| match bits {
            None => graph.knn_pool(pin, target, k, ef, pool, s, None),
            Some(bits) => match filter::plan(bits.len(), self.len() as u64, ef.max(pool)) {
                SearchPlan::Empty => s.found.clear(),
                SearchPlan::BruteForce => graph.exact_knn_slots(target, ef.max(k).max(pool), bits.iter(), s),
                SearchPlan::Graph => graph.knn_pool(pin, target, k, ef, pool, s, Some(&|id| bits.contains(id))),
            },
        });
    }

    /// The `k` nearest records to `query` among those whose metadata matches `filter`, nearest
    /// first: always min(k, matches) hits. Few matches are scanned exactly; otherwise the graph
    /// is searched with the filter applied during traversal.
    pub fn search_where(
        &self,
        query: &[f32],
        k: usize,
        ef: Option<usize>,
        filter: &Filter,
        mut emit: impl FnMut(KeyRef<'_>, f32),
    ) -> Result<usize> {
        let Some(graph) = self.check_query(query, k)? else { return Ok(0) };
        let k = self.result_width(k).max(1);
        let ef = self.search_ef(ef, k);
        // Pinned before the filter is evaluated: no slot in the bitmap can be reused meanwhile.
        let pin = graph.pin();
        let bits = self.matching(filter);
        with_scratch(|s| {
            self.nearest_slots(graph, &pin, query, k, ef, Some(&bits), s);
            let map = self.keys.read();
            let mut count = 0;
            for c in s.found.iter() {
                if count == k {
                    break;
                }
                if let Some(key) = map.key_of(c.id) {
                    emit(key, c.dist);
                    count += 1;
                }
            }
            Ok(count)
        })
    }

    /// BM25 search over record texts: the `k` best records for `query`, best first, with their
    /// scores (higher is better), among those matching `filter` when given.
    pub fn text_search(&self, query: &str, k: usize, filter: Option<&Filter>, mut emit: impl FnMut(KeyRef<'_>, f32)) -> Result<usize> {
        if k == 0 {
            return Err(Error::InvalidArgument("k must be at least 1".into()));
        }
        let Some(graph) = self.graph.get() else { return Ok(0) };
        let k = self.result_width(k).max(1);
        let _pin = graph.pin();
        let bits = filter.map(|f| self.matching(f));
        let accept = |slot: u32| bits.as_ref().is_none_or(|b| b.contains(slot));
        let hits = self.text.read().search(query, k, Some(&accept));
        let map = self.keys.read();
        let mut count = 0;
        for (slot, score) in hits {
            if let Some(key) = map.key_of(slot) {
                emit(key, score);
                count += 1;
            }
        }
        Ok(count)
    }

    /// Hybrid search: the vector search and the BM25 search (each `HYBRID_DEPTH` deep, at least
    /// k, both restricted by `filter`) fused by `fusion` (see `hybrid`): the `k` best records,
    /// best first, with their fused scores (higher is better).
    #[allow(clippy::too_many_arguments)]
    pub fn hybrid_search(
        &self,
        query: &[f32],
        text_query: &str,
        k: usize,
        ef: Option<usize>,
        filter: Option<&Filter>,
        fusion: Fusion,
        mut emit: impl FnMut(KeyRef<'_>, f32),
    ) -> Result<usize> {
        let Some(graph) = self.check_query(query, k)? else { return Ok(0) };
        let k = self.result_width(k).max(1);
        let depth = k.max(HYBRID_DEPTH);
        let ef = self.search_ef(ef, depth);
        let pin = graph.pin();
        let bits = filter.map(|f| self.matching(f));
        let vector_hits: Vec<(u32, f32)> = with_scratch(|s| {
            self.nearest_slots(graph, &pin, query, depth, ef, bits.as_deref(), s);
            s.found.iter().take(depth).map(|c| (c.id, c.dist)).collect()
        });
        let accept = |slot: u32| bits.as_ref().is_none_or(|b| b.contains(slot));
        let text_hits = self.text.read().search(text_query, depth, Some(&accept));
        let fused = hybrid::fuse(&vector_hits, &text_hits, fusion, depth)?;
        let map = self.keys.read();
        let mut count = 0;
        for (slot, score) in fused {
            if count == k {
                break;
            }
            if let Some(key) = map.key_of(slot) {
                emit(key, score);
                count += 1;
            }
        }
        Ok(count)
    }
}

impl KeyRef<'_> {
    /// The key as text without quotes: the number, or the string itself.
    pub fn to_string_plain(&self) -> String {
        match self {
            KeyRef::U64(k) => k.to_string(),
            KeyRef::Str(s) => s.to_string(),
        }
    }
}

// ---- persistence ----
impl Index {
    /// Saves the index to `path` in the file format of `docs/format.md`, atomically: the bytes
    /// go to a temporary file in the same directory, which is fsynced and renamed over `path`,
    /// then the directory is fsynced. A crash at any moment leaves the previous file (or
    /// none) or the new one, whole.
    ///
    /// Concurrency: the index is saved as it stands at one moment. Calls that change it (add,
    /// upsert, add_auto, remove, compact) wait while the bytes are written (not during the
    /// fsync); searches keep running.
    pub fn save(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        crate::storage::atomic::write_atomically(path.as_ref(), |out| self.write_snapshot(out).map(|_| ()))
    }

    /// The bytes [`Index::save`] would write.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = std::io::Cursor::new(Vec::new());
        self.write_snapshot(&mut out)?;
        Ok(out.into_inner())
    }

    fn write_snapshot(&self, out: &mut dyn crate::storage::atomic::WriteSeek) -> Result<u64> {
        let _no_writers = self.persist_gate.write();
        let graph = self.graph.get();
        let _no_repair = graph.map(|g| g.maintenance.lock());
        let keys = self.keys.read();
        let metadata = self.meta.read();
        let text = self.text.read();
        let snapshot = crate::storage::format::Snapshot {
            options: &self.options,
            graph,
            keys: &keys,
            inserted: self.inserted.load(Ordering::Acquire),
            next_auto_key: self.next_auto_key.load(Ordering::Acquire),
            metadata: &metadata,
            text: &text,
            raw: self.raw.get(),
        };
        crate::storage::format::write_index(&snapshot, out)
    }

    /// Loads an index saved by [`Index::save`] into memory. It answers every call exactly as
    /// the saved index did, and further adds behave as they would have there.
    ///
    /// Fails with `Error::Io` if the file cannot be read, `Error::Corrupt` if it is not an
    /// index file or is damaged (truncated, a checksum or a structural check fails), and
    /// `Error::UnsupportedVersion` if a newer format version wrote it.
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Index> {
        crate::storage::atomic::remove_stray_temps(path.as_ref());
        let source = crate::storage::format::FileSource::open(path.as_ref())?;
        Ok(Index::from_restored(crate::storage::format::read_index(&source)?, false))
    }

    /// Loads an index from the bytes of a saved file (see [`Index::load`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Index> {
        Ok(Index::from_restored(crate::storage::format::read_index(bytes)?, false))
    }

    pub(crate) fn from_restored(r: crate::storage::format::Restored, read_only: bool) -> Index {
        let graph = OnceLock::new();
        if let Some(g) = r.graph {
            let _ = graph.set(g);
        }
        let raw = OnceLock::new();
        if let Some(store) = r.raw {
            let _ = raw.set(store);
        }
        Index {
            exact: Space::new(r.options.metric),
            raw,
            options: r.options,
            graph,
            keys: RwLock::new(r.keys),
            inserted: AtomicU64::new(r.inserted),
            next_auto_key: AtomicU64::new(r.next_auto_key),
            persist_gate: RwLock::new(()),
            meta: RwLock::new(r.metadata),
            text: RwLock::new(r.text),
            meta_version: AtomicU64::new(0),
            filter_cache: parking_lot::Mutex::new(None),
            read_only,
        }
    }

    /// Opens an index file read-only, serving vectors and graph straight from a memory mapping
    /// of the file (see `storage::mapped`): nothing is copied, so opening costs one checked
    /// pass over the file and the operating system pages records in and out as searches need
    /// them. Searches of every kind answer exactly as [`Index::load`]'s index would; calls that
    /// change the index (add, upsert, add_auto, remove, compact) fail with
    /// `Error::InvalidArgument` ("index opened read-only"). Saving it elsewhere works.
    ///
    /// Replacing the file with `save`, which renames a new file over it, is safe: the open
    /// index keeps the old one. Rewriting it in place gives wrong answers until it is reopened
    /// (every link read from the mapping is bounds-checked, so never a wild read); truncating
    /// it makes a search that touches a lost page fault (SIGBUS): use [`Index::load`] where
    /// another process may shrink the file. Errors as [`Index::load`].
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Index> {
        Ok(Index::from_restored(crate::storage::mapped::open(path.as_ref())?, true))
    }

    /// Metadata field names ever used, in the order first seen, and the number of records
    /// with a text. For tools that describe an index (`omendb info`).
    pub fn payload_summary(&self) -> (Vec<String>, usize) {
        (self.meta.read().field_names().map(str::to_string).collect(), self.text.read().len())
    }

    /// Whether the index was opened read-only from a file mapping ([`Index::open`]).
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Fails with `InvalidArgument` on an index opened read-only.
    pub(crate) fn check_writable(&self) -> Result<()> {
        if self.read_only {
            return Err(Error::InvalidArgument(
                "index opened read-only (Index::open / omendb_index_open): load it to change it".into(),
            ));
        }
        Ok(())
    }
}
