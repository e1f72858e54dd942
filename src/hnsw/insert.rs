//! Insert: descend to the new node's level, beam-search each layer below it with
//! `ef_construction`, choose neighbours by the diversity heuristic, link both ways.


use super::graph::{Graph, Pin, MAX_LEVEL};
use super::scratch::{Candidate, Scratch};
use super::search::Beam;

/// A level drawn from the exponential distribution with scale `ml`, from a uniform `u` in (0, 1].
pub fn level_for(u: f64, ml: f64) -> u8 {
    let l = (-u.ln() * ml).floor();
    if l >= MAX_LEVEL as f64 {
        MAX_LEVEL
    } else {
        l as u8
    }
}

/// A uniform number in (0, 1] from a 64-bit hash (splitmix64 of `seed + n * golden ratio`).
pub fn uniform(seed: u64, n: u64) -> f64 {
    let mut z = seed.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    ((z >> 11) as f64 + 1.0) / (1u64 << 53) as f64
}

impl Graph {
    /// The diversity heuristic (the paper's Algorithm 4 without extension): walk `cands`
    /// nearest first and keep a candidate only if it is closer to the base than to every
    /// neighbour kept so far, up to `m` of them. `cands` must be sorted by distance to the base.
    pub(crate) fn select_neighbors(&self, cands: &[Candidate], m: usize, out: &mut Vec<u32>) {
        out.clear();
        for c in cands {
            if out.len() >= m {
                break;
            }
            let v = self.store.vector(c.id);
            if out.iter().all(|&s| self.space.distance(v, self.store.vector(s)) >= c.dist) {
                out.push(c.id);
            }
        }
    }

    /// Links the node in slot `id` (vector written, state LIVE, `level` set) into the graph.
    pub fn insert(&self, pin: &Pin<'_>, id: u32, scratch: &mut Scratch) {
        let level = self.store.level(id) as usize;
        let q = self.store.vector(id);
        // Before any link to the node exists: a search that reaches it finds its code.
        self.write_own_code(id);

        // The first node becomes the entry point; a node above the current top holds the
        // entry lock through its insert so the top only ever moves to a fully linked node.
        let mut entry_guard = None;
        let (entry, top) = match self.entry() {
            Some((e, t)) if (t as usize) >= level => (e, t as usize),
            _ => {
                let g = self.entry_lock.lock();
                match self.entry() {
                    None => {
                        self.set_entry(Some((id, level as u8)));
                        return;
                    }
                    Some((e, t)) => {
                        if (t as usize) < level {
                            entry_guard = Some(g);
                        }
                        (e, t as usize)
                    }
                }
            }
        };

        let cur = self.descend(q, entry, top, level, &mut Vec::new());

        // First choose and write this node's own links on every layer, top down; only then
        // link back to it, layer 0 first. A search can reach the node only through those back
        // links, so it never lands on a node whose layer-0 list is still empty.
        let mut entries = vec![cur];
        let mut chosen: Vec<(usize, Vec<u32>)> = Vec::with_capacity(level.min(top) + 1);
        let check_live = self.has_deleted();
        let accept = |n: u32| n != id && (!check_live || self.is_live(n));
        for l in (0..=level.min(top)).rev() {
            // `accept` turns away only this node, which no link reaches yet (and deleted
            // nodes, which the sorted beam is not used with).
            let beam = Beam::new(l, self.params.ef_construction).accepting_nearly_all();
            self.search_layer(pin, q, &entries, beam, scratch, accept);
            if scratch.found.is_empty() {
                // Every node reached is deleted; keep descending from where we are.
                continue;
            }
            let mut selected = Vec::with_capacity(self.params.m);
            self.select_neighbors(&scratch.found, self.params.m, &mut selected);
            {
                let guard = self.store.lock(id);
                self.write_links(&guard, id, l, &selected);
            }
            chosen.push((l, selected));
            entries.clear();
            entries.extend_from_slice(&scratch.found);
        }
        for (l, selected) in chosen.iter().rev() {
            for &n in selected {
                self.add_link(n, id, *l, scratch);
            }
        }

        if entry_guard.is_some() {
            self.set_entry(Some((id, level as u8)));
        }
    }

    /// Adds `new` to the links of `node` on `level`, pruning by the heuristic when full.
    pub(crate) fn add_link(&self, node: u32, new: u32, level: usize, scratch: &mut Scratch) {
        let max = self.max_links(level);
        let guard = self.store.lock(node);
        // Read under the lock: writers of this list all hold it.
        self.copy_links(node, level, &mut scratch.neighbors);
        if scratch.neighbors.contains(&new) {
            return;
        }
        if scratch.neighbors.len() < max {
            scratch.neighbors.push(new);
            let links = std::mem::take(&mut scratch.neighbors);
            self.write_links(&guard, node, level, &links);
            scratch.neighbors = links;
            return;
        }
        let base = self.store.vector(node);
        let mut cands: Vec<Candidate> = scratch
            .neighbors
            .iter()
            .chain(std::iter::once(&new))
            .filter(|&&n| self.is_live(n))
            .map(|&n| Candidate { dist: self.space.distance(base, self.store.vector(n)), id: n })
            .collect();
        cands.sort_unstable();
        let mut kept = Vec::with_capacity(max);
        self.select_neighbors(&cands, max, &mut kept);
        self.write_links(&guard, node, level, &kept);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_exponential_distribution() {
        let ml = 1.0 / 16f64.ln();
        let n = 200_000u64;
        let above0 = (0..n).filter(|&i| level_for(uniform(42, i), ml) >= 1).count() as f64 / n as f64;
        // P(level >= 1) = exp(-1/ml) = 1/16.
        assert!((above0 - 1.0 / 16.0).abs() < 0.003, "got {above0}");
        assert!((0..n).all(|i| uniform(7, i) > 0.0 && uniform(7, i) <= 1.0));
    }
}
