"""``Index``: a NumPy front end to ``omendb_index``; each method is one C call (or a few:
reading a results object, ``omendb_index_len`` to size a batch search's arrays), with
conversions only.

Vectors: ``np.ascontiguousarray(x, dtype=np.float32)``. A C-contiguous float32 array is handed
to C in place, without a copy; any other input (a list, float64, Fortran order, a strided view)
is converted into a new float32 array once per call; complex input is refused (TypeError)
rather than losing its imaginary part. The same holds for uint64 key arrays.

Integers for ``size_t`` / ``uint64_t`` parameters (k, ef, dim, m, ids, ...) must fit: a
negative or too large one is InvalidArgumentError (a ValueError), not silently wrapped.

Results hold only real hits: one (d,) query gets arrays of its hit count; an (n, d) batch gets
(n, min(k, len(index))) arrays, rows with fewer hits padded with ``NO_KEY`` / None and inf.
Nothing is ever allocated by k alone.

Every method holds the C index for the whole of its C calls (``_lease.Leased``), so ``close()``
from another thread never frees it under a running call.
"""

from __future__ import annotations

import ctypes
import json
import operator
import os
from ctypes import byref, c_bool, c_char, c_float, c_size_t, c_uint32, c_uint64
from typing import Any, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _ffi
from ._ffi import check, float_ptr, u64_ptr
from ._lease import Leased
from .errors import IndexClosedError, InvalidArgumentError, KeyNotFoundError
from .filter import Filter

__all__ = ["Index", "NO_KEY"]

#: The label that pads a row of a batch search with fewer hits than the others have room for,
#: in a u64-key index (UINT64_MAX, the C header's OMENDB_NO_KEY; Go's ``NoKey``). Never a
#: stored key: C refuses it as one.
NO_KEY = _ffi.OMENDB_NO_KEY

_METRICS = {"l2": _ffi.OMENDB_METRIC_L2, "ip": _ffi.OMENDB_METRIC_IP, "cosine": _ffi.OMENDB_METRIC_COSINE}
_METRIC_NAMES = {v: k for k, v in _METRICS.items()}
_DTYPES = {
    "f32": _ffi.OMENDB_DTYPE_F32,
    "f16": _ffi.OMENDB_DTYPE_F16,
    "int8": _ffi.OMENDB_DTYPE_INT8,
    "binary": _ffi.OMENDB_DTYPE_BINARY,
    "pq": _ffi.OMENDB_DTYPE_PQ,
}
_KEY_KIND_NAMES = {
    _ffi.OMENDB_KEY_KIND_NONE: "none",
    _ffi.OMENDB_KEY_KIND_U64: "u64",
    _ffi.OMENDB_KEY_KIND_STRING: "string",
}
# An enum value C does not know: C reports OMENDB_STATUS_INVALID_ARGUMENT for it.
_SYNC_MODES = {"always": _ffi.OMENDB_SYNC_ALWAYS, "batch": _ffi.OMENDB_SYNC_BATCH, "off": _ffi.OMENDB_SYNC_OFF}
_UNKNOWN_ENUM = 2**32 - 1
_U64_LIMIT = 2**64
# For the single-query fast path of `Index.search` (module globals: no attribute lookups).
_F32 = np.dtype(np.float32)
_U64 = np.dtype(np.uint64)
_frombuffer = np.frombuffer
_SIZE_ARGS = _ffi.SIZE_ARGS
_ONE = _SIZE_ARGS[1]
_NDARRAY = np.ndarray
_OUTPUT_TYPES = _ffi.OUTPUT_TYPES

ArrayLike = Any  # anything np.ascontiguousarray accepts
Key = Union[str, bytes, int]
Ids = Union[Sequence[str], Sequence[bytes], Sequence[int], np.ndarray]
Metadata = Optional[Sequence[Union[dict, str, bytes, None]]]
Texts = Optional[Sequence[Union[str, bytes, None]]]
FilterLike = Union[str, Filter, None]
_FUSIONS = {"rrf": _ffi.OMENDB_FUSION_RRF, "weighted": _ffi.OMENDB_FUSION_WEIGHTED}


def _payload(entries: Optional[Sequence[Any]], n: int, name: str, as_json: bool) -> Tuple[Any, Any]:
    """(pointers, lengths) for an optional per-record string array: (None, None) for no
    array; a None entry stays NULL (no payload for that record). Dicts (metadata) go through
    json.dumps."""
    if entries is None:
        return None, None
    if len(entries) != n:
        raise ValueError(f"{len(entries)} {name} entries for {n} vectors")
    encoded: List[Optional[bytes]] = []
    for position, entry in enumerate(entries):
        if entry is None:
            encoded.append(None)
        elif as_json and not isinstance(entry, (str, bytes)):
            try:
                text = json.dumps(entry)
            except TypeError as error:
                raise TypeError(f"{name}[{position}]: {error}") from None
            encoded.append(text.encode("utf-8"))
        else:
            encoded.append(_encode(entry, f"{name}[{position}]"))
    pointers = (ctypes.c_char_p * n)(*encoded)
    lengths = (c_size_t * n)(*(0 if e is None else len(e) for e in encoded))
    return pointers, lengths


def _unsigned(value: Any, name: str) -> int:
    """``value`` as an int for a uint64_t / size_t parameter. ctypes would silently wrap a
    negative number, so that is refused here (InvalidArgumentError, a ValueError)."""
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None
    if not 0 <= number < _U64_LIMIT:
        raise InvalidArgumentError(f"{name} = {number} is out of range (0 <= {name} < 2**64)")
    return number


def _u32(value: Any, name: str) -> int:
    """``value`` as an int for a uint32_t parameter (out of range: InvalidArgumentError)."""
    number = _unsigned(value, name)
    if number >= 2**32:
        raise InvalidArgumentError(f"{name} = {number} is out of range (0 <= {name} < 2**32)")
    return number


def _u64_key(value: Any, name: str = "id") -> int:
    """One integer key. A bool is refused (TypeError), not taken as 0 or 1."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int or a str, not a bool ({value!r})")
    return _unsigned(value, name)


def _rows(vectors: ArrayLike, name: str) -> Tuple[np.ndarray, bool]:
    """A 2-D C-contiguous float32 view of ``vectors`` ((n, d), or (d,) as one row), and
    whether it was one (d,) vector. Complex input is refused (TypeError): converting it would
    silently drop the imaginary parts."""
    if not isinstance(vectors, np.ndarray):
        vectors = np.asarray(vectors)  # no copy for an object with the buffer protocol
    if vectors.dtype.kind == "c":
        raise TypeError(f"{name} are complex ({vectors.dtype}): OmenDB takes real float32 vectors")
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
            raise InvalidArgumentError(f"ids must not be negative (got {ids.min()})")
        keys = np.ascontiguousarray(ids, dtype=np.uint64)
        return keys if keys.ndim == 1 else keys.reshape(-1)
    return np.fromiter((_u64_key(i, "ids entry") for i in ids), dtype=np.uint64, count=len(ids))


def _encode(text: Any, name: str = "string ids") -> bytes:
    """``text`` as UTF-8 bytes; ``name`` names the argument in the TypeError for another type."""
    if isinstance(text, str):
        # surrogatepass: a lone surrogate becomes bytes that C rejects as INVALID_UTF8.
        return text.encode("utf-8", "surrogatepass")
    if isinstance(text, bytes):
        return text
    raise TypeError(f"{name} must be str or bytes, got {type(text).__name__}")


def _hit_count(labels: np.ndarray) -> int:
    """The hits in a non-empty u64 row written by ``omendb_index_search``: C writes them
    first and pads the rest of the row with NO_KEY (never a stored key)."""
    if labels[-1] != NO_KEY:
        return len(labels)
    return int(np.argmax(labels == NO_KEY))


def _is_string_ids(ids: Any) -> bool:
    if isinstance(ids, np.ndarray):
        return ids.dtype.kind in "USO" and ids.size > 0 and isinstance(ids.flat[0], (str, bytes))
    return len(ids) > 0 and isinstance(ids[0], (str, bytes))


class _as_filter:
    """``with _as_filter(f) as (filter_object, handle_or_None)``: a ``Filter`` is used as is,
    filter text is parsed for the call and freed after it, None stays None (NULL)."""

    def __init__(self, value: FilterLike) -> None:
        self._owned: Optional[Filter] = None
        if value is None:
            self._filter: Optional[Filter] = None
        elif isinstance(value, Filter):
            self._filter = value
        elif isinstance(value, str):
            self._owned = self._filter = Filter(value)
        else:
            raise TypeError(f"filter must be a str or an omendb.Filter, got {type(value).__name__}")

    def __enter__(self) -> Tuple[Any, Any]:
        # The filter's handle is leased for the block: a concurrent Filter.close() frees it
        # only after the block (see _lease.Leased).
        return self._filter, (self._filter._acquire() if self._filter is not None else None)

    def __exit__(self, *exc: Any) -> None:
        if self._filter is not None:
            self._filter._release()
        if self._owned is not None:
            self._owned.close()


class Index(Leased):
    """An HNSW vector index (``omendb_index``).

    Args:
        dim: vector dimensions, or 0 to take them from the first batch added.
        metric: ``"l2"`` (squared Euclidean), ``"ip"`` (1 - dot) or ``"cosine"`` (1 - cos).
        m: links per node on the upper layers (layer 0 gets 2 * m).
        ef_construction: beam width while inserting.
        ef_search: default beam width of a search (``ef=None``).
        seed: seed of the level sampler; None keeps the library's fixed default.
        dtype: how vectors are stored in the graph: ``"f32"`` (default), ``"f16"``,
            ``"int8"``, ``"binary"`` or ``"pq"`` (``omendb_options_set_dtype``). Other than f32,
            the graph is built and searched on compact codes and each search re-scores its best
            ``rerank * k`` candidates at full precision (distances are exact). ``"int8"`` and
            ``"pq"`` learn from the first batch added, which must hold at least 256 / 1024
            vectors (else ``InvalidArgumentError``). Quantized indexes cannot be saved yet.
        rerank: re-ranking depth in multiples of k (1..=1024); None keeps the default (4).
        pq_m: PQ sub-spaces, a divisor of ``dim`` (0 = dim / 8); only with ``dtype="pq"``.
        full_precision_dir: keep the full-precision vectors of a quantized index in an
            unlinked, memory-mapped temporary file in this directory (page cache) instead of
            anonymous memory.
        path: a directory that makes the index durable (``omendb_options_set_path``): created
            with the index if there is none there, else recovered (the newest snapshot loaded,
            the write-ahead log after it replayed). Every add, upsert and remove is in the log
            before it returns. Options given here must equal the stored ones
            (InvalidArgumentError otherwise); options left out take them, so
            ``Index(path="data/docs")`` reopens. The directory is locked while the index is
            open: a second ``Index`` on it raises LockedError. ``close()`` syncs and unlocks.
        sync: when a durable index's writes reach the disk: ``"always"`` (before each call
            returns; concurrent writers share one fsync), ``"batch"`` (every
            ``sync_interval_ms``; a machine crash loses at most that window) or ``"off"`` (the
            OS decides). A crash of the process alone loses no returned write in any mode.
        checkpoint_bytes: the log size past which a durable index checkpoints on its own
            (0: never; default 256 MiB). See ``checkpoint``.

    Options left as None take the C defaults (dim 0, metric ``"l2"``, m 16,
    ef_construction 200, ef_search 64, dtype ``"f32"``, rerank 4, pq_m 0), or for a durable
    index that exists, its stored values.

    Raises:
        InvalidArgumentError: an option out of range, or an unknown metric, dtype or sync mode
            (reported by C), or an option that conflicts with a stored durable index.
        LockedError: ``path`` is open for writing elsewhere.
        IoError, CorruptError: ``path`` cannot be read, or holds a damaged snapshot.

    Keys are either all u64 or all strings; the first batch added decides.

    Thread safety: methods may be called from many threads at once (C searches and inserts in
    parallel, and ctypes releases the GIL), ``close`` included: each call holds the C index
    for the whole of its C calls, and ``close`` frees it only once no call holds it (see
    ``close``).
    """

    _CLOSED = "the index is closed"
    _string_keys = False  # set once C reports that this index holds string keys

    def __init__(
        self,
        dim: Optional[int] = None,
        metric: Optional[str] = None,
        m: Optional[int] = None,
        ef_construction: Optional[int] = None,
        ef_search: Optional[int] = None,
        seed: Optional[int] = None,
        dtype: Optional[str] = None,
        rerank: Optional[int] = None,
        pq_m: Optional[int] = None,
        full_precision_dir: Optional[str] = None,
        *,
        path: Optional[Union[str, "os.PathLike[str]"]] = None,
        sync: str = "always",
        sync_interval_ms: int = 100,
        checkpoint_bytes: Optional[int] = None,
    ) -> None:
        lib = _ffi.lib
        options = _ffi.OptionsPtr()
        err = _ffi.ErrorPtr()
        check(lib.omendb_options_create(byref(options), byref(err)), err)
        try:
            # Only the options given are set: reopening a durable directory compares exactly
            # those with the stored ones, and the rest take the stored values.
            if dim is not None:
                check(lib.omendb_options_set_dim(options, _unsigned(dim, "dim"), byref(err)), err, "dim")
            if metric is not None:
                code = _METRICS.get(metric, metric if isinstance(metric, int) else _UNKNOWN_ENUM)
                check(
                    lib.omendb_options_set_metric(options, code, byref(err)),
                    err,
                    f"metric {metric!r} (expected 'l2', 'ip' or 'cosine')",
                )
            if m is not None:
                check(lib.omendb_options_set_m(options, _unsigned(m, "m"), byref(err)), err, "m")
            if ef_construction is not None:
                check(
                    lib.omendb_options_set_ef_construction(options, _unsigned(ef_construction, "ef_construction"), byref(err)),
                    err,
                    "ef_construction",
                )
            if ef_search is not None:
                check(lib.omendb_options_set_ef_search(options, _unsigned(ef_search, "ef_search"), byref(err)), err, "ef_search")
            if seed is not None:
                check(lib.omendb_options_set_seed(options, _unsigned(seed, "seed"), byref(err)), err, "seed")
            if dtype is not None:
                code = _DTYPES.get(dtype, dtype if isinstance(dtype, int) else _UNKNOWN_ENUM)
                check(
                    lib.omendb_options_set_dtype(options, code, byref(err)),
                    err,
                    f"dtype {dtype!r} (expected 'f32', 'f16', 'int8', 'binary' or 'pq')",
                )
            if rerank is not None:
                check(lib.omendb_options_set_rerank(options, _unsigned(rerank, "rerank"), byref(err)), err, "rerank")
            if pq_m is not None:
                check(lib.omendb_options_set_pq_m(options, _unsigned(pq_m, "pq_m"), byref(err)), err, "pq_m")
            if full_precision_dir is not None:
                fp = str(full_precision_dir).encode("utf-8")
                check(
                    lib.omendb_options_set_full_precision_dir(options, fp, len(fp), byref(err)),
                    err,
                    "full_precision_dir",
                )
            if path is not None:
                raw = os.fsencode(path)
                check(lib.omendb_options_set_path(options, raw, len(raw), byref(err)), err, "path")
                code = _SYNC_MODES.get(sync, _UNKNOWN_ENUM) if isinstance(sync, str) else _UNKNOWN_ENUM
                check(
                    lib.omendb_options_set_sync(options, code, _u32(sync_interval_ms, "sync_interval_ms"), byref(err)),
                    err,
                    f"sync {sync!r} (expected 'always', 'batch' or 'off'; sync_interval_ms 1..=60000)",
                )
                if checkpoint_bytes is not None:
                    check(
                        lib.omendb_options_set_checkpoint_bytes(options, _unsigned(checkpoint_bytes, "checkpoint_bytes"), byref(err)),
                        err,
                        "checkpoint_bytes",
                    )
            handle = _ffi.IndexPtr()
            check(lib.omendb_index_create(options, byref(handle), byref(err)), err)
            self._adopt(handle)
        finally:
            lib.omendb_options_free(options)

    # ---- lifetime ----

    def close(self, _free: Any = _ffi.lib.omendb_index_free) -> None:
        """Frees the C index (``omendb_index_free``). Idempotent; afterwards every method
        raises ``IndexClosedError``.

        Safe while other threads use the index: ``close`` does not wait for them. Calls
        already running finish normally (their C calls keep a valid index), and the last of
        them to return frees the C index; until then its memory (and the file of an index
        from ``open``) stays held. Calls started after ``close`` raise IndexClosedError."""
        self._close(_free)

    def __del__(self) -> None:
        self.close()

    def __enter__(self) -> "Index":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ``closed``, ``_acquire`` and ``_release`` come from ``Leased``: every method below
    # holds the handle (``_acquire`` ... ``finally: _release``) for the whole of its C calls.

    # ---- inserting ----

    def add(
        self, vectors: ArrayLike, ids: Optional[Ids] = None, metadata: Metadata = None, texts: Texts = None
    ) -> Union[List[Any], np.ndarray]:
        """Adds records, all or nothing.

        Args:
            vectors: an (n, d) matrix or one (d,) vector.
            ids: n str (or UTF-8 bytes) keys (``omendb_index_add_batch_str``), n ints or a
                uint64 array (``omendb_index_add_batch``), or None for automatic u64 keys
                counting up from 0 (``omendb_index_add_auto``; not with metadata or texts).
                A bool is not an id (TypeError), though Python counts it as an int.
            metadata: None, or n entries, each a dict (sent as ``json.dumps``), a JSON object
                as str, or None (no metadata for that record); searched by filters.
            texts: None, or n entries, each a str or None; searched by ``text_search`` and
                ``hybrid_search``. With metadata or texts the call is
                ``omendb_index_add_records`` (``_str``).

        Returns:
            The ids: the given string keys as a list, or a uint64 array.

        Raises:
            DimensionMismatchError, NonFiniteError, ZeroVectorError (cosine), InvalidKeyError
            (empty or reserved key, or the other kind of key than the index holds),
            InvalidUtf8Error, DuplicateKeyError (already stored, or twice in the batch),
            InvalidArgumentError (also: metadata that is not a JSON object of supported
            values; a negative or too large int id), TypeError (complex vectors; a bool id; an
            entry of ids, metadata or texts of the wrong type: the message names the argument
            and the position, as ``texts[3]``). On any error nothing is added.
        """
        return self._put(vectors, ids, upsert=False, metadata=metadata, texts=texts)

    def upsert(self, vectors: ArrayLike, ids: Ids, metadata: Metadata = None, texts: Texts = None) -> Union[List[Any], np.ndarray]:
        """As ``add``, but a key already stored gets the new vector (its old record is
        replaced in one step as seen by searches). A key twice in the batch is still a
        DuplicateKeyError. ``ids`` are required. Metadata and texts replace the old ones (a
        record given none has none after)."""
        if ids is None:
            raise TypeError("upsert needs ids")
        return self._put(vectors, ids, upsert=True, metadata=metadata, texts=texts)

    def _put(
        self, vectors: ArrayLike, ids: Optional[Ids], upsert: bool, metadata: Metadata = None, texts: Texts = None
    ) -> Union[List[Any], np.ndarray]:
        handle = self._acquire()
        try:
            return self._put_held(handle, vectors, ids, upsert, metadata, texts)
        finally:
            self._release()

    def _put_held(
        self, handle: Any, vectors: ArrayLike, ids: Optional[Ids], upsert: bool, metadata: Metadata, texts: Texts
    ) -> Union[List[Any], np.ndarray]:
        lib = _ffi.lib
        rows, _ = _rows(vectors, "vectors")
        n, dim = rows.shape
        err = _ffi.ErrorPtr()
        records = metadata is not None or texts is not None
        if records:
            if ids is None:
                raise TypeError("metadata and texts need ids (automatic keys take vectors only)")
            meta_p, meta_l = _payload(metadata, n, "metadata", as_json=True)
            text_p, text_l = _payload(texts, n, "texts", as_json=False)
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
            encoded = [_encode(k, "ids entry") for k in keys]
            pointers = (ctypes.c_char_p * n)(*encoded)
            lengths = (c_size_t * n)(*map(len, encoded))
            if records:
                put_rec = lib.omendb_index_upsert_records_str if upsert else lib.omendb_index_add_records_str
                status = put_rec(handle, pointers, lengths, n, float_ptr(rows), dim, meta_p, meta_l, text_p, text_l, byref(err))
                check(status, err)
                return keys
            put_str = lib.omendb_index_upsert_batch_str if upsert else lib.omendb_index_add_batch_str
            check(put_str(handle, pointers, lengths, n, float_ptr(rows), dim, byref(err)), err)
            return keys
        keys_u64 = _u64_keys(ids)
        if records:
            put_rec = lib.omendb_index_upsert_records if upsert else lib.omendb_index_add_records
            status = put_rec(handle, u64_ptr(keys_u64), n, float_ptr(rows), dim, meta_p, meta_l, text_p, text_l, byref(err))
            check(status, err)
            return keys_u64
        put = lib.omendb_index_upsert_batch if upsert else lib.omendb_index_add_batch
        check(put(handle, u64_ptr(keys_u64), n, float_ptr(rows), dim, byref(err)), err)
        return keys_u64

    # ---- removing ----

    def remove(self, id: Any = None, *, filter: FilterLike = None) -> Optional[int]:
        """Removes the record with this key (``omendb_index_remove`` / ``_remove_str``), or,
        with ``filter=``, every record whose metadata matches it (``omendb_index_remove_where``:
        all or nothing, as one change) and returns how many.

        Raises:
            KeyNotFoundError (a KeyError): the key is not stored.
            InvalidKeyError: the key is of the other kind than the index holds.
            TypeError: both or neither of ``id`` and ``filter``.
        """
        if (id is None) == (filter is None):
            raise TypeError("remove takes an id or filter=, not both and not neither")
        handle = self._acquire()
        try:
            err = _ffi.ErrorPtr()
            if filter is not None:
                removed = c_size_t()
                with _as_filter(filter) as (_, f):
                    check(_ffi.lib.omendb_index_remove_where(handle, f, byref(removed), byref(err)), err)
                return removed.value
            if isinstance(id, (str, bytes)):
                key = _encode(id)
                check(_ffi.lib.omendb_index_remove_str(handle, key, len(key), byref(err)), err)
            else:
                check(_ffi.lib.omendb_index_remove(handle, _u64_key(id), byref(err)), err)
            return None
        finally:
            self._release()

    def remove_many(self, ids: Ids) -> int:
        """Removes the records of these keys, all or nothing (``omendb_index_remove_batch`` /
        ``_remove_batch_str``): if one is not stored, none is removed. Returns how many.

        Raises:
            KeyNotFoundError: a key is not stored. DuplicateKeyError: a key repeats.
        """
        handle = self._acquire()
        try:
            err = _ffi.ErrorPtr()
            n = len(ids)
            if n and _is_string_ids(ids):
                encoded = [_encode(k, "ids entry") for k in (ids.tolist() if isinstance(ids, np.ndarray) else ids)]
                pointers = (ctypes.c_char_p * n)(*encoded)
                lengths = (c_size_t * n)(*map(len, encoded))
                check(_ffi.lib.omendb_index_remove_batch_str(handle, pointers, lengths, n, byref(err)), err)
            else:
                keys = _u64_keys(ids)
                check(_ffi.lib.omendb_index_remove_batch(handle, u64_ptr(keys), len(keys), byref(err)), err)
            return n
        finally:
            self._release()

    def get(self, id: Key) -> np.ndarray:
        """The stored vector of this key, a (d,) float32 array (``omendb_index_get``): bit for
        bit what was added, normalised to length 1 under the cosine metric; for a quantized
        dtype the full-precision vector, not the code. Metadata: ``metadata(id)``.

        Raises:
            KeyNotFoundError (a KeyError): the key is not stored.
        """
        handle = self._acquire()
        try:
            dim = self._size_t_held(handle, _ffi.lib.omendb_index_dim)
            out = np.empty(dim, dtype=np.float32)
            err = _ffi.ErrorPtr()
            if isinstance(id, (str, bytes)):
                key = _encode(id)
                check(_ffi.lib.omendb_index_get_str(handle, key, len(key), float_ptr(out), dim, byref(err)), err)
            else:
                check(_ffi.lib.omendb_index_get(handle, _u64_key(id), float_ptr(out), dim, byref(err)), err)
            return out
        finally:
            self._release()

    def get_many(self, ids: Ids) -> np.ndarray:
        """The stored vectors of these keys, an (n, d) float32 array, as ``get`` gives each
        (u64 keys in one C call, ``omendb_index_get_batch``). Raises KeyNotFoundError naming
        the first key not stored; nothing is returned in part."""
        if len(ids) and _is_string_ids(ids):
            rows = [self.get(k) for k in ids]
            return np.stack(rows) if rows else np.empty((0, self.dim), dtype=np.float32)
        keys = _u64_keys(ids)
        handle = self._acquire()
        try:
            dim = self._size_t_held(handle, _ffi.lib.omendb_index_dim)
            out = np.empty((len(keys), dim), dtype=np.float32)
            err = _ffi.ErrorPtr()
            check(_ffi.lib.omendb_index_get_batch(handle, u64_ptr(keys), len(keys), float_ptr(out), dim, byref(err)), err)
            return out
        finally:
            self._release()

    def count(self, filter: FilterLike = None) -> int:
        """The number of records whose metadata matches ``filter``, exactly
        (``omendb_index_count``); all records when None."""
        handle = self._acquire()
        try:
            n = c_size_t()
            err = _ffi.ErrorPtr()
            with _as_filter(filter) as (_, f):
                check(_ffi.lib.omendb_index_count(handle, f, byref(n), byref(err)), err)
            return n.value
        finally:
            self._release()

    def compact(self) -> None:
        """Repairs the graph around removed records now and makes their memory reusable
        (``omendb_index_compact``; removal also does this on its own from time to time)."""
        handle = self._acquire()
        try:
            err = _ffi.ErrorPtr()
            check(_ffi.lib.omendb_index_compact(handle, byref(err)), err)
        finally:
            self._release()

    def checkpoint(self) -> None:
        """Writes a checkpoint of a durable index (``omendb_index_checkpoint``): a snapshot of
        everything stored and a new, empty log, so that reopening replays only what comes
        after. Raises InvalidArgumentError for an index without a ``path``."""
        handle = self._acquire()
        try:
            err = _ffi.ErrorPtr()
            check(_ffi.lib.omendb_index_checkpoint(handle, byref(err)), err)
        finally:
            self._release()

    @property
    def recovery(self) -> dict:
        """What opening a durable index found in its log (``omendb_index_recovery``):
        ``{"records_replayed": n, "bytes_dropped": b}``; ``bytes_dropped`` is the torn or
        damaged end of the log that was cut off. Zeros for a new directory or no ``path``."""
        handle = self._acquire()
        try:
            err = _ffi.ErrorPtr()
            replayed, dropped = c_uint64(), c_uint64()
            check(_ffi.lib.omendb_index_recovery(handle, byref(replayed), byref(dropped), byref(err)), err)
            return {"records_replayed": replayed.value, "bytes_dropped": dropped.value}
        finally:
            self._release()

    def flush(self) -> None:
        """Syncs a durable index's log to disk now (``omendb_index_flush``): what
        ``sync="batch"`` and ``sync="off"`` leave for later. A no-op without a ``path``."""
        handle = self._acquire()
        try:
            err = _ffi.ErrorPtr()
            check(_ffi.lib.omendb_index_flush(handle, byref(err)), err)
        finally:
            self._release()

    # ---- searching ----

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
                query = byref(c_float.from_buffer(queries))
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
            width = min(k, self._size_t_held(handle, lib.omendb_index_len))
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
        width = None if n else min(k, self._size_t_held(handle, _ffi.lib.omendb_index_len))
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
            strings = self._u32_held(handle, lib.omendb_index_key_kind) == _ffi.OMENDB_KEY_KIND_STRING
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

    def text_search(self, query: str, k: int = 10, filter: FilterLike = None) -> Tuple[np.ndarray, np.ndarray]:
        """BM25 search over the records' texts (``omendb_index_text_search``).

        Args:
            query: the words looked for.
            k: the most hits returned.
            filter: None, or a ``Filter`` or filter text restricting the records searched.

        Returns:
            ``(labels, scores)``, best first, of length min(k, records holding a query word)
            (no padding; any k: C sizes its results by min(k, records)): labels as in
            ``search`` (uint64 or str), scores float32 BM25 (higher is better).

        Raises:
            InvalidArgumentError (k = 0 or negative), FilterSyntaxError, TypeError (a query
            that is not str or bytes).
        """
        k = _unsigned(k, "k")
        encoded = _encode(query, "query")
        handle = self._acquire()
        try:
            with _as_filter(filter) as (_, f):
                results = _ffi.ResultsPtr()
                err = _ffi.ErrorPtr()
                check(_ffi.lib.omendb_index_text_search(handle, encoded, len(encoded), k, f, byref(results), byref(err)), err)
            return self._results(handle, results, 1, k, one=True)
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
        code = _FUSIONS.get(fusion, _UNKNOWN_ENUM)
        param = float(rrf_k) if fusion == "rrf" else float(alpha)
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
                check(status, err, None if code != _UNKNOWN_ENUM else f"fusion {fusion!r} (expected 'rrf' or 'weighted')")
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

    def _key_pages(self, filter: FilterLike, batch: int) -> Iterator[List[Any]]:
        """Pages of keys from a cursor (``omendb_cursor_*``) made now: a snapshot, in key order."""
        batch = max(1, _unsigned(batch, "batch"))
        lib = _ffi.lib
        cursor = _ffi.CursorPtr()
        err = _ffi.ErrorPtr()
        handle = self._acquire()
        try:
            with _as_filter(filter) as (_, f):
                check(lib.omendb_cursor_create(handle, f, byref(cursor), byref(err)), err)
            strings = self._u32_held(handle, lib.omendb_index_key_kind) == _ffi.OMENDB_KEY_KIND_STRING
        finally:
            self._release()
        # The cursor holds its own copy of the keys: it needs the index no more.
        try:
            n = c_size_t()
            if strings:
                ptrs = (ctypes.POINTER(c_char) * batch)()
                lens = (c_size_t * batch)()
                while True:
                    check(lib.omendb_cursor_next_str(cursor, ptrs, lens, batch, byref(n), byref(err)), err)
                    if not n.value:
                        return
                    yield [ctypes.string_at(ptrs[i], lens[i]).decode("utf-8", "surrogatepass") for i in range(n.value)]
            else:
                page = np.empty(batch, dtype=np.uint64)
                while True:
                    check(lib.omendb_cursor_next(cursor, u64_ptr(page), batch, byref(n), byref(err)), err)
                    if not n.value:
                        return
                    yield page[: n.value].tolist()
        finally:
            lib.omendb_cursor_free(cursor)

    def keys(self, filter: FilterLike = None) -> List[Any]:
        """Every key (of the records matching ``filter``), in key order (ints ascending,
        strings by their UTF-8 bytes), as they stand now (``omendb_cursor_*``)."""
        return [k for page in self._key_pages(filter, 4096) for k in page]

    def __iter__(self) -> Iterator[Any]:
        """The keys, in key order, from a snapshot taken when iteration starts: writes
        meanwhile neither break nor change the iteration."""
        for page in self._key_pages(None, 1024):
            yield from page

    def scan(
        self, filter: FilterLike = None, batch: int = 1000, include: Sequence[str] = ("vector", "metadata")
    ) -> Iterator[dict]:
        """Every record (matching ``filter``), in key order, as dicts ``{"id": key, "vector":
        ndarray, "metadata": dict}`` (only the fields in ``include``), read ``batch`` keys at a
        time. The keys are a snapshot taken when the scan starts; a record removed since is
        skipped, and one changed since is read as it is when its page is read."""
        unknown = set(include) - {"vector", "metadata"}
        if unknown:
            raise ValueError(f"include: unknown fields {sorted(unknown)} (expected 'vector', 'metadata')")
        for page in self._key_pages(filter, batch):
            for key in page:
                record: dict = {"id": key}
                try:
                    if "vector" in include:
                        record["vector"] = self.get(key)
                    if "metadata" in include:
                        record["metadata"] = self.metadata(key)
                except KeyNotFoundError:
                    continue  # removed after the snapshot
                yield record

    def stats(self) -> dict:
        """Counts, sizes and the graph's shape (``omendb_index_stats``): records,
        pending_removes, slots, dim, metric, dtype, m, ef_construction, ef_search, key_kind,
        levels, mean_layer0_degree, memory (bytes by part) and durable (None, or the
        directory and its log's size). Visits every record: O(records)."""
        handle = self._acquire()
        try:
            err = _ffi.ErrorPtr()
            out = ctypes.POINTER(c_char)()
            length = c_size_t()
            check(_ffi.lib.omendb_index_stats(handle, byref(out), byref(length), byref(err)), err)
        finally:
            self._release()
        try:
            text = ctypes.string_at(out, length.value).decode("utf-8")
        finally:
            _ffi.lib.omendb_string_free(out)
        return dict(json.loads(text))

    def metadata(self, id: Key) -> dict:
        """The metadata of a record as a dict ({} when it has none) (``omendb_index_metadata``).

        Raises:
            KeyNotFoundError: the key is not stored.
        """
        handle = self._acquire()
        try:
            err = _ffi.ErrorPtr()
            out = ctypes.POINTER(c_char)()
            length = c_size_t()
            if isinstance(id, (str, bytes)):
                key = _encode(id)
                check(_ffi.lib.omendb_index_metadata_str(handle, key, len(key), byref(out), byref(length), byref(err)), err)
            else:
                check(_ffi.lib.omendb_index_metadata(handle, _u64_key(id), byref(out), byref(length), byref(err)), err)
        finally:
            self._release()
        try:  # the string is the caller's: no index needed to read or free it
            text = ctypes.string_at(out, length.value).decode("utf-8")
        finally:
            _ffi.lib.omendb_string_free(out)
        return dict(json.loads(text))

    # ---- saving and loading ----

    def save(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Saves the index to ``path`` (``omendb_index_save``), atomically: a crash at any
        moment leaves the previous file or the new one, whole. Changes from other threads
        wait while the bytes are written; searches keep running.

        Raises:
            IoError: the file cannot be created, written, synced or renamed.
            InvalidUtf8Error: the path is not valid UTF-8.
        """
        encoded = os.fsencode(path)
        handle = self._acquire()
        try:
            err = _ffi.ErrorPtr()
            check(_ffi.lib.omendb_index_save(handle, encoded, len(encoded), byref(err)), err)
        finally:
            self._release()

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
        index._adopt(handle)
        return index

    @classmethod
    def open(cls, path: Union[str, "os.PathLike[str]"], mmap: bool = True) -> "Index":
        """Opens an index file read-only with its vectors and graph served straight from a
        memory mapping of the file (``omendb_index_open``): nothing of them is copied, so a
        large index opens fast and pages load on demand. It answers every search exactly as
        ``load`` would; ``add``, ``upsert``, ``remove`` and ``compact`` raise
        InvalidArgumentError ("index opened read-only"). Do not rewrite the file in place while
        it is open (``save`` to the same path is safe: it renames a new file over it).

        ``mmap=False`` is ``load(path)``: the index is read into memory and may be changed.

        Raises:
            IoError, CorruptError, UnsupportedVersionError: as ``load``.
        """
        if not mmap:
            return cls.load(path)
        encoded = os.fsencode(path)
        handle = _ffi.IndexPtr()
        err = _ffi.ErrorPtr()
        check(_ffi.lib.omendb_index_open(encoded, len(encoded), byref(handle), byref(err)), err)
        index = cls.__new__(cls)
        index._adopt(handle)
        return index

    @property
    def read_only(self) -> bool:
        """Whether the index was opened with ``open`` (``omendb_index_is_read_only``)."""
        handle = self._acquire()
        try:
            err = _ffi.ErrorPtr()
            flag = c_bool()
            check(_ffi.lib.omendb_index_is_read_only(handle, byref(flag), byref(err)), err)
            return flag.value
        finally:
            self._release()

    # ---- inspecting ----

    def __contains__(self, id: object) -> bool:
        """Whether the key is stored (``omendb_index_contains`` / ``_contains_str``)."""
        handle = self._acquire()
        try:
            err = _ffi.ErrorPtr()
            found = c_bool()
            if isinstance(id, (str, bytes)):
                key = _encode(id)
                check(_ffi.lib.omendb_index_contains_str(handle, key, len(key), byref(found), byref(err)), err)
            else:
                check(_ffi.lib.omendb_index_contains(handle, _u64_key(id), byref(found), byref(err)), err)
            return found.value
        finally:
            self._release()

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
        handle = self._acquire()
        try:
            return self._size_t_held(handle, getter)
        finally:
            self._release()

    def _u32(self, getter: Any) -> int:
        handle = self._acquire()
        try:
            return self._u32_held(handle, getter)
        finally:
            self._release()

    @staticmethod
    def _size_t_held(handle: Any, getter: Any) -> int:
        err = _ffi.ErrorPtr()
        value = c_size_t()
        check(getter(handle, byref(value), byref(err)), err)
        return value.value

    @staticmethod
    def _u32_held(handle: Any, getter: Any) -> int:
        err = _ffi.ErrorPtr()
        value = c_uint32()
        check(getter(handle, byref(value), byref(err)), err)
        return value.value

    def __repr__(self) -> str:
        try:
            handle = self._acquire()
        except IndexClosedError:
            return "<omendb.Index closed>"
        try:
            lib = _ffi.lib
            dim = self._size_t_held(handle, lib.omendb_index_dim)
            metric = self._u32_held(handle, lib.omendb_index_metric)
            kind = self._u32_held(handle, lib.omendb_index_key_kind)
            length = self._size_t_held(handle, lib.omendb_index_len)
        finally:
            self._release()
        return (
            f"<omendb.Index dim={dim} metric={_METRIC_NAMES.get(metric, str(metric))!r}"
            f" keys={_KEY_KIND_NAMES.get(kind, str(kind))!r} len={length}>"
        )

