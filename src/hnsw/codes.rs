//! Neighbour codes: compact codes that a layer-0 beam scores a node's neighbours with, in one
//! of two layouts ([`Layout`]; one per node unless asked otherwise):
//! - **beside the links**: each node's block holds a code of every neighbour, in link order
//!   (code i is the code of the node at link position i). A hop scores a node's whole
//!   neighbour list from one contiguous block instead of one random read of each neighbour's
//!   full vector;
//! - **one per node**: each node's block holds its own code, and a hop scores each unvisited
//!   neighbour's. A block beside the links costs many times the vector; one per node the codes
//!   stay few enough to sit in the caches, which measured faster on every data set tried.
//!
//! The beam keeps approximate distances; at the end the best nodes it reached are re-scored
//! with their f32 vectors, so what a search returns is exact (`Graph::beam_search_codes`).
//!
//! The codes are derived data. Beside the links, a block is rewritten in `Graph::write_links`,
//! the one place every layer-0 list changes; one per node, a node's code is written by its
//! insert before any link to it exists (`Graph::write_own_code`), and for the nodes already
//! there by the pass that fills the codes once learned or loaded. Both under the node's lock,
//! with Relaxed atomic stores. Searches read codes in place without the lock
//! (`distance::blocks`); a code rewritten while it is read gives at worst one wrong
//! approximate distance, the same kind of benign race as reading a list that is being
//! rewritten.
//!
//! Rule for keeping a block beside the links right: a position whose link is unchanged keeps
//! its code; a link that moved keeps the code it had at its old position; any other link is
//! encoded from its vector. Positions at or past the old count are never trusted (a slot freed
//! by repair and reused may show the same id there with a dead vector's code).

use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::distance::blocks::{self, Kernel};
use crate::metric::Metric;

/// Fewest records the codes are learned from; a graph searches without them until then.
pub const MIN_TRAIN: usize = 256;
/// Most records the codes are learned from (the first published slots).
pub const TRAIN_SAMPLE: usize = 4096;

/// Bytes per code of `dim` dimensions at `bits` a dimension: the packed bytes rounded up to a
/// word, then the f32 norm.
fn code_bytes(dim: usize, bits: u8) -> usize {
    (dim * bits as usize).div_ceil(32) * 4 + 4
}

/// Bytes one full-width read of a code takes (see `distance::blocks`).
fn read_bytes(dim: usize, bits: u8) -> usize {
    blocks::padded_len(dim) * bits as usize / 8
}

/// Bytes a block of `m0` codes needs, a multiple of 64: room for a full-width read of the
/// last code.
pub fn block_bytes(dim: usize, m0: usize, bits: u8) -> usize {
    ((m0 - 1) * code_bytes(dim, bits) + read_bytes(dim, bits).max(code_bytes(dim, bits))).div_ceil(64) * 64
}

/// Where the codes lie. Beside the links, a hop reads one block with all its neighbours'
/// codes, at the cost of a code per in-link (4.6-9x the memory of the index without codes);
/// with one code per node, a hop reads each unvisited neighbour's own code, and the codes
/// (one per vector) are few enough to sit in the caches. Measured (BENCHMARKS.md, issue 26),
/// one per node won on all three data sets, glove-50 at 8 bits included, so it is the
/// default; the blocks beside the links remain for comparisons on other machines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// A block per node holding its layer-0 neighbours' codes, in link order.
    BesideLinks,
    /// A block per node holding its own code.
    PerNode,
}

impl Layout {
    /// The layout of a new graph: one code per node, unless `OMENDB_CODES_LAYOUT=links` at
    /// the graph's creation (experimental, for benchmarks).
    pub fn choose() -> Layout {
        match std::env::var("OMENDB_CODES_LAYOUT").as_deref() {
            Ok("links") => Layout::BesideLinks,
            _ => Layout::PerNode,
        }
    }

    /// Bytes of a node's block in this layout: a multiple of 64 beside the links (whole cache
    /// lines, loaded whole), of 16 for a node's own code (less memory; every load the kernels
    /// make stays word-aligned).
    pub fn block_bytes(self, dim: usize, m0: usize, bits: u8) -> usize {
        match self {
            Layout::BesideLinks => block_bytes(dim, m0.max(1), bits),
            Layout::PerNode => read_bytes(dim, bits).max(code_bytes(dim, bits)).div_ceil(16) * 16,
        }
    }
}

/// Largest block a node may have: 1 MiB (m 32 at 8,192 dimensions and 8 bits takes 512 KiB;
/// m 64 would not fit). The arena maps 1,024 slots at a time, so a larger block would make
/// one mapping of over a GiB for a handful of records.
pub const MAX_BLOCK_BYTES: usize = 1 << 20;

/// Checks that nodes of `dim` dimensions and `m0` layer-0 links can have blocks of `bits` a
/// dimension in the layout they would get; the error says why not. (Only blocks beside the
/// links can grow that large.)
pub fn check_block_size(dim: usize, m0: usize, bits: u8) -> Result<(), String> {
    let bytes = Layout::choose().block_bytes(dim, m0, bits);
    if bytes > MAX_BLOCK_BYTES {
        return Err(format!(
            "neighbor_codes: a node's block of {m0} codes of {dim} dimensions at {bits} bits would take {bytes} bytes, \
             above the limit of {MAX_BLOCK_BYTES} (use 4 bits, or a smaller m)"
        ));
    }
    Ok(())
}

/// Share of a dimension's values clipped at each end of its 4-bit range (the numpy study in
/// the issue-26 notes: 0.5 % ranked glove's neighbours best of 0, 0.5 and 2 %).
const CLIP_4BIT: f64 = 0.005;

/// Scalar codes with a range per dimension, 7 bits (one byte; 7 so that the AVX2 kernel's
/// pairwise u8 x i8 sums stay inside i16) or 4 bits (a nibble) a dimension, scored against a
/// query asymmetrically: the query stays a vector (its weights rounded to i8), only the
/// neighbours are codes.
///
/// A component x_j is stored as `c_j = round((x_j - lo_j) / step_j)`, clamped to 0..=levels, and
/// stands for `lo_j + step_j * c_j`. Then `q . x = A + sum_j (q_j step_j) c_j` with
/// `A = sum_j q_j lo_j`; the weights `q_j step_j` are rounded to i8 with one scale `s`, so a
/// code is scored with one integer dot product. Under L2 each code also keeps `|x|^2` (an f32
/// after its bytes): `|q - x|^2 = |q|^2 - 2 q . x + |x|^2`.
pub struct NeighborCodes {
    dim: usize,
    /// Bits per dimension: 8 (7 used) or 4.
    bits: u8,
    /// Highest code: 127 or 15.
    levels: f32,
    l2: bool,
    lo: Vec<f32>,
    step: Vec<f32>,
    /// 1 / step, 0 where the step is 0.
    inv_step: Vec<f32>,
    /// Bytes per code: the bytes rounded up to a word, then the f32 norm.
    stride: usize,
    kernel: Kernel,
    /// Distinct for every codec made in this process (the key of the encode cache in
    /// `update`, which must never serve one codec's code to another).
    serial: u64,
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
    /// Codes of `bits` (8 or 4) a dimension with the ranges of `sample` (row-major, `dim`
    /// wide, at least one row, already normalised under cosine); 4-bit ranges leave out the
    /// extreme 0.5 % at each end.
    pub fn train(dim: usize, metric: Metric, sample: &[f32], bits: u8) -> NeighborCodes {
        let levels = if bits == 4 { 15.0 } else { 127.0 };
        let rows = sample.len() / dim.max(1);
        let clip = if bits == 4 { (rows as f64 * CLIP_4BIT) as usize } else { 0 };
        let mut column = Vec::with_capacity(rows);
        let (mut lo, mut step) = (Vec::with_capacity(dim), Vec::with_capacity(dim));
        for j in 0..dim {
            column.clear();
            column.extend(sample.chunks_exact(dim).map(|r| r[j]).filter(|x| x.is_finite()));
            column.sort_unstable_by(f32::total_cmp);
            let (l, h) = match column.len() {
                0 => (0.0, 0.0),
                n => (column[clip.min(n - 1)], column[(n - 1).saturating_sub(clip)]),
            };
            lo.push(l);
            // A dimension without spread in the sample is stored as its one value (step 0:
            // code 0, weight 0), so a query's value there cannot dwarf every other weight.
            step.push(if h > l { (h - l) / levels } else { 0.0 });
        }
        NeighborCodes::from_ranges(dim, metric, bits, lo, step).expect("ranges of finite values")
    }

    /// Codes of `bits` (8 or 4) a dimension over the ranges `lo[j] + step[j] * c` (as
    /// [`NeighborCodes::ranges`] gives them, e.g. read back from a file); None unless there is
    /// one `lo` and one non-negative `step` per dimension, none of them NaN, `|lo|` at most
    /// `MAX_COMPONENT` and `step * levels` at most twice that.
    pub fn from_ranges(dim: usize, metric: Metric, bits: u8, lo: Vec<f32>, step: Vec<f32>) -> Option<NeighborCodes> {
        let levels = match bits {
            4 => 15.0,
            8 => 127.0,
            _ => return None,
        };
        // Within the bound on stored components (`MAX_COMPONENT`), so that no decoded value,
        // norm or query offset can overflow.
        let bound = crate::options::MAX_COMPONENT;
        let valid = lo.len() == dim
            && step.len() == dim
            && lo.iter().all(|l| l.abs() <= bound)
            && step.iter().all(|s| (0.0..=2.0 * bound / levels).contains(s));
        if !valid {
            return None;
        }
        let kernel = blocks::detect(bits);
        static SERIAL: AtomicU64 = AtomicU64::new(1);
        let serial = SERIAL.fetch_add(1, Ordering::Relaxed);
        let inv_step = step.iter().map(|&s| if s > 0.0 { 1.0 / s } else { 0.0 }).collect();
        Some(NeighborCodes { dim, bits, levels, l2: metric == Metric::L2, lo, step, inv_step, stride: code_bytes(dim, bits), kernel, serial })
    }

    /// Bits per dimension: 8 or 4.
    pub fn bits(&self) -> u8 {
        self.bits
    }

    /// Each dimension's lowest value and step (a dimension's code `c` stands for
    /// `lo + step * c`): all a save needs to make the same codes again.
    pub fn ranges(&self) -> (&[f32], &[f32]) {
        (&self.lo, &self.step)
    }

    /// 32-bit words per code.
    #[inline]
    pub fn words(&self) -> usize {
        self.stride / 4
    }

    /// Writes the code of `v` into `out` (`words()` words).
    fn encode(&self, v: &[f32], out: &mut [u32]) {
        out.fill(0);
        let mut norm = 0f32;
        let per_word = 32 / self.bits as usize;
        for (word, (xs, base)) in out.iter_mut().zip(v.chunks(per_word).zip((0..).step_by(per_word))) {
            for (k, &x) in xs.iter().enumerate() {
                let j = base + k;
                // Clamped first, so truncation rounds half up (`round` and `floor` are libm
                // calls on baseline x86-64: 6 % of a build's time). `inv_step` is 0 for a
                // dimension without spread: code 0.
                let c = ((x - self.lo[j]) * self.inv_step[j] + 0.5).clamp(0.0, self.levels) as u32;
                let decoded = self.lo[j] + self.step[j] * c as f32;
                norm += decoded * decoded;
                *word |= c << (k * self.bits as usize);
            }
        }
        out[self.stride / 4 - 1] = norm.to_bits();
    }

    /// Prepares `q` (already normalised under cosine) for [`NeighborCodes::score`].
    pub fn prepare(&self, q: &[f32], out: &mut CodeQuery) {
        // Each step below is a loop the compiler vectorises (a query's preparation was 6 % of
        // a MiniLM search as scalar code): eight running maxima, then the SIMD dot kernels.
        let mut maxima = [0f32; 8];
        for (xs, ss) in q.chunks(8).zip(self.step.chunks(8)) {
            for ((m, &x), &s) in maxima.iter_mut().zip(xs).zip(ss) {
                *m = m.max((x * s).abs());
            }
        }
        let biggest = maxima.into_iter().fold(0f32, f32::max);
        let scale = if biggest > 0.0 && biggest.is_finite() { biggest / 127.0 } else { 1.0 };
        out.weights.clear();
        out.weights.resize(blocks::padded_len(self.dim), 0);
        // Rounded half away from zero by hand (`f32::round` is a libm call on baseline
        // x86-64), through i32 so that the loop vectorises.
        let round = |v: f32| (v + 0.5f32.copysign(v)).clamp(-127.0, 127.0) as i32 as i8;
        for (w, (&x, &s)) in out.weights.iter_mut().zip(q.iter().zip(&self.step)) {
            *w = round(x * s / scale);
        }
        out.scale = scale;
        // The offset and the norm are the same for every code a query meets: their rounding
        // shifts all its approximate distances alike and changes no ranking.
        let kernels = crate::distance::detect();
        out.offset = (kernels.dot)(q, &self.lo);
        out.norm = if self.l2 { (kernels.dot)(q, q) } else { 0.0 };
    }

    /// Approximate distances (squared L2, or 1 - dot) from a prepared query to the codes at
    /// `positions` of `block` (the layout beside the links), into `out`.
    #[inline]
    pub fn score(&self, block: &[AtomicU32], positions: &[u32], q: &mut CodeQuery, out: &mut Vec<f32>) {
        blocks::dots_in_block(self.kernel, self.bits, block, self.stride, positions, &q.weights, &mut q.dots);
        let w = self.stride / 4;
        self.finish(|k| &block[positions[k] as usize * w..], q, out);
    }

    /// As [`NeighborCodes::score`], for `n` codes that each start its own words, code `k` at
    /// `code(k)` (the layout with each node's own code), into `out`.
    #[inline]
    pub fn score_each<'a>(&self, n: usize, code: impl Fn(usize) -> &'a [AtomicU32], q: &mut CodeQuery, out: &mut Vec<f32>) {
        blocks::dots_each(self.kernel, self.bits, n, &code, &q.weights, &mut q.dots);
        self.finish(code, q, out);
    }

    /// Turns the integer dot products of the last scoring into distances; `code(k)` starts
    /// code `k` (read for its norm under L2).
    #[inline]
    fn finish<'a>(&self, code: impl Fn(usize) -> &'a [AtomicU32], q: &CodeQuery, out: &mut Vec<f32>) {
        out.clear();
        if self.l2 {
            let norm_word = self.stride / 4 - 1;
            out.extend(q.dots.iter().enumerate().map(|(k, &d)| {
                let x_norm = f32::from_bits(code(k)[norm_word].load(Ordering::Relaxed));
                q.norm - 2.0 * (q.offset + q.scale * d as f32) + x_norm
            }));
        } else {
            out.extend(q.dots.iter().map(|&d| 1.0 - (q.offset + q.scale * d as f32)));
        }
    }

    /// Writes the code of `vector` into `words` (a node's own code, in the layout with one
    /// code per node); the caller holds the node's lock.
    pub fn write_own(&self, words: &[AtomicU32], vector: &[f32]) {
        OWN.with(|cell| {
            let mut code = cell.borrow_mut();
            code.clear();
            code.resize(self.words(), 0);
            self.encode(vector, &mut code);
            for (dst, &x) in words.iter().zip(code.iter()) {
                dst.store(x, Ordering::Relaxed);
            }
        });
    }

    /// Rewrites `block` for a list changing from `old` (the links now in the list, up to its
    /// count) to `new`; the caller holds the node's lock, so `old` and the block are stable.
    /// `vector` gives the vector of a linked node.
    pub fn update<'v>(&self, block: &[AtomicU32], old: &[AtomicU32], new: &[u32], vector: impl Fn(u32) -> &'v [f32]) {
        let w = self.words();
        BUFFERS.with(|cell| {
            let mut bufs = cell.borrow_mut();
            let Buffers { snapshot, code, old_links, last } = &mut *bufs;
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
                        // An insert appends the new node to up to m lists in a row: its code
                        // is kept from the last time, keyed by codec, slot and the vector
                        // itself (a reused slot holds another vector).
                        let v = vector(l);
                        if last.0 != (self.serial, l) || last.1 != v {
                            code.clear();
                            code.resize(w, 0);
                            self.encode(v, code);
                            last.0 = (self.serial, l);
                            last.1.clear();
                            last.1.extend_from_slice(v);
                        }
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
    /// The last code encoded, of the vector in `last`.
    code: Vec<u32>,
    /// Whose code `code` is: (codec serial, slot), and that slot's vector then.
    last: ((u64, u32), Vec<f32>),
}

thread_local! {
    static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::default());
    static OWN: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dimension that never varied in the sample gets no weight, so a query far off in it
    /// cannot round every other weight to nothing.
    #[test]
    fn a_dimension_without_spread_takes_no_weight() {
        for bits in [8, 4] {
            let sample: Vec<f32> = (0..400).flat_map(|i| [0.0, (i % 20) as f32 / 20.0, (i % 7) as f32 / 7.0]).collect();
            let codes = NeighborCodes::train(3, Metric::L2, &sample, bits);
            let mut q = CodeQuery::default();
            codes.prepare(&[1000.0, 0.5, 0.5], &mut q);
            assert_eq!(q.weights[0], 0, "{bits} bits");
            assert!(q.weights[1].abs() > 60 && q.weights[2].abs() > 60, "{bits} bits: {:?}", &q.weights[..3]);
        }
    }
}
