"""``Index``'s searches (``Searches``, a base of ``Index``): k nearest neighbours one query
or a batch at a time, filtered, exact, BM25 text, hybrid and range searches, and reading
results objects. Every method leases the handle for its C calls (``_lease.Leased``).
"""

from __future__ import annotations

import ctypes
from ctypes import byref, c_char, c_float, c_size_t, c_uint64
from typing import Any, List, Optional, Tuple

import numpy as np

from . import _ffi
from ._convert import (
    _F32,
    _NDARRAY,
    _ONE,
    _OUTPUT_TYPES,
    _SIZE_ARGS,
    _U64,
    _U64_LIMIT,
    NO_KEY,
    ArrayLike,
    FilterLike,
    _as_filter,
    enum_code,
    _encode,
    _frombuffer,
    _hit_count,
    _rows,
    _unsigned,
    size_t_held,
    u32_held,
)
from ._ffi import check, float_ptr, u64_ptr
from ._lease import Leased
from ._shards import TextStats, text_stats_held
from .errors import InvalidArgumentError


class Searches(Leased):
    """The search methods of ``Index``."""

    _string_keys = False  # set once C reports that this index holds string keys

    def search(
        self,
        queries: ArrayLike,
        k: int = 10,
        ef: Optional[int] = None,
        filter: FilterLike = None,
        exact: bool = False,
    ) -> Tuple[np.ndarray, np.ndarray]:
        """The k nearest records of each query, nearest first.

        Args:
            queries: one (d,) vector, or an (n, d) batch (searched in parallel by C).
            k: the most hits per query; any size (results are sized by min(k, len(index)),
                never by k, so ``k=2**40`` asks for every record at no cost).
            ef: beam width; None for the index's ef_search (C raises it to k when smaller).
            filter: None, or a ``Filter`` or filter text: only records whose metadata matches
                are returned (``omendb_index_search_filtered``; min(k, matches) hits each).
            exact: score every record (matching the filter) at full precision instead of
                searching the graph (``ef=OMENDB_EF_EXACT``): recall 1, for a cost that grows
                with the records. ``ef`` is then ignored.

        Returns:
            ``(labels, distances)``, only real hits, nearest first. Distances are float32 in
            the metric's units (squared L2, 1 - dot, 1 - cos); labels are uint64 for u64 keys
            and an object array of str for string keys.

            - One (d,) query: two arrays of length h, the number of hits found: min(k,
              len(index)), or fewer with a filter (0 on an empty index). No padding.
            - An (n, d) batch: two (n, w) arrays, w = min(k, len(index)) (0 on an empty
              index). A row with fewer than w hits (a filter, or records removed during the
              call) is padded at its end with ``NO_KEY`` (u64 keys; UINT64_MAX, as the C and Go
              APIs pad) or None (string keys), and distance inf.

        Raises:
            InvalidArgumentError (k = 0, or k or ef negative), DimensionMismatchError,
            NonFiniteError, ZeroVectorError (cosine), FilterSyntaxError (filter text that does
            not parse), TypeError (complex queries), IndexClosedError (the index or the
            filter was closed).
        """
        if exact:
            ef = _ffi.OMENDB_EF_EXACT
        if (
            filter is None
            and not exact
            and not self._string_keys
            and type(queries) is _NDARRAY
            and queries.dtype is _F32
            and queries.ndim == 1
            and type(k) is int
            and 0 < k <= 4096
            and (ef is None or (type(ef) is int and 0 <= ef < _U64_LIMIT))
        ):
            # One float32 query as given (the common single-query call): the same C call as
            # below without the generic conversions, which cost microseconds a call. ctypes
            # objects throughout (see `_ffi.untyped`); the results are new ctypes arrays, which
            # the returned numpy arrays own (no two calls share memory). Buffers of k <= 4096
            # places (at most 48 KiB) are cheaper than asking C for len() first.
            try:
                # The query's address; a read-only, non-contiguous or empty array raises and
                # takes the general path.
                query = byref(c_float.from_buffer(queries))  # type: ignore[arg-type]  # ndarray is a buffer
            except (TypeError, ValueError, BufferError):
                query = None
            if query is not None:
                sizes = _SIZE_ARGS
                k_arg = sizes[k]
                keys_type, distances_type = _OUTPUT_TYPES[k]
                keys = keys_type()
                distances_buffer = distances_type()
                # The lease of `Leased._acquire` / `_release`, inlined (half the cost).
                lock = self._lock
                lock.acquire()
                handle = self._handle
                if handle is not None:
                    self._users += 1
                lock.release()
                if handle is None:
                    self._acquire()  # raises IndexClosedError
                try:
                    status = _ffi.untyped.omendb_index_search(
                        handle, query, _ONE, sizes[queries.shape[0]], k_arg, sizes[ef or 0],
                        keys, distances_buffer, k_arg, None,
                    )
                finally:
                    lock.acquire()
                    self._users -= 1
                    idle = not self._users
                    lock.release()
                    if idle and self._pending is not None:  # close() ran meanwhile: free now
                        self._free_pending()
                if status == 0:  # OMENDB_STATUS_OK
                    if keys[k - 1] != NO_KEY:  # k hits (C pads a shorter row at its end)
                        return _frombuffer(keys, _U64), _frombuffer(distances_buffer, _F32)
                    hits = _hit_count(_frombuffer(keys, _U64))
                    return _frombuffer(keys, _U64, hits), _frombuffer(distances_buffer, _F32, hits)
                # An error (or string keys): the general path below repeats the call and reports it.
        handle = self._acquire()
        try:
            return self._search_held(handle, queries, k, ef, filter)
        finally:
            self._release()

    def _search_held(
        self, handle: Any, queries: ArrayLike, k: int, ef: Optional[int], filter: FilterLike
    ) -> Tuple[np.ndarray, np.ndarray]:
        lib = _ffi.lib
        rows, one = _rows(queries, "queries")
        n, dim = rows.shape
        k = _unsigned(k, "k")
        ef = 0 if ef is None else _unsigned(ef, "ef")
        if filter is not None:
            with _as_filter(filter) as (_, f):
                results = _ffi.ResultsPtr()
                err = _ffi.ErrorPtr()
                status = lib.omendb_index_search_filtered(
                    handle, float_ptr(rows), n, dim, k, ef, f, byref(results), byref(err)
                )
                check(status, err)
            return self._results(handle, results, n, k, one)
        if not self._string_keys:
            # The caller's buffers of omendb_index_search hold n x k: sized by min(k, len)
            # (a k above the records finds the same hits), never by k.
            width = min(k, size_t_held(handle, lib.omendb_index_len))
            if width:
                labels = np.empty((n, width), dtype=np.uint64)
                distances = np.empty((n, width), dtype=np.float32)
                err = _ffi.ErrorPtr()
                status = lib.omendb_index_search(
                    handle, float_ptr(rows), n, dim, width, ef, u64_ptr(labels), float_ptr(distances), n * width, byref(err)
                )
                if status == _ffi.OMENDB_STATUS_OK:
                    if one:
                        hits = _hit_count(labels[0])
                        return labels[0, :hits], distances[0, :hits]
                    return labels, distances
                if status != _ffi.OMENDB_STATUS_INVALID_KEY:
                    _ffi.raise_status(status, err)
                # INVALID_KEY: this index holds string keys (a kind never changes once set).
                lib.omendb_error_free(err)
                self._string_keys = True
        # String keys, or no room for a hit (an empty index, or k = 0, which C refuses): a
        # results object, which C sizes by min(k, len) after checking k and the queries.
        results = _ffi.ResultsPtr()
        err = _ffi.ErrorPtr()
        check(lib.omendb_index_search_results(handle, float_ptr(rows), n, dim, k, ef, byref(results), byref(err)), err)
        return self._results(handle, results, n, k, one)

    def _results(self, handle: Any, results: Any, n: int, k: int, one: bool) -> Tuple[np.ndarray, np.ndarray]:
        """``search``'s answer from a results object (freed here): its hits for one query,
        the padded (n, w) arrays for a batch."""
        # For n = 0 the object cannot tell its width: the shape is (0, min(k, len)).
        width = None if n else min(k, size_t_held(handle, _ffi.lib.omendb_index_len))
        labels, distances, counts = self._read_results(handle, results, n, width)
        if one:
            return labels[0, : counts[0]], distances[0, : counts[0]]
        return labels, distances

    def _read_results(
        self, handle: Any, results: Any, n: int, width: Optional[int] = None
    ) -> Tuple[np.ndarray, np.ndarray, List[int]]:
        """(labels, distances, hit counts) from a results object, which is freed here.
        The arrays are (n, w), w = the object's row width (min(k, records) when the search
        ran; ``width`` when n = 0); a row's places past its hit count hold NO_KEY (u64) or
        None (strings), and inf."""
        lib = _ffi.lib
        err = _ffi.ErrorPtr()
        try:
            strings = u32_held(handle, lib.omendb_index_key_kind) == _ffi.OMENDB_KEY_KIND_STRING
            pointer = ctypes.POINTER(c_float)()
            length = c_size_t()
            check(lib.omendb_results_distances(results, byref(pointer), byref(length), byref(err)), err)
            w = length.value // n if n else (width or 0)
            distances = np.full((n, w), np.inf, dtype=np.float32)
            if length.value:
                distances.reshape(-1)[:] = np.ctypeslib.as_array(pointer, shape=(length.value,))
            labels = np.full((n, w), None, dtype=object) if strings else np.full((n, w), NO_KEY, dtype=np.uint64)
            counts = []
            count = c_size_t()
            key = ctypes.POINTER(c_char)()
            key_len = c_size_t()
            key_u64 = c_uint64()
            for query in range(n):
                check(lib.omendb_results_count(results, query, byref(count), byref(err)), err)
                counts.append(count.value)
                row = labels[query]
                for rank in range(count.value):
                    if strings:
                        check(lib.omendb_results_key_str(results, query, rank, byref(key), byref(key_len), byref(err)), err)
                        row[rank] = ctypes.string_at(key, key_len.value).decode("utf-8")
                    else:
                        check(lib.omendb_results_key(results, query, rank, byref(key_u64), byref(err)), err)
                        row[rank] = key_u64.value
            return labels, distances, counts
        finally:
            lib.omendb_results_free(results)

    def text_search(
        self, query: str, k: int = 10, filter: FilterLike = None, *, stats: Optional[TextStats] = None
    ) -> Tuple[np.ndarray, np.ndarray]:
        """BM25 search over the records' texts (``omendb_index_text_search``).

        Args:
            query: the words looked for.
            k: the most hits returned.
            filter: None, or a ``Filter`` or filter text restricting the records searched.
            stats: None (score with this index's own statistics), or the ``TextStats`` of the
                whole collection this index is a shard of: the sum of ``text_stats(query)``
                over every shard (``omendb_index_text_search_with_stats``). Each record then
                gets the score it has in one index of all records, so the shards' hits merge
                by score.

        Returns:
            ``(labels, scores)``, best first, of length min(k, records holding a query word)
            (no padding; any k: C sizes its results by min(k, records)): labels as in
            ``search`` (uint64 or str), scores float32 BM25 (higher is better).

        Raises:
            InvalidArgumentError (k = 0 or negative; ``stats`` of another query or of indexes
            with other text options), FilterSyntaxError, TypeError (a query that is not str or
            bytes, ``stats`` that is not a TextStats).
        """
        k = _unsigned(k, "k")
        encoded = _encode(query, "query")
        if stats is not None and not isinstance(stats, TextStats):
            raise TypeError(f"stats must be a TextStats (from text_stats), got {type(stats).__name__}")
        handle = self._acquire()
        try:
            with _as_filter(filter) as (_, f):
                results = _ffi.ResultsPtr()
                err = _ffi.ErrorPtr()
                if stats is None:
                    status = _ffi.lib.omendb_index_text_search(handle, encoded, len(encoded), k, f, byref(results), byref(err))
                else:
                    docs, tokens = _unsigned(stats.docs, "stats.docs"), _unsigned(stats.tokens, "stats.tokens")
                    freqs = np.array([_unsigned(df, "stats.doc_freqs") for df in stats.doc_freqs], dtype=np.uint64)
                    status = _ffi.lib.omendb_index_text_search_with_stats(
                        handle, encoded, len(encoded), k, f, docs, tokens, u64_ptr(freqs), freqs.size,
                        byref(results), byref(err),
                    )
                check(status, err)
            return self._results(handle, results, 1, k, one=True)
        finally:
            self._release()

    def text_stats(self, query: str) -> TextStats:
        """The BM25 corpus statistics of ``query`` in this index (``omendb_index_text_stats``):
        records with a text, their total length in terms, and the number of texts holding
        each distinct query term. Summed over the shards of a collection, they are what
        ``text_search(query, stats=...)`` takes (see ``TextStats``).

        Raises:
            TypeError (a query that is not str or bytes).
        """
        encoded = _encode(query, "query")
        handle = self._acquire()
        try:
            return text_stats_held(handle, encoded)
        finally:
            self._release()

    def hybrid_search(
        self,
        vector: ArrayLike,
        text: str,
        k: int = 10,
        ef: Optional[int] = None,
        filter: FilterLike = None,
        fusion: str = "rrf",
        alpha: float = 0.5,
        rrf_k: float = 60,
    ) -> Tuple[np.ndarray, np.ndarray]:
        """Vector search and BM25 text search fused into one ranking
        (``omendb_index_hybrid_search``); both sides restricted by ``filter`` when given.

        Args:
            vector: one (d,) query vector.
            text: the text query.
            k: the most hits returned.
            ef: beam width of the vector side (None: the index's ef_search).
            filter: None, or a ``Filter`` or filter text.
            fusion: ``"rrf"``: score = sum over both lists of 1 / (rrf_k + rank), or
                ``"weighted"``: alpha * minmax(-distance) + (1 - alpha) * minmax(bm25).
            alpha: weight of the vector side for ``"weighted"``, in [0, 1].
            rrf_k: the RRF constant for ``"rrf"``.

        Returns:
            ``(labels, scores)``, best first, at most min(k, len(index)) (no padding; any k):
            fused scores (higher is better).

        Raises:
            InvalidArgumentError (k = 0, k or ef negative, unknown fusion, alpha or rrf_k out
            of range), DimensionMismatchError, NonFiniteError, ZeroVectorError,
            FilterSyntaxError, TypeError (a complex vector, a text that is not str or bytes).
        """
        rows, one = _rows(vector, "vector")
        if not one and rows.shape[0] != 1:
            raise ValueError(f"hybrid_search takes one vector, got shape {rows.shape}")
        k = _unsigned(k, "k")
        ef = 0 if ef is None else _unsigned(ef, "ef")
        code = enum_code("fusion", fusion)
        param = float(rrf_k) if code == _ffi.OMENDB_FUSION_RRF else float(alpha)
        encoded = _encode(text, "text")
        dim = rows.shape[1]
        handle = self._acquire()
        try:
            with _as_filter(filter) as (_, f):
                results = _ffi.ResultsPtr()
                err = _ffi.ErrorPtr()
                status = _ffi.lib.omendb_index_hybrid_search(
                    handle, float_ptr(rows), dim, encoded, len(encoded), k, ef, f, code, param, byref(results), byref(err)
                )
                check(status, err)
            return self._results(handle, results, 1, k, one=True)
        finally:
            self._release()

    def range_search(
        self, query: ArrayLike, radius: float, limit: Optional[int] = None, filter: FilterLike = None, ef: Optional[int] = None
    ) -> Tuple[np.ndarray, np.ndarray]:
        """Every record within ``radius`` of ``query`` (distance <= radius, in the metric's
        units), nearest first, at most ``limit`` (``omendb_index_range_search``). Exact for
        indexes of up to 4,096 records and with ``ef=OMENDB_EF_EXACT``; above, a graph
        search that deepens until it passes the radius (recall: BENCHMARKS.md).

        Returns ``(labels, distances)`` as ``search`` does for one query."""
        rows, one = _rows(query, "query")
        if not one:
            raise ValueError(f"range_search takes one (d,) query, got shape {rows.shape}")
        limit_arg = 0 if limit is None else _unsigned(limit, "limit")
        if limit == 0:
            raise InvalidArgumentError("limit must be at least 1 (None: no limit)")
        ef_arg = 0 if ef is None else _unsigned(ef, "ef")
        handle = self._acquire()
        try:
            with _as_filter(filter) as (_, f):
                results = _ffi.ResultsPtr()
                err = _ffi.ErrorPtr()
                status = _ffi.lib.omendb_index_range_search(
                    handle, float_ptr(rows), rows.shape[1], float(radius), limit_arg, ef_arg, f, byref(results), byref(err)
                )
                check(status, err)
            return self._results(handle, results, 1, limit_arg or _ffi.OMENDB_EF_EXACT, one=True)
        finally:
            self._release()
