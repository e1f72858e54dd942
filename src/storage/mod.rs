//! Where records live in memory: the node arena (vectors and layer-0 links, grown in chunks).
pub mod arena;
