//! Filtered search against exact ground truth: synthetic metadata on the first 20K GloVe-50
//! vectors (cosine), filters from 50% down to 0.1% of the records, each searched through the
//! graph with the filter's bitmap as the per-node predicate (`Index::search_filtered`) and
//! compared with brute force over the matching records only.
//!
//! Slots: `Index` has no public key -> slot map yet, so this test builds a fresh index with
//! one `add` of keys 0..N, whose slots are allocated in order: key i lives in slot i (checked:
//! the slot high-water mark is N, and every hit's key must match the filter evaluated at the
//! slot the predicate saw, which a wrong mapping would fail at once for selective filters).
//!
//! Recall and timings are printed (run with `--nocapture`); only recall floors are asserted.

mod common;
use std::time::Instant;

use common::*;
use omendb::filter::{plan, selectivity, Filter, MetadataStore, RoaringBitmap, SearchPlan};
use omendb::{Index, IndexOptions, Keys, Metric};

const N_BASE: usize = 20_000;
const N_QUERY: usize = 200;
const K: usize = 10;
const EF: usize = 64;
/// A narrow beam too, where filtered recall is further from 1.
const EF_LOW: usize = 16;
const EVAL_REPEAT: usize = 20;

/// Seeded hash of (record, salt) -> u64 (splitmix64), so labels are independent of vectors.
fn hash(i: u64, salt: u64) -> u64 {
    let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Metadata of record `i`: random labels, plus `x0` (the vector's first component), which
/// is correlated with position in space.
fn metadata(i: u64, first_component: f32) -> String {
    serde_json::json!({
        "in_stock": hash(i, 1).is_multiple_of(2),
        "category": format!("c{}", hash(i, 2) % 10),
        "bucket": hash(i, 3) % 1000,
        "tags": [format!("t{}", hash(i, 4) % 20), format!("t{}", hash(i, 5) % 20)],
        "price": (hash(i, 6) % 10_000) as f64 / 100.0,
        "x0": first_component as f64,
    })
    .to_string()
}

struct Case {
    name: &'static str,
    filter: String,
    /// Recall@10 floor for the graph path at EF (uncorrelated filters are easy: the search
    /// keeps walking until ef matching nodes are found).
    floor: f64,
}

fn cosine_f64(a: &[f32], b: &[f32]) -> f64 {
    exact_distance(Metric::Cosine, a, b)
}

#[test]
fn filtered_search_matches_brute_force() {
    let dir = data_dir().join("glove-50-angular");
    let (base, dim) = read_vecs(&dir.join("base.fvecs"), N_BASE);
    let (queries, _) = read_vecs(&dir.join("query.fvecs"), N_QUERY);
    let n = base.len() / dim;

    let index = Index::new(IndexOptions { metric: Metric::Cosine, ..Default::default() }).unwrap();
    let keys: Vec<u64> = (0..n as u64).collect();
    let t = Instant::now();
    index.add(Keys::U64(&keys), &base).unwrap();
    eprintln!("built {n} records in {:.1}s", t.elapsed().as_secs_f64());
    assert_eq!(index.slot_high_water(), n, "a fresh index with one add uses slots 0..n");

    let mut store = MetadataStore::new();
    for (i, v) in base.chunks_exact(dim).enumerate() {
        store.set(i as u32, &metadata(i as u64, v[0])).unwrap();
    }
    assert_eq!(store.len(), n);
    store.check_invariants().unwrap();

    // The 90th percentile of x0: "x0 > q90" keeps one corner of the space.
    let mut x0: Vec<f32> = base.chunks_exact(dim).map(|v| v[0]).collect();
    x0.sort_by(f32::total_cmp);
    let q90 = x0[n * 9 / 10];

    let cases = [
        Case { name: "50%", filter: "in_stock = true".into(), floor: 0.95 },
        Case { name: "10%", filter: r#"category = "c3""#.into(), floor: 0.95 },
        Case {
            name: "10% compound",
            filter: r#"(tags CONTAINS "t1" OR tags CONTAINS "t2") AND NOT category IN ("c0", "c9")"#.into(),
            floor: 0.95,
        },
        Case { name: "1%", filter: "bucket >= 100 AND bucket < 110".into(), floor: 0.95 },
        Case { name: "0.1%", filter: "bucket = 7 OR bucket = 8 AND price < 10".into(), floor: 0.95 },
        Case { name: "10% correlated", filter: format!("x0 > {q90:?}"), floor: 0.80 },
    ];

    // Exact distances from every query to every record, once.
    let dists: Vec<Vec<f64>> =
        queries.chunks_exact(dim).map(|q| base.chunks_exact(dim).map(|v| cosine_f64(q, v)).collect()).collect();
    // Normalised copies for the timed brute-force path (what the index stores under cosine).
    let normalize = |v: &[f32]| {
        let len = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / len).collect::<Vec<f32>>()
    };
    let base_n: Vec<f32> = base.chunks_exact(dim).flat_map(normalize).collect();
    let queries_n: Vec<f32> = queries.chunks_exact(dim).flat_map(normalize).collect();

    eprintln!(
        "{:<16} {:>7} {:>8} {:>9} {:>9} {:>11} {:>10} {:>9} {:>10}",
        "filter", "match", "select.", "R@10 ef16", "R@10 ef64", "graph us/q", "scan us/q", "eval us", "plan"
    );
    for case in &cases {
        let filter = Filter::parse(&case.filter).unwrap_or_else(|e| panic!("{}: {e}", case.filter));
        let matching: RoaringBitmap = store.evaluate(&filter);
        let t = Instant::now();
        for _ in 0..EVAL_REPEAT {
            assert_eq!(store.evaluate(&filter).len(), matching.len());
        }
        let eval_us = t.elapsed().as_secs_f64() * 1e6 / EVAL_REPEAT as f64;
        let sel = selectivity(&matching, store.len() as u64);
        assert!(!matching.is_empty(), "{}: matches nothing", case.name);
        // The index agrees with the per-record check.
        for slot in 0..n as u32 {
            assert_eq!(matching.contains(slot), store.matches(slot, &filter), "{} slot {slot}", case.name);
        }

        // Ground truth: the K nearest among matching records.
        let truth: Vec<Vec<u64>> = dists
            .iter()
            .map(|d| {
                let mut c: Vec<(f64, u64)> = matching.iter().map(|s| (d[s as usize], s as u64)).collect();
                c.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                c.truncate(K);
                c.into_iter().map(|p| p.1).collect()
            })
            .collect();

        // Graph path: the bitmap is the per-node predicate.
        let predicate = |slot: u32| matching.contains(slot);
        let t = Instant::now();
        let found: Vec<Vec<u64>> = queries
            .chunks_exact(dim)
            .map(|q| {
                let hits = index.search_filtered(q, K, Some(EF), Some(&predicate)).unwrap();
                assert_sorted_unique(&hits);
                hits.iter().map(|h| h.key.parse::<u64>().unwrap()).collect()
            })
            .collect();
        let graph_us = t.elapsed().as_secs_f64() * 1e6 / N_QUERY as f64;
        for (qi, f) in found.iter().enumerate() {
            assert_eq!(f.len(), K.min(matching.len() as usize), "{} query {qi}: too few hits", case.name);
            for &key in f {
                // Key i lives in slot i: the hit's own metadata must pass the filter.
                assert!(store.matches(key as u32, &filter), "{} query {qi}: hit {key} fails the filter", case.name);
            }
        }
        let r = recall(&found, &truth, K);
        let found_low: Vec<Vec<u64>> = queries
            .chunks_exact(dim)
            .map(|q| {
                let hits = index.search_filtered(q, K, Some(EF_LOW), Some(&predicate)).unwrap();
                hits.iter().map(|h| h.key.parse::<u64>().unwrap()).collect()
            })
            .collect();
        let r_low = recall(&found_low, &truth, K);

        // Brute-force path over the bitmap (as the index would run it for small sets).
        let t = Instant::now();
        let mut scanned = 0usize;
        for q in queries_n.chunks_exact(dim) {
            let mut best: Vec<(f32, u32)> = Vec::with_capacity(K + 1);
            for s in matching.iter() {
                let v = &base_n[s as usize * dim..(s as usize + 1) * dim];
                let d = 1.0 - q.iter().zip(v).map(|(a, b)| a * b).sum::<f32>();
                if best.len() < K || d < best[best.len() - 1].0 {
                    let at = best.partition_point(|p| p.0 <= d);
                    best.insert(at, (d, s));
                    best.truncate(K);
                }
            }
            scanned += best.len();
        }
        let scan_us = t.elapsed().as_secs_f64() * 1e6 / N_QUERY as f64;
        assert_eq!(scanned, N_QUERY * K.min(matching.len() as usize));

        let chosen = plan(matching.len(), store.len() as u64, EF);
        eprintln!(
            "{:<16} {:>7} {:>7.2}% {:>9.4} {:>9.4} {:>11.1} {:>10.1} {:>9.1} {:>10}  {}",
            case.name,
            matching.len(),
            sel * 100.0,
            r_low,
            r,
            graph_us,
            scan_us,
            eval_us,
            format!("{chosen:?}"),
            case.filter
        );
        assert!(chosen != SearchPlan::Empty);
        assert!(r >= case.floor, "{}: filtered recall@10 = {r:.4} below {}", case.name, case.floor);
    }
}

#[test]
fn no_match_and_all_match() {
    let dir = data_dir().join("glove-50-angular");
    let (base, dim) = read_vecs(&dir.join("base.fvecs"), 2_000);
    let (queries, _) = read_vecs(&dir.join("query.fvecs"), 20);
    let n = base.len() / dim;
    let index = Index::new(IndexOptions { metric: Metric::Cosine, ..Default::default() }).unwrap();
    let keys: Vec<u64> = (0..n as u64).collect();
    index.add(Keys::U64(&keys), &base).unwrap();
    let mut store = MetadataStore::new();
    for (i, v) in base.chunks_exact(dim).enumerate() {
        store.set(i as u32, &metadata(i as u64, v[0])).unwrap();
    }
    let none = store.evaluate(&Filter::parse("bucket < 0").unwrap());
    assert_eq!(plan(none.len(), n as u64, EF), SearchPlan::Empty);
    let all = store.evaluate(&Filter::parse("EXISTS bucket").unwrap());
    assert_eq!(all.len(), n as u64);
    for q in queries.chunks_exact(dim) {
        let none_pred = |s: u32| none.contains(s);
        assert!(index.search_filtered(q, K, Some(EF), Some(&none_pred)).unwrap().is_empty());
        let all_pred = |s: u32| all.contains(s);
        let a = index.search_filtered(q, K, Some(EF), Some(&all_pred)).unwrap();
        let b = index.search(q, K, Some(EF)).unwrap();
        assert_eq!(a, b, "a filter that matches everything changes nothing");
    }
}

/// The same filters through the public `Index` API (metadata given with `add_with`, filters
/// planned inside `search_where`): recall@10 against brute force over the matching records,
/// and always min(k, matches) hits.
#[test]
fn index_search_where_at_every_selectivity() {
    let dir = data_dir().join("glove-50-angular");
    let (base, dim) = read_vecs(&dir.join("base.fvecs"), N_BASE);
    let (queries, _) = read_vecs(&dir.join("query.fvecs"), N_QUERY);
    let n = base.len() / dim;
    let index = Index::new(IndexOptions { metric: Metric::Cosine, ..Default::default() }).unwrap();
    let keys: Vec<u64> = (0..n as u64).collect();
    let texts: Vec<String> = base.chunks_exact(dim).enumerate().map(|(i, v)| metadata(i as u64, v[0])).collect();
    let meta: Vec<Option<&str>> = texts.iter().map(|t| Some(t.as_str())).collect();
    index.add_with(Keys::U64(&keys), &base, omendb::Payloads { metadata: Some(&meta), texts: None }).unwrap();

    let mut store = MetadataStore::new();
    for (i, t) in texts.iter().enumerate() {
        store.set(i as u32, t).unwrap();
    }
    for (name, text) in [
        ("50%", "in_stock = true"),
        ("10%", r#"category = "c3""#),
        ("1%", "bucket >= 100 AND bucket < 110"),
        ("0.1%", "bucket = 7 OR bucket = 8 AND price < 10"),
        ("none", "bucket > 5000"),
    ] {
        let filter = Filter::parse(text).unwrap();
        let matching: Vec<u64> = store.evaluate(&filter).iter().map(u64::from).collect();
        let mut hits_total = 0;
        let mut found_total = 0;
        for q in queries.chunks_exact(dim) {
            let mut truth: Vec<(f64, u64)> =
                matching.iter().map(|&key| (cosine_f64(q, &base[key as usize * dim..][..dim]), key)).collect();
            truth.sort_by(|a, b| a.0.total_cmp(&b.0));
            let kth = truth.get(K.min(truth.len()).saturating_sub(1)).map_or(f64::INFINITY, |t| t.0);
            let mut got = Vec::new();
            let count = index
                .search_where(q, K, Some(EF), &filter, |key, _| {
                    let omendb::KeyRef::U64(key) = key else { panic!("u64 keys") };
                    got.push(key);
                })
                .unwrap();
            assert_eq!(count, K.min(matching.len()), "{name}: hit count");
            assert_eq!(got.len(), count);
            for &key in &got {
                assert!(matching.binary_search(&key).is_ok(), "{name}: hit {key} does not match the filter");
                if cosine_f64(q, &base[key as usize * dim..][..dim]) <= kth + 1e-6 {
                    hits_total += 1;
                }
            }
            found_total += K.min(matching.len());
        }
        let recall = if found_total == 0 { 1.0 } else { hits_total as f64 / found_total as f64 };
        eprintln!("search_where {name} ({} matches): recall@10 = {recall:.4}", matching.len());
        assert!(recall >= 0.95, "{name}: recall@10 = {recall}");
    }
}
