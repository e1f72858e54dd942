//! Where records live: the node arena in memory (vectors and layer-0 links, grown in chunks),
//! the full-precision vectors of quantized indexes (`raw`), and the index file on disk (its
//! format, and the atomic write that replaces it).
pub mod arena;
pub mod atomic;
pub(crate) mod codec;
pub mod format;
pub mod mapped;
pub mod raw;
