//! The inverted index: term -> postings (slot, term frequency), plus per-document lengths and
//! the corpus statistics BM25 needs (document count, total length).
//!
//! Documents are keyed by slot (the index's dense `u32` record id). Invariants, checked by
//! [`Postings::check_invariants`]:
//! - a slot appears at most once in a term's postings, with `tf >= 1`;
//! - a term's document frequency is exactly the length of its postings, and a term with no
//!   posting is forgotten (its id is reused), so the vocabulary does not grow under churn;
//! - `doc_count` counts the slots that hold a document (one with no token counts too: it is a
//!   document of length 0), and `total_len` is the sum of their lengths;
//! - every document keeps its (term, position in that term's postings) pairs sorted by term,
//!   so [`Postings::remove`] costs O(terms of the document x log), whatever the corpus size.
//!
//! Postings are not kept in slot order: removal swaps the last posting into the hole.
//! Scoring accumulates per slot, so order does not matter there.

use std::collections::HashMap;

/// One posting: a document holding the term, and how many times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Posting {
    /// The document's slot.
    pub slot: u32,
    /// Occurrences of the term in the document (>= 1).
    pub tf: u32,
}

/// A stored document: its length and where its postings are.
#[derive(Clone, Debug, Default)]
struct Doc {
    /// Token count (repeats included).
    len: u32,
    /// (term id, position in that term's postings), sorted by term id.
    terms: Box<[(u32, u32)]>,
}

/// Term -> postings for documents keyed by slot. Not synchronised: the owner puts it behind
/// a lock (searches take `&self`, changes `&mut self`).
#[derive(Clone, Debug, Default)]
pub struct Postings {
    /// Term text -> term id.
    ids: HashMap<Box<str>, u32>,
    /// Term id -> text ("" when the id is free).
    names: Vec<Box<str>>,
    /// Term id -> postings (empty when the id is free).
    lists: Vec<Vec<Posting>>,
    /// Term ids with no posting, ready for reuse.
    free_ids: Vec<u32>,
    /// Slot -> document (None: no document in that slot).
    docs: Vec<Option<Doc>>,
    /// Slot -> document length (0 where no document): read by scoring, kept dense for speed.
    lens: Vec<u32>,
    doc_count: usize,
    total_len: u64,
}

impl Postings {
    /// An empty index.
    pub fn new() -> Postings {
        Postings::default()
    }

    /// Stores `tokens` as the document of `slot`, replacing the one it held.
    pub fn set<S: AsRef<str>>(&mut self, slot: u32, tokens: &[S]) {
        let mut counts: HashMap<&str, u32> = HashMap::with_capacity(tokens.len());
        for t in tokens {
            *counts.entry(t.as_ref()).or_insert(0) += 1;
        }
        let len = u32::try_from(tokens.len()).unwrap_or(u32::MAX);
        self.set_counts(slot, counts, len);
    }

    /// Stores the document of `slot` as (distinct term, frequency) pairs and its length (the
    /// sum of the frequencies), replacing the one it held. For `set`, and for loading a file.
    pub(crate) fn set_counts<'t>(&mut self, slot: u32, counts: impl IntoIterator<Item = (&'t str, u32)>, len: u32) {
        self.remove(slot);
        let mut terms: Vec<(u32, u32)> = Vec::new();
        for (term, tf) in counts {
            let id = self.term_id_or_insert(term);
            let list = &mut self.lists[id as usize];
            terms.push((id, list.len() as u32));
            list.push(Posting { slot, tf });
        }
        terms.sort_unstable();
        let i = slot as usize;
        if self.docs.len() <= i {
            self.docs.resize(i + 1, None);
            self.lens.resize(i + 1, 0);
        }
        self.docs[i] = Some(Doc { len, terms: terms.into_boxed_slice() });
        self.lens[i] = len;
        self.doc_count += 1;
        self.total_len += u64::from(len);
    }

    /// Drops the document of `slot`; returns whether there was one.
    pub fn remove(&mut self, slot: u32) -> bool {
        let Some(doc) = self.docs.get_mut(slot as usize).and_then(Option::take) else {
            return false;
        };
        self.lens[slot as usize] = 0;
        self.doc_count -= 1;
        self.total_len -= u64::from(doc.len);
        for &(term, pos) in doc.terms.iter() {
            let list = &mut self.lists[term as usize];
            debug_assert_eq!(list[pos as usize].slot, slot);
            list.swap_remove(pos as usize);
            if let Some(moved) = list.get(pos as usize) {
                // The last posting moved into the hole: tell its document.
                let other = self.docs[moved.slot as usize].as_mut().expect("a posting's document exists");
                let at = other.terms.binary_search_by_key(&term, |e| e.0).expect("the document lists the term");
                other.terms[at].1 = pos;
            }
            if list.is_empty() {
                list.shrink_to_fit();
                let name = std::mem::take(&mut self.names[term as usize]);
                self.ids.remove(&name);
                self.free_ids.push(term);
            }
        }
        true
    }

    fn term_id_or_insert(&mut self, term: &str) -> u32 {
        if let Some(&id) = self.ids.get(term) {
            return id;
        }
        let id = match self.free_ids.pop() {
            Some(id) => {
                self.names[id as usize] = term.into();
                id
            }
            None => {
                self.names.push(term.into());
                self.lists.push(Vec::new());
                u32::try_from(self.names.len() - 1).expect("fewer than 2^32 distinct terms")
            }
        };
        self.ids.insert(term.into(), id);
        id
    }

    /// Whether `slot` holds a document.
    pub fn contains(&self, slot: u32) -> bool {
        matches!(self.docs.get(slot as usize), Some(Some(_)))
    }

    /// Number of documents (N in BM25).
    pub fn doc_count(&self) -> usize {
        self.doc_count
    }

    /// Sum of the document lengths, in tokens.
    pub fn total_len(&self) -> u64 {
        self.total_len
    }

    /// Mean document length (avgdl in BM25); 0 for an empty index.
    pub fn avg_doc_len(&self) -> f64 {
        if self.doc_count == 0 {
            0.0
        } else {
            self.total_len as f64 / self.doc_count as f64
        }
    }

    /// Length in tokens of the document of `slot`, if there is one.
    pub fn doc_len(&self, slot: u32) -> Option<u32> {
        self.docs.get(slot as usize)?.as_ref().map(|d| d.len)
    }

    /// Slot -> length for every slot below [`Postings::slot_bound`] (0 where no document).
    pub fn doc_lens(&self) -> &[u32] {
        &self.lens
    }

    /// One past the highest slot that ever held a document: slots seen in postings are below.
    pub fn slot_bound(&self) -> usize {
        self.docs.len()
    }

    /// Number of distinct terms.
    pub fn term_count(&self) -> usize {
        self.ids.len()
    }

    /// The postings of `term` (empty if unknown), in no particular order.
    pub fn postings(&self, term: &str) -> &[Posting] {
        match self.ids.get(term) {
            Some(&id) => &self.lists[id as usize],
            None => &[],
        }
    }

    /// Number of documents holding `term` (df in BM25).
    pub fn doc_freq(&self, term: &str) -> usize {
        self.postings(term).len()
    }

    /// Every (term, document frequency) pair, in no particular order.
    pub fn doc_freqs(&self) -> impl Iterator<Item = (&str, usize)> + '_ {
        self.ids.iter().map(|(t, &id)| (&**t, self.lists[id as usize].len()))
    }

    /// The terms of the document of `slot` with their frequencies, sorted by term.
    pub fn doc_terms(&self, slot: u32) -> Option<Vec<(&str, u32)>> {
        let doc = self.docs.get(slot as usize)?.as_ref()?;
        let mut out: Vec<(&str, u32)> = doc
            .terms
            .iter()
            .map(|&(term, pos)| (&*self.names[term as usize], self.lists[term as usize][pos as usize].tf))
            .collect();
        out.sort_unstable();
        Some(out)
    }

    /// Approximate heap bytes held.
    pub fn memory_bytes(&self) -> usize {
        let postings: usize = self.lists.iter().map(|l| l.capacity() * std::mem::size_of::<Posting>()).sum();
        let names: usize = self.names.iter().map(|n| 2 * n.len() + 2 * std::mem::size_of::<Box<str>>() + 4).sum();
        let docs: usize = self.docs.iter().flatten().map(|d| d.terms.len() * 8).sum();
        postings + names + docs + self.docs.capacity() * std::mem::size_of::<Option<Doc>>() + self.lens.capacity() * 4
    }

    /// Checks every invariant of the module doc; the error says which one failed.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut n = 0usize;
        let mut total = 0u64;
        let mut postings_seen = 0usize;
        for (slot, doc) in self.docs.iter().enumerate() {
            let Some(doc) = doc else {
                if self.lens[slot] != 0 {
                    return Err(format!("empty slot {slot} has length {}", self.lens[slot]));
                }
                continue;
            };
            n += 1;
            total += u64::from(doc.len);
            if self.lens[slot] != doc.len {
                return Err(format!("slot {slot}: dense length {} != {}", self.lens[slot], doc.len));
            }
            let mut tf_sum = 0u64;
            for (i, &(term, pos)) in doc.terms.iter().enumerate() {
                if i > 0 && doc.terms[i - 1].0 >= term {
                    return Err(format!("slot {slot}: terms not sorted"));
                }
                let p = self.lists.get(term as usize).and_then(|l| l.get(pos as usize));
                match p {
                    Some(p) if p.slot == slot as u32 && p.tf >= 1 => tf_sum += u64::from(p.tf),
                    _ => return Err(format!("slot {slot}: term {term} position {pos} does not point back")),
                }
                postings_seen += 1;
            }
            if tf_sum != u64::from(doc.len) {
                return Err(format!("slot {slot}: term frequencies add to {tf_sum}, length is {}", doc.len));
            }
        }
        if n != self.doc_count || total != self.total_len {
            return Err(format!("counts: {n} docs / {total} tokens, stored {} / {}", self.doc_count, self.total_len));
        }
        let total_postings: usize = self.lists.iter().map(Vec::len).sum();
        if total_postings != postings_seen {
            return Err(format!("{total_postings} postings, documents account for {postings_seen}"));
        }
        for (id, list) in self.lists.iter().enumerate() {
            let name = &self.names[id];
            let free = self.free_ids.contains(&(id as u32));
            if list.is_empty() != free || name.is_empty() != free {
                return Err(format!("term id {id}: free = {free}, {} postings, name {name:?}", list.len()));
            }
            if !free && self.ids.get(name) != Some(&(id as u32)) {
                return Err(format!("term {name:?} does not map back to id {id}"));
            }
        }
        if self.ids.len() + self.free_ids.len() != self.lists.len() {
            return Err("term map, free list and postings disagree in size".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<&str> {
        s.split_whitespace().collect()
    }

    /// (doc count, total length, sorted (term, df), per slot its sorted (term, tf)).
    type Stats = (usize, u64, Vec<(String, usize)>, Vec<(u32, Vec<(String, u32)>)>);

    /// The statistics that BM25 reads, in a form two indexes can be compared by.
    fn stats(p: &Postings) -> Stats {
        let mut df: Vec<(String, usize)> = p.doc_freqs().map(|(t, n)| (t.to_string(), n)).collect();
        df.sort();
        let docs = (0..p.slot_bound() as u32)
            .filter_map(|s| p.doc_terms(s).map(|t| (s, t.into_iter().map(|(a, b)| (a.to_string(), b)).collect())))
            .collect();
        (p.doc_count(), p.total_len(), df, docs)
    }

    #[test]
    fn set_counts_terms_and_lengths() {
        let mut p = Postings::new();
        p.set(3, &toks("a b a c"));
        p.set(0, &toks("b"));
        assert_eq!(p.doc_count(), 2);
        assert_eq!(p.total_len(), 5);
        assert_eq!(p.avg_doc_len(), 2.5);
        assert_eq!(p.doc_freq("a"), 1);
        assert_eq!(p.doc_freq("b"), 2);
        assert_eq!(p.doc_freq("zzz"), 0);
        assert_eq!(p.postings("a"), &[Posting { slot: 3, tf: 2 }]);
        assert_eq!(p.doc_len(3), Some(4));
        assert_eq!(p.doc_len(1), None);
        assert_eq!(p.doc_lens(), &[1, 0, 0, 4]);
        assert_eq!(p.doc_terms(3).unwrap(), [("a", 2), ("b", 1), ("c", 1)]);
        p.check_invariants().unwrap();
    }

    #[test]
    fn empty_document_counts_as_a_document_of_length_zero() {
        let mut p = Postings::new();
        p.set(0, &toks("x y"));
        p.set(1, &[] as &[&str]);
        assert_eq!(p.doc_count(), 2);
        assert_eq!(p.avg_doc_len(), 1.0);
        assert!(p.contains(1));
        assert!(p.remove(1));
        assert!(!p.contains(1));
        assert!(!p.remove(1));
        assert!(!p.remove(99));
        p.check_invariants().unwrap();
    }

    #[test]
    fn replace_and_remove_match_a_fresh_build() {
        let mut p = Postings::new();
        p.set(0, &toks("red green blue"));
        p.set(1, &toks("red red yellow"));
        p.set(2, &toks("green cyan"));
        p.set(5, &toks("blue blue blue magenta"));
        p.set(1, &toks("cyan")); // replace: "yellow" disappears, red's df drops to 1
        p.remove(0); // red's df drops to 0
        p.set(0, &toks("black")); // slot reused
        p.set(2, &toks("green cyan")); // same text again
        p.remove(7); // nothing there
        p.check_invariants().unwrap();
        assert_eq!(p.doc_freq("red"), 0);
        assert_eq!(p.doc_freq("yellow"), 0);
        assert_eq!(p.doc_freq("cyan"), 2);

        let mut fresh = Postings::new();
        fresh.set(0, &toks("black"));
        fresh.set(1, &toks("cyan"));
        fresh.set(2, &toks("green cyan"));
        fresh.set(5, &toks("blue blue blue magenta"));
        assert_eq!(stats(&p), stats(&fresh));
        assert_eq!(p.avg_doc_len(), fresh.avg_doc_len());
        assert_eq!(p.term_count(), fresh.term_count());
    }

    #[test]
    fn churn_keeps_invariants_and_reuses_term_ids() {
        // Deterministic pseudo-random churn over 50 slots and a 30-word vocabulary.
        let words: Vec<String> = (0..30).map(|i| format!("w{i}")).collect();
        let mut s = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let mut p = Postings::new();
        let mut truth: Vec<Option<Vec<String>>> = vec![None; 50];
        for _ in 0..3000 {
            let slot = (next() % 50) as usize;
            if next() % 4 == 0 {
                p.remove(slot as u32);
                truth[slot] = None;
            } else {
                let n = (next() % 8) as usize;
                let doc: Vec<String> = (0..n).map(|_| words[(next() % 30) as usize].clone()).collect();
                p.set(slot as u32, &doc);
                truth[slot] = Some(doc);
            }
        }
        p.check_invariants().unwrap();
        let mut fresh = Postings::new();
        for (slot, doc) in truth.iter().enumerate() {
            if let Some(doc) = doc {
                fresh.set(slot as u32, doc);
            }
        }
        assert_eq!(stats(&p), stats(&fresh));
        assert!(p.lists.len() <= 30, "term ids are reused: {} ids for 30 words", p.lists.len());
        for slot in 0..50 {
            p.remove(slot);
        }
        p.check_invariants().unwrap();
        assert_eq!((p.doc_count(), p.total_len(), p.term_count()), (0, 0, 0));
    }
}
