//! Churn: removing records and adding them back must not cost recall, must reuse slots
//! instead of growing memory, and removed records must never come back in results.
//! Upsert must replace a record's vector.
//!
//! Data: the first 20K base vectors and 200 queries of glove-50-angular (cosine), with
//! exact ground truth by brute force. Every random choice is seeded.

mod common;
use std::collections::HashSet;

use common::*;
use omendb::{Error, Index, IndexOptions, KeyRef, Keys, Metric};

const N_BASE: usize = 20_000;
const N_QUERY: usize = 200;
const K: usize = 10;
/// Beam width of the recall comparisons: low, so that recall is far from 1 and a damaged
/// graph shows.
const EF: usize = 16;
const CYCLES: usize = 10;

fn glove(n_base: usize, n_query: usize) -> (Vec<f32>, Vec<f32>, usize) {
    let dir = data_dir().join("glove-50-angular");
    let (base, dim) = read_vecs(&dir.join("base.fvecs"), n_base);
    let (queries, qdim) = read_vecs(&dir.join("query.fvecs"), n_query);
    assert_eq!(dim, qdim);
    (base, queries, dim)
}

/// A seeded Fisher-Yates shuffle of 0..n.
fn permutation(n: usize, seed: u64) -> Vec<u64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut p: Vec<u64> = (0..n as u64).collect();
    for i in (1..n).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        p.swap(i, (s % (i as u64 + 1)) as usize);
    }
    p
}

fn row(base: &[f32], dim: usize, key: u64) -> &[f32] {
    &base[key as usize * dim..(key as usize + 1) * dim]
}

/// Searches every query; checks each result list (sorted, unique, no key of `gone`, every
/// distance the exact distance to the key's vector) and returns the keys found.
fn search_all(
    index: &Index,
    base: &[f32],
    queries: &[f32],
    dim: usize,
    k: usize,
    ef: usize,
    gone: &HashSet<u64>,
) -> Vec<Vec<u64>> {
    queries
        .chunks_exact(dim)
        .map(|q| {
            let hits = index.search(q, k, Some(ef)).unwrap();
            assert_sorted_unique(&hits);
            assert!(hits.len() <= k);
            hits.iter()
                .map(|h| {
                    let key: u64 = h.key.parse().unwrap();
                    assert!(!gone.contains(&key), "removed key {key} returned by a search");
                    let want = exact_distance(Metric::Cosine, q, row(base, dim, key));
                    assert!(distance_close(h.distance, want), "key {key}: distance {} != exact {want}", h.distance);
                    key
                })
                .collect()
        })
        .collect()
}

#[test]
fn remove_half_and_readd_keeps_recall_and_memory() {
    let (base, queries, dim) = glove(N_BASE, N_QUERY);
    let n = base.len() / dim;
    assert_eq!(n, N_BASE);
    let truth = brute_force(&base, &queries, dim, K, true);
    let none = HashSet::new();

    let options = IndexOptions { metric: Metric::Cosine, ef_construction: 100, seed: 7, ..Default::default() };
    let index = Index::new(options).unwrap();
    let keys: Vec<u64> = (0..n as u64).collect();
    index.add(Keys::U64(&keys), &base).unwrap();
    let fresh = recall(&search_all(&index, &base, &queries, dim, K, EF, &none), &truth, K);
    eprintln!(
        "fresh build: recall@{K} = {fresh:.4}, {} bytes, high water {}",
        index.memory_bytes(),
        index.slot_high_water()
    );

    let mut after_first = (0usize, 0usize);
    let t0 = std::time::Instant::now();
    for cycle in 0..CYCLES {
        let perm = permutation(n, 1000 + cycle as u64);
        let (gone_keys, _) = perm.split_at(n / 2);
        for &key in gone_keys {
            index.remove(KeyRef::U64(key)).unwrap();
        }
        assert_eq!(index.len(), n - gone_keys.len());
        index.check_invariants().unwrap();
        let gone: HashSet<u64> = gone_keys.iter().copied().collect();
        for &key in gone_keys.iter().take(500) {
            assert!(!index.contains(KeyRef::U64(key)));
            assert!(matches!(index.remove(KeyRef::U64(key)), Err(Error::KeyNotFound(_))));
        }
        // Removed records never come back, even when asking for many more than k: with half
        // the data gone, a removed record is often nearer the query than any live one.
        search_all(&index, &base, &queries, dim, K, 64, &gone);
        search_all(&index, &base, &queries[..50 * dim], dim, 200, 200, &gone);
        // Their own vectors as queries: the nearest record must be some other one.
        for &key in gone_keys.iter().step_by(97) {
            search_all(&index, &base, row(&base, dim, key), dim, K, 64, &gone);
        }

        // Add them back, in batches of mixed sizes (sequential and parallel linking).
        let sizes = [1usize, 5, 31, 200, 1000, 3000];
        let mut i = 0;
        let mut s = 0;
        while i < gone_keys.len() {
            let end = (i + sizes[s % sizes.len()]).min(gone_keys.len());
            let batch = &gone_keys[i..end];
            let vecs: Vec<f32> = batch.iter().flat_map(|&k| row(&base, dim, k).iter().copied()).collect();
            index.add(Keys::U64(batch), &vecs).unwrap();
            i = end;
            s += 1;
        }
        assert_eq!(index.len(), n);
        index.check_invariants().unwrap();

        let mem = index.memory_bytes();
        let high = index.slot_high_water();
        if cycle == 0 || cycle == CYCLES - 1 {
            let r = recall(&search_all(&index, &base, &queries, dim, K, EF, &none), &truth, K);
            eprintln!(
                "after cycle {}: recall@{K} = {r:.4}, {mem} bytes, high water {high} ({:.1} s)",
                cycle + 1,
                t0.elapsed().as_secs_f64()
            );
            assert!(r >= fresh - 0.02, "recall {r} after {} churn cycles, fresh build {fresh}", cycle + 1);
        }
        if cycle == 0 {
            after_first = (mem, high);
        }
        // Slots are reused: the arena never holds more than the records plus the deletes
        // still waiting for a repair (at most an eighth of the records).
        assert!(high <= n + n / 8 + 64, "high water {high} for {n} records after cycle {}", cycle + 1);
    }
    let (mem, high) = (index.memory_bytes(), index.slot_high_water());
    assert!(
        mem as f64 <= 1.3 * after_first.0 as f64,
        "memory grew from {} to {mem} bytes over {CYCLES} cycles",
        after_first.0
    );
    assert!(high as f64 <= 1.3 * after_first.1 as f64, "high water grew from {} to {high}", after_first.1);

    // After an explicit compaction every freed slot is reusable: adding as many records as
    // are deleted-and-pending does not raise the high water mark.
    index.compact();
    let before = index.slot_high_water();
    let victims: Vec<u64> = (0..1000).collect();
    for &k in &victims {
        index.remove(KeyRef::U64(k)).unwrap();
    }
    index.compact();
    let vecs: Vec<f32> = victims.iter().flat_map(|&k| row(&base, dim, k).iter().copied()).collect();
    index.add(Keys::U64(&victims), &vecs).unwrap();
    assert_eq!(index.slot_high_water(), before, "slots freed by compact were not reused");
    index.check_invariants().unwrap();
}

#[test]
fn upsert_replaces_the_vector() {
    let (base, queries, dim) = glove(5_000, 50);
    let n = base.len() / dim;
    let index = Index::new(IndexOptions { metric: Metric::Cosine, seed: 11, ..Default::default() }).unwrap();
    let keys: Vec<u64> = (0..n as u64).collect();
    index.add(Keys::U64(&keys), &base).unwrap();

    // The model: key -> current vector.
    let mut model: Vec<Vec<f32>> = base.chunks_exact(dim).map(|r| r.to_vec()).collect();
    // Give 200 keys the negation of their vector (cosine distance 2 from the old one, the
    // farthest possible), in batches of both sizes, one of which also adds new keys.
    let changed: Vec<u64> = (0..200u64).map(|i| i * 23 % n as u64).collect();
    let flipped = |k: u64| -> Vec<f32> { row(&base, dim, k).iter().map(|x| -x).collect() };
    let (small, large) = changed.split_at(10);
    for &k in small {
        index.upsert(Keys::U64(&[k]), &flipped(k)).unwrap();
    }
    let mut batch_keys = large.to_vec();
    let mut batch_vecs: Vec<f32> = large.iter().flat_map(|&k| flipped(k)).collect();
    let new_keys: Vec<u64> = (n as u64..n as u64 + 40).collect();
    let new_vecs = random_vectors(40, dim, 99);
    batch_keys.extend_from_slice(&new_keys);
    batch_vecs.extend_from_slice(&new_vecs);
    index.upsert(Keys::U64(&batch_keys), &batch_vecs).unwrap();
    for &k in &changed {
        model[k as usize] = flipped(k);
    }
    model.extend(new_vecs.chunks_exact(dim).map(|r| r.to_vec()));
    assert_eq!(index.len(), n + 40);
    assert!(changed.iter().chain(&new_keys).all(|&k| index.contains(KeyRef::U64(k))));

    let check = |q: &[f32], hits: &[omendb::Hit<String>]| {
        assert_sorted_unique(hits);
        for h in hits {
            let key: usize = h.key.parse().unwrap();
            let want = exact_distance(Metric::Cosine, q, &model[key]);
            assert!(
                distance_close(h.distance, want),
                "key {key}: distance {} != exact {want} (stale vector?)",
                h.distance
            );
        }
    };
    for &k in &changed {
        // The new vector finds the key at distance ~0...
        let new = flipped(k);
        let hits = index.search(&new, K, None).unwrap();
        check(&new, &hits);
        assert_eq!(hits[0].key, k.to_string());
        assert!(hits[0].distance.abs() < 1e-5, "distance {}", hits[0].distance);
        // ...and the old one does not find it any more.
        let old = row(&base, dim, k);
        let hits = index.search(old, K, None).unwrap();
        check(old, &hits);
        assert!(!hits.iter().any(|h| h.key == k.to_string()), "key {k} still found by its old vector");
    }
    for (i, &k) in new_keys.iter().enumerate() {
        let hits = index.search(&new_vecs[i * dim..(i + 1) * dim], 1, None).unwrap();
        assert_eq!(hits[0].key, k.to_string());
    }

    // Recall against the model after the upserts.
    let records = || model.iter().enumerate().map(|(i, v)| (i as u64, v.as_slice()));
    let mut found = Vec::new();
    let mut truth = Vec::new();
    for q in queries.chunks_exact(dim) {
        let hits = index.search(q, K, Some(EF)).unwrap();
        check(q, &hits);
        found.push(hits.iter().map(|h| h.key.parse().unwrap()).collect::<Vec<u64>>());
        truth.push(brute_force_keyed(records(), q, K, Metric::Cosine));
    }
    let r = recall(&found, &truth, K);
    eprintln!("after upserts: recall@{K} = {r:.4}");
    assert!(r >= 0.95, "recall {r}");

    // Upserting the same keys over and over reuses slots: once a compaction has freed the
    // slots of the replaced records, as many upserts again take no new slot.
    let upsert_rounds = |index: &Index| {
        for round in 0..300 {
            let k = changed[round % 5];
            let v: Vec<f32> = if round % 2 == 0 { row(&base, dim, k).to_vec() } else { flipped(k) };
            index.upsert(Keys::U64(&[k]), &v).unwrap();
        }
    };
    upsert_rounds(&index);
    index.compact();
    let high = index.slot_high_water();
    upsert_rounds(&index);
    assert_eq!(index.slot_high_water(), high, "upserts do not reuse freed slots");
    index.check_invariants().unwrap();
    assert_eq!(index.len(), n + 40);
}
