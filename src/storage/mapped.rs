//! Opening an index file read-only over a memory mapping: the records (vectors, layer-0
//! links, levels, states) and the upper-layer lists of a version 2 file are used in place, so
//! nothing of the graph is copied and the operating system pages records in and out as
//! searches touch them. Keys, metadata and texts are decoded into memory as `load` does.
//!
//! Opening still checks the whole file as `load` does, so the two accept exactly the same
//! files: every checksum, every record for what makes it safe to use in place (links below
//! the slot count, upper references inside UPPR, counts in range; see `format::check_record`),
//! then the graph rules (no link to a free slot, to a slot whose level is below the layer, or
//! twice in a list; `format::LinkChecker`). That is two sequential reads of the records and
//! the per-slot states and levels in memory, with no copy of the records.
//!
//! A quantized index (format version 3) keeps its codes in the records and its
//! full-precision vectors in FULL, which is served for re-ranking straight from a read-only
//! mapping of the file (no copy in memory).
//!
//! In-place use needs the file's record layout to equal this build's arena layout and a
//! little-endian host; otherwise (a version 1 file, another layout) `open` loads the index into
//! memory instead, with the same answers. Either way the index is read-only.
//!
//! The mapping is private (copy-on-write): nothing is ever written through it to the file.
//! The checks at open do not bind later reads: another process may rewrite the file in place
//! while it is open, and the kernel then shows the new bytes. So nothing read from the mapping
//! is trusted with memory: link ids are checked against the slot count on every read
//! (`Graph::copy_links`), upper-list references against UPPR (`NodeStore::upper_links`), and
//! counts against their lists; a rewritten file gives wrong answers, never a wild read. A
//! truncated one cannot be survived (a read past its new end faults with SIGBUS); `save`
//! never does either, it renames a new file over the old one.

use std::path::Path;

use memmap2::MmapOptions;

use crate::error::{Error, Result};
use crate::hnsw::{Graph, Params};
use crate::quant::raw::RawStore;
use crate::hnsw::arena::{NodeStore, STATE_FREE};
use crate::hnsw::codes::Layout;
use crate::encoding::corrupt;
use crate::storage::format::{self, FileSource, Restored, Source};

/// Opens the index at `path` read-only (see the module doc).
pub(crate) fn open(path: &Path) -> Result<Restored> {
    crate::storage::atomic::remove_stray_temps(path);
    let source = FileSource::open(path)?;
    if source.len() < format::HEADER_LEN as u64 {
        // Too short to map usefully: the reader gives the precise error.
        return format::read_index(&source);
    }
    // SAFETY: a private mapping of a file we opened read-only. Reads through it see the
    // file's bytes; writes (none are made) would go to private copies. The file changing
    // under the mapping is tolerated by bounds checks on every id read from it (module doc);
    // its truncation is not, and is documented next to `omendb_index_open`.
    let map = unsafe { MmapOptions::new().map_copy(&source.file) }
        .map_err(|e| Error::Io(format!("cannot map {}: {e}", path.display())))?;
    let bytes: &[u8] = &map;
    let layout = format::read_layout(bytes)?;
    let meta = &layout.meta;
    let params = Params::new(meta.options.m, meta.options.ef_construction);
    let arena_layout = NodeStore::with_words(meta.dim, meta.words, params.m0, params.m).layout();
    let in_place = cfg!(target_endian = "little") && meta.dim > 0 && meta.record_layout == Some(arena_layout);
    if !in_place {
        return format::read_index(bytes);
    }

    let recs = layout.section(b"RECS").clone();
    let uppr = layout.section(b"UPPR").clone();
    let section = |e: &format::SectionEntry| -> Result<&[u8]> {
        let s = &bytes[e.offset as usize..(e.offset + e.len) as usize];
        if crc32c::crc32c(s) != e.crc {
            return Err(corrupt(format!("section {} checksum mismatch", e.name())));
        }
        Ok(s)
    };
    let upper_bytes = section(&uppr)?;
    format::check_upper_lists(upper_bytes, meta)?;
    let slots = meta.slots as usize;
    let mut states = Vec::with_capacity(slots);
    let mut levels = Vec::with_capacity(slots);
    let mut upper_next = 0u64;
    let records = section(&recs)?;
    for (id, rec) in records.chunks_exact(arena_layout.stride).enumerate() {
        let view = format::check_record(id as u32, rec, meta, &arena_layout, &mut upper_next)?;
        states.push(view.state);
        levels.push(view.level);
    }
    if upper_next != uppr.len {
        return Err(corrupt("UPPR has lists that belong to no node"));
    }
    // The graph rules, now that every slot's state and level is known. The upper lists lie
    // in UPPR in slot order (checked above), `width` bytes each.
    let width = 4 * (1 + params.m);
    let mut checker = format::LinkChecker::new(slots);
    let mut upper_at = 0usize;
    for (id, rec) in records.chunks_exact(arena_layout.stride).enumerate() {
        if states[id] == STATE_FREE {
            continue;
        }
        let list = &rec[arena_layout.links..arena_layout.links + 4 * (1 + params.m0)];
        let count = u32::from_le_bytes(list[..4].try_into().unwrap()) as usize;
        checker.check(id, 0, format::le_u32s(&list[4..4 + 4 * count]), &states, &levels)?;
        for layer in 1..=levels[id] as usize {
            let list = &upper_bytes[upper_at..upper_at + width];
            let count = u32::from_le_bytes(list[..4].try_into().unwrap()) as usize;
            checker.check(id, layer, format::le_u32s(&list[4..4 + 4 * count]), &states, &levels)?;
            upper_at += width;
        }
    }
    drop(checker);
    format::check_entry(meta, &states, &levels)?;
    let (free, dels) = format::read_free_dels(bytes, &layout, &states)?;
    let keys = format::read_keys(bytes, &layout, &states)?;
    let (metadata, text, options) = format::read_payloads(bytes, &layout, &keys, &states)?;
    let codec = format::read_codec(bytes, &layout)?;
    let neighbor_codes = format::read_neighbor_codes(bytes, &layout)?;
    // Quantized: the full-precision vectors are served from a second (read-only) mapping of
    // the same file, so re-ranking reads them from the page cache, not anonymous memory.
    let raw = if meta.has_codec() {
        let full = section(layout.section(b"FULL"))?;
        for (id, row) in full.chunks_exact(meta.dim * 4).enumerate() {
            format::check_full_row(id, row, states[id], meta.options.metric)?;
        }
        // SAFETY: a read-only mapping of the file opened read-only above; the same caveat as
        // the first mapping (the file must not be rewritten in place while open).
        let full_map = unsafe { MmapOptions::new().map(&source.file) }
            .map_err(|e| Error::Io(format!("cannot map {}: {e}", path.display())))?;
        if full_map.len() as u64 != layout.file_len {
            return Err(corrupt("the file changed while it was opened"));
        }
        Some(RawStore::over_mapping(meta.dim, full_map, layout.section(b"FULL").offset as usize, slots)?)
    } else {
        None
    };
    debug_assert!(free.iter().all(|&id| states[id as usize] == STATE_FREE));
    let (dim, entry, inserted, next_auto_key) = (meta.dim, meta.entry, meta.inserted, meta.next_auto_key);

    let store = NodeStore::with_words(dim, meta.words, params.m0, params.m).over_mapping(
        map,
        recs.offset as usize,
        slots as u32,
        uppr.offset as usize,
        uppr.len as usize,
        free,
    );
    // Neighbour codes, one per node, go to anonymous memory beside the mapping (the file has
    // no room for them): `restore_state` encodes every record's vector into its block, so
    // searches walk the graph on the codes and re-score from the mapped vectors. A quantized
    // index (codes in its records) has none; it keeps the codes' ranges only to save them.
    // Always one per node here: a load may honour the benchmarks' `OMENDB_CODES_LAYOUT=links`,
    // whose blocks would need every list's codes in link order.
    let space = format::space_of(options.metric, codec);
    let graph = match &neighbor_codes {
        Some(codes) if space.codec().is_none() => {
            let bytes = Layout::PerNode.block_bytes(dim, params.m0, codes.bits());
            let store = store.with_mapped_blocks(bytes).map_err(|e| Error::Io(format!("opening {}: {e}", path.display())))?;
            Graph::over_mapping_with_codes(store, params, space, codes.bits())
        }
        _ => Graph::with_store(store, params, space),
    };
    graph.restore_state(entry, dels, neighbor_codes);
    Ok(Restored { options, graph: Some(graph), keys, inserted, next_auto_key, metadata, text, raw })
}
