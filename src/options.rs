//! [`IndexOptions`]: the settings fixed when an index is created, and the limits every value
//! is checked against.



use crate::error::{Error, Result};
use crate::metric::Metric;
use crate::quant::raw::RawStorage;
use crate::quant::Dtype;
use crate::text::{Bm25Params, TokenizerOptions};

/// Settings fixed when an index is created.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexOptions {
    /// Vector dimensions; 0 = taken from the first batch added.
    pub dim: usize,
    /// Distance metric.
    pub metric: Metric,
    /// Links per node on the upper layers (layer 0 gets 2 * m).
    pub m: usize,
    /// Beam width while inserting.
    pub ef_construction: usize,
    /// Default beam width while searching (raised to k when smaller).
    pub ef_search: usize,
    /// Seed of the level sampler; a single-threaded build with the same seed is reproducible.
    pub seed: u64,
    /// How record texts and text queries are cut into terms.
    pub text: TokenizerOptions,
    /// BM25 parameters of text search.
    pub bm25: Bm25Params,
    /// How vectors are stored in the graph (see `quant`); f32 by default.
    pub dtype: Dtype,
    /// Quantized dtypes: each search re-scores its best `rerank * k` candidates with the
    /// full-precision vectors (ef is raised to at least that many).
    pub rerank: usize,
    /// PQ sub-spaces (must divide `dim`); 0 = dim / 8.
    pub pq_m: usize,
    /// Quantized dtypes: where the full-precision vectors used to re-rank live.
    pub raw_storage: RawStorage,
    /// f32 only: bits per dimension (8 or 4; 0 = none, the default) of the neighbour codes:
    /// a code of each vector, which searches and inserts score neighbours with before
    /// re-scoring their best nodes exactly (see `hnsw::codes`). Faster searches and builds for
    /// 1.1-1.2x the memory.
    pub neighbor_codes: u8,
}

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions {
            dim: 0,
            metric: Metric::L2,
            m: 16,
            ef_construction: 200,
            ef_search: 64,
            seed: 0x0E_4E_4D_B0,
            text: TokenizerOptions::default(),
            bm25: Bm25Params::default(),
            dtype: Dtype::F32,
            rerank: DEFAULT_RERANK,
            pq_m: 0,
            raw_storage: RawStorage::Memory,
            neighbor_codes: 0,
        }
    }
}

/// Default re-ranking depth of quantized indexes, in multiples of k.
pub const DEFAULT_RERANK: usize = 4;
/// Largest accepted `rerank`.
pub const MAX_RERANK: usize = 1024;

/// Largest accepted `m`, `ef` and dimension count: far above any useful value, low enough
/// that sizes computed from them cannot overflow.
pub const MAX_M: usize = 512;
/// See [`MAX_M`].
pub const MAX_EF: usize = 1 << 20;
/// See [`MAX_M`].
pub const MAX_DIM: usize = 1 << 16;
/// Largest component magnitude accepted under L2 and inner product: at `MAX_DIM` dimensions,
/// a squared distance of components within ±1e16 stays below `f32::MAX` (65,536 x (2e16)^2 =
/// 2.6e37), so no distance becomes infinite or NaN. Cosine normalises and needs no bound.
pub const MAX_COMPONENT: f32 = 1e16;

impl IndexOptions {
    /// With neighbour codes, checks that a node's block fits at `dim` dimensions (see
    /// `hnsw::codes::check_block_size`); the error says why not. Nothing to check without
    /// codes or before the dimensions are known (0). The one check of creation, first add and
    /// a file's META.
    pub(crate) fn neighbor_blocks_fit(&self, dim: usize) -> std::result::Result<(), String> {
        if self.neighbor_codes == 0 || dim == 0 {
            return Ok(());
        }
        let m0 = crate::hnsw::Params::new(self.m, self.ef_construction).m0;
        crate::hnsw::codes::check_block_size(dim, m0, self.neighbor_codes)
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        if self.dim > MAX_DIM {
            return Err(Error::InvalidArgument(format!("dim {} is above the limit of {MAX_DIM}", self.dim)));
        }
        if !(2..=MAX_M).contains(&self.m) {
            return Err(Error::InvalidArgument(format!("m must be in 2..={MAX_M}, got {}", self.m)));
        }
        if !(1..=MAX_EF).contains(&self.ef_construction) {
            return Err(Error::InvalidArgument(format!(
                "ef_construction must be in 1..={MAX_EF}, got {}",
                self.ef_construction
            )));
        }
        if !(1..=MAX_EF).contains(&self.ef_search) {
            return Err(Error::InvalidArgument(format!("ef_search must be in 1..={MAX_EF}, got {}", self.ef_search)));
        }
        if !(1..=MAX_RERANK).contains(&self.rerank) {
            return Err(Error::InvalidArgument(format!("rerank must be in 1..={MAX_RERANK}, got {}", self.rerank)));
        }
        if self.pq_m != 0 && self.dtype != Dtype::Pq {
            return Err(Error::InvalidArgument(format!("pq_m applies to dtype pq only, not {}", self.dtype.name())));
        }
        if !matches!(self.neighbor_codes, 0 | 4 | 8) {
            return Err(Error::InvalidArgument(format!(
                "neighbor_codes must be 0, 4 or 8 bits, got {}",
                self.neighbor_codes
            )));
        }
        if self.neighbor_codes != 0 && self.dtype != Dtype::F32 {
            return Err(Error::InvalidArgument(format!(
                "neighbor_codes applies to dtype f32 only, not {}",
                self.dtype.name()
            )));
        }
        self.neighbor_blocks_fit(self.dim).map_err(Error::InvalidArgument)?;
        if self.dtype == Dtype::Pq && self.dim != 0 {
            crate::quant::pq::check_shape(self.dim, self.pq_m)?;
        }
        Ok(())
    }
}
