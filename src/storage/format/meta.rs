//! The META section: the index's options, counts, entry point and record layout, 128 bytes
//! whose fields depend on the version ([`Meta`]), decoded and checked on their own and
//! against one another.

use super::{check_zero, node_stride, vector_stride, META_LEN, NEIGHBOR_CODES_VERSION, NO_ENTRY, PACKED_RECORDS_VERSION};
use crate::encoding::{corrupt, Cursor};
use crate::error::Result;
use crate::hnsw::arena::RecordLayout;
use crate::hnsw::graph::MAX_LEVEL;
use crate::hnsw::Params;
use crate::keys::KeyKind;
use crate::metric::Metric;
use crate::options::{IndexOptions, MAX_DIM};
use crate::quant::raw::RawStorage;
use crate::quant::Dtype;

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

/// Decodes META of a file of `version` and checks every field, alone and against the others.
pub(super) fn parse_meta(b: &[u8], version: u32) -> Result<Meta> {
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
    let mut neighbor_codes = 0;
    if version >= NEIGHBOR_CODES_VERSION {
        neighbor_codes = u8::try_from(c.u32()?).map_err(|_| corrupt("META: neighbour code bits out of range"))?;
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
        neighbor_codes,
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
    options.neighbor_blocks_fit(dim).map_err(|e| corrupt(format!("META: {e}")))?;
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
