//! The graph state shared by search, insert and repair.
//!
//! Invariants:
//! - every id stored in a link list or in the entry point names an allocated slot whose
//!   vector is written (links are published with Release, read with Acquire);
//! - a slot is reused only after it has been unlinked and a grace period has passed: the
//!   repair pass takes the `gate` exclusively once, which waits for every operation that
//!   might still hold the old id (each operation holds a [`Pin`], a shared hold on the gate);
//! - layer l of a node holds at most `m` links (`m0` on layer 0).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

use parking_lot::{Mutex, RwLock, RwLockReadGuard};

use crate::space::Space;
use crate::hnsw::codes::{self, Layout, NeighborCodes};
use crate::hnsw::arena::{NodeGuard, NodeStore, STATE_FREE, STATE_LIVE};

/// Construction parameters, with the paper's names.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    /// Links per node on the upper layers.
    pub m: usize,
    /// Links per node on layer 0 (2 * m by default).
    pub m0: usize,
    /// Beam width while inserting.
    pub ef_construction: usize,
    /// Level normalisation, 1 / ln(m).
    pub ml: f64,
}

impl Params {
    /// Parameters for a given `m` and `ef_construction`, with `m0 = 2m` and `mL = 1/ln m`.
    pub fn new(m: usize, ef_construction: usize) -> Params {
        Params { m, m0: 2 * m, ef_construction, ml: 1.0 / (m as f64).ln() }
    }
}

/// Highest layer a node may get; the level distribution makes anything above it vanishingly rare.
pub const MAX_LEVEL: u8 = 16;

const NO_ENTRY: u64 = u64::MAX;

/// A shared hold on the graph that keeps every slot id seen during an operation valid.
pub struct Pin<'a>(#[allow(dead_code)] RwLockReadGuard<'a, ()>);

/// The HNSW graph over an arena of records.
pub struct Graph {
    /// Records: vectors and layer-0 links.
    pub store: NodeStore,
    /// Construction parameters.
    pub params: Params,
    /// The metric and its kernels.
    pub space: Space,
    /// Entry point: `(level << 32) | id`, or `NO_ENTRY`.
    entry: AtomicU64,
    /// Held while the entry point may change.
    pub(crate) entry_lock: Mutex<()>,
    /// Shared by every operation, taken exclusively to wait out a grace period.
    gate: RwLock<()>,
    /// Serialises repair passes.
    pub(crate) maintenance: Mutex<()>,
    /// Slots marked deleted and not yet repaired around.
    pub(crate) deleted: Mutex<Vec<u32>>,
    /// One past the highest slot id handed out (a hint for sizing visited sets).
    pub(crate) capacity_hint: AtomicU32,
    /// Slots marked deleted and not yet reclaimed (searches skip the liveness check at 0).
    pub(crate) deleted_count: AtomicUsize,
    /// Codes of each node's layer-0 neighbours beside its links (see `hnsw::codes`): learned
    /// once the store has blocks and enough records; kept in step by `write_links` from then.
    codes: OnceLock<NeighborCodes>,
    /// Set once every block has been filled after the codes were learned: searches use them.
    codes_ready: AtomicBool,
    /// Bits per dimension of the neighbour codes (0: no blocks).
    code_bits: u8,
    /// Where the codes lie: the neighbours' codes beside each node's links, or each node's own.
    pub(crate) code_layout: Layout,
    /// How many of the nodes a search on neighbour codes reached it re-scores exactly, in
    /// multiples of ef, at least 1 (experimental: `OMENDB_CODES_RERANK` when the graph is
    /// made; 1).
    pub(crate) code_rerank: f32,
    /// Whether inserts search on the neighbour codes too (experimental: unless
    /// `OMENDB_CODES_BUILD` is `0` when the graph is made).
    pub(crate) code_build: bool,
}

impl Graph {
    /// An empty graph of `dim`-dimensional vectors.
    pub fn new(dim: usize, params: Params, space: Space) -> Graph {
        Graph::with_neighbor_blocks(dim, params, space, None)
    }

    /// As [`Graph::new`], with a neighbour block per node for codes of `bits` a dimension
    /// (8 or 4, see `hnsw::codes`) when asked and the records are f32 vectors.
    pub(crate) fn with_neighbor_blocks(dim: usize, params: Params, space: Space, bits: Option<u8>) -> Graph {
        Graph::with_code_layout(dim, params, space, bits.map(|b| (b, Layout::choose())))
    }

    /// As [`Graph::with_neighbor_blocks`], the codes in the layout given.
    pub(crate) fn with_code_layout(dim: usize, params: Params, space: Space, codes: Option<(u8, Layout)>) -> Graph {
        let store = NodeStore::with_words(dim, space.stored_words(dim), params.m0, params.m);
        match codes {
            Some((bits, layout)) if space.codec().is_none() => {
                assert!(bits == 4 || bits == 8, "neighbour codes take 4 or 8 bits a dimension");
                let store = store.with_neighbor_blocks(layout.block_bytes(dim, params.m0, bits));
                Graph { code_bits: bits, code_layout: layout, ..Graph::with_store(store, params, space) }
            }
            _ => Graph::with_store(store, params, space),
        }
    }

    /// The neighbour codes, once learned and written for every node (see `hnsw::codes`).
    #[inline]
    pub fn neighbor_codes(&self) -> Option<&NeighborCodes> {
        if self.codes_ready.load(Ordering::Acquire) {
            self.codes.get()
        } else {
            None
        }
    }

    /// Where the codes lie, when the store has room for them: "beside_links" or "per_node"
    /// (see [`Layout`]).
    pub fn code_layout_name(&self) -> Option<&'static str> {
        self.store.has_blocks().then_some(match self.code_layout {
            Layout::BesideLinks => "beside_links",
            Layout::PerNode => "per_node",
        })
    }

    /// The neighbour codes once learned, even before every block holds them: what a save
    /// writes, so that a load fills the blocks with the same codes.
    pub(crate) fn learned_neighbor_codes(&self) -> Option<&NeighborCodes> {
        self.codes.get()
    }

    /// Learns the neighbour codes and fills every block, once the store has blocks and at
    /// least `codes::MIN_TRAIN` records; a no-op before that and after. Call it between
    /// writing a batch's vectors and linking them, and after restoring a graph.
    pub(crate) fn learn_neighbor_codes(&self) {
        self.fill_neighbor_blocks(None);
    }

    /// Sets the neighbour codes (`given`, as saved; or else learned from the first published
    /// records, when there are enough) and writes every block with them, once: searches use
    /// the codes from then on.
    ///
    /// A store without blocks (a file mapping of a quantized index) keeps `given` only to save
    /// it again.
    fn fill_neighbor_blocks(&self, given: Option<NeighborCodes>) {
        if !self.store.has_blocks() {
            if let Some(given) = given {
                let _ = self.codes.set(given);
            }
            return;
        }
        if self.codes_ready.load(Ordering::Acquire) {
            return;
        }
        // No repair (so no slot reuse) while the sample is read and the blocks are filled.
        let _no_repair = self.maintenance.lock();
        if self.codes_ready.load(Ordering::Acquire) {
            return;
        }
        let codes = match given {
            Some(given) => {
                let _ = self.codes.set(given);
                self.codes.get().expect("set above")
            }
            None => {
                let high = self.store.high_water();
                // Published records (LIVE or DELETED) among the first slots. (A slot of a
                // chunk another add has not mapped yet holds nothing yet.)
                let published = |id: u32| self.store.is_backed(id) && self.store.state(id) != STATE_FREE;
                let sample_ids: Vec<u32> = (0..high).filter(|&id| published(id)).take(codes::TRAIN_SAMPLE).collect();
                if sample_ids.len() < codes::MIN_TRAIN {
                    return;
                }
                let sample: Vec<f32> = sample_ids.iter().flat_map(|&id| self.store.vector(id).iter().copied()).collect();
                let _ = self.codes.set(NeighborCodes::train(self.store.dim(), self.space.metric(), &sample, self.code_bits));
                self.codes.get().expect("set above")
            }
        };
        // Lists (or nodes) written before the codes existed have no codes yet. Those written
        // from now on get them in `write_links` (or `write_own_code`); each node's lock orders
        // this pass with those writers.
        let mut links = Vec::new();
        for id in 0..self.store.high_water() {
            if !self.store.is_backed(id) {
                // Being set up by another add, after the codes were set: its lists (and its
                // own code) will get their codes from its insert.
                continue;
            }
            // A mapped store is never written after its open, which runs this before the
            // graph is shared; and taking the lock would write its record, a private copy of
            // the file's page.
            let guard = (!self.store.is_mapped()).then(|| self.store.lock(id));
            match self.code_layout {
                Layout::BesideLinks => {
                    self.copy_links(id, 0, &mut links);
                    codes.update(self.store.block(id), &[], &links, |l| self.store.vector(l));
                }
                // A slot not yet published may hold no vector yet: its insert writes its code.
                Layout::PerNode if self.store.state(id) != STATE_FREE => codes.write_own(self.store.block(id), self.store.vector(id)),
                Layout::PerNode => {}
            }
            drop(guard);
        }
        self.codes_ready.store(true, Ordering::Release);
    }

    /// A graph over an existing store (a file mapping: see `storage::mapped`), with no entry
    /// point yet.
    pub(crate) fn with_store(store: NodeStore, params: Params, space: Space) -> Graph {
        Graph {
            store,
            params,
            space,
            entry: AtomicU64::new(NO_ENTRY),
            entry_lock: Mutex::new(()),
            gate: RwLock::new(()),
            maintenance: Mutex::new(()),
            deleted: Mutex::new(Vec::new()),
            capacity_hint: AtomicU32::new(0),
            deleted_count: AtomicUsize::new(0),
            codes: OnceLock::new(),
            codes_ready: AtomicBool::new(false),
            code_bits: 0,
            code_layout: Layout::BesideLinks,
            code_build: std::env::var("OMENDB_CODES_BUILD").map_or(true, |v| v != "0"),
            code_rerank: std::env::var("OMENDB_CODES_RERANK")
                .ok()
                .and_then(|v| v.parse().ok())
                .filter(|f: &f32| f.is_finite() && *f >= 1.0)
                .unwrap_or(1.0),
        }
    }

    /// A graph over a store served from a file mapping that has blocks for codes one per
    /// node (`NodeStore::with_mapped_blocks`) of `bits` a dimension: its searches use the
    /// codes once `restore_state` has filled the blocks.
    pub(crate) fn over_mapping_with_codes(store: NodeStore, params: Params, space: Space, bits: u8) -> Graph {
        debug_assert!(store.is_mapped() && store.has_blocks());
        Graph { code_bits: bits, code_layout: Layout::PerNode, ..Graph::with_store(store, params, space) }
    }

    /// Takes a shared hold for the length of one operation. Do not take two on one thread.
    pub fn pin(&self) -> Pin<'_> {
        Pin(self.gate.read())
    }

    /// Waits until every operation that was running has finished.
    pub(crate) fn wait_grace_period(&self) {
        drop(self.gate.write());
    }

    /// The entry point and its level, or None for an empty graph.
    #[inline]
    pub fn entry(&self) -> Option<(u32, u8)> {
        let e = self.entry.load(Ordering::Acquire);
        (e != NO_ENTRY).then_some((e as u32, (e >> 32) as u8))
    }

    pub(crate) fn set_entry(&self, e: Option<(u32, u8)>) {
        let v = e.map_or(NO_ENTRY, |(id, level)| ((level as u64) << 32) | id as u64);
        self.entry.store(v, Ordering::Release);
    }

    /// Distance between the vectors of two slots.
    #[inline]
    pub fn dist_ids(&self, a: u32, b: u32) -> f32 {
        self.space.distance(self.store.vector(a), self.store.vector(b))
    }

    /// Whether a slot holds a live (not deleted) record.
    #[inline]
    pub fn is_live(&self, id: u32) -> bool {
        self.store.state(id) == STATE_LIVE
    }

    /// Whether some reachable slot may be deleted. When false every reachable node is live.
    #[inline]
    pub fn has_deleted(&self) -> bool {
        self.deleted_count.load(Ordering::Acquire) != 0
    }

    /// Max links on `level`.
    #[inline]
    pub fn max_links(&self, level: usize) -> usize {
        if level == 0 {
            self.params.m0
        } else {
            self.params.m
        }
    }

    /// The list of `id` on `level`: element 0 is the count, then the link slots.
    #[inline]
    fn list(&self, id: u32, level: usize) -> &[std::sync::atomic::AtomicU32] {
        if level == 0 {
            self.store.links0(id)
        } else {
            self.store.upper_links(id, level)
        }
    }

    /// Copies the links of `id` on `level` into `out` (replacing its contents). Every id read
    /// is checked against the store's slot count: the lists of an index opened from a file
    /// mapping are read from the file, which may have been rewritten since it was checked, so
    /// an id out of range is dropped here rather than followed (a wrong answer at worst, never
    /// a read outside the mapping).
    #[inline]
    pub fn copy_links(&self, id: u32, level: usize, out: &mut Vec<u32>) {
        out.clear();
        let list = self.list(id, level);
        if let Some((count, links)) = list.split_first() {
            let n = (count.load(Ordering::Acquire) as usize).min(links.len());
            let loaded = links[..n].iter().map(|l| l.load(Ordering::Acquire));
            let limit = self.store.link_limit();
            if limit == u32::MAX {
                // Records this process wrote: no id to drop, and an exact-size extend (a filter
                // in this innermost loop cost ~2.5 % of search speed on glove-50).
                out.extend(loaded);
            } else {
                out.extend(loaded.filter(|&l| l < limit));
            }
        }
    }

    /// Replaces the links of `id` on `level`; `_guard` proves the caller holds the node's lock.
    pub(crate) fn write_links(&self, _guard: &NodeGuard<'_>, id: u32, level: usize, links: &[u32]) {
        debug_assert!(links.len() <= self.max_links(level));
        let list = self.list(id, level);
        let codes = self.codes.get().filter(|_| self.store.has_blocks() && self.code_layout == Layout::BesideLinks);
        if let (0, Some(codes), Some((count, slots))) = (level, codes, list.split_first()) {
            // The caller holds the lock: the list is stable; Relaxed reads suffice.
            let n = (count.load(Ordering::Relaxed) as usize).min(slots.len());
            codes.update(self.store.block(id), &slots[..n], links, |l| self.store.vector(l));
        }
        if let Some((count, slots)) = list.split_first() {
            for (slot, &l) in slots.iter().zip(links) {
                slot.store(l, Ordering::Release);
            }
            count.store(links.len().min(slots.len()) as u32, Ordering::Release);
        }
    }

    /// Writes the code of node `id`'s own vector into its block, in the layout with one code
    /// per node, once the codes are learned: an insert calls it before it links the node, so
    /// no search reaches a node without its code.
    pub(crate) fn write_own_code(&self, id: u32) {
        if self.code_layout != Layout::PerNode || !self.store.has_blocks() {
            return;
        }
        let guard = self.store.lock(id);
        // Read under the lock: either this sees the codes, or the pass that fills every block
        // after setting them (`fill_neighbor_blocks`) takes this lock later and sees the node
        // published.
        if let Some(codes) = self.codes.get() {
            codes.write_own(self.store.block(id), self.store.vector(id));
        }
        drop(guard);
    }

    /// Bytes used by the graph: records and upper-layer lists.
    pub fn memory_bytes(&self) -> usize {
        self.store.memory_bytes()
    }
}

// ---- persistence ----
impl Graph {
    /// Slots marked deleted and awaiting repair, in the order they were marked. For saving.
    pub fn pending_delete_list(&self) -> Vec<u32> {
        self.deleted.lock().clone()
    }

    /// Writes the links of `id` on `level` in a graph being rebuilt from a file (no reader
    /// can reach it yet).
    pub(crate) fn restore_links(&self, id: u32, level: usize, links: &[u32]) {
        let guard = self.store.lock(id);
        self.write_links(&guard, id, level, links);
    }

    /// Sets the entry point, the pending deletes and the neighbour codes (as saved, or None to
    /// learn them) of a graph rebuilt from a file, once every slot has been restored.
    pub(crate) fn restore_state(&self, entry: Option<(u32, u8)>, pending: Vec<u32>, codes: Option<NeighborCodes>) {
        self.set_entry(entry);
        self.deleted_count.store(pending.len(), Ordering::Release);
        *self.deleted.lock() = pending;
        self.capacity_hint.store(self.store.high_water(), Ordering::Release);
        self.fill_neighbor_blocks(codes);
    }
}
