//! Search latency at fixed ef on a random index (the side-by-side harness in
//! benches/compare measures real data against peers; this tracks our own regressions).
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use omendb::{Index, IndexOptions, Keys, Metric};
use std::time::Duration;

fn random_vectors(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n * dim)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}

fn bench_search(c: &mut Criterion) {
    let mut group = c.benchmark_group("search");
    group.measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    for &dim in &[128usize, 768] {
        let n = 20_000;
        let data = random_vectors(n, dim, 1);
        let index = Index::new(IndexOptions { dim, metric: Metric::L2, ..Default::default() }).unwrap();
        let keys: Vec<u64> = (0..n as u64).collect();
        index.add(Keys::U64(&keys), &data).unwrap();
        let queries = random_vectors(256, dim, 2);
        for &ef in &[32usize, 128] {
            group.bench_with_input(BenchmarkId::new(format!("d{dim}_k10"), ef), &ef, |b, &ef| {
                let mut i = 0;
                b.iter(|| {
                    let q = &queries[(i % 256) * dim..(i % 256 + 1) * dim];
                    i += 1;
                    index.search(q, 10, Some(ef)).unwrap()
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_search);
criterion_main!(benches);
