//! Search: greedy descent through the upper layers, then a beam of width `ef` on layer 0.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::Ordering;

use super::codes::{Layout, NeighborCodes};
use super::graph::{Graph, Pin};
use super::scratch::{Candidate, Scratch, VisitedSet, SORTED_BEAM_MAX_EF};

/// Up to this many slots (or twice ef), a search scans every record instead of the graph:
/// as fast at that size, and exact.
const BRUTE_FORCE_SLOTS: usize = 256;

/// Cache lines of every unvisited neighbour's vector prefetched before the distance loop.
const PREFETCH_FIRST_LINES: usize = 8;
/// How many neighbours ahead of the distance loop the rest of a long vector is prefetched
/// (measured on MNIST, 784-d: 3 ahead about as good as or better than 1 and 2; loading all
/// lines of every neighbour up front was slower than the first 8 only).
const PREFETCH_AHEAD: usize = 3;
/// Neighbour blocks up to this size are prefetched whole when their node is next to expand.
const BLOCK_PREFETCH_BYTES: usize = 2048;

/// How many spreads of the measured code error a node's approximate distance may be off
/// before the final re-score gives up on it (`Graph::rescore_until_settled`). The error has
/// long tails: at 3 spreads glove-50 8-bit lost 0.007 of recall at ef 128, at 6 about 0.0006,
/// at 8 0.0002-0.0004, while MNIST and MiniLM 4-bit lost none at any of them (BENCHMARKS.md,
/// issue 26).
const RESCORE_SPREADS: f32 = 8.0;

/// Counts of the work layer-0 beams do, for tuning (feature `search-stats`; off in builds
/// that ship): beams run, nodes expanded, distances computed (exact or from codes), and
/// distances computed by the greedy descents through the upper layers (from codes where the
/// codes are one per node).
#[cfg(feature = "search-stats")]
pub mod stats {
    use std::sync::atomic::{AtomicU64, Ordering};

    pub(crate) static BEAMS: AtomicU64 = AtomicU64::new(0);
    pub(crate) static EXPANDED: AtomicU64 = AtomicU64::new(0);
    pub(crate) static SCORED: AtomicU64 = AtomicU64::new(0);
    pub(crate) static UPPER: AtomicU64 = AtomicU64::new(0);
    /// Which variant of a search step under study runs (0: the search as it is; the code
    /// under study gives other values their meaning, see `variant`), so `benches/ann.rs` can
    /// alternate variants on one index in one process: on a shared machine two processes'
    /// timings differ by more than the change being measured.
    pub static VARIANT: AtomicU64 = AtomicU64::new(0);

    /// `[beams, expanded, scored, upper]` since the last call, and resets them.
    pub fn take() -> [u64; 4] {
        [&BEAMS, &EXPANDED, &SCORED, &UPPER].map(|c| c.swap(0, Ordering::Relaxed))
    }

    pub(crate) fn add(expanded: u64, scored: u64) {
        BEAMS.fetch_add(1, Ordering::Relaxed);
        EXPANDED.fetch_add(expanded, Ordering::Relaxed);
        SCORED.fetch_add(scored, Ordering::Relaxed);
    }
}

/// The variant of a step under study that runs: `stats::VARIANT`.
#[cfg(feature = "search-stats")]
#[inline(always)]
#[allow(dead_code)] // read only while a change is under study
pub(crate) fn variant() -> u64 {
    stats::VARIANT.load(Ordering::Relaxed)
}

/// The variant of a step under study that runs: always 0 in builds without `search-stats`.
#[cfg(not(feature = "search-stats"))]
#[inline(always)]
#[allow(dead_code)] // read only while a change is under study
pub(crate) fn variant() -> u64 {
    0
}

/// What one k-nearest search asks of the graph: `k` hits, a beam of width `ef` on layer 0,
/// and `pool`, how many of the nodes the beam evaluated to return (0: none beyond the beam's;
/// a quantized index re-ranks that many). Invariant: `ef >= k`, set by [`KnnRequest::new`],
/// the one place a beam is widened to k.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnnRequest {
    k: usize,
    ef: usize,
    pool: usize,
}

impl KnnRequest {
    /// `k` hits with a beam of width `ef`, raised to `k` when smaller; no pool.
    pub fn new(k: usize, ef: usize) -> KnnRequest {
        KnnRequest { k, ef: ef.max(k), pool: 0 }
    }

    /// The same request, returning the `pool` nearest of every node the beam evaluates.
    pub fn with_pool(self, pool: usize) -> KnnRequest {
        KnnRequest { pool, ..self }
    }

    /// Hits asked for.
    pub fn k(&self) -> usize {
        self.k
    }

    /// The beam width (at least k).
    pub fn ef(&self) -> usize {
        self.ef
    }

    /// Candidates returned from all the beam evaluated (0: none beyond the beam's).
    pub fn pool(&self) -> usize {
        self.pool
    }

    /// Candidates the search leaves in `Scratch::found` at most: the beam's or the pool.
    pub fn depth(&self) -> usize {
        self.ef.max(self.pool)
    }
}

/// One beam search on one layer: the layer, the beam width `ef`, and for a pooled search
/// (`Graph::beam_search` with `POOL`) how many of the evaluated nodes it returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Beam {
    /// The layer searched.
    pub level: usize,
    /// The beam width.
    pub ef: usize,
    /// Nodes a pooled search returns.
    pub pool: usize,
    /// The search's `accept` turns away next to nothing (no filter; an insert's own node), so
    /// on layer 0, while nothing is deleted, the beam may be one sorted array that applies
    /// `accept` to its final entries only (`Graph::beam_search_sorted`).
    pub accepts_nearly_all: bool,
}

impl Beam {
    /// A beam of width `ef` on `level` that returns its own best (up to `ef`).
    pub(crate) fn new(level: usize, ef: usize) -> Beam {
        Beam { level, ef, pool: 0, accepts_nearly_all: false }
    }

    /// This beam, for an `accept` that turns away next to nothing.
    pub(crate) fn accepting_nearly_all(self) -> Beam {
        Beam { accepts_nearly_all: true, ..self }
    }
}

/// Starts a beam from `entries`: each unvisited one is marked and becomes a candidate; those
/// `accept` takes become results too (and are handed to `also`), at most `ef` of them. Returns
/// the beam's bound, the farthest result's distance (infinite while the beam has room).
fn seed_beam(
    scratch: (&mut VisitedSet, &mut BinaryHeap<Reverse<Candidate>>, &mut BinaryHeap<Candidate>),
    capacity: usize,
    entries: &[Candidate],
    ef: usize,
    accept: impl Fn(u32) -> bool,
    mut also: impl FnMut(Candidate),
) -> f32 {
    let (visited, candidates, results) = scratch;
    visited.reset(capacity);
    candidates.clear();
    results.clear();
    for &e in entries {
        if visited.insert(e.id) {
            candidates.push(Reverse(e));
            if accept(e.id) {
                results.push(e);
                also(e);
            }
        }
    }
    while results.len() > ef {
        results.pop();
    }
    results.peek().map_or(f32::INFINITY, |c| c.dist)
}

/// Puts `cand` among the `ef` results, in place of the farthest when full (one sift instead
/// of a push and a pop); returns the new bound.
#[inline]
fn keep_in_beam(results: &mut BinaryHeap<Candidate>, ef: usize, cand: Candidate) -> f32 {
    if results.len() < ef {
        results.push(cand);
    } else if let Some(mut worst) = results.peek_mut() {
        *worst = cand;
    }
    results.peek().map_or(f32::INFINITY, |c| c.dist)
}

impl Graph {
    /// Exact k nearest by a scan of slots `0..slots`.
    fn exact_knn(&self, query: &[f32], k: usize, slots: usize, scratch: &mut Scratch, filter: Option<&dyn Fn(u32) -> bool>) {
        match filter {
            None => self.exact_knn_slots(query, k, 0..slots as u32, scratch),
            Some(f) => self.exact_knn_slots(query, k, (0..slots as u32).filter(|&id| f(id)), scratch),
        }
    }

    /// Exact k nearest live records among `slots` (each an allocated slot id), nearest first,
    /// left in `scratch.found`.
    pub(crate) fn exact_knn_slots(&self, query: &[f32], k: usize, slots: impl Iterator<Item = u32>, scratch: &mut Scratch) {
        let results = &mut scratch.results;
        results.clear();
        let high = self.capacity_hint.load(Ordering::Acquire);
        for id in slots {
            // Live implies the vector is written (state is stored with Release after it).
            if id >= high || !self.is_live(id) {
                continue;
            }
            let dist = self.space.distance(query, self.store.vector(id));
            if results.len() < k {
                results.push(Candidate { dist, id });
            } else if let Some(mut worst) = results.peek_mut().filter(|w| dist < w.dist) {
                *worst = Candidate { dist, id };
            }
        }
        scratch.found.clear();
        scratch.found.extend(results.drain());
        scratch.found.sort_unstable();
    }

    /// Starts loading the vectors of `ids`, whose distances come next: the first lines of
    /// every one now; the rest of a long vector (past the first 8 lines, e.g. 784-d = 49
    /// lines) a few ids ahead of the distance loop (`prefetch_ahead`), so those loads overlap
    /// the distances before them.
    #[inline]
    fn prefetch_vectors(&self, ids: &[u32]) {
        for &n in ids {
            self.store.prefetch_lines(n, 0, PREFETCH_FIRST_LINES);
        }
        for &n in ids.iter().take(PREFETCH_AHEAD) {
            self.store.prefetch_lines(n, PREFETCH_FIRST_LINES, usize::MAX);
        }
    }

    /// Before the distance to `ids[i]`: the rest of the vector `PREFETCH_AHEAD` ids on.
    #[inline]
    fn prefetch_ahead(&self, ids: &[u32], i: usize) {
        if let Some(&ahead) = ids.get(i + PREFETCH_AHEAD) {
            self.store.prefetch_lines(ahead, PREFETCH_FIRST_LINES, usize::MAX);
        }
    }

    /// Moves greedily toward `query` on `level`, starting at `cur`, until no neighbour is closer.
    pub(crate) fn greedy_step(&self, query: &[f32], mut cur: Candidate, level: usize, buf: &mut Vec<u32>) -> Candidate {
        loop {
            let mut moved = false;
            self.copy_links(cur.id, level, buf);
            #[cfg(feature = "search-stats")]
            stats::UPPER.fetch_add(buf.len() as u64, Ordering::Relaxed);
            // As in the beam (MNIST: the upper layers took a quarter of a search waiting on
            // one vector after another).
            self.prefetch_vectors(buf);
            for (i, &n) in buf.iter().enumerate() {
                self.prefetch_ahead(buf, i);
                let d = self.space.distance(query, self.store.vector(n));
                if d < cur.dist {
                    cur = Candidate { dist: d, id: n };
                    moved = true;
                }
            }
            if !moved {
                return cur;
            }
        }
    }

    /// Greedy descent from the node `entry` through layers `top` down to `above + 1`: the
    /// nearest node to `query` it finds, the start of the search on layer `above`.
    pub(crate) fn descend(&self, query: &[f32], entry: u32, top: usize, above: usize, buf: &mut Vec<u32>) -> Candidate {
        let mut cur = Candidate { dist: self.space.distance(query, self.store.vector(entry)), id: entry };
        for level in (above + 1..=top).rev() {
            cur = self.greedy_step(query, cur, level, buf);
        }
        cur
    }

    /// As [`Graph::descend`] to layer 0, steered by the nodes' own codes (one code per node,
    /// `code_query` prepared): the start of a layer-0 beam on codes, whose distances are
    /// approximate anyway. Each upper-layer hop then reads a few bytes a neighbour instead of
    /// its vector (npl-ir, 384-d: some 54 exact distances a search before).
    fn descend_on_codes(&self, codes: &NeighborCodes, entry: u32, top: usize, scratch: &mut Scratch) -> Candidate {
        let Scratch { neighbors, code_query, code_dists, .. } = scratch;
        codes.score_each(1, |_| self.store.block(entry), code_query, code_dists);
        let mut cur = Candidate { dist: code_dists[0], id: entry };
        let prefetch_bytes = (codes.words() * 4).min(PREFETCH_FIRST_LINES * 64);
        for level in (1..=top).rev() {
            loop {
                self.copy_links(cur.id, level, neighbors);
                #[cfg(feature = "search-stats")]
                stats::UPPER.fetch_add(neighbors.len() as u64, Ordering::Relaxed);
                for &n in neighbors.iter() {
                    self.store.prefetch_block(n, 0, prefetch_bytes);
                }
                codes.score_each(neighbors.len(), |k| self.store.block(neighbors[k]), code_query, code_dists);
                let best = neighbors.iter().zip(code_dists.iter()).map(|(&id, &dist)| Candidate { dist, id }).min();
                match best {
                    Some(b) if b.dist < cur.dist => cur = b,
                    _ => break,
                }
            }
        }
        cur
    }

    /// Beam search on one layer from `entries`. Every node reached is a stepping stone; only
    /// nodes for which `accept` holds enter the results. On return `scratch.found` holds up to
    /// `beam.ef` accepted nodes, nearest first.
    pub(crate) fn search_layer<F: Fn(u32) -> bool>(
        &self,
        pin: &Pin<'_>,
        query: &[f32],
        entries: &[Candidate],
        beam: Beam,
        scratch: &mut Scratch,
        accept: F,
    ) {
        if let (0, Some(codes), true) = (beam.level, self.neighbor_codes(), self.code_build) {
            // Inserts and repair steer their beam by the neighbour codes too; what they get
            // back is exact (see `beam_search_codes`).
            codes.prepare(query, &mut scratch.code_query);
            let request = KnnRequest::new(beam.ef, beam.ef);
            if beam.accepts_nearly_all && self.sorted_beam_fits(beam.ef) && !self.has_deleted() {
                return self.beam_search_codes_sorted(codes, query, entries, request, scratch, accept);
            }
            return self.beam_search_codes(codes, query, entries, request, scratch, accept);
        }
        if beam.accepts_nearly_all && beam.level == 0 && beam.ef <= SORTED_BEAM_MAX_EF && !self.has_deleted() {
            return self.beam_search_sorted(query, entries, beam.ef, scratch, accept);
        }
        self.beam_search::<F, false>(pin, query, entries, beam, scratch, accept);
    }

    /// The layer-0 beam of `beam_search` (without a pool) in one sorted array of `ef` entries
    /// (`SortedBeam`) instead of two heaps, as `beam_search_codes_sorted` does on codes:
    /// every node steers the beam and counts among its `ef`, and `accept` is applied to the
    /// final beam only, so it suits a filter that turns away next to nothing.
    fn beam_search_sorted(&self, query: &[f32], entries: &[Candidate], ef: usize, scratch: &mut Scratch, accept: impl Fn(u32) -> bool) {
        self.walk_sorted_beam(entries, ef, scratch, |ids, dists| {
            self.prefetch_vectors(ids);
            dists.clear();
            for (i, &n) in ids.iter().enumerate() {
                self.prefetch_ahead(ids, i);
                dists.push(self.space.distance(query, self.store.vector(n)));
            }
        });
        let Scratch { found, beam, .. } = scratch;
        found.clear();
        beam.drain_into(found);
        found.retain(|c| accept(c.id));
    }

    /// The layer-0 walk both sorted beams share: `scratch.beam` is seeded with the unvisited
    /// `entries`, then the nearest unexpanded node is expanded until none is left, its
    /// unvisited neighbours scored by `score` (ids in, their distances out, in order) and kept
    /// while among the `ef` best.
    fn walk_sorted_beam(&self, entries: &[Candidate], ef: usize, scratch: &mut Scratch, mut score: impl FnMut(&[u32], &mut Vec<f32>)) {
        let Scratch { visited, neighbors, beam, code_dists: dists, .. } = scratch;
        let capacity = self.capacity_hint.load(Ordering::Acquire) as usize;
        visited.reset(capacity);
        beam.reset(ef);
        for &e in entries {
            if visited.insert(e.id) && e.dist < beam.bound() {
                beam.insert(e);
            }
        }
        #[cfg(feature = "search-stats")]
        let (mut expanded_count, mut scored_count) = (0u64, 0u64);
        while let Some(c) = beam.expand_next() {
            if let Some(next) = beam.peek_after() {
                self.store.prefetch_links(next);
            }
            self.copy_links(c.id, 0, neighbors);
            neighbors.retain(|&n| visited.insert(n));
            #[cfg(feature = "search-stats")]
            {
                expanded_count += 1;
                scored_count += neighbors.len() as u64;
            }
            score(neighbors, dists);
            for (&n, &d) in neighbors.iter().zip(dists.iter()) {
                if d < beam.bound() {
                    beam.insert(Candidate { dist: d, id: n });
                }
            }
        }
        #[cfg(feature = "search-stats")]
        stats::add(expanded_count, scored_count);
    }

    /// The beam search of [`Graph::search_layer`]. With `POOL`, `scratch.found` gets up to
    /// `beam.pool` accepted nodes instead of `beam.ef`: the nearest of every node the beam
    /// computed a distance to, not only of those it kept. A quantized index re-ranks that many
    /// candidates, and a beam of width ef already evaluates far more than ef nodes, so the
    /// pool costs no wider beam.
    fn beam_search<F: Fn(u32) -> bool, const POOL: bool>(
        &self,
        _pin: &Pin<'_>,
        query: &[f32],
        entries: &[Candidate],
        beam: Beam,
        scratch: &mut Scratch,
        accept: F,
    ) {
        let Beam { level, ef, pool, .. } = beam;
        let Scratch { visited, candidates, results, neighbors, found, pool: evaluated, .. } = scratch;
        if POOL {
            evaluated.clear();
        }
        let capacity = self.capacity_hint.load(Ordering::Acquire) as usize;
        let mut bound = seed_beam((visited, candidates, results), capacity, entries, ef, &accept, |e| {
            if POOL {
                evaluated.push(e);
            }
        });
        #[cfg(feature = "search-stats")]
        let (mut expanded_count, mut scored_count) = (0u64, 0u64);
        while let Some(Reverse(c)) = candidates.pop() {
            if c.dist > bound && results.len() >= ef {
                break;
            }
            if level == 0 {
                if let Some(Reverse(next)) = candidates.peek() {
                    // Likely the next node to expand: start loading its list now.
                    self.store.prefetch_links(next.id);
                }
            }
            self.copy_links(c.id, level, neighbors);
            neighbors.retain(|&n| visited.insert(n));
            #[cfg(feature = "search-stats")]
            if level == 0 {
                expanded_count += 1;
                scored_count += neighbors.len() as u64;
            }
            self.prefetch_vectors(neighbors);
            for (i, &n) in neighbors.iter().enumerate() {
                self.prefetch_ahead(neighbors, i);
                let d = self.space.distance(query, self.store.vector(n));
                if POOL && accept(n) {
                    evaluated.push(Candidate { dist: d, id: n });
                }
                if results.len() < ef || d < bound {
                    let cand = Candidate { dist: d, id: n };
                    candidates.push(Reverse(cand));
                    if accept(n) {
                        bound = keep_in_beam(results, ef, cand);
                    }
                }
            }
        }
        #[cfg(feature = "search-stats")]
        if level == 0 {
            stats::add(expanded_count, scored_count);
        }
        found.clear();
        if POOL && evaluated.len() > results.len() {
            results.clear();
            if evaluated.len() > pool {
                evaluated.select_nth_unstable(pool);
                evaluated.truncate(pool);
            }
            found.append(evaluated);
        } else {
            found.extend(results.drain());
        }
        found.sort_unstable();
    }

    /// The beam search of `beam_search` on layer 0 of a graph with neighbour codes (see
    /// `hnsw::codes`): the beam is steered by approximate distances scored from the expanded
    /// node's block. At the end the best `ef` (times `code_rerank`) nodes it reached, by
    /// approximate distance, are re-scored with their f32 vectors and left in `scratch.found`,
    /// nearest first: at default depth the final beam, less (past `2k` of them) those whose
    /// approximate distance rules them out of the `k` nearest (`rescore_until_settled`). The
    /// caller has prepared the query in `scratch.code_query`.
    fn beam_search_codes<F: Fn(u32) -> bool>(
        &self,
        codes: &NeighborCodes,
        query: &[f32],
        entries: &[Candidate],
        request: KnnRequest,
        scratch: &mut Scratch,
        accept: F,
    ) {
        let (k, ef) = (request.k(), request.ef());
        // Beside the links, code i of a block belongs to link position i: `copy_links` must
        // drop no link, which it does only for a store over a file mapping (whose codes are
        // one per node).
        debug_assert!(self.code_layout == Layout::PerNode || self.store.link_limit() == u32::MAX);
        let Scratch { visited, candidates, results, neighbors, found, pool: reached, code_query, code_dists, positions, .. } = scratch;
        let code_bytes = codes.words() * 4;
        let per_node = self.code_layout == Layout::PerNode;
        // A block of small codes is loaded whole while the node waits to be expanded.
        let whole_block = self.params.m0 * code_bytes;
        let block_prefetch = if !per_node && whole_block <= BLOCK_PREFETCH_BYTES { whole_block } else { 0 };
        let score_first = block_prefetch > 0;
        reached.clear();
        let capacity = self.capacity_hint.load(Ordering::Acquire) as usize;
        let mut bound = seed_beam((visited, candidates, results), capacity, entries, ef, &accept, |e| reached.push(e));
        #[cfg(feature = "search-stats")]
        let (mut expanded_count, mut scored_count) = (0u64, 0u64);
        while let Some(Reverse(c)) = candidates.pop() {
            if c.dist > bound && results.len() >= ef {
                break;
            }
            if let Some(Reverse(next)) = candidates.peek() {
                // Likely the next node to expand: its list, vector and block.
                self.store.prefetch_links(next.id);
                if block_prefetch > 0 {
                    self.store.prefetch_block(next.id, 0, block_prefetch);
                }
            }
            self.copy_links(c.id, 0, neighbors);
            positions.clear();
            if per_node {
                // Each unvisited neighbour's own code: requested together, then scored.
                neighbors.retain(|&n| visited.insert(n));
                positions.extend(0..neighbors.len() as u32);
                for &n in neighbors.iter() {
                    self.store.prefetch_block(n, 0, code_bytes.min(PREFETCH_FIRST_LINES * 64));
                }
            } else if score_first {
                // Every neighbour is scored (the whole block is in cache) and only those that
                // would enter the beam are checked against the visited marks. A node turned
                // away is turned away from every block (its code is the same in each, and
                // the bound only falls), so it need not be marked.
                positions.extend(0..neighbors.len() as u32);
            } else {
                positions.extend((0..neighbors.len() as u32).filter(|&i| visited.insert(neighbors[i as usize])));
                for &i in positions.iter() {
                    let at = i as usize * code_bytes;
                    self.store.prefetch_block(c.id, at, at + code_bytes.min(PREFETCH_FIRST_LINES * 64));
                }
            }
            #[cfg(feature = "search-stats")]
            {
                expanded_count += 1;
                scored_count += positions.len() as u64;
            }
            if per_node {
                codes.score_each(neighbors.len(), |k| self.store.block(neighbors[k]), code_query, code_dists);
            } else {
                codes.score(self.store.block(c.id), positions, code_query, code_dists);
            }
            for (&i, &d) in positions.iter().zip(code_dists.iter()) {
                let n = neighbors[i as usize];
                if (results.len() < ef || d < bound) && (!score_first || visited.insert(n)) {
                    let cand = Candidate { dist: d, id: n };
                    candidates.push(Reverse(cand));
                    if accept(n) {
                        reached.push(cand);
                        bound = keep_in_beam(results, ef, cand);
                    }
                }
            }
        }
        #[cfg(feature = "search-stats")]
        stats::add(expanded_count, scored_count);
        // The best nodes reached by approximate distance (at the default depth, the final
        // beam), re-scored exactly: their vectors are all requested first, so the loads overlap.
        let keep = ((ef as f32 * self.code_rerank) as usize).max(ef);
        if reached.len() > keep {
            reached.select_nth_unstable(keep);
            reached.truncate(keep);
        }
        self.rescore_reached(query, k, reached, results);
        found.clear();
        found.append(reached);
        found.sort_unstable();
    }

    /// The final exact re-score of a search on codes: every node of `reached` up to `2k` of
    /// them, past that `rescore_until_settled`'s share. `best` is scratch.
    fn rescore_reached(&self, query: &[f32], k: usize, reached: &mut Vec<Candidate>, best: &mut BinaryHeap<Candidate>) {
        let probe = 2 * k;
        if k > 0 && reached.len() > probe {
            self.rescore_until_settled(query, k, probe, reached, best);
        } else {
            for c in reached.iter() {
                self.store.prefetch_lines(c.id, 0, usize::MAX);
            }
            for c in reached.iter_mut() {
                c.dist = self.space.distance(query, self.store.vector(c.id));
            }
        }
    }

    /// Whether `beam_search_codes_sorted` can stand in for `beam_search_codes` with a beam of
    /// width `ef`: codes one per node, a re-score of the final beam only, and a beam narrow
    /// enough for one array (`SORTED_BEAM_MAX_EF`).
    fn sorted_beam_fits(&self, ef: usize) -> bool {
        self.code_layout == Layout::PerNode && self.code_rerank == 1.0 && ef <= SORTED_BEAM_MAX_EF
    }

    /// `beam_search_codes` for codes one per node with the beam in one sorted array
    /// (`SortedBeam`) instead of two heaps: a neighbour enters only if it is among the `ef`
    /// best so far, and at the end the array is the final beam, which is what gets re-scored.
    /// Every node steers the beam and counts among its `ef`; `accept` is applied to the final
    /// beam only, so it suits a filter that turns away next to nothing (measured +4-14 % QPS
    /// over the heaps, BENCHMARKS.md, issue 26).
    fn beam_search_codes_sorted(
        &self,
        codes: &NeighborCodes,
        query: &[f32],
        entries: &[Candidate],
        request: KnnRequest,
        scratch: &mut Scratch,
        accept: impl Fn(u32) -> bool,
    ) {
        let (k, ef) = (request.k(), request.ef());
        let prefetch_bytes = (codes.words() * 4).min(PREFETCH_FIRST_LINES * 64);
        // Moved out for the scoring closure, which `walk_sorted_beam` calls with the scratch
        // lent to it.
        let mut code_query = std::mem::take(&mut scratch.code_query);
        self.walk_sorted_beam(entries, ef, scratch, |ids, dists| {
            // Each unvisited neighbour's own code: requested together, then scored.
            for &n in ids {
                self.store.prefetch_block(n, 0, prefetch_bytes);
            }
            codes.score_each(ids.len(), |i| self.store.block(ids[i]), &mut code_query, dists);
        });
        scratch.code_query = code_query;
        let Scratch { pool: reached, beam, .. } = scratch;
        reached.clear();
        beam.drain_into(reached);
        reached.retain(|c| accept(c.id));
        self.rescore_reached(query, k, reached, &mut scratch.results);
        let Scratch { found, pool: reached, .. } = scratch;
        found.clear();
        found.append(reached);
        found.sort_unstable();
    }

    /// Re-scores `reached` exactly in order of approximate distance, and stops (dropping the
    /// rest) once the next node's approximate distance, corrected by the error seen so far,
    /// could not bring it into the `k` nearest. The error is measured on this query: the first
    /// `probe` nodes give the mean and spread (standard deviation) of (exact - approximate),
    /// and a node still counts while `approximate + mean - RESCORE_SPREADS * spread` is at
    /// most the k-th exact distance found so far. Where the codes rank well (MNIST, MiniLM at
    /// 4 bits) most of a wide beam is never re-scored; where near-ties abound (glove-50) the
    /// spread is wide and nearly all of it is.
    fn rescore_until_settled(
        &self,
        query: &[f32],
        k: usize,
        probe: usize,
        reached: &mut Vec<Candidate>,
        best: &mut BinaryHeap<Candidate>,
    ) {
        reached.sort_unstable();
        for c in &reached[..probe] {
            self.store.prefetch_lines(c.id, 0, usize::MAX);
        }
        best.clear();
        let (mut sum, mut sum_sq) = (0f32, 0f32);
        let mut kth = f32::INFINITY;
        for c in reached[..probe].iter_mut() {
            let exact = self.space.distance(query, self.store.vector(c.id));
            let error = exact - c.dist;
            sum += error;
            sum_sq += error * error;
            c.dist = exact;
            if best.len() < k || exact < kth {
                kth = keep_in_beam(best, k, *c);
            }
        }
        let mean = sum / probe as f32;
        let spread = (sum_sq / probe as f32 - mean * mean).max(0.0).sqrt();
        let slack = mean - RESCORE_SPREADS * spread;
        let mut n = probe;
        while n < reached.len() && reached[n].dist + slack <= kth {
            if let Some(ahead) = reached.get(n + 2) {
                self.store.prefetch_lines(ahead.id, 0, usize::MAX);
            }
            let c = &mut reached[n];
            c.dist = self.space.distance(query, self.store.vector(c.id));
            if c.dist < kth {
                kth = keep_in_beam(best, k, *c);
            }
            n += 1;
        }
        reached.truncate(n);
    }

    /// The nearest live nodes to `query` for which `filter` holds, nearest first, left in
    /// `scratch.found`: at least the `request.k()` nearest (when that many exist) and up to
    /// `request.depth()`, so a caller that must drop some (removed meanwhile) still has k to
    /// give; with a pool, the nearest of all the beam evaluated (see `Graph::beam_search`),
    /// the candidates a quantized index re-ranks. `query` is already prepared (normalised
    /// under cosine).
    pub fn knn(
        &self,
        pin: &Pin<'_>,
        query: &[f32],
        request: KnnRequest,
        scratch: &mut Scratch,
        filter: Option<&dyn Fn(u32) -> bool>,
    ) {
        scratch.found.clear();
        let Some((entry, top)) = self.entry() else { return };
        let slots = self.capacity_hint.load(Ordering::Acquire) as usize;
        if slots <= BRUTE_FORCE_SLOTS.max(2 * request.depth()) {
            self.exact_knn(query, request.depth(), slots, scratch, filter);
            return;
        }
        let mut entries = std::mem::take(&mut scratch.entries);
        entries.clear();
        let beam = Beam { level: 0, ef: request.ef(), pool: request.pool(), accepts_nearly_all: false };
        if let (Some(codes), 0) = (self.neighbor_codes(), request.pool()) {
            codes.prepare(query, &mut scratch.code_query);
            if self.code_layout == Layout::PerNode {
                entries.push(self.descend_on_codes(codes, entry, top as usize, scratch));
            } else {
                let mut buf = std::mem::take(&mut scratch.neighbors);
                entries.push(self.descend(query, entry, top as usize, 0, &mut buf));
                scratch.neighbors = buf;
            }
            match (filter, self.has_deleted()) {
                (None, false) if self.sorted_beam_fits(request.ef()) => {
                    self.beam_search_codes_sorted(codes, query, &entries, request, scratch, |_| true)
                }
                (None, false) => self.beam_search_codes(codes, query, &entries, request, scratch, |_| true),
                (None, true) => self.beam_search_codes(codes, query, &entries, request, scratch, |id| self.is_live(id)),
                (Some(f), _) => self.beam_search_codes(codes, query, &entries, request, scratch, |id| self.is_live(id) && f(id)),
            }
            scratch.entries = entries;
            return;
        }
        let mut buf = std::mem::take(&mut scratch.neighbors);
        entries.push(self.descend(query, entry, top as usize, 0, &mut buf));
        scratch.neighbors = buf;
        // Checking liveness costs a look-up per result candidate: skip it while nothing is deleted.
        match (filter, self.has_deleted(), request.pool() > request.ef()) {
            (None, false, false) => self.search_layer(pin, query, &entries, beam.accepting_nearly_all(), scratch, |_| true),
            (None, true, false) => self.search_layer(pin, query, &entries, beam, scratch, |id| self.is_live(id)),
            (Some(f), _, false) => self.search_layer(pin, query, &entries, beam, scratch, |id| self.is_live(id) && f(id)),
            (None, false, true) => self.beam_search::<_, true>(pin, query, &entries, beam, scratch, |_| true),
            (None, true, true) => self.beam_search::<_, true>(pin, query, &entries, beam, scratch, |id| self.is_live(id)),
            (Some(f), _, true) => {
                self.beam_search::<_, true>(pin, query, &entries, beam, scratch, |id| self.is_live(id) && f(id))
            }
        }
        scratch.entries = entries;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use crate::hnsw::insert::{level_for, uniform};
    use crate::hnsw::scratch::with_scratch;
    use crate::hnsw::{Graph, KnnRequest, Params};
    use crate::metric::Metric;
    use crate::space::Space;
    use crate::hnsw::arena::STATE_LIVE;
    use crate::hnsw::codes::Layout;

    fn point(i: u32) -> [f32; 4] {
        let h = |k: u64| uniform(7, i as u64 * 4 + k) as f32;
        [h(0), h(1), h(2), h(3)]
    }

    /// A graph of `n` points built one insert at a time.
    fn build(n: u32, params: Params) -> Graph {
        let g = Graph::new(4, params, Space::new(Metric::L2));
        for i in 0..n {
            let level = level_for(uniform(3, i as u64), g.params.ml);
            let slot = g.store.take_fresh(&[level]).pop().unwrap();
            g.store.write_vector(&slot, &point(i));
            g.store.set_state(slot.id(), STATE_LIVE);
            g.capacity_hint.fetch_max(g.store.high_water(), Ordering::AcqRel);
            let pin = g.pin();
            with_scratch(|s| g.insert(&pin, slot.id(), s));
        }
        g
    }

    /// A graph with neighbour codes keeps every block in step with its links, and its search
    /// finds what an exact scan finds on easy data.
    #[test]
    fn neighbor_codes_stay_in_step_and_search_well() {
        for bits in [8, 4] {
            for layout in [Layout::BesideLinks, Layout::PerNode] {
                neighbor_codes_of(bits, layout);
            }
        }
    }

    fn neighbor_codes_of(bits: u8, layout: Layout) {
        let g = Graph::with_code_layout(4, Params::new(8, 64), Space::new(Metric::L2), Some((bits, layout)));
        for i in 0..3000u32 {
            let level = level_for(uniform(3, i as u64), g.params.ml);
            let slot = g.store.take_fresh(&[level]).pop().unwrap();
            g.store.write_vector(&slot, &point(i));
            g.store.set_state(slot.id(), STATE_LIVE);
            g.capacity_hint.fetch_max(g.store.high_water(), Ordering::AcqRel);
            // Learned at the 256th record, from the lists written before and kept from then.
            g.learn_neighbor_codes();
            assert_eq!(g.neighbor_codes().is_some(), i >= 255, "{i}");
            let pin = g.pin();
            with_scratch(|s| g.insert(&pin, slot.id(), s));
        }
        g.check_invariants().unwrap_or_else(|e| panic!("{bits} bits, {layout:?}: {e}"));
        let pin = g.pin();
        let mut hits = 0;
        for i in (0..3000).step_by(11) {
            let q = point(i);
            let (got, want) = with_scratch(|s| {
                g.knn(&pin, &q, KnnRequest::new(10, 32), s, None);
                // Every distance returned is exact, whether or not the re-score stopped early.
                assert!(s.found.len() >= 10);
                for c in &s.found {
                    assert_eq!(c.dist, g.space.distance(&q, g.store.vector(c.id)));
                }
                let got: Vec<u32> = s.found.iter().take(10).map(|c| c.id).collect();
                g.exact_knn_slots(&q, 10, 0..3000, s);
                let want: Vec<u32> = s.found.iter().map(|c| c.id).collect();
                (got, want)
            });
            assert_eq!(got[0], i);
            hits += got.iter().filter(|id| want.contains(id)).count();
        }
        let recall = hits as f64 / (273.0 * 10.0);
        assert!(recall > 0.95, "{bits} bits, {layout:?}: recall@10 {recall}");
    }

    /// Every point finds itself first on easy data.
    #[test]
    fn self_queries_are_exact() {
        let g = build(2000, Params::new(8, 64));
        let pin = g.pin();
        for i in (0..2000).step_by(7) {
            let top = with_scratch(|s| {
                g.knn(&pin, &point(i), KnnRequest::new(1, 32), s, None);
                s.found.first().map(|c| c.id)
            });
            assert_eq!(top, Some(i));
        }
    }
}
