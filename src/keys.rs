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

/// Slot -> key, stored compactly for each kind: 8 bytes a slot for u64 keys (NO_KEY = empty),
/// one boxed string pointer for string keys.
#[derive(Default)]
enum SlotKeys {
    #[default]
    Unset,
    U64(Vec<u64>),
    Str(Vec<Option<Box<str>>>),
}

/// Two-way map between keys and slots. Not synchronised: the index wraps it in a lock.
#[derive(Default)]
pub struct KeyMap {
    kind: Option<KeyKind>,
    by_u64: HashMap<u64, u32>,
    by_str: HashMap<Box<str>, u32>,
    by_slot: SlotKeys,
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
    #[inline]
    pub fn key_of(&self, slot: u32) -> Option<KeyRef<'_>> {
        match &self.by_slot {
            SlotKeys::Unset => None,
            SlotKeys::U64(v) => v.get(slot as usize).copied().filter(|&k| k != NO_KEY).map(KeyRef::U64),
            SlotKeys::Str(v) => v.get(slot as usize).and_then(|k| k.as_deref()).map(KeyRef::Str),
        }
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
        let old = match key {
            KeyRef::U64(k) => {
                if matches!(self.by_slot, SlotKeys::Unset) {
                    self.by_slot = SlotKeys::U64(Vec::new());
                }
                let SlotKeys::U64(v) = &mut self.by_slot else { unreachable!("checked kind") };
                if v.len() <= idx {
                    v.resize(idx + 1, NO_KEY);
                }
                v[idx] = k;
                self.by_u64.insert(k, slot)
            }
            KeyRef::Str(s) => {
                if matches!(self.by_slot, SlotKeys::Unset) {
                    self.by_slot = SlotKeys::Str(Vec::new());
                }
                let SlotKeys::Str(v) = &mut self.by_slot else { unreachable!("checked kind") };
                if v.len() <= idx {
                    v.resize(idx + 1, None);
                }
                let boxed: Box<str> = s.into();
                v[idx] = Some(boxed.clone());
                self.by_str.insert(boxed, slot)
            }
        };
        if let Some(old_slot) = old {
            if old_slot != slot {
                self.clear_slot(old_slot);
            }
        }
        old
    }

    fn clear_slot(&mut self, slot: u32) {
        match &mut self.by_slot {
            SlotKeys::Unset => {}
            SlotKeys::U64(v) => v[slot as usize] = NO_KEY,
            SlotKeys::Str(v) => v[slot as usize] = None,
        }
    }

    /// The slots that hold a key, in no particular order.
    pub fn slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.by_u64.values().chain(self.by_str.values()).copied()
    }

    /// Forgets `key`; returns the slot it was in.
    pub fn remove(&mut self, key: KeyRef<'_>) -> Option<u32> {
        let slot = match key {
            KeyRef::U64(k) => self.by_u64.remove(&k),
            KeyRef::Str(s) => self.by_str.remove(s),
        }?;
        self.clear_slot(slot);
        Some(slot)
    }

    /// Bytes used by the map, approximately (for memory reports).
    pub fn memory_bytes(&self) -> usize {
        let str_bytes: usize = self.by_str.keys().map(|k| k.len() * 2).sum();
        let slots = match &self.by_slot {
            SlotKeys::Unset => 0,
            SlotKeys::U64(v) => v.capacity() * 8,
            SlotKeys::Str(v) => v.capacity() * std::mem::size_of::<Option<Box<str>>>(),
        };
        slots
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

// ---- persistence ----
impl KeyMap {
    /// Every stored (slot, key), in slot order. For saving.
    pub fn entries(&self) -> impl Iterator<Item = (u32, KeyRef<'_>)> + '_ {
        let slots = match &self.by_slot {
            SlotKeys::Unset => 0,
            SlotKeys::U64(v) => v.len(),
            SlotKeys::Str(v) => v.len(),
        };
        (0..slots as u32).filter_map(move |slot| self.key_of(slot).map(|k| (slot, k)))
    }

    /// Sets the kind of key of a map being rebuilt from a file, before its first `set` (a map
    /// whose keys were all removed keeps its kind).
    pub(crate) fn restore_kind(&mut self, kind: Option<KeyKind>) {
        self.kind = kind;
    }

    /// Makes room for `n` keys of the map's kind (set by `restore_kind`) in slots below
    /// `slots`, so that a map rebuilt from a file grows once.
    pub(crate) fn reserve_restored(&mut self, n: usize, slots: usize) {
        match self.kind {
            Some(KeyKind::U64) => {
                self.by_u64.reserve(n);
                self.by_slot = SlotKeys::U64(vec![NO_KEY; slots]);
            }
            Some(KeyKind::Str) => {
                self.by_str.reserve(n);
                self.by_slot = SlotKeys::Str(vec![None; slots]);
            }
            None => {}
        }
    }
}
