//! Searches: plain and batched k-nearest (parallel over queries), filtered (exact scan or
//! filtered graph search, see `filter::plan`), BM25 text and hybrid; quantized indexes re-rank
//! their candidates at full precision.

use std::sync::atomic::Ordering;

use rayon::prelude::*;

use crate::distance::scalar;
use crate::error::{Error, Result};
use crate::hnsw::scratch::{with_scratch, Scratch};
use crate::hnsw::{Graph, Pin};
use crate::keys::KeyRef;
use crate::metric::Metric;
use crate::quant::Dtype;
use crate::filter::{self, Filter, SearchPlan};
use crate::hybrid::{self, Fusion};

use super::{Hit, Index, MAX_EF};

/// Hits per side that hybrid search fuses (at least k).
pub const HYBRID_DEPTH: usize = 100;

impl Index {
    /// Runs one search and hands each hit (key, distance) to `emit`, nearest first; returns
    /// the number of hits. `filter` sees slot ids (the hook for metadata filters).
    pub fn search_visit(
        &self,
        query: &[f32],
        k: usize,
        ef: Option<usize>,
        filter: Option<&dyn Fn(u32) -> bool>,
        emit: impl FnMut(KeyRef<'_>, f32),
    ) -> Result<usize> {
        let Some(graph) = self.check_query(query, k)? else { return Ok(0) };
        Ok(self.visit(graph, query, k, ef, filter, emit))
    }

    /// `search_visit` of a query already checked against `graph` (by `check_query` or
    /// `check_batch`): each search checks its queries once.
    fn visit(
        &self,
        graph: &Graph,
        query: &[f32],
        k: usize,
        ef: Option<usize>,
        filter: Option<&dyn Fn(u32) -> bool>,
        mut emit: impl FnMut(KeyRef<'_>, f32),
    ) -> usize {
        // No clamp of k here (a lock per search): nothing below allocates by k or ef; a beam
        // wider than the graph becomes a scan of its slots.
        let ef = self.search_ef(ef, k);
        let pin: Pin<'_> = graph.pin();
        with_scratch(|s| {
            self.nearest(graph, query, k, s, |target, pool, s| graph.knn_pool(&pin, target, k, ef, pool, s, filter));
            // `found` holds up to ef nodes, so k hits still come back when some were removed.
            self.emit_keys(s.found.iter().map(|c| (c.id, c.dist)), k, &mut emit)
        })
    }

    /// The `k` nearest records to `query`, nearest first (fewer if the index holds fewer).
    /// `ef` defaults to the index's `ef_search`; a value below `k` is raised to `k`.
    pub fn search(&self, query: &[f32], k: usize, ef: Option<usize>) -> Result<Vec<Hit<String>>> {
        self.search_filtered(query, k, ef, None)
    }

    /// As [`Index::search`], keeping only slots for which `filter` holds.
    pub fn search_filtered(
        &self,
        query: &[f32],
        k: usize,
        ef: Option<usize>,
        filter: Option<&dyn Fn(u32) -> bool>,
    ) -> Result<Vec<Hit<String>>> {
        let mut hits = Vec::with_capacity(k.min(1024));
        self.search_visit(query, k, ef, filter, |key, d| hits.push(Hit { key: key.to_string_plain(), distance: d }))?;
        Ok(hits)
    }

    /// Searches `n` queries in parallel; `sinks[i]` receives the hits of query i through `emit`.
    /// The batch is checked as a whole first (see [`Index::check_queries`]).
    pub fn search_batch<S, F>(&self, queries: &[f32], k: usize, ef: Option<usize>, sinks: &mut [S], emit: F) -> Result<()>
    where
        S: Send,
        F: Fn(&mut S, usize, KeyRef<'_>, f32) + Sync,
    {
        let n = sinks.len();
        let (dim, graph) = self.check_batch(queries, n, k)?;
        // The graph the queries were checked against (a graph, once made, stays).
        let Some(graph) = graph else { return Ok(()) };
        if dim == 0 {
            return Ok(());
        }
        let one = |(q, sink): (&[f32], &mut S)| {
            let mut rank = 0;
            self.visit(graph, q, k, ef, None, |key, d| {
                emit(sink, rank, key, d);
                rank += 1;
            });
        };
        if n >= 4 {
            queries.par_chunks_exact(dim).zip(sinks.par_iter_mut()).for_each(one);
        } else {
            queries.chunks_exact(dim).zip(sinks.iter_mut()).for_each(one);
        }
        Ok(())
    }

    /// The slots whose metadata matches `filter`, from the cache when the same filter was
    /// evaluated against the same metadata version.
    fn matching(&self, filter: &Filter) -> std::sync::Arc<roaring::RoaringBitmap> {
        let meta = self.meta.read();
        // Read under the lock: writers bump it while holding the write lock.
        let version = self.meta_version.load(Ordering::Acquire);
        if let Some((f, v, bits)) = &*self.filter_cache.lock() {
            if *v == version && f == filter {
                return bits.clone();
            }
        }
        let bits = std::sync::Arc::new(meta.evaluate(filter));
        *self.filter_cache.lock() = Some((filter.clone(), version, bits.clone()));
        bits
    }

    /// The beam width of a search for k: `ef` or the default, at least k.
    fn search_ef(&self, ef: Option<usize>, k: usize) -> usize {
        ef.unwrap_or(self.options.ef_search).clamp(1, MAX_EF).max(k)
    }

    /// Candidates a search for k re-scores at full precision: `rerank * k` for a quantized
    /// index, 0 (none) for f32. They come from every node the beam evaluated, so the beam
    /// need not be that wide.
    fn rerank_pool(&self, k: usize) -> usize {
        if self.options.dtype == Dtype::F32 {
            0
        } else {
            self.options.rerank.saturating_mul(k).min(MAX_EF)
        }
    }

    /// Re-scores the best `rerank * k` candidates in `s.found` (from a search on codes) with
    /// the full-precision vectors and sorts them; drops the rest. `query` is the prepared f32
    /// query (normalised under cosine).
    fn rerank(&self, query: &[f32], k: usize, s: &mut Scratch) {
        let Some(raw) = self.raw.get() else { return };
        s.found.truncate(self.options.rerank.saturating_mul(k));
        for c in s.found.iter_mut() {
            c.dist = self.exact.distance(query, raw.row(c.id));
        }
        s.found.sort_unstable();
    }

    /// Runs `search` for `query` and leaves its candidates in `s.found`, nearest first: the
    /// query normalised under cosine, and for a quantized index prepared for its codes (the
    /// `target` `search` gets, with the `pool` of candidates to return) and the candidates
    /// then re-ranked at full precision.
    fn nearest(&self, graph: &Graph, query: &[f32], k: usize, s: &mut Scratch, search: impl FnOnce(&[f32], usize, &mut Scratch)) {
        let mut q = std::mem::take(&mut s.query);
        q.clear();
        q.extend_from_slice(query);
        if self.options.metric == Metric::Cosine {
            scalar::normalize(&mut q);
        }
        match graph.space.codec() {
            None => search(&q, 0, s),
            Some(codec) => {
                let mut prepared = Vec::new();
                codec.prepare_query(&q, &mut prepared);
                search(&prepared, self.rerank_pool(k), s);
                self.rerank(&q, k, s);
            }
        }
        s.query = q;
    }

    /// Fills `s.found` with the nearest live records among `bits` (all when None), nearest
    /// first: an exact scan when few match, a graph search keeping only matches otherwise.
    #[allow(clippy::too_many_arguments)] // until the search request value (#22) carries them
    fn nearest_slots(&self, graph: &Graph, pin: &Pin<'_>, query: &[f32], k: usize, ef: usize, bits: Option<&roaring::RoaringBitmap>, s: &mut Scratch) {
        self.nearest(graph, query, k, s, |target, pool, s| match bits {
            None => graph.knn_pool(pin, target, k, ef, pool, s, None),
            Some(bits) => match filter::plan(bits.len(), self.len() as u64, ef.max(pool)) {
                SearchPlan::Empty => s.found.clear(),
                SearchPlan::BruteForce => graph.exact_knn_slots(target, ef.max(k).max(pool), bits.iter(), s),
                SearchPlan::Graph => graph.knn_pool(pin, target, k, ef, pool, s, Some(&|id| bits.contains(id))),
            },
        });
    }

    /// The `k` nearest records to `query` among those whose metadata matches `filter`, nearest
    /// first: always min(k, matches) hits. Few matches are scanned exactly; otherwise the graph
    /// is searched with the filter applied during traversal.
    pub fn search_where(
        &self,
        query: &[f32],
        k: usize,
        ef: Option<usize>,
        filter: &Filter,
        mut emit: impl FnMut(KeyRef<'_>, f32),
    ) -> Result<usize> {
        let Some(graph) = self.check_query(query, k)? else { return Ok(0) };
        let k = self.result_width(k).max(1);
        let ef = self.search_ef(ef, k);
        // Pinned before the filter is evaluated: no slot in the bitmap can be reused meanwhile.
        let pin = graph.pin();
        let bits = self.matching(filter);
        with_scratch(|s| {
            self.nearest_slots(graph, &pin, query, k, ef, Some(&bits), s);
            Ok(self.emit_keys(s.found.iter().map(|c| (c.id, c.dist)), k, &mut emit))
        })
    }

    /// BM25 search over record texts: the `k` best records for `query`, best first, with their
    /// scores (higher is better), among those matching `filter` when given.
    pub fn text_search(&self, query: &str, k: usize, filter: Option<&Filter>, mut emit: impl FnMut(KeyRef<'_>, f32)) -> Result<usize> {
        if k == 0 {
            return Err(Error::InvalidArgument("k must be at least 1".into()));
        }
        let Some(graph) = self.graph.get() else { return Ok(0) };
        let k = self.result_width(k).max(1);
        let _pin = graph.pin();
        let bits = filter.map(|f| self.matching(f));
        let accept = |slot: u32| bits.as_ref().is_none_or(|b| b.contains(slot));
        let hits = self.text.read().search(query, k, Some(&accept));
        Ok(self.emit_keys(hits, k, &mut emit))
    }

    /// Hybrid search: the vector search and the BM25 search (each `HYBRID_DEPTH` deep, at least
    /// k, both restricted by `filter`) fused by `fusion` (see `hybrid`): the `k` best records,
    /// best first, with their fused scores (higher is better).
    #[allow(clippy::too_many_arguments)]
    pub fn hybrid_search(
        &self,
        query: &[f32],
        text_query: &str,
        k: usize,
        ef: Option<usize>,
        filter: Option<&Filter>,
        fusion: Fusion,
        mut emit: impl FnMut(KeyRef<'_>, f32),
    ) -> Result<usize> {
        let Some(graph) = self.check_query(query, k)? else { return Ok(0) };
        let k = self.result_width(k).max(1);
        let depth = k.max(HYBRID_DEPTH);
        let ef = self.search_ef(ef, depth);
        let pin = graph.pin();
        let bits = filter.map(|f| self.matching(f));
        let vector_hits: Vec<(u32, f32)> = with_scratch(|s| {
            self.nearest_slots(graph, &pin, query, depth, ef, bits.as_deref(), s);
            s.found.iter().take(depth).map(|c| (c.id, c.dist)).collect()
        });
        let accept = |slot: u32| bits.as_ref().is_none_or(|b| b.contains(slot));
        let text_hits = self.text.read().search(text_query, depth, Some(&accept));
        let fused = hybrid::fuse(&vector_hits, &text_hits, fusion, depth)?;
        Ok(self.emit_keys(fused, k, &mut emit))
    }
}
