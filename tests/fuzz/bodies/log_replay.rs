//! Bytes -> the write-ahead log of a durable directory (beside the snapshot of an empty
//! index with default options) -> `Index::open_dir`: recovery of any log.
//!
//! Input: one mode byte, then the log file. Mode bit 0 recomputes the header's checksum and
//! every whole record's checksum before the file is written, so that mutations get past the
//! checksums to the sequence numbers, the payload decoder and the replay behind them; bit 1
//! also renumbers the records consecutively from the header's first number.
//!
//! Checks: nothing panics; a directory is refused only with `Corrupt` or `UnsupportedVersion`;
//! a recovered index holds its invariants, replayed no more records than the log has frames,
//! and reopening it again replays the same records, drops nothing more, and gives the same
//! records.

use omendb::storage::wal::frame::{body_crc, header, record_crc, FRAME_LEN, HEADER_LEN};
use omendb::{Durability, Error, Index, IndexOptions, SyncMode};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// What a writer would have written for these frames: the header's checksum and each whole
/// record's (and with `renumber`, consecutive sequence numbers). Returns the frame count.
pub fn fix_log(log: &mut [u8], renumber: bool) -> usize {
    if log.len() < HEADER_LEN {
        return 0;
    }
    let fixed = header(le_u64(log, 12), le_u64(log, 20));
    log[28..32].copy_from_slice(&fixed[28..32]);
    let mut seq = le_u64(log, 20);
    let (mut pos, mut frames) = (HEADER_LEN, 0);
    while pos + FRAME_LEN <= log.len() {
        let len = le_u32(log, pos) as usize;
        let Some(end) = (pos + FRAME_LEN).checked_add(len).filter(|&e| e <= log.len()) else { break };
        if renumber {
            log[pos + 8..pos + 16].copy_from_slice(&seq.to_le_bytes());
        }
        let crc = record_crc(body_crc(log[pos + 16], &log[pos + FRAME_LEN..end]), le_u64(log, pos + 8), len as u32);
        log[pos + 4..pos + 8].copy_from_slice(&crc.to_le_bytes());
        pos = end;
        frames += 1;
        seq += 1;
    }
    frames
}

fn check_refusal(e: &Error) {
    assert!(matches!(e, Error::Corrupt(_) | Error::UnsupportedVersion { .. }), "refused with {e:?}, expected Corrupt or UnsupportedVersion");
}

static DIRS: AtomicUsize = AtomicUsize::new(0);

/// The snapshot of an empty index with default options, as a new directory gets it.
fn empty_snapshot() -> &'static [u8] {
    static SNAPSHOT: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    SNAPSHOT.get_or_init(|| Index::new(IndexOptions::default()).unwrap().to_bytes().unwrap())
}

fn open(dir: &PathBuf) -> omendb::Result<Index> {
    let durability = Durability { sync: SyncMode::Off, checkpoint_bytes: 0 };
    Index::open_dir(dir, omendb::index::options_must_match(&IndexOptions::default(), &[]), durability)
}

pub fn run(data: &[u8]) {
    let Some((&mode, log)) = data.split_first() else { return };
    let mut log = log.to_vec();
    let frames = if mode & 1 == 1 { fix_log(&mut log, mode & 2 == 2) } else { usize::MAX };
    let root = if std::path::Path::new("/dev/shm").is_dir() { "/dev/shm".into() } else { std::env::temp_dir() };
    let n = DIRS.fetch_add(1, Ordering::Relaxed);
    let dir = root.join(format!("omendb-fuzz-log-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("snapshot-0000000000000001.omendb"), empty_snapshot()).unwrap();
    std::fs::write(dir.join("log-0000000000000001.wal"), &log).unwrap();
    let result = std::panic::catch_unwind(|| match open(&dir) {
        Err(e) => check_refusal(&e),
        Ok(index) => {
            index.check_invariants().unwrap_or_else(|e| panic!("a recovered index breaks an invariant: {e}"));
            let first = index.recovery().unwrap().clone();
            assert!(first.records_replayed as usize <= frames, "{} records replayed from {frames} frames", first.records_replayed);
            let len = index.len();
            drop(index);
            let again = open(&dir).unwrap_or_else(|e| panic!("reopening a recovered directory: {e}"));
            let second = again.recovery().unwrap();
            assert_eq!(second.records_replayed, first.records_replayed, "the second open replays other records");
            assert_eq!(second.bytes_dropped, 0, "the second open drops more: {:?}", second.stopped);
            assert_eq!(again.len(), len);
            again.check_invariants().unwrap();
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
