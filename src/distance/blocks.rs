//! Kernels that score codes where they lie, inside the neighbour blocks of the graph (see
//! `hnsw::codes`): `out[i] = sum_j w[j] * code_i[j]` over 7-bit codes (one byte a dimension)
//! or 4-bit codes (two dimensions a byte, the even one in the low nibble) and i8 weights, for
//! the codes at the given positions of one block (`dots_in_block`), or for codes that each
//! lie in their own words (`dots_each`: each node's own code, in the layout for long codes).
//!
//! A block can be rewritten by an insert while a search scores it, so its bytes are never
//! read through a Rust reference or a plain load (that would be a data race). The SIMD kernels
//! load them with inline assembly. Blocks start at multiples of 16 bytes, code strides are whole words
//! and every load starts at a multiple of 16 bytes from a code, so each asm load covers whole
//! aligned 32-bit words and reads them as Relaxed atomic loads of those words would (x86
//! gives no tearing within an aligned word), at most merged as Relaxed loads may be: a racing
//! write yields a mix of old and new words, which at worst gives one wrong approximate
//! distance (the search re-scores what it keeps exactly). The portable kernel uses Relaxed
//! atomic loads.
//!
//! Loads are whole vectors: the caller pads the weights with zeros to `padded_len(dim)` and
//! the block with room for a full-width read of its last code, so no kernel needs a masked
//! tail; the bytes read past a code (its norm, the next code) meet zero weights.

use std::sync::atomic::{AtomicU32, Ordering};

/// Weights and full-width reads are padded to this many bytes.
pub const LANE_BYTES: usize = 64;

/// `dim` rounded up to whole 64-byte reads.
pub fn padded_len(dim: usize) -> usize {
    dim.div_ceil(LANE_BYTES) * LANE_BYTES
}

/// The instruction set a code-scoring call runs on: one of [`available`]'s, picked once by
/// [`detect`] (a codec keeps it, so the choice is not made again per call). Only those two
/// make one, so a kernel in hand is one this CPU runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kernel(Isa);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Isa {
    /// AVX-512 F/BW/VNNI: 64 dimensions a step.
    #[cfg(target_arch = "x86_64")]
    Avx512Vnni,
    /// AVX2: 32 dimensions a step.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// Portable: Relaxed atomic loads, one word at a time (the oracle of the others).
    Scalar,
}

/// The fastest kernel for codes of `bits` (8 or 4) a dimension this CPU supports.
pub fn detect(bits: u8) -> Kernel {
    available(bits)[0].1
}

/// Every kernel this CPU can run for codes of `bits` (8 or 4) a dimension, fastest first, the
/// portable one last: for tests and benchmarks (`detect` picks the first).
pub fn available(bits: u8) -> Vec<(&'static str, Kernel)> {
    let _ = bits; // every kernel takes both widths
    #[cfg(target_arch = "x86_64")]
    let mut kernels = x86::available();
    #[cfg(not(target_arch = "x86_64"))]
    let mut kernels: Vec<(&'static str, Kernel)> = Vec::new();
    kernels.push(("scalar", Kernel(Isa::Scalar)));
    kernels
}

/// Bytes of a code's full-width read against `w`: `w.len()` bytes (8-bit codes) or
/// `w.len() / 2` (4-bit).
fn read_len(bits: u8, w: &[i8]) -> usize {
    assert!(w.len().is_multiple_of(LANE_BYTES), "weights must be padded to 64-byte lanes");
    if bits == 4 { w.len() / 2 } else { w.len() }
}

/// Scores the codes at `positions` of `block` (code i starts at byte `i * stride`) against
/// `w` (i8 weights, `padded_len(dim)` long, zero past dim): `out[k]` for `positions[k]`, with
/// `kernel` over codes of `bits` (8 or 4) a dimension. A code's full-width read is
/// `w.len()` bytes (8-bit codes) or `w.len() / 2` (4-bit).
///
/// # Panics
/// If `w` is not a whole number of 64-byte lanes or a code's full-width read would leave the
/// block.
pub fn dots_in_block(kernel: Kernel, bits: u8, block: &[AtomicU32], stride: usize, positions: &[u32], w: &[i8], out: &mut Vec<i32>) {
    let read = read_len(bits, w);
    if let Some(&last) = positions.iter().max() {
        assert!(last as usize * stride + read <= block.len() * 4, "a code's read would leave its block");
    }
    out.clear();
    out.resize(positions.len(), 0);
    match kernel.0 {
        #[cfg(target_arch = "x86_64")]
        isa @ (Isa::Avx512Vnni | Isa::Avx2) => {
            let base = block.as_ptr() as *const u8;
            // SAFETY: `positions[k] * stride` is inside the block (checked above).
            let code = |k: usize| unsafe { base.add(positions[k] as usize * stride) };
            // SAFETY: a `Kernel` of this ISA exists only where the CPU has it (`available`);
            // every code's full-width read lies inside the block (checked above).
            unsafe { x86::dots(isa, bits, positions.len(), code, w, out) }
        }
        Isa::Scalar => scalar(bits, positions.len(), |k| (block, positions[k] as usize * stride), w, out),
    }
}

/// As [`dots_in_block`], for `n` codes that each lie in their own words: code `k` starts at
/// `code(k)[0]`, which must hold its full-width read (`w.len()` or `w.len() / 2` bytes).
///
/// # Panics
/// If `w` is not a whole number of 64-byte lanes or a code's slice is shorter than its read.
pub fn dots_each<'a>(kernel: Kernel, bits: u8, n: usize, code: impl Fn(usize) -> &'a [AtomicU32], w: &[i8], out: &mut Vec<i32>) {
    let read = read_len(bits, w);
    let code = |k: usize| {
        let c = code(k);
        assert!(read <= c.len() * 4, "a code's read would leave its words");
        c
    };
    out.clear();
    out.resize(n, 0);
    match kernel.0 {
        #[cfg(target_arch = "x86_64")]
        isa @ (Isa::Avx512Vnni | Isa::Avx2) => {
            // SAFETY: a `Kernel` of this ISA exists only where the CPU has it (`available`);
            // each code's read lies inside its words (checked in `code`).
            unsafe { x86::dots(isa, bits, n, |k| code(k).as_ptr() as *const u8, w, out) }
        }
        Isa::Scalar => scalar(bits, n, |k| (code(k), 0), w, out),
    }
}

/// The portable kernel (and the oracle of the SIMD ones): code `k` starts at byte `at` of the
/// words `code(k)` gives, read by Relaxed loads one word at a time.
fn scalar<'a>(bits: u8, n: usize, code: impl Fn(usize) -> (&'a [AtomicU32], usize), w: &[i8], out: &mut [i32]) {
    let nibbles = bits == 4;
    for (k, o) in out.iter_mut().enumerate().take(n) {
        let (words, start) = code(k);
        let mut sum = 0i32;
        for (j, &wj) in w.iter().enumerate() {
            if wj == 0 {
                continue;
            }
            let at = start + if nibbles { j / 2 } else { j };
            let byte = (words[at / 4].load(Ordering::Relaxed) >> ((at % 4) * 8)) as u8;
            let code = match (nibbles, j % 2) {
                (false, _) => byte,
                (true, 0) => byte & 0x0F,
                (true, _) => byte >> 4,
            };
            sum += wj as i32 * code as i32;
        }
        *o = sum;
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::asm;
    use std::arch::x86_64::*;

    use super::Isa;

    /// Scores `n` codes, code `k` at `code(k)`, with `isa`'s kernel (see `super::dots_in_block`).
    ///
    /// # Safety
    /// The CPU has `isa`'s features; every code's full-width read lies inside one allocation
    /// (see `super::read_len`); `w` is whole 64-byte lanes; `out` holds `n` sums.
    pub(super) unsafe fn dots(isa: Isa, bits: u8, n: usize, code: impl Fn(usize) -> *const u8, w: &[i8], out: &mut [i32]) {
        debug_assert!(out.len() >= n && w.len().is_multiple_of(64));
        // SAFETY: the caller's contract.
        unsafe {
            match (isa, bits == 4) {
                (Isa::Avx512Vnni, true) => avx512vnni::<true>(n, code, w, out),
                (Isa::Avx512Vnni, false) => avx512vnni::<false>(n, code, w, out),
                (Isa::Avx2, true) => avx2::<true>(n, code, w, out),
                (Isa::Avx2, false) => avx2::<false>(n, code, w, out),
                (Isa::Scalar, _) => unreachable!("the portable kernel is not a SIMD one"),
            }
        }
    }

    /// 64 weights a step against 64 code bytes, or against 32 bytes of nibbles widened to 32
    /// u16 lanes where `(v & 0x0F) | ((v & 0xF0) << 4)` puts the low nibble in the lane's low
    /// byte and the high nibble in its high byte (64 bytes in dimension order); one
    /// `vpdpbusd` (u8 x i8, no saturation) a step. Codes go four at a time, their four sums
    /// reduced together (`reduce4`): at glove's 50 dimensions (one step) the reduction is most
    /// of a code's instructions.
    ///
    /// # Safety
    /// AVX-512F/BW/VNNI; every code's full-width read (see `super::read_len`) inside one
    /// allocation; `out` holds `n` sums.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn avx512vnni<const NIBBLES: bool>(n: usize, code: impl Fn(usize) -> *const u8, w: &[i8], out: &mut [i32]) {
        let lanes = w.len() / 64;
        let mut groups = out[..n].chunks_exact_mut(4);
        for (g, o) in (&mut groups).enumerate() {
            let (c0, c1, c2, c3) = (code(4 * g), code(4 * g + 1), code(4 * g + 2), code(4 * g + 3));
            let mut acc = [_mm512_setzero_si512(); 4];
            for l in 0..lanes {
                // SAFETY: `l * 64 + 64 <= w.len()`; each code's step `l` lies inside the block.
                unsafe {
                    let wl = _mm512_loadu_si512(w.as_ptr().add(l * 64) as *const __m512i);
                    acc[0] = _mm512_dpbusd_epi32(acc[0], lane::<NIBBLES>(c0, l), wl);
                    acc[1] = _mm512_dpbusd_epi32(acc[1], lane::<NIBBLES>(c1, l), wl);
                    acc[2] = _mm512_dpbusd_epi32(acc[2], lane::<NIBBLES>(c2, l), wl);
                    acc[3] = _mm512_dpbusd_epi32(acc[3], lane::<NIBBLES>(c3, l), wl);
                }
            }
            let sums = reduce4(acc);
            // SAFETY: `o` is 4 i32 long.
            unsafe { _mm_storeu_si128(o.as_mut_ptr() as *mut __m128i, sums) };
        }
        let done = n - n % 4;
        for (k, o) in groups.into_remainder().iter_mut().enumerate() {
            let code = code(done + k);
            let mut acc = _mm512_setzero_si512();
            for l in 0..lanes {
                // SAFETY: as above.
                unsafe {
                    let wl = _mm512_loadu_si512(w.as_ptr().add(l * 64) as *const __m512i);
                    acc = _mm512_dpbusd_epi32(acc, lane::<NIBBLES>(code, l), wl);
                }
            }
            *o = _mm512_reduce_add_epi32(acc);
        }
    }

    /// Step `l` of the code at `code`: 64 code bytes, or 32 bytes of nibbles widened to 64
    /// bytes in dimension order (see `avx512vnni`).
    ///
    /// # Safety
    /// AVX-512F/BW; the step's read (64 or 32 bytes from `code + l * 64` or `l * 32`) inside
    /// the block.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn lane<const NIBBLES: bool>(code: *const u8, l: usize) -> __m512i {
        if NIBBLES {
            let packed: __m256i;
            // SAFETY: an inline-assembly load of 32 bytes inside the block (the caller's
            // contract), whole aligned words read as Relaxed loads would be (module doc).
            unsafe {
                asm!("vmovdqu {c}, ymmword ptr [{p}]", c = lateout(ymm_reg) packed, p = in(reg) code.add(l * 32),
                    options(pure, readonly, nostack, preserves_flags));
            }
            let v = _mm512_cvtepu8_epi16(packed);
            let (low, high) = (_mm512_set1_epi16(0x000F), _mm512_set1_epi16(0x00F0));
            _mm512_or_si512(_mm512_and_si512(v, low), _mm512_slli_epi16(_mm512_and_si512(v, high), 4))
        } else {
            let bytes: __m512i;
            // SAFETY: an inline-assembly load of 64 bytes inside the block (the caller's
            // contract), whole aligned words read as Relaxed loads would be (module doc).
            unsafe {
                asm!("vmovdqu8 {c}, zmmword ptr [{p}]", c = lateout(zmm_reg) bytes, p = in(reg) code.add(l * 64),
                    options(pure, readonly, nostack, preserves_flags));
            }
            bytes
        }
    }

    /// The sums of the 16 i32 lanes of each of `acc[0..4]`, in that order: pairs interleaved
    /// within each 128-bit lane (unpack, add) until each 128-bit lane holds four partial sums,
    /// then the four 128-bit lanes added.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn reduce4(acc: [__m512i; 4]) -> __m128i {
        let [a, b, c, d] = acc;
        // [a0+a2, b0+b2, a1+a3, b1+b3] in each 128-bit lane, and the same for c and d.
        let ab = _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
        let cd = _mm512_add_epi32(_mm512_unpacklo_epi32(c, d), _mm512_unpackhi_epi32(c, d));
        // [a, b, c, d] partial sums in each 128-bit lane.
        let abcd = _mm512_add_epi32(_mm512_unpacklo_epi64(ab, cd), _mm512_unpackhi_epi64(ab, cd));
        let half = _mm256_add_epi32(_mm512_castsi512_si256(abcd), _mm512_extracti64x4_epi64::<1>(abcd));
        _mm_add_epi32(_mm256_castsi256_si128(half), _mm256_extracti128_si256::<1>(half))
    }

    /// As `avx512vnni`, 32 dimensions a step: `pmaddubsw` multiplies u8 codes (at most 127)
    /// by i8 weights in pairs into i16 (at most 2 * 127 * 128, no saturation), `pmaddwd` by
    /// ones widens to i32. Four codes at a time, as there.
    ///
    /// # Safety
    /// AVX2; every code's full-width read (see `super::read_len`) inside one allocation;
    /// `out` holds `n` sums.
    #[target_feature(enable = "avx2")]
    unsafe fn avx2<const NIBBLES: bool>(n: usize, code: impl Fn(usize) -> *const u8, w: &[i8], out: &mut [i32]) {
        let steps = w.len() / 32;
        let ones = _mm256_set1_epi16(1);
        let mut groups = out[..n].chunks_exact_mut(4);
        for (g, o) in (&mut groups).enumerate() {
            let (c0, c1, c2, c3) = (code(4 * g), code(4 * g + 1), code(4 * g + 2), code(4 * g + 3));
            let mut acc = [_mm256_setzero_si256(); 4];
            for s in 0..steps {
                // SAFETY: `s * 32 + 32 <= w.len()`; each code's step `s` lies inside the block.
                unsafe {
                    let ws = _mm256_loadu_si256(w.as_ptr().add(s * 32) as *const __m256i);
                    let dot = |c: __m256i| _mm256_madd_epi16(_mm256_maddubs_epi16(c, ws), ones);
                    acc[0] = _mm256_add_epi32(acc[0], dot(step::<NIBBLES>(c0, s)));
                    acc[1] = _mm256_add_epi32(acc[1], dot(step::<NIBBLES>(c1, s)));
                    acc[2] = _mm256_add_epi32(acc[2], dot(step::<NIBBLES>(c2, s)));
                    acc[3] = _mm256_add_epi32(acc[3], dot(step::<NIBBLES>(c3, s)));
                }
            }
            let [a, b, c, d] = acc;
            // As `reduce4`, over two 128-bit lanes.
            let ab = _mm256_add_epi32(_mm256_unpacklo_epi32(a, b), _mm256_unpackhi_epi32(a, b));
            let cd = _mm256_add_epi32(_mm256_unpacklo_epi32(c, d), _mm256_unpackhi_epi32(c, d));
            let abcd = _mm256_add_epi32(_mm256_unpacklo_epi64(ab, cd), _mm256_unpackhi_epi64(ab, cd));
            let sums = _mm_add_epi32(_mm256_castsi256_si128(abcd), _mm256_extracti128_si256::<1>(abcd));
            // SAFETY: `o` is 4 i32 long.
            unsafe { _mm_storeu_si128(o.as_mut_ptr() as *mut __m128i, sums) };
        }
        let done = n - n % 4;
        for (k, o) in groups.into_remainder().iter_mut().enumerate() {
            let code = code(done + k);
            let mut acc = _mm256_setzero_si256();
            for s in 0..steps {
                // SAFETY: as above.
                unsafe {
                    let ws = _mm256_loadu_si256(w.as_ptr().add(s * 32) as *const __m256i);
                    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(step::<NIBBLES>(code, s), ws), ones));
                }
            }
            let sum128 = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
            let sum64 = _mm_add_epi32(sum128, _mm_shuffle_epi32(sum128, 0b01_00_11_10));
            let sum32 = _mm_add_epi32(sum64, _mm_shuffle_epi32(sum64, 0b10_11_00_01));
            *o = _mm_cvtsi128_si32(sum32);
        }
    }

    /// Step `s` of the code at `code`: 32 code bytes, or 16 bytes of nibbles widened to 32
    /// bytes in dimension order (see `avx512vnni`).
    ///
    /// # Safety
    /// AVX2; the step's read (32 or 16 bytes from `code + s * 32` or `s * 16`) inside the block.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn step<const NIBBLES: bool>(code: *const u8, s: usize) -> __m256i {
        if NIBBLES {
            let packed: __m128i;
            // SAFETY: an inline-assembly load of 16 bytes inside the block (the caller's
            // contract), whole aligned words read as Relaxed loads would be (module doc).
            unsafe {
                asm!("vmovdqu {c}, xmmword ptr [{p}]", c = lateout(xmm_reg) packed, p = in(reg) code.add(s * 16),
                    options(pure, readonly, nostack, preserves_flags));
            }
            let v = _mm256_cvtepu8_epi16(packed);
            let (low, high) = (_mm256_set1_epi16(0x000F), _mm256_set1_epi16(0x00F0));
            _mm256_or_si256(_mm256_and_si256(v, low), _mm256_slli_epi16(_mm256_and_si256(v, high), 4))
        } else {
            let bytes: __m256i;
            // SAFETY: an inline-assembly load of 32 bytes inside the block (the caller's
            // contract), whole aligned words read as Relaxed loads would be (module doc).
            unsafe {
                asm!("vmovdqu {c}, ymmword ptr [{p}]", c = lateout(ymm_reg) bytes, p = in(reg) code.add(s * 32),
                    options(pure, readonly, nostack, preserves_flags));
            }
            bytes
        }
    }

    /// The SIMD kernels this CPU can run.
    pub(super) fn available() -> Vec<(&'static str, super::Kernel)> {
        let mut v = Vec::new();
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vnni")
        {
            v.push(("avx512vnni", super::Kernel(Isa::Avx512Vnni)));
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            v.push(("avx2", super::Kernel(Isa::Avx2)));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_of(bytes: &[u8]) -> Vec<AtomicU32> {
        bytes
            .chunks(4)
            .map(|c| {
                let mut w = [0u8; 4];
                w[..c.len()].copy_from_slice(c);
                AtomicU32::new(u32::from_le_bytes(w))
            })
            .collect()
    }

    /// For 8-bit and 4-bit codes, at every length up to 300 dimensions, with codes at the
    /// extremes, weights down to -128 and strides not a multiple of the read: the scalar
    /// kernel equals a direct sum over the unpacked codes, and every SIMD kernel equals it.
    #[test]
    fn simd_kernels_match_the_scalar_kernel() {
        let mut seed = 0x9e37_79b9u32;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for bits in [8u8, 4] {
            let nibbles = bits == 4;
            let kernels = available(bits);
            for dim in 1..300usize {
                let code_bytes = if nibbles { dim.div_ceil(2) } else { dim };
                let stride = code_bytes + 4 + (dim % 3);
                let padded = padded_len(dim);
                let read = if nibbles { padded / 2 } else { padded };
                // 8-bit codes hold at most 127 (7 bits); any byte is a valid pair of nibbles.
                let byte = |i: usize, r: u32| match (nibbles, i % 7) {
                    (false, 0) => 127,
                    (false, _) => (r % 128) as u8,
                    (true, 0) => 0xFF,
                    (true, _) => r as u8,
                };
                let bytes: Vec<u8> = (0..4 * stride + read).map(|i| byte(i, next())).collect();
                let block = block_of(&bytes);
                let mut w: Vec<i8> = (0..dim).map(|j| if j % 5 == 0 { -128 } else { (next() % 256) as u8 as i8 }).collect();
                w.resize(padded, 0);
                // Kernels go four codes at a time: lists of every length from 0 to 9.
                let positions: Vec<u32> = [4u32, 0, 2, 3, 1, 1, 3, 0, 2].into_iter().take(dim % 10).collect();
                let mut want = Vec::new();
                let scalar = *kernels.last().map(|(_, k)| k).unwrap();
                dots_in_block(scalar, bits, &block, stride, &positions, &w, &mut want);
                for (k, &p) in positions.iter().enumerate() {
                    let code = &bytes[p as usize * stride..];
                    let unpacked = |j: usize| match (nibbles, j % 2) {
                        (false, _) => code[j],
                        (true, 0) => code[j / 2] & 15,
                        (true, _) => code[j / 2] >> 4,
                    };
                    let direct: i32 = (0..dim).map(|j| unpacked(j) as i32 * w[j] as i32).sum();
                    assert_eq!(want[k], direct, "scalar, {bits} bits, dim {dim}");
                }
                // The same codes, each copied into words of its own, scored by `dots_each`.
                let own: Vec<Vec<AtomicU32>> =
                    positions.iter().map(|&p| block_of(&bytes[p as usize * stride..p as usize * stride + read])).collect();
                for &(name, kernel) in &kernels {
                    let mut got = Vec::new();
                    dots_in_block(kernel, bits, &block, stride, &positions, &w, &mut got);
                    assert_eq!(got, want, "{name}, {bits} bits, dim {dim}");
                    dots_each(kernel, bits, own.len(), |k| &own[k], &w, &mut got);
                    assert_eq!(got, want, "{name} over separate codes, {bits} bits, dim {dim}");
                }
            }
        }
    }
}
