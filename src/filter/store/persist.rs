//! Persistence of a [`MetadataStore`]: the MDAT section of docs/format.md, written and read
//! through `crate::encoding`.

use roaring::RoaringBitmap;

use super::{check_value, MetadataStore};
use crate::error::Result;
use crate::filter::value::Value;

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
                    // Format version 6 on (see `needs_kinds_of_version_6`).
                    Value::Null => out.u8(5),
                    Value::Numbers(items) => {
                        out.u8(6);
                        out.u32(items.len() as u32);
                        for item in items {
                            match item {
                                Value::Int(i) => {
                                    out.u8(1);
                                    out.u64(*i as u64);
                                }
                                // check_value admits only integers and floats here.
                                other => {
                                    out.u8(2);
                                    out.u64(other.as_number().unwrap_or(0.0).to_bits());
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Whether a value needs format version 6 (null, or a list of numbers): the writer then
    /// uses it, so that an older reader says "unsupported version" rather than "corrupt".
    pub(crate) fn needs_kinds_of_version_6(&self) -> bool {
        self.fields.iter().any(|f| !f.nulls.is_empty() || !f.number_items.is_empty())
    }

    /// Decodes what [`MetadataStore::encode`] wrote, checking everything: field names distinct,
    /// ids in range and increasing within a record, values as `set` accepts them (null and
    /// lists of numbers from format `version` 6 on), slots increasing and each `live`, and
    /// exactly `records` of them.
    pub(crate) fn decode(bytes: &[u8], records: usize, live: impl Fn(u32) -> bool, version: u32) -> Result<MetadataStore> {
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
                    5 if version >= 6 => Value::Null,
                    6 if version >= 6 => {
                        let k = c.count(9)?;
                        let mut items = Vec::with_capacity(k);
                        for _ in 0..k {
                            items.push(match c.u8()? {
                                1 => Value::Int(c.u64()? as i64),
                                2 => Value::Float(f64::from_bits(c.u64()?)),
                                t => return Err(corrupt(format!("MDAT: slot {slot} has a list item of unknown type {t}"))),
                            });
                        }
                        Value::Numbers(items)
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
