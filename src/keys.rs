//! Keys: the caller's record names (u64 numbers or UTF-8 strings) mapped to dense
//! internal slot ids (u32) and back.
//!
//! An index holds one kind of key, fixed by the first record added. Slots are owned by
//! the graph's allocator; this map only records which key lives in which slot.

use std::collections::HashMap;
use std::fmt;

use crate::error::{Error, Result};

/// Longest string key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 64 * 1024;

/// The u64 key value that marks "no result" in output arrays; never a valid key.
pub const NO_KEY: u64 = u64::MAX;

/// Which kind of key an index holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// 64-bit unsigned integers.
    U64,
    /// UTF-8 strings of 1..=MAX_KEY_BYTES bytes.
    Str,
}

/// A borrowed key, as callers pass it in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyRef<'a> {
    /// A numeric key.
    U64(u64),
    /// A string key.
    Str(&'a str),
}

impl KeyRef<'_> {
    /// The kind of this key.
    pub fn kind(&self) -> KeyKind {
        match self {
            KeyRef::U64(_) => KeyKind::U64,
            KeyRef::Str(_) => KeyKind::Str,
        }
    }

    /// Checks the rules every key must follow (non-empty, not too long).
    pub fn validate(&self) -> Result<()> {
        if let KeyRef::U64(NO_KEY) = self {
            return Err(Error::InvalidKey(format!("{NO_KEY} (u64::MAX) is reserved to mark an empty result")));
        }
        if let KeyRef::Str(s) = self {
            if s.is_empty() {
                return Err(Error::InvalidKey("a string key must not be empty".into()));
            }
            if s.len() > MAX_KEY_BYTES {
                return Err(Error::InvalidKey(format!(
                    "a string key may hold at most {MAX_KEY_BYTES} bytes, this one has {}",
                    s.len()
                )));
            }
        }
        Ok(())
    }
}

impl fmt::Display for KeyRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyRef::U64(k) => write!(f, "{k}"),
            KeyRef::Str(s) if s.len() > 80 => {
                let mut end = 80;
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                write!(f, "\"{}...\"", &s[..end])
            }
            KeyRef::Str(s) => write!(f, "\"{s}\""),
        }
    }
}

/// The key stored in one slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotKey {
    /// No record lives here (never used, or removed).
    Empty,
    /// A numeric key.
    U64(u64),
    /// A string key.
    Str(Box<str>),
}

impl SlotKey {
    /// Borrow as a `KeyRef`, or `None` for an empty slot.
    pub fn as_ref(&self) -> Option<KeyRef<'_>> {
        match self {
            SlotKey::Empty => None,
            SlotKey::U64(k) => Some(KeyRef::U64(*k)),
            SlotKey::Str(s) => Some(KeyRef::Str(s)),
        }
    }
}

/// Two-way map between keys and slots. Not synchronised: the index wraps it in a lock.
#[derive(Default)]
pub struct KeyMap {
    kind: Option<KeyKind>,
    by_u64: HashMap<u64, u32>,
    by_str: HashMap<Box<str>, u32>,
    by_slot: Vec<SlotKey>,
}

impl KeyMap {
    /// The kind of key this map holds, once the first key has been added.
    pub fn kind(&self) -> Option<KeyKind> {
        self.kind
    }

    /// Number of keys stored.
    pub fn len(&self) -> usize {
        self.by_u64.len() + self.by_str.len()
    }

    /// Whether no key is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The slot that holds `key`.
    pub fn slot_of(&self, key: KeyRef<'_>) -> Option<u32> {
        match key {
            KeyRef::U64(k) => self.by_u64.get(&k).copied(),
            KeyRef::Str(s) => self.by_str.get(s).copied(),
        }
    }

    /// The key in `slot`, if any.
    pub fn key_of(&self, slot: u32) -> Option<KeyRef<'_>> {
        self.by_slot.get(slot as usize).and_then(SlotKey::as_ref)
    }

    /// Fails unless `key` may be stored here: valid, and of this map's kind.
    pub fn check_kind(&self, key: KeyRef<'_>) -> Result<()> {
        key.validate()?;
        match self.kind {
            Some(kind) if kind != key.kind() => Err(Error::InvalidKey(format!(
                "this index holds {} keys, {key} is a {} key",
                kind_name(kind),
                kind_name(key.kind())
            ))),
            _ => Ok(()),
        }
    }

    /// Records `key` in `slot`, replacing whatever slot held the key before; returns that old slot.
    /// The caller has checked the key with `check_kind`.
    pub fn set(&mut self, key: KeyRef<'_>, slot: u32) -> Option<u32> {
        self.kind.get_or_insert(key.kind());
        let idx = slot as usize;
        if self.by_slot.len() <= idx {
            self.by_slot.resize(idx + 1, SlotKey::Empty);
        }
        let old = match key {
            KeyRef::U64(k) => {
                self.by_slot[idx] = SlotKey::U64(k);
                self.by_u64.insert(k, slot)
            }
            KeyRef::Str(s) => {
                let boxed: Box<str> = s.into();
                self.by_slot[idx] = SlotKey::Str(boxed.clone());
                self.by_str.insert(boxed, slot)
            }
        };
        if let Some(old_slot) = old {
            if old_slot != slot {
                self.by_slot[old_slot as usize] = SlotKey::Empty;
            }
        }
        old
    }

    /// The slot of every stored key, in no particular order.
    pub fn slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.by_u64.values().chain(self.by_str.values()).copied()
    }

    /// Forgets `key`; returns the slot it was in.
    pub fn remove(&mut self, key: KeyRef<'_>) -> Option<u32> {
        let slot = match key {
            KeyRef::U64(k) => self.by_u64.remove(&k),
            KeyRef::Str(s) => self.by_str.remove(s),
        }?;
        self.by_slot[slot as usize] = SlotKey::Empty;
        Some(slot)
    }

    /// Bytes used by the map, approximately (for memory reports).
    pub fn memory_bytes(&self) -> usize {
        let str_bytes: usize = self.by_str.keys().map(|k| k.len() * 2).sum();
        self.by_slot.capacity() * std::mem::size_of::<SlotKey>()
            + self.by_u64.capacity() * (std::mem::size_of::<(u64, u32)>() + 1)
            + self.by_str.capacity() * (std::mem::size_of::<(Box<str>, u32)>() + 1)
            + str_bytes
    }
}

/// "u64" or "string", for messages.
pub fn kind_name(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::U64 => "u64",
        KeyKind::Str => "string",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_replace() {
        let mut m = KeyMap::default();
        assert_eq!(m.set(KeyRef::Str("a"), 0), None);
        assert_eq!(m.set(KeyRef::Str("b"), 1), None);
        assert_eq!(m.slot_of(KeyRef::Str("b")), Some(1));
        assert_eq!(m.key_of(0), Some(KeyRef::Str("a")));
        // Re-pointing a key frees its old slot.
        assert_eq!(m.set(KeyRef::Str("a"), 5), Some(0));
        assert_eq!(m.key_of(0), None);
        assert_eq!(m.key_of(5), Some(KeyRef::Str("a")));
        assert_eq!(m.remove(KeyRef::Str("a")), Some(5));
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn kinds_do_not_mix_and_bad_keys_are_refused() {
        let mut m = KeyMap::default();
        m.set(KeyRef::U64(7), 0);
        assert!(matches!(m.check_kind(KeyRef::Str("x")), Err(Error::InvalidKey(_))));
        assert!(m.check_kind(KeyRef::U64(8)).is_ok());
        assert!(KeyRef::Str("").validate().is_err());
        let long = "x".repeat(MAX_KEY_BYTES + 1);
        assert!(KeyRef::Str(&long).validate().is_err());
        assert!(KeyRef::Str(&long[..MAX_KEY_BYTES]).validate().is_ok());
    }
}
