"""What searching a collection split over several indexes takes (``src/ffi/shards.rs``): the
BM25 corpus statistics of a query (``TextStats``, from ``Index.text_stats``), summed over the
shards and given back to each shard's ``Index.text_search(..., stats=)``, and ``fuse``, the
hybrid fusion of result lists merged from several shards. ``omendb.ray`` is built on them."""

from __future__ import annotations

from ctypes import byref, c_size_t, c_uint64
from dataclasses import dataclass
from typing import Any, Iterable, Tuple

import numpy as np

from . import _ffi
from ._convert import _unsigned, enum_code
from ._ffi import check, float_ptr, u64_ptr


@dataclass(frozen=True)
class TextStats:
    """The statistics of a text corpus that the BM25 score of one query reads
    (``omendb_index_text_stats``): ``docs`` (records with a text), ``tokens`` (their total
    length in terms) and ``doc_freqs``, the number of texts holding each distinct query term
    (sorted term order). ``a + b`` is the statistics of two disjoint corpora together, so
    ``TextStats.total(shard.text_stats(q) for shard in shards)`` is the whole collection's;
    passed to each shard's ``text_search(q, stats=...)`` it gives every record the score it
    has in one index of all records."""

    docs: int
    tokens: int
    doc_freqs: Tuple[int, ...]

    def __add__(self, other: "TextStats") -> "TextStats":
        if not isinstance(other, TextStats):
            return NotImplemented
        if len(other.doc_freqs) != len(self.doc_freqs):
            raise ValueError(
                f"text statistics of {len(self.doc_freqs)} and {len(other.doc_freqs)} query terms cannot be added: "
                "not the same query, or indexes with other text options"
            )
        freqs = tuple(a + b for a, b in zip(self.doc_freqs, other.doc_freqs))
        total = TextStats(self.docs + other.docs, self.tokens + other.tokens, freqs)
        if max((total.docs, total.tokens, *freqs)) >= 2**64:
            raise ValueError("text statistics overflow 2**64")
        return total

    @staticmethod
    def total(parts: Iterable["TextStats"]) -> "TextStats":
        """The sum of ``parts`` (at least one)."""
        parts = list(parts)
        if not parts:
            raise ValueError("TextStats.total needs at least one part")
        whole = parts[0]
        for part in parts[1:]:
            whole = whole + part
        return whole


def text_stats_held(handle: Any, encoded: bytes) -> TextStats:
    """``omendb_index_text_stats`` on a held handle: asks for the term count, then the rest."""
    lib = _ffi.lib
    docs, tokens, terms = c_uint64(), c_uint64(), c_size_t()
    cap = 16
    while True:
        freqs = np.zeros(cap, dtype=np.uint64)
        err = _ffi.ErrorPtr()
        status = lib.omendb_index_text_stats(
            handle, encoded, len(encoded), byref(docs), byref(tokens), u64_ptr(freqs), cap, byref(terms), byref(err)
        )
        if status == _ffi.OMENDB_STATUS_BUFFER_TOO_SMALL and terms.value > cap:
            _ffi.lib.omendb_error_free(err)
            cap = terms.value
            continue
        check(status, err)
        return TextStats(docs.value, tokens.value, tuple(int(f) for f in freqs[: terms.value]))


def fuse(
    vector_ids: Any,
    vector_distances: Any,
    text_ids: Any,
    text_scores: Any,
    k: int = 10,
    fusion: str = "rrf",
    alpha: float = 0.5,
    rrf_k: float = 60,
) -> Tuple[np.ndarray, np.ndarray]:
    """The fusion of ``Index.hybrid_search`` applied to two lists you hold (``omendb_fuse``):
    a vector list (ids, distances; closest first) and a text list (ids, BM25 scores; best
    first), for example each merged from several shards. Ids are uint64 (keys, or positions
    in a list of string keys); an id twice in one list counts at its first place. ``fusion``,
    ``alpha`` and ``rrf_k`` as in ``hybrid_search``.

    Returns ``(ids, scores)``: the min(k, distinct ids) best, uint64 and float32, fused
    scores descending (equal scores: lower id first).

    Raises:
        InvalidArgumentError (k = 0, unknown fusion, alpha or rrf_k out of range, a non-finite
        value with the weighted fusion), ValueError (ids and values of different lengths).
    """
    k = _unsigned(k, "k")
    code = enum_code("fusion", fusion)
    param = float(rrf_k) if code == _ffi.OMENDB_FUSION_RRF else float(alpha)
    lists = []
    for ids, values, name in ((vector_ids, vector_distances, "vector"), (text_ids, text_scores, "text")):
        ids = np.ascontiguousarray(ids, dtype=np.uint64).reshape(-1)
        values = np.ascontiguousarray(values, dtype=np.float32).reshape(-1)
        if ids.shape != values.shape:
            raise ValueError(f"{name} ids and values differ in length: {ids.size} and {values.size}")
        lists.append((ids, values))
    (vi, vd), (ti, ts) = lists
    cap = min(k, vi.size + ti.size)
    ids_out = np.empty(cap, dtype=np.uint64)
    scores_out = np.empty(cap, dtype=np.float32)
    n = c_size_t()
    err = _ffi.ErrorPtr()
    status = _ffi.lib.omendb_fuse(
        code, param, u64_ptr(vi), float_ptr(vd), vi.size, u64_ptr(ti), float_ptr(ts), ti.size,
        k, u64_ptr(ids_out), float_ptr(scores_out), cap, byref(n), byref(err),
    )
    check(status, err)
    return ids_out[: n.value], scores_out[: n.value]
