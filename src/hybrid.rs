//! Hybrid search: fusing a vector result list and a text result list into one ranking.
//!
//! Inputs are result lists in rank order, best first, as `(slot, value)`:
//! - the vector list carries distances ("smaller is closer", any metric of the index);
//! - the text list carries BM25 scores ("larger is better").
//!
//! A slot listed twice in one list counts at its first (best) position only. Output is
//! `(slot, fused score)`, best first, at most `k` entries; equal fused scores rank the lower
//! slot first, so the result is deterministic.
//!
//! Two formulas, pick one with [`Fusion`]:
//!
//! **Reciprocal rank fusion** (Cormack, Clarke & Büttcher 2009), ranks only:
//! ```text
//! rrf(d) = sum over lists L holding d of 1 / (k_rrf + rank_L(d)),   rank starts at 1
//! ```
//! `k_rrf = 60` ([`RRF_K`]) is the paper's constant; it damps the head of each list.
//!
//! **Weighted sum of min-max normalised values** (what Weaviate calls relative score fusion):
//! ```text
//! v(d) = (max_dist - dist(d)) / (max_dist - min_dist)     similarity = -distance, then min-max
//! t(d) = (score(d) - min_score) / (max_score - min_score)
//! fused(d) = alpha * v(d) + (1 - alpha) * t(d)
//! ```
//! min and max are taken over each list as given (so the fused scores depend on how deep the
//! lists are); a list whose values are all equal normalises to 1; a slot missing from a list
//! gets 0 for that list (as does the last entry of a list, so it ties with absent slots).
//! `alpha = 1` is pure vector order, `alpha = 0` pure text order.

use std::collections::HashMap;

use crate::error::{Error, Result};

/// What identifies a result in the lists to fuse: an index's slots (`u32`), or any other
/// ordered id, such as the u64 keys `omendb_fuse` takes from callers who merged the lists
/// of several shards (equal fused scores rank the lower id first).
pub trait Id: Copy + Eq + std::hash::Hash + Ord + std::fmt::Display {}
impl<T: Copy + Eq + std::hash::Hash + Ord + std::fmt::Display> Id for T {}

/// The constant `k` of reciprocal rank fusion.
pub const RRF_K: f32 = 60.0;

/// How [`fuse`] combines the two lists.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fusion {
    /// Reciprocal rank fusion with constant `k` (finite, >= 0; [`RRF_K`] is the usual value).
    Rrf {
        /// The damping constant added to each rank.
        k: f32,
    },
    /// `alpha * vector_norm + (1 - alpha) * text_norm`, `alpha` in [0, 1].
    Weighted {
        /// Weight of the vector side.
        alpha: f32,
    },
}

impl Fusion {
    /// The fusion named `name`, case-insensitive (the vocabulary of `omendb_fusion_from_name`,
    /// the bindings and the server): "rrf" (also "reciprocal_rank") with `param` its constant
    /// (0: [`RRF_K`]), or "weighted" (also "linear") with `param` alpha. The parameter's range
    /// is checked where the fusion runs ([`fuse`]).
    pub fn from_name(name: &str, param: f32) -> Result<Fusion> {
        match name.to_ascii_lowercase().as_str() {
            "rrf" | "reciprocal_rank" => Ok(Fusion::Rrf { k: if param == 0.0 { RRF_K } else { param } }),
            "weighted" | "linear" => Ok(Fusion::Weighted { alpha: param }),
            _ => Err(Error::InvalidArgument(format!(
                "unknown fusion {name:?}: expected rrf (reciprocal_rank) or weighted (linear)"
            ))),
        }
    }
}

impl Default for Fusion {
    fn default() -> Self {
        Fusion::Rrf { k: RRF_K }
    }
}

/// Fuses `vector` (slot, distance) and `text` (slot, score) lists, each best first, into the
/// `k` best `(slot, fused score)`, best first. Fails with `InvalidArgument` on a bad `k_rrf`
/// or `alpha`, or (weighted only) a non-finite distance or score.
pub fn fuse<T: Id>(vector: &[(T, f32)], text: &[(T, f32)], fusion: Fusion, k: usize) -> Result<Vec<(T, f32)>> {
    match fusion {
        Fusion::Rrf { k: k_rrf } => reciprocal_rank_fusion(&[vector, text], k_rrf, k),
        Fusion::Weighted { alpha } => weighted_fusion(vector, text, alpha, k),
    }
}

/// Reciprocal rank fusion of any number of ranked lists (values are ignored; only the order
/// counts): `sum 1 / (k_rrf + rank)`, rank from 1. See the module doc.
pub fn reciprocal_rank_fusion<T: Id>(lists: &[&[(T, f32)]], k_rrf: f32, k: usize) -> Result<Vec<(T, f32)>> {
    if !(k_rrf.is_finite() && k_rrf >= 0.0) {
        return Err(Error::InvalidArgument(format!("the RRF constant must be finite and >= 0, got {k_rrf}")));
    }
    let mut fused: HashMap<T, f64> = HashMap::new();
    for list in lists {
        let mut seen = std::collections::HashSet::with_capacity(list.len());
        for (i, &(slot, _)) in list.iter().enumerate() {
            if seen.insert(slot) {
                *fused.entry(slot).or_insert(0.0) += 1.0 / (f64::from(k_rrf) + (i + 1) as f64);
            }
        }
    }
    Ok(top_k(fused, k))
}

/// Weighted sum of min-max normalised vector similarities (negated distances) and text
/// scores: `alpha * v + (1 - alpha) * t`. See the module doc.
pub fn weighted_fusion<T: Id>(vector: &[(T, f32)], text: &[(T, f32)], alpha: f32, k: usize) -> Result<Vec<(T, f32)>> {
    if !(0.0..=1.0).contains(&alpha) {
        return Err(Error::InvalidArgument(format!("alpha must be in [0, 1], got {alpha}")));
    }
    if let Some(&(slot, v)) = vector.iter().chain(text).find(|p| !p.1.is_finite()) {
        return Err(Error::InvalidArgument(format!("slot {slot} has a non-finite distance or score ({v})")));
    }
    let alpha = f64::from(alpha);
    let mut fused: HashMap<T, f64> = HashMap::new();
    // Similarity = -distance, so the vector side is the text side with the sign flipped.
    add_normalised(&mut fused, vector, -1.0, alpha);
    add_normalised(&mut fused, text, 1.0, 1.0 - alpha);
    Ok(top_k(fused, k))
}

/// Adds `weight * minmax(sign * value)` of each first occurrence in `list` to `fused`, and
/// makes sure every listed slot is present (with 0 if its normalised value is 0).
fn add_normalised<T: Id>(fused: &mut HashMap<T, f64>, list: &[(T, f32)], sign: f64, weight: f64) {
    let values = || list.iter().map(|p| sign * f64::from(p.1));
    let lo = values().fold(f64::INFINITY, f64::min);
    let hi = values().fold(f64::NEG_INFINITY, f64::max);
    let mut seen = std::collections::HashSet::with_capacity(list.len());
    for &(slot, v) in list {
        if !seen.insert(slot) {
            continue;
        }
        let norm = if hi > lo { (sign * f64::from(v) - lo) / (hi - lo) } else { 1.0 };
        *fused.entry(slot).or_insert(0.0) += weight * norm;
    }
}

/// The `k` best entries, higher score first, equal scores by lower slot.
fn top_k<T: Id>(fused: HashMap<T, f64>, k: usize) -> Vec<(T, f32)> {
    let mut all: Vec<(T, f64)> = fused.into_iter().collect();
    all.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    all.truncate(k);
    all.into_iter().map(|(slot, s)| (slot, s as f32)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(r: &[(u32, f32)]) -> Vec<u32> {
        r.iter().map(|p| p.0).collect()
    }

    fn close(a: f32, b: f64) -> bool {
        (f64::from(a) - b).abs() < 1e-6
    }

    #[test]
    fn rrf_by_hand() {
        // vector ranks: 10 -> 1, 20 -> 2, 30 -> 3; text ranks: 30 -> 1, 40 -> 2, 10 -> 3.
        let vector = [(10, 0.1), (20, 0.2), (30, 0.3)];
        let text = [(30, 9.0), (40, 5.0), (10, 1.0)];
        let r = reciprocal_rank_fusion(&[&vector, &text], 60.0, 10).unwrap();
        // 10: 1/61 + 1/63 = 0.032266;  30: 1/63 + 1/61 = the same (ties: lower slot first)
        // 20: 1/62 = 0.016129;          40: 1/62 = the same
        assert_eq!(slots(&r), [10, 30, 20, 40]);
        assert!(close(r[0].1, 1.0 / 61.0 + 1.0 / 63.0));
        assert_eq!(r[0].1, r[1].1);
        assert!(close(r[2].1, 1.0 / 62.0));
        assert_eq!(slots(&reciprocal_rank_fusion(&[&vector, &text], 60.0, 2).unwrap()), [10, 30]);
        // fuse() with the default is the same call.
        assert_eq!(fuse(&vector, &text, Fusion::default(), 10).unwrap(), r);
    }

    #[test]
    fn rrf_small_k_favours_the_heads() {
        // k_rrf = 0: 1/rank. 10 (ranks 1 and 4): 1 + 0.25 = 1.25; 20 (ranks 2 and 2): 1.0.
        let vector = [(10, 0.0), (20, 0.0)];
        let text = [(30, 0.0), (20, 0.0), (40, 0.0), (10, 0.0)];
        let r = reciprocal_rank_fusion(&[&vector, &text], 0.0, 10).unwrap();
        assert_eq!(slots(&r), [10, 20, 30, 40]);
        assert!(close(r[0].1, 1.25) && close(r[1].1, 1.0) && close(r[2].1, 1.0) && close(r[3].1, 1.0 / 3.0));
    }

    #[test]
    fn weighted_by_hand() {
        // Distances 0.2, 0.4, 1.0 -> similarities -0.2, -0.4, -1.0 -> normalised 1, 0.75, 0.
        let vector = [(1, 0.2), (2, 0.4), (3, 1.0)];
        // Scores 8, 6, 4 -> normalised 1, 0.5, 0.
        let text = [(3, 8.0), (4, 6.0), (2, 4.0)];
        let r = weighted_fusion(&vector, &text, 0.5, 10).unwrap();
        // 1: 0.5*1 + 0 = 0.5;  2: 0.5*0.75 + 0.5*0 = 0.375;  3: 0.5*0 + 0.5*1 = 0.5;
        // 4: 0 + 0.5*0.5 = 0.25. Ties (1 and 3 at 0.5): lower slot first.
        assert_eq!(slots(&r), [1, 3, 2, 4]);
        assert!(close(r[0].1, 0.5) && close(r[1].1, 0.5) && close(r[2].1, 0.375) && close(r[3].1, 0.25));

        let r = weighted_fusion(&vector, &text, 0.8, 10).unwrap();
        // 1: 0.8;  2: 0.8*0.75 = 0.6;  3: 0.2*1 = 0.2;  4: 0.2*0.5 = 0.1
        assert_eq!(slots(&r), [1, 2, 3, 4]);
        assert!(close(r[1].1, 0.6) && close(r[3].1, 0.1));

        // alpha = 1 and 0 reproduce each list's order (absent slots trail at 0, by slot).
        assert_eq!(slots(&weighted_fusion(&vector, &text, 1.0, 10).unwrap()), [1, 2, 3, 4]);
        assert_eq!(slots(&weighted_fusion(&vector, &text, 0.0, 10).unwrap()), [3, 4, 1, 2]);
        assert_eq!(fuse(&vector, &text, Fusion::Weighted { alpha: 0.5 }, 2).unwrap().len(), 2);
    }

    #[test]
    fn weighted_degenerate_lists() {
        // One entry, or all values equal: normalised to 1.
        let r = weighted_fusion(&[(5, 0.3)], &[(6, 2.0), (7, 2.0)], 0.5, 10).unwrap();
        assert_eq!(slots(&r), [5, 6, 7]);
        assert!(r.iter().all(|p| close(p.1, 0.5)));
        // Negative distances (inner product) and negative scores are fine.
        let r = weighted_fusion(&[(1, -3.0), (2, -1.0)], &[], 0.5, 10).unwrap();
        assert_eq!(slots(&r), [1, 2]);
        assert!(weighted_fusion::<u32>(&[], &[], 0.5, 10).unwrap().is_empty());
        assert!(reciprocal_rank_fusion::<u32>(&[], 60.0, 10).unwrap().is_empty());
    }

    #[test]
    fn duplicates_count_once_at_their_best_rank() {
        let vector = [(1, 0.1), (1, 0.5), (2, 0.6)];
        let r = reciprocal_rank_fusion(&[&vector], 60.0, 10).unwrap();
        assert!(close(r[0].1, 1.0 / 61.0));
        assert!(close(r[1].1, 1.0 / 63.0));
        let r = weighted_fusion(&vector, &[], 1.0, 10).unwrap();
        assert_eq!(slots(&r), [1, 2]);
        assert!(close(r[0].1, 1.0));
    }

    #[test]
    fn bad_arguments() {
        let l = [(1, 1.0)];
        assert!(weighted_fusion(&l, &l, 1.5, 10).is_err());
        assert!(weighted_fusion(&l, &l, -0.1, 10).is_err());
        assert!(weighted_fusion(&l, &l, f32::NAN, 10).is_err());
        assert!(weighted_fusion(&[(1, f32::NAN)], &l, 0.5, 10).is_err());
        assert!(weighted_fusion(&l, &[(2, f32::INFINITY)], 0.5, 10).is_err());
        assert!(reciprocal_rank_fusion(&[&l], -1.0, 10).is_err());
        assert!(reciprocal_rank_fusion(&[&l], f32::INFINITY, 10).is_err());
        assert!(fuse(&l, &l, Fusion::Rrf { k: 60.0 }, 0).unwrap().is_empty());
    }
}
