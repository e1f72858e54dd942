//! Per-thread search scratch: a visited set with a generation counter, and the beam: two
//! heaps, or one sorted array (`SortedBeam`) where nothing is turned away. Kept in a
//! thread-local so a search allocates nothing after warm-up.

use std::cell::RefCell;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// A node and its distance to the query, ordered by distance (ties by id, for determinism).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate {
    /// Distance to the query.
    pub dist: f32,
    /// Slot id.
    pub id: u32,
}

impl Eq for Candidate {}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.dist.total_cmp(&other.dist).then_with(|| self.id.cmp(&other.id))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// "Seen" marks for slot ids: a slot is visited when its mark equals the current generation,
/// so clearing the set is one increment instead of a pass over memory.
#[derive(Default)]
pub struct VisitedSet {
    /// One byte a slot: half the cache footprint of u16 marks (a search's mark loads miss the
    /// cache more than anything else in its loop); clearing every 255 searches is cheap.
    marks: Vec<u8>,
    generation: u8,
}

impl VisitedSet {
    #[cold]
    fn grow(&mut self, capacity: usize) {
        // New marks are 0, never a live generation (generations start at 1).
        self.marks.resize(capacity.next_power_of_two(), 0);
    }

    /// Starts a new search over slots `0..capacity`.
    pub fn reset(&mut self, capacity: usize) {
        if self.marks.len() < capacity {
            self.marks.resize(capacity.next_power_of_two(), 0);
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.marks.fill(0);
            self.generation = 1;
        }
    }

    /// Marks `id`; returns true if it was not marked yet in this generation. An id past the
    /// capacity given to `reset` grows the set: a node inserted by another thread after the
    /// search read the capacity hint can be reached through a link published meanwhile.
    #[inline]
    pub fn insert(&mut self, id: u32) -> bool {
        if id as usize >= self.marks.len() {
            self.grow(id as usize + 1);
        }
        let m = &mut self.marks[id as usize];
        if *m == self.generation {
            false
        } else {
            *m = self.generation;
            true
        }
    }
}

/// Widest beam kept in a [`SortedBeam`]: each insert moves up to `ef` entries of 12 bytes,
/// where a heap does log(ef) steps, so a far wider beam (`ef` may reach 2^20) keeps the heaps.
pub const SORTED_BEAM_MAX_EF: usize = 512;

/// A beam held as one array, nearest first (ties by id) and at most `ef` long, each entry
/// marked once it is expanded: the frontier and the results in one place (layer-0 searches
/// and inserts that turn nothing away: `Graph::beam_search_sorted`,
/// `Graph::beam_search_codes_sorted`). A node that would not be among the `ef` best is never
/// stored, and the best unexpanded one is found by a cursor that only moves back when an
/// insert lands before it. An insert moves the entries after it, so wide beams
/// (`SORTED_BEAM_MAX_EF`) keep the heaps.
#[derive(Default)]
pub struct SortedBeam {
    entries: Vec<(Candidate, bool)>,
    /// No entry before this position is unexpanded.
    cursor: usize,
    ef: usize,
}

impl SortedBeam {
    /// Starts an empty beam of width `ef` (at least 1).
    pub fn reset(&mut self, ef: usize) {
        self.entries.clear();
        self.cursor = 0;
        self.ef = ef.max(1);
    }

    /// The distance a node must beat to enter: the farthest entry's once full, else infinite.
    #[inline]
    pub fn bound(&self) -> f32 {
        if self.entries.len() < self.ef {
            f32::INFINITY
        } else {
            self.entries[self.entries.len() - 1].0.dist
        }
    }

    /// Puts `c` in its place, dropping the farthest entry when full. The caller has checked
    /// `c.dist < self.bound()`.
    #[inline]
    pub fn insert(&mut self, c: Candidate) {
        if self.entries.len() >= self.ef {
            self.entries.pop();
        }
        let at = self.entries.partition_point(|(e, _)| *e < c);
        self.entries.insert(at, (c, false));
        self.cursor = self.cursor.min(at);
    }

    /// The nearest entry not expanded yet, now marked expanded; None when all are.
    #[inline]
    pub fn expand_next(&mut self) -> Option<Candidate> {
        while let Some((c, expanded)) = self.entries.get_mut(self.cursor) {
            self.cursor += 1;
            if !*expanded {
                *expanded = true;
                return Some(*c);
            }
        }
        None
    }

    /// The entry after the one `expand_next` returned last, when it is unexpanded: likely the next.
    #[inline]
    pub fn peek_after(&self) -> Option<u32> {
        self.entries.get(self.cursor).filter(|(_, expanded)| !expanded).map(|(c, _)| c.id)
    }

    /// Moves the entries, nearest first, to the end of `out`.
    pub fn drain_into(&mut self, out: &mut Vec<Candidate>) {
        out.extend(self.entries.drain(..).map(|(c, _)| c));
    }
}

/// Everything one search needs besides the graph.
#[derive(Default)]
pub struct Scratch {
    /// Visited slots.
    pub visited: VisitedSet,
    /// Frontier, nearest first.
    pub candidates: BinaryHeap<Reverse<Candidate>>,
    /// Best results so far, farthest on top.
    pub results: BinaryHeap<Candidate>,
    /// A copy of one node's neighbour list.
    pub neighbors: Vec<u32>,
    /// The query after normalisation (cosine).
    pub query: Vec<f32>,
    /// Sorted output of a layer search.
    pub found: Vec<Candidate>,
    /// Entry points of the layer-0 beam.
    pub entries: Vec<Candidate>,
    /// Every node a pooled beam evaluated (see `Graph::knn`); in a search on neighbour codes,
    /// every node it reached (the candidates for the final exact re-score).
    pub pool: Vec<Candidate>,
    /// The query prepared for scoring neighbour codes (see `hnsw::codes`).
    pub code_query: super::codes::CodeQuery,
    /// Approximate distances of the neighbours at `positions`.
    pub code_dists: Vec<f32>,
    /// Link positions of the unvisited neighbours of the node being expanded.
    pub positions: Vec<u32>,
    /// The beam where nothing is turned away (see `SortedBeam`).
    pub beam: SortedBeam,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs `f` with this thread's scratch (a fresh one if it is already in use, e.g. re-entrantly).
pub fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut s) => f(&mut s),
        Err(_) => f(&mut Scratch::default()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visited_set_clears_by_generation_and_survives_wraparound() {
        let mut v = VisitedSet::default();
        v.reset(10);
        assert!(v.insert(3));
        assert!(!v.insert(3));
        for _ in 0..70_000 {
            v.reset(10);
            assert!(v.insert(3));
        }
    }

    #[test]
    fn sorted_beam_keeps_the_best_and_expands_nearest_first() {
        let c = |dist: f32, id: u32| Candidate { dist, id };
        let mut beam = SortedBeam::default();
        beam.reset(3);
        assert_eq!(beam.bound(), f32::INFINITY);
        for e in [c(5.0, 5), c(1.0, 1), c(3.0, 3)] {
            beam.insert(e);
        }
        assert_eq!(beam.bound(), 5.0, "full: the farthest is the bound");
        assert_eq!(beam.expand_next(), Some(c(1.0, 1)));
        assert_eq!(beam.peek_after(), Some(3));
        beam.insert(c(2.0, 2)); // drops 5, lands after the expanded 1
        assert_eq!(beam.bound(), 3.0);
        assert_eq!(beam.expand_next(), Some(c(2.0, 2)));
        beam.insert(c(0.5, 0)); // before everything expanded so far: next again
        assert_eq!(beam.expand_next(), Some(c(0.5, 0)));
        assert_eq!(beam.peek_after(), None, "1 and 2 are expanded");
        assert_eq!(beam.expand_next(), None, "3 fell out when 0.5 came in");
        let mut out = Vec::new();
        beam.drain_into(&mut out);
        assert_eq!(out, vec![c(0.5, 0), c(1.0, 1), c(2.0, 2)]);
    }

    #[test]
    fn visited_set_grows_for_ids_past_its_capacity() {
        let mut v = VisitedSet::default();
        v.reset(10);
        assert!(v.insert(3));
        // A slot allocated after the search read its capacity hint.
        assert!(v.insert(5000));
        assert!(!v.insert(5000));
        assert!(!v.insert(3));
    }
}
