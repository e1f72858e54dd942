//! The operations the log records, and their payload bytes (docs/format.md, "Log records").
//!
//! ```text
//! put (kind 1):    flags u8 | n u32 | dim u32 | n keys | n*dim f32 | [n metadata] | [n texts]
//!                  flags: 1 upsert, 2 automatic keys (add_auto), 4 metadata, 8 texts, 16 string keys
//!                  key: u64, or a string (u32 length, UTF-8); metadata / text: u8 present, then a string
//! remove (kind 2): flags u8 (16: string key) | key
//! remove batch (kind 3): flags u8 (16: string keys) | n u32 | n keys
//! ```
//!
//! Vectors are logged as the caller gave them (before cosine normalisation), metadata as the
//! caller's JSON text: replaying a record repeats the call.

use crate::encoding::{Cursor, Le};
use crate::error::{Error, Result};
use crate::keys::KeyRef;

pub const KIND_PUT: u8 = 1;
pub const KIND_REMOVE: u8 = 2;
pub const KIND_REMOVE_BATCH: u8 = 3;

const UPSERT: u8 = 1;
const AUTO: u8 = 2;
const METADATA: u8 = 4;
const TEXTS: u8 = 8;
const STRING_KEYS: u8 = 16;

/// Keys read back from a record.
#[derive(Clone, Debug, PartialEq)]
pub enum OwnedKeys {
    U64(Vec<u64>),
    Str(Vec<String>),
}

/// One logged operation, read back.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// add, add_records, upsert or add_auto of one batch.
    Put {
        upsert: bool,
        /// Keys handed out by add_auto: replay moves the next automatic key past them.
        auto: bool,
        keys: OwnedKeys,
        dim: usize,
        vectors: Vec<f32>,
        metadata: Option<Vec<Option<String>>>,
        texts: Option<Vec<Option<String>>>,
    },
    /// remove of one key (`key` holds one), or remove_batch and remove_where of several.
    Remove { key: OwnedKeys },
}

/// Which call a put record repeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutKind {
    Add,
    Upsert,
    Auto,
}

fn optional_strings(out: &mut Le, items: Option<&[Option<&str>]>) {
    for item in items.into_iter().flatten() {
        match item {
            Some(s) => {
                out.u8(1);
                out.str(s);
            }
            None => out.u8(0),
        }
    }
}

/// A batch as the log records it: keys (all of one kind), vectors row-major, and optional
/// metadata and texts, one entry per key.
pub struct Batch<'a, K> {
    pub keys: K,
    pub dim: usize,
    pub vectors: &'a [f32],
    pub metadata: Option<&'a [Option<&'a str>]>,
    pub texts: Option<&'a [Option<&'a str>]>,
}

/// The payload of a put record for a batch already checked whole.
pub fn encode_put<'k>(kind: PutKind, batch: Batch<'_, impl ExactSizeIterator<Item = KeyRef<'k>> + Clone>) -> Vec<u8> {
    let Batch { keys, dim, vectors, metadata, texts } = batch;
    let string_keys = keys.clone().next().is_some_and(|k| matches!(k, KeyRef::Str(_)));
    let mut flags = match kind {
        PutKind::Add => 0,
        PutKind::Upsert => UPSERT,
        PutKind::Auto => AUTO,
    };
    if metadata.is_some() {
        flags |= METADATA;
    }
    if texts.is_some() {
        flags |= TEXTS;
    }
    if string_keys {
        flags |= STRING_KEYS;
    }
    let mut out = Le(Vec::with_capacity(9 + keys.len() * 8 + vectors.len() * 4));
    out.u8(flags);
    out.u32(keys.len() as u32);
    out.u32(dim as u32);
    for key in keys {
        match key {
            KeyRef::U64(k) => out.u64(k),
            KeyRef::Str(s) => out.str(s),
        }
    }
    vectors.iter().for_each(|&v| out.f32(v));
    optional_strings(&mut out, metadata);
    optional_strings(&mut out, texts);
    out.0
}

/// The payload of a remove record.
pub fn encode_remove(key: KeyRef<'_>) -> Vec<u8> {
    let mut out = Le::default();
    match key {
        KeyRef::U64(k) => {
            out.u8(0);
            out.u64(k);
        }
        KeyRef::Str(s) => {
            out.u8(STRING_KEYS);
            out.str(s);
        }
    }
    out.0
}

/// The payload of a remove-batch record (keys all of one kind, at least one).
pub fn encode_remove_batch<'k>(keys: impl ExactSizeIterator<Item = KeyRef<'k>> + Clone) -> Vec<u8> {
    let string_keys = keys.clone().next().is_some_and(|k| matches!(k, KeyRef::Str(_)));
    let mut out = Le::default();
    out.u8(if string_keys { STRING_KEYS } else { 0 });
    out.u32(keys.len() as u32);
    for key in keys {
        match key {
            KeyRef::U64(k) => out.u64(k),
            KeyRef::Str(s) => out.str(s),
        }
    }
    out.0
}

fn read_optional_strings(c: &mut Cursor<'_>, n: usize) -> Result<Vec<Option<String>>> {
    (0..n)
        .map(|_| match c.u8()? {
            0 => Ok(None),
            1 => Ok(Some(c.str()?.to_string())),
            b => Err(Error::Corrupt(format!("log record: a presence byte of {b}"))),
        })
        .collect()
}

/// Reads a record's operation back. Any malformed payload is `Error::Corrupt`, never a panic.
pub fn decode(kind: u8, payload: &[u8]) -> Result<Op> {
    let mut c = Cursor::new(payload, "log record");
    let flags = c.u8()?;
    let op = match kind {
        KIND_PUT => {
            if flags & !(UPSERT | AUTO | METADATA | TEXTS | STRING_KEYS) != 0 || flags & (UPSERT | AUTO) == UPSERT | AUTO {
                return Err(Error::Corrupt(format!("log record: put flags {flags:#x}")));
            }
            let n = c.count(if flags & STRING_KEYS != 0 { 4 } else { 8 })?;
            let dim = c.u32()? as usize;
            let keys = if flags & STRING_KEYS != 0 {
                OwnedKeys::Str((0..n).map(|_| c.str().map(str::to_string)).collect::<Result<_>>()?)
            } else {
                OwnedKeys::U64((0..n).map(|_| c.u64()).collect::<Result<_>>()?)
            };
            let floats = n.checked_mul(dim).filter(|&f| f.saturating_mul(4) <= c.remaining()).ok_or_else(|| {
                Error::Corrupt(format!("log record: {n} vectors of {dim} dimensions do not fit in the record"))
            })?;
            let vectors = (0..floats).map(|_| c.f32()).collect::<Result<_>>()?;
            let metadata = if flags & METADATA != 0 { Some(read_optional_strings(&mut c, n)?) } else { None };
            let texts = if flags & TEXTS != 0 { Some(read_optional_strings(&mut c, n)?) } else { None };
            Op::Put { upsert: flags & UPSERT != 0, auto: flags & AUTO != 0, keys, dim, vectors, metadata, texts }
        }
        KIND_REMOVE => {
            let key = match flags {
                0 => OwnedKeys::U64(vec![c.u64()?]),
                STRING_KEYS => OwnedKeys::Str(vec![c.str()?.to_string()]),
                _ => return Err(Error::Corrupt(format!("log record: remove flags {flags:#x}"))),
            };
            Op::Remove { key }
        }
        KIND_REMOVE_BATCH => {
            let key = match flags {
                0 => {
                    let n = c.count(8)?;
                    OwnedKeys::U64((0..n).map(|_| c.u64()).collect::<Result<_>>()?)
                }
                STRING_KEYS => {
                    let n = c.count(4)?;
                    OwnedKeys::Str((0..n).map(|_| c.str().map(str::to_string)).collect::<Result<_>>()?)
                }
                _ => return Err(Error::Corrupt(format!("log record: remove batch flags {flags:#x}"))),
            };
            Op::Remove { key }
        }
        _ => return Err(Error::Corrupt(format!("log record of unknown kind {kind}"))),
    };
    c.finish()?;
    Ok(op)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn puts_and_removes_read_back_as_written() {
        let meta = [Some(r#"{"a":1}"#), None];
        let texts = [None, Some("hello")];
        let keys = [KeyRef::Str("x"), KeyRef::Str("yy")];
        let batch = Batch {
            keys: keys.iter().copied(),
            dim: 2,
            vectors: &[1.0, 2.0, 3.0, -4.5],
            metadata: Some(&meta),
            texts: Some(&texts),
        };
        let payload = encode_put(PutKind::Upsert, batch);
        assert_eq!(
            decode(KIND_PUT, &payload).unwrap(),
            Op::Put {
                upsert: true,
                auto: false,
                keys: OwnedKeys::Str(vec!["x".into(), "yy".into()]),
                dim: 2,
                vectors: vec![1.0, 2.0, 3.0, -4.5],
                metadata: Some(vec![Some(r#"{"a":1}"#.into()), None]),
                texts: Some(vec![None, Some("hello".into())]),
            }
        );
        let one = |k: u64, vectors: &'static [f32]| Batch {
            keys: std::iter::once(KeyRef::U64(k)),
            dim: vectors.len(),
            vectors,
            metadata: None,
            texts: None,
        };
        let auto = encode_put(PutKind::Auto, one(7, &[0.5]));
        assert!(matches!(decode(KIND_PUT, &auto).unwrap(), Op::Put { auto: true, upsert: false, .. }));
        assert_eq!(decode(KIND_REMOVE, &encode_remove(KeyRef::U64(9))).unwrap(), Op::Remove { key: OwnedKeys::U64(vec![9]) });
        assert_eq!(
            decode(KIND_REMOVE, &encode_remove(KeyRef::Str("k"))).unwrap(),
            Op::Remove { key: OwnedKeys::Str(vec!["k".into()]) }
        );
        let several = [KeyRef::Str("a"), KeyRef::Str("bc")];
        assert_eq!(
            decode(KIND_REMOVE_BATCH, &encode_remove_batch(several.iter().copied())).unwrap(),
            Op::Remove { key: OwnedKeys::Str(vec!["a".into(), "bc".into()]) }
        );
        let numbers = [KeyRef::U64(3), KeyRef::U64(4)];
        assert_eq!(
            decode(KIND_REMOVE_BATCH, &encode_remove_batch(numbers.iter().copied())).unwrap(),
            Op::Remove { key: OwnedKeys::U64(vec![3, 4]) }
        );
    }

    #[test]
    fn every_truncation_and_extension_is_refused() {
        let keys = [KeyRef::U64(1), KeyRef::U64(2)];
        let batch = Batch { keys: keys.iter().copied(), dim: 3, vectors: &[0.0; 6], metadata: None, texts: None };
        let payload = encode_put(PutKind::Add, batch);
        for cut in 0..payload.len() {
            assert!(decode(KIND_PUT, &payload[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = payload.clone();
        longer.push(0);
        assert!(decode(KIND_PUT, &longer).is_err());
        assert!(decode(9, &payload).is_err());
    }
}
