//! The node arena: one fixed-size record per slot holding the vector, its layer-0 neighbour
//! list and its bookkeeping side by side, so a visit to a node touches adjacent cache lines
//! and nothing else.
//!
//! Record layout (`stride` bytes, a multiple of 64, so every vector starts on a cache line:
//! SIMD loads never straddle two lines and a vector touches the fewest lines possible):
//! ```text
//! [ vector: dim x f32 ][ count: u32 ][ links: m0 x u32 ][ pad to 8 ][ upper: u64 pointer ]
//! [ lock: u8 ][ level: u8 ][ state: u8 ][ padding to the stride ]
//! ```
//! Where the list ends 4 bytes short of 8-byte alignment and moving the lock, level and state
//! bytes into that gap saves a whole cache line, they go there instead ("packed"; e.g. a binary
//! code of 384 dimensions with m0 = 32: 192 bytes instead of 256):
//! ```text
//! [ vector or code ][ count ][ links ][ lock ][ level ][ state ][ pad ][ upper ][ padding ]
//! ```
//! Every other layout is unchanged, so files of those layouts stay byte for byte as before.
//! In a quantized index (see `quant`) the vector's place holds its code, `words` 32-bit words.
//! `upper` points to the node's upper-layer lists (`level` lists of `1 + m` u32: count, then
//! links), allocated only for the one node in m that has upper layers; null otherwise.
//!
//! Storage grows by chunks that double in size (chunk c holds `FIRST_CHUNK << c` slots), each
//! an anonymous memory mapping: zero pages cost nothing until a record is written, growing
//! never moves a record (readers keep running while a writer adds a chunk) and a slot's
//! address is fixed for the life of the index. There is no capacity limit short of u32 ids.
//! An all-zero record is a valid free slot.
//!
//! Sharing protocol (what makes the raw accesses below sound):
//! - a vector is written only through a [`FreshSlot`], which the allocator hands out for a
//!   slot no other thread can reach (never used, or reclaimed after a grace period, see
//!   `hnsw::graph`); it is published to readers by a Release store of a link, of the entry
//!   point or of the state, which readers load with Acquire;
//! - links, counts, level, state, the lock and the upper pointer are atomics; link lists are
//!   written under the node's lock and read without it;
//! - upper lists are freed only by `reclaim` (after the grace period) or when the store drops.

use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU8, Ordering};
use std::sync::OnceLock;

use memmap2::MmapMut;
use parking_lot::Mutex;

/// Slots in the first chunk; chunk c holds `FIRST_CHUNK << c`.
const FIRST_CHUNK: usize = 1024;
/// Enough chunks for every u32 slot id.
const MAX_CHUNKS: usize = 23;
/// Smallest chunk given the huge-page advice: two 2 MiB pages, so the chunk always contains
/// a whole aligned one. Small indexes (first chunks of high-dimensional ones included) keep
/// 4 KiB pages and pay only for the pages their records touch.
const HUGE_PAGE_MIN_CHUNK: usize = 4 << 20;

/// Slot states.
pub const STATE_FREE: u8 = 0;
/// The slot holds a record that searches may return.
pub const STATE_LIVE: u8 = 1;
/// The record was removed: searches skip it, links to it await repair.
pub const STATE_DELETED: u8 = 2;

struct Chunk {
    /// Keeps the mapping alive; all access goes through `base`. None for a chunk that lies
    /// inside a file mapping (see `mapped`), which the store keeps alive instead.
    _map: Option<MmapMut>,
    base: *mut u8,
}

// SAFETY: the chunk's memory is only reached through `NodeStore`, whose accesses follow the
// sharing protocol in the module doc (atomics, FreshSlot-exclusive vector writes).
unsafe impl Send for Chunk {}
// SAFETY: as above.
unsafe impl Sync for Chunk {}

/// Proof that the holder has exclusive use of a slot that no reader can reach yet.
/// Made only by [`NodeStore::take_fresh`]; not `Clone`.
pub struct FreshSlot(u32);

impl FreshSlot {
    /// The slot id.
    pub fn id(&self) -> u32 {
        self.0
    }
}

/// Holds a node's lock; writers of its link lists hold one. Released on drop.
pub struct NodeGuard<'a>(&'a AtomicU8);

impl Drop for NodeGuard<'_> {
    fn drop(&mut self) {
        self.0.store(0, Ordering::Release);
    }
}

/// Fixed-stride records in doubling chunks, plus the slot allocator.
pub struct NodeStore {
    dim: usize,
    /// 32-bit words stored per vector: `dim` for f32, fewer for a quantized code.
    words: usize,
    m0: usize,
    m: usize,
    stride: usize,
    /// Byte offsets inside a record.
    off_upper: usize,
    off_lock: usize,
    chunks: [OnceLock<Chunk>; MAX_CHUNKS],
    alloc: Mutex<Allocator>,
    /// Set when the records are served from a file mapping (a read-only index, see `mapped`).
    mapped: Option<MappedBacking>,
    /// Link ids at or above this are dropped when read (`Graph::copy_links`): the slot count
    /// of a mapped store, whose links a change to the file under the mapping can make
    /// anything; `u32::MAX` (nothing dropped) for records this process wrote.
    link_limit: u32,
    /// Bytes per neighbour block (see `hnsw::codes`), a multiple of 16; 0 for none.
    block_stride: usize,
    /// Block chunks, created with the record chunk of the same index (same slot ranges).
    blocks: [OnceLock<Chunk>; MAX_CHUNKS],
}

#[derive(Default)]
struct Allocator {
    /// Slots never handed out start here.
    high_water: u32,
    /// Reclaimed slots, ready for reuse.
    free: Vec<u32>,
}

/// A zeroed anonymous mapping of `bytes` for a chunk of `what`; panics where the system
/// refuses it (see `try_map_chunk`).
fn map_chunk(bytes: usize, what: &str) -> Chunk {
    try_map_chunk(bytes, what).unwrap_or_else(|e| panic!("{e}"))
}

/// A zeroed anonymous mapping of `bytes` for a chunk of `what`, or why the system refused it.
fn try_map_chunk(bytes: usize, what: &str) -> Result<Chunk, String> {
    let mut map = MmapMut::map_anon(bytes).map_err(|e| format!("cannot map {bytes} bytes for {what}: {e}"))?;
    // Transparent huge pages (where the system grants them on request): a search visits
    // records scattered over the whole arena, and 2 MiB pages turn most of its TLB misses into
    // hits (MNIST 784-d: ~17% more QPS). Only written records are backed, so memory grows by at
    // most one huge page per chunk. A hint: failure is fine. Measured +12-17 % QPS
    // (BENCHMARKS.md, "Engine notes"); always on. Not for a chunk under `HUGE_PAGE_MIN_CHUNK`:
    // it holds at most one aligned huge page, so the advice buys little there, but it can make
    // a one-record index fault in (and zero) 2 MiB.
    if bytes >= HUGE_PAGE_MIN_CHUNK {
        let _ = map.advise(memmap2::Advice::HugePage);
    }
    let base = map.as_mut_ptr();
    Ok(Chunk { _map: Some(map), base })
}

#[inline]
fn locate(id: u32) -> (usize, usize) {
    let id = id as usize;
    let chunk = (id / FIRST_CHUNK + 1).ilog2() as usize;
    let offset = id - FIRST_CHUNK * ((1usize << chunk) - 1);
    (chunk, offset)
}

impl NodeStore {
    /// An empty store for vectors of `dim` floats, layer-0 lists of up to `m0` links and
    /// upper-layer lists of up to `m`.
    pub fn new(dim: usize, m0: usize, m: usize) -> Self {
        Self::with_words(dim, dim, m0, m)
    }

    /// As [`NodeStore::new`], for records that hold a code of `words` 32-bit words in place of
    /// the f32 vector (a quantized index, see `quant`).
    pub fn with_words(dim: usize, words: usize, m0: usize, m: usize) -> Self {
        let list_end = (words + 1 + m0) * 4;
        let off_upper = list_end.div_ceil(8) * 8;
        let mut off_lock = off_upper + 8;
        let mut stride = (off_lock + 3).div_ceil(64) * 64;
        let packed_stride = (off_upper + 8).div_ceil(64) * 64;
        if off_upper - list_end >= 3 && packed_stride < stride {
            off_lock = list_end;
            stride = packed_stride;
        }
        NodeStore {
            dim,
            words,
            m0,
            m,
            stride,
            off_upper,
            off_lock,
            chunks: std::array::from_fn(|_| OnceLock::new()),
            alloc: Mutex::new(Allocator::default()),
            mapped: None,
            link_limit: u32::MAX,
            block_stride: 0,
            blocks: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// This empty store with a neighbour block of `block_bytes` (a multiple of 16) per slot,
    /// for codes (see `hnsw::codes`).
    pub fn with_neighbor_blocks(mut self, block_bytes: usize) -> Self {
        assert!(self.high_water() == 0 && self.mapped.is_none(), "blocks are set up before the first slot");
        assert!(block_bytes.is_multiple_of(16));
        self.block_stride = block_bytes;
        self
    }

    /// Dimensions of each vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// 32-bit words per stored vector or code.
    pub fn words(&self) -> usize {
        self.words
    }

    /// Bytes per record.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// One past the highest slot ever handed out.
    pub fn high_water(&self) -> u32 {
        self.alloc.lock().high_water
    }

    /// Bytes of records in use (slots handed out times the stride) plus upper-layer lists.
    /// Chunk space not yet written costs no memory (the mapping is lazily backed).
    pub fn memory_bytes(&self) -> usize {
        let high = self.high_water();
        let upper: usize = (0..high).map(|id| self.level(id) as usize * (1 + self.m) * 4).sum();
        high as usize * (self.stride + self.block_stride) + upper
    }

    /// Hands out one slot per entry of `levels`, reusing reclaimed ones first, each with the
    /// given level, empty link lists and state FREE; the caller writes the vector and marks
    /// the slot LIVE.
    pub fn take_fresh(&self, levels: &[u8]) -> Vec<FreshSlot> {
        assert!(self.mapped.is_none(), "a store over a file mapping is read-only");
        let mut slots = Vec::with_capacity(levels.len());
        {
            let mut a = self.alloc.lock();
            for _ in levels {
                let id = match a.free.pop() {
                    Some(id) => id,
                    None => {
                        let id = a.high_water;
                        a.high_water = a.high_water.checked_add(1).expect("more than 2^32 slots");
                        id
                    }
                };
                slots.push(FreshSlot(id));
            }
        }
        for (slot, &level) in slots.iter().zip(levels) {
            self.ensure_chunk(slot.0);
            self.level_cell(slot.0).store(level, Ordering::Release);
            self.links0(slot.0)[0].store(0, Ordering::Release);
            if level > 0 {
                let lists: Box<[AtomicU32]> = (0..level as usize * (1 + self.m)).map(|_| AtomicU32::new(0)).collect();
                let ptr = Box::into_raw(lists) as *mut AtomicU32;
                self.upper_cell(slot.0).store(ptr, Ordering::Release);
            }
        }
        slots
    }

    /// Returns slots to the free list. The caller guarantees that no thread can reach them
    /// any more: no link points to them and a grace period has passed since the last did.
    pub fn reclaim(&self, ids: &[u32]) {
        assert!(self.mapped.is_none(), "a store over a file mapping is read-only");
        for &id in ids {
            self.free_upper(id);
            self.links0(id)[0].store(0, Ordering::Release);
            self.level_cell(id).store(0, Ordering::Release);
            self.state_cell(id).store(STATE_FREE, Ordering::Release);
        }
        self.alloc.lock().free.extend_from_slice(ids);
    }

    fn free_upper(&self, id: u32) {
        if is_file_ref(self.upper_cell(id).load(Ordering::Acquire)) {
            return; // lists inside a file mapping are not ours to free
        }
        let ptr = self.upper_cell(id).swap(std::ptr::null_mut(), Ordering::AcqRel);
        if !ptr.is_null() {
            let len = self.level(id) as usize * (1 + self.m);
            // SAFETY: `ptr` came from Box::into_raw of a boxed slice of exactly `len` atomics
            // (the level is unchanged since `take_fresh`), it was swapped out so it is freed
            // once, and no reader can still hold it (grace period, or the store is dropping).
            drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) });
        }
    }

    /// Number of slots waiting on the free list.
    pub fn free_slots(&self) -> usize {
        self.alloc.lock().free.len()
    }

    fn ensure_chunk(&self, id: u32) {
        let (c, _) = locate(id);
        self.chunks[c].get_or_init(|| map_chunk((FIRST_CHUNK << c) * self.stride, "the node arena"));
        if self.block_stride > 0 {
            self.blocks[c].get_or_init(|| map_chunk((FIRST_CHUNK << c) * self.block_stride, "neighbour blocks"));
        }
    }

    #[inline]
    fn block_base(&self, id: u32) -> *mut u8 {
        let (c, off) = locate(id);
        let chunk = self.blocks[c].get().expect("slot id beyond the allocated block chunks");
        // SAFETY: `off < FIRST_CHUNK << c` (see `locate`), inside the chunk's
        // `(FIRST_CHUNK << c) * block_stride` bytes.
        unsafe { chunk.base.add(off * self.block_stride) }
    }

    /// Whether slot `id`'s record (and block) is mapped yet: `take_fresh` raises the high-water
    /// mark before it maps a new chunk, so a slot below it may not be, for a moment.
    pub fn is_backed(&self, id: u32) -> bool {
        let (c, _) = locate(id);
        self.chunks[c].get().is_some() && (self.block_stride == 0 || self.blocks[c].get().is_some())
    }

    /// Whether each slot has a neighbour block.
    #[inline]
    pub fn has_blocks(&self) -> bool {
        self.block_stride > 0
    }

    /// The neighbour block of slot `id` (its words; what they hold is `hnsw::codes`'s
    /// business). Empty when the store has no blocks. Written under the node's lock, read
    /// without it, like the links.
    #[inline]
    pub fn block(&self, id: u32) -> &[AtomicU32] {
        if self.block_stride == 0 {
            return &[];
        }
        // SAFETY: the block starts 16-aligned and its `block_stride` bytes lie inside its
        // chunk; zeroed memory is a valid AtomicU32. Every access to these words is atomic or,
        // in `distance::blocks`, an inline-assembly load of whole aligned words (see there).
        unsafe { std::slice::from_raw_parts(self.block_base(id) as *const AtomicU32, self.block_stride / 4) }
    }

    /// Asks the CPU to start loading bytes `from..to` of the neighbour block of `id`
    /// (clamped to the block).
    #[inline]
    pub fn prefetch_block(&self, id: u32, from: usize, to: usize) {
        #[cfg(target_arch = "x86_64")]
        {
            if self.block_stride == 0 {
                return;
            }
            let p = self.block_base(id) as *const i8;
            let end = to.min(self.block_stride);
            // Whole cache lines of memory, not of the block: a block may start anywhere on a
            // line (16-byte strides), so its bytes `from..end` can reach one line further
            // than `end - from` bytes from its start would suggest.
            let mut line = from as isize - ((p as usize + from) % 64) as isize;
            while line < end as isize {
                // SAFETY: prefetch is a hint that never faults, and `wrapping_offset` makes
                // no claim that the address is inside the block (the first line may start
                // before it).
                unsafe {
                    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
                    _mm_prefetch(p.wrapping_offset(line), _MM_HINT_T0);
                }
                line += 64;
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (id, from, to);
    }

    #[inline]
    fn record(&self, id: u32) -> *mut u8 {
        let (c, off) = locate(id);
        let chunk = self.chunks[c].get().expect("slot id beyond the allocated chunks");
        // SAFETY: `off < FIRST_CHUNK << c` by construction of `locate`, so the offset lies
        // inside the chunk's mapping of `(FIRST_CHUNK << c) * stride` bytes.
        unsafe { chunk.base.add(off * self.stride) }
    }

    #[inline]
    fn byte_cell(&self, id: u32, offset: usize) -> &AtomicU8 {
        // SAFETY: `offset < stride`, inside the record; AtomicU8 has no alignment needs and
        // zeroed memory is a valid AtomicU8; every access to these bytes is atomic.
        unsafe { &*(self.record(id).add(offset) as *const AtomicU8) }
    }

    #[inline]
    fn lock_cell(&self, id: u32) -> &AtomicU8 {
        self.byte_cell(id, self.off_lock)
    }

    #[inline]
    fn level_cell(&self, id: u32) -> &AtomicU8 {
        self.byte_cell(id, self.off_lock + 1)
    }

    #[inline]
    fn state_cell(&self, id: u32) -> &AtomicU8 {
        self.byte_cell(id, self.off_lock + 2)
    }

    #[inline]
    fn upper_cell(&self, id: u32) -> &AtomicPtr<AtomicU32> {
        // SAFETY: `off_upper` is 8-aligned inside a 64-aligned record and holds 8 bytes; a
        // zeroed pointer is null, a valid AtomicPtr; every access is atomic.
        unsafe { &*(self.record(id).add(self.off_upper) as *const AtomicPtr<AtomicU32>) }
    }

    /// Top layer of slot `id` (0 = only the base layer).
    #[inline]
    pub fn level(&self, id: u32) -> u8 {
        self.level_cell(id).load(Ordering::Acquire)
    }

    /// State of slot `id`: `STATE_FREE`, `STATE_LIVE` or `STATE_DELETED`.
    #[inline]
    pub fn state(&self, id: u32) -> u8 {
        self.state_cell(id).load(Ordering::Acquire)
    }

    /// Sets the state of slot `id` (Release: publishes the vector written before).
    pub fn set_state(&self, id: u32, state: u8) {
        self.state_cell(id).store(state, Ordering::Release);
    }

    /// Moves slot `id` from state `from` to `to`; false if it was not in `from`.
    pub fn change_state(&self, id: u32, from: u8, to: u8) -> bool {
        self.state_cell(id).compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// Takes the lock of node `id` (a spin lock: holders only rewrite one short list).
    pub fn lock(&self, id: u32) -> NodeGuard<'_> {
        let cell = self.lock_cell(id);
        let mut spins = 0u32;
        while cell.compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed).is_err() {
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        NodeGuard(cell)
    }

    /// The vector (or code: `words` words) in slot `id`. Call only with ids reached through a link, the entry point or
    /// the key map, or after seeing the slot LIVE or DELETED (that is, published records).
    #[inline]
    pub fn vector(&self, id: u32) -> &[f32] {
        let p = self.record(id) as *const f32;
        // SAFETY: the record starts 64-byte aligned and holds `words` initialised f32s (zeroed
        // by the mapping, then written once through a FreshSlot before publication). Per the
        // sharing protocol no write to them runs while a published id can be read.
        unsafe { std::slice::from_raw_parts(p, self.words) }
    }

    /// Writes the vector of a slot that no reader can reach.
    pub fn write_vector(&self, slot: &FreshSlot, v: &[f32]) {
        assert_eq!(v.len(), self.words, "vector length must equal the store's words per record");
        let p = self.record(slot.0) as *mut f32;
        // SAFETY: `FreshSlot` proves exclusive access to this record (see the module doc);
        // the destination holds `words` f32s inside the chunk and does not overlap `v`.
        unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), p, self.words) }
    }

    /// The layer-0 list of slot `id`: element 0 is the count, then `m0` link slots.
    #[inline]
    pub fn links0(&self, id: u32) -> &[AtomicU32] {
        // SAFETY: the list starts `words * 4` bytes into the record (4-byte aligned) and holds
        // `1 + m0` u32s inside the record. AtomicU32 has the layout of u32 and zeroed memory
        // is a valid AtomicU32; all accesses to these words are atomic.
        unsafe {
            let p = self.record(id).add(self.words * 4) as *const AtomicU32;
            std::slice::from_raw_parts(p, 1 + self.m0)
        }
    }

    /// The list of slot `id` on upper layer `level` (1..=its level): element 0 is the count,
    /// then `m` link slots. Empty if the node has no such layer.
    #[inline]
    pub fn upper_links(&self, id: u32, level: usize) -> &[AtomicU32] {
        let mut ptr = self.upper_cell(id).load(Ordering::Acquire);
        // Read once: in a mapped store the byte can change between two reads (the file
        // rewritten under the mapping), and the bounds check below must use what is used.
        let top = self.level(id) as usize;
        if ptr.is_null() || level == 0 || level > top {
            return &[];
        }
        let width = 1 + self.m;
        if let Some(m) = &self.mapped {
            // A mapped store holds only file references, which `mapped.rs` checked against
            // UPPR at open; they are checked again here on every read, since the file may have
            // been rewritten since. Anything else (an even value is a heap pointer's shape) is
            // no list at all: never dereferenced.
            if !is_file_ref(ptr) {
                return &[];
            }
            let first = (ptr as usize - 1) / 4;
            if first.saturating_add(top * width) > m.upper_words {
                return &[];
            }
            // SAFETY: `first + top * width <= upper_words`, the u32 words of UPPR inside the
            // mapping, which lives as long as the store; the section is 64-byte aligned.
            ptr = unsafe { m.upper.add(first) };
        } else if is_file_ref(ptr) {
            return &[]; // cannot happen: only a mapped store holds file references
        }
        // SAFETY: a heap pointer addresses `level(id) * width` atomics allocated in
        // `take_fresh` and freed only after a grace period (no pinned reader can hold it); a
        // file reference was bounded above by `top * width` words. Either way the list for
        // `level <= top` lies inside.
        unsafe { std::slice::from_raw_parts(ptr.add((level - 1) * width), width) }
    }

    /// Asks the CPU to start loading the vector of `id` (its first 8 cache lines; past that
    /// the hardware prefetcher follows the sequential reads on its own).
    #[inline]
    pub fn prefetch(&self, id: u32) {
        self.prefetch_lines(id, 0, 8);
    }

    /// Asks the CPU to start loading cache lines `from..to` of the vector of `id` (clamped to
    /// the vector).
    #[inline]
    pub fn prefetch_lines(&self, id: u32, from: usize, to: usize) {
        #[cfg(target_arch = "x86_64")]
        {
            let p = self.record(id) as *const i8;
            let lines = (self.words * 4).div_ceil(64).min(to);
            for line in from..lines {
                // SAFETY: prefetch is a hint that never faults; the address lies inside the
                // record (line < words * 4 / 64 rounded up, and the record is at least that long).
                unsafe {
                    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
                    _mm_prefetch(p.add(line * 64), _MM_HINT_T0);
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (id, from, to);
    }

    /// Asks the CPU to start loading the layer-0 list of `id`.
    #[inline]
    pub fn prefetch_links(&self, id: u32) {
        #[cfg(target_arch = "x86_64")]
        {
            let start = self.words * 4;
            let end = start + (1 + self.m0) * 4;
            let p = self.record(id) as *const i8;
            let mut line = start & !63;
            while line < end {
                // SAFETY: prefetch is a hint that never faults; `line` lies inside the record.
                unsafe {
                    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
                    _mm_prefetch(p.add(line), _MM_HINT_T0);
                }
                line += 64;
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = id;
    }
}

impl Drop for NodeStore {
    fn drop(&mut self) {
        if self.mapped.is_some() {
            return; // no heap lists; the mapping unmaps itself
        }
        for id in 0..self.alloc.get_mut().high_water {
            self.free_upper(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_pack_only_where_that_saves_a_cache_line() {
        let lay = |words, m0| NodeStore::with_words(words, words, m0, m0 / 2).layout();
        // A 384-dimension binary code (12 words), m0 32: the list ends at 180, 4 bytes short of
        // the upper reference at 184; the lock bytes go there and the record is 192, not 256.
        assert_eq!(lay(12, 32), RecordLayout { stride: 192, links: 48, upper: 184, lock: 180 });
        // glove (50 floats): the list ends at 332, the gap is there, but 347 and 344 both round
        // up to 384, so the layout stays as every earlier file has it.
        assert_eq!(lay(50, 32), RecordLayout { stride: 384, links: 200, upper: 336, lock: 344 });
        // MNIST (784 floats): no gap (the list ends 8-aligned).
        assert_eq!(lay(784, 32), RecordLayout { stride: 3328, links: 3136, upper: 3272, lock: 3280 });
        for words in 1..200 {
            for m0 in [8, 10, 16, 24, 32, 48, 64] {
                let l = lay(words, m0);
                let list_end = (words + 1 + m0) * 4;
                let unpacked = (list_end.div_ceil(8) * 8 + 11).div_ceil(64) * 64;
                assert!(l.stride.is_multiple_of(64) && l.upper.is_multiple_of(8) && l.upper >= list_end);
                if l.is_packed() {
                    assert!(l.lock >= list_end && l.lock + 3 <= l.upper && l.upper + 8 <= l.stride);
                    assert!(l.stride < unpacked, "{words} {m0}");
                } else {
                    assert_eq!((l.stride, l.lock), (unpacked, l.upper + 8), "{words} {m0}");
                }
            }
        }
    }

    #[test]
    fn locate_is_dense_and_matches_chunk_sizes() {
        let mut expect = (0usize, 0usize);
        for id in 0..(FIRST_CHUNK * 15) as u32 {
            assert_eq!(locate(id), expect, "id {id}");
            expect.1 += 1;
            if expect.1 == FIRST_CHUNK << expect.0 {
                expect = (expect.0 + 1, 0);
            }
        }
        let (c, _) = locate(u32::MAX);
        assert!(c < MAX_CHUNKS);
    }

    #[test]
    fn records_keep_their_vectors_across_growth_and_reuse() {
        let store = NodeStore::new(3, 4, 2);
        let slots = store.take_fresh(&vec![0u8; 5000]);
        for s in &slots {
            let x = s.id() as f32;
            store.write_vector(s, &[x, x + 1.0, x + 2.0]);
        }
        for id in [0u32, 1023, 1024, 3071, 3072, 4999] {
            let x = id as f32;
            assert_eq!(store.vector(id), &[x, x + 1.0, x + 2.0]);
        }
        store.reclaim(&[7, 9]);
        let again = store.take_fresh(&[0, 0, 0]);
        let ids: Vec<u32> = again.iter().map(|s| s.id()).collect();
        assert_eq!(ids, vec![9, 7, 5000]);
        assert_eq!(store.high_water(), 5001);
    }
}

// ---- persistence ----
impl NodeStore {
    /// The free list, in order (`take_fresh` reuses slots from its end). For saving.
    pub fn free_list(&self) -> Vec<u32> {
        self.alloc.lock().free.clone()
    }
}

// ---- records served from a file mapping (see `storage::mapped`) ----

/// Where a record's fields lie, in bytes from its start: what a file must match for its
/// records to be used in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordLayout {
    /// Bytes per record (a multiple of 64).
    pub stride: usize,
    /// The layer-0 list: a u32 count, then `m0` u32 links. The vector is at offset 0.
    pub links: usize,
    /// The u64 upper-list reference (8-aligned).
    pub upper: usize,
    /// The lock byte; the level and the state follow it. After the upper reference, or in
    /// the gap between the list and the upper reference in a packed layout.
    pub lock: usize,
}

impl RecordLayout {
    /// Whether the lock, level and state bytes sit before the upper reference (format 5).
    pub fn is_packed(&self) -> bool {
        self.lock < self.upper
    }
}

/// An upper-list reference that is a position in a file's UPPR section rather than a pointer:
/// `1 + byte offset` (odd), where heap pointers to u32s are even.
#[inline]
fn is_file_ref(p: *mut AtomicU32) -> bool {
    (p as usize) & 1 == 1
}

struct MappedBacking {
    /// The file mapping: records and upper lists are read from it in place.
    _map: MmapMut,
    /// First u32 of the UPPR section.
    upper: *mut AtomicU32,
    /// u32 words in the UPPR section.
    upper_words: usize,
}

// SAFETY: the pointers address the mapping, owned here and alive as long as the store; a
// mapped store is only read (take_fresh and reclaim refuse it).
unsafe impl Send for MappedBacking {}
// SAFETY: as above.
unsafe impl Sync for MappedBacking {}

impl NodeStore {
    /// Where the fields of a record lie.
    pub fn layout(&self) -> RecordLayout {
        RecordLayout { stride: self.stride, links: self.words * 4, upper: self.off_upper, lock: self.off_lock }
    }

    /// Link ids at or above this are not slots of this store (see `Graph::copy_links`).
    #[inline]
    pub fn link_limit(&self) -> u32 {
        self.link_limit
    }

    /// Whether the records are served from a file mapping (the store is then read-only).
    pub fn is_mapped(&self) -> bool {
        self.mapped.is_some()
    }

    /// This empty store (made by [`NodeStore::with_words`] for the file's shape) turned into a
    /// read-only store over `slots` records laid out as `layout()` says, starting at byte
    /// `records` of `map`, with upper lists at byte `upper` (`upper_len` bytes). The caller
    /// (`storage::mapped`) has checked every record: counts, links below `slots`, upper
    /// references inside the upper section, and that `free` lists exactly the free slots.
    pub(crate) fn over_mapping(
        self,
        mut map: MmapMut,
        records: usize,
        slots: u32,
        upper: usize,
        upper_len: usize,
        free: Vec<u32>,
    ) -> NodeStore {
        let mut store = self;
        assert!(records.is_multiple_of(64) && upper.is_multiple_of(64), "mapped sections must be 64-byte aligned");
        assert!(records + slots as usize * store.stride <= map.len() && upper + upper_len <= map.len());
        let base = map.as_mut_ptr();
        let mut first = 0usize;
        for c in 0..MAX_CHUNKS {
            if first >= slots as usize {
                break;
            }
            // SAFETY: `first < slots`, so the record lies inside the mapping (checked above).
            let chunk_base = unsafe { base.add(records + first * store.stride) };
            let _ = store.chunks[c].set(Chunk { _map: None, base: chunk_base });
            first += FIRST_CHUNK << c;
        }
        *store.alloc.get_mut() = Allocator { high_water: slots, free };
        // SAFETY: `upper + upper_len <= map.len()` (checked above).
        let upper_ptr = unsafe { base.add(upper) } as *mut AtomicU32;
        store.mapped = Some(MappedBacking { _map: map, upper: upper_ptr, upper_words: upper_len / 4 });
        store.link_limit = slots;
        store
    }

    /// This store over a file mapping with a block of `block_bytes` (a multiple of 16) per
    /// slot in anonymous memory, for codes one per node (see `hnsw::codes`): the file has no
    /// room for them, and they are derived from its vectors at open. Every slot's block is
    /// mapped here, since a mapped store never grows. Fails where the system refuses the
    /// memory.
    pub(crate) fn with_mapped_blocks(mut self, block_bytes: usize) -> Result<NodeStore, String> {
        assert!(self.mapped.is_some() && self.block_stride == 0, "blocks are added once, to a mapped store");
        assert!(block_bytes.is_multiple_of(16));
        self.block_stride = block_bytes;
        let slots = self.high_water() as usize;
        let mut first = 0usize;
        for c in 0..MAX_CHUNKS {
            if first >= slots {
                break;
            }
            let _ = self.blocks[c].set(try_map_chunk((FIRST_CHUNK << c) * block_bytes, "neighbour blocks")?);
            first += FIRST_CHUNK << c;
        }
        Ok(self)
    }
}
