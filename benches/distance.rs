//! Distance kernel benchmarks: every kernel set this CPU supports, for l2sq and dot; and the
//! neighbour-block kernels (`distance::blocks`), scoring one node's 32 neighbour codes.
//!
//! `cargo bench --bench distance` (add `-- --quick` for a faster, rougher run;
//! `cargo bench --bench distance -- neighbor_block` for the block kernels alone).

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

/// One node's block of 32 codes (glove-like 50 and 128 dimensions at 8 bits, MiniLM's 384 and
/// MNIST's 784 at 4 bits), all 32 scored in one call as a search scores an expanded node.
fn neighbor_block(c: &mut Criterion) {
    use omendb::distance::blocks;
    use std::sync::atomic::AtomicU32;
    let mut group = c.benchmark_group("neighbor_block");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1))
        .sample_size(50);
    for (bits, dim) in [(8u8, 50usize), (8, 128), (4, 384), (4, 784)] {
        let m0 = 32;
        let stride = (dim * bits as usize).div_ceil(32) * 4 + 4; // the codes' layout (`hnsw::codes`)
        let padded = blocks::padded_len(dim);
        let read = padded * bits as usize / 8;
        let words = ((m0 - 1) * stride + read.max(stride)).div_ceil(4);
        let noise = data(words + padded, 3);
        let noise = noise.as_slice();
        // 8-bit codes hold at most 127; any byte is a valid pair of nibbles.
        let mask = if bits == 8 { 0x7F7F_7F7F } else { u32::MAX };
        let block: Vec<AtomicU32> = noise[..words].iter().map(|x| AtomicU32::new(x.to_bits() & mask)).collect();
        let mut w: Vec<i8> = noise[words..words + dim].iter().map(|x| (x * 127.0) as i8).collect();
        w.resize(padded, 0);
        let positions: Vec<u32> = (0..m0 as u32).collect();
        let mut out = Vec::with_capacity(m0);
        group.throughput(Throughput::Elements(m0 as u64));
        for (name, kernel) in blocks::available(bits) {
            group.bench_with_input(BenchmarkId::new(format!("{name}-{bits}bit"), dim), &dim, |bch, _| {
                bch.iter(|| blocks::dots_in_block(kernel, bits, black_box(&block), stride, black_box(&positions), black_box(&w), &mut out))
            });
        }
    }
    group.finish();
}

fn distance(c: &mut Criterion) {
    eprintln!("detected kernels: {}", omendb::distance::detect().name);
    bench_op(c, "l2sq", |k| k.l2sq);
    bench_op(c, "dot", |k| k.dot);
    neighbor_block(c);
}

criterion_group!(benches, distance);
criterion_main!(benches);
