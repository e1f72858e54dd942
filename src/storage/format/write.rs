//! Writing an index: [`write_index`] streams the sections in file order, one step each, then
//! goes back to fill in the header, the section table and META, which depend on everything
//! after them. The version written is the oldest that holds the index (see the module doc of
//! `storage::format`); the bytes of a given index are always the same.

use std::io::SeekFrom;

use super::{
    align_up, sections_of, upper_bytes, ALIGN, BINARY_LEVELS_VERSION, ENTRY_LEN, FORMAT_VERSION, HEADER_LEN, IO_BLOCK, MAGIC,
    META_LEN, METADATA_KINDS_VERSION, NEIGHBOR_CODES_VERSION, NO_ENTRY, PACKED_RECORDS_VERSION, QUANT_VERSION, TEXTS_VERSION,
};
use crate::encoding::Le;
use crate::error::{Error, Result};
use crate::filter::MetadataStore;
use crate::hnsw::arena::{NodeStore, RecordLayout, STATE_FREE};
use crate::hnsw::{Graph, Params};
use crate::keys::{KeyKind, KeyMap, KeyRef};
use crate::options::IndexOptions;
use crate::quant::raw::RawStore;
use crate::quant::{Codec, Dtype};
use crate::storage::atomic::WriteSeek;
use crate::text::TextIndex;

/// A consistent view of an index to write: the caller holds whatever keeps it still.
pub(crate) struct Snapshot<'a> {
    pub options: &'a IndexOptions,
    pub graph: Option<&'a Graph>,
    pub keys: &'a KeyMap,
    pub inserted: u64,
    pub next_auto_key: u64,
    pub metadata: &'a MetadataStore,
    pub text: &'a TextIndex,
    /// Quantized indexes: the full-precision vectors by slot.
    pub raw: Option<&'a RawStore>,
}

/// A section table entry as written: offset, length, CRC-32C.
type Entry = (u64, u64, u32);

/// What the snapshot's shape decides once for every section: the version, the vector
/// dimensions, the record layout and the slots written.
struct Shape<'a> {
    graph: Option<&'a Graph>,
    version: u32,
    dim: usize,
    m0: usize,
    slots: u32,
    lay: RecordLayout,
    codec: Option<&'a Codec>,
}

impl<'a> Shape<'a> {
    fn of(snap: &Snapshot<'a>) -> Shape<'a> {
        let opts = snap.options;
        let graph = snap.graph;
        let dim = graph.map_or(0, |g| g.store.dim());
        let params = Params::new(opts.m, opts.ef_construction);
        let m0 = graph.map_or(params.m0, |g| g.params.m0);
        let slots = graph.map_or(0, |g| g.store.high_water());
        let lay = match graph {
            Some(g) => g.store.layout(),
            None => NodeStore::new(0, params.m0, params.m).layout(),
        };
        let codec = graph.and_then(|g| g.space.codec()).map(|c| &**c);
        let version = match opts.dtype {
            _ if opts.neighbor_codes != 0 => NEIGHBOR_CODES_VERSION,
            _ if snap.text.has_texts() => TEXTS_VERSION,
            _ if snap.metadata.needs_kinds_of_version_6() => METADATA_KINDS_VERSION,
            _ if lay.is_packed() => PACKED_RECORDS_VERSION,
            Dtype::F32 => FORMAT_VERSION,
            Dtype::Binary => BINARY_LEVELS_VERSION,
            _ => QUANT_VERSION,
        };
        Shape { graph, version, dim, m0, slots, lay, codec }
    }
}

/// The output, with the count of bytes written to it so far (the offset of the next section).
struct CountingWriter<'o> {
    out: &'o mut dyn WriteSeek,
    written: u64,
}

impl CountingWriter<'_> {
    fn put(&mut self, b: &[u8]) -> Result<()> {
        self.out.write_all(b).map_err(io_err)?;
        self.written += b.len() as u64;
        Ok(())
    }

    /// Zeros up to the next 64-byte boundary.
    fn pad(&mut self) -> Result<()> {
        let zeros = [0u8; ALIGN as usize];
        let n = (align_up(self.written) - self.written) as usize;
        self.put(&zeros[..n])
    }

    /// Writes a section held whole in memory and its padding; returns its table entry.
    fn section(&mut self, bytes: &[u8]) -> Result<Entry> {
        let entry = (self.written, bytes.len() as u64, crc32c::crc32c(bytes));
        self.put(bytes)?;
        self.pad()?;
        Ok(entry)
    }
}

fn u32_of(v: usize, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::Internal(format!("{what} = {v} does not fit the file format's u32")))
}

fn io_err(e: std::io::Error) -> Error {
    Error::Io(format!("write: {e}"))
}

/// Writes the index in `snap` to `out`, in format version 2 (f32), 3 (quantized), 4 (binary),
/// 5 (packed records), 6 (metadata with null or lists of numbers), 7 (texts as given) or 8
/// (neighbour codes); returns the bytes written.
pub(crate) fn write_index(snap: &Snapshot<'_>, out: &mut dyn WriteSeek) -> Result<u64> {
    let shape = Shape::of(snap);
    let kinds = sections_of(shape.version);

    // The header and the table go first but depend on everything after them: write zeros in
    // their place, stream the sections (RECS record by record, building UPPR on the way), then
    // go back and fill them in.
    let mut w = CountingWriter { out, written: 0 };
    w.put(&vec![0u8; HEADER_LEN + kinds.len() * ENTRY_LEN])?;
    w.pad()?;
    let mut entries: Vec<Entry> = Vec::with_capacity(kinds.len());

    // META, known once the keys are counted; its place is reserved.
    let meta_at = w.written;
    w.put(&[0u8; META_LEN])?;
    w.pad()?;

    let (recs, upper) = write_records(&shape, &mut w)?;
    let (keys, records) = encode_keys(snap.keys);
    let (free, dels) = encode_free_dels(shape.graph);
    let mut mdat = Le::default();
    snap.metadata.encode(&mut mdat);
    let mut text = Le::default();
    snap.text.encode(&mut text);
    let meta = encode_meta(snap, &shape, records)?;
    entries.push((meta_at, META_LEN as u64, crc32c::crc32c(&meta.0)));
    entries.push(recs);

    // The small sections after RECS, in order.
    for bytes in [&upper.0, &keys.0, &free.0, &dels.0, &mdat.0, &text.0] {
        entries.push(w.section(bytes)?);
    }
    if shape.version >= 3 {
        entries.push(w.section(&encode_codec(shape.codec).0)?);
        entries.push(write_full(snap, &shape, &mut w)?);
    }
    if shape.version >= TEXTS_VERSION {
        let mut txts = Le::default();
        snap.text.encode_texts(&mut txts);
        entries.push(w.section(&txts.0)?);
    }
    if shape.version >= NEIGHBOR_CODES_VERSION {
        entries.push(w.section(&encode_neighbor_codes(shape.graph).0)?);
    }
    let file_len = w.written;

    debug_assert_eq!(entries.len(), kinds.len());
    let table = encode_table(kinds, &entries);
    let header = encode_header(shape.version, file_len, kinds.len(), &table);
    write_back(w.out, &header, &table, meta_at, &meta, file_len)?;
    Ok(file_len)
}

/// RECS, streamed in blocks of whole records, and UPPR built on the way; returns the entry of
/// RECS and the bytes of UPPR.
fn write_records(shape: &Shape<'_>, w: &mut CountingWriter<'_>) -> Result<(Entry, Le)> {
    let (lay, slots) = (&shape.lay, shape.slots);
    let recs_at = w.written;
    let mut upper = Le::default();
    let mut recs_crc = 0u32;
    if let Some(g) = shape.graph {
        let rows_per_block = (IO_BLOCK / lay.stride).max(1);
        let mut block = Vec::with_capacity(rows_per_block * lay.stride);
        let mut upper_next = 0u64;
        let mut links = Vec::new();
        for id in 0..slots {
            let start = block.len();
            block.resize(start + lay.stride, 0);
            encode_record(g, id, lay, &mut block[start..], &mut upper_next, Some(&mut upper), &mut links);
            if block.len() >= rows_per_block * lay.stride || id + 1 == slots {
                recs_crc = crc32c::crc32c_append(recs_crc, &block);
                w.put(&block)?;
                block.clear();
            }
        }
    }
    let recs_len = w.written - recs_at;
    debug_assert_eq!(recs_len, slots as u64 * lay.stride as u64);
    w.pad()?;
    Ok(((recs_at, recs_len, recs_crc), upper))
}

/// Writes the record of slot `id` into `rec` (`layout.stride` zero bytes) and appends its
/// upper lists to `upper` (when given); `upper_next` is the UPPR offset of the next lists.
fn encode_record(g: &Graph, id: u32, lay: &RecordLayout, rec: &mut [u8], upper_next: &mut u64, upper: Option<&mut Le>, links: &mut Vec<u32>) {
    let state = g.store.state(id);
    if state == STATE_FREE {
        return;
    }
    let words = g.store.words();
    for (dst, x) in rec[..words * 4].chunks_exact_mut(4).zip(g.store.vector(id)) {
        dst.copy_from_slice(&x.to_le_bytes());
    }
    g.copy_links(id, 0, links);
    rec[lay.links..lay.links + 4].copy_from_slice(&(links.len() as u32).to_le_bytes());
    for (i, &l) in links.iter().enumerate() {
        let at = lay.links + 4 + 4 * i;
        rec[at..at + 4].copy_from_slice(&l.to_le_bytes());
    }
    let level = g.store.level(id);
    if level > 0 {
        rec[lay.upper..lay.upper + 8].copy_from_slice(&(1 + *upper_next).to_le_bytes());
        *upper_next += upper_bytes(level, g.params.m);
        if let Some(out) = upper {
            for l in 1..=level as usize {
                g.copy_links(id, l, links);
                out.u32(links.len() as u32);
                for i in 0..g.params.m {
                    out.u32(links.get(i).copied().unwrap_or(0));
                }
            }
        }
    }
    rec[lay.lock + 1] = level;
    rec[lay.lock + 2] = state;
}

/// KEYS: per record its slot, then a u64 key (after a zero u32) or a string key (its length,
/// then its bytes); returns the bytes and the number of records.
fn encode_keys(key_map: &KeyMap) -> (Le, usize) {
    let mut keys = Le::default();
    let mut records = 0usize;
    for (slot, key) in key_map.entries() {
        records += 1;
        match key {
            KeyRef::U64(k) => {
                keys.u32(slot);
                keys.u32(0);
                keys.u64(k);
            }
            KeyRef::Str(s) => {
                keys.u32(slot);
                keys.u32(s.len() as u32);
                keys.0.extend_from_slice(s.as_bytes());
            }
        }
    }
    (keys, records)
}

/// FREE and DELS: the free slots, and the slots removed but not yet repaired.
fn encode_free_dels(graph: Option<&Graph>) -> (Le, Le) {
    let mut free = Le::default();
    let mut dels = Le::default();
    if let Some(g) = graph {
        for id in g.store.free_list() {
            free.u32(id);
        }
        for id in g.pending_delete_list() {
            dels.u32(id);
        }
    }
    (free, dels)
}

/// META: the options, the counts, the entry point and the record layout (and from version 3
/// the dtype's fields), zero-padded to `META_LEN`.
fn encode_meta(snap: &Snapshot<'_>, shape: &Shape<'_>, records: usize) -> Result<Le> {
    let opts = snap.options;
    let lay = &shape.lay;
    let entry = shape.graph.and_then(|g| g.entry());
    let mut meta = Le(Vec::with_capacity(META_LEN));
    meta.u32(shape.dim as u32);
    meta.u32(u32_of(opts.dim, "dim")?);
    meta.u32(opts.metric as u32);
    meta.u32(u32_of(opts.m, "m")?);
    meta.u32(u32_of(shape.m0, "m0")?);
    meta.u32(u32_of(opts.ef_construction, "ef_construction")?);
    meta.u32(u32_of(opts.ef_search, "ef_search")?);
    meta.u32(match snap.keys.kind() {
        None => 0,
        Some(KeyKind::U64) => 1,
        Some(KeyKind::Str) => 2,
    });
    meta.u64(opts.seed);
    meta.u64(snap.inserted);
    meta.u64(snap.next_auto_key);
    meta.u32(shape.slots);
    meta.u32(u32_of(records, "record count")?);
    meta.u32(entry.map_or(NO_ENTRY, |(id, _)| id));
    meta.u32(entry.map_or(0, |(_, l)| l as u32));
    meta.u32(u32_of(lay.stride, "record stride")?);
    meta.u32(u32_of(lay.links, "links offset")?);
    meta.u32(u32_of(lay.upper, "upper offset")?);
    meta.u32(u32_of(lay.lock, "lock offset")?);
    if shape.version >= 3 {
        meta.u32(opts.dtype as u32);
        meta.u32(u32_of(opts.rerank, "rerank")?);
        meta.u32(u32_of(opts.pq_m, "pq_m")?);
        meta.u32(u32_of(shape.codec.map_or(0, |c| c.pq_m()), "pq sub-spaces")?);
    }
    if shape.version >= NEIGHBOR_CODES_VERSION {
        meta.u32(opts.neighbor_codes as u32);
    }
    meta.0.resize(META_LEN, 0);
    Ok(meta)
}

/// QCOD: the codec's trained state as little-endian f32 (empty before training).
fn encode_codec(codec: Option<&Codec>) -> Le {
    let mut qcod = Le::default();
    for x in codec.map_or_else(Vec::new, |c| c.state()) {
        qcod.0.extend_from_slice(&x.to_le_bytes());
    }
    qcod
}

/// NCOD: the neighbour codes' learned ranges, each dimension's lowest value then each one's
/// step, as little-endian f32 (empty before they are learned).
fn encode_neighbor_codes(graph: Option<&Graph>) -> Le {
    let mut ncod = Le::default();
    if let Some(codes) = graph.and_then(|g| g.learned_neighbor_codes()) {
        let (lo, step) = codes.ranges();
        for x in lo.iter().chain(step) {
            ncod.0.extend_from_slice(&x.to_le_bytes());
        }
    }
    ncod
}

/// FULL: slots x dim little-endian f32, zero for free slots, streamed in blocks; returns its
/// entry.
fn write_full(snap: &Snapshot<'_>, shape: &Shape<'_>, w: &mut CountingWriter<'_>) -> Result<Entry> {
    let (dim, slots) = (shape.dim, shape.slots);
    let full_at = w.written;
    let mut full_crc = 0u32;
    if let (Some(g), Some(raw)) = (shape.graph, snap.raw) {
        let row_bytes = dim * 4;
        let rows_per_block = (IO_BLOCK / row_bytes.max(1)).max(1);
        let mut block = Vec::with_capacity(rows_per_block * row_bytes);
        for id in 0..slots {
            if g.store.state(id) == STATE_FREE {
                block.resize(block.len() + row_bytes, 0);
            } else {
                for x in raw.row(id) {
                    block.extend_from_slice(&x.to_le_bytes());
                }
            }
            if block.len() >= rows_per_block * row_bytes || id + 1 == slots {
                full_crc = crc32c::crc32c_append(full_crc, &block);
                w.put(&block)?;
                block.clear();
            }
        }
    }
    let entry = (full_at, w.written - full_at, full_crc);
    w.pad()?;
    Ok(entry)
}

/// The section table: per section its kind, zero flags, offset, length, CRC and zero reserved
/// bytes.
fn encode_table(kinds: &[[u8; 4]], entries: &[Entry]) -> Le {
    let mut table = Le(Vec::with_capacity(kinds.len() * ENTRY_LEN));
    for (kind, &(offset, len, crc)) in kinds.iter().zip(entries) {
        table.0.extend_from_slice(kind);
        table.u32(0);
        table.u64(offset);
        table.u64(len);
        table.u32(crc);
        table.u32(0);
    }
    table
}

/// The header: magic, version, its own length, the file's, the number of sections, the
/// table's CRC, zero reserved bytes, and last its own CRC.
fn encode_header(version: u32, file_len: u64, sections: usize, table: &Le) -> Le {
    let mut header = Le(Vec::with_capacity(HEADER_LEN));
    header.0.extend_from_slice(&MAGIC);
    header.u32(version);
    header.u32(HEADER_LEN as u32);
    header.u64(file_len);
    header.u32(sections as u32);
    header.u32(crc32c::crc32c(&table.0));
    header.0.resize(HEADER_LEN - 4, 0);
    let header_crc = crc32c::crc32c(&header.0);
    header.u32(header_crc);
    header
}

/// Back to the start: the header and the table over the zeros written in their place, META
/// over its reserved place at `meta_at`; leaves `out` at the end of the file.
fn write_back(out: &mut dyn WriteSeek, header: &Le, table: &Le, meta_at: u64, meta: &Le, file_len: u64) -> Result<()> {
    let seek_err = |e: std::io::Error| Error::Io(format!("seek: {e}"));
    out.seek(SeekFrom::Start(0)).map_err(seek_err)?;
    out.write_all(&header.0).map_err(io_err)?;
    out.write_all(&table.0).map_err(io_err)?;
    out.seek(SeekFrom::Start(meta_at)).map_err(seek_err)?;
    out.write_all(&meta.0).map_err(io_err)?;
    out.seek(SeekFrom::Start(file_len)).map_err(seek_err)?;
    Ok(())
}
