//! `MetadataStore`: each live slot's metadata, plus per-field indexes that turn a [`Filter`]
//! into the set of matching slots.
//!
//! What each filter matches (for a live slot; a slot never `set` is not live):
//! - `f = v`: the record has `f` and its value equals `v`. Integers and floats compare as
//!   numbers (`3 = 3.0`, `-0.0 = 0.0`); a string never equals a number (`"3" != 3`); a list
//!   never equals anything (use CONTAINS); `f = null` matches a null stored under `f`.
//! - `f != v`: the record HAS `f` and its value does not equal `v` (by the rule above, so a
//!   string or a list under `f` matches `f != 3`). A record without `f` does not match;
//!   `NOT f = v` does.
//! - `f < v`, `<=`, `>`, `>=`: numbers against a number, by value; strings against a string,
//!   by bytes (= Unicode code point order, so ISO dates compare as dates). Values of another
//!   kind do not match.
//! - `f IN (v1, v2, ...)`: `f = v1 OR f = v2 OR ...`.
//! - `f CONTAINS "x"`: `f` is a list of strings holding `"x"`; `f CONTAINS 3`: `f` is a list of
//!   numbers holding 3 (or 3.0). A plain string or number never matches.
//! - `EXISTS f`: the record has `f`, whatever its value (an empty list counts).
//! - `NOT g`: every live slot that `g` does not match (records lacking the field included).
//! - `AND`, `OR`: intersection and union.
//!
//! Indexes, per field (a field name is interned once to a small id; `field`):
//! - `exists`: slots that have the field;
//! - `strings`: value -> slots, ordered (for `=` and string ranges);
//! - `numbers`: value -> slots, ordered on one number line for integers and floats;
//! - `bools`: two bitmaps;
//! - `tags`: list item -> slots;
//! - `nulls`: slots holding null;
//! - `number_items`: item of a list of numbers -> slots, on the same number line.
//!
//! Invariant (see [`MetadataStore::check_invariants`]): each index holds exactly the slots whose
//! stored value puts them there, no bitmap in a map is empty, and every record's slot is live.
//!
//! Thread safety: plain data (`Send + Sync`); reads take `&self`, writes `&mut self`, so the
//! owner puts the store behind a lock (`RwLock`).
//!
//! Persistence (the MDAT section) is `persist`; the tests, with a randomized comparison of
//! the indexes against the records and against an oracle over the raw JSON, are `tests`.

mod field;
mod persist;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use roaring::{MultiOps, RoaringBitmap};

use super::parse::{CompareOp, Filter, Literal};
use super::value::{metadata_to_json, parse_metadata, Metadata, Value, MAX_EXACT_INT};
use crate::error::{Error, Result};
use field::{FieldIndex, Range, RangeKey};

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
        (Value::Null, Literal::Null) => true,
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
        Value::Numbers(ref items) => {
            if items.is_empty() {
                return Err(Error::InvalidArgument(format!("metadata: field \"{field}\" is an empty list of numbers")));
            }
            for item in items {
                match item {
                    Value::Int(_) | Value::Float(_) => check_value(field, item)?,
                    other => {
                        return Err(Error::InvalidArgument(format!(
                            "metadata: field \"{field}\" is a list of numbers holding {}",
                            other.kind_name()
                        )))
                    }
                }
            }
            Ok(())
        }
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
                self.field(field).and_then(|fi| fi.contains(value)).cloned().unwrap_or_default()
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
            Filter::Contains { field, value } => match (self.value_of(record, field), value) {
                (Some(Value::Tags(t)), Literal::Str(s)) => t.iter().any(|x| x == s),
                (Some(Value::Numbers(items)), _) => items.iter().any(|x| value_equals(x, value)),
                _ => false,
            },
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
            Value::Numbers(items) => items.len() * std::mem::size_of::<Value>(),
            _ => 0,
        };
        let mut n = self.live.serialized_size();
        for fi in &self.fields {
            n += fi.name.capacity() * 2 + fi.exists.serialized_size();
            n += fi.strings.iter().map(|(k, b)| k.capacity() + 48 + b.serialized_size()).sum::<usize>();
            n += fi.numbers.values().map(|b| 40 + b.serialized_size()).sum::<usize>();
            n += fi.bools.iter().map(|b| b.serialized_size()).sum::<usize>();
            n += fi.tags.iter().map(|(k, b)| k.capacity() + 56 + b.serialized_size()).sum::<usize>();
            n += fi.nulls.serialized_size() + fi.number_items.values().map(|b| 40 + b.serialized_size()).sum::<usize>();
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
            if have.nulls != want.nulls || have.number_items != want.number_items {
                return Err(format!("field {name:?}: null or number-list index differs"));
            }
        }
        Ok(())
    }
}
