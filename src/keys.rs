//! Keys: the caller's record names (u64 numbers or UTF-8 strings) mapped to dense
//! internal slot ids (u32) and back.
//!
//! An index holds one kind of key, fixed by the first record added. Slots are owned by
//! the graph's allocator; this map only records which key lives in which slot.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
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

impl SlotKeys {
    #[inline]
    fn get(&self, slot: u32) -> Option<KeyRef<'_>> {
        match self {
            SlotKeys::Unset => None,
            SlotKeys::U64(v) => v.get(slot as usize).copied().filter(|&k| k != NO_KEY).map(KeyRef::U64),
            SlotKeys::Str(v) => v.get(slot as usize).and_then(|k| k.as_deref()).map(KeyRef::Str),
        }
    }
}

/// Key -> slot: an open-addressing hash table (linear probing) of slot ids alone, 4 bytes a
/// bucket. The key of a bucket's slot is read from `SlotKeys`, so no key is stored twice; a
/// std `HashMap<u64, u32>` took 17 bytes a bucket and a string key a second copy. Keys are
/// hashed with std's randomly seeded SipHash, so callers' keys cannot be chosen to collide.
#[derive(Default)]
struct SlotTable {
    /// slot + 1, or 0 for an empty bucket; the length is 0 or a power of two.
    buckets: Vec<u32>,
    len: usize,
    hasher: RandomState,
}

impl SlotTable {
    fn hash(&self, key: KeyRef<'_>) -> u64 {
        match key {
            KeyRef::U64(k) => self.hasher.hash_one(k),
            KeyRef::Str(s) => self.hasher.hash_one(s),
        }
    }

    fn home(&self, hash: u64) -> usize {
        hash as usize & (self.buckets.len() - 1)
    }

    /// The bucket holding `key`'s slot, if any.
    fn find(&self, key: KeyRef<'_>, keys: &SlotKeys) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mask = self.buckets.len() - 1;
        let mut i = self.home(self.hash(key));
        loop {
            match self.buckets[i] {
                0 => return None,
                b if keys.get(b - 1) == Some(key) => return Some(i),
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Adds `slot`, whose key (in `keys`) is not in the table yet.
    fn insert(&mut self, slot: u32, keys: &SlotKeys) {
        // At most 7/8 full: probes stay short.
        if (self.len + 1) * 8 > self.buckets.len() * 7 {
            self.grow(self.len + 1, keys);
        }
        self.place(slot, keys);
        self.len += 1;
    }

    fn place(&mut self, slot: u32, keys: &SlotKeys) {
        let key = keys.get(slot).expect("a slot entered in the table holds a key");
        let mask = self.buckets.len() - 1;
        let mut i = self.home(self.hash(key));
        while self.buckets[i] != 0 {
            i = (i + 1) & mask;
        }
        self.buckets[i] = slot + 1;
    }

    /// Resizes to hold at least `n` slots within the load limit, re-placing every slot.
    fn grow(&mut self, n: usize, keys: &SlotKeys) {
        let size = (n * 8).div_ceil(7).next_power_of_two().max(16);
        if size <= self.buckets.len() {
            return;
        }
        let old = std::mem::replace(&mut self.buckets, vec![0; size]);
        for b in old.into_iter().filter(|&b| b != 0) {
            self.place(b - 1, keys);
        }
    }

    /// Empties bucket `i`, shifting later buckets of its probe run back so that every slot
    /// stays reachable from its home bucket (no tombstones).
    fn remove_at(&mut self, mut i: usize, keys: &SlotKeys) {
        let mask = self.buckets.len() - 1;
        let mut j = i;
        loop {
            self.buckets[i] = 0;
            loop {
                j = (j + 1) & mask;
                let b = self.buckets[j];
                if b == 0 {
                    self.len -= 1;
                    return;
                }
                let key = keys.get(b - 1).expect("a slot in the table holds a key");
                let home = self.home(self.hash(key));
                // Move b back to i unless its home lies cyclically in (i, j].
                let stays = if i <= j { i < home && home <= j } else { i < home || home <= j };
                if !stays {
                    self.buckets[i] = b;
                    i = j;
                    break;
                }
            }
        }
    }

    fn slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.buckets.iter().filter(|&&b| b != 0).map(|&b| b - 1)
    }
}

/// Two-way map between keys and slots. Not synchronised: the index wraps it in a lock.
#[derive(Default)]
pub struct KeyMap {
    kind: Option<KeyKind>,
    by_key: SlotTable,
    by_slot: SlotKeys,
}

impl KeyMap {
    /// The kind of key this map holds, once the first key has been added.
    pub fn kind(&self) -> Option<KeyKind> {
        self.kind
    }

    /// Number of keys stored.
    pub fn len(&self) -> usize {
        self.by_key.len
    }

    /// Whether no key is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The slot that holds `key`.
    pub fn slot_of(&self, key: KeyRef<'_>) -> Option<u32> {
        self.by_key.find(key, &self.by_slot).map(|i| self.by_key.buckets[i] - 1)
    }

    /// The key in `slot`, if any.
    #[inline]
    pub fn key_of(&self, slot: u32) -> Option<KeyRef<'_>> {
        self.by_slot.get(slot)
    }

    /// Fails unless `key` may be stored here: valid, and of this map's kind.
    pub fn check_kind(&self, key: KeyRef<'_>) -> Result<()> {
        key.validate()?;
        self.check_same_kind(key)
    }

    /// Fails unless `key` is of this map's kind (any key fits a map that holds none yet).
    pub fn check_same_kind(&self, key: KeyRef<'_>) -> Result<()> {
        match self.kind {
            Some(kind) if kind != key.kind() => Err(Error::InvalidKey(format!(
                "this index holds {} keys, {key} is a {} key",
                kind_name(kind),
                kind_name(key.kind())
            ))),
            _ => Ok(()),
        }
    }

    /// Records `key` in `slot` (which holds no key), replacing whatever slot held the key
    /// before; returns that old slot. The caller has checked the key with `check_kind`.
    pub fn set(&mut self, key: KeyRef<'_>, slot: u32) -> Option<u32> {
        self.kind.get_or_insert(key.kind());
        let found = self.by_key.find(key, &self.by_slot);
        let old = found.map(|i| self.by_key.buckets[i] - 1);
        let idx = slot as usize;
        match key {
            KeyRef::U64(k) => {
                if matches!(self.by_slot, SlotKeys::Unset) {
                    self.by_slot = SlotKeys::U64(Vec::new());
                }
                let SlotKeys::U64(v) = &mut self.by_slot else { unreachable!("checked kind") };
                if v.len() <= idx {
                    v.resize(idx + 1, NO_KEY);
                }
                v[idx] = k;
            }
            KeyRef::Str(s) => {
                if matches!(self.by_slot, SlotKeys::Unset) {
                    self.by_slot = SlotKeys::Str(Vec::new());
                }
                let SlotKeys::Str(v) = &mut self.by_slot else { unreachable!("checked kind") };
                if v.len() <= idx {
                    v.resize(idx + 1, None);
                }
                v[idx] = Some(s.into());
            }
        }
        match (found, old) {
            // Same key, same hash: the bucket now names the new slot.
            (Some(i), Some(old_slot)) if old_slot != slot => {
                self.by_key.buckets[i] = slot + 1;
                self.clear_slot(old_slot);
            }
            (Some(_), _) => {}
            (None, _) => self.by_key.insert(slot, &self.by_slot),
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
        self.by_key.slots()
    }

    /// Forgets `key`; returns the slot it was in.
    pub fn remove(&mut self, key: KeyRef<'_>) -> Option<u32> {
        let i = self.by_key.find(key, &self.by_slot)?;
        let slot = self.by_key.buckets[i] - 1;
        // The shift needs the keys of the buckets it moves, so the slot is cleared after.
        self.by_key.remove_at(i, &self.by_slot);
        self.clear_slot(slot);
        Some(slot)
    }

    /// Bytes used by the map, approximately (for memory reports).
    pub fn memory_bytes(&self) -> usize {
        let slots = match &self.by_slot {
            SlotKeys::Unset => 0,
            SlotKeys::U64(v) => v.capacity() * 8,
            SlotKeys::Str(v) => {
                v.capacity() * std::mem::size_of::<Option<Box<str>>>() + v.iter().flatten().map(|s| s.len()).sum::<usize>()
            }
        };
        slots + self.by_key.buckets.capacity() * 4
    }
}

/// "u64" or "string", for messages.
pub fn kind_name(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::U64 => "u64",
        KeyKind::Str => "string",
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
            Some(KeyKind::U64) => self.by_slot = SlotKeys::U64(vec![NO_KEY; slots]),
            Some(KeyKind::Str) => self.by_slot = SlotKeys::Str(vec![None; slots]),
            None => {}
        }
        self.by_key.grow(n, &self.by_slot);
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

    /// Random sets, moves and removals against a std HashMap, for both kinds, with few
    /// enough keys that probe runs wrap around the table's end and removals shift them.
    #[test]
    fn agrees_with_a_hash_map_under_random_operations() {
        use std::collections::HashMap;
        for strings in [false, true] {
            let mut m = KeyMap::default();
            let mut model: HashMap<u64, u32> = HashMap::new();
            let mut free: Vec<u32> = (0..4000).rev().collect();
            let mut x = 0x9E37_79B9_7F4A_7C15u64;
            let name = |k: u64| format!("key-{k}");
            for step in 0..60_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let k = x % 3000;
                let s = name(k);
                let key = if strings { KeyRef::Str(&s) } else { KeyRef::U64(k) };
                if (x >> 40) % 5 < 3 {
                    let slot = free.pop().unwrap();
                    let old = m.set(key, slot);
                    assert_eq!(old, model.insert(k, slot), "step {step}");
                    if let Some(o) = old {
                        free.push(o);
                    }
                } else {
                    let got = m.remove(key);
                    assert_eq!(got, model.remove(&k), "step {step}");
                    if let Some(o) = got {
                        free.push(o);
                    }
                }
                if step % 997 == 0 {
                    assert_eq!(m.len(), model.len());
                    for (&k, &slot) in &model {
                        let s = name(k);
                        let key = if strings { KeyRef::Str(&s) } else { KeyRef::U64(k) };
                        assert_eq!(m.slot_of(key), Some(slot));
                        assert_eq!(m.key_of(slot), Some(key));
                    }
                    let mut slots: Vec<u32> = m.slots().collect();
                    slots.sort_unstable();
                    let mut want: Vec<u32> = model.values().copied().collect();
                    want.sort_unstable();
                    assert_eq!(slots, want);
                }
            }
        }
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
