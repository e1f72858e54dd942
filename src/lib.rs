//! OmenDB: an embedded vector database behind a C ABI.
//!
//! The map of the modules, how they depend on each other, and the life of an add and of a
//! search through them are in `ARCHITECTURE.md` at the repository root. In short, from the
//! bottom up: [`distance`] kernels, [`metric`] and [`space`], [`quant`] codecs, [`hnsw`] (graph
//! and node arena), [`filter`] and [`text`], [`keys`], [`index`] (the public [`Index`]),
//! [`storage`] (the file), and `ffi` (the C ABI, the only `extern "C"`).
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
pub use storage::wal::{Durability, Recovery, SyncMode};
