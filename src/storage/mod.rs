//! Persistence: the index file on disk (its format, checked reading and writing, the atomic
//! write that replaces it) and the read-only open over a file mapping. The encoders of the
//! sections that hold metadata and texts live beside that data (`filter::store`, `text`) and
//! write through `crate::encoding`. `wal`: the write-ahead log and directory of a durable index.
pub mod atomic;
pub mod format;
pub mod mapped;
pub mod wal;
