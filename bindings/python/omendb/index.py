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

This file holds creation, writes, persistence and the simple getters; the searches are in
``_search.py`` and the other reads in ``_reads.py`` (the two bases of ``Index``), the
conversions every method shares in ``_convert.py``, the options' setters in ``_options.py``,
the chunked add's Ctrl-C and progress in ``_progress.py``.
"""

from __future__ import annotations

import ctypes
import os
from ctypes import byref, c_bool, c_size_t, c_uint64
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _ffi
from ._convert import (
    _KEY_KIND_NAMES,
    NO_KEY,
    ArrayLike,
    FilterLike,
    Ids,
    Metadata,
    Texts,
    _as_filter,
    enum_name,
    _encode,
    _is_string_ids,
    _payload,
    _rows,
    _u64_key,
    _u64_keys,
    _unsigned,
    size_t_held,
    u32_held,
)
from ._ffi import check, float_ptr, u64_ptr
from ._options import set_options
from ._progress import DeferredInterrupt, print_progress
from ._reads import Reads
from ._search import Searches
from .errors import IndexClosedError


__all__ = ["Index", "NO_KEY"]


class Index(Searches, Reads):
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
            vectors (else ``InvalidArgumentError``). Saved and loaded like f32 (the codec travels with the file).
        rerank: re-ranking depth in multiples of k (1..=1024); None keeps the default (4).
        pq_m: PQ sub-spaces, a divisor of ``dim`` (0 = dim / 8); only with ``dtype="pq"``.
        full_precision_dir: keep the full-precision vectors of a quantized index in an
            unlinked, memory-mapped temporary file in this directory (page cache) instead of
            anonymous memory.
        neighbor_codes: f32 only: bits per dimension (8 or 4; 0 or None: none) of the codes
            searches and inserts score neighbours with (``omendb_options_set_neighbor_codes``),
            before re-scoring the best nodes with the f32 vectors (distances stay exact). 8 bits
            suit low dimensions, 4 bits high ones. Each node keeps its own code (about ``dim``
            or ``dim / 2`` bytes, rounded up to whole 64- or 32-byte reads). Learned from the first 256 to 4,096 records;
            saved with the index; ``open(mmap=True)``, where it serves the records in place
            from the mapping, makes them at open into memory beside the mapping and searches
            with them as a loaded index does. ``stats()["neighbor_codes_in_use"]`` says
            whether searches use them now, ``stats()["neighbor_codes_layout"]`` where they lie.
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
        stemmer: ``"english"`` (Snowball Porter 2) or ``"none"`` (the default) for texts and
            text queries (``omendb_options_set_stemmer``).
        stop_words: ``"english"`` (the default), ``"none"``, or a list of words to drop
            (``omendb_options_set_stop_words``).
        lowercase, normalize_unicode: fold case / apply NFKC before cutting terms (both true
            by default; ``omendb_options_set_text_case``).
        token_chars: ``(min, max)`` characters of a kept term (default ``(2, 255)``).
        bm25: ``(k1, b)`` of text search (default ``(1.5, 0.75)``).
            The text options are saved with the index; ``stats()["text"]`` and
            ``stats()["bm25"]`` show them.

    Options left as None take the C defaults (dim 0, metric ``"l2"``, m 16,
    ef_construction 200, ef_search 64, dtype ``"f32"``, rerank 4, pq_m 0, no neighbour codes), or for a durable
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
        neighbor_codes: Optional[int] = None,
        path: Optional[Union[str, "os.PathLike[str]"]] = None,
        sync: str = "always",
        sync_interval_ms: int = 100,
        checkpoint_bytes: Optional[int] = None,
        stemmer: Optional[str] = None,
        stop_words: Union[str, Sequence[str], None] = None,
        lowercase: Optional[bool] = None,
        normalize_unicode: Optional[bool] = None,
        token_chars: Optional[Tuple[int, int]] = None,
        bm25: Optional[Tuple[float, float]] = None,
    ) -> None:
        if isinstance(dim, str) and (metric is None or isinstance(metric, int)):
            # hnswlib's order is Index(space, dim); ours is Index(dim, metric).
            hint = f"Index(dim={metric}, metric={dim!r})" if metric is not None else f"Index(metric={dim!r})"
            raise TypeError(f"dim must be an integer, got {dim!r}: the order is Index(dim, metric), so write {hint}")
        lib = _ffi.lib
        options = _ffi.OptionsPtr()
        err = _ffi.ErrorPtr()
        check(lib.omendb_options_create(byref(options), byref(err)), err)
        try:
            set_options(
                options, err, dim=dim, metric=metric, m=m, ef_construction=ef_construction, ef_search=ef_search, seed=seed,
                dtype=dtype, rerank=rerank, pq_m=pq_m, full_precision_dir=full_precision_dir, neighbor_codes=neighbor_codes,
                path=path, sync=sync,
                sync_interval_ms=sync_interval_ms, checkpoint_bytes=checkpoint_bytes, stemmer=stemmer, stop_words=stop_words,
                lowercase=lowercase, normalize_unicode=normalize_unicode, token_chars=token_chars, bm25=bm25,
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
        self,
        vectors: ArrayLike,
        ids: Optional[Ids] = None,
        metadata: Metadata = None,
        texts: Texts = None,
        *,
        progress: Union[bool, Callable[[int, int], None], None] = None,
        chunk_size: int = 10_000,
    ) -> Union[List[Any], np.ndarray]:
        """Adds records, all or nothing.

        A batch of more than ``chunk_size`` rows goes to C a chunk at a time (each chunk
        inserted on all cores), so Ctrl-C (KeyboardInterrupt) and ``progress`` act between
        chunks; if anything stops the batch after a chunk went in (an interrupt, an error in
        a later chunk, a progress callback that raises), the chunks already added are removed
        again before the exception propagates, so the batch stays all or nothing.

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

        Other args:
            progress: True prints ``added i / n`` to stderr after each chunk; a callable is
                called as ``progress(added, total)``.
            chunk_size: rows per C call (at least 1).
        """
        rows, _ = _rows(vectors, "vectors")
        n = rows.shape[0]
        chunk = max(1, _unsigned(chunk_size, "chunk_size"))
        if n <= chunk and not progress:
            return self._put(rows, ids, upsert=False, metadata=metadata, texts=texts)
        if ids is not None and (isinstance(ids, (str, bytes, int, np.integer)) or len(ids) != n):
            return self._put(rows, ids, upsert=False, metadata=metadata, texts=texts)  # C reports it
        report = print_progress if progress is True else (progress or None)
        handle = self._acquire()
        added: List[Any] = []  # the keys of the chunks in, for the rollback
        with DeferredInterrupt() as interrupt:
            try:
                for start in range(0, n, chunk):
                    stop = min(n, start + chunk)

                    def part(entries: Any, start: int = start, stop: int = stop) -> Any:
                        return None if entries is None else entries[start:stop]

                    added.append(self._put_held(handle, rows[start:stop], part(ids), False, part(metadata), part(texts)))
                    if report is not None:
                        report(stop, n)
                    interrupt.raise_if_pressed()
            except BaseException:
                for keys in reversed(added):  # leave the index as it was before the call
                    self._remove_many_held(handle, keys)
                raise
            finally:
                self._release()
        if added and isinstance(added[0], list):
            return [k for keys in added for k in keys]
        return np.concatenate(added) if added else np.empty(0, dtype=np.uint64)

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
            return self._remove_many_held(handle, ids)
        finally:
            self._release()

    @staticmethod
    def _remove_many_held(handle: Any, ids: Ids) -> int:
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
    def recovery(self) -> Dict[str, Any]:
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

    def to_bytes(self) -> bytes:
        """The index as bytes (``omendb_index_serialize``): what ``save`` would write to a
        file. ``Index.from_bytes`` makes an index from them; ``pickle`` uses the pair."""
        handle = self._acquire()
        try:
            err = _ffi.ErrorPtr()
            data = ctypes.POINTER(ctypes.c_uint8)()
            length = c_size_t()
            check(_ffi.lib.omendb_index_serialize(handle, byref(data), byref(length), byref(err)), err)
        finally:
            self._release()
        try:
            return ctypes.string_at(data, length.value)
        finally:
            _ffi.lib.omendb_bytes_free(data, length)

    @classmethod
    def from_bytes(cls, data: bytes) -> "Index":
        """An index in memory from bytes made by ``to_bytes`` (or read from a saved file),
        checked as ``load`` checks a file (``omendb_index_deserialize``).

        Raises:
            CorruptError, UnsupportedVersionError: as ``load``.
        """
        raw = bytes(data)
        handle = _ffi.IndexPtr()
        err = _ffi.ErrorPtr()
        pointer = ctypes.cast(ctypes.c_char_p(raw), ctypes.POINTER(ctypes.c_uint8))  # raw stays alive
        check(_ffi.lib.omendb_index_deserialize(pointer, len(raw), byref(handle), byref(err)), err)
        index = cls.__new__(cls)
        index._adopt(handle)
        return index

    def __reduce__(self) -> Any:
        """Pickling: the index travels as ``to_bytes()`` and comes back by ``from_bytes``, a
        plain index in memory (a durable one's copy is not bound to its directory)."""
        return (type(self).from_bytes, (self.to_bytes(),))

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
        ``load`` would (an index made with ``neighbor_codes`` gets its codes made at open, into
        memory beside the mapping); ``add``, ``upsert``, ``remove`` and ``compact`` raise
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
    def metric(self) -> str:
        """``"l2"``, ``"ip"`` or ``"cosine"``."""
        code = self._u32(_ffi.lib.omendb_index_metric)
        return enum_name("metric", code)

    @property
    def ef_search(self) -> int:
        """The beam width of a search that passes no ``ef`` (``omendb_index_ef_search``).
        Settable at any time, also while other threads search (``omendb_index_set_ef_search``;
        1 to 2**20, else InvalidArgumentError): ``save`` stores it, and so does a durable
        index's next checkpoint."""
        return self._size_t(_ffi.lib.omendb_index_ef_search)

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        self._set_size(_ffi.lib.omendb_index_set_ef_search, value, "ef_search")

    @property
    def threads(self) -> int:
        """How many threads this index's batch calls use (adds, batch searches, repairs):
        0, the default, for one per core; set it to n (1 to 1024) to give the index a pool of
        n threads of its own, or back to 0 (``omendb_index_set_threads``). Not saved."""
        return self._size_t(_ffi.lib.omendb_index_threads)

    @threads.setter
    def threads(self, value: int) -> None:
        self._set_size(_ffi.lib.omendb_index_set_threads, value, "threads")

    #: hnswlib's name for ``ef_search`` (``index.ef = 100``).
    ef = ef_search

    def set_ef(self, ef: int) -> None:
        """hnswlib's ``set_ef``: ``index.ef_search = ef``."""
        self.ef_search = ef

    @property
    def key_kind(self) -> str:
        """``"none"`` until the first record is added, then ``"u64"`` or ``"string"``."""
        code = self._u32(_ffi.lib.omendb_index_key_kind)
        return _KEY_KIND_NAMES.get(code, str(code))

    def memory_bytes(self) -> int:
        """Approximate bytes of memory the index holds (``omendb_index_memory_bytes``)."""
        return self._size_t(_ffi.lib.omendb_index_memory_bytes)

    def _set_size(self, setter: Any, value: int, name: str) -> None:
        """A setting of the index through ``setter(index, value, err)`` (the twin of the
        getters below); ``value`` is checked as an unsigned integer first."""
        number = _unsigned(value, name)
        handle = self._acquire()
        try:
            err = _ffi.ErrorPtr()
            check(setter(handle, number, byref(err)), err)
        finally:
            self._release()

    def _size_t(self, getter: Any) -> int:
        handle = self._acquire()
        try:
            return size_t_held(handle, getter)
        finally:
            self._release()

    def _u32(self, getter: Any) -> int:
        handle = self._acquire()
        try:
            return u32_held(handle, getter)
        finally:
            self._release()

    def __repr__(self) -> str:
        try:
            handle = self._acquire()
        except IndexClosedError:
            return "<omendb.Index closed>"
        try:
            lib = _ffi.lib
            dim = size_t_held(handle, lib.omendb_index_dim)
            metric = u32_held(handle, lib.omendb_index_metric)
            kind = u32_held(handle, lib.omendb_index_key_kind)
            length = size_t_held(handle, lib.omendb_index_len)
        finally:
            self._release()
        return (
            f"<omendb.Index dim={dim} metric={enum_name('metric', metric)!r}"
            f" keys={_KEY_KIND_NAMES.get(kind, str(kind))!r} len={length}>"
        )

