//! Neighbour codes: beside each node's layer-0 list, a block holding a compact code of every
//! neighbour, in link order (code i is the code of the node at link position i). A beam hop
//! then scores a node's whole neighbour list from one contiguous block instead of one random
//! read of each neighbour's full vector; the node it expands gets its exact f32 distance from
//! its own record (read for the links anyway), and the answer is the best expanded nodes by
//! exact distance ("implicit re-rank", as in SymphonyQG).
//!
//! The block is derived data: it is rewritten in `Graph::write_links`, the one place every
//! layer-0 list changes, under the node's lock. Readers copy the words of a code with Relaxed
//! loads before scoring it (a code can be rewritten while it is read; the worst a race gives
//! is one wrong approximate distance, the same kind of benign race as reading a list that is
//! being rewritten).
//!
//! Rule for keeping a block right: a position whose link is unchanged keeps its code; a link
//! that moved keeps the code it had at its old position; any other link is encoded from its
//! vector. Positions at or past the old count are never trusted (a slot freed by repair and
//! reused may show the same id there with a dead vector's code).

use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::distance::blocks::{self, DotsFn};
use crate::metric::Metric;

/// Fewest records the codes are learned from; a graph searches without them until then.
pub const MIN_TRAIN: usize = 256;
/// Most records the codes are learned from (the first published slots).
pub const TRAIN_SAMPLE: usize = 4096;

/// Experimental, while neighbour codes are measured (issue 26): a graph of f32 vectors
/// created while the environment variable `OMENDB_NEIGHBOR_CODES` is `1` keeps them. They are
/// not saved; a loaded graph learns them again from its first records.
pub fn wanted() -> bool {
    std::env::var("OMENDB_NEIGHBOR_CODES").is_ok_and(|v| v == "1")
}

/// Bytes per code of `dim` dimensions: the bytes rounded up to a word, then the f32 norm.
fn code_bytes(dim: usize) -> usize {
    dim.div_ceil(4) * 4 + 4
}

/// Bytes a block of `m0` codes of `dim` dimensions needs, a multiple of 64: room for a
/// full-width read of the last code.
pub fn block_bytes(dim: usize, m0: usize) -> usize {
    ((m0 - 1) * code_bytes(dim) + blocks::padded_len(dim).max(code_bytes(dim))).div_ceil(64) * 64
}

/// Highest code: 7 bits, so the AVX2 kernel's pairwise u8 x i8 sums stay inside i16.
const LEVELS: f32 = 127.0;

/// 8-bit scalar codes with a range per dimension, scored against a query asymmetrically: the
/// query stays a vector (its weights rounded to i8), only the neighbours are codes.
///
/// A component x_j is stored as `c_j = round((x_j - lo_j) / step_j)`, clamped to 0..=127, and
/// stands for `lo_j + step_j * c_j`. Then `q . x = A + sum_j (q_j step_j) c_j` with
/// `A = sum_j q_j lo_j`; the weights `q_j step_j` are rounded to i8 with one scale `s`, so a
/// code is scored with one integer dot product. Under L2 each code also keeps `|x|^2` (an f32
/// after its bytes): `|q - x|^2 = |q|^2 - 2 q . x + |x|^2`.
pub struct NeighborCodes {
    dim: usize,
    l2: bool,
    lo: Vec<f32>,
    step: Vec<f32>,
    /// Bytes per code: the bytes rounded up to a word, then the f32 norm.
    stride: usize,
    dots: DotsFn,
}

impl std::fmt::Debug for NeighborCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NeighborCodes").field("dim", &self.dim).field("l2", &self.l2).finish_non_exhaustive()
    }
}

/// A query prepared for scoring codes.
#[derive(Default)]
pub struct CodeQuery {
    /// `q_j step_j / scale`, rounded, padded with zeros to whole 64-byte lanes.
    weights: Vec<i8>,
    scale: f32,
    /// `sum_j q_j lo_j`.
    offset: f32,
    /// `|q|^2` (L2 only).
    norm: f32,
    /// Integer dot products of the last `score`.
    dots: Vec<i32>,
}

impl NeighborCodes {
    /// Codes with the ranges of `sample` (row-major, `dim` wide, at least one row, already
    /// normalised under cosine).
    pub fn train(dim: usize, metric: Metric, sample: &[f32]) -> NeighborCodes {
        let mut lo = vec![f32::INFINITY; dim];
        let mut hi = vec![f32::NEG_INFINITY; dim];
        for row in sample.chunks_exact(dim) {
            for ((l, h), &x) in lo.iter_mut().zip(hi.iter_mut()).zip(row) {
                *l = l.min(x);
                *h = h.max(x);
            }
        }
        let step = lo
            .iter_mut()
            .zip(&hi)
            .map(|(l, &h)| {
                if !(l.is_finite() && h.is_finite() && h > *l) {
                    *l = if l.is_finite() { *l } else { 0.0 };
                    return 1.0;
                }
                (h - *l) / LEVELS
            })
            .collect();
        NeighborCodes { dim, l2: metric == Metric::L2, lo, step, stride: code_bytes(dim), dots: blocks::detect() }
    }

    /// 32-bit words per code.
    #[inline]
    pub fn words(&self) -> usize {
        self.stride / 4
    }


    /// Writes the code of `v` into `out` (`words()` words).
    fn encode(&self, v: &[f32], out: &mut [u32]) {
        let mut bytes = vec![0u8; self.stride - 4];
        let mut norm = 0f64;
        for (j, &x) in v.iter().enumerate() {
            let c = ((x - self.lo[j]) / self.step[j]).round().clamp(0.0, LEVELS);
            bytes[j] = c as u8;
            let decoded = (self.lo[j] + self.step[j] * c) as f64;
            norm += decoded * decoded;
        }
        for (o, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
            *o = u32::from_le_bytes(b.try_into().expect("4 bytes"));
        }
        out[self.stride / 4 - 1] = (norm as f32).to_bits();
    }

    /// Prepares `q` (already normalised under cosine) for [`NeighborCodes::score`].
    pub fn prepare(&self, q: &[f32], out: &mut CodeQuery) {
        let biggest = q.iter().zip(&self.step).map(|(&x, &s)| (x * s).abs()).fold(0f32, f32::max);
        let scale = if biggest > 0.0 && biggest.is_finite() { biggest / 127.0 } else { 1.0 };
        out.weights.clear();
        // Rounded half away from zero by hand: `f32::round` is a libm call on baseline x86-64.
        let round = |v: f32| (v + 0.5f32.copysign(v)).clamp(-127.0, 127.0) as i8;
        out.weights.extend(q.iter().zip(&self.step).map(|(&x, &s)| round(x * s / scale)));
        out.weights.resize(blocks::padded_len(self.dim), 0);
        out.scale = scale;
        out.offset = q.iter().zip(&self.lo).map(|(&x, &l)| x as f64 * l as f64).sum::<f64>() as f32;
        out.norm = if self.l2 { q.iter().map(|&x| x * x).sum() } else { 0.0 };
    }

    /// Approximate distances (squared L2, or 1 - dot) from a prepared query to the codes at
    /// `positions` of `block`, into `out`.
    #[inline]
    pub fn score(&self, block: &[AtomicU32], positions: &[u32], q: &mut CodeQuery, out: &mut Vec<f32>) {
        (self.dots)(block, self.stride, positions, &q.weights, &mut q.dots);
        out.clear();
        if self.l2 {
            let norm_word = self.stride / 4 - 1;
            out.extend(positions.iter().zip(&q.dots).map(|(&p, &d)| {
                let x_norm = f32::from_bits(block[p as usize * (self.stride / 4) + norm_word].load(Ordering::Relaxed));
                q.norm - 2.0 * (q.offset + q.scale * d as f32) + x_norm
            }));
        } else {
            out.extend(q.dots.iter().map(|&d| 1.0 - (q.offset + q.scale * d as f32)));
        }
    }

    /// Rewrites `block` for a list changing from `old` (the links now in the list, up to its
    /// count) to `new`; the caller holds the node's lock, so `old` and the block are stable.
    /// `vector` gives the vector of a linked node.
    pub fn update<'v>(&self, block: &[AtomicU32], old: &[AtomicU32], new: &[u32], vector: impl Fn(u32) -> &'v [f32]) {
        let w = self.words();
        BUFFERS.with(|cell| {
            let mut bufs = cell.borrow_mut();
            let Buffers { snapshot, code, old_links } = &mut *bufs;
            old_links.clear();
            old_links.extend(old.iter().map(|l| l.load(Ordering::Relaxed)));
            let old = &old_links[..];
            let moved = |i: usize, l: u32| old.get(i) != Some(&l) && old.contains(&l);
            if new.iter().enumerate().any(|(i, &l)| moved(i, l)) {
                // A prune permutes the list: read the old codes before any is overwritten.
                snapshot.clear();
                snapshot.extend(block[..old.len() * w].iter().map(|x| x.load(Ordering::Relaxed)));
            }
            for (i, &l) in new.iter().enumerate() {
                if old.get(i) == Some(&l) {
                    continue;
                }
                let src: &[u32] = match old.iter().position(|&o| o == l) {
                    Some(j) => &snapshot[j * w..(j + 1) * w],
                    None => {
                        code.clear();
                        code.resize(w, 0);
                        self.encode(vector(l), code);
                        code
                    }
                };
                for (dst, &x) in block[i * w..(i + 1) * w].iter().zip(src) {
                    dst.store(x, Ordering::Relaxed);
                }
            }
        });
    }

    /// Whether code `i` of `block` is the code of `vector` (for invariant checks).
    pub fn matches(&self, block: &[AtomicU32], i: usize, vector: &[f32]) -> bool {
        let w = self.words();
        let mut want = vec![0u32; w];
        self.encode(vector, &mut want);
        block[i * w..(i + 1) * w].iter().zip(&want).all(|(a, &b)| a.load(Ordering::Relaxed) == b)
    }
}

#[derive(Default)]
struct Buffers {
    old_links: Vec<u32>,
    snapshot: Vec<u32>,
    code: Vec<u32>,
}

thread_local! {
    static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::default());
}
