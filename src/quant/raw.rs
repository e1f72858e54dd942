//! The full-precision vectors of a quantized index, by slot, read only to re-rank.
//!
//! Rows live in chunks that double in size (chunk c holds `FIRST_CHUNK << c` rows), like the
//! node arena, so growing never moves a row. Each chunk is either an anonymous mapping
//! (memory) or a mapping of a region of an unlinked temporary file (`RawStorage::File`): those
//! pages belong to the page cache, which the kernel can write back and drop under memory
//! pressure, so they cost no anonymous memory.
//!
//! Sharing protocol: a row is written only for a slot that no reader can reach (the writer
//! holds its `hnsw::arena::FreshSlot`) before the slot is published; readers read only
//! published slots. The store takes the slot's id, not the `FreshSlot`, so that `quant` does
//! not depend on `hnsw` (which depends on `quant` through `space`).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use memmap2::{Mmap, MmapMut, MmapOptions};
use parking_lot::Mutex;

use crate::error::{Error, Result};

const FIRST_CHUNK: usize = 1024;
const MAX_CHUNKS: usize = 23;

/// Where the full-precision vectors of a quantized index live.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum RawStorage {
    /// Anonymous memory.
    #[default]
    Memory,
    /// A temporary file created (and at once unlinked) in this directory, memory-mapped.
    File(PathBuf),
}

struct Chunk {
    _map: MmapMut,
    base: *mut f32,
}

// SAFETY: the chunk is reached only through `RawStore`, whose accesses follow the sharing
// protocol in the module doc.
unsafe impl Send for Chunk {}
// SAFETY: as above.
unsafe impl Sync for Chunk {}

/// Full-precision rows by slot id.
pub struct RawStore {
    dim: usize,
    file: Option<Mutex<File>>,
    /// An opened index file's FULL section: rows read in place, nothing written.
    mapped: Option<(Mmap, usize, usize)>,
    chunks: [OnceLock<Chunk>; MAX_CHUNKS],
}

fn locate(id: u32) -> (usize, usize) {
    let id = id as usize;
    let chunk = (id / FIRST_CHUNK + 1).ilog2() as usize;
    (chunk, id - FIRST_CHUNK * ((1usize << chunk) - 1))
}

fn temp_file(dir: &Path) -> Result<File> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    for _ in 0..16 {
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let path = dir.join(format!(".omendb-vectors-{}-{n}-{nanos}", std::process::id()));
        match std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path) {
            Ok(f) => {
                // Unlinked at once: the file vanishes with the index, even after a crash.
                let _ = std::fs::remove_file(&path);
                return Ok(f);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::Io(format!("cannot create a vector file in {}: {e}", dir.display()))),
        }
    }
    Err(Error::Io(format!("cannot create a unique vector file in {}", dir.display())))
}

impl RawStore {
    /// An empty store of `dim`-wide rows in `storage`; fails if the file cannot be created.
    pub fn new(dim: usize, storage: &RawStorage) -> Result<RawStore> {
        let file = match storage {
            RawStorage::Memory => None,
            RawStorage::File(dir) => Some(Mutex::new(temp_file(dir)?)),
        };
        Ok(RawStore { dim, file, mapped: None, chunks: std::array::from_fn(|_| OnceLock::new()) })
    }

    /// A read-only store over `rows` rows of `dim` little-endian f32 at `offset` (a multiple
    /// of 64) in `map`: an opened index file's FULL section, served from the page cache.
    pub fn over_mapping(dim: usize, map: Mmap, offset: usize, rows: usize) -> Result<RawStore> {
        if !offset.is_multiple_of(64) || offset + rows * dim * 4 > map.len() || cfg!(target_endian = "big") {
            return Err(Error::Internal("full-precision rows outside the mapping, misaligned or big-endian".into()));
        }
        Ok(RawStore { dim, file: None, mapped: Some((map, offset, rows)), chunks: std::array::from_fn(|_| OnceLock::new()) })
    }

    /// Whether rows live in a file (page cache) rather than anonymous memory.
    pub fn on_file(&self) -> bool {
        self.file.is_some()
    }

    /// Bytes of anonymous memory the rows take up to `high_water` slots (0 when file-backed).
    pub fn memory_bytes(&self, high_water: u32) -> usize {
        if self.on_file() || self.mapped.is_some() {
            0
        } else {
            high_water as usize * self.dim * 4
        }
    }

    fn ensure_chunk(&self, c: usize) -> Result<&Chunk> {
        if let Some(ch) = self.chunks[c].get() {
            return Ok(ch);
        }
        let bytes = (FIRST_CHUNK << c) * self.dim * 4;
        let offset = FIRST_CHUNK * ((1usize << c) - 1) * self.dim * 4;
        let mut map = match &self.file {
            None => MmapMut::map_anon(bytes),
            Some(f) => {
                let f = f.lock();
                let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                if len < (offset + bytes) as u64 {
                    f.set_len((offset + bytes) as u64)
                        .map_err(|e| Error::Io(format!("cannot grow the vector file: {e}")))?;
                }
                // SAFETY: the file is private to this store (created here, unlinked), so no
                // other process or mapping changes it; the region [offset, offset + bytes)
                // exists (set_len above) and offset is a multiple of the page size
                // (1024 * dim * 4 bytes per chunk, a multiple of 4096).
                unsafe { MmapOptions::new().offset(offset as u64).len(bytes).map_mut(&*f) }
            }
        }
        .map_err(|e| Error::Io(format!("cannot map {bytes} bytes of full-precision vectors: {e}")))?;
        let base = map.as_mut_ptr() as *mut f32;
        Ok(self.chunks[c].get_or_init(|| Chunk { _map: map, base }))
    }

    /// Writes the row of slot `id`, which no reader can reach: the caller holds its
    /// `FreshSlot` (see the module doc).
    pub fn write(&self, id: u32, v: &[f32]) -> Result<()> {
        assert_eq!(v.len(), self.dim, "row length must equal the store's dimensions");
        if self.mapped.is_some() {
            return Err(Error::InvalidArgument("the full-precision vectors of an opened index are read-only".into()));
        }
        let (c, off) = locate(id);
        let chunk = self.ensure_chunk(c)?;
        // SAFETY: `off < FIRST_CHUNK << c`, so the row lies inside the chunk's mapping (page
        // aligned, so f32-aligned); the caller holds the slot's `FreshSlot`, so no reader can reach
        // this row now.
        unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), chunk.base.add(off * self.dim), self.dim) }
        Ok(())
    }

    /// The row of published slot `id` (written through [`RawStore::write`] before it was
    /// published).
    #[inline]
    pub fn row(&self, id: u32) -> &[f32] {
        if let Some((map, offset, rows)) = &self.mapped {
            assert!((id as usize) < *rows, "slot id beyond the stored rows");
            let start = offset + id as usize * self.dim * 4;
            // The mapping is page aligned and `offset` a multiple of 64, so the cast is aligned.
            return bytemuck::cast_slice(&map[start..start + self.dim * 4]);
        }
        let (c, off) = locate(id);
        let chunk = self.chunks[c].get().expect("slot id beyond the written rows");
        // SAFETY: the row lies inside the mapping (see `write`); it was written before the slot
        // was published and is not written again while a published id can be read.
        unsafe { std::slice::from_raw_parts(chunk.base.add(off * self.dim), self.dim) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hnsw::arena::NodeStore;

    #[test]
    fn rows_round_trip_in_memory_and_in_a_file() {
        let dir = std::env::temp_dir();
        for storage in [RawStorage::Memory, RawStorage::File(dir.clone())] {
            let store = RawStore::new(3, &storage).unwrap();
            let nodes = NodeStore::new(1, 4, 2);
            let slots = nodes.take_fresh(&vec![0u8; 3000]);
            for s in &slots {
                let x = s.id() as f32;
                store.write(s.id(), &[x, x + 1.0, -x]).unwrap();
            }
            for s in &slots {
                let x = s.id() as f32;
                assert_eq!(store.row(s.id()), &[x, x + 1.0, -x]);
            }
        }
        let e = RawStore::new(3, &RawStorage::File("/nonexistent/dir".into())).err().unwrap();
        assert!(matches!(e, Error::Io(_)), "{e:?}");
    }
}
