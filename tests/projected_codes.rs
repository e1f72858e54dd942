//! The experimental projected neighbour codes (`OMENDB_CODE_DIMS`, issue 26): codes of a
//! vector's coordinates along the leading principal directions of the first records, fewer
//! than its dimensions. One test in its own process, since it sets the environment variable
//! that graphs read when they are made.
//!
//! Projected codes are not saved (NCOD stays empty): a load learns them again from the same
//! first records, so it answers as the saved index did; a load with another setting learns
//! codes of its own width, and saved full-width codes are not forced into projected blocks.

mod common;
use common::*;
use omendb::{Index, IndexOptions, Keys};

fn answers(index: &Index, d: &Subset, ef: usize) -> Vec<Vec<(String, f32)>> {
    d.queries
        .chunks_exact(d.dim)
        .map(|q| index.search(q, 10, Some(ef)).unwrap().into_iter().map(|h| (h.key, h.distance)).collect())
        .collect()
}

fn recall_of(found: &[Vec<(String, f32)>], d: &Subset) -> f64 {
    let keys: Vec<Vec<u64>> = found.iter().map(|hits| hits.iter().map(|(k, _)| k.parse().unwrap()).collect()).collect();
    recall(&keys, &d.truth, 10)
}

fn build(d: &Subset) -> Index {
    let index = Index::new(IndexOptions { metric: d.metric, neighbor_codes: 4, ..Default::default() }).unwrap();
    let keys: Vec<u64> = (0..(d.base.len() / d.dim) as u64).collect();
    index.add(Keys::U64(&keys), &d.base).unwrap();
    index
}

#[test]
fn projected_codes_search_well_and_survive_a_save() {
    let d = Subset::mnist(5_000, 100);
    let dir = std::env::temp_dir().join(format!("omendb-projected-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    // SAFETY of set_var: this file holds one test, so no other thread reads the environment.
    std::env::set_var("OMENDB_CODE_DIMS", "128");
    let projected = build(&d);
    std::env::remove_var("OMENDB_CODE_DIMS");
    let full = build(&d);
    assert!(projected.stats()["neighbor_codes_in_use"].as_bool().unwrap());
    projected.check_invariants().unwrap();
    // 128 of 784 dimensions: blocks of 32 codes of 68 bytes, not of 396.
    assert!(projected.memory_bytes() * 2 < full.memory_bytes(), "{} vs {}", projected.memory_bytes(), full.memory_bytes());
    let before = answers(&projected, &d, 64);
    let r = recall_of(&before, &d);
    eprintln!("projected 128-d 4-bit codes: recall@10 {r:.4} at ef 64");
    assert!(r >= 0.97, "recall {r}");
    for (q, hits) in d.queries.chunks_exact(d.dim).zip(&before) {
        for (key, dist) in hits {
            let i: usize = key.parse().unwrap();
            let want = exact_distance(d.metric, q, &d.base[i * d.dim..(i + 1) * d.dim]);
            assert!(distance_close(*dist, want), "key {key}: {dist} vs {want}");
        }
    }

    // Saved and loaded with the same setting: the same codes, learned again, same answers.
    let path = dir.join("projected.omen");
    projected.save(&path).unwrap();
    std::env::set_var("OMENDB_CODE_DIMS", "128");
    let loaded = Index::load(&path).unwrap();
    loaded.check_invariants().unwrap();
    assert_eq!(answers(&loaded, &d, 64), before);
    assert!(loaded.memory_bytes() * 2 < full.memory_bytes());

    // A full-width index's saved codes loaded into projected blocks: learned again instead.
    let full_path = dir.join("full.omen");
    full.save(&full_path).unwrap();
    let narrowed = Index::load(&full_path).unwrap();
    narrowed.check_invariants().unwrap();
    assert!(narrowed.memory_bytes() * 2 < full.memory_bytes());
    assert!(recall_of(&answers(&narrowed, &d, 64), &d) >= 0.97);

    // The projected file loaded without the setting: full-width codes, learned again.
    std::env::remove_var("OMENDB_CODE_DIMS");
    let widened = Index::load(&path).unwrap();
    widened.check_invariants().unwrap();
    assert!(widened.memory_bytes() > projected.memory_bytes() * 2);
    assert!(recall_of(&answers(&widened, &d, 64), &d) >= 0.97);
    let _ = std::fs::remove_dir_all(&dir);
}
