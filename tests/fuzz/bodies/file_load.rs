//! Bytes -> an index file -> `Index::from_bytes`, and the same bytes as a file through
//! `Index::open` (the memory-mapped reader, with its own in-place checks).
//!
//! Input: one mode byte, then the file. Mode bit 0 recomputes the file's checksums before it is
//! read (the header's stated length, each section's CRC where the table places the section
//! inside the file, the table's CRC, the header's CRC), so that mutations get past the
//! checksums to the structural checks behind them; without it nearly every mutation stops at
//! the first CRC. Mode bit 1 also opens the bytes memory-mapped.
//!
//! Checks: nothing panics; a file is refused only with `Corrupt` or `UnsupportedVersion`;
//! loading and opening agree on whether a file is valid. A file that loads holds its
//! invariants (`check_invariants`), answers a search with at most k distinct keys at finite
//! distances, nearest first, saves, and its saved bytes load again and save to the same bytes;
//! an opened file saves the same bytes as the loaded one and answers the search alike.

use omendb::storage::format::{sections_of, ENTRY_LEN, HEADER_LEN};
use omendb::{Error, Index};
use std::sync::atomic::{AtomicUsize, Ordering};

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Recomputes what a writer would have: the stated length, section CRCs, table and header CRCs.
/// Leaves every other byte as the input has it.
pub fn fix_checksums(file: &mut [u8]) {
    if file.len() < HEADER_LEN {
        return;
    }
    let len = file.len() as u64;
    file[16..24].copy_from_slice(&len.to_le_bytes());
    let version = le_u32(file, 8);
    if (1..=16).contains(&version) {
        let sections = sections_of(version).len();
        let table_end = HEADER_LEN + sections * ENTRY_LEN;
        if file.len() >= table_end {
            for i in 0..sections {
                let e = HEADER_LEN + i * ENTRY_LEN;
                let (offset, size) = (le_u64(file, e + 8), le_u64(file, e + 16));
                if let Some(end) = offset.checked_add(size).filter(|&end| end <= len) {
                    let crc = crc32c::crc32c(&file[offset as usize..end as usize]);
                    file[e + 24..e + 28].copy_from_slice(&crc.to_le_bytes());
                }
            }
            let crc = crc32c::crc32c(&file[HEADER_LEN..table_end]);
            file[28..32].copy_from_slice(&crc.to_le_bytes());
        }
    }
    let crc = crc32c::crc32c(&file[..HEADER_LEN - 4]);
    file[HEADER_LEN - 4..HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
}

fn check_refusal(e: &Error, how: &str) {
    assert!(
        matches!(e, Error::Corrupt(_) | Error::UnsupportedVersion { .. }),
        "{how}: refused with {e:?}, expected Corrupt or UnsupportedVersion"
    );
    assert!(!e.to_string().is_empty());
}

/// A search every index can take: all ones (a non-zero vector, valid under cosine too).
fn probe(index: &Index) -> Option<Vec<(String, u32)>> {
    let dim = index.dim();
    if dim == 0 {
        return None;
    }
    let hits = index.search(&vec![1.0; dim], 5, Some(32)).unwrap_or_else(|e| panic!("probe search: {e}"));
    assert!(hits.len() <= 5.min(index.len()), "{} hits from {} records", hits.len(), index.len());
    for w in hits.windows(2) {
        assert!(w[0].distance <= w[1].distance, "hits out of order: {hits:?}");
    }
    let mut keys: Vec<&String> = hits.iter().map(|h| &h.key).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), hits.len(), "a key twice: {hits:?}");
    assert!(hits.iter().all(|h| h.distance.is_finite()), "{hits:?}");
    Some(hits.into_iter().map(|h| (h.key, h.distance.to_bits())).collect())
}

static FILES: AtomicUsize = AtomicUsize::new(0);

/// Opens `bytes` as a file, memory-mapped. The file is removed before returning; the mapping
/// (and so the index) stays valid, as on any Unix.
fn open_bytes(bytes: &[u8]) -> omendb::Result<Index> {
    let dir = if std::path::Path::new("/dev/shm").is_dir() { "/dev/shm".into() } else { std::env::temp_dir() };
    let n = FILES.fetch_add(1, Ordering::Relaxed);
    let path = std::path::Path::new(&dir).join(format!("omendb-fuzz-{}-{n}.omendb", std::process::id()));
    std::fs::write(&path, bytes).expect("write the file to open");
    let opened = Index::open(&path);
    let _ = std::fs::remove_file(&path);
    opened
}

pub fn run(data: &[u8]) {
    let Some((&mode, file)) = data.split_first() else { return };
    let mut file = file.to_vec();
    if mode & 1 == 1 {
        fix_checksums(&mut file);
    }
    let loaded = Index::from_bytes(&file);
    let opened = if mode & 2 == 2 { Some(open_bytes(&file)) } else { None };
    let loaded = match loaded {
        Err(e) => {
            check_refusal(&e, "from_bytes");
            if let Some(o) = opened {
                let o = o.err().unwrap_or_else(|| panic!("open accepts a file from_bytes refuses ({e})"));
                check_refusal(&o, "open");
            }
            return;
        }
        Ok(index) => index,
    };
    if let Err(e) = loaded.check_invariants() {
        panic!("a loaded file breaks an invariant: {e}");
    }
    let answer = probe(&loaded);
    let saved = loaded.to_bytes().unwrap_or_else(|e| panic!("to_bytes of a loaded file: {e}"));
    let again = Index::from_bytes(&saved).unwrap_or_else(|e| panic!("from_bytes of its to_bytes: {e}"));
    assert_eq!(again.len(), loaded.len());
    assert!(again.to_bytes().unwrap() == saved, "saving a reloaded index changes its bytes");
    if let Some(o) = opened {
        let opened = o.unwrap_or_else(|e| panic!("from_bytes accepts a file open refuses: {e}"));
        assert_eq!(opened.len(), loaded.len());
        assert!(opened.to_bytes().unwrap() == saved, "opened and loaded save different bytes");
        assert_eq!(probe(&opened), answer, "opened and loaded answer differently");
    }
}
