//! Searches: plain and batched k-nearest (parallel over queries), filtered (exact scan or
//! filtered graph search, see `filter::plan`), BM25 text and hybrid; quantized indexes re-rank
//! their candidates at full precision. A vector search is asked for with a [`SearchRequest`]
//! (k, ef, metadata filter), resolved per query into the graph's [`KnnRequest`].

use std::sync::atomic::Ordering;

use rayon::prelude::*;

use crate::distance::scalar;
use crate::error::Result;
use crate::hnsw::scratch::{with_scratch, Scratch};
use crate::hnsw::{Graph, KnnRequest, Pin};
use crate::keys::KeyRef;
use crate::metric::Metric;
use crate::quant::Dtype;
use crate::filter::{self, Filter, SearchPlan};
use crate::hybrid::{self, Fusion};
use crate::text::CorpusStats;

use super::check::check_k;
use super::{Hit, Index, MAX_EF};

/// Hits per side that hybrid search fuses (at least k).
pub const HYBRID_DEPTH: usize = 100;

/// A range search over at most this many records scores them all (exact); above it, it
/// searches the graph with a growing k.
pub const RANGE_EXACT_MAX: usize = 4096;

/// The `ef` that asks for an exact search: every live record (matching the filter) is
/// scored at full precision, no graph involved; recall 1 by construction.
pub const EXACT_EF: usize = usize::MAX;

/// What a vector search asks for: the `k` nearest records, found with a beam of width `ef`
/// (None: the index's `ef_search`; clamped to `MAX_EF`, raised to k), among the records whose
/// metadata matches `filter` (None: all records).
#[derive(Clone, Copy, Debug)]
pub struct SearchRequest<'a> {
    /// Hits asked for; at least 1.
    pub k: usize,
    /// The beam width, or None for the index's `ef_search`.
    pub ef: Option<usize>,
    /// Only records matching this filter, or None for all.
    pub filter: Option<&'a Filter>,
}

impl<'a> SearchRequest<'a> {
    /// `k` hits with a beam of width `ef` (None: the index's `ef_search`), over all records.
    pub fn new(k: usize, ef: Option<usize>) -> SearchRequest<'a> {
        SearchRequest { k, ef, filter: None }
    }

    /// The same request, over the records matching `filter` (None: all records).
    pub fn with_filter(self, filter: Option<&'a Filter>) -> SearchRequest<'a> {
        SearchRequest { filter, ..self }
    }
}

impl Index {
    /// Runs one search and hands each hit (key, distance) to `emit`, nearest first; returns
    /// the number of hits. With a filter: always min(k, matches) hits; few matches are scanned
    /// exactly, otherwise the graph is searched with the filter applied during traversal.
    pub fn search_visit(&self, query: &[f32], request: SearchRequest<'_>, emit: impl FnMut(KeyRef<'_>, f32)) -> Result<usize> {
        let Some(graph) = self.check_query(query, request.k)? else { return Ok(0) };
        Ok(self.visit(graph, query, request, emit))
    }

    /// `search_visit` of a query already checked against `graph` (by `check_query` or
    /// `check_batch`): each search checks its queries once.
    fn visit(&self, graph: &Graph, query: &[f32], request: SearchRequest<'_>, emit: impl FnMut(KeyRef<'_>, f32)) -> usize {
        if request.ef == Some(EXACT_EF) {
            return self.visit_exact(graph, query, request, emit);
        }
        match request.filter {
            // No clamp of k here (a lock per search): nothing below allocates by k or ef; a
            // beam wider than the graph becomes a scan of its slots.
            None => self.visit_nearest(graph, query, self.knn_request(request.k, request.ef), None, emit),
            Some(filter) => self.visit_matching(graph, query, request, filter, emit),
        }
    }

    /// The search of an unfiltered query, the hot path; `predicate`, when given, sees slot ids.
    fn visit_nearest(
        &self,
        graph: &Graph,
        query: &[f32],
        request: KnnRequest,
        predicate: Option<&dyn Fn(u32) -> bool>,
        mut emit: impl FnMut(KeyRef<'_>, f32),
    ) -> usize {
        let pin: Pin<'_> = graph.pin();
        with_scratch(|s| {
            self.nearest(graph, query, request, s, |target, request, s| graph.knn(&pin, target, request, s, predicate));
            // `found` holds up to ef nodes, so k hits still come back when some were removed.
            self.emit_keys(s.found.iter().map(|c| (c.id, c.dist)), request.k(), &mut emit)
        })
    }

    /// The search of a query restricted to the records matching `filter`: min(k, matches) hits.
    fn visit_matching(
        &self,
        graph: &Graph,
        query: &[f32],
        request: SearchRequest<'_>,
        filter: &Filter,
        mut emit: impl FnMut(KeyRef<'_>, f32),
    ) -> usize {
        let knn = self.knn_request(self.result_width(request.k).max(1), request.ef);
        // Pinned before the filter is evaluated: no slot in the bitmap can be reused meanwhile.
        let pin = graph.pin();
        let bits = self.matching(filter);
        with_scratch(|s| {
            self.nearest_slots(graph, &pin, query, knn, Some(&bits), s);
            self.emit_keys(s.found.iter().map(|c| (c.id, c.dist)), knn.k(), &mut emit)
        })
    }

    /// The exact search (`ef` = `EXACT_EF`): every live record, among the filter's matches if
    /// there is a filter, scored at full precision (the stored f32 vectors, or a quantized
    /// index's full-precision rows) with the SIMD kernels.
    fn visit_exact(&self, graph: &Graph, query: &[f32], request: SearchRequest<'_>, mut emit: impl FnMut(KeyRef<'_>, f32)) -> usize {
        let k = self.result_width(request.k).max(1);
        // Pinned first: no slot collected below can be reused while it is scored.
        let pin = graph.pin();
        let bits = request.filter.map(|f| self.matching(f));
        let slots: Vec<u32> = {
            let map = self.keys.read();
            map.slots().filter(|&s| bits.as_ref().is_none_or(|b| b.contains(s))).collect()
        };
        let mut q = query.to_vec();
        if self.options.metric == Metric::Cosine {
            scalar::normalize(&mut q);
        }
        with_scratch(|s| {
            match self.raw.get() {
                None => graph.exact_knn_slots(&q, k, slots.into_iter(), s),
                Some(raw) => {
                    let mut scored: Vec<(f32, u32)> = slots.into_iter().map(|id| (self.exact.distance(&q, raw.row(id)), id)).collect();
                    if scored.len() > k {
                        scored.select_nth_unstable_by(k, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                        scored.truncate(k);
                    }
                    scored.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                    s.found.clear();
                    s.found.extend(scored.into_iter().map(|(dist, id)| crate::hnsw::Candidate { dist, id }));
                }
            }
            // Still pinned: a slot freed and reused now would name another record.
            let count = self.emit_keys(s.found.iter().map(|c| (c.id, c.dist)), k, &mut emit);
            drop(pin);
            count
        })
    }

    /// Range search: the records within `radius` of `query` (distance <= radius, in the
    /// metric's units), nearest first, at most `limit` (0: no limit), among those matching
    /// `filter` when given; returns how many it handed to `emit`. Exact (every record scored)
    /// for indexes of up to [`RANGE_EXACT_MAX`] records and for `ef` = [`EXACT_EF`]; above,
    /// the graph is searched for the 64 nearest, then 256, 1,024..., until the farthest found
    /// lies beyond the radius: what the graph misses at that depth is missed (see the recall
    /// figures in BENCHMARKS.md). `ef` as in a search, raised to each depth.
    pub fn range_visit(
        &self,
        query: &[f32],
        radius: f32,
        limit: usize,
        filter: Option<&Filter>,
        ef: Option<usize>,
        mut emit: impl FnMut(KeyRef<'_>, f32),
    ) -> Result<usize> {
        if radius.is_nan() {
            return Err(crate::Error::InvalidArgument("the radius is NaN".into()));
        }
        let Some(graph) = self.check_query(query, 1)? else { return Ok(0) };
        enum Found {
            U64(u64),
            Str(String),
        }
        let cap = if limit == 0 { usize::MAX } else { limit };
        let n = self.len().max(1);
        let mut found: Vec<(Found, f32)> = Vec::new();
        let run = |k: usize, ef: usize, found: &mut Vec<(Found, f32)>| {
            found.clear();
            let request = SearchRequest { k, ef: Some(ef), filter };
            self.visit(graph, query, request, |key, d| {
                let key = match key {
                    KeyRef::U64(k) => Found::U64(k),
                    KeyRef::Str(s) => Found::Str(s.to_string()),
                };
                found.push((key, d));
            });
        };
        if ef == Some(EXACT_EF) || n <= RANGE_EXACT_MAX {
            run(n, EXACT_EF, &mut found);
        } else {
            let mut k = 64;
            loop {
                let depth = k.min(n);
                run(depth, ef.unwrap_or(self.ef_search()).clamp(depth, MAX_EF), &mut found);
                let within = found.iter().take_while(|(_, d)| *d <= radius).count();
                if within < found.len() || found.len() < depth || depth >= n || within >= cap || depth >= MAX_EF {
                    break;
                }
                k = k.saturating_mul(4);
            }
        }
        let mut count = 0;
        for (key, d) in found.iter().take_while(|(_, d)| *d <= radius).take(cap) {
            match key {
                Found::U64(k) => emit(KeyRef::U64(*k), *d),
                Found::Str(s) => emit(KeyRef::Str(s), *d),
            }
            count += 1;
        }
        Ok(count)
    }

    /// The `k` nearest records to `query`, nearest first (fewer if the index holds fewer).
    /// `ef` defaults to the index's `ef_search`; a value below `k` is raised to `k`.
    pub fn search(&self, query: &[f32], k: usize, ef: Option<usize>) -> Result<Vec<Hit<String>>> {
        let mut hits = Vec::with_capacity(k.min(1024));
        self.search_visit(query, SearchRequest::new(k, ef), |key, d| hits.push(Hit { key: key.to_string_plain(), distance: d }))?;
        Ok(hits)
    }

    /// As [`Index::search`], keeping only slots for which `predicate` holds: a hook on slot
    /// ids for tests of the graph's filtered traversal (metadata filters go in a
    /// [`SearchRequest`]).
    pub fn search_filtered(
        &self,
        query: &[f32],
        k: usize,
        ef: Option<usize>,
        predicate: Option<&dyn Fn(u32) -> bool>,
    ) -> Result<Vec<Hit<String>>> {
        let mut hits = Vec::with_capacity(k.min(1024));
        let Some(graph) = self.check_query(query, k)? else { return Ok(hits) };
        self.visit_nearest(graph, query, self.knn_request(k, ef), predicate, |key, d| {
            hits.push(Hit { key: key.to_string_plain(), distance: d })
        });
        Ok(hits)
    }

    /// The `k` nearest records to `query` among those whose metadata matches `filter`, nearest
    /// first: always min(k, matches) hits (`search_visit` with the filter in its request).
    pub fn search_where(
        &self,
        query: &[f32],
        k: usize,
        ef: Option<usize>,
        filter: &Filter,
        emit: impl FnMut(KeyRef<'_>, f32),
    ) -> Result<usize> {
        self.search_visit(query, SearchRequest::new(k, ef).with_filter(Some(filter)), emit)
    }

    /// Searches `n` queries, filtered or not, in parallel; `sinks[i]` receives the hits of
    /// query i through `emit` (sink, rank, key, distance). The batch is checked as a whole
    /// first (see [`Index::check_queries`]).
    pub fn search_batch<S, F>(&self, queries: &[f32], request: SearchRequest<'_>, sinks: &mut [S], emit: F) -> Result<()>
    where
        S: Send,
        F: Fn(&mut S, usize, KeyRef<'_>, f32) + Sync,
    {
        let n = sinks.len();
        let (dim, graph) = self.check_batch(queries, n, request.k)?;
        // The graph the queries were checked against (a graph, once made, stays).
        let Some(graph) = graph else { return Ok(()) };
        if dim == 0 {
            return Ok(());
        }
        let one = |(q, sink): (&[f32], &mut S)| {
            let mut rank = 0;
            self.visit(graph, q, request, |key, d| {
                emit(sink, rank, key, d);
                rank += 1;
            });
        };
        if n >= 4 {
            self.on_threads(|| queries.par_chunks_exact(dim).zip(sinks.par_iter_mut()).for_each(one));
        } else {
            queries.chunks_exact(dim).zip(sinks.iter_mut()).for_each(one);
        }
        Ok(())
    }

    /// The slots whose metadata matches `filter`, from the cache when the same filter was
    /// evaluated against the same metadata version.
    pub(super) fn matching(&self, filter: &Filter) -> std::sync::Arc<roaring::RoaringBitmap> {
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

    /// The graph's request for `k` hits: a beam of width `ef` or the index's `ef_search`,
    /// (`EXACT_EF` never gets here: `visit` takes it to `visit_exact`)
    /// within 1..=MAX_EF (`KnnRequest::new` raises it to k).
    fn knn_request(&self, k: usize, ef: Option<usize>) -> KnnRequest {
        KnnRequest::new(k, ef.unwrap_or(self.ef_search()).clamp(1, MAX_EF))
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
    /// `target` `search` gets, with the request widened to the pool of candidates to re-rank)
    /// and the candidates then re-ranked at full precision.
    fn nearest(&self, graph: &Graph, query: &[f32], request: KnnRequest, s: &mut Scratch, search: impl FnOnce(&[f32], KnnRequest, &mut Scratch)) {
        let mut q = std::mem::take(&mut s.query);
        q.clear();
        q.extend_from_slice(query);
        if self.options.metric == Metric::Cosine {
            scalar::normalize(&mut q);
        }
        match graph.space.codec() {
            None => search(&q, request, s),
            Some(codec) => {
                let mut prepared = Vec::new();
                codec.prepare_query(&q, &mut prepared);
                search(&prepared, request.with_pool(self.rerank_pool(request.k())), s);
                self.rerank(&q, request.k(), s);
            }
        }
        s.query = q;
    }

    /// Fills `s.found` with the nearest live records among `bits` (all when None), nearest
    /// first: an exact scan when few match, a graph search keeping only matches otherwise.
    fn nearest_slots(&self, graph: &Graph, pin: &Pin<'_>, query: &[f32], request: KnnRequest, bits: Option<&roaring::RoaringBitmap>, s: &mut Scratch) {
        self.nearest(graph, query, request, s, |target, request, s| match bits {
            None => graph.knn(pin, target, request, s, None),
            Some(bits) => match filter::plan(bits.len(), self.len() as u64, request.depth()) {
                SearchPlan::Empty => s.found.clear(),
                SearchPlan::BruteForce => graph.exact_knn_slots(target, request.depth(), bits.iter(), s),
                SearchPlan::Graph => graph.knn(pin, target, request, s, Some(&|id| bits.contains(id))),
            },
        });
    }

    /// BM25 search over record texts: the `k` best records for `query`, best first, with their
    /// scores (higher is better), among those matching `filter` when given.
    pub fn text_search(&self, query: &str, k: usize, filter: Option<&Filter>, emit: impl FnMut(KeyRef<'_>, f32)) -> Result<usize> {
        self.text_search_with(query, k, filter, None, emit)
    }

    /// As [`Index::text_search`], scored with the corpus statistics `corpus` when given (the
    /// sum of [`Index::text_stats`] over every shard of a collection split into several
    /// indexes, so that each shard scores as one index of all records would). Fails with
    /// `InvalidArgument` when `corpus` does not fit the query.
    pub fn text_search_with(
        &self,
        query: &str,
        k: usize,
        filter: Option<&Filter>,
        corpus: Option<&CorpusStats>,
        mut emit: impl FnMut(KeyRef<'_>, f32),
    ) -> Result<usize> {
        check_k(k)?;
        let Some(graph) = self.graph.get() else {
            if let Some(corpus) = corpus {
                // Checked on an empty index too, so that a caller's mistake shows on every shard.
                self.text.read().search_with(query, 0, None, corpus)?;
            }
            return Ok(0);
        };
        let k = self.result_width(k).max(1);
        let _pin = graph.pin();
        let bits = filter.map(|f| self.matching(f));
        let accept = |slot: u32| bits.as_ref().is_none_or(|b| b.contains(slot));
        let text = self.text.read();
        let hits = match corpus {
            Some(corpus) => text.search_with(query, k, Some(&accept), corpus)?,
            None => text.search(query, k, Some(&accept)),
        };
        drop(text);
        Ok(self.emit_keys(hits, k, &mut emit))
    }

    /// The corpus statistics of this index's texts for `query`: documents, tokens, and the
    /// document frequency of each distinct query term (see [`CorpusStats`]).
    pub fn text_stats(&self, query: &str) -> CorpusStats {
        self.text.read().stats(query)
    }

    /// Hybrid search: the vector search of `request` (`HYBRID_DEPTH` deep, at least k) and the
    /// BM25 search for `text_query` (as deep), both restricted by `request.filter`, fused by
    /// `fusion` (see `hybrid`): the `k` best records, best first, with their fused scores
    /// (higher is better).
    pub fn hybrid_search(
        &self,
        query: &[f32],
        text_query: &str,
        request: SearchRequest<'_>,
        fusion: Fusion,
        mut emit: impl FnMut(KeyRef<'_>, f32),
    ) -> Result<usize> {
        let Some(graph) = self.check_query(query, request.k)? else { return Ok(0) };
        let k = self.result_width(request.k).max(1);
        let depth = k.max(HYBRID_DEPTH);
        let vector_request = self.knn_request(depth, request.ef);
        let pin = graph.pin();
        let bits = request.filter.map(|f| self.matching(f));
        let vector_hits: Vec<(u32, f32)> = with_scratch(|s| {
            self.nearest_slots(graph, &pin, query, vector_request, bits.as_deref(), s);
            s.found.iter().take(depth).map(|c| (c.id, c.dist)).collect()
        });
        let accept = |slot: u32| bits.as_ref().is_none_or(|b| b.contains(slot));
        let text_hits = self.text.read().search(text_query, depth, Some(&accept));
        let fused = hybrid::fuse(&vector_hits, &text_hits, fusion, depth)?;
        Ok(self.emit_keys(fused, k, &mut emit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{IndexOptions, Keys, Payloads};

    /// 600 records on a 2-d spiral (more than the exact-scan size, so the graph is searched),
    /// each with metadata {"cat": i % 4}.
    fn index_with_metadata() -> Index {
        let n = 600;
        let spiral = |i: usize| {
            let t = i as f32 * 0.05;
            [t.cos() * (1.0 + t), t.sin() * (1.0 + t)]
        };
        let vectors: Vec<f32> = (0..n).flat_map(spiral).collect();
        let keys: Vec<u64> = (0..n as u64).collect();
        let json: Vec<String> = (0..n).map(|i| format!("{{\"cat\": {}}}", i % 4)).collect();
        let metadata: Vec<Option<&str>> = json.iter().map(|j| Some(j.as_str())).collect();
        let index = Index::new(IndexOptions { dim: 2, ..IndexOptions::default() }).unwrap();
        index.add_with(Keys::U64(&keys), &vectors, Payloads { metadata: Some(&metadata), texts: None }).unwrap();
        index
    }

    fn one_by_one(index: &Index, queries: &[f32], request: SearchRequest<'_>) -> Vec<Vec<(String, f32)>> {
        queries
            .chunks_exact(2)
            .map(|q| {
                let mut hits = Vec::new();
                index.search_visit(q, request, |key, d| hits.push((key.to_string_plain(), d))).unwrap();
                hits
            })
            .collect()
    }

    fn batched(index: &Index, queries: &[f32], request: SearchRequest<'_>) -> Vec<Vec<(String, f32)>> {
        let mut sinks = vec![Vec::new(); queries.len() / 2];
        index
            .search_batch(queries, request, &mut sinks, |sink: &mut Vec<(String, f32)>, rank, key, d| {
                assert_eq!(rank, sink.len());
                sink.push((key.to_string_plain(), d));
            })
            .unwrap();
        sinks
    }

    /// A batch, filtered or not, parallel (4 queries or more) or not, answers as its queries
    /// searched one at a time.
    #[test]
    fn batches_with_and_without_a_filter_match_single_searches() {
        let index = index_with_metadata();
        let filter = Filter::parse("cat = 1").unwrap();
        let queries: Vec<f32> = (0..12).map(|i| i as f32 * 0.7 - 4.0).collect();
        for request in [SearchRequest::new(10, Some(32)), SearchRequest::new(10, Some(32)).with_filter(Some(&filter))] {
            for n in [2, 6] {
                let queries = &queries[..2 * n];
                let want = one_by_one(&index, queries, request);
                assert_eq!(batched(&index, queries, request), want);
                assert!(want.iter().all(|hits| hits.len() == 10));
            }
        }
        let filtered = batched(&index, &queries, SearchRequest::new(10, None).with_filter(Some(&filter)));
        for (key, _) in filtered.iter().flatten() {
            assert_eq!(key.parse::<u64>().unwrap() % 4, 1, "a hit outside the filter");
        }
    }

    #[test]
    fn the_beam_is_widened_to_k_once_in_the_request() {
        let index = index_with_metadata();
        assert_eq!(index.knn_request(50, Some(8)).ef(), 50);
        assert_eq!(index.knn_request(5, Some(8)).ef(), 8);
        assert_eq!(index.knn_request(5, Some(0)).ef(), 5, "ef 0 is clamped to 1, then raised to k");
        assert_eq!(index.knn_request(5, None).ef(), index.ef_search().max(5));
        assert_eq!(index.knn_request(5, Some(usize::MAX)).ef(), MAX_EF);
    }
}
