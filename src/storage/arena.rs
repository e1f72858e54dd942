//! The node arena: one fixed-size record per slot holding the vector and its layer-0
//! neighbour list side by side, so a visit to a node touches adjacent cache lines.
//!
//! Record layout (`stride` bytes, a multiple of 64, so every vector starts on a cache line:
//! SIMD loads never straddle two lines and a vector touches the fewest lines possible):
//! ```text
//! [ vector: dim x f32 ][ link count: u32 ][ links: m0 x u32 ][ padding ]
//! ```
//! Storage grows by chunks that double in size (chunk c holds `FIRST_CHUNK << c` slots), so
//! growing never moves a record: readers keep running while a writer adds a chunk, and a
//! slot's address is fixed for the life of the index. There is no capacity limit short of
//! u32 slot ids.
//!
//! Sharing protocol (what makes the raw accesses below sound):
//! - a vector is written only through a [`FreshSlot`], which the allocator hands out for a
//!   slot no other thread can reach (never used, or reclaimed after a grace period, see
//!   `hnsw::graph`); it is published to readers by a Release store of a link or of the entry
//!   point, which readers load with Acquire;
//! - links are atomics, written under the node's lock, read without it.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::OnceLock;

use parking_lot::Mutex;

/// Slots in the first chunk; chunk c holds `FIRST_CHUNK << c`.
const FIRST_CHUNK: usize = 1024;
/// Enough chunks for every u32 slot id.
const MAX_CHUNKS: usize = 23;

/// Slot states (in `NodeMeta::state`).
pub const STATE_FREE: u8 = 0;
/// The slot holds a record that searches may return.
pub const STATE_LIVE: u8 = 1;
/// The record was removed: searches skip it, links to it await repair.
pub const STATE_DELETED: u8 = 2;

/// Per-slot bookkeeping kept beside the arena records.
pub struct NodeMeta {
    /// Top layer of this node (0 = only the base layer).
    pub level: AtomicU8,
    /// One of `STATE_FREE`, `STATE_LIVE`, `STATE_DELETED`.
    pub state: AtomicU8,
    /// Guards writes to this node's links on every layer, and holds its upper-layer lists
    /// (`upper[l - 1]` for layer l >= 1).
    pub links: Mutex<Vec<Vec<u32>>>,
}

struct Chunk {
    base: NonNull<u8>,
    layout: Layout,
    meta: Box<[NodeMeta]>,
}

// SAFETY: the chunk's memory is only reached through `NodeStore`, whose accesses follow the
// sharing protocol in the module doc (atomics for links, FreshSlot-exclusive vector writes).
unsafe impl Send for Chunk {}
// SAFETY: as above.
unsafe impl Sync for Chunk {}

impl Drop for Chunk {
    fn drop(&mut self) {
        // SAFETY: `base` was returned by `alloc_zeroed(self.layout)` and is freed once, here.
        unsafe { dealloc(self.base.as_ptr(), self.layout) }
    }
}

/// Proof that the holder has exclusive use of a slot that no reader can reach yet.
/// Made only by [`NodeStore::take_fresh`]; not `Clone`.
pub struct FreshSlot(u32);

impl FreshSlot {
    /// The slot id.
    pub fn id(&self) -> u32 {
        self.0
    }
}

/// Fixed-stride records in doubling chunks, plus the slot allocator.
pub struct NodeStore {
    dim: usize,
    m0: usize,
    stride: usize,
    chunks: [OnceLock<Chunk>; MAX_CHUNKS],
    alloc: Mutex<Allocator>,
}

#[derive(Default)]
struct Allocator {
    /// Slots never handed out start here.
    high_water: u32,
    /// Reclaimed slots, ready for reuse.
    free: Vec<u32>,
}

#[inline]
fn locate(id: u32) -> (usize, usize) {
    let id = id as usize;
    let chunk = (id / FIRST_CHUNK + 1).ilog2() as usize;
    let offset = id - FIRST_CHUNK * ((1usize << chunk) - 1);
    (chunk, offset)
}

impl NodeStore {
    /// An empty store for vectors of `dim` floats and base-layer lists of up to `m0` links.
    pub fn new(dim: usize, m0: usize) -> Self {
        let bytes = (dim + 1 + m0) * 4;
        let stride = bytes.div_ceil(64) * 64;
        NodeStore {
            dim,
            m0,
            stride,
            chunks: std::array::from_fn(|_| OnceLock::new()),
            alloc: Mutex::new(Allocator::default()),
        }
    }

    /// Dimensions of each vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Bytes per record.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// One past the highest slot ever handed out.
    pub fn high_water(&self) -> u32 {
        self.alloc.lock().high_water
    }

    /// Bytes held by the arena and its metadata (not counting upper-layer lists).
    pub fn memory_bytes(&self) -> usize {
        self.chunks
            .iter()
            .filter_map(|c| c.get())
            .map(|c| c.layout.size() + c.meta.len() * std::mem::size_of::<NodeMeta>())
            .sum()
    }

    /// Hands out `n` slots, reusing reclaimed ones first, with their records zeroed of links.
    /// The slots' meta is set to `level` from `levels` (one per slot) and state FREE; the
    /// caller marks them LIVE once they are linked.
    pub fn take_fresh(&self, levels: &[u8]) -> Vec<FreshSlot> {
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
            let meta = self.meta(slot.0);
            meta.level.store(level, Ordering::Relaxed);
            *meta.links.lock() = vec![Vec::new(); level as usize];
            self.links0(slot.0)[0].store(0, Ordering::Release);
        }
        slots
    }

    /// Returns slots to the free list. The caller guarantees that no thread can reach them
    /// any more: no link points to them and a grace period has passed since the last did.
    pub fn reclaim(&self, ids: &[u32]) {
        for &id in ids {
            let meta = self.meta(id);
            meta.links.lock().clear();
            self.links0(id)[0].store(0, Ordering::Release);
            meta.state.store(STATE_FREE, Ordering::Release);
        }
        self.alloc.lock().free.extend_from_slice(ids);
    }

    /// Number of slots waiting on the free list.
    pub fn free_slots(&self) -> usize {
        self.alloc.lock().free.len()
    }

    fn ensure_chunk(&self, id: u32) {
        let (c, _) = locate(id);
        self.chunks[c].get_or_init(|| {
            let slots = FIRST_CHUNK << c;
            let layout = Layout::from_size_align(slots * self.stride, 64).expect("chunk layout");
            // SAFETY: the layout has non-zero size (stride >= 16, slots >= 1024).
            let raw = unsafe { alloc_zeroed(layout) };
            let base = NonNull::new(raw).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
            let meta = (0..slots)
                .map(|_| NodeMeta {
                    level: AtomicU8::new(0),
                    state: AtomicU8::new(STATE_FREE),
                    links: Mutex::new(Vec::new()),
                })
                .collect();
            Chunk { base, layout, meta }
        });
    }

    #[inline]
    fn record(&self, id: u32) -> *mut u8 {
        let (c, off) = locate(id);
        let chunk = self.chunks[c].get().expect("slot id beyond the allocated chunks");
        // SAFETY: `off < FIRST_CHUNK << c` by construction of `locate`, so the offset lies
        // inside the chunk's allocation of `(FIRST_CHUNK << c) * stride` bytes.
        unsafe { chunk.base.as_ptr().add(off * self.stride) }
    }

    /// Bookkeeping of slot `id`.
    #[inline]
    pub fn meta(&self, id: u32) -> &NodeMeta {
        let (c, off) = locate(id);
        &self.chunks[c].get().expect("slot id beyond the allocated chunks").meta[off]
    }

    /// The vector in slot `id`. Call only with ids reached through a link, the entry point or
    /// the key map (that is, published records).
    #[inline]
    pub fn vector(&self, id: u32) -> &[f32] {
        let p = self.record(id) as *const f32;
        // SAFETY: the record starts 64-byte aligned and holds `dim` initialised f32s (zeroed
        // at allocation, then written once through a FreshSlot before publication). Per the
        // sharing protocol no write to them runs while a published id can be read.
        unsafe { std::slice::from_raw_parts(p, self.dim) }
    }

    /// Writes the vector of a slot that no reader can reach.
    pub fn write_vector(&self, slot: &FreshSlot, v: &[f32]) {
        assert_eq!(v.len(), self.dim, "vector length must equal the store's dimensions");
        let p = self.record(slot.0) as *mut f32;
        // SAFETY: `FreshSlot` proves exclusive access to this record (see the module doc);
        // the destination holds `dim` f32s inside the chunk and does not overlap `v`.
        unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), p, self.dim) }
    }

    /// The base-layer list of slot `id`: element 0 is the count, then `m0` link slots.
    #[inline]
    pub fn links0(&self, id: u32) -> &[AtomicU32] {
        // SAFETY: the list starts `dim * 4` bytes into the record (4-byte aligned) and holds
        // `1 + m0` u32s inside the record. AtomicU32 has the layout of u32 and zeroed memory
        // is a valid AtomicU32; all accesses to these words are atomic.
        unsafe {
            let p = self.record(id).add(self.dim * 4) as *const AtomicU32;
            std::slice::from_raw_parts(p, 1 + self.m0)
        }
    }

    /// Asks the CPU to start loading the vector of `id` (its first 8 cache lines; past that
    /// the hardware prefetcher follows the sequential reads on its own).
    #[inline]
    pub fn prefetch(&self, id: u32) {
        #[cfg(target_arch = "x86_64")]
        {
            let p = self.record(id) as *const i8;
            let lines = (self.dim * 4).div_ceil(64).min(8);
            for line in 0..lines {
                // SAFETY: prefetch is a hint that never faults; the address lies inside the
                // record (line < dim * 4 / 64 rounded up, and the record is at least that long).
                unsafe {
                    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
                    _mm_prefetch(p.add(line * 64), _MM_HINT_T0);
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = id;
    }

    /// Asks the CPU to start loading the layer-0 list of `id`.
    #[inline]
    pub fn prefetch_links(&self, id: u32) {
        #[cfg(target_arch = "x86_64")]
        {
            let start = self.dim * 4;
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let store = NodeStore::new(3, 4);
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
