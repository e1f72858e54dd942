//! Distance kernel benchmarks: every kernel set this CPU supports, for l2sq and dot.
//!
//! `cargo bench --bench distance` (add `-- --quick` for a faster, rougher run).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use omendb::distance::{KernelFn, Kernels};

const DIMS: [usize; 6] = [50, 128, 384, 768, 784, 1536];

/// A buffer holding `n` floats starting on a 64-byte boundary, like rows of
/// a cache-line-aligned vector store. (Misaligned operands cost AVX-512 about
/// 1.5x at large dims, since every 64-byte load then splits a cache line.)
struct Aligned {
    buf: Vec<f32>,
    start: usize,
    n: usize,
}

impl Aligned {
    fn as_slice(&self) -> &[f32] {
        &self.buf[self.start..self.start + self.n]
    }
}

/// Deterministic data in [-1, 1) (SplitMix64), no rand crate needed.
fn data(n: usize, seed: u64) -> Aligned {
    let mut s = seed;
    let buf: Vec<f32> = (0..n + 16)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            ((z >> 40) as f32 / (1u32 << 24) as f32) * 2.0 - 1.0
        })
        .collect();
    let misalign = buf.as_ptr() as usize % 64;
    let start = (64 - misalign) % 64 / 4;
    Aligned { buf, start, n }
}

fn bench_op(c: &mut Criterion, op: &str, pick: fn(&Kernels) -> KernelFn) {
    let kernels = Kernels::all_available();
    let mut group = c.benchmark_group(op);
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1))
        .sample_size(50);
    for &dim in &DIMS {
        let a = data(dim, 1);
        let b = data(dim, 2);
        group.throughput(Throughput::Elements(dim as u64));
        for k in &kernels {
            let f = pick(k);
            let (a, b) = (a.as_slice(), b.as_slice());
            group.bench_with_input(BenchmarkId::new(k.name, dim), &dim, |bch, _| {
                bch.iter(|| f(black_box(a), black_box(b)))
            });
        }
    }
    group.finish();
}

fn distance(c: &mut Criterion) {
    eprintln!("detected kernels: {}", omendb::distance::detect().name);
    bench_op(c, "l2sq", |k| k.l2sq);
    bench_op(c, "dot", |k| k.dot);
}

criterion_group!(benches, distance);
criterion_main!(benches);
