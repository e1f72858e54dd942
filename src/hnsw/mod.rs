//! HNSW (Malkov & Yashunin): a layered proximity graph.
//!
//! - `arena`: the node records (vector + layer-0 links + lock, level, state) in doubling
//!   chunks, and the slot allocator;
//! - `codes`: neighbour codes kept beside each layer-0 list, and how they stay in step;
//! - `graph`: the graph state (arena, entry point, grace-period gate) and link access;
//! - `search`: greedy descent through the upper layers and the `ef` beam on each layer;
//! - `insert`: level sampling, neighbour selection by the diversity heuristic, linking;
//! - `repair`: removal of deleted nodes from the graph and reuse of their slots;
//! - `scratch`: per-thread search state.

#[allow(unsafe_code)] // records addressed by pointer arithmetic in mapped chunks (see its SAFETY notes)
pub mod arena;
pub mod codes;
pub mod graph;
pub mod insert;
pub mod repair;
pub mod scratch;
pub mod search;

pub use graph::{Graph, Params, Pin};
pub use scratch::Candidate;
pub use search::KnnRequest;
