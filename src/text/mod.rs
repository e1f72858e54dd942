//! Full-text search: BM25 over an inverted index keyed by record slot.
//!
//! - [`tokenizer`]: text -> terms (NFKC, lower case, alphanumeric runs, stop words, stemming).
//! - [`postings`]: term -> (slot, tf) postings, document lengths, corpus statistics.
//! - [`bm25`]: Lucene's BM25 with named `K1`, `B`; top-k with an optional slot filter.
//!
//! [`TextIndex`] ties the three together: `set(slot, text)`, `remove(slot)`,
//! `search(query, k, filter)`, and keeps each text as it was given (`text(slot)`), for
//! callers that read a record back. It is not synchronised: its owner keeps it behind a lock
//! (searches take `&self`, changes `&mut self`).

pub mod bm25;
pub mod postings;
pub mod tokenizer;

pub use bm25::{Bm25Params, CorpusStats, B, K1};
pub use postings::{Posting, Postings};
pub use tokenizer::{StopWords, Tokenizer, TokenizerOptions, ENGLISH_STOP_WORDS};

use crate::error::Result;

/// Texts of records, by slot, searchable with BM25.
#[derive(Debug, Default)]
pub struct TextIndex {
    tokenizer: Tokenizer,
    postings: Postings,
    params: Bm25Params,
    /// Slot -> the text as given. None where the slot has no document, and where its
    /// document came from a file written before texts were kept (format 6 or older: only
    /// its postings were saved).
    originals: Vec<Option<Box<str>>>,
    /// How many entries of `originals` hold a text, and their bytes (for `memory_bytes`).
    original_count: usize,
    original_bytes: usize,
}

impl TextIndex {
    /// An empty index with these tokenizer options and BM25 parameters; fails with
    /// `InvalidArgument` when either is out of range.
    pub fn new(options: TokenizerOptions, params: Bm25Params) -> Result<TextIndex> {
        params.validate()?;
        Ok(TextIndex { tokenizer: Tokenizer::new(options)?, params, ..TextIndex::default() })
    }

    /// Stores `text` as the document of `slot`, replacing the text it had. A text with no
    /// token (empty, only stop words...) still counts as a document, of length 0.
    pub fn set(&mut self, slot: u32, text: &str) {
        let tokens = self.tokenizer.tokenize(text);
        self.postings.set(slot, &tokens);
        self.set_original(slot, Some(text.into()));
    }

    /// Drops the text of `slot`; returns whether it had one.
    pub fn remove(&mut self, slot: u32) -> bool {
        self.set_original(slot, None);
        self.postings.remove(slot)
    }

    /// The text of `slot` as it was given to [`TextIndex::set`]; None if the slot has no
    /// document, or has one read from a file written before texts were kept (its postings
    /// still score it).
    pub fn text(&self, slot: u32) -> Option<&str> {
        self.originals.get(slot as usize)?.as_deref()
    }

    /// Whether some document has its text as given (a saved file then holds a TXTS section).
    pub fn has_texts(&self) -> bool {
        self.original_count > 0
    }

    fn set_original(&mut self, slot: u32, text: Option<Box<str>>) {
        let i = slot as usize;
        if text.is_some() && self.originals.len() <= i {
            self.originals.resize(i + 1, None);
        }
        let Some(place) = self.originals.get_mut(i) else { return };
        if let Some(old) = place.take() {
            self.original_count -= 1;
            self.original_bytes -= old.len();
        }
        if let Some(new) = &text {
            self.original_count += 1;
            self.original_bytes += new.len();
        }
        *place = text;
    }

    /// The `k` best documents for `query`, best first, as `(slot, BM25 score)`; ties by lower
    /// slot. `filter`, when given, keeps only the slots for which it returns true (it is
    /// asked only about matching documents). Nothing comes back for `k == 0`, a query with
    /// no token, or no match. See [`bm25`] for the formula.
    pub fn search(&self, query: &str, k: usize, filter: Option<&dyn Fn(u32) -> bool>) -> Vec<(u32, f32)> {
        let terms = self.tokenizer.tokenize(query);
        bm25::search(&self.postings, &self.params, &terms, k, filter, None)
    }

    /// As [`TextIndex::search`], scored with the statistics `corpus` instead of this index's
    /// own (see [`CorpusStats`]: the statistics of all shards of a corpus, summed). Fails with
    /// `InvalidArgument` when `corpus` does not fit the query or holds less than this index
    /// (see [`CorpusStats::validate`]).
    pub fn search_with(
        &self,
        query: &str,
        k: usize,
        filter: Option<&dyn Fn(u32) -> bool>,
        corpus: &CorpusStats,
    ) -> Result<Vec<(u32, f32)>> {
        let terms = self.tokenizer.tokenize(query);
        corpus.validate(&CorpusStats::of(&self.postings, &bm25::distinct_terms(&terms)))?;
        Ok(bm25::search(&self.postings, &self.params, &terms, k, filter, Some(corpus)))
    }

    /// This index's statistics for `query` (see [`CorpusStats`]).
    pub fn stats(&self, query: &str) -> CorpusStats {
        let terms = self.tokenizer.tokenize(query);
        CorpusStats::of(&self.postings, &bm25::distinct_terms(&terms))
    }

    /// Whether `slot` has a text.
    pub fn contains(&self, slot: u32) -> bool {
        self.postings.contains(slot)
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.postings.doc_count()
    }

    /// Whether there is no document.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The BM25 parameters.
    pub fn params(&self) -> Bm25Params {
        self.params
    }

    /// Changes the BM25 parameters (they apply at search time: nothing is rebuilt).
    pub fn set_params(&mut self, params: Bm25Params) -> Result<()> {
        params.validate()?;
        self.params = params;
        Ok(())
    }

    /// The tokenizer (documents and queries go through the same one).
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The inverted index, for statistics and checks.
    pub fn postings(&self) -> &Postings {
        &self.postings
    }

    /// Approximate heap bytes held: the postings and the texts as given.
    pub fn memory_bytes(&self) -> usize {
        self.postings.memory_bytes() + self.original_bytes + self.originals.capacity() * std::mem::size_of::<Option<Box<str>>>()
    }
}

// ---- persistence (the TEXT section of docs/format.md) ----
impl TextIndex {
    /// Encodes the tokenizer options, the BM25 parameters and every document as (term,
    /// frequency) pairs over a term table, slots in increasing order. Deterministic.
    pub(crate) fn encode(&self, out: &mut crate::encoding::Le) {
        let o = self.tokenizer.options();
        out.u8(o.lowercase as u8);
        out.u8(o.normalize_unicode as u8);
        out.u8(o.stem_english as u8);
        out.u8(match o.stop_words {
            StopWords::None => 0,
            StopWords::English => 1,
            StopWords::Custom(_) => 2,
        });
        out.u32(o.min_token_chars.min(u32::MAX as usize) as u32);
        out.u32(o.max_token_chars.min(u32::MAX as usize) as u32);
        out.f32(self.params.k1);
        out.f32(self.params.b);
        let custom: &[String] = match &o.stop_words {
            StopWords::Custom(list) => list,
            _ => &[],
        };
        out.u32(custom.len() as u32);
        for w in custom {
            out.str(w);
        }
        // Terms numbered by first appearance in slot order.
        let mut term_ids: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
        let mut terms: Vec<&str> = Vec::new();
        let mut docs: Vec<(u32, Vec<(u32, u32)>)> = Vec::with_capacity(self.len());
        for slot in 0..self.postings.slot_bound() as u32 {
            let Some(doc) = self.postings.doc_terms(slot) else { continue };
            let mut pairs: Vec<(u32, u32)> = doc
                .into_iter()
                .map(|(t, tf)| {
                    let id = *term_ids.entry(t).or_insert_with(|| {
                        terms.push(t);
                        terms.len() as u32 - 1
                    });
                    (id, tf)
                })
                .collect();
            pairs.sort_unstable();
            docs.push((slot, pairs));
        }
        out.u32(terms.len() as u32);
        for t in &terms {
            out.str(t);
        }
        out.u32(docs.len() as u32);
        for (slot, pairs) in docs {
            out.u32(slot);
            out.u32(pairs.len() as u32);
            for (id, tf) in pairs {
                out.u32(id);
                out.u32(tf);
            }
        }
    }

    /// Decodes what [`TextIndex::encode`] wrote, checking everything (options valid, terms
    /// distinct and non-empty, slots increasing and `live`, term ids increasing within a
    /// document, frequencies >= 1). Returns the index and the options it was built with.
    pub(crate) fn decode(bytes: &[u8], live: impl Fn(u32) -> bool) -> crate::Result<(TextIndex, TokenizerOptions, Bm25Params)> {
        use crate::encoding::{corrupt, Cursor};
        let mut c = Cursor::new(bytes, "TEXT");
        let flag = |b: u8, what: &str| match b {
            0 | 1 => Ok(b == 1),
            _ => Err(corrupt(format!("TEXT: {what} flag is {b}"))),
        };
        let lowercase = flag(c.u8()?, "lowercase")?;
        let normalize_unicode = flag(c.u8()?, "normalize")?;
        let stem_english = flag(c.u8()?, "stem")?;
        let stop_kind = c.u8()?;
        let min_token_chars = c.u32()? as usize;
        let max_token_chars = c.u32()? as usize;
        let params = Bm25Params { k1: c.f32()?, b: c.f32()? };
        let n_stop = c.count(4)?;
        let mut custom = Vec::with_capacity(n_stop);
        for _ in 0..n_stop {
            custom.push(c.str()?.to_string());
        }
        let stop_words = match stop_kind {
            0 if custom.is_empty() => StopWords::None,
            1 if custom.is_empty() => StopWords::English,
            2 => StopWords::Custom(custom),
            k => return Err(corrupt(format!("TEXT: stop word kind {k} with {n_stop} custom words"))),
        };
        let options = TokenizerOptions { lowercase, normalize_unicode, min_token_chars, max_token_chars, stop_words, stem_english };
        let mut index = TextIndex::new(options.clone(), params).map_err(|e| corrupt(format!("TEXT: {e}")))?;
        let n_terms = c.count(4)?;
        let mut terms: Vec<&str> = Vec::with_capacity(n_terms);
        let mut seen = std::collections::HashSet::with_capacity(n_terms);
        for _ in 0..n_terms {
            let t = c.str()?;
            if t.is_empty() || !seen.insert(t) {
                return Err(corrupt(format!("TEXT: term {t:?} is empty or repeated")));
            }
            terms.push(t);
        }
        let n_docs = c.count(8)?;
        let mut last: Option<u32> = None;
        let mut pairs: Vec<(&str, u32)> = Vec::new();
        for _ in 0..n_docs {
            let slot = c.u32()?;
            if last.is_some_and(|l| slot <= l) || !live(slot) {
                return Err(corrupt(format!("TEXT: slot {slot} is not live or out of order")));
            }
            last = Some(slot);
            let n = c.count(8)?;
            pairs.clear();
            let mut len = 0u64;
            let mut prev: Option<u32> = None;
            for _ in 0..n {
                let (id, tf) = (c.u32()?, c.u32()?);
                if id as usize >= terms.len() || prev.is_some_and(|p| id <= p) || tf == 0 {
                    return Err(corrupt(format!("TEXT: slot {slot} has a bad term {id} (frequency {tf})")));
                }
                prev = Some(id);
                len += u64::from(tf);
                pairs.push((terms[id as usize], tf));
            }
            index.postings.set_counts(slot, pairs.iter().copied(), u32::try_from(len).unwrap_or(u32::MAX));
        }
        c.finish()?;
        Ok((index, options, params))
    }
}

// ---- persistence (the TXTS section of docs/format.md) ----
impl TextIndex {
    /// Encodes the texts as given: their number, then (slot, text) in increasing slot order.
    pub(crate) fn encode_texts(&self, out: &mut crate::encoding::Le) {
        out.u32(self.original_count as u32);
        for (slot, text) in self.originals.iter().enumerate() {
            if let Some(text) = text {
                out.u32(slot as u32);
                out.str(text);
            }
        }
    }

    /// Decodes what [`TextIndex::encode_texts`] wrote into this index, decoded from the same
    /// file's TEXT: slots must increase and each must have a document here (so a text never
    /// names a slot that is not live). Their tokens are not compared with the postings: BM25
    /// scores what TEXT holds, and both sections are under checksums.
    pub(crate) fn decode_texts(&mut self, bytes: &[u8]) -> crate::Result<()> {
        use crate::encoding::{corrupt, Cursor};
        let mut c = Cursor::new(bytes, "TXTS");
        let n = c.count(8)?;
        let mut last: Option<u32> = None;
        for _ in 0..n {
            let slot = c.u32()?;
            if last.is_some_and(|l| slot <= l) || !self.postings.contains(slot) {
                return Err(corrupt(format!("TXTS: slot {slot} has no document in TEXT, or is out of order")));
            }
            last = Some(slot);
            let text = c.str()?;
            self.set_original(slot, Some(text.into()));
        }
        c.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f32, want: f64) -> bool {
        (f64::from(got) - want).abs() <= 1e-6 * want.abs().max(1.0)
    }

    fn tiny() -> TextIndex {
        let mut t = TextIndex::default();
        t.set(0, "The cat sat on the mat"); // cat sat mat        (dl 3)
        t.set(1, "The dog sat"); //            dog sat            (dl 2)
        t.set(2, "Cat, cat and dog!"); //      cat cat dog        (dl 3)
        t
    }

    /// BM25 by hand on the tiny corpus: N = 3, total length 8, avgdl = 8/3, k1 = 1.5, b = 0.75.
    /// df(cat) = 2, df(dog) = 2, df(sat) = 2, df(mat) = 1.
    /// idf(df=2) = ln(1 + (3 - 2 + 0.5) / (2 + 0.5)) = ln(1.6)
    /// idf(df=1) = ln(1 + (3 - 1 + 0.5) / (1 + 0.5)) = ln(1 + 2.5/1.5) = ln(8/3)
    /// norm(dl) = k1 * (1 - b + b * dl / avgdl):
    ///   norm(3) = 1.5 * (0.25 + 0.75 * 3 / (8/3)) = 1.5 * (0.25 + 0.84375) = 1.640625
    ///   norm(2) = 1.5 * (0.25 + 0.75 * 2 / (8/3)) = 1.5 * (0.25 + 0.5625)  = 1.21875
    #[test]
    fn scores_match_bm25_by_hand() {
        let t = tiny();
        let idf2 = 1.6f64.ln();
        let idf1 = (8.0f64 / 3.0).ln();
        let (n3, n2) = (1.640625, 1.21875);

        // "cat": d2 (tf 2, dl 3) = ln1.6 * 2 / (2 + 1.640625) = 0.470004 * 0.549356 = 0.258200
        //        d0 (tf 1, dl 3) = ln1.6 * 1 / (1 + 1.640625) = 0.470004 * 0.378698 = 0.177990
        let hits = t.search("cat", 10, None);
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), [2, 0]);
        assert!(close(hits[0].1, idf2 * 2.0 / (2.0 + n3)), "{hits:?}");
        assert!(close(hits[1].1, idf2 * 1.0 / (1.0 + n3)), "{hits:?}");
        assert!(close(hits[0].1, 0.258_200), "{hits:?}");

        // "cat dog": d2 = cat part + ln1.6 * 1 / (1 + 1.640625)        = 0.436190
        //            d1 = ln1.6 * 1 / (1 + 1.21875) = 0.470004 * 0.450704 = 0.211833
        //            d0 = the "cat" score above                          = 0.177990
        let hits = t.search("cat dog", 10, None);
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), [2, 1, 0]);
        assert!(close(hits[0].1, idf2 * (2.0 / (2.0 + n3) + 1.0 / (1.0 + n3))));
        assert!(close(hits[1].1, idf2 / (1.0 + n2)));
        assert!(close(hits[2].1, idf2 / (1.0 + n3)));

        // "mat sat": d0 = ln(8/3)/(1 + n3) + ln1.6/(1 + n3) = (0.980829 + 0.470004) * 0.378698
        //           d1 = ln1.6 / (1 + n2)
        let hits = t.search("MAT, sat", 10, None);
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), [0, 1]);
        assert!(close(hits[0].1, (idf1 + idf2) / (1.0 + n3)));
        assert!(close(hits[0].1, 0.549_428), "{}", hits[0].1);
        assert!(close(hits[1].1, idf2 / (1.0 + n2)));

        // A repeated query word counts twice.
        let twice = t.search("cat cat", 10, None);
        assert!(close(twice[0].1, 2.0 * idf2 * 2.0 / (2.0 + n3)));
    }

    #[test]
    fn other_parameters_and_the_k1_zero_limit() {
        let mut t = tiny();
        t.set_params(Bm25Params { k1: 1.2, b: 0.0 }).unwrap();
        // b = 0: no length normalisation, norm = k1 = 1.2 everywhere.
        let hits = t.search("cat", 10, None);
        assert!(close(hits[0].1, 1.6f64.ln() * 2.0 / 3.2));
        assert!(close(hits[1].1, 1.6f64.ln() * 1.0 / 2.2));
        // k1 = 0: tf / tf = 1, the score is the sum of idfs.
        t.set_params(Bm25Params { k1: 0.0, b: 0.75 }).unwrap();
        let hits = t.search("cat", 10, None);
        assert_eq!(hits, [(0, 1.6f64.ln() as f32), (2, 1.6f64.ln() as f32)], "equal scores: lower slot first");
        assert!(t.set_params(Bm25Params { k1: -1.0, b: 0.5 }).is_err());
        assert_eq!(t.params(), Bm25Params { k1: 0.0, b: 0.75 });
        assert!(TextIndex::new(TokenizerOptions::default(), Bm25Params { k1: 1.0, b: 2.0 }).is_err());
    }

    #[test]
    fn k_filter_and_ties() {
        let mut t = TextIndex::default();
        for slot in [7, 3, 5, 1] {
            t.set(slot, "same words here");
        }
        t.set(4, "other text");
        let hits = t.search("words", 10, None);
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), [1, 3, 5, 7], "ties by lower slot");
        assert_eq!(t.search("words", 2, None).iter().map(|h| h.0).collect::<Vec<_>>(), [1, 3]);
        assert!(t.search("words", 0, None).is_empty());
        let above_3 = |s: u32| s > 3;
        assert_eq!(t.search("words", 10, Some(&above_3)).iter().map(|h| h.0).collect::<Vec<_>>(), [5, 7]);
        assert_eq!(t.search("words", 1, Some(&above_3)).iter().map(|h| h.0).collect::<Vec<_>>(), [5]);
        let none = |_: u32| false;
        assert!(t.search("words", 10, Some(&none)).is_empty());
        // A filter that searches the same index on the same thread.
        let nested = |s: u32| t.search("other", 1, None).first().map(|h| h.0) != Some(s);
        assert_eq!(t.search("words other", 10, Some(&nested)).len(), 4);
    }

    #[test]
    fn empty_queries_and_empty_index() {
        let t = tiny();
        for q in ["", "   ", "!!!", "the of and", "a", "zebra", "🙂"] {
            assert!(t.search(q, 10, None).is_empty(), "{q:?}");
        }
        let empty = TextIndex::default();
        assert!(empty.search("cat", 10, None).is_empty());
        assert!(empty.is_empty());
        // Documents without any token: counted, never matched.
        let mut blank = TextIndex::default();
        blank.set(0, "");
        blank.set(1, "the");
        assert_eq!(blank.len(), 2);
        assert!(blank.search("the", 10, None).is_empty());
    }

    #[test]
    fn non_ascii_queries() {
        let mut t = TextIndex::default();
        t.set(0, "Un éclair au chocolat");
        t.set(1, "Tokyo 東京 Osaka 大阪");
        t.set(2, "E\u{301}CLAIR decomposed"); // NFKC composes it to "éclair"
        t.set(3, "ΟΔΟΣ street");
        // Slot 2 is shorter (2 tokens against 4), so it ranks first.
        assert_eq!(t.search("Éclair", 10, None).iter().map(|h| h.0).collect::<Vec<_>>(), [2, 0]);
        assert_eq!(t.search("éclair", 10, None).len(), 2);
        assert_eq!(t.search("東京", 10, None).iter().map(|h| h.0).collect::<Vec<_>>(), [1]);
        assert!(t.search("京", 10, None).is_empty(), "no CJK segmentation: single ideographs are too short");
        assert_eq!(t.search("οδος", 10, None).iter().map(|h| h.0).collect::<Vec<_>>(), [3]);
        assert!(t.search("eclair", 10, None).is_empty(), "accents are kept");
    }

    #[test]
    fn set_replace_remove_keep_statistics_exact() {
        let mut t = TextIndex::default();
        t.set(0, "alpha beta gamma");
        t.set(1, "beta beta delta");
        t.set(2, "gamma epsilon");
        t.set(3, "alpha alpha alpha zeta");
        t.set(1, "epsilon only"); // replace
        t.remove(0);
        t.set(4, "beta gamma");
        t.set(0, "theta"); // reuse slot 0
        t.remove(9); // absent
        t.set(2, "gamma epsilon"); // same text again
        t.postings().check_invariants().unwrap();

        let mut fresh = TextIndex::default();
        fresh.set(0, "theta");
        fresh.set(1, "epsilon only");
        fresh.set(2, "gamma epsilon");
        fresh.set(3, "alpha alpha alpha zeta");
        fresh.set(4, "beta gamma");
        let (p, f) = (t.postings(), fresh.postings());
        assert_eq!((p.doc_count(), p.total_len()), (f.doc_count(), f.total_len()));
        assert_eq!(p.avg_doc_len(), f.avg_doc_len());
        let mut dp: Vec<_> = p.doc_freqs().collect();
        let mut df: Vec<_> = f.doc_freqs().collect();
        dp.sort();
        df.sort();
        assert_eq!(dp, df);
        for q in ["alpha", "beta", "gamma epsilon", "theta zeta beta", "delta"] {
            assert_eq!(t.search(q, 10, None), fresh.search(q, 10, None), "{q}");
        }
        assert!(t.search("delta", 10, None).is_empty());
        assert!(t.contains(0) && !t.contains(9));
    }

    /// Documents dealt over three shards and scored with the shards' summed statistics get
    /// exactly (bit for bit) the scores of one index holding them all; a shard's own
    /// statistics give other scores; statistics of another query are refused.
    #[test]
    fn summed_corpus_statistics_score_as_one_index() {
        let words = ["apple", "banana", "cherry", "date", "elder", "fig", "grape"];
        let docs: Vec<String> = (0..60usize)
            .map(|i| (0..1 + i % 7).map(|j| words[(i * 3 + j * j) % words.len()]).collect::<Vec<_>>().join(" "))
            .collect();
        let mut whole = TextIndex::default();
        let mut shards: Vec<TextIndex> = (0..3).map(|_| TextIndex::default()).collect();
        for (i, d) in docs.iter().enumerate() {
            whole.set(i as u32, d);
            shards[i % 3].set((i / 3) as u32, d);
        }
        let query = "banana fig fig grape kiwi";
        let mut corpus = shards[0].stats(query);
        for shard in &shards[1..] {
            corpus.add(&shard.stats(query)).unwrap();
        }
        assert_eq!(corpus, whole.stats(query));
        assert_eq!(corpus.doc_freqs.len(), 4, "banana fig grape kiwi");
        let want = whole.search(query, 100, None);
        let mut got: Vec<(u32, f32)> = Vec::new();
        for (s, shard) in shards.iter().enumerate() {
            for (slot, score) in shard.search_with(query, 100, None, &corpus).unwrap() {
                got.push((slot * 3 + s as u32, score));
            }
        }
        got.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        assert_eq!(got, want);
        let local = shards[1].search(query, 100, None);
        assert!(local.iter().any(|&(slot, score)| want.iter().any(|&(w, ws)| w == slot * 3 + 1 && ws != score)));
        let other = shards[0].stats("apple");
        assert!(shards[0].search_with(query, 10, None, &other).is_err());
        assert!(corpus.clone().add(&other).is_err());
        let inflated = CorpusStats { docs: 1, ..corpus.clone() };
        assert!(shards[0].search_with(query, 10, None, &inflated).is_err(), "df above docs");
        let mut below = shards[0].stats(query);
        below.tokens -= 1;
        assert!(shards[0].search_with(query, 10, None, &below).is_err(), "below the local counts");
        assert!(shards[0].search_with(query, 10, None, &shards[0].stats(query)).is_ok(), "one shard alone");
    }

    #[test]
    fn texts_as_given_follow_set_and_remove_and_round_trip() {
        let mut t = TextIndex::default();
        let base = t.memory_bytes();
        t.set(3, "The Cat sat, on the mat!");
        t.set(0, "");
        t.set(5, "nul \0 inside and 東京");
        assert_eq!(t.text(3), Some("The Cat sat, on the mat!"), "kept as given, not as tokenized");
        assert_eq!(t.text(0), Some(""), "an empty text is a text");
        assert_eq!(t.text(5), Some("nul \0 inside and 東京"));
        assert_eq!((t.text(1), t.text(99)), (None, None));
        assert!(t.has_texts() && t.memory_bytes() >= base + 24 + 23);
        t.set(3, "replaced");
        assert_eq!(t.text(3), Some("replaced"));
        assert!(t.search("cat", 10, None).is_empty(), "the old text's terms went with it");
        let before = t.memory_bytes();
        assert!(t.remove(5));
        assert_eq!(t.text(5), None);
        assert!(t.memory_bytes() < before);

        // TEXT and TXTS decode back to the same texts; a slot without a document in TEXT,
        // slots out of order, a bad count or leftover bytes are corruption.
        let mut text = crate::encoding::Le::default();
        t.encode(&mut text);
        let mut txts = crate::encoding::Le::default();
        t.encode_texts(&mut txts);
        let live = |s: u32| s == 0 || s == 3;
        let (mut back, _, _) = TextIndex::decode(&text.0, live).unwrap();
        assert_eq!(back.text(3), None, "TEXT alone (a file of format 6 or older): postings, no texts");
        assert_eq!(back.search("replaced", 10, None).iter().map(|h| h.0).collect::<Vec<_>>(), [3]);
        assert!(!back.has_texts());
        back.decode_texts(&txts.0).unwrap();
        assert_eq!((back.text(0), back.text(3), back.text(5)), (Some(""), Some("replaced"), None));
        assert!(back.has_texts());
        let entry = |slot: u32, s: &str| {
            let mut e = crate::encoding::Le::default();
            e.u32(slot);
            e.str(s);
            e.0
        };
        let section = |count: u32, entries: &[Vec<u8>]| {
            let mut e = crate::encoding::Le::default();
            e.u32(count);
            entries.iter().for_each(|x| e.0.extend_from_slice(x));
            e.0
        };
        let bad: [(&str, Vec<u8>); 6] = [
            ("a slot without a document", section(1, &[entry(1, "x")])),
            ("a slot out of range", section(1, &[entry(u32::MAX, "x")])),
            ("slots out of order", section(2, &[entry(3, "x"), entry(0, "y")])),
            ("a slot twice", section(2, &[entry(0, "x"), entry(0, "y")])),
            ("a count larger than the section", section(u32::MAX, &[entry(0, "x")])),
            ("bytes left over", [section(1, &[entry(0, "x")]), vec![0]].concat()),
        ];
        for (what, bytes) in bad {
            let (mut fresh, _, _) = TextIndex::decode(&text.0, live).unwrap();
            assert!(matches!(fresh.decode_texts(&bytes), Err(crate::Error::Corrupt(_))), "{what}");
        }
        let mut not_utf8 = section(1, &[entry(0, "xy")]);
        *not_utf8.last_mut().unwrap() = 0xFF;
        let (mut fresh, _, _) = TextIndex::decode(&text.0, live).unwrap();
        assert!(matches!(fresh.decode_texts(&not_utf8), Err(crate::Error::Corrupt(_))), "not UTF-8");
    }

    #[test]
    fn text_index_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<TextIndex>();
    }
}
