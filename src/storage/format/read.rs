//! Reading the sections after the frame. FREE, DELS, KEYS, MDAT, TEXT, TXTS, QCOD and NCOD are read the
//! same way by a load and by the mapped open (`storage::mapped`); the rest is the load into
//! memory, [`read_index`]: the nodes of either record format (version 1's NODE and VECS,
//! version 2's RECS, streamed twice), the upper lists, FULL, then the graph built from them.

use std::collections::HashSet;

use super::{
    check_entry, check_full_row, check_record, check_stored_vector, check_upper_lists, check_zero, le_f32s, le_u32, le_u32s,
    node_stride, read_layout, read_section, vector_stride, Layout, LinkChecker, SectionEntry, Source, IO_BLOCK, NEIGHBOR_CODES_VERSION,
    TEXTS_VERSION,
};
use crate::encoding::{corrupt, Cursor};
use crate::error::Result;
use crate::filter::MetadataStore;
use crate::hnsw::arena::{FreshSlot, STATE_DELETED, STATE_FREE, STATE_LIVE};
use crate::hnsw::graph::MAX_LEVEL;
use crate::hnsw::codes::NeighborCodes;
use crate::hnsw::{Graph, Params};
use crate::keys::{KeyKind, KeyMap, KeyRef, MAX_KEY_BYTES, NO_KEY};
use crate::metric::Metric;
use crate::options::IndexOptions;
use crate::quant::raw::{RawStorage, RawStore};
use crate::quant::Codec;
use crate::space::Space;
use crate::text::TextIndex;

/// Reads FREE and DELS: exactly the slots in those states, each once.
pub(crate) fn read_free_dels(src: &(impl Source + ?Sized), layout: &Layout, states: &[u8]) -> Result<(Vec<u32>, Vec<u32>)> {
    let free = u32_list(&read_section(src, layout.section(b"FREE"))?);
    let dels = u32_list(&read_section(src, layout.section(b"DELS"))?);
    for (list, state, name) in [(&free, STATE_FREE, "FREE"), (&dels, STATE_DELETED, "DELS")] {
        let mut seen = HashSet::with_capacity(list.len());
        for &id in list.iter() {
            if states.get(id as usize).is_none_or(|&s| s != state) || !seen.insert(id) {
                return Err(corrupt(format!("{name} lists slot {id}, which is not a slot in that state (or twice)")));
            }
        }
        if states.iter().filter(|&&s| s == state).count() != list.len() {
            return Err(corrupt(format!("{name} does not list every slot in that state")));
        }
    }
    Ok((free, dels))
}

/// Reads KEYS: one key per live slot.
pub(crate) fn read_keys(src: &(impl Source + ?Sized), layout: &Layout, states: &[u8]) -> Result<KeyMap> {
    let meta = &layout.meta;
    let key_bytes = read_section(src, layout.section(b"KEYS"))?;
    let mut keys = KeyMap::default();
    keys.restore_kind(meta.key_kind);
    keys.reserve_restored(meta.records as usize, meta.slots as usize);
    let mut c = Cursor::new(&key_bytes, "KEYS");
    for _ in 0..meta.records {
        let slot = c.u32()?;
        let key_err = |what: &str| corrupt(format!("KEYS: the key of slot {slot} {what}"));
        if states.get(slot as usize).is_none_or(|&s| s != STATE_LIVE) || keys.key_of(slot).is_some() {
            return Err(key_err("names a slot that is not live, or was given twice"));
        }
        match meta.key_kind {
            Some(KeyKind::U64) => {
                if c.u32()? != 0 {
                    return Err(key_err("has non-zero reserved bytes"));
                }
                let k = c.u64()?;
                // `set` returns the slot that held the key before: a repeat.
                if k == NO_KEY || keys.set(KeyRef::U64(k), slot).is_some() {
                    return Err(key_err("is reserved or repeated"));
                }
            }
            _ => {
                let len = c.u32()? as usize;
                if len == 0 || len > MAX_KEY_BYTES {
                    return Err(key_err("has a bad length"));
                }
                let s = std::str::from_utf8(c.take(len)?).map_err(|_| key_err("is not UTF-8"))?;
                if keys.set(KeyRef::Str(s), slot).is_some() {
                    return Err(key_err("is repeated"));
                }
            }
        }
    }
    c.finish()?;
    if states.iter().filter(|&&s| s == STATE_LIVE).count() != meta.records as usize {
        return Err(corrupt("a live slot has no key"));
    }
    Ok(keys)
}

/// Metadata, texts and the full options of the index: from MDAT and TEXT in version 2, and
/// the texts as given from TXTS in version 7 (before it, texts are postings alone: they score
/// but cannot be read back); version 1 has neither, so every record gets an empty metadata
/// object (so NOT filters see it) and no text, under the default text options.
pub(crate) fn read_payloads(src: &(impl Source + ?Sized), layout: &Layout, keys: &KeyMap, states: &[u8]) -> Result<(MetadataStore, TextIndex, IndexOptions)> {
    let mut options = layout.meta.options.clone();
    if layout.version < 2 {
        let mut meta = MetadataStore::new();
        for slot in keys.slots() {
            meta.set_empty(slot);
        }
        let text = TextIndex::new(options.text.clone(), options.bm25)?;
        return Ok((meta, text, options));
    }
    let live = |slot: u32| states.get(slot as usize) == Some(&STATE_LIVE);
    let mdat = read_section(src, layout.section(b"MDAT"))?;
    let meta = MetadataStore::decode(&mdat, layout.meta.records as usize, live, layout.version)?;
    let text_bytes = read_section(src, layout.section(b"TEXT"))?;
    let (mut text, tokenizer, bm25) = TextIndex::decode(&text_bytes, live)?;
    if layout.version >= TEXTS_VERSION {
        text.decode_texts(&read_section(src, layout.section(b"TXTS"))?)?;
    }
    options.text = tokenizer;
    options.bm25 = bm25;
    Ok((meta, text, options))
}

/// Reads and checks QCOD: the trained codec of a version 3 file that has one.
pub(crate) fn read_codec(src: &(impl Source + ?Sized), layout: &Layout) -> Result<Option<Codec>> {
    let meta = &layout.meta;
    if layout.version < 3 || !meta.has_codec() {
        return Ok(None);
    }
    let bytes = read_section(src, layout.section(b"QCOD"))?;
    let state = le_f32s(&bytes).collect();
    let codec = Codec::from_state(meta.options.dtype, meta.options.metric, meta.dim, meta.codec_pq_m, state)
        .map_err(|e| corrupt(format!("QCOD: {e}")))?;
    if codec.words() != meta.words {
        return Err(corrupt("QCOD: the codec's code size does not match the records"));
    }
    Ok(Some(codec))
}

/// Reads and checks NCOD: the learned ranges of the neighbour codes of a version 8 file that
/// has them (None before they were learned, or without neighbour codes).
pub(crate) fn read_neighbor_codes(src: &(impl Source + ?Sized), layout: &Layout) -> Result<Option<NeighborCodes>> {
    let meta = &layout.meta;
    if layout.version < NEIGHBOR_CODES_VERSION || meta.options.neighbor_codes == 0 {
        return Ok(None);
    }
    let bytes = read_section(src, layout.section(b"NCOD"))?;
    if bytes.is_empty() {
        return Ok(None);
    }
    let values: Vec<f32> = le_f32s(&bytes).collect();
    let (lo, step) = values.split_at(values.len() / 2);
    NeighborCodes::from_ranges(meta.dim, meta.options.metric, meta.options.neighbor_codes, lo.to_vec(), step.to_vec())
        .map(Some)
        .ok_or_else(|| corrupt("NCOD: a range is not finite, or a step is negative"))
}

/// The graph's space: a quantized one over `codec` when there is one.
pub(crate) fn space_of(metric: Metric, codec: Option<Codec>) -> Space {
    match codec {
        Some(c) => Space::quantized(metric, std::sync::Arc::new(c)),
        None => Space::new(metric),
    }
}

fn u32_list(bytes: &[u8]) -> Vec<u32> {
    le_u32s(bytes).collect()
}

// ---- a load into memory ----

/// An index read back from a file, for `Index` to take over.
pub(crate) struct Restored {
    pub options: IndexOptions,
    pub graph: Option<Graph>,
    pub keys: KeyMap,
    pub inserted: u64,
    pub next_auto_key: u64,
    pub metadata: MetadataStore,
    pub text: TextIndex,
    /// Quantized indexes: the full-precision vectors.
    pub raw: Option<RawStore>,
}

/// Reads a whole index into memory, checking every checksum and every structural rule (see
/// the module doc). Nothing in the file can make this panic or allocate beyond a small
/// multiple of the file's length (plus the index itself).
pub(crate) fn read_index(src: &(impl Source + ?Sized)) -> Result<Restored> {
    let layout = read_layout(src)?;
    let nodes = match layout.version {
        1 => read_nodes_v1(src, &layout)?,
        _ => read_nodes_v2(src, &layout)?,
    };
    let meta = &layout.meta;
    let mut checker = LinkChecker::new(nodes.len());
    for id in 0..nodes.len() {
        for (l, links) in nodes.lists(id).enumerate() {
            checker.check(id, l, links.iter().copied(), &nodes.states, &nodes.levels)?;
        }
    }
    drop(checker);
    let (states, levels) = (&nodes.states, &nodes.levels);
    check_entry(meta, states, levels)?;
    let (free, dels) = read_free_dels(src, &layout, states)?;
    let keys = read_keys(src, &layout, states)?;
    let (metadata, text, options) = read_payloads(src, &layout, &keys, states)?;
    let codec = read_codec(src, &layout)?;
    let mut raw = None;

    // The graph: slots 0..slots taken in order, vectors streamed from the file, then links.
    let graph = if meta.dim == 0 {
        None
    } else {
        let params = Params::new(meta.options.m, meta.options.ef_construction);
        let bits = (meta.options.neighbor_codes != 0).then_some(meta.options.neighbor_codes);
        let graph = Graph::with_neighbor_blocks(meta.dim, params, space_of(meta.options.metric, codec), bits);
        let fresh = graph.store.take_fresh(levels);
        if meta.has_codec() {
            raw = Some(read_full(src, &layout, states, &fresh)?);
        }
        debug_assert!(fresh.iter().enumerate().all(|(i, s)| s.id() as usize == i));
        match layout.version {
            1 => read_vectors_v1(src, &layout, states, &graph, &fresh)?,
            _ => read_vectors_v2(src, &layout, states, &graph, &fresh)?,
        }
        for (id, &state) in states.iter().enumerate() {
            for (l, links) in nodes.lists(id).enumerate() {
                graph.restore_links(id as u32, l, links);
            }
            if state != STATE_FREE {
                graph.store.set_state(id as u32, state);
            }
        }
        graph.store.reclaim(&free);
        graph.restore_state(meta.entry, dels, read_neighbor_codes(src, &layout)?);
        Some(graph)
    };

    Ok(Restored {
        options,
        graph,
        keys,
        inserted: meta.inserted,
        next_auto_key: meta.next_auto_key,
        metadata,
        text,
        raw,
    })
}

/// Every slot as read from the file: states, levels and link lists, kept flat (one allocation
/// each, whatever the number of nodes).
#[derive(Default)]
struct Nodes {
    states: Vec<u8>,
    levels: Vec<u8>,
    /// The lists of node i are `spans[first[i]..first[i + 1]]`: layer 0, then 1..=level.
    first: Vec<usize>,
    /// Each list as a range of `links`.
    spans: Vec<(usize, usize)>,
    links: Vec<u32>,
}

impl Nodes {
    fn with_capacity(slots: usize) -> Nodes {
        let mut n = Nodes { states: Vec::with_capacity(slots), levels: Vec::with_capacity(slots), ..Default::default() };
        n.first.reserve(slots + 1);
        n.spans.reserve(slots);
        n
    }
    fn push_node(&mut self, state: u8, level: u8) {
        self.states.push(state);
        self.levels.push(level);
        self.first.push(self.spans.len());
    }
    /// Appends a list (little-endian u32s) to the node pushed last.
    fn push_list(&mut self, bytes: &[u8]) {
        let start = self.links.len();
        self.links.extend(le_u32s(bytes));
        self.spans.push((start, self.links.len()));
    }
    fn len(&self) -> usize {
        self.states.len()
    }
    /// The lists of node `id`, layer 0 first.
    fn lists(&self, id: usize) -> impl Iterator<Item = &[u32]> + '_ {
        let end = self.first.get(id + 1).copied().unwrap_or(self.spans.len());
        self.spans[self.first[id]..end].iter().map(|&(a, b)| &self.links[a..b])
    }
}

/// Version 1: NODE and UPPR.
fn read_nodes_v1(src: &(impl Source + ?Sized), layout: &Layout) -> Result<Nodes> {
    let meta = &layout.meta;
    let node_bytes = read_section(src, layout.section(b"NODE"))?;
    let upper_bytes = read_section(src, layout.section(b"UPPR"))?;
    let mut nodes = Nodes::with_capacity(meta.slots as usize);
    let mut upper = Cursor::new(&upper_bytes, "UPPR");
    for (id, rec) in node_bytes.chunks_exact(node_stride(meta.m0)).enumerate() {
        let mut c = Cursor::new(rec, "NODE");
        let state = c.u8()?;
        let level = c.u8()?;
        let reserved = c.take(2)?;
        let count = c.u32()? as usize;
        let raw = c.take(4 * meta.m0)?;
        if reserved != [0, 0] || state > STATE_DELETED || level > MAX_LEVEL || count > meta.m0 {
            return Err(corrupt(format!("NODE: slot {id} has a bad header (state {state}, level {level}, {count} links)")));
        }
        if raw[4 * count..].iter().any(|&x| x != 0) {
            return Err(corrupt(format!("NODE: slot {id} has stray links past its count")));
        }
        if state == STATE_FREE && (level != 0 || count != 0) {
            return Err(corrupt(format!("NODE: free slot {id} has a level or links")));
        }
        nodes.push_node(state, level);
        nodes.push_list(&raw[..4 * count]);
        if state != STATE_FREE {
            for l in 1..=level as usize {
                let n = upper.u32()? as usize;
                if n > meta.options.m {
                    return Err(corrupt(format!("UPPR: slot {id} has {n} links on layer {l}, at most {}", meta.options.m)));
                }
                nodes.push_list(upper.take(4 * n)?);
            }
        }
    }
    upper.finish()?;
    Ok(nodes)
}

/// Version 2: RECS (first pass: everything but the vectors) and UPPR.
fn read_nodes_v2(src: &(impl Source + ?Sized), layout: &Layout) -> Result<Nodes> {
    let meta = &layout.meta;
    let Some(l) = meta.record_layout else { return Ok(Nodes::default()) };
    let upper_bytes = read_section(src, layout.section(b"UPPR"))?;
    check_upper_lists(&upper_bytes, meta)?;
    let mut nodes = Nodes::with_capacity(meta.slots as usize);
    let mut upper_next = 0u64;
    let width = 4 * (1 + meta.options.m);
    for_each_record(src, layout, |id, rec| {
        let at = upper_next as usize;
        let view = check_record(id, rec, meta, &l, &mut upper_next)?;
        nodes.push_node(view.state, view.level);
        nodes.push_list(view.links);
        for i in 0..view.level as usize {
            let list = upper_bytes
                .get(at + i * width..at + (i + 1) * width)
                .ok_or_else(|| corrupt(format!("RECS: slot {id} refers to upper lists past the end of UPPR")))?;
            let count = le_u32(list, 0) as usize;
            nodes.push_list(&list[4..4 + 4 * count]);
        }
        Ok(())
    })?;
    if upper_next != upper_bytes.len() as u64 {
        return Err(corrupt("UPPR has lists that belong to no node"));
    }
    Ok(nodes)
}

/// Version 1: the rows of VECS into the fresh slots.
fn read_vectors_v1(src: &(impl Source + ?Sized), layout: &Layout, states: &[u8], graph: &Graph, fresh: &[FreshSlot]) -> Result<()> {
    let meta = &layout.meta;
    let mut row = vec![0f32; meta.dim];
    for_each_row(src, layout.section(b"VECS"), vector_stride(meta.dim), meta.slots as usize, |id, r| {
        decode_f32s(r, &mut row);
        if states[id] == STATE_FREE {
            check_zero(r, &format!("VECS: the row of free slot {id}"))?;
        } else {
            check_stored_vector(row.iter().copied(), meta.options.metric).map_err(|e| corrupt(format!("VECS: slot {id} {e}")))?;
            check_zero(&r[meta.dim * 4..], &format!("VECS: padding of slot {id}"))?;
            graph.store.write_vector(&fresh[id], &row);
        }
        Ok(())
    })
}

/// Version 2: the vectors of RECS into the fresh slots (second pass).
fn read_vectors_v2(src: &(impl Source + ?Sized), layout: &Layout, states: &[u8], graph: &Graph, fresh: &[FreshSlot]) -> Result<()> {
    let words = layout.meta.words;
    let mut row = vec![0f32; words];
    for_each_record(src, layout, |id, rec| {
        if states[id as usize] != STATE_FREE {
            for (x, b) in row.iter_mut().zip(rec[..words * 4].chunks_exact(4)) {
                *x = f32::from_le_bytes(b.try_into().unwrap());
            }
            graph.store.write_vector(&fresh[id as usize], &row);
        }
        Ok(())
    })
}

/// Version 3: the rows of FULL into a new in-memory store.
fn read_full(src: &(impl Source + ?Sized), layout: &Layout, states: &[u8], fresh: &[FreshSlot]) -> Result<RawStore> {
    let dim = layout.meta.dim;
    let full = layout.section(b"FULL");
    let store = RawStore::new(dim, &RawStorage::Memory)?;
    let mut row = vec![0f32; dim];
    for_each_row(src, full, dim * 4, layout.meta.slots as usize, |id, r| {
        check_full_row(id, r, states[id], layout.meta.options.metric)?;
        if states[id] != STATE_FREE {
            decode_f32s(r, &mut row);
            store.write(fresh[id].id(), &row)?;
        }
        Ok(())
    })?;
    Ok(store)
}

/// Calls `visit(id, record)` for every RECS record, read in blocks; checks the section's CRC
/// once every block was read (the caller keeps nothing before that succeeds).
fn for_each_record(src: &(impl Source + ?Sized), layout: &Layout, mut visit: impl FnMut(u32, &[u8]) -> Result<()>) -> Result<()> {
    let Some(l) = &layout.meta.record_layout else { return Ok(()) };
    for_each_row(src, layout.section(b"RECS"), l.stride, layout.meta.slots as usize, |id, rec| visit(id as u32, rec))
}

/// Calls `visit(id, row)` for each of the `slots` rows of `row_bytes` bytes in section `e`,
/// read in blocks; checks the section's CRC once every block was read (the caller keeps
/// nothing before that succeeds).
fn for_each_row(
    src: &(impl Source + ?Sized),
    e: &SectionEntry,
    row_bytes: usize,
    slots: usize,
    mut visit: impl FnMut(usize, &[u8]) -> Result<()>,
) -> Result<()> {
    let rows_per_block = (IO_BLOCK / row_bytes).max(1);
    let mut block = vec![0u8; rows_per_block.min(slots.max(1)) * row_bytes];
    let mut crc = 0u32;
    let mut id = 0usize;
    while id < slots {
        let n = rows_per_block.min(slots - id);
        let bytes = &mut block[..n * row_bytes];
        src.read_at(e.offset + (id * row_bytes) as u64, bytes)?;
        crc = crc32c::crc32c_append(crc, bytes);
        for row in bytes.chunks_exact(row_bytes) {
            visit(id, row)?;
            id += 1;
        }
    }
    if crc != e.crc {
        return Err(corrupt(format!("section {} checksum mismatch", e.name())));
    }
    Ok(())
}

/// Little-endian f32s from the start of `bytes` into `out` (as many as `out` holds).
fn decode_f32s(bytes: &[u8], out: &mut [f32]) {
    for (x, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
        *x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
}
