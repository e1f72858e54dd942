//! The index file format, version 1: layout, checksums, writing and reading. The byte-by-byte
//! description is `docs/format.md`; this file is its implementation and the two must agree.
//!
//! ```text
//! [ header: 64 bytes ][ section table: 7 x 32 bytes ][ pad ]
//! [ META ][ pad ][ NODE ][ pad ][ UPPR ][ pad ][ KEYS ][ pad ][ FREE ][ pad ][ DELS ][ pad ][ VECS ][ pad ]
//! ```
//! Every section starts on a 64-byte boundary and the file ends on one; padding is zero.
//! Integers and floats are little-endian whatever the host. The header carries a CRC-32C of
//! itself and of the section table; the table carries a CRC-32C of each section. So every
//! byte of a file is covered by a checksum or must be zero, and any single flipped bit or any
//! truncation is reported as [`Error::Corrupt`].
//!
//! Reading never trusts a number from the file before checking it: every count is checked
//! against the section that holds the data (and so against the file's real length) before
//! anything is allocated, and every slot id, level, state, link and key is validated, so a
//! damaged or hostile file yields an error, never a panic or a huge allocation.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::error::{Error, Result};
use crate::hnsw::graph::MAX_LEVEL;
use crate::hnsw::{Graph, Params};
use crate::index::{IndexOptions, MAX_DIM};
use crate::keys::{KeyKind, KeyMap, KeyRef, MAX_KEY_BYTES, NO_KEY};
use crate::metric::{Metric, Space};
use crate::storage::arena::{STATE_DELETED, STATE_FREE, STATE_LIVE};

/// The first 8 bytes of every index file: a non-ASCII byte (catches 7-bit transfers), the
/// name, and a line feed (catches newline conversion).
pub const MAGIC: [u8; 8] = *b"\x89OMENDB\n";
/// The format version this build writes, and the only one it reads.
pub const FORMAT_VERSION: u32 = 1;
/// Bytes in the header. Its layout is the same in every version.
pub const HEADER_LEN: usize = 64;
/// Bytes per section table entry.
pub const ENTRY_LEN: usize = 32;
/// Sections and the end of the file are aligned to this many bytes.
pub const ALIGN: u64 = 64;
/// Bytes in the META section.
pub const META_LEN: usize = 128;

/// The sections of a version 1 file, in the order they appear in the table and the file.
pub const SECTIONS: [[u8; 4]; 7] = [*b"META", *b"NODE", *b"UPPR", *b"KEYS", *b"FREE", *b"DELS", *b"VECS"];
const META: usize = 0;
const NODE: usize = 1;
const UPPR: usize = 2;
const KEYS: usize = 3;
const FREE: usize = 4;
const DELS: usize = 5;
const VECS: usize = 6;

/// `entry_id` of an index without an entry point.
const NO_ENTRY: u32 = u32::MAX;
/// Vectors are read and written this many bytes at a time (a whole number of rows, at least one).
const IO_BLOCK: usize = 1 << 20;

fn corrupt(msg: impl Into<String>) -> Error {
    Error::Corrupt(msg.into())
}

fn align_up(n: u64) -> u64 {
    n.div_ceil(ALIGN) * ALIGN
}

/// Bytes per row of the VECS section: the vector, zero-padded to a multiple of 64 so that
/// every row of a mapped file starts on a cache line (as records do in the arena).
pub fn vector_stride(dim: usize) -> usize {
    (dim * 4).div_ceil(64) * 64
}

/// Bytes per record of the NODE section: state, level, reserved, then the layer-0 list
/// (count and `m0` link slots) as the arena holds it.
pub fn node_stride(m0: usize) -> usize {
    4 * (2 + m0)
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
}

struct Le(Vec<u8>);

impl Le {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
}

fn u32_of(v: usize, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::Internal(format!("{what} = {v} does not fit the file format's u32")))
}

fn io_err(e: std::io::Error) -> Error {
    Error::Io(format!("write: {e}"))
}

/// Writes the index in `snap` to `out` in format version 1; returns the bytes written.
pub(crate) fn write_index(snap: &Snapshot<'_>, out: &mut dyn Write) -> Result<u64> {
    let opts = snap.options;
    let graph = snap.graph;
    let dim = graph.map_or(0, |g| g.store.dim());
    let params = Params::new(opts.m, opts.ef_construction);
    let m0 = graph.map_or(params.m0, |g| g.params.m0);
    let slots = graph.map_or(0, |g| g.store.high_water());
    let vstride = vector_stride(dim);
    let nstride = node_stride(m0);
    let mut link_buf = Vec::new();

    // NODE and UPPR.
    let mut nodes = Le(Vec::with_capacity(slots as usize * nstride));
    let mut upper = Le(Vec::new());
    if let Some(g) = graph {
        for id in 0..slots {
            let state = g.store.state(id);
            if state == STATE_FREE {
                nodes.0.resize(nodes.0.len() + nstride, 0);
                continue;
            }
            let level = g.store.level(id);
            nodes.u8(state);
            nodes.u8(level);
            nodes.u16(0);
            g.copy_links(id, 0, &mut link_buf);
            nodes.u32(link_buf.len() as u32);
            for i in 0..m0 {
                nodes.u32(link_buf.get(i).copied().unwrap_or(0));
            }
            for l in 1..=level as usize {
                g.copy_links(id, l, &mut link_buf);
                upper.u32(link_buf.len() as u32);
                for &n in &link_buf {
                    upper.u32(n);
                }
            }
        }
    }

    // KEYS.
    let mut keys = Le(Vec::new());
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
    let mut free = Le(Vec::new());
    let mut dels = Le(Vec::new());
    if let Some(g) = graph {
        for id in g.store.free_list() {
            free.u32(id);
        }
        for id in g.pending_delete_list() {
            dels.u32(id);
        }
    }

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
    meta.u32(u32_of(vstride, "vector stride")?);
    meta.u32(u32_of(nstride, "node stride")?);
    meta.0.resize(META_LEN, 0);

    // VECS: its checksum first (a pass over memory), then the bytes are streamed.
    let write_rows = |sink: &mut dyn FnMut(&[u8]) -> Result<()>| -> Result<()> {
        let Some(g) = graph else { return Ok(()) };
        let rows_per_block = (IO_BLOCK / vstride.max(1)).max(1);
        let mut block = Vec::with_capacity(rows_per_block * vstride);
        for id in 0..slots {
            let start = block.len();
            block.resize(start + vstride, 0);
            if g.store.state(id) != STATE_FREE {
                for (dst, x) in block[start..].chunks_exact_mut(4).zip(g.store.vector(id)) {
                    dst.copy_from_slice(&x.to_le_bytes());
                }
            }
            if block.len() >= rows_per_block * vstride {
                sink(&block)?;
                block.clear();
            }
        }
        if !block.is_empty() {
            sink(&block)?;
        }
        Ok(())
    };
    let mut vecs_crc = 0u32;
    write_rows(&mut |b| {
        vecs_crc = crc32c::crc32c_append(vecs_crc, b);
        Ok(())
    })?;
    let vecs_len = slots as u64 * vstride as u64;

    // The table and the header.
    let small: [&[u8]; 6] = [&meta.0, &nodes.0, &upper.0, &keys.0, &free.0, &dels.0];
    let mut table = Le(Vec::with_capacity(SECTIONS.len() * ENTRY_LEN));
    let mut offset = align_up((HEADER_LEN + SECTIONS.len() * ENTRY_LEN) as u64);
    let mut offsets = [0u64; 7];
    for (i, kind) in SECTIONS.iter().enumerate() {
        let (len, crc) = if i == VECS { (vecs_len, vecs_crc) } else { (small[i].len() as u64, crc32c::crc32c(small[i])) };
        offsets[i] = offset;
        table.0.extend_from_slice(kind);
        table.u32(0);
        table.u64(offset);
        table.u64(len);
        table.u32(crc);
        table.u32(0);
        offset = align_up(offset + len);
    }
    let file_len = offset;
    let mut header = Le(Vec::with_capacity(HEADER_LEN));
    header.0.extend_from_slice(&MAGIC);
    header.u32(FORMAT_VERSION);
    header.u32(HEADER_LEN as u32);
    header.u64(file_len);
    header.u32(SECTIONS.len() as u32);
    header.u32(crc32c::crc32c(&table.0));
    header.0.resize(HEADER_LEN - 4, 0);
    let header_crc = crc32c::crc32c(&header.0);
    header.u32(header_crc);

    let mut written = 0u64;
    let mut put = |b: &[u8], written: &mut u64| -> Result<()> {
        out.write_all(b).map_err(io_err)?;
        *written += b.len() as u64;
        Ok(())
    };
    let zeros = [0u8; ALIGN as usize];
    put(&header.0, &mut written)?;
    put(&table.0, &mut written)?;
    for i in 0..SECTIONS.len() {
        put(&zeros[..(offsets[i] - written) as usize], &mut written)?;
        if i == VECS {
            write_rows(&mut |b| put(b, &mut written))?;
        } else {
            put(small[i], &mut written)?;
        }
    }
    put(&zeros[..(file_len - written) as usize], &mut written)?;
    debug_assert_eq!(written, file_len);
    Ok(written)
}

// ---------------------------------------------------------------------------------------
// Reading
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
    file: File,
    len: u64,
    path: String,
}

impl FileSource {
    /// Opens `path`.
    pub fn open(path: &Path) -> Result<FileSource> {
        let shown = path.display().to_string();
        let file = File::open(path).map_err(|e| Error::Io(format!("cannot open {shown}: {e}")))?;
        let meta = file.metadata().map_err(|e| Error::Io(format!("cannot stat {shown}: {e}")))?;
        if !meta.is_file() {
            return Err(Error::Io(format!("{shown} is not a regular file")));
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

/// A little-endian reader over one section's bytes; running past the end is corruption.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Cursor<'a> {
    fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Cursor { bytes, pos: 0, what }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| {
            corrupt(format!("section {} ends inside a record (offset {} + {n} bytes)", self.what, self.pos))
        })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn done(&self) -> bool {
        self.pos == self.bytes.len()
    }
}

/// One entry of the section table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectionEntry {
    /// The four-byte tag ("META", "NODE", ...).
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
}

/// What the header, the section table and META say about a file (all checksums of these
/// three verified; the other sections' checksums are verified by [`read_index`]).
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
    if version != FORMAT_VERSION {
        if version > FORMAT_VERSION {
            return Err(Error::UnsupportedVersion { found: version, supported: FORMAT_VERSION });
        }
        return Err(corrupt(format!("format version {version} does not exist")));
    }
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
    if count as usize != SECTIONS.len() {
        return Err(corrupt(format!("{count} sections, format version 1 has {}", SECTIONS.len())));
    }
    let table_end = (HEADER_LEN + SECTIONS.len() * ENTRY_LEN) as u64;
    if file_len < table_end {
        return Err(corrupt("truncated inside the section table"));
    }
    let mut table = vec![0u8; SECTIONS.len() * ENTRY_LEN];
    src.read_at(HEADER_LEN as u64, &mut table)?;
    if crc32c::crc32c(&table) != table_crc {
        return Err(corrupt("section table checksum mismatch"));
    }
    let mut sections = Vec::with_capacity(SECTIONS.len());
    let mut expect_offset = align_up(table_end);
    let mut prev_end = table_end;
    for (i, want) in SECTIONS.iter().enumerate() {
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
    let meta_bytes = read_section(src, &sections[META])?;
    let meta = parse_meta(&meta_bytes)?;
    check_section_sizes(&meta, &sections)?;
    Ok(Layout { version, file_len, sections, meta })
}

fn check_padding(src: &(impl Source + ?Sized), from: u64, to: u64) -> Result<()> {
    let mut pad = [0u8; ALIGN as usize];
    let n = (to - from) as usize; // < 64 by construction of the offsets
    src.read_at(from, &mut pad[..n])?;
    check_zero(&pad[..n], &format!("padding at offset {from}"))
}

/// Reads a (non-vector) section whole and checks its CRC. Its length was checked against the
/// file's length by `read_layout`, so the allocation is bounded by the file.
fn read_section(src: &(impl Source + ?Sized), e: &SectionEntry) -> Result<Vec<u8>> {
    let mut bytes = vec![0u8; e.len as usize];
    src.read_at(e.offset, &mut bytes)?;
    if crc32c::crc32c(&bytes) != e.crc {
        return Err(corrupt(format!("section {} checksum mismatch", e.name())));
    }
    Ok(bytes)
}

fn parse_meta(b: &[u8]) -> Result<Meta> {
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
    let vstride = c.u32()? as usize;
    let nstride = c.u32()? as usize;
    check_zero(c.take(META_LEN - c.pos)?, "META reserved bytes")?;

    let options = IndexOptions { dim: options_dim, metric, m, ef_construction, ef_search, seed, ..Default::default() };
    options.validate().map_err(|e| corrupt(format!("META: {e}")))?;
    if dim > MAX_DIM {
        return Err(corrupt(format!("META: dim {dim} is above the limit of {MAX_DIM}")));
    }
    if options_dim != 0 && options_dim != dim {
        return Err(corrupt(format!("META: created with dim {options_dim}, vectors have {dim}")));
    }
    if m0 != Params::new(m, ef_construction).m0 {
        return Err(corrupt(format!("META: m0 = {m0} does not match m = {m}")));
    }
    if vstride != vector_stride(dim) || nstride != node_stride(m0) {
        return Err(corrupt("META: record strides do not match dim and m"));
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
    Ok(Meta { dim, options, m0, key_kind, inserted, next_auto_key, slots, records, entry })
}

fn check_section_sizes(meta: &Meta, s: &[SectionEntry]) -> Result<()> {
    let slots = meta.slots as u64;
    let want = |i: usize, len: Option<u64>| -> Result<()> {
        if len != Some(s[i].len) {
            return Err(corrupt(format!("section {} is {} bytes, META implies {len:?}", s[i].name(), s[i].len)));
        }
        Ok(())
    };
    want(NODE, slots.checked_mul(node_stride(meta.m0) as u64))?;
    want(VECS, slots.checked_mul(vector_stride(meta.dim) as u64))?;
    if meta.key_kind == Some(KeyKind::U64) {
        want(KEYS, Some(meta.records as u64 * 16))?;
    } else if s[KEYS].len < meta.records as u64 * 8 {
        return Err(corrupt("section KEYS is too short for its records"));
    }
    for i in [UPPR, FREE, DELS] {
        if !s[i].len.is_multiple_of(4) {
            return Err(corrupt(format!("section {} is not a whole number of u32", s[i].name())));
        }
    }
    if s[FREE].len / 4 > slots || s[DELS].len / 4 > slots {
        return Err(corrupt("more free or deleted slots than slots"));
    }
    Ok(())
}

/// One slot as read from NODE and UPPR.
struct NodeImage {
    state: u8,
    level: u8,
    /// `lists[l]`: links on layer l (0..=level).
    lists: Vec<Vec<u32>>,
}

/// An index read back from a file, for `Index` to take over.
pub(crate) struct Restored {
    pub options: IndexOptions,
    pub graph: Option<Graph>,
    pub keys: KeyMap,
    pub inserted: u64,
    pub next_auto_key: u64,
}

fn u32_list(bytes: &[u8]) -> Vec<u32> {
    bytes.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect()
}

/// Reads a whole index, checking every checksum and every structural rule (see the module
/// doc). Nothing in the file can make this panic or allocate beyond a small multiple of the
/// file's length (plus the index itself).
pub(crate) fn read_index(src: &(impl Source + ?Sized)) -> Result<Restored> {
    let layout = read_layout(src)?;
    let meta = &layout.meta;
    let sec = &layout.sections;
    let slots = meta.slots as usize;
    let params = Params::new(meta.options.m, meta.options.ef_construction);

    // NODE and UPPR.
    let node_bytes = read_section(src, &sec[NODE])?;
    let upper_bytes = read_section(src, &sec[UPPR])?;
    let mut nodes = Vec::with_capacity(slots);
    let mut upper = Cursor::new(&upper_bytes, "UPPR");
    for (id, rec) in node_bytes.chunks_exact(node_stride(meta.m0)).enumerate() {
        let mut c = Cursor::new(rec, "NODE");
        let state = c.u8()?;
        let level = c.u8()?;
        let reserved = c.u16()?;
        let count = c.u32()? as usize;
        let raw = u32_list(c.take(4 * meta.m0)?);
        if reserved != 0 || state > STATE_DELETED || level > MAX_LEVEL || count > meta.m0 {
            return Err(corrupt(format!("NODE: slot {id} has a bad header (state {state}, level {level}, {count} links)")));
        }
        if raw[count..].iter().any(|&x| x != 0) {
            return Err(corrupt(format!("NODE: slot {id} has stray links past its count")));
        }
        if state == STATE_FREE && (level != 0 || count != 0) {
            return Err(corrupt(format!("NODE: free slot {id} has a level or links")));
        }
        let mut lists = Vec::with_capacity(level as usize + 1);
        lists.push(raw[..count].to_vec());
        if state != STATE_FREE {
            for l in 1..=level as usize {
                let n = upper.u32()? as usize;
                if n > params.m {
                    return Err(corrupt(format!("UPPR: slot {id} has {n} links on layer {l}, at most {}", params.m)));
                }
                lists.push(u32_list(upper.take(4 * n)?));
            }
        }
        nodes.push(NodeImage { state, level, lists });
    }
    if !upper.done() {
        return Err(corrupt("UPPR has bytes that belong to no node"));
    }
    for (id, node) in nodes.iter().enumerate() {
        for (l, links) in node.lists.iter().enumerate() {
            for (i, &n) in links.iter().enumerate() {
                let target = nodes.get(n as usize);
                if n as usize == id
                    || target.is_none_or(|t| t.state == STATE_FREE || (t.level as usize) < l)
                    || links[..i].contains(&n)
                {
                    return Err(corrupt(format!("slot {id} has a bad link to {n} on layer {l}")));
                }
            }
        }
    }
    match meta.entry {
        Some((e, l)) => {
            let node = &nodes[e as usize];
            if node.state == STATE_FREE || node.level != l {
                return Err(corrupt(format!("the entry point {e} is not a used slot of level {l}")));
            }
        }
        None => {
            if nodes.iter().any(|n| n.state == STATE_LIVE) {
                return Err(corrupt("live records but no entry point"));
            }
        }
    }

    // FREE and DELS: exactly the slots in those states, each once.
    let free = u32_list(&read_section(src, &sec[FREE])?);
    let dels = u32_list(&read_section(src, &sec[DELS])?);
    for (list, state, name) in [(&free, STATE_FREE, "FREE"), (&dels, STATE_DELETED, "DELS")] {
        let mut seen = HashSet::with_capacity(list.len());
        for &id in list.iter() {
            if nodes.get(id as usize).is_none_or(|n| n.state != state) || !seen.insert(id) {
                return Err(corrupt(format!("{name} lists slot {id}, which is not a slot in that state (or twice)")));
            }
        }
        if nodes.iter().filter(|n| n.state == state).count() != list.len() {
            return Err(corrupt(format!("{name} does not list every slot in that state")));
        }
    }

    // KEYS: one per live slot.
    let key_bytes = read_section(src, &sec[KEYS])?;
    let mut keys = KeyMap::default();
    keys.restore_kind(meta.key_kind);
    let mut c = Cursor::new(&key_bytes, "KEYS");
    for _ in 0..meta.records {
        let slot = c.u32()?;
        let key_err = |what: &str| corrupt(format!("KEYS: the key of slot {slot} {what}"));
        if nodes.get(slot as usize).is_none_or(|n| n.state != STATE_LIVE) || keys.key_of(slot).is_some() {
            return Err(key_err("names a slot that is not live, or was given twice"));
        }
        match meta.key_kind {
            Some(KeyKind::U64) => {
                if c.u32()? != 0 {
                    return Err(key_err("has non-zero reserved bytes"));
                }
                let k = c.u64()?;
                if k == NO_KEY || keys.slot_of(KeyRef::U64(k)).is_some() {
                    return Err(key_err("is reserved or repeated"));
                }
                keys.set(KeyRef::U64(k), slot);
            }
            _ => {
                let len = c.u32()? as usize;
                if len == 0 || len > MAX_KEY_BYTES {
                    return Err(key_err("has a bad length"));
                }
                let s = std::str::from_utf8(c.take(len)?).map_err(|_| key_err("is not UTF-8"))?;
                if keys.slot_of(KeyRef::Str(s)).is_some() {
                    return Err(key_err("is repeated"));
                }
                keys.set(KeyRef::Str(s), slot);
            }
        }
    }
    if !c.done() {
        return Err(corrupt("KEYS has bytes that belong to no record"));
    }
    if nodes.iter().filter(|n| n.state == STATE_LIVE).count() != meta.records as usize {
        return Err(corrupt("a live slot has no key"));
    }

    // The graph: slots 0..slots taken in order, vectors streamed from VECS, then links.
    let graph = if meta.dim == 0 {
        None
    } else {
        let graph = Graph::new(meta.dim, params, Space::new(meta.options.metric));
        let levels: Vec<u8> = nodes.iter().map(|n| n.level).collect();
        let fresh = graph.store.take_fresh(&levels);
        debug_assert!(fresh.iter().enumerate().all(|(i, s)| s.id() as usize == i));
        let vstride = vector_stride(meta.dim);
        let rows_per_block = (IO_BLOCK / vstride).max(1);
        let mut block = vec![0u8; rows_per_block.min(slots.max(1)) * vstride];
        let mut row = vec![0f32; meta.dim];
        let mut crc = 0u32;
        let mut id = 0usize;
        while id < slots {
            let n = rows_per_block.min(slots - id);
            let bytes = &mut block[..n * vstride];
            src.read_at(sec[VECS].offset + (id * vstride) as u64, bytes)?;
            crc = crc32c::crc32c_append(crc, bytes);
            for r in bytes.chunks_exact(vstride) {
                for (x, b) in row.iter_mut().zip(r.chunks_exact(4)) {
                    *x = f32::from_le_bytes(b.try_into().unwrap());
                }
                if nodes[id].state == STATE_FREE {
                    check_zero(r, &format!("VECS: the row of free slot {id}"))?;
                } else {
                    if let Some(c) = row.iter().position(|x| !x.is_finite()) {
                        return Err(corrupt(format!("VECS: slot {id} has a non-finite value at component {c}")));
                    }
                    check_zero(&r[meta.dim * 4..], &format!("VECS: padding of slot {id}"))?;
                    graph.store.write_vector(&fresh[id], &row);
                }
                id += 1;
            }
        }
        if crc != sec[VECS].crc {
            return Err(corrupt("section VECS checksum mismatch"));
        }
        for (id, node) in nodes.iter().enumerate() {
            let id = id as u32;
            for (l, links) in node.lists.iter().enumerate() {
                graph.restore_links(id, l, links);
            }
            if node.state != STATE_FREE {
                graph.store.set_state(id, node.state);
            }
        }
        graph.store.reclaim(&free);
        graph.restore_state(meta.entry, dels);
        Some(graph)
    };

    Ok(Restored {
        options: meta.options.clone(),
        graph,
        keys,
        inserted: meta.inserted,
        next_auto_key: meta.next_auto_key,
    })
}
