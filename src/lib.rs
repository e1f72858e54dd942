//! OmenDB: an embedded vector database behind a C ABI.
//!
//! Architecture, from the bottom up:
//! - [`distance`]: SIMD kernels (squared L2, dot) picked once at run time; scalar oracle.
//! - [`metric`]: L2, inner product and cosine on top of the kernels.
//! - [`storage`]: the node arena (vectors and layer-0 links side by side, growing in chunks),
//!   and the index file (`storage::format`, `docs/format.md`) with its atomic write.
//! - [`hnsw`]: the graph: search, insert, repair after removal.
//! - [`quant`]: f16, int8, binary and PQ codes of a quantized index, their kernels, and the
//!   full-precision store used to re-rank.
//! - [`keys`]: u64 / string keys <-> dense slot ids.
//! - [`index`]: the public `Index`: validation, batches, keys, parallelism.
//! - `ffi`: the C ABI (`include/omendb.h`), the only place with `extern "C"`.
#![deny(unsafe_code)]

#[allow(unsafe_code)]
pub mod distance;
pub(crate) mod encoding;
pub mod error;
pub mod filter;
#[allow(unsafe_code)]
pub mod ffi;
pub mod hnsw;
pub mod hybrid;
pub mod index;
pub mod keys;
pub mod metric;
pub mod options;
#[allow(unsafe_code)]
pub mod quant;
pub mod space;
#[allow(unsafe_code)]
pub mod storage;
pub mod text;

pub use error::{Error, Result};
pub use index::{Hit, Index, IndexOptions, Keys, Payloads};
pub use keys::{KeyKind, KeyRef};
pub use metric::Metric;
