//! The frame of a file: the header and the section table, checked against each other and
//! against the file's length ([`read_layout`], which also reads META), the sections' sizes
//! against what META implies, and the checked read of one whole section.

use super::meta::{parse_meta, Meta};
use super::{
    align_up, check_zero, le_u32, le_u64, node_stride, sections_of, upper_bytes, vector_stride, Source, ALIGN, ENTRY_LEN,
    HEADER_LEN, MAGIC, NEIGHBOR_CODES_VERSION, NEWEST_VERSION, OLDEST_VERSION,
};
use crate::encoding::corrupt;
use crate::error::{Error, Result};
use crate::keys::KeyKind;
use crate::quant::Dtype;

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

/// Checks each section's length against what META implies: exactly where it is fixed, a
/// bound where it varies (string keys, lists).
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
    if layout.version >= NEIGHBOR_CODES_VERSION {
        // Empty until the codes are learned; then each dimension's lowest value and step.
        let ncod = layout.section(b"NCOD").len;
        let learned = 8 * meta.dim as u64;
        if !(ncod == 0 || (meta.options.neighbor_codes != 0 && ncod == learned && learned > 0)) {
            return Err(corrupt(format!("section NCOD is {ncod} bytes, META implies 0 or {learned}")));
        }
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
