//! The bytes of one log file: a 32-byte header, then records, each framed so that a torn or
//! damaged one is recognised and nothing after it is trusted (see docs/format.md, "The
//! write-ahead log").
//!
//! ```text
//! header:  magic "OMENDBWL" | version u32 | generation u64 | first_seq u64 | crc32c u32 (of the 28 bytes before)
//! record:  len u32 | crc u32 | seq u64 | kind u8 | payload (len bytes)
//!          crc = crc32c(kind, payload, then seq and len as little-endian bytes), masked
//! ```
//!
//! Sequence numbers run on by one from the header's `first_seq`; a record whose number does
//! not is stale bytes, not a record. The checksum covers the length, so a damaged length is
//! caught too. Everything is little-endian.

use crate::error::{Error, Result};

/// First bytes of every log file.
pub const MAGIC: &[u8; 8] = b"OMENDBWL";
/// Log format version this build writes and reads.
pub const VERSION: u32 = 1;
/// Bytes of the file header.
pub const HEADER_LEN: usize = 32;
/// Bytes of a record's frame before its payload.
pub const FRAME_LEN: usize = 17;
/// Largest payload accepted (a batch of 4 GiB is refused before it is logged).
pub const MAX_PAYLOAD: usize = u32::MAX as usize;

/// Masked like LevelDB's, so that a log stored inside another checksummed stream (a log of
/// logs) does not produce checksums that verify by accident.
fn mask(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// The checksum of a record: of its kind and payload (`body_crc`, computable before the
/// sequence number is known), then its sequence number and length.
pub fn record_crc(body_crc: u32, seq: u64, len: u32) -> u32 {
    let mut tail = [0u8; 12];
    tail[..8].copy_from_slice(&seq.to_le_bytes());
    tail[8..].copy_from_slice(&len.to_le_bytes());
    mask(crc32c::crc32c_append(body_crc, &tail))
}

/// A record's checksum over kind and payload, before its sequence number is known.
pub fn body_crc(kind: u8, payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&[kind]), payload)
}

/// The file header of generation `generation`, whose first record is `first_seq`.
pub fn header(generation: u64, first_seq: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..20].copy_from_slice(&generation.to_le_bytes());
    h[20..28].copy_from_slice(&first_seq.to_le_bytes());
    let crc = mask(crc32c::crc32c(&h[..28]));
    h[28..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// The frame of a record (to be followed by its payload).
pub fn frame(seq: u64, kind: u8, len: u32, body_crc: u32) -> [u8; FRAME_LEN] {
    let mut f = [0u8; FRAME_LEN];
    f[..4].copy_from_slice(&len.to_le_bytes());
    f[4..8].copy_from_slice(&record_crc(body_crc, seq, len).to_le_bytes());
    f[8..16].copy_from_slice(&seq.to_le_bytes());
    f[16] = kind;
    f
}

/// One record read back.
#[derive(Debug, PartialEq)]
pub struct Record<'a> {
    pub seq: u64,
    pub kind: u8,
    pub payload: &'a [u8],
}

/// What a scan of one log file found.
#[derive(Debug)]
pub struct Scan<'a> {
    /// The generation and first sequence number its header names.
    pub generation: u64,
    pub first_seq: u64,
    /// Every whole record, in order, up to the first that is torn or damaged.
    pub records: Vec<Record<'a>>,
    /// Bytes of the file that hold the header and those records: the rest is dropped.
    pub valid_len: usize,
    /// Why the scan stopped before the end of the file, if it did.
    pub stopped: Option<String>,
}

fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// Reads the header of a log file. A header that is not whole or does not check is an
/// error: the header is written and synced before the file gets its name, so it is never torn.
pub fn read_header(bytes: &[u8]) -> Result<(u64, u64)> {
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return Err(Error::Corrupt("log file: no OmenDB log header".into()));
    }
    let version = le_u32(&bytes[8..12]);
    if mask(crc32c::crc32c(&bytes[..28])) != le_u32(&bytes[28..32]) {
        return Err(Error::Corrupt("log file: the header's checksum does not match".into()));
    }
    if version != VERSION {
        return Err(Error::UnsupportedVersion { found: version, supported: VERSION });
    }
    Ok((le_u64(&bytes[12..20]), le_u64(&bytes[20..28])))
}

/// Reads every whole record of a log file, stopping at the first that is torn (the file ends
/// inside it), damaged (its checksum does not match) or out of sequence. Never panics, for
/// any bytes.
pub fn scan(bytes: &[u8]) -> Result<Scan<'_>> {
    let (generation, first_seq) = read_header(bytes)?;
    let mut records = Vec::new();
    let mut pos = HEADER_LEN;
    let mut expected = first_seq;
    let mut stopped = None;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        if rest.len() < FRAME_LEN {
            stopped = Some(format!("a record frame torn after {} of {FRAME_LEN} bytes", rest.len()));
            break;
        }
        let len = le_u32(&rest[..4]);
        let crc = le_u32(&rest[4..8]);
        let seq = le_u64(&rest[8..16]);
        let kind = rest[16];
        let Some(payload) = rest.get(FRAME_LEN..FRAME_LEN + len as usize) else {
            stopped = Some(format!(
                "record {seq} torn: {} of its {len} payload bytes are there",
                rest.len() - FRAME_LEN
            ));
            break;
        };
        if record_crc(body_crc(kind, payload), seq, len) != crc {
            stopped = Some(format!("the record at byte {pos} is damaged (checksum mismatch)"));
            break;
        }
        if seq != expected {
            stopped = Some(format!("the record at byte {pos} has sequence number {seq}, not {expected}"));
            break;
        }
        records.push(Record { seq, kind, payload });
        expected += 1;
        pos += FRAME_LEN + len as usize;
    }
    Ok(Scan { generation, first_seq, records, valid_len: pos.min(bytes.len()), stopped })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = header(3, 10).to_vec();
        for (i, p) in payloads.iter().enumerate() {
            out.extend_from_slice(&frame(10 + i as u64, 1, p.len() as u32, body_crc(1, p)));
            out.extend_from_slice(p);
        }
        out
    }

    #[test]
    fn whole_records_read_back_in_order() {
        let bytes = log_of(&[b"one", b"", b"three"]);
        let s = scan(&bytes).unwrap();
        assert_eq!((s.generation, s.first_seq), (3, 10));
        assert_eq!(s.records.len(), 3);
        assert_eq!(s.records[2], Record { seq: 12, kind: 1, payload: b"three" });
        assert_eq!(s.valid_len, bytes.len());
        assert!(s.stopped.is_none());
    }

    #[test]
    fn every_cut_keeps_exactly_the_whole_records_before_it() {
        let bytes = log_of(&[b"alpha", b"beta-beta", b"gamma"]);
        let ends = [HEADER_LEN, HEADER_LEN + 22, HEADER_LEN + 22 + 26, bytes.len()];
        for cut in HEADER_LEN..=bytes.len() {
            let s = scan(&bytes[..cut]).unwrap();
            let whole = ends.iter().filter(|&&e| e <= cut).count() - 1;
            assert_eq!(s.records.len(), whole, "cut at {cut}");
            assert_eq!(s.valid_len, ends[whole], "cut at {cut}");
            assert_eq!(s.stopped.is_some(), cut != ends[whole], "cut at {cut}");
        }
    }

    #[test]
    fn a_flipped_byte_stops_the_scan_at_its_record() {
        let bytes = log_of(&[b"alpha", b"beta-beta", b"gamma"]);
        let starts = [HEADER_LEN, HEADER_LEN + 22, HEADER_LEN + 22 + 26];
        for at in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x40;
            match scan(&damaged) {
                Err(_) => assert!(at < HEADER_LEN, "byte {at}"),
                Ok(s) => {
                    let record = starts.iter().rposition(|&st| st <= at).unwrap();
                    assert_eq!(s.records.len(), record, "byte {at}");
                    assert_eq!(s.valid_len, starts[record], "byte {at}");
                }
            }
        }
    }

    #[test]
    fn stale_records_out_of_sequence_are_not_read() {
        let mut bytes = log_of(&[b"a"]);
        bytes.extend_from_slice(&frame(99, 1, 1, body_crc(1, b"b")));
        bytes.push(b'b');
        let s = scan(&bytes).unwrap();
        assert_eq!(s.records.len(), 1);
        assert!(s.stopped.unwrap().contains("sequence number 99"));
    }
}
