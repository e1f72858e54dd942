//! Code kernel benchmarks (quantization): for each dimension, the f32 L2 kernel the index
//! uses, then every code kernel set this CPU supports: int8 (u8 squared L2 and dot), binary
//! (Hamming), f16 (squared L2), and PQ's table look-up distance (ADC, m = dim / 8).
//! Operands are in cache: this measures compute, not memory traffic. `quant_scan` then
//! measures one query against many stored vectors in random order (memory-bound).
//!
//! `cargo bench --bench quant` (add `-- --quick` for a faster, rougher run).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use omendb::distance::Kernels;
use omendb::quant::kernels::CodeKernels;
use omendb::quant::pq;

const DIMS: [usize; 5] = [128, 384, 768, 1024, 1536];

fn noise(n: usize, seed: u64) -> Vec<u64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        })
        .collect()
}

/// `n` values copied into a buffer at a 64-byte boundary, like the rows of the node arena
/// (misaligned AVX-512 loads split cache lines and would flatter the code kernels).
struct Aligned<T> {
    buf: Vec<T>,
    start: usize,
    n: usize,
}

impl<T: Copy + Default> Aligned<T> {
    fn new(values: Vec<T>) -> Self {
        let size = std::mem::size_of::<T>();
        let n = values.len();
        let mut buf = vec![T::default(); n + 64 / size];
        let start = (64 - buf.as_ptr() as usize % 64) % 64 / size;
        buf[start..start + n].copy_from_slice(&values);
        Aligned { buf, start, n }
    }

    fn get(&self) -> &[T] {
        &self.buf[self.start..self.start + self.n]
    }
}

fn seven_bit(n: usize, seed: u64) -> Aligned<u8> {
    Aligned::new(noise(n, seed).into_iter().map(|z| z as u8 & 127).collect())
}

fn floats(n: usize, seed: u64) -> Aligned<f32> {
    Aligned::new(noise(n, seed).into_iter().map(|z| ((z >> 40) as f32 / (1u32 << 24) as f32) * 2.0 - 1.0).collect())
}

fn bytes(n: usize, seed: u64) -> Aligned<u8> {
    Aligned::new(noise(n, seed).into_iter().map(|z| z as u8).collect())
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("quant");
    group.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1)).sample_size(40);
    let f32k = Kernels::detect();
    let code_sets = CodeKernels::all_available();
    for &dim in &DIMS {
        let (fa, fb) = (floats(dim, 1), floats(dim, 2));
        let (fa, fb) = (fa.get(), fb.get());
        group.bench_with_input(BenchmarkId::new(format!("f32_l2/{}", f32k.name), dim), &dim, |b, _| {
            b.iter(|| (f32k.l2sq)(black_box(fa), black_box(fb)))
        });
        // int8 codes are 7-bit (0..=127, see quant::int8).
        let (ua, ub) = (seven_bit(dim, 3), seven_bit(dim, 4));
        let (ua, ub) = (ua.get(), ub.get());
        let (ba, bb) = (bytes(dim / 8, 5), bytes(dim / 8, 6));
        let (ba, bb) = (ba.get(), bb.get());
        let ha = Aligned::new(fa.iter().map(|&x| half::f16::from_f32(x).to_bits()).collect());
        let hb = Aligned::new(fb.iter().map(|&x| half::f16::from_f32(x).to_bits()).collect());
        let (ha, hb) = (ha.get(), hb.get());
        for k in &code_sets {
            group.bench_with_input(BenchmarkId::new(format!("int8_l2/{}", k.name), dim), &dim, |b, _| {
                b.iter(|| (k.l2_u8)(black_box(ua), black_box(ub)))
            });
            group.bench_with_input(BenchmarkId::new(format!("int8_dot/{}", k.name), dim), &dim, |b, _| {
                b.iter(|| (k.dot_u8)(black_box(ua), black_box(ub)))
            });
            group.bench_with_input(BenchmarkId::new(format!("binary_hamming/{}", k.name), dim), &dim, |b, _| {
                b.iter(|| (k.hamming)(black_box(ba), black_box(bb)))
            });
            group.bench_with_input(BenchmarkId::new(format!("f16_l2/{}", k.name), dim), &dim, |b, _| {
                b.iter(|| (k.l2_f16)(black_box(ha), black_box(hb)))
            });
        }
        let m = dim / 8;
        let table = floats(m * pq::CENTROIDS, 7);
        let code = bytes(m, 8);
        let (table, code) = (table.get(), code.get());
        group.bench_with_input(BenchmarkId::new("pq_adc/scalar", dim), &dim, |b, _| {
            b.iter(|| pq::adc(black_box(table), black_box(code)))
        });
    }
    group.finish();
}

/// Memory-bound: one query against 16,384 stored vectors of 1024 dimensions in a random
/// order, as a graph search visits them (f32: 64 MiB, past the caches; int8: 16 MiB; binary:
/// 2 MiB). Time per iteration / 16,384 = time per distance.
fn scans(c: &mut Criterion) {
    const N: usize = 16_384;
    const DIM: usize = 1024;
    let mut group = c.benchmark_group("quant_scan_1024x16384");
    group.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2)).sample_size(20);
    let mut order: Vec<usize> = (0..N).collect();
    let r = noise(N, 11);
    for i in (1..N).rev() {
        order.swap(i, (r[i] % (i as u64 + 1)) as usize);
    }
    let f32k = Kernels::detect();
    let code = CodeKernels::detect();
    let fstore = floats(N * DIM, 21);
    let (fstore, fq) = (fstore.get(), floats(DIM, 22));
    let fq = fq.get();
    group.bench_function(format!("f32_l2/{}", f32k.name), |b| {
        b.iter(|| order.iter().map(|&i| (f32k.l2sq)(fq, &fstore[i * DIM..(i + 1) * DIM])).sum::<f32>())
    });
    let ustore = Aligned::new(bytes(N * DIM, 23).get().iter().map(|x| x & 127).collect());
    let uq = Aligned::new(bytes(DIM, 24).get().iter().map(|x| x & 127).collect());
    let (ustore, uq) = (ustore.get(), uq.get());
    group.bench_function(format!("int8_l2/{}", code.name), |b| {
        b.iter(|| order.iter().map(|&i| (code.l2_u8)(uq, &ustore[i * DIM..(i + 1) * DIM])).sum::<u32>())
    });
    let bstore = bytes(N * DIM / 8, 25);
    let (bstore, bq) = (bstore.get(), bytes(DIM / 8, 26));
    let bq = bq.get();
    group.bench_function(format!("binary_hamming/{}", code.name), |b| {
        b.iter(|| order.iter().map(|&i| (code.hamming)(bq, &bstore[i * DIM / 8..(i + 1) * DIM / 8])).sum::<u32>())
    });
    group.finish();
}

criterion_group!(quant, benches, scans);
criterion_main!(quant);
