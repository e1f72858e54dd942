//! `MetadataStore`: each live slot's metadata, plus per-field indexes that turn a [`Filter`]
//! into the set of matching slots.
//!
//! What each filter matches (for a live slot; a slot never `set` is not live):
//! - `f = v`: the record has `f` and its value equals `v`. Integers and floats compare as
//!   numbers (`3 = 3.0`, `-0.0 = 0.0`); a string never equals a number (`"3" != 3`); a list
//!   of strings never equals anything (use CONTAINS).
//! - `f != v`: the record HAS `f` and its value does not equal `v` (by the rule above, so a
//!   string or a list under `f` matches `f != 3`). A record without `f` does not match;
//!   `NOT f = v` does.
//! - `f < v`, `<=`, `>`, `>=`: numbers against a number, by value; strings against a string,
//!   by bytes (= Unicode code point order, so ISO dates compare as dates). Values of another
//!   kind do not match.
//! - `f IN (v1, v2, ...)`: `f = v1 OR f = v2 OR ...`.
//! - `f CONTAINS "x"`: `f` is a list of strings holding `"x"`. A plain string never matches.
//! - `EXISTS f`: the record has `f`, whatever its value (an empty list counts).
//! - `NOT g`: every live slot that `g` does not match (records lacking the field included).
//! - `AND`, `OR`: intersection and union.
//!
//! Indexes, per field (a field name is interned once to a small id):
//! - `exists`: slots that have the field;
//! - `strings`: value -> slots, ordered (for `=` and string ranges);
//! - `numbers`: value -> slots, ordered on one number line for integers and floats;
//! - `bools`: two bitmaps;
//! - `tags`: list item -> slots.
//!
//! Invariant (see [`MetadataStore::check_invariants`]): each index holds exactly the slots whose
//! stored value puts them there, no bitmap in a map is empty, and every record's slot is live.
//!
//! Thread safety: plain data (`Send + Sync`); reads take `&self`, writes `&mut self`, so the
//! owner puts the store behind a lock (`RwLock`).

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::ops::Bound;

use roaring::{MultiOps, RoaringBitmap};

use super::parse::{CompareOp, Filter, Literal};
use super::value::{metadata_to_json, parse_metadata, Metadata, Value, MAX_EXACT_INT};
use crate::error::{Error, Result};

/// A number on the index's number line: never NaN, `-0.0` stored as `0.0`, totally ordered.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Num(f64);

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
struct FieldIndex {
    name: String,
    exists: RoaringBitmap,
    strings: BTreeMap<String, RoaringBitmap>,
    numbers: BTreeMap<Num, RoaringBitmap>,
    /// `[false, true]`.
    bools: [RoaringBitmap; 2],
    tags: HashMap<String, RoaringBitmap>,
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
    fn add(&mut self, slot: u32, v: &Value) {
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
        }
    }

    fn drop_value(&mut self, slot: u32, v: &Value) {
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
        }
    }

    /// The slots whose value equals `lit` (borrowed from the index; None = no slot).
    fn equal(&self, lit: &Literal) -> Option<&RoaringBitmap> {
        match lit {
            Literal::Str(s) => self.strings.get(s.as_str()),
            Literal::Bool(b) => Some(&self.bools[*b as usize]),
            Literal::Int(_) | Literal::Float(_) => self.numbers.get(&Num(lit.as_number()?)),
        }
    }

    /// The slots whose value is ordered `op` against `lit` (`op` is `<`, `<=`, `>` or `>=`).
    fn ordered(&self, op: CompareOp, lit: &Literal) -> RoaringBitmap {
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
    fn range(&self, r: &Range<'_>) -> RoaringBitmap {
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
enum RangeKey<'a> {
    Num(f64),
    Str(&'a str),
}

impl<'a> RangeKey<'a> {
    fn of(lit: &'a Literal) -> Option<RangeKey<'a>> {
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
struct Range<'a> {
    strings: bool,
    lo: Bound<RangeKey<'a>>,
    hi: Bound<RangeKey<'a>>,
}

impl Default for Range<'_> {
    fn default() -> Self {
        Range { strings: false, lo: Bound::Unbounded, hi: Bound::Unbounded }
    }
}

impl<'a> Range<'a> {
    /// Narrows the range by `value op key` (keys of one kind only: the caller groups them).
    fn tighten(&mut self, op: CompareOp, key: RangeKey<'a>) {
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

/// Below this many candidates, the rest of an AND is checked record by record: cheaper than
/// building the remaining parts' bitmaps (a range may union thousands of them).
const RECHECK_MAX: u64 = 256;

/// Order in which an AND's parts are evaluated: cheap and usually selective first.
fn and_cost(f: &Filter) -> u8 {
    match f {
        Filter::Compare { op: CompareOp::Eq, .. } | Filter::In { .. } | Filter::Contains { .. } => 0,
        Filter::Exists { .. } | Filter::Compare { op: CompareOp::Ne, .. } => 2,
        Filter::Compare { .. } => 1,
        Filter::And(_) | Filter::Or(_) => 3,
        Filter::Not(_) => 4,
    }
}

/// A stored record: (field id, value), sorted by field id.
type Record = Box<[(u32, Value)]>;

/// Metadata of the live slots, indexed per field. See the module doc for filter semantics.
#[derive(Default, Debug)]
pub struct MetadataStore {
    live: RoaringBitmap,
    /// The fields of the live slots that have any: most indexes give few or no records
    /// metadata, and an entry per record would cost ~50 bytes each (see BENCHMARKS.md).
    records: HashMap<u32, Record>,
    field_ids: HashMap<String, u32>,
    fields: Vec<FieldIndex>,
}

/// Whether `v` equals `lit` (see the module doc).
fn value_equals(v: &Value, lit: &Literal) -> bool {
    match (v, lit) {
        (Value::Str(a), Literal::Str(b)) => a == b,
        (Value::Bool(a), Literal::Bool(b)) => a == b,
        _ => matches!((v.as_number(), lit.as_number()), (Some(a), Some(b)) if a == b),
    }
}

/// Whether `v op lit` holds (see the module doc).
fn value_compare(v: &Value, op: CompareOp, lit: &Literal) -> bool {
    let ord = match op {
        CompareOp::Eq => return value_equals(v, lit),
        CompareOp::Ne => return !value_equals(v, lit),
        _ => match (v, lit) {
            (Value::Str(a), Literal::Str(b)) => Some(a.as_str().cmp(b.as_str())),
            _ => match (v.as_number(), lit.as_number()) {
                (Some(a), Some(b)) => a.partial_cmp(&b),
                _ => None,
            },
        },
    };
    ord.is_some_and(|o| match op {
        CompareOp::Lt => o.is_lt(),
        CompareOp::Le => o.is_le(),
        CompareOp::Gt => o.is_gt(),
        _ => o.is_ge(),
    })
}

fn check_value(field: &str, v: &Value) -> Result<()> {
    match *v {
        Value::Int(i) if !(-MAX_EXACT_INT..=MAX_EXACT_INT).contains(&i) => Err(Error::InvalidArgument(format!(
            "metadata: field \"{field}\" holds the integer {i}, outside ±2^53 ({MAX_EXACT_INT}), the range stored exactly"
        ))),
        Value::Float(f) if !f.is_finite() => Err(Error::InvalidArgument(format!(
            "metadata: field \"{field}\" holds {f}; floats must be finite"
        ))),
        _ => Ok(()),
    }
}

impl MetadataStore {
    /// An empty store.
    pub fn new() -> MetadataStore {
        MetadataStore::default()
    }

    /// Number of live slots (records with metadata, empty or not).
    pub fn len(&self) -> usize {
        self.live.len() as usize
    }

    /// Whether no slot is live.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// The live slots: the universe that `NOT` complements against.
    pub fn live(&self) -> &RoaringBitmap {
        &self.live
    }

    /// Whether `slot` is live here.
    pub fn contains(&self, slot: u32) -> bool {
        self.live.contains(slot)
    }

    /// Makes `slot` live with the metadata in `json` (one JSON object), replacing what it had.
    /// On error (not JSON, not an object, a refused value) the store is unchanged.
    pub fn set(&mut self, slot: u32, json: &str) -> Result<()> {
        let m = parse_metadata(json)?;
        self.set_metadata(slot, m)
    }

    /// As [`MetadataStore::set`], from already-built metadata (checked the same way).
    pub fn set_metadata(&mut self, slot: u32, metadata: Metadata) -> Result<()> {
        for (k, v) in &metadata {
            check_value(k, v)?;
        }
        self.remove(slot);
        let mut record: Vec<(u32, Value)> = Vec::with_capacity(metadata.len());
        for (name, value) in metadata {
            let id = self.field_id(&name);
            self.fields[id as usize].add(slot, &value);
            record.push((id, value));
        }
        record.sort_unstable_by_key(|(id, _)| *id);
        if !record.is_empty() {
            self.records.insert(slot, record.into_boxed_slice());
        }
        self.live.insert(slot);
        Ok(())
    }

    /// Makes `slot` live with no fields (a record added without metadata), replacing what it had.
    pub fn set_empty(&mut self, slot: u32) {
        self.remove(slot);
        self.live.insert(slot);
    }

    /// Drops `slot` and its metadata; returns whether it was live.
    pub fn remove(&mut self, slot: u32) -> bool {
        if !self.live.remove(slot) {
            return false;
        }
        if let Some(record) = self.records.remove(&slot) {
            for (id, value) in record.iter() {
                self.fields[*id as usize].drop_value(slot, value);
            }
        }
        true
    }

    /// The metadata of `slot`, if live.
    pub fn get(&self, slot: u32) -> Option<Metadata> {
        if !self.live.contains(slot) {
            return None;
        }
        let record = self.fields_of(slot);
        Some(record.iter().map(|(id, v)| (self.fields[*id as usize].name.clone(), v.clone())).collect())
    }

    /// The metadata of `slot` as JSON text (keys in byte order), if live.
    pub fn get_json(&self, slot: u32) -> Option<String> {
        self.get(slot).map(|m| metadata_to_json(&m).to_string())
    }

    fn field_id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.field_ids.get(name) {
            return id;
        }
        let id = self.fields.len() as u32;
        self.fields.push(FieldIndex { name: name.to_string(), ..Default::default() });
        self.field_ids.insert(name.to_string(), id);
        id
    }

    fn field(&self, name: &str) -> Option<&FieldIndex> {
        self.field_ids.get(name).map(|&id| &self.fields[id as usize])
    }

    /// The live slots that `filter` matches, from the indexes.
    pub fn evaluate(&self, filter: &Filter) -> RoaringBitmap {
        match filter {
            Filter::Compare { field, op, value } => {
                let Some(fi) = self.field(field) else { return RoaringBitmap::new() };
                match op {
                    CompareOp::Eq => fi.equal(value).cloned().unwrap_or_default(),
                    CompareOp::Ne => match fi.equal(value) {
                        Some(eq) => &fi.exists - eq,
                        None => fi.exists.clone(),
                    },
                    _ => fi.ordered(*op, value),
                }
            }
            Filter::In { field, values } => {
                let Some(fi) = self.field(field) else { return RoaringBitmap::new() };
                values.iter().filter_map(|v| fi.equal(v)).union()
            }
            Filter::Contains { field, value } => {
                self.field(field).and_then(|fi| fi.tags.get(value.as_str())).cloned().unwrap_or_default()
            }
            Filter::Exists { field } => self.field(field).map(|fi| fi.exists.clone()).unwrap_or_default(),
            Filter::Not(inner) => &self.live - self.evaluate(inner),
            Filter::And(parts) => self.evaluate_and(parts),
            Filter::Or(parts) => parts.iter().map(|p| self.evaluate(p)).union(),
        }
    }

    /// An AND: ordering comparisons on one field merge into one range walk; parts run
    /// cheapest first; NOT parts are subtracted (never complemented); once few candidates
    /// remain, the rest is checked on their records.
    fn evaluate_and(&self, parts: &[Filter]) -> RoaringBitmap {
        let mut ranges: Vec<(&str, Range<'_>)> = Vec::new();
        let mut others: Vec<&Filter> = Vec::new();
        for p in parts {
            match p {
                Filter::Compare { field, op, value } if op.is_ordering() => match RangeKey::of(value) {
                    Some(key) => {
                        let strings = matches!(key, RangeKey::Str(_));
                        let at = match ranges.iter().position(|(f, r)| *f == field.as_str() && r.strings == strings) {
                            Some(at) => at,
                            None => {
                                ranges.push((field, Range { strings, ..Default::default() }));
                                ranges.len() - 1
                            }
                        };
                        ranges[at].1.tighten(*op, key);
                    }
                    None => return RoaringBitmap::new(),
                },
                _ => others.push(p),
            }
        }
        others.sort_by_key(|p| and_cost(p));
        let mut acc: Option<RoaringBitmap> = None;
        let steps = others.len() + ranges.len();
        let mut applied = 0;
        let small = |acc: &Option<RoaringBitmap>| acc.as_ref().is_some_and(|a| a.len() <= RECHECK_MAX);
        let narrow = |acc: Option<RoaringBitmap>, b: RoaringBitmap| match acc {
            None => b,
            Some(a) => a & b,
        };
        let (cheap, rest): (Vec<&Filter>, Vec<&Filter>) = others.iter().partition(|p| and_cost(p) == 0);
        for p in cheap {
            if small(&acc) {
                break;
            }
            acc = Some(narrow(acc, self.evaluate(p)));
            applied += 1;
        }
        for (field, r) in &ranges {
            if small(&acc) {
                break;
            }
            let b = self.field(field).map(|fi| fi.range(r)).unwrap_or_default();
            acc = Some(narrow(acc, b));
            applied += 1;
        }
        for p in rest {
            if small(&acc) {
                break;
            }
            acc = Some(match (acc, p) {
                (Some(a), Filter::Not(inner)) => a - self.evaluate(inner),
                (acc, p) => narrow(acc, self.evaluate(p)),
            });
            applied += 1;
        }
        match acc {
            // Some parts were skipped because few candidates were left: check those candidates
            // on their records against every part (the parts already applied pass again).
            Some(a) if applied < steps => a
                .iter()
                .filter(|slot| {
                    let record = self.fields_of(*slot);
                    parts.iter().all(|p| self.record_matches(record, p))
                })
                .collect(),
            Some(a) => a,
            None => self.live.clone(),
        }
    }

    /// Whether live `slot` matches `filter`, checked on its record alone (no index): the
    /// per-node test for a graph search, and the oracle for [`MetadataStore::evaluate`].
    /// False for a slot that is not live.
    pub fn matches(&self, slot: u32, filter: &Filter) -> bool {
        self.live.contains(slot) && self.record_matches(self.fields_of(slot), filter)
    }

    /// The (field id, value) pairs of a live slot, by field id; empty for a record without metadata.
    fn fields_of(&self, slot: u32) -> &[(u32, Value)] {
        self.records.get(&slot).map_or(&[], |r| r)
    }

    fn value_of<'a>(&self, record: &'a [(u32, Value)], field: &str) -> Option<&'a Value> {
        let id = *self.field_ids.get(field)?;
        record.binary_search_by_key(&id, |(k, _)| *k).ok().map(|i| &record[i].1)
    }

    fn record_matches(&self, record: &[(u32, Value)], filter: &Filter) -> bool {
        match filter {
            Filter::Compare { field, op, value } => {
                self.value_of(record, field).is_some_and(|v| value_compare(v, *op, value))
            }
            Filter::In { field, values } => {
                self.value_of(record, field).is_some_and(|v| values.iter().any(|l| value_equals(v, l)))
            }
            Filter::Contains { field, value } => {
                matches!(self.value_of(record, field), Some(Value::Tags(t)) if t.iter().any(|x| x == value))
            }
            Filter::Exists { field } => self.value_of(record, field).is_some(),
            Filter::Not(inner) => !self.record_matches(record, inner),
            Filter::And(parts) => parts.iter().all(|p| self.record_matches(record, p)),
            Filter::Or(parts) => parts.iter().any(|p| self.record_matches(record, p)),
        }
    }

    /// Approximate bytes held (bitmaps, keys, records).
    pub fn memory_bytes(&self) -> usize {
        let value_bytes = |v: &Value| match v {
            Value::Str(s) => s.capacity(),
            Value::Tags(t) => t.iter().map(|s| s.capacity() + 24).sum(),
            _ => 0,
        };
        let mut n = self.live.serialized_size();
        for fi in &self.fields {
            n += fi.name.capacity() * 2 + fi.exists.serialized_size();
            n += fi.strings.iter().map(|(k, b)| k.capacity() + 48 + b.serialized_size()).sum::<usize>();
            n += fi.numbers.values().map(|b| 40 + b.serialized_size()).sum::<usize>();
            n += fi.bools.iter().map(|b| b.serialized_size()).sum::<usize>();
            n += fi.tags.iter().map(|(k, b)| k.capacity() + 56 + b.serialized_size()).sum::<usize>();
        }
        for r in self.records.values() {
            n += 24
                + r.len() * std::mem::size_of::<(u32, Value)>()
                + r.iter().map(|(_, v)| value_bytes(v)).sum::<usize>();
        }
        n
    }

    /// Checks that the indexes hold exactly what the records say (an O(size) audit for tests
    /// and `Index::check_invariants`).
    pub fn check_invariants(&self) -> std::result::Result<(), String> {
        let mut rebuilt: Vec<FieldIndex> =
            self.fields.iter().map(|f| FieldIndex { name: f.name.clone(), ..Default::default() }).collect();
        let mut live = RoaringBitmap::new();
        for (&slot, record) in &self.records {
            if record.is_empty() {
                return Err(format!("slot {slot}: an empty record is stored"));
            }
            live.insert(slot);
            for w in record.windows(2) {
                if w[0].0 >= w[1].0 {
                    return Err(format!("slot {slot}: record fields out of order"));
                }
            }
            for (id, v) in record.iter() {
                let f = rebuilt.get_mut(*id as usize).ok_or(format!("slot {slot}: unknown field id {id}"))?;
                f.add(slot, v);
            }
        }
        if !live.is_subset(&self.live) {
            return Err(format!("{} records with fields are not live", (&live - &self.live).len()));
        }
        if self.field_ids.len() != self.fields.len() {
            return Err(format!("{} field ids for {} fields", self.field_ids.len(), self.fields.len()));
        }
        for (i, (have, want)) in self.fields.iter().zip(&rebuilt).enumerate() {
            let name = &have.name;
            if self.field_ids.get(name) != Some(&(i as u32)) {
                return Err(format!("field {name:?}: id map disagrees"));
            }
            if have.exists != want.exists {
                return Err(format!("field {name:?}: exists bitmap differs"));
            }
            if have.strings != want.strings {
                return Err(format!("field {name:?}: string index differs"));
            }
            if have.numbers != want.numbers {
                return Err(format!("field {name:?}: number index differs"));
            }
            if have.bools != want.bools {
                return Err(format!("field {name:?}: boolean index differs"));
            }
            if have.tags != want.tags {
                return Err(format!("field {name:?}: tag index differs"));
            }
        }
        Ok(())
    }
}

// ---- persistence (the MDAT section of docs/format.md) ----
impl MetadataStore {
    /// Every field name ever used, in the order first seen.
    pub fn field_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.fields.iter().map(|f| f.name.as_str())
    }

    /// Encodes the store: the field names in id order, then every live record in slot order
    /// as (field id, value) pairs. Deterministic: the same store gives the same bytes.
    pub(crate) fn encode(&self, out: &mut crate::encoding::Le) {
        out.u32(self.fields.len() as u32);
        for f in &self.fields {
            out.str(&f.name);
        }
        // Every live slot in order, empty records included; the records with fields sorted by
        // slot and merged in (a look-up per slot would miss the cache at every step).
        let mut records: Vec<(u32, &[(u32, Value)])> = self.records.iter().map(|(&slot, r)| (slot, &r[..])).collect();
        records.sort_unstable_by_key(|&(slot, _)| slot);
        let mut with_fields = records.into_iter().peekable();
        out.u32(self.live.len() as u32);
        for slot in self.live.iter() {
            let record = with_fields.next_if(|&(s, _)| s == slot).map_or(&[][..], |(_, r)| r);
            out.u32(slot);
            out.u32(record.len() as u32);
            for (id, value) in record.iter() {
                out.u32(*id);
                match value {
                    Value::Str(s) => {
                        out.u8(0);
                        out.str(s);
                    }
                    Value::Int(i) => {
                        out.u8(1);
                        out.u64(*i as u64);
                    }
                    Value::Float(f) => {
                        out.u8(2);
                        out.u64(f.to_bits());
                    }
                    Value::Bool(b) => {
                        out.u8(3);
                        out.u8(*b as u8);
                    }
                    Value::Tags(tags) => {
                        out.u8(4);
                        out.u32(tags.len() as u32);
                        for t in tags {
                            out.str(t);
                        }
                    }
                }
            }
        }
    }

    /// Decodes what [`MetadataStore::encode`] wrote, checking everything: field names distinct,
    /// ids in range and increasing within a record, values as `set` accepts them, slots
    /// increasing and each `live`, and exactly `records` of them.
    pub(crate) fn decode(bytes: &[u8], records: usize, live: impl Fn(u32) -> bool) -> Result<MetadataStore> {
        use crate::encoding::{corrupt, Cursor};
        let mut c = Cursor::new(bytes, "MDAT");
        let mut store = MetadataStore::new();
        let fields = c.count(4)?;
        for _ in 0..fields {
            let name = c.str()?;
            if store.field_ids.contains_key(name) {
                return Err(corrupt(format!("MDAT: field {name:?} is named twice")));
            }
            store.field_id(name);
        }
        let n = c.count(8)?;
        if n != records {
            return Err(corrupt(format!("MDAT holds {n} records, the index {records}")));
        }
        let mut live_slots = Vec::with_capacity(n);
        let mut last: Option<u32> = None;
        for _ in 0..n {
            let slot = c.u32()?;
            if last.is_some_and(|l| slot <= l) || !live(slot) {
                return Err(corrupt(format!("MDAT: slot {slot} is not live or out of order")));
            }
            last = Some(slot);
            let count = c.count(5)?;
            let mut record: Vec<(u32, Value)> = Vec::with_capacity(count);
            for _ in 0..count {
                let id = c.u32()?;
                if id as usize >= fields || record.last().is_some_and(|(prev, _)| id <= *prev) {
                    return Err(corrupt(format!("MDAT: slot {slot} has a bad field id {id}")));
                }
                let value = match c.u8()? {
                    0 => Value::Str(c.str()?.to_string()),
                    1 => Value::Int(c.u64()? as i64),
                    2 => Value::Float(f64::from_bits(c.u64()?)),
                    3 => match c.u8()? {
                        b @ (0 | 1) => Value::Bool(b == 1),
                        b => return Err(corrupt(format!("MDAT: slot {slot} has a boolean byte {b}"))),
                    },
                    4 => {
                        let k = c.count(4)?;
                        let mut tags = Vec::with_capacity(k);
                        for _ in 0..k {
                            tags.push(c.str()?.to_string());
                        }
                        Value::Tags(tags)
                    }
                    t => return Err(corrupt(format!("MDAT: slot {slot} has a value of unknown type {t}"))),
                };
                check_value(&store.fields[id as usize].name, &value).map_err(|e| corrupt(format!("MDAT: slot {slot}: {e}")))?;
                record.push((id, value));
            }
            for (id, value) in &record {
                store.fields[*id as usize].add(slot, value);
            }
            if !record.is_empty() {
                store.records.insert(slot, record.into_boxed_slice());
            }
            live_slots.push(slot);
        }
        c.finish()?;
        // Increasing (checked above), so this cannot fail; the fallback keeps it panic-free.
        store.live = RoaringBitmap::from_sorted_iter(live_slots.iter().copied()).unwrap_or_else(|_| live_slots.into_iter().collect());
        Ok(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(records: &[(u32, &str)]) -> MetadataStore {
        let mut s = MetadataStore::new();
        for (slot, json) in records {
            s.set(*slot, json).unwrap();
        }
        s.check_invariants().unwrap();
        s
    }

    /// Slots matched, by the index and by the per-record check (which must agree).
    fn hits(s: &MetadataStore, text: &str) -> Vec<u32> {
        let f = Filter::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let by_index: Vec<u32> = s.evaluate(&f).iter().collect();
        let by_record: Vec<u32> = s.live().iter().filter(|&x| s.matches(x, &f)).collect();
        assert_eq!(by_index, by_record, "{text}");
        by_index
    }

    #[test]
    fn set_get_replace_remove() {
        let mut s = MetadataStore::new();
        assert!(s.is_empty());
        s.set(7, r#"{"genre":"jazz","year":1959,"tags":["live","mono"],"rating":4.5,"free":false}"#).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(
            s.get_json(7).unwrap(),
            r#"{"free":false,"genre":"jazz","rating":4.5,"tags":["live","mono"],"year":1959}"#
        );
        assert_eq!(s.get(7).unwrap()["year"], Value::Int(1959));
        assert_eq!(hits(&s, r#"genre = "jazz""#), vec![7]);
        assert_eq!(hits(&s, r#"tags CONTAINS "mono""#), vec![7]);

        // Replace: old values leave every index.
        s.set(7, r#"{"genre":"rock","tags":["studio"]}"#).unwrap();
        s.check_invariants().unwrap();
        assert_eq!(s.len(), 1);
        assert!(hits(&s, r#"genre = "jazz""#).is_empty());
        assert!(hits(&s, "year = 1959").is_empty());
        assert!(hits(&s, "EXISTS year OR EXISTS rating OR EXISTS free").is_empty());
        assert!(hits(&s, r#"tags CONTAINS "mono""#).is_empty());
        assert_eq!(hits(&s, r#"genre = "rock" AND tags CONTAINS "studio""#), vec![7]);
        assert_eq!(s.get_json(7).unwrap(), r#"{"genre":"rock","tags":["studio"]}"#);

        // A refused set leaves the record as it was.
        assert!(matches!(s.set(7, r#"{"genre":{"x":null}}"#), Err(Error::InvalidArgument(_))));
        assert!(s.set(7, "[]").is_err());
        assert_eq!(s.get_json(7).unwrap(), r#"{"genre":"rock","tags":["studio"]}"#);
        s.check_invariants().unwrap();

        // Remove.
        assert!(s.remove(7));
        assert!(!s.remove(7));
        assert!(s.get(7).is_none() && s.is_empty() && !s.contains(7));
        assert!(hits(&s, "EXISTS genre").is_empty());
        assert!(hits(&s, "NOT EXISTS genre").is_empty());
        s.check_invariants().unwrap();
        // Emptied values leave no bitmap behind.
        assert!(s.fields.iter().all(|f| f.strings.is_empty() && f.tags.is_empty() && f.numbers.is_empty()));

        // Empty metadata: live, no fields.
        s.set_empty(3);
        s.set(4, "{}").unwrap();
        assert_eq!(s.get_json(3).unwrap(), "{}");
        assert_eq!(hits(&s, "NOT EXISTS genre"), vec![3, 4]);
        s.check_invariants().unwrap();
    }

    #[test]
    fn set_metadata_checks_values() {
        let mut s = MetadataStore::new();
        let mut m = Metadata::new();
        m.insert("n".into(), Value::Int(MAX_EXACT_INT + 1));
        assert!(s.set_metadata(1, m).is_err());
        let mut m = Metadata::new();
        m.insert("f".into(), Value::Float(f64::NAN));
        assert!(s.set_metadata(1, m).is_err());
        assert!(s.is_empty());
    }

    #[test]
    fn semantics_of_each_operator() {
        let s = store(&[
            (0, r#"{"n":3,"s":"b","t":["x","y"],"b":true}"#),
            (1, r#"{"n":3.0,"s":"a"}"#),
            (2, r#"{"n":-0.0,"s":"3","b":false}"#),
            (3, r#"{"n":"3","t":[]}"#),
            (4, r#"{"n":2.5,"s":"c","t":["y"]}"#),
            (5, r#"{}"#),
            (6, r#"{"n":["3"],"s":"2024-01-15"}"#),
        ]);
        // Numbers: integers and floats on one line; strings and lists are not numbers.
        assert_eq!(hits(&s, "n = 3"), vec![0, 1]);
        assert_eq!(hits(&s, "n = 3.0"), vec![0, 1]);
        assert_eq!(hits(&s, "n = 0"), vec![2]);
        assert_eq!(hits(&s, "n = -0.0"), vec![2]);
        assert_eq!(hits(&s, r#"n = "3""#), vec![3]);
        // != needs the field; other kinds count as different.
        assert_eq!(hits(&s, "n != 3"), vec![2, 3, 4, 6]);
        assert_eq!(hits(&s, "NOT n = 3"), vec![2, 3, 4, 5, 6]);
        assert_eq!(hits(&s, "missing != 1"), Vec::<u32>::new());
        assert_eq!(hits(&s, "NOT missing = 1"), vec![0, 1, 2, 3, 4, 5, 6]);
        // Ranges.
        assert_eq!(hits(&s, "n < 3"), vec![2, 4]);
        assert_eq!(hits(&s, "n <= 3"), vec![0, 1, 2, 4]);
        assert_eq!(hits(&s, "n > 0"), vec![0, 1, 4]);
        assert_eq!(hits(&s, "n >= 0"), vec![0, 1, 2, 4]);
        assert_eq!(hits(&s, "n >= -0.0"), vec![0, 1, 2, 4]);
        assert_eq!(hits(&s, r#"s < "b""#), vec![1, 2, 6]);
        assert_eq!(hits(&s, r#"s >= "2024-01-01" AND s < "2024-02-01""#), vec![6]);
        assert_eq!(hits(&s, r#"n > "2""#), vec![3]);
        // Booleans.
        assert_eq!(hits(&s, "b = true"), vec![0]);
        assert_eq!(hits(&s, "b != true"), vec![2]);
        assert_eq!(hits(&s, "b = false"), vec![2]);
        // IN, mixed kinds.
        assert_eq!(hits(&s, r#"n IN (2.5, "3", 99)"#), vec![3, 4]);
        assert_eq!(hits(&s, r#"s IN ("a", "c", true)"#), vec![1, 4]);
        // CONTAINS only looks in lists; lists match nothing else.
        assert_eq!(hits(&s, r#"t CONTAINS "y""#), vec![0, 4]);
        assert_eq!(hits(&s, r#"s CONTAINS "a""#), Vec::<u32>::new());
        assert_eq!(hits(&s, r#"n CONTAINS "3""#), vec![6]);
        assert_eq!(hits(&s, r#"t = "y""#), Vec::<u32>::new());
        // EXISTS counts an empty list.
        assert_eq!(hits(&s, "EXISTS t"), vec![0, 3, 4]);
        // Combinations.
        assert_eq!(hits(&s, r#"n = 3 AND NOT s = "a""#), vec![0]);
        assert_eq!(hits(&s, r#"NOT EXISTS s AND NOT EXISTS t"#), vec![5]);
        assert_eq!(hits(&s, "NOT n = 3 AND NOT EXISTS b"), vec![3, 4, 5, 6]);
        assert_eq!(hits(&s, r#"n = 3 OR t CONTAINS "y" OR s = "3""#), vec![0, 1, 2, 4]);
        assert_eq!(hits(&s, "NOT (n = 3 OR n = 0)"), vec![3, 4, 5, 6]);
        assert!(s.memory_bytes() > 0);
    }

    #[test]
    fn ranges_on_one_field_merge() {
        let mut s = MetadataStore::new();
        // Enough records that an AND goes through the indexes before the per-record recheck.
        for i in 0..2000u32 {
            let json = if i % 10 == 9 {
                format!(r#"{{"n":"s{:04}"}}"#, i)
            } else {
                format!(r#"{{"n":{},"m":{}}}"#, i as f64 / 2.0, i % 7)
            };
            s.set(i, &json).unwrap();
        }
        s.check_invariants().unwrap();
        let count = |text: &str| hits(&s, text).len();
        assert_eq!(count("n >= 100 AND n < 110"), 20 - 2);
        assert_eq!(count("n > 100 AND n >= 100 AND n <= 110 AND n < 110.5"), 20 - 2);
        assert_eq!(count("n >= 100 AND n <= 100"), 1);
        assert_eq!(count("n > 100 AND n < 100"), 0);
        assert_eq!(count("n > 100 AND n <= 100"), 0);
        assert_eq!(count("n >= 100 AND n < 100"), 0);
        assert_eq!(count("n > 101 AND n < 100"), 0);
        assert_eq!(count(r#"n >= "s0100" AND n < "s0200""#), 10);
        assert_eq!(count(r#"n > 5 AND n < "s0200""#), 0);
        let numeric = |keep: &dyn Fn(u32) -> bool| (0..2000u32).filter(|i| i % 10 != 9 && keep(*i)).count();
        assert_eq!(count(r#"n >= 0 AND NOT m = 3 AND n < 500"#), numeric(&|i| i < 1000 && i % 7 != 3));
        assert_eq!(count(r#"m = 3 AND n >= 10"#), numeric(&|i| i >= 20 && i % 7 == 3));
        // A selective first part leaves the rest to the per-record recheck.
        assert_eq!(count("n = 5 AND m >= 3"), 1);
        assert_eq!(count("n = 5 AND m < 3"), 0);
        assert_eq!(count(r#"n IN (1, 2, 3.5, "s0009") AND NOT m = 1 AND m < 6 AND (n > 1 OR EXISTS m)"#), 3);
        assert_eq!(count(r#"m < 3 AND m >= 1 AND NOT n > 800"#), hits(&s, "(m = 1 OR m = 2) AND n <= 800").len());
    }

    // ---- randomized: index evaluation == per-record check == an oracle over the raw JSON ----

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn chance(&mut self, percent: usize) -> bool {
            self.below(100) < percent
        }
    }

    const FIELDS: &[&str] = &["color", "size", "price", "flag", "tags", "mixed", "absent"];
    const WORDS: &[&str] = &["red", "green", "blue", "", "Red", "a\"b", "日本"];
    const NUMBERS: &[f64] = &[-3.0, -1.0, -0.0, 0.0, 0.5, 1.0, 2.0, 2.5, 3.0, 1e9];

    fn random_json_value(rng: &mut Rng, field: &str) -> serde_json::Value {
        use serde_json::json;
        let word = |rng: &mut Rng| WORDS[rng.below(WORDS.len())].to_string();
        let number = |rng: &mut Rng| {
            let x = NUMBERS[rng.below(NUMBERS.len())];
            if x.fract() == 0.0 && rng.chance(50) && x != 0.0 {
                json!(x as i64)
            } else {
                json!(x)
            }
        };
        match field {
            "color" => json!(word(rng)),
            "size" => json!(rng.below(8) as i64 - 2),
            "price" => number(rng),
            "flag" => json!(rng.chance(50)),
            "tags" => json!((0..rng.below(4)).map(|_| word(rng)).collect::<Vec<_>>()),
            _ => match rng.below(4) {
                0 => json!(word(rng)),
                1 => number(rng),
                2 => json!(rng.chance(50)),
                _ => json!((0..rng.below(3)).map(|_| word(rng)).collect::<Vec<_>>()),
            },
        }
    }

    fn random_record(rng: &mut Rng) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for f in FIELDS.iter().filter(|f| **f != "absent") {
            if rng.chance(70) {
                m.insert(f.to_string(), random_json_value(rng, f));
            }
        }
        serde_json::Value::Object(m)
    }

    /// A literal, most often of the kind the field holds, so that filters select something.
    fn random_literal(rng: &mut Rng, field: &str) -> Literal {
        if rng.chance(70) {
            match field {
                "color" | "tags" => return Literal::Str(WORDS[rng.below(WORDS.len())].into()),
                "size" => return Literal::Int(rng.below(8) as i64 - 2),
                "price" => return Literal::Float(NUMBERS[rng.below(NUMBERS.len())]),
                "flag" => return Literal::Bool(rng.chance(50)),
                _ => {}
            }
        }
        match rng.below(10) {
            0..=3 => Literal::Str(WORDS[rng.below(WORDS.len())].into()),
            4..=5 => Literal::Int(rng.below(8) as i64 - 3),
            6..=8 => Literal::Float(NUMBERS[rng.below(NUMBERS.len())]),
            _ => Literal::Bool(rng.chance(50)),
        }
    }

    fn random_filter(rng: &mut Rng, depth: usize) -> Filter {
        let field = FIELDS[rng.below(FIELDS.len())].to_string();
        let leaf = depth == 0 || rng.chance(40);
        if leaf {
            return match rng.below(10) {
                0..=4 => {
                    let ops =
                        [CompareOp::Eq, CompareOp::Ne, CompareOp::Lt, CompareOp::Le, CompareOp::Gt, CompareOp::Ge];
                    let op = ops[rng.below(ops.len())];
                    let mut value = random_literal(rng, &field);
                    if op.is_ordering() && matches!(value, Literal::Bool(_)) {
                        value = Literal::Int(1);
                    }
                    Filter::Compare { field, op, value }
                }
                5..=6 => {
                    let values = (0..1 + rng.below(3)).map(|_| random_literal(rng, &field)).collect();
                    Filter::In { field, values }
                }
                7..=8 => Filter::Contains { field, value: WORDS[rng.below(WORDS.len())].into() },
                _ => Filter::Exists { field },
            };
        }
        let ops = [CompareOp::Lt, CompareOp::Le, CompareOp::Gt, CompareOp::Ge];
        match rng.below(4) {
            // Several ordering comparisons on one field: merged into one range walk.
            3 => {
                let mut parts = Vec::new();
                for _ in 0..2 + rng.below(2) {
                    let op = ops[rng.below(ops.len())];
                    let value = match random_literal(rng, &field) {
                        Literal::Bool(_) => Literal::Float(NUMBERS[rng.below(NUMBERS.len())]),
                        v => v,
                    };
                    parts.push(Filter::Compare { field: field.clone(), op, value });
                }
                for _ in 0..rng.below(2) {
                    parts.push(random_filter(rng, depth - 1));
                }
                Filter::And(parts)
            }
            0 => Filter::Not(Box::new(random_filter(rng, depth - 1))),
            1 => Filter::And((0..2 + rng.below(2)).map(|_| random_filter(rng, depth - 1)).collect()),
            _ => Filter::Or((0..2 + rng.below(2)).map(|_| random_filter(rng, depth - 1)).collect()),
        }
    }

    /// The semantics of the module doc, written again directly over serde_json values.
    fn oracle(record: &serde_json::Value, f: &Filter) -> bool {
        use serde_json::Value as J;
        let get = |field: &str| record.get(field);
        let num = |v: &J| v.as_f64();
        let lit_num = |l: &Literal| match l {
            Literal::Int(i) => Some(*i as f64),
            Literal::Float(x) => Some(*x),
            _ => None,
        };
        let eq = |v: &J, l: &Literal| match (v, l) {
            (J::String(a), Literal::Str(b)) => a == b,
            (J::Bool(a), Literal::Bool(b)) => a == b,
            (J::Number(_), _) => lit_num(l).is_some_and(|b| num(v) == Some(b)),
            _ => false,
        };
        match f {
            Filter::Compare { field, op, value } => {
                let Some(v) = get(field) else { return false };
                let ord = match (v, value) {
                    (J::String(a), Literal::Str(b)) => Some(a.as_str().cmp(b.as_str())),
                    (J::Number(_), l) => lit_num(l).and_then(|b| num(v).and_then(|a| a.partial_cmp(&b))),
                    _ => None,
                };
                match op {
                    CompareOp::Eq => eq(v, value),
                    CompareOp::Ne => !eq(v, value),
                    CompareOp::Lt => ord == Some(Ordering::Less),
                    CompareOp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
                    CompareOp::Gt => ord == Some(Ordering::Greater),
                    CompareOp::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
                }
            }
            Filter::In { field, values } => get(field).is_some_and(|v| values.iter().any(|l| eq(v, l))),
            Filter::Contains { field, value } => {
                matches!(get(field), Some(J::Array(a)) if a.iter().any(|x| x.as_str() == Some(value)))
            }
            Filter::Exists { field } => get(field).is_some(),
            Filter::Not(g) => !oracle(record, g),
            Filter::And(v) => v.iter().all(|g| oracle(record, g)),
            Filter::Or(v) => v.iter().any(|g| oracle(record, g)),
        }
    }

    #[test]
    fn evaluate_equals_brute_force_on_a_random_store() {
        let mut rng = Rng(0xF117_E125);
        let mut s = MetadataStore::new();
        let mut truth: HashMap<u32, serde_json::Value> = HashMap::new();
        // 4000 records over slots 0..5000, then churn: replacements, removals, empties.
        for slot in 0..4000u32 {
            let r = random_record(&mut rng);
            s.set(slot * 5 / 4, &r.to_string()).unwrap();
            truth.insert(slot * 5 / 4, r);
        }
        for _ in 0..3000 {
            let slot = rng.below(5000) as u32;
            match rng.below(4) {
                0 => {
                    assert_eq!(s.remove(slot), truth.remove(&slot).is_some());
                }
                1 => {
                    s.set_empty(slot);
                    truth.insert(slot, serde_json::json!({}));
                }
                _ => {
                    let r = random_record(&mut rng);
                    s.set(slot, &r.to_string()).unwrap();
                    truth.insert(slot, r);
                }
            }
        }
        s.check_invariants().unwrap();
        assert_eq!(s.len(), truth.len());
        for (slot, r) in &truth {
            let back: serde_json::Value = serde_json::from_str(&s.get_json(*slot).unwrap()).unwrap();
            assert_eq!(&back, r, "slot {slot}");
        }
        let mut nonempty = 0;
        for i in 0..400 {
            let f = random_filter(&mut rng, 1 + i % 4);
            // Through the text form too: what users send.
            let f2 = Filter::parse(&f.to_string()).unwrap_or_else(|e| panic!("{f}: {e}"));
            let got = s.evaluate(&f2);
            let mut want = RoaringBitmap::new();
            for (slot, r) in &truth {
                if oracle(r, &f) {
                    want.insert(*slot);
                }
                assert_eq!(s.matches(*slot, &f), oracle(r, &f), "slot {slot} {r} filter {f}");
            }
            assert_eq!(got, want, "filter {f}");
            nonempty += (!got.is_empty() && got.len() < truth.len() as u64) as usize;
        }
        // The random filters are not all trivial.
        assert!(nonempty > 150, "only {nonempty} of 400 filters were selective");
    }
}
