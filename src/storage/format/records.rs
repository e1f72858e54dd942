//! The checks that make a file's records, link lists and vectors safe to use, shared by a load
//! (`read_index`) and the mapped open (`storage::mapped`), which must accept exactly the same
//! files: one record on its own, the upper lists, the link rules across slots, the entry
//! point, and a stored vector (RECS, VECS or FULL).

use super::meta::Meta;
use super::{check_zero, le_f32s, le_u32, le_u64, upper_bytes};
use crate::encoding::corrupt;
use crate::error::Result;
use crate::hnsw::arena::{RecordLayout, STATE_DELETED, STATE_FREE, STATE_LIVE};
use crate::hnsw::graph::MAX_LEVEL;
use crate::metric::Metric;
use crate::options::MAX_COMPONENT;
use crate::quant::Dtype;

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

/// Checks a FULL row: finite for a used slot, zero for a free one.
pub(crate) fn check_full_row(id: usize, row: &[u8], state: u8, metric: Metric) -> Result<()> {
    if state == STATE_FREE {
        return check_zero(row, &format!("FULL: the row of free slot {id}"));
    }
    check_stored_vector(le_f32s(row), metric).map_err(|e| corrupt(format!("FULL: slot {id} {e}")))
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
