//! Removal: a deleted node stays in the graph as a stepping stone (searches never return it)
//! until a repair pass relinks its neighbourhood around it and recycles its slot.
//!
//! A pass, one at a time:
//! 1. take the list of deleted slots D;
//! 2. wait a grace period: every insert that might still link to a node of D has finished,
//!    and every later insert sees them deleted and does not link to them;
//! 3. move the entry point off D if needed;
//! 4. for every node (live, or deleted after D was taken) that links to a node of D, replace
//!    those links by the heuristic's choice among its other links and the deleted nodes' own
//!    links (as in FreshDiskANN), on layer 0 passing over nodes that already have many
//!    in-links;
//! 5. for every live node whose layer-0 list lost a large share of its links in step 4,
//!    choose that list again as an insert would (a beam search for its own vector) and link
//!    back to it;
//! 6. give every live node left with few layer-0 in-links (its in-neighbours were mostly in
//!    D) in-links from its nearest live nodes, so that searches can still reach it;
//! 7. wait a second grace period: no search still holds an id of D;
//! 8. return D's slots to the allocator.

use std::sync::atomic::{AtomicU32, Ordering};

use rayon::prelude::*;

use super::codes::Layout;
use super::graph::{Graph, Pin};
use super::scratch::{with_scratch, Candidate, Scratch};
use super::search::Beam;
use crate::hnsw::arena::{STATE_DELETED, STATE_FREE, STATE_LIVE};

/// A node whose layer-0 list lost at least 1 / RESEARCH_LOST_SHARE of its links to one pass
/// has it chosen again by a search (`Graph::research`). Measured with 4 cycles of adding
/// 100,000 and removing half: 1/4 (2-5% of the live nodes a pass) took recall@10 from 0.785 to
/// 0.809 (fresh build 0.799); 1/2 (under 100 nodes a pass) changed nothing.
const RESEARCH_LOST_SHARE: usize = 4;

impl Graph {
    /// Marks a live slot deleted; searches stop returning it at once. Returns false if the
    /// slot was not live.
    pub fn mark_deleted(&self, id: u32) -> bool {
        let ok = self.store.change_state(id, STATE_LIVE, STATE_DELETED);
        if ok {
            // Counted before the id is queued, so no search can miss a deleted node.
            self.deleted_count.fetch_add(1, Ordering::AcqRel);
            self.deleted.lock().push(id);
        }
        ok
    }

    /// Number of deleted slots awaiting repair.
    pub fn pending_deletes(&self) -> usize {
        self.deleted.lock().len()
    }

    /// Runs one repair pass (see the module doc). Must not be called while holding a `Pin`.
    pub fn repair(&self) {
        let _one_at_a_time = self.maintenance.lock();
        let dead: Vec<u32> = std::mem::take(&mut *self.deleted.lock());
        if dead.is_empty() {
            return;
        }
        self.wait_grace_period();

        let high = self.store.high_water() as usize;
        let mut is_dead = vec![false; high];
        for &d in &dead {
            is_dead[d as usize] = true;
        }

        {
            let _entry = self.entry_lock.lock();
            if let Some((e, _)) = self.entry() {
                // The entry may be a node inserted after `high` was read.
                if is_dead.get(e as usize).copied().unwrap_or(false) {
                    self.set_entry(self.new_entry(high));
                }
            }
        }

        // Layer-0 in-degree from every used node outside the dead set, kept up to date by
        // the steps below. Inserts running meanwhile only add links, or drop some when
        // pruning a full list: the counts are a guide, not an invariant.
        let in_links: Vec<AtomicU32> = (0..high).map(|_| AtomicU32::new(0)).collect();
        self.count_in_links(high, &is_dead, &in_links);
        // Deleted nodes outside D are relinked too: they stay reachable as stepping stones
        // until their own pass, and a link of theirs left pointing into D would lead searches
        // into a slot that is reclaimed below and may be rewritten by an insert meanwhile.
        // Layer-0 lists that lost at least 1 / RESEARCH_LOST_SHARE of their links are chosen
        // again by a search (see `research`) once every list is free of the dead set.
        let research: Vec<u32> = (0..high as u32)
            .into_par_iter()
            .filter(|&id| {
                if is_dead[id as usize] || self.store.state(id) == STATE_FREE {
                    return false;
                }
                let top = self.store.level(id) as usize;
                let mut lost0 = (0, 0);
                for level in 0..=top {
                    let lost = self.relink(id, level, &is_dead, &in_links);
                    if level == 0 {
                        lost0 = lost;
                    }
                }
                lost0.0 > 0 && lost0.0 * RESEARCH_LOST_SHARE >= lost0.1 && self.is_live(id)
            })
            .collect();
        if !research.is_empty() {
            let pin = self.pin();
            let one = |&id: &u32| with_scratch(|s| self.research(&pin, id, &is_dead, &in_links, s));
            // In parallel only when many (4,096 or more): the back-links of parallel searches
            // land in an order that varies, and smaller repairs (tests, saved fixtures) must
            // give the same graph every time. With 32, as `Index::link` uses, the persistence
            // tests still differed between two identical indexes in some runs.
            if research.len() >= 1 << 12 {
                research.par_iter().for_each(one);
            } else {
                research.iter().for_each(one);
            }
            drop(pin);
            // Links given back to researched nodes may have pushed others out of full lists.
            for c in &in_links {
                c.store(0, Ordering::Relaxed);
            }
            self.count_in_links(high, &is_dead, &in_links);
        }
        self.reconnect_orphans(high, &is_dead, &in_links);

        self.wait_grace_period();
        self.store.reclaim(&dead);
        self.deleted_count.fetch_sub(dead.len(), Ordering::AcqRel);
    }

    /// The live node of highest level among slots `0..high`, to become the entry point.
    /// Nodes already linked (a non-empty layer-0 list) come first: a node is live before its
    /// insert starts, and made the entry while still unlinked it would strand every search
    /// at itself, and its own insert, starting from itself, would find nothing to link to,
    /// cutting the rest of the graph off for good. Any live node only when none is linked.
    fn new_entry(&self, high: usize) -> Option<(u32, u8)> {
        let mut linked: Option<(u32, u8)> = None;
        let mut any: Option<(u32, u8)> = None;
        for id in 0..high as u32 {
            if !self.is_live(id) {
                continue;
            }
            let l = self.store.level(id);
            if any.is_none_or(|(_, bl)| l > bl) {
                any = Some((id, l));
            }
            if self.store.links0(id)[0].load(Ordering::Acquire) > 0 && linked.is_none_or(|(_, bl)| l > bl) {
                linked = Some((id, l));
            }
        }
        linked.or(any)
    }

    /// Replaces links of `id` on `level` that point into the dead set. Live links stay; the
    /// dead ones are replaced from the dead nodes' own links, so the list keeps its length
    /// (as insertion fills lists). The replacements are chosen by the diversity heuristic
    /// against the links kept, then nearest first for any room left. Nearest first alone
    /// bunches the new links toward where the dead nodes were: after 5 cycles of adding
    /// 5,000 clustered vectors and removing half, recall@10 at ef 40 was 0.926 against 0.953
    /// for a fresh build, 0.951 with the heuristic first. Re-pruning the whole list with the
    /// heuristic instead thins it: on 16-d uniform data that cost 0.06 of recall@10 at ef 16.
    ///
    /// The nearest-first fill skips nodes that already have `hub_in_links` layer-0 in-links.
    /// Every in-neighbour of a dead node fills from the same pool (its links), and the nodes
    /// nearest to all of them took most of the links: pass after pass they gathered in-links
    /// (20 cycles of adding 20,000 and removing half: 113 nodes with over 100, up to 406;
    /// a fresh build has 5, up to 123) while the median node had fewer than in a fresh build.
    /// On layer 0 a list shorter than m is filled up to m, the number of links an insert
    /// chooses: lists otherwise only shrink between inserts, and after 20 such cycles the
    /// churned graph had 20.8 links a node against 21.3 in a fresh build.
    /// `in_links` counts layer-0 in-links and is raised for every layer-0 link added here.
    fn relink(&self, id: u32, level: usize, is_dead: &[bool], in_links: &[AtomicU32]) -> (usize, usize) {
        let dead = |n: u32| is_dead.get(n as usize).copied().unwrap_or(false);
        let guard = self.store.lock(id);
        let mut links = Vec::new();
        self.copy_links(id, level, &mut links);
        if !links.iter().any(|&n| dead(n)) {
            return (0, links.len());
        }
        let mut kept: Vec<u32> = links.iter().copied().filter(|&n| !dead(n)).collect();
        let lost = (links.len() - kept.len(), links.len());
        let mut pool: Vec<u32> = Vec::new();
        let mut second = Vec::new();
        for &d in links.iter().filter(|&&n| dead(n)) {
            // The dead node's own lists are not written any more (nobody links it); they are
            // read without its lock, which the pass must not take while holding this one.
            self.copy_links(d, level, &mut second);
            pool.extend(second.iter().copied().filter(|&n| n != id && !dead(n) && self.is_live(n) && !kept.contains(&n)));
        }
        pool.sort_unstable();
        pool.dedup();
        let base = self.store.vector(id);
        let mut cands: Vec<Candidate> = pool
            .iter()
            .map(|&n| Candidate { dist: self.space.distance(base, self.store.vector(n)), id: n })
            .collect();
        cands.sort_unstable();
        // First the diversity heuristic, with the live links as already chosen; then, if it
        // left room, the nearest of the rest that is not a hub. (A list without dead links
        // was left as it is above, however short.)
        let floor = if level == 0 { self.params.m } else { 0 };
        let want = links.len().max(floor).min(self.max_links(level));
        let n_kept = kept.len();
        for c in &cands {
            if kept.len() >= want {
                break;
            }
            let v = self.store.vector(c.id);
            if kept.iter().all(|&s| self.space.distance(v, self.store.vector(s)) >= c.dist) {
                kept.push(c.id);
            }
        }
        let hub = self.hub_in_links() as u32;
        let in_count = |n: u32| in_links.get(n as usize).map_or(0, |c| c.load(Ordering::Relaxed));
        for c in &cands {
            if kept.len() >= want {
                break;
            }
            if !kept[n_kept..].contains(&c.id) && (level > 0 || in_count(c.id) < hub) {
                kept.push(c.id);
            }
        }
        if level == 0 {
            for &n in &kept[n_kept..] {
                if let Some(c) = in_links.get(n as usize) {
                    c.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        self.write_links(&guard, id, level, &kept);
        lost
    }

    /// Counts layer-0 in-links from every used node among `0..high` outside the dead set.
    fn count_in_links(&self, high: usize, is_dead: &[bool], in_links: &[AtomicU32]) {
        (0..high as u32).into_par_iter().for_each_init(Vec::new, |links, id| {
            if is_dead[id as usize] || self.store.state(id) == STATE_FREE {
                return;
            }
            self.copy_links(id, 0, links);
            for &n in links.iter().filter(|&&n| (n as usize) < high) {
                in_links[n as usize].fetch_add(1, Ordering::Relaxed);
            }
        });
    }

    /// Chooses the layer-0 links of a live node again, as an insert does: a beam search of
    /// width ef_construction for its own vector, from its live links (after `relink`, none in
    /// the dead set), then the diversity heuristic over what it found and the links it has,
    /// up to m0; then links back to it, as an insert adds them (a full list is pruned by the
    /// heuristic), until it has `hub_in_links`. `relink` draws replacements from the dead
    /// nodes' own links only, and with half of the index removed in a cycle many of those are
    /// dead too: at 100,000 records a cycle the lists it left held fewer of a node's nearest
    /// nodes than a fresh build's, and recall fell further behind with every cycle.
    fn research(&self, pin: &Pin<'_>, id: u32, is_dead: &[bool], in_links: &[AtomicU32], scratch: &mut Scratch) {
        let dead = |n: u32| is_dead.get(n as usize).copied().unwrap_or(false);
        let usable = |n: u32| n != id && !dead(n) && self.is_live(n);
        let q = self.store.vector(id);
        let mut links = Vec::new();
        self.copy_links(id, 0, &mut links);
        let mut entries: Vec<Candidate> = links
            .iter()
            .filter(|&&n| !dead(n))
            .map(|&n| Candidate { dist: self.space.distance(q, self.store.vector(n)), id: n })
            .collect();
        if entries.is_empty() {
            // No link left: descend from the entry point as an insert does.
            let Some((e, top)) = self.entry() else { return };
            entries.push(self.descend(q, e, top as usize, 0, &mut Vec::new()));
        }
        self.search_layer(pin, q, &entries, Beam::new(0, self.params.ef_construction), scratch, usable);
        let mut cands = std::mem::take(&mut scratch.found);
        // Under the lock: an insert may have linked this node meanwhile; its link stays a
        // candidate.
        let guard = self.store.lock(id);
        self.copy_links(id, 0, &mut links);
        for &n in &links {
            if usable(n) && !cands.iter().any(|c| c.id == n) {
                cands.push(Candidate { dist: self.space.distance(q, self.store.vector(n)), id: n });
            }
        }
        cands.sort_unstable();
        let mut selected = Vec::with_capacity(self.params.m0);
        self.select_neighbors(&cands, self.params.m0, &mut selected);
        self.write_links(&guard, id, 0, &selected);
        drop(guard);
        scratch.found = cands;
        let hub = self.hub_in_links() as u32;
        let mut theirs = Vec::new();
        for &n in &selected {
            if in_links[id as usize].load(Ordering::Relaxed) >= hub {
                break;
            }
            self.copy_links(n, 0, &mut theirs);
            if !theirs.contains(&id) {
                self.add_link(n, id, 0, scratch);
                in_links[id as usize].fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl Graph {
    /// Layer-0 in-links a node should keep: fewer, and `reconnect_orphans` gives it more
    /// (m0 / 4, at least 2; 8 by default).
    fn min_in_links(&self) -> usize {
        (self.params.m0 / 4).max(2)
    }

    /// Layer-0 in-links past which `relink` no longer fills a list with a link to the node
    /// (1.5 m0; 48 by default: a fresh build's 99th percentile was 55 in the soak data).
    fn hub_in_links(&self) -> usize {
        self.params.m0 * 3 / 2
    }

    /// Gives layer-0 in-links to every live node among slots `0..high` left with fewer
    /// than `min_in_links` outside the dead set, up to that many. `relink` only replaces
    /// links that point into the dead set: a node whose in-neighbours were deleted is linked
    /// again only if one of their in-neighbours happens to pick it as a replacement. A pass
    /// that deletes half of the index left about 1% of it with no in-link, out of reach of
    /// every search, and more with one (after 20 cycles of adding 20,000 and removing half:
    /// 75, against 4 in a fresh build). Such a node is linked from its nearest nodes among its own links and theirs; where their
    /// lists are full, the link given up is the farthest one whose target keeps more than
    /// `min_in_links` in-links.
    fn reconnect_orphans(&self, high: usize, is_dead: &[bool], in_links: &[AtomicU32]) {
        let dead = |n: u32| is_dead.get(n as usize).copied().unwrap_or(false);
        let min_in = self.min_in_links() as u32;
        let entry = self.entry().map(|(e, _)| e);
        let orphans: Vec<u32> = (0..high as u32)
            .into_par_iter()
            .filter(|&id| {
                in_links[id as usize].load(Ordering::Relaxed) < min_in
                    && Some(id) != entry
                    && self.is_live(id)
                    // Not linked yet: its own insert is running and will link back to it.
                    && self.store.links0(id)[0].load(Ordering::Acquire) > 0
            })
            .collect();
        let mut own = Vec::new();
        let mut second = Vec::new();
        for x in orphans {
            // Candidates: x's own layer-0 links and theirs, live only, nearest to x first.
            self.copy_links(x, 0, &mut own);
            let mut pool: Vec<u32> = Vec::new();
            for &n in &own {
                if dead(n) {
                    continue;
                }
                pool.push(n);
                self.copy_links(n, 0, &mut second);
                pool.extend(second.iter().copied());
            }
            pool.retain(|&n| n != x && (n as usize) < high && !dead(n) && self.is_live(n));
            pool.sort_unstable();
            pool.dedup();
            let base = self.store.vector(x);
            let mut cands: Vec<Candidate> =
                pool.iter().map(|&n| Candidate { dist: self.space.distance(base, self.store.vector(n)), id: n }).collect();
            cands.sort_unstable();
            for c in cands {
                if in_links[x as usize].load(Ordering::Relaxed) >= min_in {
                    break;
                }
                if self.attach(c.id, x, in_links) {
                    in_links[x as usize].fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Adds a layer-0 link from `y` to `x`: appended when `y`'s list has room, else in place
    /// of the farthest link whose target keeps more than `min_in_links` in-links. False if `y`
    /// already links `x` or gives up no link.
    fn attach(&self, y: u32, x: u32, in_links: &[AtomicU32]) -> bool {
        let guard = self.store.lock(y);
        let mut links = Vec::new();
        self.copy_links(y, 0, &mut links);
        if links.contains(&x) {
            return false;
        }
        if links.len() < self.max_links(0) {
            links.push(x);
            self.write_links(&guard, y, 0, &links);
            return true;
        }
        let base = self.store.vector(y);
        let spare = links
            .iter()
            .enumerate()
            .filter(|&(_, &z)| in_links.get(z as usize).is_some_and(|c| c.load(Ordering::Relaxed) as usize > self.min_in_links()))
            .map(|(i, &z)| (self.space.distance(base, self.store.vector(z)), i))
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let Some((_, i)) = spare else { return false };
        in_links[links[i] as usize].fetch_sub(1, Ordering::Relaxed);
        links[i] = x;
        self.write_links(&guard, y, 0, &links);
        true
    }
}

impl Graph {
    /// Checks the structure of a quiescent graph (call it while no other operation runs on
    /// it): the entry point is a used slot at its recorded level, and every link of every used
    /// slot (live or deleted) names another used slot that reaches the link's layer, with no
    /// list longer than its layer allows and no link twice. A link into a free or reused slot
    /// would let searches read a record that is being rewritten. Returns the first violation.
    /// For tests and debugging: it visits every link.
    pub fn check_invariants(&self) -> Result<(), String> {
        let _no_repair = self.maintenance.lock();
        let high = self.store.high_water();
        let state = |id: u32| self.store.state(id);
        let used = |id: u32| id < high && state(id) != STATE_FREE;
        let level = |id: u32| self.store.level(id) as usize;
        match self.entry() {
            Some((e, l)) => {
                if !used(e) {
                    return Err(format!("the entry point {e} is not a used slot"));
                }
                if level(e) != l as usize {
                    return Err(format!("the entry point {e} has level {}, recorded as {l}", level(e)));
                }
            }
            None => {
                if let Some(id) = (0..high).find(|&id| state(id) == STATE_LIVE) {
                    return Err(format!("no entry point, yet slot {id} is live"));
                }
            }
        }
        let mut links = Vec::new();
        let mut deleted = 0;
        for id in (0..high).filter(|&id| used(id)) {
            deleted += usize::from(state(id) == STATE_DELETED);
            for l in 0..=level(id) {
                self.copy_links(id, l, &mut links);
                if links.len() > self.max_links(l) {
                    return Err(format!("slot {id} has {} links on layer {l}", links.len()));
                }
                for (i, &n) in links.iter().enumerate() {
                    if n == id {
                        return Err(format!("slot {id} links to itself on layer {l}"));
                    }
                    if !used(n) {
                        return Err(format!("slot {id} links to free slot {n} on layer {l}"));
                    }
                    if level(n) < l {
                        return Err(format!("slot {id} links on layer {l} to slot {n} of level {}", level(n)));
                    }
                    if links[..i].contains(&n) {
                        return Err(format!("slot {id} links to {n} twice on layer {l}"));
                    }
                    if let (0, Some(codes), Layout::BesideLinks) = (l, self.neighbor_codes(), self.code_layout) {
                        if !codes.matches(self.store.block(id), i, self.store.vector(n)) {
                            return Err(format!("slot {id}: neighbour code {i} is not the code of slot {n}"));
                        }
                    }
                    if let (0, Some(codes), Layout::PerNode) = (l, self.neighbor_codes(), self.code_layout) {
                        if !codes.matches(self.store.block(n), 0, self.store.vector(n)) {
                            return Err(format!("slot {id} links to slot {n}, whose own code is not the code of its vector"));
                        }
                    }
                }
            }
        }
        let pending = self.deleted.lock().len();
        if pending != deleted {
            return Err(format!("{deleted} slots are deleted but {pending} await repair"));
        }
        Ok(())
    }
}

impl Graph {
    /// Live nodes that a search cannot reach: not found by a walk over layer-0 links from the
    /// entry point (every used node a stepping stone). Call it on a quiescent graph; for tests.
    pub fn unreachable_live_nodes(&self) -> Vec<u32> {
        let high = self.store.high_water();
        let mut seen = vec![false; high as usize];
        let mut stack: Vec<u32> = self.entry().map(|(e, _)| e).into_iter().collect();
        let mut links = Vec::new();
        while let Some(id) = stack.pop() {
            if std::mem::replace(&mut seen[id as usize], true) {
                continue;
            }
            self.copy_links(id, 0, &mut links);
            stack.extend(links.iter().copied().filter(|&n| !seen[n as usize]));
        }
        (0..high).filter(|&id| self.is_live(id) && !seen[id as usize]).collect()
    }

    /// Mean number of layer-0 links of a live node. For tests: a repair that buys recall with
    /// longer lists makes every search compute more distances.
    pub fn mean_layer0_links(&self) -> f64 {
        let mut links = Vec::new();
        let (mut total, mut live) = (0usize, 0usize);
        for id in (0..self.store.high_water()).filter(|&id| self.is_live(id)) {
            self.copy_links(id, 0, &mut links);
            total += links.len();
            live += 1;
        }
        total as f64 / live.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hnsw::scratch::with_scratch;
    use crate::hnsw::{KnnRequest, Params};
    use crate::metric::Metric;
use crate::space::Space;

    fn point(i: u32) -> [f32; 2] {
        let a = i as f32 * 0.37;
        [a.cos() * (1.0 + i as f32 * 0.01), a.sin() * (1.0 + i as f32 * 0.01)]
    }

    /// Takes a slot of `level` and makes it live, as `Index::put` does before linking.
    fn make_live(g: &Graph, i: u32, level: u8) -> u32 {
        let slot = g.store.take_fresh(&[level]).pop().unwrap();
        g.store.write_vector(&slot, &point(i));
        g.store.set_state(slot.id(), STATE_LIVE);
        g.capacity_hint.fetch_max(g.store.high_water(), Ordering::AcqRel);
        slot.id()
    }

    fn link(g: &Graph, id: u32) {
        let pin = g.pin();
        with_scratch(|s| g.insert(&pin, id, s));
    }

    /// Removing half of the nodes makes most lists lose a quarter of their links, so the pass
    /// chooses many lists again by a search: the graph stays valid, every live node reachable,
    /// and every live node found by a search for its own vector.
    #[test]
    fn a_pass_that_removes_half_keeps_every_node_findable() {
        let g = Graph::new(2, Params::new(8, 64), Space::new(Metric::L2));
        let ids: Vec<u32> = (0..3000)
            .map(|i| {
                let id = make_live(&g, i, crate::hnsw::insert::level_for(crate::hnsw::insert::uniform(5, i as u64), g.params.ml));
                link(&g, id);
                id
            })
            .collect();
        for &id in ids.iter().filter(|&&id| id % 2 == 1) {
            assert!(g.mark_deleted(id));
        }
        g.repair();
        g.check_invariants().unwrap();
        assert_eq!(g.unreachable_live_nodes(), Vec::<u32>::new());
        let pin = g.pin();
        for (i, &id) in ids.iter().enumerate().filter(|&(_, &id)| id % 2 == 0) {
            let top = with_scratch(|s| {
                g.knn(&pin, &point(i as u32), KnnRequest::new(1, 32), s, None);
                s.found.first().map(|c| c.id)
            });
            assert_eq!(top, Some(id));
        }
    }

    #[test]
    fn a_live_node_not_linked_yet_does_not_become_the_entry() {
        let g = Graph::new(2, Params::new(4, 20), Space::new(Metric::L2));
        let first = make_live(&g, 0, 1);
        link(&g, first);
        for i in 1..400 {
            let id = make_live(&g, i, 0);
            link(&g, id);
        }
        assert_eq!(g.entry(), Some((first, 1)));
        // A record of a batch being added: live, of a level above the graph's, not linked yet.
        let pending = make_live(&g, 400, 3);
        // The entry point is removed and repaired away meanwhile.
        assert!(g.mark_deleted(first));
        g.repair();
        let (e, _) = g.entry().unwrap();
        assert_ne!(e, pending, "an unlinked node became the entry point");
        // The batch's insert then runs; every live node stays reachable.
        link(&g, pending);
        assert_eq!(g.entry(), Some((pending, 3)));
        assert_eq!(g.unreachable_live_nodes(), Vec::<u32>::new());
        g.check_invariants().unwrap();
    }
}
