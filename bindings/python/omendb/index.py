"""``Index``: a NumPy front end to ``omendb_index``; each method is one C call (or a few for
string-key results), with conversions only.

Vectors: ``np.ascontiguousarray(x, dtype=np.float32)``. A C-contiguous float32 array is handed
to C in place, without a copy; any other input (a list, float64, Fortran order, a strided view)
is converted into a new float32 array once per call. The same holds for uint64 key arrays.
"""

from __future__ import annotations

import ctypes
import operator
import os
from ctypes import byref, c_bool, c_char, c_float, c_size_t, c_uint32, c_uint64
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _ffi
from ._ffi import check, float_ptr, u64_ptr
from .errors import IndexClosedError

__all__ = ["Index", "NO_KEY"]

#: The label of a missing hit in the results of a u64-key index (UINT64_MAX).
NO_KEY = _ffi.OMENDB_NO_KEY

_METRICS = {"l2": _ffi.OMENDB_METRIC_L2, "ip": _ffi.OMENDB_METRIC_IP, "cosine": _ffi.OMENDB_METRIC_COSINE}
_METRIC_NAMES = {v: k for k, v in _METRICS.items()}
_KEY_KIND_NAMES = {
    _ffi.OMENDB_KEY_KIND_NONE: "none",
    _ffi.OMENDB_KEY_KIND_U64: "u64",
    _ffi.OMENDB_KEY_KIND_STRING: "string",
}
# An enum value C does not know: C reports OMENDB_STATUS_INVALID_ARGUMENT for it.
_UNKNOWN_ENUM = 2**32 - 1
_U64_LIMIT = 2**64

ArrayLike = Any  # anything np.ascontiguousarray accepts
Key = Union[str, bytes, int]
Ids = Union[Sequence[str], Sequence[bytes], Sequence[int], np.ndarray]


def _unsigned(value: Any, name: str) -> int:
    """``value`` as an int for a uint64_t / size_t parameter. ctypes would silently wrap a
    negative number, so that is refused here."""
    number = operator.index(value)
    if not 0 <= number < _U64_LIMIT:
        raise OverflowError(f"{name} = {number} does not fit an unsigned 64-bit integer")
    return number


def _rows(vectors: ArrayLike) -> Tuple[np.ndarray, bool]:
    """A 2-D C-contiguous float32 view of ``vectors`` ((n, d), or (d,) as one row), and
    whether it was one (d,) vector."""
    array = np.ascontiguousarray(vectors, dtype=np.float32)
    if array.ndim == 1:
        return array.reshape(1, -1), True  # a view: still no copy
    if array.ndim != 2:
        raise ValueError(f"expected a vector (d,) or a matrix (n, d), got shape {array.shape}")
    return array, False


def _u64_keys(ids: Any) -> np.ndarray:
    """Integer ids as a C-contiguous uint64 array (no copy for one already)."""
    if isinstance(ids, np.ndarray) and ids.dtype.kind == "O":
        ids = ids.tolist()  # Python ints in an object array: checked one by one below
    if isinstance(ids, np.ndarray):
        if ids.dtype.kind not in "ui":
            raise TypeError(f"ids must be integers or strings, got an array of {ids.dtype}")
        if ids.dtype.kind == "i" and ids.size and ids.min() < 0:
            raise OverflowError("ids must not be negative")
        keys = np.ascontiguousarray(ids, dtype=np.uint64)
        return keys if keys.ndim == 1 else keys.reshape(-1)
    return np.fromiter((_unsigned(i, "id") for i in ids), dtype=np.uint64, count=len(ids))


def _encode(key: Any) -> bytes:
    if isinstance(key, str):
        # surrogatepass: a lone surrogate becomes bytes that C rejects as INVALID_UTF8.
        return key.encode("utf-8", "surrogatepass")
    if isinstance(key, bytes):
        return key
    raise TypeError(f"string ids must all be str or bytes, got {type(key).__name__}")


def _is_string_ids(ids: Any) -> bool:
    if isinstance(ids, np.ndarray):
        return ids.dtype.kind in "USO" and ids.size > 0 and isinstance(ids.flat[0], (str, bytes))
    return len(ids) > 0 and isinstance(ids[0], (str, bytes))


class Index:
    """An HNSW vector index (``omendb_index``).

    Args:
        dim: vector dimensions, or 0 to take them from the first batch added.
        metric: ``"l2"`` (squared Euclidean), ``"ip"`` (1 - dot) or ``"cosine"`` (1 - cos).
        m: links per node on the upper layers (layer 0 gets 2 * m).
        ef_construction: beam width while inserting.
        ef_search: default beam width of a search (``ef=None``).
        seed: seed of the level sampler; None keeps the library's fixed default.

    Raises:
        InvalidArgumentError: an option out of range, or an unknown metric (reported by C).

    Keys are either all u64 or all strings; the first batch added decides. Methods may be
    called from many threads at once (C searches and inserts in parallel, and ctypes releases
    the GIL), except ``close``, which must not overlap any other call on the index.
    """

    _handle: Optional[Any] = None  # IndexPtr; None once closed

    def __init__(
        self,
        dim: int = 0,
        metric: str = "l2",
        m: int = 16,
        ef_construction: int = 200,
        ef_search: int = 64,
        seed: Optional[int] = None,
    ) -> None:
        self._string_keys = False  # set once C reports that this index holds string keys
        lib = _ffi.lib
        options = _ffi.OptionsPtr()
        err = _ffi.ErrorPtr()
        check(lib.omendb_options_create(byref(options), byref(err)), err)
        try:
            check(lib.omendb_options_set_dim(options, _unsigned(dim, "dim"), byref(err)), err, "dim")
            code = _METRICS.get(metric, metric if isinstance(metric, int) else _UNKNOWN_ENUM)
            check(
                lib.omendb_options_set_metric(options, code, byref(err)),
                err,
                f"metric {metric!r} (expected 'l2', 'ip' or 'cosine')",
            )
            check(lib.omendb_options_set_m(options, _unsigned(m, "m"), byref(err)), err, "m")
            check(
                lib.omendb_options_set_ef_construction(options, _unsigned(ef_construction, "ef_construction"), byref(err)),
                err,
                "ef_construction",
            )
            check(lib.omendb_options_set_ef_search(options, _unsigned(ef_search, "ef_search"), byref(err)), err, "ef_search")
            if seed is not None:
                check(lib.omendb_options_set_seed(options, _unsigned(seed, "seed"), byref(err)), err, "seed")
            handle = _ffi.IndexPtr()
            check(lib.omendb_index_create(options, byref(handle), byref(err)), err)
            self._handle = handle
        finally:
            lib.omendb_options_free(options)

    # ---- lifetime ----

    def close(self, _free: Any = _ffi.lib.omendb_index_free) -> None:
        """Frees the C index (``omendb_index_free``). Idempotent; afterwards every method
        raises ``IndexClosedError``. Must not run while another thread uses the index."""
        handle, self._handle = self._handle, None
        if handle:
            _free(handle)

    def __del__(self) -> None:
        self.close()

    def __enter__(self) -> "Index":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has been called."""
        return self._handle is None

    def _h(self) -> Any:
        handle = self._handle
        if handle is None:
            raise IndexClosedError("the index is closed", _ffi.OMENDB_STATUS_NULL_POINTER, "OMENDB_STATUS_NULL_POINTER")
        return handle

    # ---- inserting ----

    def add(self, vectors: ArrayLike, ids: Optional[Ids] = None) -> Union[List[Any], np.ndarray]:
        """Adds records, all or nothing.

        Args:
            vectors: an (n, d) matrix or one (d,) vector.
            ids: n str (or UTF-8 bytes) keys (``omendb_index_add_batch_str``), n ints or a
                uint64 array (``omendb_index_add_batch``), or None for automatic u64 keys
                counting up from 0 (``omendb_index_add_auto``).

        Returns:
            The ids: the given string keys as a list, or a uint64 array.

        Raises:
            DimensionMismatchError, NonFiniteError, ZeroVectorError (cosine), InvalidKeyError
            (empty or reserved key, or the other kind of key than the index holds),
            InvalidUtf8Error, DuplicateKeyError (already stored, or twice in the batch),
            InvalidArgumentError. On any error nothing is added.
        """
        return self._put(vectors, ids, upsert=False)

    def upsert(self, vectors: ArrayLike, ids: Ids) -> Union[List[Any], np.ndarray]:
        """As ``add``, but a key already stored gets the new vector (its old record is
        replaced in one step as seen by searches). A key twice in the batch is still a
        DuplicateKeyError. ``ids`` are required."""
        if ids is None:
            raise TypeError("upsert needs ids")
        return self._put(vectors, ids, upsert=True)

    def _put(self, vectors: ArrayLike, ids: Optional[Ids], upsert: bool) -> Union[List[Any], np.ndarray]:
        handle = self._h()
        lib = _ffi.lib
        rows, _ = _rows(vectors)
        n, dim = rows.shape
        err = _ffi.ErrorPtr()
        if ids is None:
            first = c_uint64()
            check(lib.omendb_index_add_auto(handle, float_ptr(rows), n, dim, byref(first), byref(err)), err)
            return np.arange(first.value, first.value + n, dtype=np.uint64)
        if isinstance(ids, (str, bytes, int, np.integer)):
            ids = [ids]  # type: ignore[assignment]
        if len(ids) != n:
            raise ValueError(f"{len(ids)} ids for {n} vectors")
        if _is_string_ids(ids):
            keys = ids.tolist() if isinstance(ids, np.ndarray) else list(ids)
            encoded = [_encode(k) for k in keys]
            pointers = (ctypes.c_char_p * n)(*encoded)
            lengths = (c_size_t * n)(*map(len, encoded))
            put_str = lib.omendb_index_upsert_batch_str if upsert else lib.omendb_index_add_batch_str
            check(put_str(handle, pointers, lengths, n, float_ptr(rows), dim, byref(err)), err)
            return keys
        keys_u64 = _u64_keys(ids)
        put = lib.omendb_index_upsert_batch if upsert else lib.omendb_index_add_batch
        check(put(handle, u64_ptr(keys_u64), n, float_ptr(rows), dim, byref(err)), err)
        return keys_u64

    # ---- removing ----

    def remove(self, id: Key) -> None:
        """Removes the record with this key (``omendb_index_remove`` / ``_remove_str``).

        Raises:
            KeyNotFoundError (a KeyError): the key is not stored.
            InvalidKeyError: the key is of the other kind than the index holds.
        """
        handle = self._h()
        err = _ffi.ErrorPtr()
        if isinstance(id, (str, bytes)):
            key = _encode(id)
            check(_ffi.lib.omendb_index_remove_str(handle, key, len(key), byref(err)), err)
        else:
            check(_ffi.lib.omendb_index_remove(handle, _unsigned(id, "id"), byref(err)), err)

    def compact(self) -> None:
        """Repairs the graph around removed records now and makes their memory reusable
        (``omendb_index_compact``; removal also does this on its own from time to time)."""
        handle = self._h()
        err = _ffi.ErrorPtr()
        check(_ffi.lib.omendb_index_compact(handle, byref(err)), err)

    # ---- searching ----

    def search(
        self, queries: ArrayLike, k: int = 10, ef: Optional[int] = None
    ) -> Tuple[np.ndarray, np.ndarray]:
        """The k nearest records of each query, nearest first.

        Args:
            queries: one (d,) vector, or an (n, d) batch (searched in parallel by C).
            k: hits per query.
            ef: beam width; None for the index's ef_search (C raises it to k when smaller).

        Returns:
            ``(labels, distances)``: shape (k,) for one query, (n, k) for a batch. Distances
            are float32 in the metric's units (squared L2, 1 - dot, 1 - cos). For u64 keys
            labels are uint64 and a missing hit (fewer than k records) is ``NO_KEY`` with
            distance inf; for string keys labels are an object array of str, None where
            missing.

        Raises:
            InvalidArgumentError (k = 0), DimensionMismatchError, NonFiniteError,
            ZeroVectorError (cosine).
        """
        handle = self._h()
        rows, one = _rows(queries)
        n, dim = rows.shape
        k = _unsigned(k, "k")
        ef = 0 if ef is None else _unsigned(ef, "ef")
        if not self._string_keys:
            labels = np.empty((n, k), dtype=np.uint64)
            distances = np.empty((n, k), dtype=np.float32)
            err = _ffi.ErrorPtr()
            status = _ffi.lib.omendb_index_search(
                handle, float_ptr(rows), n, dim, k, ef, u64_ptr(labels), float_ptr(distances), n * k, byref(err)
            )
            if status == _ffi.OMENDB_STATUS_OK:
                return (labels[0], distances[0]) if one else (labels, distances)
            if status != _ffi.OMENDB_STATUS_INVALID_KEY:
                _ffi.raise_status(status, err)
            # INVALID_KEY: this index holds string keys (a kind never changes once set).
            _ffi.lib.omendb_error_free(err)
            self._string_keys = True
        labels, distances = self._search_strings(handle, rows, k, ef)
        return (labels[0], distances[0]) if one else (labels, distances)

    def _search_strings(self, handle: Any, rows: np.ndarray, k: int, ef: int) -> Tuple[np.ndarray, np.ndarray]:
        lib = _ffi.lib
        n, dim = rows.shape
        err = _ffi.ErrorPtr()
        results = _ffi.ResultsPtr()
        check(lib.omendb_index_search_results(handle, float_ptr(rows), n, dim, k, ef, byref(results), byref(err)), err)
        try:
            pointer = ctypes.POINTER(c_float)()
            length = c_size_t()
            check(lib.omendb_results_distances(results, byref(pointer), byref(length), byref(err)), err)
            distances = np.full((n, k), np.inf, dtype=np.float32)
            if length.value:
                distances.reshape(-1)[:] = np.ctypeslib.as_array(pointer, shape=(length.value,))
            labels = np.full((n, k), None, dtype=object)
            count = c_size_t()
            key = ctypes.POINTER(c_char)()
            key_len = c_size_t()
            for query in range(n):
                check(lib.omendb_results_count(results, query, byref(count), byref(err)), err)
                row = labels[query]
                for rank in range(count.value):
                    check(lib.omendb_results_key_str(results, query, rank, byref(key), byref(key_len), byref(err)), err)
                    row[rank] = ctypes.string_at(key, key_len.value).decode("utf-8")
            return labels, distances
        finally:
            lib.omendb_results_free(results)

    # ---- saving and loading ----

    def save(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Saves the index to ``path`` (``omendb_index_save``), atomically: a crash at any
        moment leaves the previous file or the new one, whole. Changes from other threads
        wait while the bytes are written; searches keep running.

        Raises:
            IoError: the file cannot be created, written, synced or renamed.
            InvalidUtf8Error: the path is not valid UTF-8.
        """
        handle = self._h()
        encoded = os.fsencode(path)
        err = _ffi.ErrorPtr()
        check(_ffi.lib.omendb_index_save(handle, encoded, len(encoded), byref(err)), err)

    @classmethod
    def load(cls, path: Union[str, "os.PathLike[str]"]) -> "Index":
        """Loads an index saved by ``save`` into memory (``omendb_index_load``). It answers
        exactly as the saved index did.

        Raises:
            IoError: the file cannot be opened or read.
            CorruptError: not an OmenDB index file, truncated, or damaged.
            UnsupportedVersionError: written by a newer OmenDB in a format this one cannot read.
        """
        encoded = os.fsencode(path)
        handle = _ffi.IndexPtr()
        err = _ffi.ErrorPtr()
        check(_ffi.lib.omendb_index_load(encoded, len(encoded), byref(handle), byref(err)), err)
        index = cls.__new__(cls)
        index._string_keys = False
        index._handle = handle
        return index

    # ---- inspecting ----

    def __contains__(self, id: object) -> bool:
        """Whether the key is stored (``omendb_index_contains`` / ``_contains_str``)."""
        handle = self._h()
        err = _ffi.ErrorPtr()
        found = c_bool()
        if isinstance(id, (str, bytes)):
            key = _encode(id)
            check(_ffi.lib.omendb_index_contains_str(handle, key, len(key), byref(found), byref(err)), err)
        else:
            check(_ffi.lib.omendb_index_contains(handle, _unsigned(id, "id"), byref(found), byref(err)), err)
        return found.value

    def __len__(self) -> int:
        """The number of records (``omendb_index_len``)."""
        return self._size_t(_ffi.lib.omendb_index_len)

    @property
    def dim(self) -> int:
        """Vector dimensions; 0 while an index created with dim=0 is still empty."""
        return self._size_t(_ffi.lib.omendb_index_dim)

    @property
    def metric(self) -> str:
        """``"l2"``, ``"ip"`` or ``"cosine"``."""
        code = self._u32(_ffi.lib.omendb_index_metric)
        return _METRIC_NAMES.get(code, str(code))

    @property
    def key_kind(self) -> str:
        """``"none"`` until the first record is added, then ``"u64"`` or ``"string"``."""
        code = self._u32(_ffi.lib.omendb_index_key_kind)
        return _KEY_KIND_NAMES.get(code, str(code))

    def memory_bytes(self) -> int:
        """Approximate bytes of memory the index holds (``omendb_index_memory_bytes``)."""
        return self._size_t(_ffi.lib.omendb_index_memory_bytes)

    def _size_t(self, getter: Any) -> int:
        handle = self._h()
        err = _ffi.ErrorPtr()
        value = c_size_t()
        check(getter(handle, byref(value), byref(err)), err)
        return value.value

    def _u32(self, getter: Any) -> int:
        handle = self._h()
        err = _ffi.ErrorPtr()
        value = c_uint32()
        check(getter(handle, byref(value), byref(err)), err)
        return value.value

    def __repr__(self) -> str:
        if self._handle is None:
            return "<omendb.Index closed>"
        return f"<omendb.Index dim={self.dim} metric={self.metric!r} keys={self.key_kind!r} len={len(self)}>"

