//! The index file format: layout, checksums, writing (versions 2 to 8: the oldest that holds
//! what is written) and reading (versions 1 to 8). The byte-by-byte description is
//! `docs/format.md`; this module is its implementation and the two must agree.
//!
//! ```text
//! version 2: [ header: 64 ][ table: 8 x 32 ][ pad ]
//!            [ META ][ RECS ][ UPPR ][ KEYS ][ FREE ][ DELS ][ MDAT ][ TEXT ]   each padded to 64
//! version 3: version 2's sections, then [ QCOD ][ FULL ]                        (to version 6)
//! version 7: version 3's sections, then [ TXTS ]
//! version 8: version 7's sections, then [ NCOD ]
//! version 1: [ header: 64 ][ table: 7 x 32 ][ pad ]
//!            [ META ][ NODE ][ UPPR ][ KEYS ][ FREE ][ DELS ][ VECS ]           each padded to 64
//! ```
//! Every section starts on a 64-byte boundary and the file ends on one; padding is zero.
//! Integers and floats are little-endian whatever the host. The header carries a CRC-32C of
//! itself and of the section table; the table carries a CRC-32C of each section. So every
//! byte of a file is covered by a checksum or must be zero, and any single flipped bit or any
//! truncation is reported as [`Error::Corrupt`](crate::error::Error::Corrupt).
//!
//! Version 2 stores each node as one record laid out as the in-memory arena lays it out
//! (vector, layer-0 list, upper-list reference, level, state), so a memory-mapped file serves
//! searches in place (`storage::mapped`); its upper lists are fixed-width, and it adds the
//! records' metadata (MDAT) and texts (TEXT). Version 3 adds the codec state (QCOD) and the
//! full-precision vectors (FULL) of a quantized index, version 4 a binary codec's two levels,
//! version 5 allows the packed record layout (`hnsw::arena`), version 6 two more kinds of
//! metadata value (null, lists of numbers), version 7 the records' texts as given (TXTS;
//! TEXT holds only what BM25 scores), and version 8 the neighbour codes option in META and
//! the codes' learned ranges (NCOD); a writer uses the oldest version that holds what it
//! writes.
//!
//! Reading never trusts a number from the file before checking it: every count is checked
//! against the section that holds the data (and so against the file's real length) before
//! anything is allocated, and every slot id, level, state, link and key is validated, so a
//! damaged or hostile file yields an error, never a panic or a huge allocation.
//!
//! The parts, each re-exported here so that callers name `storage::format::X`:
//! - here: the version numbers, the section kinds of each version, sizes and alignment, and
//!   the little-endian helpers the other parts share;
//! - `source`: [`Source`], the random-access bytes a file is read from ([`FileSource`], or a
//!   byte slice);
//! - `layout`: the frame, [`read_layout`]: header, section table and their checks, the
//!   sections' sizes against META, and the checked read of one section;
//! - `meta`: the META section ([`Meta`]) and its checks;
//! - `write`: `write_index`, one step per section;
//! - `records`: the checks of one record, one upper list, the link rules, the entry point and a
//!   stored vector, which a load and the mapped open (`storage::mapped`) share;
//! - `read`: the sections read the same way by a load and the mapped open (FREE, DELS, KEYS,
//!   MDAT, TEXT, TXTS, QCOD, NCOD), and `read_index`, a load into memory (versions 1 to 8).

mod layout;
mod meta;
mod read;
mod records;
mod source;
mod write;

pub use layout::{read_layout, Layout, SectionEntry};
pub(crate) use layout::read_section;
pub use meta::Meta;
pub(crate) use read::{read_codec, read_free_dels, read_index, read_keys, read_neighbor_codes, read_payloads, space_of, Restored};
pub(crate) use records::{check_entry, check_full_row, check_record, check_stored_vector, check_upper_lists, LinkChecker};
pub use source::{FileSource, Source};
pub(crate) use write::{write_index, Snapshot};

use crate::encoding::corrupt;
use crate::error::Result;

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
/// The format version this build writes for an index whose metadata holds null or lists of
/// numbers (whatever its dtype and layout): version 5 with those two kinds of value in MDAT.
pub const METADATA_KINDS_VERSION: u32 = 6;
/// The format version this build writes for an index that keeps the text of some record as
/// it was given (whatever its dtype, layout and metadata): version 6 plus the TXTS section.
/// An index whose texts all came from older files (postings only) is written as before.
pub const TEXTS_VERSION: u32 = 7;
/// The format version this build writes for an index with neighbour codes beside its links
/// (`IndexOptions::neighbor_codes`): version 7 plus their bits in META and their learned
/// ranges (NCOD), so that a load makes the same codes. Nothing else writes it.
pub const NEIGHBOR_CODES_VERSION: u32 = 8;
/// The newest format version this build reads (it reads every older one too).
pub const NEWEST_VERSION: u32 = NEIGHBOR_CODES_VERSION;
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

/// The sections of a version 7 file: version 3's, then the records' texts as given (TXTS).
pub const SECTIONS_V7: [[u8; 4]; 11] =
    [*b"META", *b"RECS", *b"UPPR", *b"KEYS", *b"FREE", *b"DELS", *b"MDAT", *b"TEXT", *b"QCOD", *b"FULL", *b"TXTS"];

/// The sections of a version 8 file: version 7's, then the neighbour codes' ranges (NCOD).
pub const SECTIONS_V8: [[u8; 4]; 12] = [
    *b"META", *b"RECS", *b"UPPR", *b"KEYS", *b"FREE", *b"DELS", *b"MDAT", *b"TEXT", *b"QCOD", *b"FULL", *b"TXTS", *b"NCOD",
];

/// The sections a file of `version` holds, in order.
pub fn sections_of(version: u32) -> &'static [[u8; 4]] {
    match version {
        1 => &SECTIONS_V1,
        2 => &SECTIONS_V2,
        3..=6 => &SECTIONS_V3,
        7 => &SECTIONS_V7,
        _ => &SECTIONS_V8,
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

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// The little-endian u32s of `b` (a whole number of them).
pub(crate) fn le_u32s(b: &[u8]) -> impl Iterator<Item = u32> + '_ {
    b.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap()))
}

/// The little-endian f32s of `b` (a whole number of them).
fn le_f32s(b: &[u8]) -> impl Iterator<Item = f32> + '_ {
    b.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()))
}

fn check_zero(bytes: &[u8], what: &str) -> Result<()> {
    match bytes.iter().position(|&b| b != 0) {
        None => Ok(()),
        Some(i) => Err(corrupt(format!("{what}: byte {i} should be zero"))),
    }
}
