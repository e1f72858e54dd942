//! Checks of what callers hand in: batch shapes, vectors and queries (NaN, infinities, zero
//! vectors under cosine, components too large for f32 distances), k. The FFI checks and
//! converts pointers; the values are checked here, once. Some checks are called by the C API
//! itself, ahead of its own (output sizes, key kinds, pointers), to keep the order in which it
//! reports errors; the engine's entry points run them again, at no cost worth counting.

use crate::error::{Error, Result};
use crate::hnsw::Graph;
use crate::metric::Metric;

use super::{Index, MAX_COMPONENT};

impl Index {
    /// Works out the row length of a batch of `n` rows held in `flat`, and checks it.
    pub(super) fn batch_dim(&self, n: usize, flat: &[f32]) -> Result<usize> {
        let dim = self.dim();
        if n == 0 {
            if !flat.is_empty() {
                return Err(Error::InvalidArgument(format!("{} floats given for 0 keys", flat.len())));
            }
            return Ok(dim);
        }
        if dim == 0 {
            if !flat.len().is_multiple_of(n) || flat.is_empty() {
                return Err(Error::InvalidArgument(format!(
                    "{} floats do not split into {n} vectors of equal length",
                    flat.len()
                )));
            }
            return Ok(flat.len() / n);
        }
        if flat.len() != n * dim {
            return Err(Error::DimensionMismatch { expected: dim, got: flat.len() / n.max(1) });
        }
        Ok(dim)
    }

    /// Checks vectors (stored or queries) for NaN, infinities, (under L2 and inner product)
    /// components too large for f32 distances, and (under cosine) zero length.
    pub(super) fn check_vectors(&self, flat: &[f32], dim: usize) -> Result<()> {
        let bounded = self.options.metric != Metric::Cosine;
        if dim == 0 {
            // An empty query to an index whose dimensions are not fixed yet: one row of no
            // floats (`chunks_exact(0)` would panic). Nothing in it is non-finite or too large;
            // under cosine it is the zero vector.
            return if bounded { Ok(()) } else { Err(Error::ZeroVector { index: 0 }) };
        }
        for (i, row) in flat.chunks_exact(dim).enumerate() {
            if let Some(c) = row.iter().position(|x| !x.is_finite()) {
                return Err(Error::NonFiniteValue { index: i, component: c });
            }
            if bounded {
                if let Some(c) = row.iter().position(|x| x.abs() > MAX_COMPONENT) {
                    return Err(Error::ValueTooLarge { index: i, component: c, limit: MAX_COMPONENT });
                }
            }
            if !bounded && row.iter().all(|&x| x == 0.0) {
                return Err(Error::ZeroVector { index: i });
            }
        }
        Ok(())
    }

    /// The graph to search for a query of `query_len` floats (None for an empty index),
    /// checking its dimensions.
    fn graph_for_query(&self, query_len: usize) -> Result<Option<&Graph>> {
        let Some(graph) = self.graph.get() else {
            return Ok(None);
        };
        if query_len != graph.store.dim() {
            return Err(Error::DimensionMismatch { expected: graph.store.dim(), got: query_len });
        }
        Ok(Some(graph))
    }

    /// Checks a batch of `n` queries stored row-major in `queries` before any is searched, so
    /// that a batch fails as a whole or not at all. Returns the row length.
    pub fn check_queries(&self, queries: &[f32], n: usize, k: usize) -> Result<usize> {
        self.check_batch(queries, n, k).map(|(dim, _)| dim)
    }

    /// `check_queries`, also returning the graph the queries were checked against (None for
    /// an empty index, or when n = 0).
    pub(super) fn check_batch(&self, queries: &[f32], n: usize, k: usize) -> Result<(usize, Option<&Graph>)> {
        check_k(k)?;
        if n == 0 {
            return Ok((self.dim(), None));
        }
        if !queries.len().is_multiple_of(n) || queries.is_empty() {
            return Err(Error::InvalidArgument(format!("{} floats do not split into {n} queries", queries.len())));
        }
        let dim = queries.len() / n;
        let graph = self.graph_for_query(dim)?;
        self.check_vectors(queries, dim)?;
        Ok((dim, graph))
    }

    /// Checks k and a query vector; returns the graph (None for an empty index).
    pub(super) fn check_query(&self, query: &[f32], k: usize) -> Result<Option<&Graph>> {
        check_k(k)?;
        let graph = self.graph_for_query(query.len())?;
        self.check_vectors(query, query.len())?;
        Ok(graph)
    }

    /// The shape of a batch of `n` rows of `dim` floats to store, as the C API takes it: at
    /// least one dimension, and the index's number once it has one. (The rows' values are
    /// checked by the write itself.)
    pub(crate) fn check_row_shape(&self, n: usize, dim: usize) -> Result<()> {
        if n > 0 && dim == 0 {
            return Err(no_dimensions());
        }
        self.check_same_dim(n, dim)
    }

    /// The shape of `n` queries of `dim` floats, as the C API takes them: the index's number
    /// of dimensions once it has one, and at least one. (The values are checked by
    /// `check_queries` or the search itself.)
    pub(crate) fn check_query_shape(&self, n: usize, dim: usize) -> Result<()> {
        self.check_same_dim(n, dim)?;
        if n > 0 && dim == 0 {
            return Err(no_dimensions());
        }
        Ok(())
    }

    /// A non-empty batch of `dim`-float rows against the index's dimensions (0: not fixed
    /// yet, which `dim()` reports for an index created without them, before its first batch).
    fn check_same_dim(&self, n: usize, dim: usize) -> Result<()> {
        let have = self.dim();
        if n > 0 && have != 0 && dim != have {
            return Err(Error::DimensionMismatch { expected: have, got: dim });
        }
        Ok(())
    }
}

/// k, the number of hits a search asks for: at least 1.
pub(crate) fn check_k(k: usize) -> Result<()> {
    if k == 0 {
        return Err(Error::InvalidArgument("k must be at least 1".into()));
    }
    Ok(())
}

fn no_dimensions() -> Error {
    Error::InvalidArgument("dim must be at least 1".into())
}
