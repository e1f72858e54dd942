//! Metadata filters: per-record metadata (a flat JSON object), per-field indexes, and a small
//! filter language parsed once into an AST and evaluated to the set of matching slots.
//!
//! - [`value`]: what metadata may hold (strings, integers within ±2^53, finite floats,
//!   booleans, lists of strings), read from JSON with a message naming any refused field.
//! - [`parse`]: filter text -> [`Filter`]; errors carry the byte offset ([`ParseError`]).
//! - [`store`]: [`MetadataStore`], metadata keyed by slot with its indexes; `evaluate` (from
//!   the indexes, to a bitmap) and `matches` (one record); the semantics of each operator.
//! - here: [`selectivity`] and [`plan`], which choose between a brute-force scan of the
//!   matching slots and a graph search that checks each node.
//!
//! The module knows nothing of the index: it speaks in slot ids (u32), which the owner keeps
//! in step with its records (`set` on add / upsert, `remove` on remove).

pub mod parse;
pub mod store;
pub mod value;

pub use parse::{CompareOp, Filter, Literal, ParseError, MAX_DEPTH};
pub use roaring::RoaringBitmap;
pub use store::MetadataStore;
pub use value::{metadata_to_json, parse_metadata, Metadata, Value, MAX_EXACT_INT, MAX_METADATA_BYTES};

/// Fraction of the live records that `matching` holds, in [0, 1]; 0 when nothing is live.
pub fn selectivity(matching: &RoaringBitmap, live_count: u64) -> f64 {
    if live_count == 0 {
        return 0.0;
    }
    (matching.len() as f64 / live_count as f64).min(1.0)
}

/// How to run one filtered search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchPlan {
    /// Nothing matches: return no hits without searching.
    Empty,
    /// Compute the distance to every matching slot and keep the k nearest: exact.
    BruteForce,
    /// HNSW search that walks through every node but keeps only matching ones.
    Graph,
}

/// Filters matching at most this many records always take the brute-force path: a scan this
/// small is cheaper than a graph search's fixed cost, and exact.
pub const BRUTE_FORCE_MIN: u64 = 1_000;

/// Cost ratio in [`plan`]. A filtered graph search must pass about `ef / s` nodes to accept
/// `ef` when a fraction `s` of the records matches; with their neighbour lists, heap work and
/// scattered reads that costs about `GRAPH_COST * ef / s` sequential distance computations. A
/// scan of the matching records costs `s * live`. The scan wins while
/// `matching^2 <= GRAPH_COST * ef * live`. Measured (tests/filtered.rs, GloVe-50, 20K records,
/// ef 64): graph ~34 us / s, scan ~15 ns per record, so the two meet near s = 1/3, and
/// GRAPH_COST ~ 34 us / 15 ns / 64 ~ 35.
pub const GRAPH_COST: f64 = 32.0;

/// Chooses the path for a filter that matches `matching` of `live` records, searched with
/// beam width `ef` (already raised to k).
pub fn plan(matching: u64, live: u64, ef: usize) -> SearchPlan {
    if matching == 0 {
        return SearchPlan::Empty;
    }
    let crossover = (GRAPH_COST * ef as f64 * live as f64).sqrt();
    if matching <= BRUTE_FORCE_MIN || (matching as f64) <= crossover {
        SearchPlan::BruteForce
    } else {
        SearchPlan::Graph
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectivity_is_a_fraction() {
        let b: RoaringBitmap = (0..25).collect();
        assert_eq!(selectivity(&b, 100), 0.25);
        assert_eq!(selectivity(&b, 0), 0.0);
        assert_eq!(selectivity(&RoaringBitmap::new(), 100), 0.0);
        assert_eq!(selectivity(&b, 10), 1.0);
    }

    #[test]
    fn plan_scans_small_sets_and_walks_the_graph_for_large_ones() {
        assert_eq!(plan(0, 1_000_000, 64), SearchPlan::Empty);
        assert_eq!(plan(10, 1_000_000, 64), SearchPlan::BruteForce);
        assert_eq!(plan(BRUTE_FORCE_MIN, 1_000_000, 64), SearchPlan::BruteForce);
        assert_eq!(plan(500_000, 1_000_000, 64), SearchPlan::Graph);
        assert_eq!(plan(5_000, 5_000, 64), SearchPlan::Graph);
        // The crossover grows with ef and with the index.
        let at = |ef, live| (1..=live).find(|&m| plan(m, live, ef) == SearchPlan::Graph).unwrap();
        assert!(at(256, 10_000_000) > at(64, 10_000_000));
        assert!(at(64, 10_000_000) > at(64, 1_000_000));
    }
}
