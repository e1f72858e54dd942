//! The indexes of one field ([`FieldIndex`]): which slots have it, and which hold each string,
//! number, boolean and list item; and the ranges ([`Range`]) that ordering comparisons on one
//! field merge into, answered by one walk over the ordered keys.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::ops::Bound;

use roaring::{MultiOps, RoaringBitmap};

use crate::filter::parse::{CompareOp, Literal};
use crate::filter::value::Value;

/// A number on the index's number line: never NaN, `-0.0` stored as `0.0`, totally ordered.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Num(f64);

impl Eq for Num {}

impl PartialOrd for Num {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Num {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// The indexes of one field.
#[derive(Default, Debug)]
pub(super) struct FieldIndex {
    pub(super) name: String,
    pub(super) exists: RoaringBitmap,
    pub(super) strings: BTreeMap<String, RoaringBitmap>,
    pub(super) numbers: BTreeMap<Num, RoaringBitmap>,
    /// `[false, true]`.
    pub(super) bools: [RoaringBitmap; 2],
    pub(super) tags: HashMap<String, RoaringBitmap>,
    /// The slots whose value is null.
    pub(super) nulls: RoaringBitmap,
    /// The items of lists of numbers.
    pub(super) number_items: BTreeMap<Num, RoaringBitmap>,
}

/// Takes `slot` out of `map[key]`, dropping the entry once its bitmap is empty.
fn unset_btree<K: Ord + Borrow<Q>, Q: Ord + ?Sized>(map: &mut BTreeMap<K, RoaringBitmap>, key: &Q, slot: u32) {
    if let Some(b) = map.get_mut(key) {
        b.remove(slot);
        if b.is_empty() {
            map.remove(key);
        }
    }
}

fn unset_hash<K: Eq + Hash + Borrow<Q>, Q: Eq + Hash + ?Sized>(
    map: &mut HashMap<K, RoaringBitmap>,
    key: &Q,
    slot: u32,
) {
    if let Some(b) = map.get_mut(key) {
        b.remove(slot);
        if b.is_empty() {
            map.remove(key);
        }
    }
}

impl FieldIndex {
    pub(super) fn add(&mut self, slot: u32, v: &Value) {
        self.exists.insert(slot);
        match v {
            Value::Str(s) => {
                self.strings.entry(s.clone()).or_default().insert(slot);
            }
            Value::Int(_) | Value::Float(_) => {
                let n = Num(v.as_number().unwrap_or(0.0));
                self.numbers.entry(n).or_default().insert(slot);
            }
            Value::Bool(b) => {
                self.bools[*b as usize].insert(slot);
            }
            Value::Tags(tags) => {
                for t in tags {
                    self.tags.entry(t.clone()).or_default().insert(slot);
                }
            }
            Value::Null => {
                self.nulls.insert(slot);
            }
            Value::Numbers(items) => {
                for item in items {
                    self.number_items.entry(Num(item.as_number().unwrap_or(0.0))).or_default().insert(slot);
                }
            }
        }
    }

    pub(super) fn drop_value(&mut self, slot: u32, v: &Value) {
        self.exists.remove(slot);
        match v {
            Value::Str(s) => unset_btree(&mut self.strings, s.as_str(), slot),
            Value::Int(_) | Value::Float(_) => unset_btree(&mut self.numbers, &Num(v.as_number().unwrap_or(0.0)), slot),
            Value::Bool(b) => {
                self.bools[*b as usize].remove(slot);
            }
            Value::Tags(tags) => {
                for t in tags {
                    unset_hash(&mut self.tags, t.as_str(), slot);
                }
            }
            Value::Null => {
                self.nulls.remove(slot);
            }
            Value::Numbers(items) => {
                for item in items {
                    unset_btree(&mut self.number_items, &Num(item.as_number().unwrap_or(0.0)), slot);
                }
            }
        }
    }

    /// The slots whose list holds `item` (a string in a list of strings, a number in a list of
    /// numbers; None = no slot).
    pub(super) fn contains(&self, item: &Literal) -> Option<&RoaringBitmap> {
        match item {
            Literal::Str(s) => self.tags.get(s.as_str()),
            Literal::Int(_) | Literal::Float(_) => self.number_items.get(&Num(item.as_number()?)),
            Literal::Bool(_) | Literal::Null => None,
        }
    }

    /// The slots whose value equals `lit` (borrowed from the index; None = no slot).
    pub(super) fn equal(&self, lit: &Literal) -> Option<&RoaringBitmap> {
        match lit {
            Literal::Str(s) => self.strings.get(s.as_str()),
            Literal::Bool(b) => Some(&self.bools[*b as usize]),
            Literal::Int(_) | Literal::Float(_) => self.numbers.get(&Num(lit.as_number()?)),
            Literal::Null => Some(&self.nulls),
        }
    }

    /// The slots whose value is ordered `op` against `lit` (`op` is `<`, `<=`, `>` or `>=`).
    pub(super) fn ordered(&self, op: CompareOp, lit: &Literal) -> RoaringBitmap {
        match RangeKey::of(lit) {
            Some(key) => {
                let mut r = Range::default();
                r.tighten(op, key);
                self.range(&r)
            }
            None => RoaringBitmap::new(),
        }
    }

    /// The slots whose value lies in `r` (numbers for a number range, strings for a string one).
    pub(super) fn range(&self, r: &Range<'_>) -> RoaringBitmap {
        if r.is_empty() {
            return RoaringBitmap::new();
        }
        fn str_bound<'a>(b: Bound<RangeKey<'a>>) -> Bound<&'a str> {
            match b {
                Bound::Included(RangeKey::Str(x)) => Bound::Included(x),
                Bound::Excluded(RangeKey::Str(x)) => Bound::Excluded(x),
                _ => Bound::Unbounded,
            }
        }
        fn num_bound(b: Bound<RangeKey<'_>>) -> Bound<Num> {
            match b {
                Bound::Included(RangeKey::Num(x)) => Bound::Included(Num(x)),
                Bound::Excluded(RangeKey::Num(x)) => Bound::Excluded(Num(x)),
                _ => Bound::Unbounded,
            }
        }
        if r.strings {
            union_disjoint(self.strings.range::<str, _>((str_bound(r.lo), str_bound(r.hi))).map(|(_, b)| b))
        } else {
            union_disjoint(self.numbers.range((num_bound(r.lo), num_bound(r.hi))).map(|(_, b)| b))
        }
    }
}

/// Union of the bitmaps of a range walk (disjoint: a slot has one value per field). Many
/// small bitmaps (a high-cardinality field such as a price) are merged by sorting their
/// elements, O(n log n); merging them one by one would cost O(n) each.
fn union_disjoint<'a>(bitmaps: impl Iterator<Item = &'a RoaringBitmap>) -> RoaringBitmap {
    let parts: Vec<&RoaringBitmap> = bitmaps.collect();
    let total: u64 = parts.iter().map(|b| b.len()).sum();
    if parts.len() <= 16 || total > 64 * parts.len() as u64 {
        return parts.into_iter().union();
    }
    let mut slots: Vec<u32> = Vec::with_capacity(total as usize);
    for b in parts {
        slots.extend(b.iter());
    }
    slots.sort_unstable();
    slots.dedup();
    // Sorted and deduplicated, so this cannot fail; the fallback keeps it panic-free.
    RoaringBitmap::from_sorted_iter(slots.iter().copied()).unwrap_or_else(|_| slots.into_iter().collect())
}

/// One end of a range: a number (normalised, never NaN) or a string.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub(super) enum RangeKey<'a> {
    Num(f64),
    Str(&'a str),
}

impl<'a> RangeKey<'a> {
    pub(super) fn of(lit: &'a Literal) -> Option<RangeKey<'a>> {
        match lit {
            Literal::Str(s) => Some(RangeKey::Str(s)),
            Literal::Bool(_) => None,
            _ => lit.as_number().map(RangeKey::Num),
        }
    }
}

/// A range over one field's numbers or strings: the AND of ordering comparisons on that field
/// (`a >= 100 AND a < 110` becomes one walk over the keys in [100, 110)).
#[derive(Clone, Copy, Debug)]
pub(super) struct Range<'a> {
    /// Whether the keys are strings (else numbers).
    pub(super) strings: bool,
    pub(super) lo: Bound<RangeKey<'a>>,
    pub(super) hi: Bound<RangeKey<'a>>,
}

impl Default for Range<'_> {
    fn default() -> Self {
        Range { strings: false, lo: Bound::Unbounded, hi: Bound::Unbounded }
    }
}

impl<'a> Range<'a> {
    /// Narrows the range by `value op key` (keys of one kind only: the caller groups them).
    pub(super) fn tighten(&mut self, op: CompareOp, key: RangeKey<'a>) {
        self.strings = matches!(key, RangeKey::Str(_));
        // At an equal key, the excluding bound is the tighter one.
        let tighter = |old: Bound<RangeKey<'a>>, new: Bound<RangeKey<'a>>, lower: bool| match (old, new) {
            (Bound::Unbounded, n) => n,
            (o, Bound::Unbounded) => o,
            (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => {
                if a == b {
                    if matches!(old, Bound::Excluded(_)) {
                        old
                    } else {
                        new
                    }
                } else if (b > a) == lower {
                    new
                } else {
                    old
                }
            }
        };
        match op {
            CompareOp::Gt => self.lo = tighter(self.lo, Bound::Excluded(key), true),
            CompareOp::Ge => self.lo = tighter(self.lo, Bound::Included(key), true),
            CompareOp::Lt => self.hi = tighter(self.hi, Bound::Excluded(key), false),
            CompareOp::Le => self.hi = tighter(self.hi, Bound::Included(key), false),
            CompareOp::Eq | CompareOp::Ne => {}
        }
    }

    /// Whether no key can lie in the range (BTreeMap::range panics on such bounds).
    fn is_empty(&self) -> bool {
        match (self.lo, self.hi) {
            (Bound::Included(a), Bound::Included(b)) => a > b,
            (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => a >= b,
            _ => false,
        }
    }
}
