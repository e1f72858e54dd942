//! The index file format: layout, checksums, writing (versions 2 to 5: the oldest that holds
//! what is written) and reading (versions 1 to 5). The byte-by-byte description is
//! `docs/format.md`; this file is its implementation and the two must agree.
//!
//! ```text
//! version 2: [ header: 64 ][ table: 8 x 32 ][ pad ]
//!            [ META ][ RECS ][ UPPR ][ KEYS ][ FREE ][ DELS ][ MDAT ][ TEXT ]   each padded to 64
//! version 1: [ header: 64 ][ table: 7 x 32 ][ pad ]
//!            [ META ][ NODE ][ UPPR ][ KEYS ][ FREE ][ DELS ][ VECS ]           each padded to 64
//! ```
//! Every section starts on a 64-byte boundary and the file ends on one; padding is zero.
//! Integers and floats are little-endian whatever the host. The header carries a CRC-32C of
//! itself and of the section table; the table carries a CRC-32C of each section. So every
//! byte of a file is covered by a checksum or must be zero, and any single flipped bit or any
//! truncation is reported as [`Error::Corrupt`].
//!
//! Version 2 stores each node as one record laid out as the in-memory arena lays it out
//! (vector, layer-0 list, upper-list reference, level, state), so a memory-mapped file serves
//! searches in place (`storage::mapped`); its upper lists are fixed-width, and it adds the
//! records' metadata (MDAT) and texts (TEXT). Version 3 adds the codec state (QCOD) and the
//! full-precision vectors (FULL) of a quantized index, version 4 a binary codec's two levels,
//! and version 5 allows the packed record layout (`hnsw::arena`); a writer uses the oldest
//! version that holds what it writes.
//!
//! Reading never trusts a number from the file before checking it: every count is checked
//! against the section that holds the data (and so against the file's real length) before
//! anything is allocated, and every slot id, level, state, link and key is validated, so a
//! damaged or hostile file yields an error, never a panic or a huge allocation.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::{Error, Result};
use crate::filter::MetadataStore;
use crate::hnsw::graph::MAX_LEVEL;
use crate::hnsw::{Graph, Params};
use crate::options::{IndexOptions, MAX_COMPONENT, MAX_DIM};
use crate::keys::{KeyKind, KeyMap, KeyRef, MAX_KEY_BYTES, NO_KEY};
use crate::metric::Metric;
use crate::space::Space;
use crate::quant::raw::{RawStorage, RawStore};
use crate::quant::{Codec, Dtype};
use crate::hnsw::arena::{FreshSlot, NodeStore, RecordLayout, STATE_DELETED, STATE_FREE, STATE_LIVE};
use crate::storage::atomic::WriteSeek;
use crate::encoding::{corrupt, Cursor, Le};
use crate::text::TextIndex;

/// The first 8 bytes of every index file: a non-ASCII byte (catches 7-bit transfers), the
/// name, and a line feed (catches newline conversion).
pub const MAGIC: [u8; 8] = *b"\x89OMENDB\n";
/// The format version this build writes for f32 indexes.
pub const FORMAT_VERSION: u32 = 2;
/// The format version this build writes for quantized indexes other than binary (version 2
/// plus the codec and the full-precision vectors).
pub const QUANT_VERSION: u32 = 3;
/// The format version this build writes for binary indexes: version 3 whose binary QCOD also
/// holds the two levels per dimension that searches compare queries with.
pub const BINARY_LEVELS_VERSION: u32 = 4;
/// The format version this build writes for an index whose records are packed (see
/// `hnsw::arena`: the lock, level and state bytes before the upper reference, where that
/// saves a cache line a record): version 4 with that record layout allowed.
pub const PACKED_RECORDS_VERSION: u32 = 5;
/// The newest format version this build reads (it reads every older one too).
pub const NEWEST_VERSION: u32 = PACKED_RECORDS_VERSION;
/// The oldest format version this build reads.
pub const OLDEST_VERSION: u32 = 1;
/// Bytes in the header. Its layout is the same in every version.
pub const HEADER_LEN: usize = 64;
/// Bytes per section table entry.
pub const ENTRY_LEN: usize = 32;
/// Sections and the end of the file are aligned to this many bytes.
pub const ALIGN: u64 = 64;
/// Bytes in the META section.
pub const META_LEN: usize = 128;

/// The sections of a version 1 file, in the order they appear in the table and the file.
pub const SECTIONS_V1: [[u8; 4]; 7] = [*b"META", *b"NODE", *b"UPPR", *b"KEYS", *b"FREE", *b"DELS", *b"VECS"];
/// The sections of a version 2 file, in order. A new kind of section is added by a new
/// format version that lists it here (see "Adding a section" in docs/format.md).
pub const SECTIONS_V2: [[u8; 4]; 8] = [*b"META", *b"RECS", *b"UPPR", *b"KEYS", *b"FREE", *b"DELS", *b"MDAT", *b"TEXT"];

/// The sections of a version 3 file: version 2's, then the trained codec state (QCOD) and the
/// full-precision vectors (FULL).
pub const SECTIONS_V3: [[u8; 4]; 10] =
    [*b"META", *b"RECS", *b"UPPR", *b"KEYS", *b"FREE", *b"DELS", *b"MDAT", *b"TEXT", *b"QCOD", *b"FULL"];

/// The sections a file of `version` holds, in order.
pub fn sections_of(version: u32) -> &'static [[u8; 4]] {
    match version {
        1 => &SECTIONS_V1,
        2 => &SECTIONS_V2,
        _ => &SECTIONS_V3,
    }
}

/// `entry_id` of an index without an entry point.
const NO_ENTRY: u32 = u32::MAX;
/// Records are read and written this many bytes at a time (a whole number of rows, at least one).
const IO_BLOCK: usize = 1 << 20;

pub(crate) fn align_up(n: u64) -> u64 {
    n.div_ceil(ALIGN) * ALIGN
}

/// Bytes per row of a version 1 VECS section: the vector, zero-padded to a multiple of 64.
pub fn vector_stride(dim: usize) -> usize {
    (dim * 4).div_ceil(64) * 64
}

/// Bytes per record of a version 1 NODE section: state, level, reserved, then the layer-0
/// list (count and `m0` link slots).
pub fn node_stride(m0: usize) -> usize {
    4 * (2 + m0)
}

/// Bytes of one node's upper lists in a version 2 UPPR section: `level` lists of a count and
/// `m` link slots.
fn upper_bytes(level: u8, m: usize) -> u64 {
    level as u64 * (1 + m as u64) * 4
}

// ---------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------

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

fn u32_of(v: usize, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::Internal(format!("{what} = {v} does not fit the file format's u32")))
}

fn io_err(e: std::io::Error) -> Error {
    Error::Io(format!("write: {e}"))
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

/// Writes the index in `snap` to `out`, in format version 2 (f32), 3 (quantized), 4 (binary)
/// or 5 (packed records); returns the bytes written.
pub(crate) fn write_index(snap: &Snapshot<'_>, out: &mut dyn WriteSeek) -> Result<u64> {
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
    let codec = graph.and_then(|g| g.space.codec());
    let version = match opts.dtype {
        _ if lay.is_packed() => PACKED_RECORDS_VERSION,
        Dtype::F32 => FORMAT_VERSION,
        Dtype::Binary => BINARY_LEVELS_VERSION,
        _ => QUANT_VERSION,
    };
    let kinds = sections_of(version);

    // The header and the table go first but depend on everything after them: write zeros in
    // their place, stream the sections (RECS record by record, building UPPR on the way), then
    // go back and fill them in.
    let sections = kinds.len();
    let table_end = (HEADER_LEN + sections * ENTRY_LEN) as u64;
    let mut written = 0u64;
    let mut put = |b: &[u8], written: &mut u64| -> Result<()> {
        out.write_all(b).map_err(io_err)?;
        *written += b.len() as u64;
        Ok(())
    };
    let zeros = [0u8; ALIGN as usize];
    let pad = |written: &mut u64, put: &mut dyn FnMut(&[u8], &mut u64) -> Result<()>| -> Result<()> {
        let n = (align_up(*written) - *written) as usize;
        put(&zeros[..n], written)
    };
    put(&vec![0u8; table_end as usize], &mut written)?;
    pad(&mut written, &mut put)?;
    let mut entries: Vec<(u64, u64, u32)> = Vec::with_capacity(sections); // offset, length, CRC

    // META, known once the keys are counted; its place is reserved.
    let meta_at = written;
    put(&[0u8; META_LEN], &mut written)?;
    pad(&mut written, &mut put)?;

    // RECS, streamed in blocks, and UPPR on the way.
    let recs_at = written;
    let mut upper = Le::default();
    let mut recs_crc = 0u32;
    if let Some(g) = graph {
        let rows_per_block = (IO_BLOCK / lay.stride).max(1);
        let mut block = Vec::with_capacity(rows_per_block * lay.stride);
        let mut upper_next = 0u64;
        let mut links = Vec::new();
        for id in 0..slots {
            let start = block.len();
            block.resize(start + lay.stride, 0);
            encode_record(g, id, &lay, &mut block[start..], &mut upper_next, Some(&mut upper), &mut links);
            if block.len() >= rows_per_block * lay.stride || id + 1 == slots {
                recs_crc = crc32c::crc32c_append(recs_crc, &block);
                put(&block, &mut written)?;
                block.clear();
            }
        }
    }
    let recs_len = written - recs_at;
    debug_assert_eq!(recs_len, slots as u64 * lay.stride as u64);
    pad(&mut written, &mut put)?;

    // KEYS.
    let mut keys = Le::default();
    let mut records = 0usize;
    for (slot, key) in snap.keys.entries() {
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

    // FREE and DELS.
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

    // MDAT and TEXT.
    let mut mdat = Le::default();
    snap.metadata.encode(&mut mdat);
    let mut text = Le::default();
    snap.text.encode(&mut text);

    // META.
    let entry = graph.and_then(|g| g.entry());
    let mut meta = Le(Vec::with_capacity(META_LEN));
    meta.u32(dim as u32);
    meta.u32(u32_of(opts.dim, "dim")?);
    meta.u32(opts.metric as u32);
    meta.u32(u32_of(opts.m, "m")?);
    meta.u32(u32_of(m0, "m0")?);
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
    meta.u32(slots);
    meta.u32(u32_of(records, "record count")?);
    meta.u32(entry.map_or(NO_ENTRY, |(id, _)| id));
    meta.u32(entry.map_or(0, |(_, l)| l as u32));
    meta.u32(u32_of(lay.stride, "record stride")?);
    meta.u32(u32_of(lay.links, "links offset")?);
    meta.u32(u32_of(lay.upper, "upper offset")?);
    meta.u32(u32_of(lay.lock, "lock offset")?);
    if version >= 3 {
        meta.u32(opts.dtype as u32);
        meta.u32(u32_of(opts.rerank, "rerank")?);
        meta.u32(u32_of(opts.pq_m, "pq_m")?);
        meta.u32(u32_of(codec.map_or(0, |c| c.pq_m()), "pq sub-spaces")?);
    }
    meta.0.resize(META_LEN, 0);
    entries.push((meta_at, META_LEN as u64, crc32c::crc32c(&meta.0)));
    entries.push((recs_at, recs_len, recs_crc));

    // The small sections after RECS, in order.
    for bytes in [&upper.0, &keys.0, &free.0, &dels.0, &mdat.0, &text.0] {
        entries.push((written, bytes.len() as u64, crc32c::crc32c(bytes)));
        put(bytes, &mut written)?;
        pad(&mut written, &mut put)?;
    }
    if version >= 3 {
        // QCOD: the codec's trained state as little-endian f32.
        let mut qcod = Le::default();
        for x in codec.map_or_else(Vec::new, |c| c.state()) {
            qcod.0.extend_from_slice(&x.to_le_bytes());
        }
        entries.push((written, qcod.0.len() as u64, crc32c::crc32c(&qcod.0)));
        put(&qcod.0, &mut written)?;
        pad(&mut written, &mut put)?;
        // FULL: slots x dim little-endian f32, zero for free slots, streamed in blocks.
        let full_at = written;
        let mut full_crc = 0u32;
        if let (Some(g), Some(raw)) = (graph, snap.raw) {
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
                    put(&block, &mut written)?;
                    block.clear();
                }
            }
        }
        entries.push((full_at, written - full_at, full_crc));
        pad(&mut written, &mut put)?;
    }
    let file_len = written;

    // Back to the start: the table, the header and META.
    let mut table = Le(Vec::with_capacity(sections * ENTRY_LEN));
    debug_assert_eq!(entries.len(), kinds.len());
    for (kind, &(offset, len, crc)) in kinds.iter().zip(&entries) {
        table.0.extend_from_slice(kind);
        table.u32(0);
        table.u64(offset);
        table.u64(len);
        table.u32(crc);
        table.u32(0);
    }
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
    let seek_err = |e: std::io::Error| Error::Io(format!("seek: {e}"));
    out.seek(SeekFrom::Start(0)).map_err(seek_err)?;
    out.write_all(&header.0).map_err(io_err)?;
    out.write_all(&table.0).map_err(io_err)?;
    out.seek(SeekFrom::Start(meta_at)).map_err(seek_err)?;
    out.write_all(&meta.0).map_err(io_err)?;
    out.seek(SeekFrom::Start(file_len)).map_err(seek_err)?;
    Ok(file_len)
}

// ---------------------------------------------------------------------------------------
// Reading: the frame (header, table, META)
// ---------------------------------------------------------------------------------------

/// Random-access bytes to read an index from: a file or a byte slice.
pub trait Source {
    /// Total length in bytes.
    fn len(&self) -> u64;
    /// Fills `buf` with the bytes at `offset`; the range lies inside `len()`.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()>;
    /// Whether the source is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Source for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let start = usize::try_from(offset).map_err(|_| corrupt("offset out of range"))?;
        let src = start
            .checked_add(buf.len())
            .and_then(|end| self.get(start..end))
            .ok_or_else(|| corrupt(format!("read of {} bytes at offset {offset} is past the end", buf.len())))?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

/// A file opened for reading, with its length taken once at open.
pub struct FileSource {
    pub(crate) file: File,
    len: u64,
    path: String,
}

impl FileSource {
    /// Opens `path`.
    /// Opens `path`. Anything but a regular file (a FIFO, device, socket or directory) is
    /// refused without blocking: the open itself is non-blocking, since opening a FIFO for
    /// reading would otherwise wait forever for a writer.
    pub fn open(path: &Path) -> Result<FileSource> {
        let shown = path.display().to_string();
        let mut options = std::fs::OpenOptions::new();
        options.read(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
        let file = options.open(path).map_err(|e| Error::Io(format!("cannot open {shown}: {e}")))?;
        let meta = file.metadata().map_err(|e| Error::Io(format!("cannot stat {shown}: {e}")))?;
        if !meta.is_file() {
            return Err(Error::Io(format!("{shown} is not a regular file")));
        }
        // O_NONBLOCK means nothing to reads of a regular file; it is cleared all the same, so
        // the descriptor behaves as a plain open's would.
        #[cfg(unix)]
        {
            use std::os::unix::io::AsRawFd;
            let fd = file.as_raw_fd();
            // SAFETY: fcntl on a descriptor we own, with flag arguments only.
            unsafe {
                let flags = libc::fcntl(fd, libc::F_GETFL);
                if flags >= 0 {
                    libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
                }
            }
        }
        Ok(FileSource { file, len: meta.len(), path: shown })
    }
}

impl Source for FileSource {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let mut f = &self.file;
        f.seek(SeekFrom::Start(offset)).map_err(|e| Error::Io(format!("cannot seek in {}: {e}", self.path)))?;
        f.read_exact(buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                corrupt(format!("{} became shorter while it was read (at offset {offset})", self.path))
            }
            _ => Error::Io(format!("cannot read {}: {e}", self.path)),
        })
    }
}

/// One entry of the section table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectionEntry {
    /// The four-byte tag ("META", "RECS", ...).
    pub kind: [u8; 4],
    /// Offset of the first byte, a multiple of 64.
    pub offset: u64,
    /// Length in bytes (without padding).
    pub len: u64,
    /// CRC-32C of the section's bytes.
    pub crc: u32,
}

impl SectionEntry {
    /// The tag as text.
    pub fn name(&self) -> String {
        String::from_utf8_lossy(&self.kind).into_owned()
    }
}

/// The META section, decoded and checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Meta {
    /// Dimensions of the stored vectors; 0 when the index never had any (no graph).
    pub dim: usize,
    /// Options as the index was created (`options.dim` may be 0: taken from the first batch).
    /// The text options are the defaults here; version 2 keeps them in TEXT.
    pub options: IndexOptions,
    /// Layer-0 links per node.
    pub m0: usize,
    /// The kind of key, once the first record was added.
    pub key_kind: Option<KeyKind>,
    /// Records inserted so far (drives the level sampler).
    pub inserted: u64,
    /// Next automatic key.
    pub next_auto_key: u64,
    /// Slots ever handed out (the arena's high water mark).
    pub slots: u32,
    /// Stored records (keys).
    pub records: u32,
    /// The entry point and its level.
    pub entry: Option<(u32, u8)>,
    /// Version 2: where the fields of a RECS record lie.
    pub record_layout: Option<RecordLayout>,
    /// 32-bit words of the vector or code at the start of a RECS record (`dim` for f32).
    pub words: usize,
    /// The PQ codec's sub-spaces (version 3, dtype pq, once trained); 0 otherwise.
    pub codec_pq_m: usize,
}

impl Meta {
    /// Whether the file holds a trained codec (QCOD) and full-precision vectors (FULL).
    pub fn has_codec(&self) -> bool {
        self.options.dtype != Dtype::F32 && self.dim > 0
    }
}

/// What the header, the section table and META say about a file (all checksums of these
/// three verified; the other sections' checksums are verified when they are read).
#[derive(Clone, Debug)]
pub struct Layout {
    /// The format version.
    pub version: u32,
    /// Length of the file in bytes.
    pub file_len: u64,
    /// The section table.
    pub sections: Vec<SectionEntry>,
    /// The META section.
    pub meta: Meta,
}

impl Layout {
    /// The section of kind `kind` (every kind of the file's version is present).
    pub fn section(&self, kind: &[u8; 4]) -> &SectionEntry {
        self.sections.iter().find(|s| &s.kind == kind).expect("read_layout checked every kind of the version")
    }
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn check_zero(bytes: &[u8], what: &str) -> Result<()> {
    match bytes.iter().position(|&b| b != 0) {
        None => Ok(()),
        Some(i) => Err(corrupt(format!("{what}: byte {i} should be zero"))),
    }
}

/// Reads and checks the header, the section table and META.
pub fn read_layout(src: &(impl Source + ?Sized)) -> Result<Layout> {
    let file_len = src.len();
    let mut head = [0u8; HEADER_LEN];
    let have = file_len.min(HEADER_LEN as u64) as usize;
    src.read_at(0, &mut head[..have])?;
    let magic_have = have.min(MAGIC.len());
    if head[..magic_have] != MAGIC[..magic_have] {
        return Err(corrupt("not an OmenDB index file (its first bytes are not the OmenDB magic number)"));
    }
    if have < HEADER_LEN {
        return Err(corrupt(format!("truncated: the file is {file_len} bytes, shorter than the {HEADER_LEN}-byte header")));
    }
    let version = le_u32(&head, 8);
    let crc_ok = crc32c::crc32c(&head[..HEADER_LEN - 4]) == le_u32(&head, HEADER_LEN - 4);
    if !crc_ok {
        return Err(corrupt("header checksum mismatch (the first 64 bytes are damaged)"));
    }
    if version > NEWEST_VERSION {
        return Err(Error::UnsupportedVersion { found: version, supported: NEWEST_VERSION });
    }
    if version < OLDEST_VERSION {
        return Err(corrupt(format!("format version {version} does not exist")));
    }
    let kinds = sections_of(version);
    let header_len = le_u32(&head, 12);
    let stated_len = le_u64(&head, 16);
    let count = le_u32(&head, 24);
    let table_crc = le_u32(&head, 28);
    check_zero(&head[32..60], "header reserved bytes")?;
    if header_len as usize != HEADER_LEN {
        return Err(corrupt(format!("header length {header_len}, expected {HEADER_LEN}")));
    }
    if stated_len != file_len {
        return Err(if file_len < stated_len {
            corrupt(format!("truncated: the header says {stated_len} bytes, the file has {file_len}"))
        } else {
            corrupt(format!("the header says {stated_len} bytes, the file has {file_len} (bytes appended?)"))
        });
    }
    if count as usize != kinds.len() {
        return Err(corrupt(format!("{count} sections, format version {version} has {}", kinds.len())));
    }
    let table_end = (HEADER_LEN + kinds.len() * ENTRY_LEN) as u64;
    if file_len < table_end {
        return Err(corrupt("truncated inside the section table"));
    }
    let mut table = vec![0u8; kinds.len() * ENTRY_LEN];
    src.read_at(HEADER_LEN as u64, &mut table)?;
    if crc32c::crc32c(&table) != table_crc {
        return Err(corrupt("section table checksum mismatch"));
    }
    let mut sections = Vec::with_capacity(kinds.len());
    let mut expect_offset = align_up(table_end);
    let mut prev_end = table_end;
    for (i, want) in kinds.iter().enumerate() {
        let e = &table[i * ENTRY_LEN..(i + 1) * ENTRY_LEN];
        let kind: [u8; 4] = e[0..4].try_into().unwrap();
        if &kind != want {
            return Err(corrupt(format!(
                "section {i} is {:?}, expected {:?}",
                String::from_utf8_lossy(&kind),
                String::from_utf8_lossy(want)
            )));
        }
        check_zero(&e[4..8], "section flags")?;
        check_zero(&e[28..32], "section table reserved bytes")?;
        let entry = SectionEntry { kind, offset: le_u64(e, 8), len: le_u64(e, 16), crc: le_u32(e, 24) };
        if entry.offset != expect_offset {
            return Err(corrupt(format!("section {} at offset {}, expected {expect_offset}", entry.name(), entry.offset)));
        }
        let end = entry.offset.checked_add(entry.len).filter(|&end| end <= file_len).ok_or_else(|| {
            corrupt(format!("section {} ({} bytes at {}) runs past the end of the file", entry.name(), entry.len, entry.offset))
        })?;
        check_padding(src, prev_end, entry.offset)?;
        prev_end = end;
        expect_offset = align_up(end);
        sections.push(entry);
    }
    if expect_offset != file_len {
        return Err(corrupt(format!("the file is {file_len} bytes, its sections end at {expect_offset}")));
    }
    check_padding(src, prev_end, file_len)?;
    let meta_bytes = read_section(src, &sections[0])?;
    let meta = parse_meta(&meta_bytes, version)?;
    let layout = Layout { version, file_len, sections, meta };
    check_section_sizes(&layout)?;
    Ok(layout)
}

fn check_padding(src: &(impl Source + ?Sized), from: u64, to: u64) -> Result<()> {
    let mut pad = [0u8; ALIGN as usize];
    let n = (to - from) as usize; // < 64 by construction of the offsets
    src.read_at(from, &mut pad[..n])?;
    check_zero(&pad[..n], &format!("padding at offset {from}"))
}

/// Reads a section whole and checks its CRC. Its length was checked against the file's length
/// by `read_layout`, so the allocation is bounded by the file.
pub(crate) fn read_section(src: &(impl Source + ?Sized), e: &SectionEntry) -> Result<Vec<u8>> {
    let mut bytes = vec![0u8; e.len as usize];
    src.read_at(e.offset, &mut bytes)?;
    if crc32c::crc32c(&bytes) != e.crc {
        return Err(corrupt(format!("section {} checksum mismatch", e.name())));
    }
    Ok(bytes)
}

/// Checks that a version 2 record layout is one a reader can use: fields in order, aligned,
/// inside the stride, and the stride a multiple of 64 no larger than needed plus 64. From
/// version 5 the lock bytes may also sit between the list and the upper reference.
fn check_record_layout(l: &RecordLayout, dim: usize, m0: usize, version: u32) -> Result<()> {
    let min_upper = l.links.saturating_add(4 * (1 + m0));
    let lock_ok = if l.is_packed() {
        version >= PACKED_RECORDS_VERSION && l.lock >= min_upper && l.lock + 3 <= l.upper
    } else {
        l.lock >= l.upper + 8
    };
    let ok = l.links >= dim * 4
        && l.links.is_multiple_of(4)
        && l.upper.is_multiple_of(8)
        && l.upper >= min_upper
        && lock_ok
        && l.upper + 8 <= l.stride
        && l.lock + 3 <= l.stride
        && l.stride.is_multiple_of(64)
        && l.stride <= (4 * (dim + 1 + m0) + 16).div_ceil(64) * 64 + 64;
    if ok {
        Ok(())
    } else {
        Err(corrupt(format!("META: the record layout {l:?} does not fit dim {dim} and m0 {m0}")))
    }
}

fn parse_meta(b: &[u8], version: u32) -> Result<Meta> {
    if b.len() != META_LEN {
        return Err(corrupt(format!("META is {} bytes, expected {META_LEN}", b.len())));
    }
    let mut c = Cursor::new(b, "META");
    let dim = c.u32()? as usize;
    let options_dim = c.u32()? as usize;
    let metric = Metric::from_u32(c.u32()?).map_err(|e| corrupt(format!("META: {e}")))?;
    let m = c.u32()? as usize;
    let m0 = c.u32()? as usize;
    let ef_construction = c.u32()? as usize;
    let ef_search = c.u32()? as usize;
    let key_kind = match c.u32()? {
        0 => None,
        1 => Some(KeyKind::U64),
        2 => Some(KeyKind::Str),
        k => return Err(corrupt(format!("META: unknown key kind {k}"))),
    };
    let seed = c.u64()?;
    let inserted = c.u64()?;
    let next_auto_key = c.u64()?;
    let slots = c.u32()?;
    let records = c.u32()?;
    let entry_id = c.u32()?;
    let entry_level = c.u32()?;
    let stride_a = c.u32()? as usize;
    let stride_b = c.u32()? as usize;
    let record_layout = if version >= 2 {
        let upper = c.u32()? as usize;
        let lock = c.u32()? as usize;
        Some(RecordLayout { stride: stride_a, links: stride_b, upper, lock })
    } else {
        None
    };
    let (mut dtype, mut rerank, mut pq_m, mut codec_pq_m) = (Dtype::F32, IndexOptions::default().rerank, 0, 0);
    if version >= 3 {
        dtype = Dtype::from_u32(c.u32()?).map_err(|e| corrupt(format!("META: {e}")))?;
        rerank = c.u32()? as usize;
        pq_m = c.u32()? as usize;
        codec_pq_m = c.u32()? as usize;
    }
    check_zero(c.take(META_LEN - c.pos)?, "META reserved bytes")?;

    let options = IndexOptions {
        dim: options_dim,
        metric,
        m,
        ef_construction,
        ef_search,
        seed,
        dtype,
        rerank,
        pq_m,
        raw_storage: RawStorage::Memory,
        ..Default::default()
    };
    options.validate().map_err(|e| corrupt(format!("META: {e}")))?;
    let trained = dtype != Dtype::F32 && dim > 0;
    let pq_ok = if dtype == Dtype::Pq && trained {
        crate::quant::pq::check_shape(dim, codec_pq_m).ok() == Some(codec_pq_m)
    } else {
        codec_pq_m == 0
    };
    if !pq_ok {
        return Err(corrupt(format!("META: {codec_pq_m} pq sub-spaces do not fit dim {dim}")));
    }
    let words = if trained { dtype.code_words(dim, codec_pq_m) } else { dim };
    if dim > MAX_DIM {
        return Err(corrupt(format!("META: dim {dim} is above the limit of {MAX_DIM}")));
    }
    // A dtype that learns from data has no vectors (dim 0) until its first batch.
    if options_dim != 0 && options_dim != dim && !(dim == 0 && dtype.min_training_vectors() > 0) {
        return Err(corrupt(format!("META: created with dim {options_dim}, vectors have {dim}")));
    }
    if m0 != Params::new(m, ef_construction).m0 {
        return Err(corrupt(format!("META: m0 = {m0} does not match m = {m}")));
    }
    match &record_layout {
        Some(l) => check_record_layout(l, words, m0, version)?,
        None if version >= 2 => unreachable!("version 2 META always has a record layout"),
        None => {
            if stride_a != vector_stride(dim) || stride_b != node_stride(m0) {
                return Err(corrupt("META: record strides do not match dim and m"));
            }
        }
    }
    if dim == 0 && (slots != 0 || records != 0 || key_kind.is_some()) {
        return Err(corrupt("META: records without dimensions"));
    }
    if records > slots {
        return Err(corrupt(format!("META: {records} records in {slots} slots")));
    }
    if records > 0 && key_kind.is_none() {
        return Err(corrupt("META: records without a key kind"));
    }
    let entry = if entry_id == NO_ENTRY {
        if entry_level != 0 {
            return Err(corrupt("META: entry level without an entry point"));
        }
        None
    } else {
        if entry_id >= slots || entry_level > MAX_LEVEL as u32 {
            return Err(corrupt(format!("META: entry point {entry_id} at level {entry_level} is out of range")));
        }
        Some((entry_id, entry_level as u8))
    };
    Ok(Meta { dim, options, m0, key_kind, inserted, next_auto_key, slots, records, entry, record_layout, words, codec_pq_m })
}

fn check_section_sizes(layout: &Layout) -> Result<()> {
    let meta = &layout.meta;
    let slots = meta.slots as u64;
    let want = |kind: &[u8; 4], len: Option<u64>| -> Result<()> {
        let s = layout.section(kind);
        if len != Some(s.len) {
            return Err(corrupt(format!("section {} is {} bytes, META implies {len:?}", s.name(), s.len)));
        }
        Ok(())
    };
    match &meta.record_layout {
        Some(l) => {
            want(b"RECS", slots.checked_mul(l.stride as u64))?;
            if !layout.section(b"UPPR").len.is_multiple_of(upper_bytes(1, meta.options.m)) {
                return Err(corrupt("section UPPR is not a whole number of lists"));
            }
        }
        None => {
            want(b"NODE", slots.checked_mul(node_stride(meta.m0) as u64))?;
            want(b"VECS", slots.checked_mul(vector_stride(meta.dim) as u64))?;
            if !layout.section(b"UPPR").len.is_multiple_of(4) {
                return Err(corrupt("section UPPR is not a whole number of u32"));
            }
        }
    }
    if layout.version >= 3 {
        let (state, full) = if meta.has_codec() {
            let d = meta.options.dtype;
            // Format 3 binary codecs keep their thresholds only.
            let state = if d == Dtype::Binary && layout.version == 3 { meta.dim } else { d.state_len(meta.dim, meta.codec_pq_m) };
            ((state * 4) as u64, slots.checked_mul(meta.dim as u64 * 4))
        } else {
            (0, Some(0))
        };
        want(b"QCOD", Some(state))?;
        want(b"FULL", full)?;
    }
    let keys = layout.section(b"KEYS");
    if meta.key_kind == Some(KeyKind::U64) {
        want(b"KEYS", Some(meta.records as u64 * 16))?;
    } else if keys.len < meta.records as u64 * 8 {
        return Err(corrupt("section KEYS is too short for its records"));
    }
    for kind in [b"FREE", b"DELS"] {
        let s = layout.section(kind);
        if !s.len.is_multiple_of(4) {
            return Err(corrupt(format!("section {} is not a whole number of u32", s.name())));
        }
        if s.len / 4 > slots {
            return Err(corrupt("more free or deleted slots than slots"));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Reading: the parts shared by load (both versions) and the memory-mapped open
// ---------------------------------------------------------------------------------------

fn u32_list(bytes: &[u8]) -> Vec<u32> {
    le_u32s(bytes).collect()
}

/// The little-endian u32s of `b` (a whole number of them).
pub(crate) fn le_u32s(b: &[u8]) -> impl Iterator<Item = u32> + '_ {
    b.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap()))
}

/// One version 2 record, checked on its own (see [`check_record`]).
pub(crate) struct RecordView<'a> {
    pub state: u8,
    pub level: u8,
    /// The layer-0 links, `count * 4` bytes.
    pub links: &'a [u8],
}

/// Checks record `id` of a version 2 RECS section: a free slot is all zero; otherwise the
/// lock byte is 0, the state and level are in range, the count is at most m0, every link names
/// another slot below `slots`, bytes past the count and between fields are zero, the vector
/// is finite, and the upper reference is 0 for level 0 and `1 + *upper_next` otherwise
/// (`*upper_next` then moves past the node's lists). Enough for the record to be used in place.
pub(crate) fn check_record<'a>(id: u32, rec: &'a [u8], meta: &Meta, l: &RecordLayout, upper_next: &mut u64) -> Result<RecordView<'a>> {
    let state = rec[l.lock + 2];
    let level = rec[l.lock + 1];
    let bad = |what: &str| corrupt(format!("RECS: slot {id} {what}"));
    if state == STATE_FREE {
        check_zero(rec, &format!("RECS: free slot {id}"))?;
        return Ok(RecordView { state, level: 0, links: &[] });
    }
    if state > STATE_DELETED || level > MAX_LEVEL || rec[l.lock] != 0 {
        return Err(bad(&format!("has a bad state {state}, level {level} or lock byte")));
    }
    let count = le_u32(rec, l.links) as usize;
    if count > meta.m0 {
        return Err(bad(&format!("has {count} links, at most {}", meta.m0)));
    }
    let links_end = l.links + 4 + 4 * count;
    let links = &rec[l.links + 4..links_end];
    for c in links.chunks_exact(4) {
        let n = u32::from_le_bytes(c.try_into().unwrap());
        if n >= meta.slots || n == id {
            return Err(bad(&format!("links to {n}")));
        }
    }
    check_zero(&rec[meta.words * 4..l.links], "RECS: bytes after a vector")?;
    if l.is_packed() {
        check_zero(&rec[links_end..l.lock], "RECS: bytes after a link list")?;
        check_zero(&rec[l.lock + 3..l.upper], "RECS: bytes after a state")?;
        check_zero(&rec[l.upper + 8..], "RECS: bytes after the upper reference")?;
    } else {
        check_zero(&rec[links_end..l.upper], "RECS: bytes after a link list")?;
        check_zero(&rec[l.upper + 8..l.lock], "RECS: bytes after the upper reference")?;
        check_zero(&rec[l.lock + 3..], "RECS: bytes after a state")?;
    }
    let upper = le_u64(rec, l.upper);
    if level == 0 {
        if upper != 0 {
            return Err(bad("has upper lists but level 0"));
        }
    } else {
        if upper != 1 + *upper_next {
            return Err(bad(&format!("refers to upper lists at {upper}, expected {}", 1 + *upper_next)));
        }
        *upper_next += upper_bytes(level, meta.options.m);
    }
    // A code's words are bit patterns, not numbers: only f32 vectors are checked.
    if meta.options.dtype == Dtype::F32 {
        check_stored_vector(le_f32s(&rec[..meta.dim * 4]), meta.options.metric).map_err(|e| bad(&e))?;
    }
    Ok(RecordView { state, level, links })
}

/// Checks a version 2 UPPR section list by list: each count at most m, each link below
/// `slots`, link slots past the count zero.
pub(crate) fn check_upper_lists(bytes: &[u8], meta: &Meta) -> Result<()> {
    let width = 4 * (1 + meta.options.m);
    for (i, list) in bytes.chunks(width).enumerate() {
        if list.len() != width {
            return Err(corrupt("UPPR ends inside a list"));
        }
        let count = le_u32(list, 0) as usize;
        if count > meta.options.m {
            return Err(corrupt(format!("UPPR: list {i} has {count} links, at most {}", meta.options.m)));
        }
        for c in list[4..4 + 4 * count].chunks_exact(4) {
            if u32::from_le_bytes(c.try_into().unwrap()) >= meta.slots {
                return Err(corrupt(format!("UPPR: list {i} links past the last slot")));
            }
        }
        check_zero(&list[4 + 4 * count..], "UPPR: link slots past a count")?;
    }
    Ok(())
}

/// The rules every link list of a file must follow, which `load` and `open` both check: each
/// link names another slot that is not free, whose level reaches the list's layer, at most
/// once per list (a repeat is seen through `stamp`, which holds the number of the list that
/// saw a slot last).
pub(crate) struct LinkChecker {
    stamp: Vec<usize>,
    list_no: usize,
}

impl LinkChecker {
    pub(crate) fn new(slots: usize) -> LinkChecker {
        LinkChecker { stamp: vec![usize::MAX; slots], list_no: 0 }
    }

    /// Checks the list of slot `id` on `layer`; links are below the slot count (checked by
    /// the caller) or reported as bad.
    pub(crate) fn check(&mut self, id: usize, layer: usize, links: impl Iterator<Item = u32>, states: &[u8], levels: &[u8]) -> Result<()> {
        for n in links {
            let ok = n as usize != id
                && states.get(n as usize).is_some_and(|&s| s != STATE_FREE)
                && levels[n as usize] as usize >= layer
                && self.stamp[n as usize] != self.list_no;
            if !ok {
                return Err(corrupt(format!("slot {id} has a bad link to {n} on layer {layer}")));
            }
            self.stamp[n as usize] = self.list_no;
        }
        self.list_no += 1;
        Ok(())
    }
}

/// Checks the entry point against the slots' states and levels.
pub(crate) fn check_entry(meta: &Meta, states: &[u8], levels: &[u8]) -> Result<()> {
    match meta.entry {
        Some((e, l)) => {
            if states[e as usize] == STATE_FREE || levels[e as usize] != l {
                return Err(corrupt(format!("the entry point {e} is not a used slot of level {l}")));
            }
        }
        None => {
            if states.contains(&STATE_LIVE) {
                return Err(corrupt("live records but no entry point"));
            }
        }
    }
    Ok(())
}

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

/// Metadata, texts and the full options of the index: from MDAT and TEXT in version 2;
/// version 1 has neither, so every record gets an empty metadata object (so NOT filters see
/// it) and no text, under the default text options.
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
    let meta = MetadataStore::decode(&mdat, layout.meta.records as usize, live)?;
    let text_bytes = read_section(src, layout.section(b"TEXT"))?;
    let (text, tokenizer, bm25) = TextIndex::decode(&text_bytes, live)?;
    options.text = tokenizer;
    options.bm25 = bm25;
    Ok((meta, text, options))
}

// ---------------------------------------------------------------------------------------
// Reading: load into memory
// ---------------------------------------------------------------------------------------

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

/// Checks a FULL row: finite for a used slot, zero for a free one.
pub(crate) fn check_full_row(id: usize, row: &[u8], state: u8, metric: Metric) -> Result<()> {
    if state == STATE_FREE {
        return check_zero(row, &format!("FULL: the row of free slot {id}"));
    }
    check_stored_vector(le_f32s(row), metric).map_err(|e| corrupt(format!("FULL: slot {id} {e}")))
}

/// The little-endian f32s of `b` (a whole number of them).
fn le_f32s(b: &[u8]) -> impl Iterator<Item = f32> + '_ {
    b.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()))
}

/// Checks a stored vector against what an add could have stored (`Index::check_vectors`, then
/// cosine's normalisation): finite; under L2 and inner product no component beyond
/// `MAX_COMPONENT` (a larger one overflows f32 distances: searches would return infinities);
/// under cosine unit length (within 1e-3, in f64), the form every cosine vector is stored in,
/// so a dot product with a unit query stays within [-1, 1]. The error says what is wrong.
pub(crate) fn check_stored_vector(v: impl Iterator<Item = f32>, metric: Metric) -> std::result::Result<(), String> {
    let mut norm2 = 0f64;
    for (c, x) in v.enumerate() {
        if !x.is_finite() {
            return Err(format!("has a non-finite value at component {c}"));
        }
        if metric != Metric::Cosine && x.abs() > MAX_COMPONENT {
            return Err(format!("has {x} at component {c}, beyond the limit of {MAX_COMPONENT}"));
        }
        norm2 += x as f64 * x as f64;
    }
    if metric == Metric::Cosine && (norm2 - 1.0).abs() > 1e-3 {
        return Err(format!("has squared length {norm2} under cosine, where vectors are stored normalised"));
    }
    Ok(())
}

/// The graph's space: a quantized one over `codec` when there is one.
pub(crate) fn space_of(metric: Metric, codec: Option<Codec>) -> Space {
    match codec {
        Some(c) => Space::quantized(metric, std::sync::Arc::new(c)),
        None => Space::new(metric),
    }
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
        let graph = Graph::new(meta.dim, params, space_of(meta.options.metric, codec));
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
        graph.restore_state(meta.entry, dels);
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

/// Little-endian f32s from the start of `bytes` into `out` (as many as `out` holds).
fn decode_f32s(bytes: &[u8], out: &mut [f32]) {
    for (x, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
        *x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
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

/// Calls `visit(id, record)` for every RECS record, read in blocks; checks the section's CRC
/// once every block was read (the caller keeps nothing before that succeeds).
fn for_each_record(src: &(impl Source + ?Sized), layout: &Layout, mut visit: impl FnMut(u32, &[u8]) -> Result<()>) -> Result<()> {
    let Some(l) = &layout.meta.record_layout else { return Ok(()) };
    for_each_row(src, layout.section(b"RECS"), l.stride, layout.meta.slots as usize, |id, rec| visit(id as u32, rec))
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
