//! `Index`: the public face of the engine. Validates input, owns the key map, and drives the
//! HNSW graph. Every method takes `&self`; an `Index` may be shared by many threads.
//!
//! Failure contract: a call that returns an error has changed nothing (batches are
//! all-or-nothing: every record is checked before the first one is stored).
//!
//! - `crate::options`: [`IndexOptions`], the settings fixed at creation, and the limits.
//! - `check`: every check of a value a caller hands in (vectors, queries, k, batch shapes).
//! - `write`: add, upsert, add_auto, remove, compact: the write path.
//! - `search`: plain, batched, filtered, text and hybrid searches.
//! - `persist`: save, load, open (the file format itself is `storage::format`).
//! - `stats`: counts, sizes and the graph's shape as one JSON object.
//! - `durable`: an index bound to a directory: the write-ahead log, checkpoints, recovery
//!   (the log's bytes and files are `storage::wal`).
//! - here: the struct, its accessors, the graph's creation and the slots-to-keys step every
//!   search ends with.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

use parking_lot::RwLock;

use crate::distance::scalar;
use crate::error::{Error, Result};
use crate::hnsw::{Graph, Params};
use crate::keys::{KeyKind, KeyMap, KeyRef};
use crate::metric::Metric;
use crate::space::Space;
use crate::quant::raw::RawStore;
use crate::quant::{Codec, Dtype};
use crate::filter::{Filter, MetadataStore};
use crate::text::TextIndex;

mod check;
mod durable;
mod persist;
mod search;
mod stats;
mod write;

pub(crate) use check::check_k;
pub use durable::options_must_match;
pub use write::KeySnapshot;
pub use crate::options::{IndexOptions, DEFAULT_RERANK, MAX_COMPONENT, MAX_DIM, MAX_EF, MAX_M, MAX_RERANK};

/// Most threads [`Index::set_threads`] accepts.
pub const MAX_THREADS: usize = 1024;
pub use search::{SearchRequest, EXACT_EF, HYBRID_DEPTH, RANGE_EXACT_MAX};

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
    /// Texts of the records that were given one: for BM25, and as given for `Index::text`.
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
    /// A durable index's directory, log and lock (see `durable`); None without a directory.
    durable: Option<durable::Durable>,
    /// The beam width of a search that names none: `options.ef_search` at creation, changed
    /// by [`Index::set_ef_search`] (and saved: snapshots write this value).
    ef_search: AtomicUsize,
    /// The threads batch calls run on: None is rayon's global pool (every core); see
    /// [`Index::set_threads`]. A setting of this process, not saved.
    threads: RwLock<Option<std::sync::Arc<rayon::ThreadPool>>>,
}

impl Index {
    /// A new, empty index.
    pub fn new(options: IndexOptions) -> Result<Index> {
        options.validate()?;
        let text = TextIndex::new(options.text.clone(), options.bm25)?;
        let index = Index {
            exact: Space::new(options.metric),
            ef_search: AtomicUsize::new(options.ef_search),
            threads: RwLock::new(None),
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
            durable: None,
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

    /// The beam width of a search that passes no `ef` (hnswlib's `ef`): `ef_search` at
    /// creation unless [`Index::set_ef_search`] changed it.
    pub fn ef_search(&self) -> usize {
        self.ef_search.load(Ordering::Relaxed)
    }

    /// Changes the default beam width of searches (1..=[`MAX_EF`]); searches already running
    /// keep theirs. A change is a setting, not a record: `save` and a durable index's next
    /// checkpoint store it, the write-ahead log does not.
    pub fn set_ef_search(&self, ef: usize) -> Result<()> {
        if !(1..=MAX_EF).contains(&ef) {
            return Err(Error::InvalidArgument(format!("ef_search = {ef} is out of range (1..={MAX_EF})")));
        }
        self.ef_search.store(ef, Ordering::Relaxed);
        Ok(())
    }

    /// How many threads a batch call (add, upsert, batch search, repair) of this index uses:
    /// 0 means one per core (rayon's global pool, the default), n > 0 a pool of n threads of
    /// this index's own. Calls already running keep the threads they have. Not saved.
    pub fn set_threads(&self, threads: usize) -> Result<()> {
        let pool = match threads {
            0 => None,
            n if n > MAX_THREADS => {
                return Err(Error::InvalidArgument(format!("threads = {n} is out of range (0..={MAX_THREADS}; 0: one per core)")))
            }
            n => Some(std::sync::Arc::new(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .thread_name(|i| format!("omendb-{i}"))
                    .build()
                    .map_err(|e| Error::Io(format!("cannot start {n} threads: {e}")))?,
            )),
        };
        *self.threads.write() = pool;
        Ok(())
    }

    /// The threads batch calls use: 0 for one per core (the default), else the pool's size.
    pub fn threads(&self) -> usize {
        self.threads.read().as_ref().map_or(0, |p| p.current_num_threads())
    }

    /// Runs `work` (whose parallel loops use rayon) on this index's threads.
    pub(crate) fn on_threads<R: Send>(&self, work: impl FnOnce() -> R + Send) -> R {
        let pool = self.threads.read().clone();
        match pool {
            Some(pool) => pool.install(work),
            None => work(),
        }
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

    /// The step every search ends with: hands the first `k` candidates (slot, distance or
    /// score), in their order, that still have a key to `emit`, and returns how many it
    /// handed. A record removed since its slot was found (its key gone) is skipped and the next
    /// candidate takes its place.
    pub(super) fn emit_keys(
        &self,
        candidates: impl IntoIterator<Item = (u32, f32)>,
        k: usize,
        emit: &mut impl FnMut(KeyRef<'_>, f32),
    ) -> usize {
        let map = self.keys.read();
        let mut count = 0;
        for (slot, score) in candidates {
            if count == k {
                break;
            }
            if let Some(key) = map.key_of(slot) {
                emit(key, score);
                count += 1;
            }
        }
        count
    }

    /// The kind of key the index holds, once a record was added.
    pub fn key_kind(&self) -> Option<KeyKind> {
        self.keys.read().kind()
    }

    /// Fails with `InvalidKey` if `key` is of the other kind than the index holds.
    pub fn check_key_kind(&self, key: KeyRef<'_>) -> Result<()> {
        self.keys.read().check_same_kind(key)
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
        if self.graph.get().is_none() {
            self.options.neighbor_blocks_fit(dim).map_err(Error::InvalidArgument)?;
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
            let bits = (self.options.neighbor_codes != 0).then_some(self.options.neighbor_codes);
            Graph::with_neighbor_blocks(dim, Params::new(self.options.m, self.options.ef_construction), space, bits)
        });
        if g.store.dim() != dim {
            return Err(Error::DimensionMismatch { expected: g.store.dim(), got: dim });
        }
        Ok(g)
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

    /// The stored vector of `key` (normalised under the cosine metric; for a quantized dtype,
    /// the full-precision vector kept for re-ranking), or None if the key is not stored.
    pub fn get_vector(&self, key: KeyRef<'_>) -> Option<Vec<f32>> {
        // The key map's read lock keeps the slot from being freed and reused while it is read.
        let map = self.keys.read();
        let slot = map.slot_of(key)?;
        let graph = self.graph.get()?;
        let dim = graph.store.dim();
        Some(match self.raw.get() {
            Some(raw) => raw.row(slot).to_vec(),
            None => graph.store.vector(slot)[..dim].to_vec(),
        })
    }

    /// The metadata of `key` as a JSON object, or None if the key is not stored.
    pub fn metadata(&self, key: KeyRef<'_>) -> Option<String> {
        let slot = self.keys.read().slot_of(key)?;
        self.meta.read().get_json(slot)
    }

    /// The text of `key` as it was given (the document BM25 searches), or None if the key is
    /// not stored, its record has no text, or its text came from a file written before texts
    /// were kept (format version 6 or older: there only its terms were saved, which still
    /// score it in text searches).
    pub fn text(&self, key: KeyRef<'_>) -> Option<String> {
        let slot = self.keys.read().slot_of(key)?;
        self.text.read().text(slot).map(str::to_string)
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
