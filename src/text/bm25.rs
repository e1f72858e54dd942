//! BM25 ranking over [`Postings`], Lucene's variant (as in Lucene >= 8 and `bm25s`'s default
//! `method="lucene"`):
//!
//! ```text
//! score(q, d) = sum over query tokens t of  idf(t) * tf / (tf + k1 * (1 - b + b * dl / avgdl))
//! idf(t)      = ln(1 + (N - df + 0.5) / (df + 0.5))
//! ```
//!
//! with `tf` the count of `t` in `d`, `dl` the length of `d` in tokens, `avgdl` the mean length,
//! `N` the number of documents and `df` the number of documents holding `t`. A query token
//! that repeats counts once per occurrence (as in Lucene, `bm25s` and `rank-bm25`). The idf is
//! positive for every df, so every document that matches a query token scores above zero.
//! Lucene dropped the constant factor `(k1 + 1)` of Robertson's numerator: it scales every
//! score alike and changes no ranking.

use std::cell::RefCell;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use super::postings::Postings;
use crate::error::{Error, Result};

/// Default term-frequency saturation: bm25s's default (Lucene uses 1.2).
pub const K1: f32 = 1.5;
/// Default document-length normalisation (0 = none, 1 = full).
pub const B: f32 = 0.75;

/// The two BM25 parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bm25Params {
    /// Term-frequency saturation, finite and >= 0 (0 = a term counts once, however often it
    /// occurs).
    pub k1: f32,
    /// Length normalisation, in [0, 1].
    pub b: f32,
}

impl Default for Bm25Params {
    fn default() -> Self {
        Bm25Params { k1: K1, b: B }
    }
}

impl Bm25Params {
    /// Checks `k1 >= 0` (finite) and `0 <= b <= 1`.
    pub fn validate(&self) -> Result<()> {
        if !(self.k1.is_finite() && self.k1 >= 0.0) {
            return Err(Error::InvalidArgument(format!("BM25 k1 must be finite and >= 0, got {}", self.k1)));
        }
        if !(0.0..=1.0).contains(&self.b) {
            return Err(Error::InvalidArgument(format!("BM25 b must be in [0, 1], got {}", self.b)));
        }
        Ok(())
    }
}

/// Lucene's idf: `ln(1 + (N - df + 0.5) / (df + 0.5))`.
pub fn idf(n_docs: u64, doc_freq: u64) -> f64 {
    let (n, df) = (n_docs as f64, doc_freq as f64);
    (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
}

/// A scored candidate ordered so that "greater" means "ranks first": higher score, then
/// lower slot.
#[derive(Clone, Copy, Debug)]
struct Ranked {
    score: f32,
    slot: u32,
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score.total_cmp(&other.score).then_with(|| other.slot.cmp(&self.slot))
    }
}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Ranked {}

/// Per-thread score accumulator: one f32 per slot (0 = not touched) and the touched slots.
#[derive(Default)]
struct Scratch {
    scores: Vec<f32>,
    touched: Vec<u32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// The statistics of a corpus that a BM25 score of one query reads: the document count, the
/// total length of the documents in tokens, and the document frequency of each distinct query
/// term, in the order of [`distinct_terms`] (sorted). An index split into shards gives each
/// shard's [`CorpusStats`]; their sum ([`CorpusStats::add`]) is the whole corpus's, and a
/// shard that scores with the sum gives every document the score it has in one index of all
/// the shards' documents.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CorpusStats {
    /// Documents (records with a text).
    pub docs: u64,
    /// Tokens in all documents.
    pub tokens: u64,
    /// Documents holding each distinct query term, in sorted term order.
    pub doc_freqs: Vec<u64>,
}

impl CorpusStats {
    /// Adds `other`'s counts to these (the statistics of the union of two disjoint corpora
    /// for the same query). Fails when the term counts differ (not the same query, or not the
    /// same text options) or a sum overflows.
    pub fn add(&mut self, other: &CorpusStats) -> Result<()> {
        if other.doc_freqs.len() != self.doc_freqs.len() {
            return Err(Error::InvalidArgument(format!(
                "corpus statistics of {} and {} query terms cannot be added: not the same query or text options",
                self.doc_freqs.len(),
                other.doc_freqs.len()
            )));
        }
        let overflow = || Error::InvalidArgument("corpus statistics overflow u64".into());
        self.docs = self.docs.checked_add(other.docs).ok_or_else(overflow)?;
        self.tokens = self.tokens.checked_add(other.tokens).ok_or_else(overflow)?;
        for (a, b) in self.doc_freqs.iter_mut().zip(&other.doc_freqs) {
            *a = a.checked_add(*b).ok_or_else(overflow)?;
        }
        Ok(())
    }

    /// Checks that these can score, in an index whose own statistics for the query are
    /// `local`, a query of `local.doc_freqs.len()` distinct terms: one frequency per term, and
    /// no count below the local one (the whole holds the part), which also catches most
    /// statistics of another query or from before the index changed.
    pub fn validate(&self, local: &CorpusStats) -> Result<()> {
        let terms = local.doc_freqs.len();
        if self.doc_freqs.len() != terms {
            return Err(Error::InvalidArgument(format!(
                "the corpus statistics hold {} term frequencies but the query has {terms} distinct terms: \
                 collect them for the same query from indexes with the same text options",
                self.doc_freqs.len()
            )));
        }
        let below = self.docs < local.docs
            || self.tokens < local.tokens
            || self.doc_freqs.iter().zip(&local.doc_freqs).any(|(whole, part)| whole < part);
        if below {
            return Err(Error::InvalidArgument(format!(
                "the corpus statistics (docs {}, tokens {}, doc_freqs {:?}) are below this index's own \
                 (docs {}, tokens {}, doc_freqs {:?}): they must sum every shard's, this one included, \
                 for this query",
                self.docs, self.tokens, self.doc_freqs, local.docs, local.tokens, local.doc_freqs
            )));
        }
        if let Some(df) = self.doc_freqs.iter().find(|&&df| df > self.docs) {
            return Err(Error::InvalidArgument(format!(
                "a term frequency ({df}) exceeds the corpus statistics' document count ({})",
                self.docs
            )));
        }
        Ok(())
    }

    /// The statistics of `postings` for the distinct terms `terms`.
    pub fn of(postings: &Postings, terms: &[(&str, f32)]) -> CorpusStats {
        CorpusStats {
            docs: postings.doc_count() as u64,
            tokens: postings.total_len(),
            doc_freqs: terms.iter().map(|&(t, _)| postings.doc_freq(t) as u64).collect(),
        }
    }

    /// avgdl as [`Postings::avg_doc_len`] computes it, so that one shard's statistics give
    /// the very scores of an unsharded index.
    fn avg_doc_len(&self) -> f64 {
        if self.docs == 0 {
            0.0
        } else {
            self.tokens as f64 / self.docs as f64
        }
    }
}

/// The distinct tokens of `terms`, sorted, each with its count: a repeated query token is
/// scored once, times its count.
pub fn distinct_terms<S: AsRef<str>>(terms: &[S]) -> Vec<(&str, f32)> {
    let mut unique: Vec<&str> = terms.iter().map(AsRef::as_ref).collect();
    unique.sort_unstable();
    let mut weighted: Vec<(&str, f32)> = Vec::with_capacity(unique.len());
    for t in unique {
        match weighted.last_mut() {
            Some((last, w)) if *last == t => *w += 1.0,
            _ => weighted.push((t, 1.0)),
        }
    }
    weighted
}

/// The `k` best documents for the query tokens `terms`, best first: `(slot, score)`, ties by
/// lower slot. Only documents for which `filter` holds are returned; `filter` is asked only
/// about documents that match a query token and could enter the top k. Returns nothing for
/// `k == 0`, an empty query, or no match.
///
/// `corpus`, when given, replaces the statistics of `postings` in the idf and avgdl (see
/// [`CorpusStats`]); the caller has checked it with [`CorpusStats::validate`] (one frequency
/// per distinct term, no count below the local one: so avgdl > 0 wherever a local document
/// has a token).
///
/// Allocates the result only: scores accumulate in a per-thread buffer reused across calls.
pub fn search<S: AsRef<str>>(
    postings: &Postings,
    params: &Bm25Params,
    terms: &[S],
    k: usize,
    filter: Option<&dyn Fn(u32) -> bool>,
    corpus: Option<&CorpusStats>,
) -> Vec<(u32, f32)> {
    let weighted = distinct_terms(terms);
    if k == 0 || terms.is_empty() || postings.doc_count() == 0 {
        return Vec::new();
    }
    let local;
    let corpus = match corpus {
        Some(c) => c,
        None => {
            local = CorpusStats::of(postings, &weighted);
            &local
        }
    };
    debug_assert_eq!(corpus.doc_freqs.len(), weighted.len(), "unchecked corpus statistics");
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => run(postings, params, &weighted, corpus, k, filter, &mut scratch),
        // A filter that itself searches text on this thread: use a buffer of its own.
        Err(_) => run(postings, params, &weighted, corpus, k, filter, &mut Scratch::default()),
    })
}

fn run(
    postings: &Postings,
    params: &Bm25Params,
    terms: &[(&str, f32)],
    corpus: &CorpusStats,
    k: usize,
    filter: Option<&dyn Fn(u32) -> bool>,
    scratch: &mut Scratch,
) -> Vec<(u32, f32)> {
    let n = corpus.docs;
    let avgdl = corpus.avg_doc_len();
    // k1 * (1 - b + b * dl / avgdl) = norm0 + norm1 * dl. With avgdl = 0 every document is
    // empty and matches nothing, so the division is never reached with avgdl = 0.
    let k1 = f64::from(params.k1);
    let b = f64::from(params.b);
    let norm0 = (k1 * (1.0 - b)) as f32;
    let norm1 = if avgdl > 0.0 { (k1 * b / avgdl) as f32 } else { 0.0 };
    let lens = postings.doc_lens();

    let Scratch { scores, touched } = scratch;
    if scores.len() < postings.slot_bound() {
        scores.resize(postings.slot_bound(), 0.0);
    }
    touched.clear();
    for (&(term, count), &df) in terms.iter().zip(&corpus.doc_freqs) {
        let list = postings.postings(term);
        if list.is_empty() {
            continue;
        }
        let weight = (idf(n, df) as f32) * count;
        for p in list {
            let tf = p.tf as f32;
            let dl = lens[p.slot as usize] as f32;
            let s = &mut scores[p.slot as usize];
            if *s == 0.0 {
                touched.push(p.slot);
            }
            *s += weight * tf / (tf + norm0 + norm1 * dl);
        }
    }

    let mut heap: BinaryHeap<Reverse<Ranked>> = BinaryHeap::with_capacity(k.min(touched.len()) + 1);
    for &slot in touched.iter() {
        let score = std::mem::take(&mut scores[slot as usize]);
        let cand = Ranked { score, slot };
        let enters = heap.len() < k || heap.peek().is_some_and(|Reverse(worst)| cand > *worst);
        if enters && filter.is_none_or(|f| f(slot)) {
            if heap.len() == k {
                heap.pop();
            }
            heap.push(Reverse(cand));
        }
    }
    touched.clear();
    // into_sorted_vec of Reverse is ascending in Reverse order = best first.
    heap.into_sorted_vec().into_iter().map(|Reverse(r)| (r.slot, r.score)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_validated() {
        assert!(Bm25Params::default().validate().is_ok());
        assert_eq!(Bm25Params::default(), Bm25Params { k1: 1.5, b: 0.75 });
        assert!(Bm25Params { k1: 0.0, b: 0.0 }.validate().is_ok());
        assert!(Bm25Params { k1: 1.2, b: 1.0 }.validate().is_ok());
        for bad in [
            Bm25Params { k1: -0.1, b: 0.75 },
            Bm25Params { k1: f32::NAN, b: 0.75 },
            Bm25Params { k1: f32::INFINITY, b: 0.75 },
            Bm25Params { k1: 1.5, b: 1.01 },
            Bm25Params { k1: 1.5, b: -0.01 },
            Bm25Params { k1: 1.5, b: f32::NAN },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn idf_is_lucenes() {
        assert!((idf(3, 2) - 1.6f64.ln()).abs() < 1e-12);
        assert!((idf(10, 1) - (1.0f64 + 9.5 / 1.5).ln()).abs() < 1e-12);
        // Positive even when every document holds the term.
        assert!(idf(5, 5) > 0.0);
    }

    #[test]
    fn ranked_orders_by_score_then_lower_slot() {
        let a = Ranked { score: 1.0, slot: 5 };
        let b = Ranked { score: 1.0, slot: 2 };
        let c = Ranked { score: 2.0, slot: 9 };
        assert!(b > a);
        assert!(c > b);
    }
}
