"""Conversions between Python values and the C API's arguments, shared by ``Index``'s
methods: the vocabularies (metric, dtype, fusion and sync names), checked integers, vectors as
C-contiguous float32, keys, per-record string payloads, filters.
"""

from __future__ import annotations

import ctypes
import json
import operator
from ctypes import byref, c_size_t, c_uint32
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _ffi
from ._ffi import check
from .errors import InvalidArgumentError
from .filter import Filter


#: The label that pads a row of a batch search with fewer hits than the others have room for,
#: in a u64-key index (UINT64_MAX, the C header's OMENDB_NO_KEY; Go's ``NoKey``). Never a
#: stored key: C refuses it as one.
NO_KEY = _ffi.OMENDB_NO_KEY

_KEY_KIND_NAMES = {
    _ffi.OMENDB_KEY_KIND_NONE: "none",
    _ffi.OMENDB_KEY_KIND_U64: "u64",
    _ffi.OMENDB_KEY_KIND_STRING: "string",
}
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
Metadata = Optional[Sequence[Union[Dict[str, Any], str, bytes, None]]]
Texts = Optional[Sequence[Union[str, bytes, None]]]
FilterLike = Union[str, Filter, None]


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


def enum_code(kind: str, value: Any) -> int:
    """The OMENDB_* value of a name of the C vocabulary (``omendb_<kind>_from_name``: one
    table for C, the CLI, Python and Go, aliases included; an unknown name raises
    InvalidArgumentError listing the accepted ones). An int is taken as the value itself.
    ``kind``: "metric", "dtype", "fusion" or "sync"."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"{kind} must be a name (str), got {type(value).__name__}")
    if isinstance(value, int):
        return _u32(value, kind)
    encoded = _encode(value, kind)
    code = c_uint32()
    err = _ffi.ErrorPtr()
    check(getattr(_ffi.lib, f"omendb_{kind}_from_name")(encoded, len(encoded), byref(code), byref(err)), err)
    return code.value


def enum_name(kind: str, code: int) -> str:
    """The canonical name of an OMENDB_* value (``omendb_<kind>_name``); the number for one
    this library does not know."""
    name = getattr(_ffi.lib, f"omendb_{kind}_name")(code)
    return name.decode("ascii") if name else str(code)


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


def size_t_held(handle: Any, getter: Any) -> int:
    """A size_t getter of the index (``omendb_index_len``, ``_dim``, ...), for a held handle."""
    err = _ffi.ErrorPtr()
    value = c_size_t()
    check(getter(handle, byref(value), byref(err)), err)
    return value.value


def u32_held(handle: Any, getter: Any) -> int:
    """A uint32_t getter of the index (``omendb_index_metric``, ``_key_kind``), for a held handle."""
    err = _ffi.ErrorPtr()
    value = c_uint32()
    check(getter(handle, byref(value), byref(err)), err)
    return value.value
