//! The write path: add, upsert, add_auto, remove and compact. A batch is checked whole, its
//! keys published all or nothing, then its nodes linked (in parallel for big batches).

use std::sync::atomic::Ordering;

use rayon::prelude::*;

use crate::distance::scalar;
use crate::error::{Error, Result};
use crate::hnsw::insert::{level_for, uniform};
use crate::hnsw::scratch::with_scratch;
use crate::hnsw::Graph;
use crate::keys::{KeyMap, KeyRef};
use crate::metric::Metric;
use crate::filter::{self, Metadata};
use crate::hnsw::arena::STATE_LIVE;

use crate::storage::wal::op::{self as log_op, PutKind};

use super::{Index, Keys, Payloads};

/// Repair runs once this many deletes are pending, or more than an eighth of the records.
const REPAIR_MIN_PENDING: usize = 64;

impl Index {
    fn check_batch_keys(&self, keys: Keys<'_>, map: &KeyMap, allow_existing: bool) -> Result<()> {
        let mut seen = std::collections::HashSet::with_capacity(keys.len());
        for i in 0..keys.len() {
            let k = keys.get(i);
            map.check_kind(k)?;
            if i > 0 && k.kind() != keys.get(0).kind() {
                return Err(Error::InvalidKey("a batch mixes key kinds".into()));
            }
            if !seen.insert(k) {
                return Err(Error::DuplicateKey(format!("{k} appears twice in one batch")));
            }
            if !allow_existing && map.slot_of(k).is_some() {
                return Err(Error::DuplicateKey(format!("{k} is already in the index (use upsert to replace it)")));
            }
        }
        Ok(())
    }

    /// Adds `keys.len()` vectors stored row-major in `vectors`. Fails, adding nothing, if a
    /// key is already stored or repeats within the batch, or a vector is invalid.
    /// Uses every core for large batches.
    pub fn add(&self, keys: Keys<'_>, vectors: &[f32]) -> Result<()> {
        self.add_with(keys, vectors, Payloads::default())
    }

    /// As [`Index::add`], with per-record metadata and texts.
    pub fn add_with(&self, keys: Keys<'_>, vectors: &[f32], payloads: Payloads<'_>) -> Result<()> {
        self.change(|| self.put(keys, vectors, payloads, PutKind::Add))
    }

    /// Like [`Index::add`], but a key already stored gets the new vector (its old record is
    /// removed in the same step).
    pub fn upsert(&self, keys: Keys<'_>, vectors: &[f32]) -> Result<()> {
        self.upsert_with(keys, vectors, Payloads::default())
    }

    /// As [`Index::upsert`], with per-record metadata and texts (which replace the old ones).
    pub fn upsert_with(&self, keys: Keys<'_>, vectors: &[f32], payloads: Payloads<'_>) -> Result<()> {
        self.change(|| self.put(keys, vectors, payloads, PutKind::Upsert))
    }

    /// Adds vectors under the next free automatic u64 keys; returns the first key used.
    /// Automatic keys count up from 0, one per record added this way, and skip every key in
    /// use: after an explicit key k they continue at k + 1 or later.
    pub fn add_auto(&self, vectors: &[f32], n: usize) -> Result<u64> {
        let mut first = 0;
        self.change(|| {
            let mut retried = false;
            loop {
                // Reserve a range; give it back if the add fails, so keys stay dense.
                first = self.reserve_auto_keys(n)?;
                let keys: Vec<u64> = (first..first + n as u64).collect();
                let put = self.put(Keys::U64(&keys), vectors, Payloads::default(), PutKind::Auto);
                if put.is_err() {
                    let _ = self.next_auto_key.compare_exchange(first + n as u64, first, Ordering::SeqCst, Ordering::SeqCst);
                }
                // A range that holds a key already in use (one an index saved before automatic
                // keys skipped explicit ones, or one added meanwhile): once more, past them all.
                if matches!(put, Err(Error::DuplicateKey(_))) && !retried {
                    retried = true;
                    self.skip_auto_keys_past_stored();
                    continue;
                }
                return put;
            }
        })?;
        Ok(first)
    }

    /// Takes the next `n` automatic keys; fails with `InvalidKey` where they would run past the
    /// largest key (u64::MAX is not a key), leaving the counter as it was.
    fn reserve_auto_keys(&self, n: usize) -> Result<u64> {
        let mut first = self.next_auto_key.load(Ordering::SeqCst);
        loop {
            // Keys end before `end`, so at u64::MAX - 1 at most: u64::MAX is not a key.
            let end = first.checked_add(n as u64).ok_or_else(|| {
                Error::InvalidKey(format!("no {n} automatic keys are left after {first} (u64 keys end at 2^64 - 2)"))
            })?;
            match self.next_auto_key.compare_exchange(first, end, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return Ok(first),
                Err(now) => first = now,
            }
        }
    }

    /// Moves the next automatic key past every u64 key stored (O(records)).
    fn skip_auto_keys_past_stored(&self) {
        let map = self.keys.read();
        let past = map.entries().filter_map(|(_, k)| if let KeyRef::U64(k) = k { Some(k) } else { None }).max();
        if let Some(max) = past {
            self.next_auto_key.fetch_max(max.saturating_add(1), Ordering::SeqCst);
        }
    }

    /// Runs one change: refused on a read-only index or after the log failed; runs while
    /// holding the persist gate (shared), then, with the gate let go, waits for the disk as a
    /// durable index's sync mode says (see `durable`).
    fn change(&self, f: impl FnOnce() -> Result<Option<u64>>) -> Result<()> {
        self.check_writable()?;
        self.check_log_healthy()?;
        let seq = {
            let _writer = self.persist_gate.read();
            f()?
        };
        self.after_logged(seq)
    }

    /// Stores one batch (see `add`); returns the log record's number on a durable index.
    pub(super) fn put(&self, keys: Keys<'_>, vectors: &[f32], payloads: Payloads<'_>, kind: PutKind) -> Result<Option<u64>> {
        let upsert = kind == PutKind::Upsert;
        let n = keys.len();
        let dim = self.batch_dim(n, vectors)?;
        let metadata = parse_payloads(n, payloads)?;
        if n == 0 {
            return Ok(None);
        }
        self.check_vectors(vectors, dim)?;
        // Checked once here for a clear early error, and again under the write lock below.
        // Before `graph_for`: a refused first batch must not fix the index's dimensions.
        self.check_batch_keys(keys, &self.keys.read(), upsert)?;
        let graph = self.graph_for(dim, vectors)?;

        let first = self.inserted.fetch_add(n as u64, Ordering::Relaxed);
        let levels: Vec<u8> =
            (0..n as u64).map(|i| level_for(uniform(self.options.seed, first + i), graph.params.ml)).collect();
        let slots = graph.store.take_fresh(&levels);
        let ids: Vec<u32> = slots.iter().map(|s| s.id()).collect();
        let mut normalized = Vec::new();
        let mut code = vec![0f32; graph.store.words()];
        let mut raw_error = None;
        for (slot, row) in slots.iter().zip(vectors.chunks_exact(dim)) {
            let v = if self.options.metric == Metric::Cosine {
                normalized.clear();
                normalized.extend_from_slice(row);
                scalar::normalize(&mut normalized);
                &normalized[..]
            } else {
                row
            };
            match (graph.space.codec(), self.raw.get()) {
                (Some(codec), Some(raw)) => {
                    codec.encode(v, &mut code);
                    graph.store.write_vector(slot, &code);
                    if let Err(e) = raw.write(slot.id(), v) {
                        raw_error.get_or_insert(e);
                    }
                }
                _ => graph.store.write_vector(slot, v),
            }
            graph.store.set_state(slot.id(), STATE_LIVE);
        }
        graph.capacity_hint.fetch_max(graph.store.high_water(), Ordering::AcqRel);
        // A durable index's record, built before any lock is taken.
        let record = self.is_durable().then(|| {
            let batch = log_op::Batch {
                keys: (0..n).map(|i| keys.get(i)),
                dim,
                vectors,
                metadata: payloads.metadata,
                texts: payloads.texts,
            };
            log_op::encode_put(kind, batch)
        });

        // Publish the keys (all or nothing), logged first on a durable index, then link the nodes.
        let mut seq = None;
        let replaced = {
            let mut map = self.keys.write();
            let checked = raw_error.map_or_else(|| self.check_batch_keys(keys, &map, upsert), Err);
            let logged = checked.and_then(|()| match &record {
                Some(payload) => self.log_append(log_op::KIND_PUT, payload).map(|s| seq = s),
                None => Ok(()),
            });
            if let Err(e) = logged {
                drop(map);
                for &id in &ids {
                    graph.mark_deleted(id);
                }
                return Err(e);
            }
            let mut replaced = Vec::new();
            for (i, &id) in ids.iter().enumerate() {
                if let Some(old) = map.set(keys.get(i), id) {
                    replaced.push(old);
                }
            }
            // Automatic keys skip every u64 key in use: they continue past the largest.
            if let Keys::U64(k) = keys {
                if let Some(&max) = k.iter().max() {
                    self.next_auto_key.fetch_max(max.saturating_add(1), Ordering::SeqCst);
                }
            }
            replaced
        };
        // Payloads go in before the nodes are linked, so a search that finds a node also
        // sees its metadata and text.
        {
            let mut meta = self.meta.write();
            self.meta_version.fetch_add(1, Ordering::AcqRel);
            for &old in &replaced {
                meta.remove(old);
            }
            for (&id, m) in ids.iter().zip(metadata) {
                match m {
                    // Checked by parse_payloads; cannot fail here.
                    Some(m) => meta.set_metadata(id, m)?,
                    None => meta.set_empty(id),
                }
            }
        }
        {
            let mut text = self.text.write();
            for &old in &replaced {
                text.remove(old);
            }
            if let Some(texts) = payloads.texts {
                for (&id, t) in ids.iter().zip(texts) {
                    if let Some(t) = t {
                        text.set(id, t);
                    }
                }
            }
        }
        self.link(graph, &ids);
        for old in replaced {
            graph.mark_deleted(old);
        }
        self.maybe_repair(graph);
        Ok(seq)
    }

    fn link(&self, graph: &Graph, ids: &[u32]) {
        graph.learn_neighbor_codes();
        let insert_one = |id: u32| {
            let pin = graph.pin();
            with_scratch(|s| graph.insert(&pin, id, s));
        };
        // The first node of an empty graph goes in alone, so the others find an entry point.
        let (head, rest) = match graph.entry() {
            None => ids.split_at(1),
            Some(_) => ids.split_at(0),
        };
        head.iter().for_each(|&id| insert_one(id));
        if rest.len() >= 32 {
            self.on_threads(|| rest.par_iter().for_each(|&id| insert_one(id)));
        } else {
            rest.iter().for_each(|&id| insert_one(id));
        }
    }

    /// Removes the record with `key`. It never appears in results after this returns; its
    /// slot is reused once the graph has been repaired around it.
    pub fn remove(&self, key: KeyRef<'_>) -> Result<()> {
        self.change(|| self.remove_key(key))
    }

    /// Removes one key (see `remove`); returns the log record's number on a durable index.
    pub(super) fn remove_key(&self, key: KeyRef<'_>) -> Result<Option<u64>> {
        let (slot, seq) = {
            let mut map = self.keys.write();
            map.check_kind(key)?;
            if map.slot_of(key).is_none() {
                return Err(Error::KeyNotFound(key.to_string()));
            }
            let seq = if self.is_durable() { self.log_append(log_op::KIND_REMOVE, &log_op::encode_remove(key))? } else { None };
            (map.remove(key).ok_or_else(|| Error::KeyNotFound(key.to_string()))?, seq)
        };
        self.forget_slots(&[slot])?;
        Ok(seq)
    }

    /// The step after removed keys left the key map: their slots' metadata and texts go, the
    /// nodes are marked deleted, and a repair runs if enough deletes are pending.
    fn forget_slots(&self, slots: &[u32]) -> Result<()> {
        {
            let mut meta = self.meta.write();
            self.meta_version.fetch_add(1, Ordering::AcqRel);
            for &slot in slots {
                meta.remove(slot);
            }
        }
        {
            let mut text = self.text.write();
            for &slot in slots {
                text.remove(slot);
            }
        }
        let graph = self.graph.get().ok_or_else(|| Error::Internal("key mapped without a graph".into()))?;
        for &slot in slots {
            graph.mark_deleted(slot);
        }
        self.maybe_repair(graph);
        Ok(())
    }

    /// Removes every record of `keys`, all or nothing: fails, removing none, if a key is not
    /// stored, is of the other kind, or repeats. One log record on a durable index. Returns
    /// how many were removed.
    pub fn remove_batch(&self, keys: Keys<'_>) -> Result<usize> {
        self.change(|| self.remove_keys(keys))?;
        Ok(keys.len())
    }

    /// Removes every record whose metadata matches `filter`, all or nothing and as one change
    /// (other writers wait meanwhile; searches do not), and returns how many. One log record on
    /// a durable index.
    pub fn remove_where(&self, filter: &crate::filter::Filter) -> Result<usize> {
        self.check_writable()?;
        self.check_log_healthy()?;
        let (removed, seq) = {
            // Exclusive: no other change between the filter's evaluation and the removal.
            let _only_writer = self.persist_gate.write();
            let bits = self.matching(filter);
            let map = self.keys.read();
            let owned: Vec<crate::keys::KeyRef<'_>> = bits.iter().filter_map(|slot| map.key_of(slot)).collect();
            let (u64s, strs): (Vec<u64>, Vec<String>) = match owned.first() {
                Some(KeyRef::Str(_)) => (Vec::new(), owned.iter().map(|k| k.to_string_plain()).collect()),
                _ => (owned.iter().filter_map(|k| if let KeyRef::U64(k) = k { Some(*k) } else { None }).collect(), Vec::new()),
            };
            drop(map);
            let str_refs: Vec<&str> = strs.iter().map(String::as_str).collect();
            let keys = if strs.is_empty() { Keys::U64(&u64s) } else { Keys::Str(&str_refs) };
            (keys.len(), self.remove_keys(keys)?)
        };
        self.after_logged(seq)?;
        Ok(removed)
    }

    /// Removes the records of `keys` (see `remove_batch`); returns the log record's number on
    /// a durable index.
    pub(super) fn remove_keys(&self, keys: Keys<'_>) -> Result<Option<u64>> {
        if keys.is_empty() {
            return Ok(None);
        }
        let (slots, seq) = {
            let mut map = self.keys.write();
            let mut seen = std::collections::HashSet::with_capacity(keys.len());
            for i in 0..keys.len() {
                let k = keys.get(i);
                map.check_kind(k)?;
                if map.slot_of(k).is_none() {
                    return Err(Error::KeyNotFound(k.to_string()));
                }
                if !seen.insert(k) {
                    return Err(Error::DuplicateKey(format!("{k} appears twice in one batch")));
                }
            }
            let seq = if self.is_durable() {
                let record = log_op::encode_remove_batch((0..keys.len()).map(|i| keys.get(i)));
                self.log_append(log_op::KIND_REMOVE_BATCH, &record)?
            } else {
                None
            };
            let slots: Vec<u32> = (0..keys.len()).filter_map(|i| map.remove(keys.get(i))).collect();
            (slots, seq)
        };
        self.forget_slots(&slots)?;
        Ok(seq)
    }

    /// The keys of the records whose metadata matches `filter` (all records when None), in key
    /// order (u64 ascending; strings by their UTF-8 bytes), as they stand at this moment: the
    /// snapshot a cursor pages through.
    pub fn keys_snapshot(&self, filter: Option<&crate::filter::Filter>) -> KeySnapshot {
        let bits = filter.map(|f| self.matching(f));
        let map = self.keys.read();
        let matches = |slot: u32| bits.as_ref().is_none_or(|b| b.contains(slot));
        match map.kind() {
            Some(crate::keys::KeyKind::Str) => {
                let mut keys: Vec<String> =
                    map.entries().filter(|&(slot, _)| matches(slot)).map(|(_, k)| k.to_string_plain()).collect();
                keys.sort_unstable();
                KeySnapshot::Str(keys)
            }
            _ => {
                let mut keys: Vec<u64> = map
                    .entries()
                    .filter(|&(slot, _)| matches(slot))
                    .filter_map(|(_, k)| if let KeyRef::U64(k) = k { Some(k) } else { None })
                    .collect();
                keys.sort_unstable();
                KeySnapshot::U64(keys)
            }
        }
    }

    /// The number of records whose metadata matches `filter` (all records when None), exactly.
    pub fn count(&self, filter: Option<&crate::filter::Filter>) -> usize {
        match filter {
            None => self.len(),
            Some(f) => {
                let bits = self.matching(f);
                let map = self.keys.read();
                bits.iter().filter(|&slot| map.key_of(slot).is_some()).count()
            }
        }
    }

    fn maybe_repair(&self, graph: &Graph) {
        let pending = graph.pending_deletes();
        if pending >= REPAIR_MIN_PENDING.max(self.len() / 8) {
            self.on_threads(|| graph.repair());
        }
    }

    /// Repairs the graph around every pending delete now and frees their slots.
    /// Does nothing on an index opened read-only (nothing there can change).
    pub fn compact(&self) {
        if self.read_only {
            return;
        }
        let _writer = self.persist_gate.read();
        if let Some(g) = self.graph.get() {
            self.on_threads(|| g.repair());
        }
    }
}

/// The keys of an index at one moment (`Index::keys_snapshot`), in key order.
#[derive(Clone, Debug, PartialEq)]
pub enum KeySnapshot {
    /// u64 keys, ascending (also for an index with no record yet).
    U64(Vec<u64>),
    /// String keys, in the order of their UTF-8 bytes.
    Str(Vec<String>),
}

/// Checks the payload arrays of a batch of `n` records and parses the metadata, so that a bad
/// payload fails the batch before anything is stored.
fn parse_payloads(n: usize, payloads: Payloads<'_>) -> Result<Vec<Option<Metadata>>> {
    if let Some(t) = payloads.texts {
        if t.len() != n {
            return Err(Error::InvalidArgument(format!("{} texts for {n} records", t.len())));
        }
        // The file and the log store a text's length in 32 bits.
        if let Some((i, text)) = t.iter().enumerate().find(|(_, text)| text.is_some_and(|s| s.len() > u32::MAX as usize)) {
            let bytes = text.map_or(0, str::len);
            return Err(Error::InvalidArgument(format!("text {i} has {bytes} bytes; at most {} (4 GiB - 1)", u32::MAX)));
        }
    }
    match payloads.metadata {
        None => Ok(vec![None; n]),
        Some(m) if m.len() != n => Err(Error::InvalidArgument(format!("{} metadata entries for {n} records", m.len()))),
        Some(m) => m
            .iter()
            .enumerate()
            .map(|(i, json)| {
                json.map(|j| {
                    filter::parse_metadata(j).map_err(|e| match e {
                        Error::InvalidArgument(msg) => Error::InvalidArgument(format!("record {i}: {msg}")),
                        other => other,
                    })
                })
                .transpose()
            })
            .collect(),
    }
}
