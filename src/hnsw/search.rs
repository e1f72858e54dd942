//! Search: greedy descent through the upper layers, then a beam of width `ef` on layer 0.

use std::cmp::Reverse;
use std::sync::atomic::Ordering;

use super::graph::{Graph, Pin};
use super::scratch::{Candidate, Scratch};

/// Up to this many slots (or twice ef), a search scans every record instead of the graph:
/// as fast at that size, and exact.
const BRUTE_FORCE_SLOTS: usize = 256;

/// Cache lines of every unvisited neighbour's vector prefetched before the distance loop.
const PREFETCH_FIRST_LINES: usize = 8;
/// How many neighbours ahead of the distance loop the rest of a long vector is prefetched
/// (measured on MNIST, 784-d: 3 ahead about as good as or better than 1 and 2; loading all
/// lines of every neighbour up front was slower than the first 8 only).
const PREFETCH_AHEAD: usize = 3;

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
}

impl Beam {
    /// A beam of width `ef` on `level` that returns its own best (up to `ef`).
    pub(crate) fn new(level: usize, ef: usize) -> Beam {
        Beam { level, ef, pool: 0 }
    }
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

    /// Moves greedily toward `query` on `level`, starting at `cur`, until no neighbour is closer.
    pub(crate) fn greedy_step(&self, query: &[f32], mut cur: Candidate, level: usize, buf: &mut Vec<u32>) -> Candidate {
        loop {
            let mut moved = false;
            self.copy_links(cur.id, level, buf);
            for &n in buf.iter() {
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
        self.beam_search::<F, false>(pin, query, entries, beam, scratch, accept);
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
        let Beam { level, ef, pool } = beam;
        let Scratch { visited, candidates, results, neighbors, found, pool: evaluated, .. } = scratch;
        if POOL {
            evaluated.clear();
        }
        visited.reset(self.capacity_hint.load(Ordering::Acquire) as usize);
        candidates.clear();
        results.clear();
        for &e in entries {
            if visited.insert(e.id) {
                candidates.push(Reverse(e));
                if accept(e.id) {
                    results.push(e);
                    if POOL {
                        evaluated.push(e);
                    }
                }
            }
        }
        while results.len() > ef {
            results.pop();
        }
        let mut bound = results.peek().map_or(f32::INFINITY, |c| c.dist);
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
            // The first lines of every neighbour's vector now; the rest of a long vector (past
            // the first 8 lines, e.g. 784-d = 49 lines) a few neighbours ahead of the distance
            // loop, so those loads overlap the distances before them.
            for &n in neighbors.iter() {
                self.store.prefetch_lines(n, 0, PREFETCH_FIRST_LINES);
            }
            for &n in neighbors.iter().take(PREFETCH_AHEAD) {
                self.store.prefetch_lines(n, PREFETCH_FIRST_LINES, usize::MAX);
            }
            for (i, &n) in neighbors.iter().enumerate() {
                if let Some(&ahead) = neighbors.get(i + PREFETCH_AHEAD) {
                    self.store.prefetch_lines(ahead, PREFETCH_FIRST_LINES, usize::MAX);
                }
                let d = self.space.distance(query, self.store.vector(n));
                if POOL && accept(n) {
                    evaluated.push(Candidate { dist: d, id: n });
                }
                if results.len() < ef || d < bound {
                    let cand = Candidate { dist: d, id: n };
                    candidates.push(Reverse(cand));
                    if accept(n) {
                        if results.len() < ef {
                            results.push(cand);
                        } else if let Some(mut worst) = results.peek_mut() {
                            // Replace the farthest in place: one sift instead of a push and a pop.
                            *worst = cand;
                        }
                        bound = results.peek().map_or(f32::INFINITY, |c| c.dist);
                    }
                }
            }
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
        let mut buf = std::mem::take(&mut scratch.neighbors);
        let cur = self.descend(query, entry, top as usize, 0, &mut buf);
        scratch.neighbors = buf;
        let mut entries = std::mem::take(&mut scratch.entries);
        entries.clear();
        entries.push(cur);
        let beam = Beam { level: 0, ef: request.ef(), pool: request.pool() };
        // Checking liveness costs a look-up per result candidate: skip it while nothing is deleted.
        match (filter, self.has_deleted(), request.pool() > request.ef()) {
            (None, false, false) => self.search_layer(pin, query, &entries, beam, scratch, |_| true),
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
