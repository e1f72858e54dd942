//! The one error type of the crate. Each variant is a failure class with a stable
//! status number in the C API (see `ffi::status`), and carries the context a user needs.

use std::fmt;

/// What went wrong, with enough context to fix the call.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// An argument is invalid in itself (k = 0, M < 2, an unknown metric...).
    InvalidArgument(String),
    /// A vector's length does not match the index's dimensions.
    DimensionMismatch { expected: usize, got: usize },
    /// A vector holds NaN or an infinity (record `index` of the batch, component `component`).
    NonFiniteValue { index: usize, component: usize },
    /// A component is finite but too large for f32 distances under L2 or inner product.
    ValueTooLarge { index: usize, component: usize, limit: f32 },
    /// A zero vector was given to a cosine index, where its direction is undefined.
    ZeroVector { index: usize },
    /// A key is empty, too long, or of the other kind than the index's keys.
    InvalidKey(String),
    /// The key is already stored (add does not overwrite; use upsert), or repeats in a batch.
    DuplicateKey(String),
    /// The key is not stored.
    KeyNotFound(String),
    /// A bug: a panic caught at the C boundary, or an invariant that did not hold.
    Internal(String),
    /// The operating system refused a file operation (open, read, write, fsync, rename...);
    /// the message names the path and the OS error.
    Io(String),
    /// A file is not a valid OmenDB index: a foreign file, truncated, or damaged (a checksum
    /// or a structural check failed); the message says which part.
    Corrupt(String),
    /// The file was written in a format version this build cannot read.
    UnsupportedVersion { found: u32, supported: u32 },
    /// Filter text that does not parse: the byte offset of the token at fault (the text's
    /// length when it ended too early) and what was expected there.
    FilterSyntax { offset: usize, message: String },
    /// A durable index directory is open for writing by another process or handle (the
    /// message names the directory and the holder's pid).
    Locked(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Error::DimensionMismatch { expected, got } => {
                write!(f, "dimension mismatch: the index has {expected} dimensions, the input has {got}")
            }
            Error::NonFiniteValue { index, component } => {
                write!(f, "vector {index} has a NaN or infinite value at component {component}")
            }
            Error::ValueTooLarge { index, component, limit } => write!(
                f,
                "vector {index} has a value beyond ±{limit:e} at component {component}: its distances would overflow f32"
            ),
            Error::ZeroVector { index } => {
                write!(f, "vector {index} is all zeros, which has no direction under the cosine metric")
            }
            Error::InvalidKey(m) => write!(f, "invalid key: {m}"),
            Error::DuplicateKey(m) => write!(f, "duplicate key: {m}"),
            Error::KeyNotFound(k) => write!(f, "key not found: {k}"),
            Error::Internal(m) => write!(f, "internal error: {m}"),
            Error::Io(m) => write!(f, "I/O error: {m}"),
            Error::Corrupt(m) => write!(f, "corrupt index file: {m}"),
            Error::UnsupportedVersion { found, supported } => write!(
                f,
                "unsupported file format version {found}: this build of OmenDB reads version {supported} (a newer OmenDB wrote the file)"
            ),
            Error::FilterSyntax { offset, message } => write!(f, "filter syntax error at byte {offset}: {message}"),
            Error::Locked(m) => write!(f, "locked: {m}"),
        }
    }
}

impl std::error::Error for Error {}

/// Result with the crate's error.
pub type Result<T> = std::result::Result<T, Error>;
