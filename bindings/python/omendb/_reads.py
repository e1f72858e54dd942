"""``Index``'s reads (``Reads``, a base of ``Index``): keys and records one at a time or by
a key-order cursor, counts, metadata, texts and statistics. Every method leases the handle for its C
calls (``_lease.Leased``).
"""

from __future__ import annotations

import ctypes
import json
from ctypes import byref, c_char, c_size_t
from typing import Any, Dict, Iterator, List, Optional, Sequence

import numpy as np

from . import _ffi
from ._convert import (
    FilterLike,
    Ids,
    Key,
    _as_filter,
    _encode,
    _is_string_ids,
    _u64_key,
    _u64_keys,
    _unsigned,
    size_t_held,
    u32_held,
)
from ._ffi import check, float_ptr, u64_ptr
from ._lease import Leased
from .errors import KeyNotFoundError


class Reads(Leased):
    """The read methods of ``Index`` other than searches."""

    @property
    def dim(self) -> int:
        """Vector dimensions (``omendb_index_dim``); 0 while an index made with dim=0 is empty."""
        handle = self._acquire()
        try:
            return size_t_held(handle, _ffi.lib.omendb_index_dim)
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
            strings = u32_held(handle, lib.omendb_index_key_kind) == _ffi.OMENDB_KEY_KIND_STRING
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
    ) -> Iterator[Dict[str, Any]]:
        """Every record (matching ``filter``), in key order, as dicts ``{"id": key, "vector":
        ndarray, "metadata": dict, "text": str or None}`` (only the fields in ``include``;
        "text" is not in the default), read ``batch`` keys at a time. The keys are a snapshot
        taken when the scan starts; a record removed since is skipped, and one changed since is
        read as it is when its page is read."""
        unknown = set(include) - {"vector", "metadata", "text"}
        if unknown:
            raise ValueError(f"include: unknown fields {sorted(unknown)} (expected 'vector', 'metadata', 'text')")
        for page in self._key_pages(filter, batch):
            for key in page:
                record: Dict[str, Any] = {"id": key}
                try:
                    if "vector" in include:
                        record["vector"] = self.get(key)
                    if "metadata" in include:
                        record["metadata"] = self.metadata(key)
                    if "text" in include:
                        record["text"] = self.text(key)
                except KeyNotFoundError:
                    continue  # removed after the snapshot
                yield record

    def stats(self) -> Dict[str, Any]:
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

    def metadata(self, id: Key) -> Dict[str, Any]:
        """The metadata of a record as a dict ({} when it has none) (``omendb_index_metadata``).

        Raises:
            KeyNotFoundError: the key is not stored.
        """
        text = self._string_of(id, _ffi.lib.omendb_index_metadata, _ffi.lib.omendb_index_metadata_str)
        return dict(json.loads(text or "{}"))

    def text(self, id: Key) -> Optional[str]:
        """The text of a record as it was given to ``add`` or ``upsert`` (the document
        ``text_search`` searches), or None when it has none (``omendb_index_get_text``). A
        record read from a file saved before texts were kept (format version 6 or older) has
        None too, though ``text_search`` still finds it.

        Raises:
            KeyNotFoundError: the key is not stored.
        """
        return self._string_of(id, _ffi.lib.omendb_index_get_text, _ffi.lib.omendb_index_get_text_str)

    def _string_of(self, id: Key, by_u64: Any, by_str: Any) -> Optional[str]:
        """A per-record getter whose answer is a library string: ``by_u64`` or ``by_str``
        (the C function for the key's kind) called, the string decoded and freed; None for a
        NULL answer."""
        handle = self._acquire()
        try:
            err = _ffi.ErrorPtr()
            out = ctypes.POINTER(c_char)()
            length = c_size_t()
            if isinstance(id, (str, bytes)):
                key = _encode(id)
                check(by_str(handle, key, len(key), byref(out), byref(length), byref(err)), err)
            else:
                check(by_u64(handle, _u64_key(id), byref(out), byref(length), byref(err)), err)
        finally:
            self._release()
        if not out:
            return None
        try:  # the string is the caller's: no index needed to read or free it
            return ctypes.string_at(out, length.value).decode("utf-8")
        finally:
            _ffi.lib.omendb_string_free(out)

    def get(self, id: Key) -> np.ndarray:
        """The stored vector of this key, a (d,) float32 array (``omendb_index_get``): bit for
        bit what was added, normalised to length 1 under the cosine metric; for a quantized
        dtype the full-precision vector, not the code. Metadata: ``metadata(id)``; text:
        ``text(id)``.

        Raises:
            KeyNotFoundError (a KeyError): the key is not stored.
        """
        handle = self._acquire()
        try:
            dim = size_t_held(handle, _ffi.lib.omendb_index_dim)
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
            dim = size_t_held(handle, _ffi.lib.omendb_index_dim)
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

