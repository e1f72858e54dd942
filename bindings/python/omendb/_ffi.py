"""The C ABI of ``libomendb`` through ctypes: library loading, one signature per function of
``include/omendb.h``, the header's constants, and ``check`` (status + error -> exception).

This module has no logic beyond that. ``tests/test_ffi.py`` parses the header and checks that
every ``omendb_*`` function is declared in ``SIGNATURES`` with matching types.

Where the library comes from (first match wins):

1. the ``OMENDB_LIB`` environment variable (a path to the shared library);
2. the copy shipped inside this package (``pip install`` builds it with cargo);
3. ``<repo>/target/release/`` of the source checkout this file lives in
   (``bindings/python/omendb/_ffi.py`` -> three folders up).

ctypes releases the GIL around every call (``CDLL``), so C work runs in parallel with Python
threads.
"""

from __future__ import annotations

import ctypes
import os
import sys
from ctypes import POINTER, c_bool, c_char, c_char_p, c_float, c_size_t, c_uint8, c_uint32, c_uint64
from pathlib import Path
from typing import Any, Dict, List, NoReturn, Optional, Tuple

import numpy as np

from .errors import for_status

# ---- constants of include/omendb.h (checked against the header by tests/test_ffi.py) ----

#: The header version this binding was written against (``OMENDB_VERSION``).
OMENDB_VERSION = "0.1.0"
OMENDB_VERSION_MAJOR = 0
OMENDB_VERSION_MINOR = 1
OMENDB_VERSION_PATCH = 0

#: Written in place of a key where a search found fewer than k hits (UINT64_MAX).
OMENDB_NO_KEY = 2**64 - 1

OMENDB_KEY_KIND_NONE = 0
OMENDB_KEY_KIND_U64 = 1
OMENDB_KEY_KIND_STRING = 2

OMENDB_METRIC_L2 = 0
OMENDB_METRIC_IP = 1
OMENDB_METRIC_COSINE = 2

OMENDB_DTYPE_F32 = 0
OMENDB_DTYPE_F16 = 1
OMENDB_DTYPE_INT8 = 2
OMENDB_DTYPE_BINARY = 3
OMENDB_DTYPE_PQ = 4

OMENDB_STATUS_OK = 0
OMENDB_STATUS_INTERNAL = 1
OMENDB_STATUS_NULL_POINTER = 2
OMENDB_STATUS_INVALID_ARGUMENT = 3
OMENDB_STATUS_DIMENSION_MISMATCH = 4
OMENDB_STATUS_NON_FINITE = 5
OMENDB_STATUS_ZERO_VECTOR = 6
OMENDB_STATUS_INVALID_KEY = 7
OMENDB_STATUS_INVALID_UTF8 = 8
OMENDB_STATUS_DUPLICATE_KEY = 9
OMENDB_STATUS_KEY_NOT_FOUND = 10
OMENDB_STATUS_BUFFER_TOO_SMALL = 11
OMENDB_STATUS_OUT_OF_RANGE = 12
OMENDB_STATUS_IO = 13
OMENDB_STATUS_CORRUPT = 14
OMENDB_STATUS_UNSUPPORTED_VERSION = 15
OMENDB_STATUS_FILTER_SYNTAX = 16
OMENDB_STATUS_LOCKED = 17

#: ``OMENDB_EF_EXACT``: SIZE_MAX, the ``ef`` of an exact (brute-force) search.
OMENDB_EF_EXACT = c_size_t(-1).value

OMENDB_SYNC_ALWAYS = 0
OMENDB_SYNC_BATCH = 1
OMENDB_SYNC_OFF = 2

OMENDB_STOP_WORDS_NONE = 0
OMENDB_STOP_WORDS_ENGLISH = 1
OMENDB_STOP_WORDS_CUSTOM = 2

OMENDB_FUSION_RRF = 0
OMENDB_FUSION_WEIGHTED = 1

# ---- types ----

#: ``omendb_status``: a ``uint32_t`` in C.
omendb_status = c_uint32


class omendb_error(ctypes.Structure):
    """Opaque ``omendb_error`` (only ever used through a pointer)."""


class omendb_index(ctypes.Structure):
    """Opaque ``omendb_index``."""


class omendb_options(ctypes.Structure):
    """Opaque ``omendb_options``."""


class omendb_results(ctypes.Structure):
    """Opaque ``omendb_results``."""


class omendb_filter(ctypes.Structure):
    """Opaque ``omendb_filter``."""


ErrorPtr = POINTER(omendb_error)
IndexPtr = POINTER(omendb_index)
OptionsPtr = POINTER(omendb_options)
ResultsPtr = POINTER(omendb_results)
FilterPtr = POINTER(omendb_filter)


class omendb_cursor(ctypes.Structure):
    """Opaque ``omendb_cursor``."""


CursorPtr = POINTER(omendb_cursor)

_ERR = POINTER(ErrorPtr)  # omendb_error **err_out

#: name -> (restype, argtypes), in header order. Pointer parameters are typed as in C:
#: ``const float *`` -> POINTER(c_float), ``const char *const *`` -> POINTER(c_char_p),
#: ``const char **`` (an output) -> POINTER(POINTER(c_char)) so that keys holding NUL bytes
#: come back whole.
SIGNATURES: Dict[str, Tuple[Any, List[Any]]] = {
    "omendb_version": (c_char_p, []),
    # index.rs
    "omendb_index_create": (omendb_status, [OptionsPtr, POINTER(IndexPtr), _ERR]),
    "omendb_index_free": (None, [IndexPtr]),
    "omendb_index_add_batch": (omendb_status, [IndexPtr, POINTER(c_uint64), c_size_t, POINTER(c_float), c_size_t, _ERR]),
    "omendb_index_upsert_batch": (omendb_status, [IndexPtr, POINTER(c_uint64), c_size_t, POINTER(c_float), c_size_t, _ERR]),
    "omendb_index_add_batch_str": (
        omendb_status,
        [IndexPtr, POINTER(c_char_p), POINTER(c_size_t), c_size_t, POINTER(c_float), c_size_t, _ERR],
    ),
    "omendb_index_upsert_batch_str": (
        omendb_status,
        [IndexPtr, POINTER(c_char_p), POINTER(c_size_t), c_size_t, POINTER(c_float), c_size_t, _ERR],
    ),
    "omendb_index_add_auto": (omendb_status, [IndexPtr, POINTER(c_float), c_size_t, c_size_t, POINTER(c_uint64), _ERR]),
    "omendb_index_remove": (omendb_status, [IndexPtr, c_uint64, _ERR]),
    "omendb_index_remove_str": (omendb_status, [IndexPtr, c_char_p, c_size_t, _ERR]),
    "omendb_index_contains": (omendb_status, [IndexPtr, c_uint64, POINTER(c_bool), _ERR]),
    "omendb_index_contains_str": (omendb_status, [IndexPtr, c_char_p, c_size_t, POINTER(c_bool), _ERR]),
    "omendb_index_len": (omendb_status, [IndexPtr, POINTER(c_size_t), _ERR]),
    "omendb_index_dim": (omendb_status, [IndexPtr, POINTER(c_size_t), _ERR]),
    "omendb_index_metric": (omendb_status, [IndexPtr, POINTER(c_uint32), _ERR]),
    "omendb_index_key_kind": (omendb_status, [IndexPtr, POINTER(c_uint32), _ERR]),
    "omendb_index_ef_search": (omendb_status, [IndexPtr, POINTER(c_size_t), _ERR]),
    "omendb_index_set_ef_search": (omendb_status, [IndexPtr, c_uint64, _ERR]),
    "omendb_index_threads": (omendb_status, [IndexPtr, POINTER(c_size_t), _ERR]),
    "omendb_index_set_threads": (omendb_status, [IndexPtr, c_size_t, _ERR]),
    "omendb_index_memory_bytes": (omendb_status, [IndexPtr, POINTER(c_size_t), _ERR]),
    "omendb_index_compact": (omendb_status, [IndexPtr, _ERR]),
    "omendb_index_checkpoint": (omendb_status, [IndexPtr, _ERR]),
    "omendb_index_get": (omendb_status, [IndexPtr, c_uint64, POINTER(c_float), c_size_t, _ERR]),
    "omendb_index_get_str": (omendb_status, [IndexPtr, c_char_p, c_size_t, POINTER(c_float), c_size_t, _ERR]),
    "omendb_index_get_batch": (omendb_status, [IndexPtr, POINTER(c_uint64), c_size_t, POINTER(c_float), c_size_t, _ERR]),
    "omendb_index_count": (omendb_status, [IndexPtr, FilterPtr, POINTER(c_size_t), _ERR]),
    "omendb_index_stats": (omendb_status, [IndexPtr, POINTER(POINTER(c_char)), POINTER(c_size_t), _ERR]),
    "omendb_cursor_create": (omendb_status, [IndexPtr, FilterPtr, POINTER(CursorPtr), _ERR]),
    "omendb_cursor_free": (None, [CursorPtr]),
    "omendb_cursor_len": (omendb_status, [CursorPtr, POINTER(c_size_t), POINTER(c_size_t), _ERR]),
    "omendb_cursor_next": (omendb_status, [CursorPtr, POINTER(c_uint64), c_size_t, POINTER(c_size_t), _ERR]),
    "omendb_cursor_next_str": (
        omendb_status,
        [CursorPtr, POINTER(POINTER(c_char)), POINTER(c_size_t), c_size_t, POINTER(c_size_t), _ERR],
    ),
    "omendb_index_range_search": (
        omendb_status,
        [IndexPtr, POINTER(c_float), c_size_t, c_float, c_size_t, c_size_t, FilterPtr, POINTER(ResultsPtr), _ERR],
    ),
    "omendb_index_remove_batch": (omendb_status, [IndexPtr, POINTER(c_uint64), c_size_t, _ERR]),
    "omendb_index_remove_batch_str": (omendb_status, [IndexPtr, POINTER(c_char_p), POINTER(c_size_t), c_size_t, _ERR]),
    "omendb_index_remove_where": (omendb_status, [IndexPtr, FilterPtr, POINTER(c_size_t), _ERR]),
    "omendb_index_flush": (omendb_status, [IndexPtr, _ERR]),
    "omendb_index_recovery": (omendb_status, [IndexPtr, POINTER(c_uint64), POINTER(c_uint64), _ERR]),
    "omendb_index_search": (
        omendb_status,
        [IndexPtr, POINTER(c_float), c_size_t, c_size_t, c_size_t, c_size_t, POINTER(c_uint64), POINTER(c_float), c_size_t, _ERR],
    ),
    "omendb_index_search_results": (
        omendb_status,
        [IndexPtr, POINTER(c_float), c_size_t, c_size_t, c_size_t, c_size_t, POINTER(ResultsPtr), _ERR],
    ),
    # records.rs, filter.rs, search.rs, metadata.rs
    "omendb_filter_parse": (omendb_status, [c_char_p, c_size_t, POINTER(FilterPtr), _ERR]),
    "omendb_filter_free": (None, [FilterPtr]),
    **{
        name: (
            omendb_status,
            [IndexPtr, *keys, c_size_t, POINTER(c_float), c_size_t, POINTER(c_char_p), POINTER(c_size_t), POINTER(c_char_p), POINTER(c_size_t), _ERR],
        )
        for name, keys in (
            ("omendb_index_add_records", [POINTER(c_uint64)]),
            ("omendb_index_upsert_records", [POINTER(c_uint64)]),
            ("omendb_index_add_records_str", [POINTER(c_char_p), POINTER(c_size_t)]),
            ("omendb_index_upsert_records_str", [POINTER(c_char_p), POINTER(c_size_t)]),
        )
    },
    "omendb_index_search_filtered": (
        omendb_status,
        [IndexPtr, POINTER(c_float), c_size_t, c_size_t, c_size_t, c_size_t, FilterPtr, POINTER(ResultsPtr), _ERR],
    ),
    "omendb_index_text_search": (
        omendb_status,
        [IndexPtr, c_char_p, c_size_t, c_size_t, FilterPtr, POINTER(ResultsPtr), _ERR],
    ),
    "omendb_index_hybrid_search": (
        omendb_status,
        [IndexPtr, POINTER(c_float), c_size_t, c_char_p, c_size_t, c_size_t, c_size_t, FilterPtr, c_uint32, c_float, POINTER(ResultsPtr), _ERR],
    ),
    # shards.rs
    "omendb_index_text_stats": (
        omendb_status,
        [IndexPtr, c_char_p, c_size_t, POINTER(c_uint64), POINTER(c_uint64), POINTER(c_uint64), c_size_t, POINTER(c_size_t), _ERR],
    ),
    "omendb_index_text_search_with_stats": (
        omendb_status,
        [IndexPtr, c_char_p, c_size_t, c_size_t, FilterPtr, c_uint64, c_uint64, POINTER(c_uint64), c_size_t, POINTER(ResultsPtr), _ERR],
    ),
    "omendb_fuse": (
        omendb_status,
        [
            c_uint32, c_float, POINTER(c_uint64), POINTER(c_float), c_size_t, POINTER(c_uint64), POINTER(c_float), c_size_t,
            c_size_t, POINTER(c_uint64), POINTER(c_float), c_size_t, POINTER(c_size_t), _ERR,
        ],
    ),
    "omendb_index_metadata": (omendb_status, [IndexPtr, c_uint64, POINTER(POINTER(c_char)), POINTER(c_size_t), _ERR]),
    "omendb_index_metadata_str": (
        omendb_status,
        [IndexPtr, c_char_p, c_size_t, POINTER(POINTER(c_char)), POINTER(c_size_t), _ERR],
    ),
    "omendb_index_get_text": (omendb_status, [IndexPtr, c_uint64, POINTER(POINTER(c_char)), POINTER(c_size_t), _ERR]),
    "omendb_index_get_text_str": (
        omendb_status,
        [IndexPtr, c_char_p, c_size_t, POINTER(POINTER(c_char)), POINTER(c_size_t), _ERR],
    ),
    "omendb_string_free": (None, [POINTER(c_char)]),
    # options.rs
    "omendb_options_create": (omendb_status, [POINTER(OptionsPtr), _ERR]),
    "omendb_options_free": (None, [OptionsPtr]),
    "omendb_options_set_dim": (omendb_status, [OptionsPtr, c_uint64, _ERR]),
    "omendb_options_set_metric": (omendb_status, [OptionsPtr, c_uint32, _ERR]),
    "omendb_options_set_m": (omendb_status, [OptionsPtr, c_uint64, _ERR]),
    "omendb_options_set_ef_construction": (omendb_status, [OptionsPtr, c_uint64, _ERR]),
    "omendb_options_set_ef_search": (omendb_status, [OptionsPtr, c_uint64, _ERR]),
    "omendb_options_set_seed": (omendb_status, [OptionsPtr, c_uint64, _ERR]),
    "omendb_options_set_dtype": (omendb_status, [OptionsPtr, c_uint32, _ERR]),
    "omendb_options_set_rerank": (omendb_status, [OptionsPtr, c_uint64, _ERR]),
    "omendb_options_set_neighbor_codes": (omendb_status, [OptionsPtr, c_uint32, _ERR]),
    "omendb_options_set_pq_m": (omendb_status, [OptionsPtr, c_uint64, _ERR]),
    "omendb_options_set_text_case": (omendb_status, [OptionsPtr, c_bool, c_bool, _ERR]),
    "omendb_options_set_stemmer": (omendb_status, [OptionsPtr, c_char_p, c_size_t, _ERR]),
    "omendb_options_set_stop_words": (omendb_status, [OptionsPtr, c_uint32, POINTER(c_char_p), POINTER(c_size_t), c_size_t, _ERR]),
    "omendb_options_set_token_chars": (omendb_status, [OptionsPtr, c_size_t, c_size_t, _ERR]),
    "omendb_options_set_bm25": (omendb_status, [OptionsPtr, c_float, c_float, _ERR]),
    "omendb_options_set_full_precision_dir": (omendb_status, [OptionsPtr, c_char_p, c_size_t, _ERR]),
    "omendb_options_set_path": (omendb_status, [OptionsPtr, c_char_p, c_size_t, _ERR]),
    "omendb_options_set_sync": (omendb_status, [OptionsPtr, c_uint32, c_uint32, _ERR]),
    "omendb_options_set_checkpoint_bytes": (omendb_status, [OptionsPtr, c_uint64, _ERR]),
    # persist.rs
    "omendb_index_save": (omendb_status, [IndexPtr, c_char_p, c_size_t, _ERR]),
    "omendb_index_load": (omendb_status, [c_char_p, c_size_t, POINTER(IndexPtr), _ERR]),
    "omendb_index_serialize": (omendb_status, [IndexPtr, POINTER(POINTER(c_uint8)), POINTER(c_size_t), _ERR]),
    "omendb_index_deserialize": (omendb_status, [POINTER(c_uint8), c_size_t, POINTER(IndexPtr), _ERR]),
    "omendb_bytes_free": (None, [POINTER(c_uint8), c_size_t]),
    "omendb_index_open": (omendb_status, [c_char_p, c_size_t, POINTER(IndexPtr), _ERR]),
    "omendb_index_is_read_only": (omendb_status, [IndexPtr, POINTER(c_bool), _ERR]),
    # results.rs
    "omendb_results_free": (None, [ResultsPtr]),
    "omendb_results_num_queries": (omendb_status, [ResultsPtr, POINTER(c_size_t), _ERR]),
    "omendb_results_count": (omendb_status, [ResultsPtr, c_size_t, POINTER(c_size_t), _ERR]),
    "omendb_results_distance": (omendb_status, [ResultsPtr, c_size_t, c_size_t, POINTER(c_float), _ERR]),
    "omendb_results_key": (omendb_status, [ResultsPtr, c_size_t, c_size_t, POINTER(c_uint64), _ERR]),
    "omendb_results_key_str": (
        omendb_status,
        [ResultsPtr, c_size_t, c_size_t, POINTER(POINTER(c_char)), POINTER(c_size_t), _ERR],
    ),
    "omendb_results_distances": (omendb_status, [ResultsPtr, POINTER(POINTER(c_float)), POINTER(c_size_t), _ERR]),
    # status.rs
    "omendb_status_name": (c_char_p, [c_uint32]),
    "omendb_metric_from_name": (omendb_status, [c_char_p, c_size_t, POINTER(c_uint32), _ERR]),
    "omendb_metric_name": (c_char_p, [c_uint32]),
    "omendb_dtype_from_name": (omendb_status, [c_char_p, c_size_t, POINTER(c_uint32), _ERR]),
    "omendb_dtype_name": (c_char_p, [c_uint32]),
    "omendb_fusion_from_name": (omendb_status, [c_char_p, c_size_t, POINTER(c_uint32), _ERR]),
    "omendb_fusion_name": (c_char_p, [c_uint32]),
    "omendb_sync_from_name": (omendb_status, [c_char_p, c_size_t, POINTER(c_uint32), _ERR]),
    "omendb_sync_name": (c_char_p, [c_uint32]),
    "omendb_error_code": (omendb_status, [ErrorPtr]),
    "omendb_error_message": (c_char_p, [ErrorPtr]),
    "omendb_error_free": (None, [ErrorPtr]),
}

# ---- loading ----

if sys.platform == "darwin":
    LIBRARY_NAME = "libomendb.dylib"
elif sys.platform == "win32":
    LIBRARY_NAME = "omendb.dll"
else:
    LIBRARY_NAME = "libomendb.so"

PACKAGE_DIR = Path(__file__).resolve().parent
#: The repository root when this file sits in a source checkout (bindings/python/omendb/).
SOURCE_ROOT = PACKAGE_DIR.parents[2]


def candidate_paths() -> List[Path]:
    """Where the library is looked for, in order (see the module docstring)."""
    paths = []
    env = os.environ.get("OMENDB_LIB")
    if env:
        paths.append(Path(env))
    paths.append(PACKAGE_DIR / LIBRARY_NAME)
    paths.append(SOURCE_ROOT / "target" / "release" / LIBRARY_NAME)
    return paths


def _load() -> Tuple[ctypes.CDLL, Path]:
    env = os.environ.get("OMENDB_LIB")
    if env:
        # An explicit choice is never silently replaced by another copy.
        return ctypes.CDLL(env), Path(env)
    for path in candidate_paths():
        if path.is_file():
            return ctypes.CDLL(str(path)), path
    tried = "\n  ".join(str(p) for p in candidate_paths())
    raise ImportError(
        f"omendb: cannot find {LIBRARY_NAME}; tried:\n  {tried}\n"
        "Set OMENDB_LIB to its path, install the package with pip (which builds it), "
        "or run `cargo build --release` in the repository."
    )


def _declare(library: ctypes.CDLL) -> None:
    for name, (restype, argtypes) in SIGNATURES.items():
        function = getattr(library, name)
        function.restype = restype
        function.argtypes = argtypes


lib, LIBRARY_PATH = _load()
_declare(lib)


class _Untyped:
    """Functions of ``lib`` declared without argtypes, for the hot paths of the binding.

    With argtypes, ctypes converts every argument through its type's ``from_param`` on each
    call: about 40 ns an argument, 0.4 us for ``omendb_index_search``'s ten. Without them it
    passes ctypes objects as they are, so the caller must pass each argument as a ctypes object
    of the exact C type: pointers as ``byref(...)``, a handle or a ctypes array; integers as
    ``SIZE_ARGS[n]`` (``c_size_t``); NULL as None. A Python int would become a C ``int``.
    """

    def __init__(self, library: ctypes.CDLL) -> None:
        # `library[name]` is a new function object: `lib.<name>` keeps its argtypes.
        self.omendb_index_search = library["omendb_index_search"]
        self.omendb_index_search.restype = omendb_status


untyped = _Untyped(lib)


class _SizeArgs(Dict[int, Any]):
    """``SIZE_ARGS[n]``: ``n`` (0 <= n < 2**64) as a ``c_size_t`` argument for ``untyped``.
    Values up to 4096 (dims, k, ef) are made once and shared: ctypes never writes to an
    argument, and a dict lookup is cheaper than a new ``c_size_t``."""

    def __missing__(self, value: int) -> Any:
        arg = c_size_t(value)
        if value <= 4096:
            self[value] = arg
        return arg


SIZE_ARGS = _SizeArgs()


class _OutputTypes(Dict[int, Tuple[Any, Any]]):
    """``OUTPUT_TYPES[k]``: the ctypes array types ``(uint64_t[k], float[k])``. A new ctypes
    array wrapped by ``np.frombuffer`` costs about 0.15 us, against about 0.4 us for
    ``np.empty`` and taking its address; the array is passed to C as its pointer."""

    def __missing__(self, k: int) -> Tuple[Any, Any]:
        types = self[k] = (c_uint64 * k, c_float * k)
        return types


OUTPUT_TYPES = _OutputTypes()

# ---- errors ----


def check(status: int, err: Any, context: Optional[str] = None) -> None:
    """Raises the exception for ``status`` unless it is OMENDB_STATUS_OK.

    ``err`` is the ``ErrorPtr`` filled through ``err_out``; it is freed here (on success C
    leaves it NULL). ``context`` is put in front of the C message.
    """
    if status == OMENDB_STATUS_OK:
        return
    raise_status(status, err, context)


def raise_status(status: int, err: Any, context: Optional[str] = None) -> NoReturn:
    """Frees ``err`` and raises the exception for the non-zero ``status``."""
    try:
        raw = lib.omendb_error_message(err) if err else b""
        message = raw.decode("utf-8", "replace")
    finally:
        lib.omendb_error_free(err)
    if context:
        message = f"{context}: {message}" if message else context
    name = lib.omendb_status_name(status).decode("ascii")
    raise for_status(status)(message, status, name)


def status_name(status: int) -> str:
    """``omendb_status_name``: the name of a status number."""
    return str(lib.omendb_status_name(status).decode("ascii"))


def version() -> str:
    """``omendb_version``: the version of the loaded library."""
    return str(lib.omendb_version().decode("ascii"))


# ---- buffers ----
# `np.ndarray.ctypes.data_as` costs about 2 us; taking the address through the buffer
# protocol (`c_float.from_buffer`) costs about 0.3 us and likewise keeps the array alive for
# the call. It needs a writable buffer, so read-only arrays take the slow path.


def float_ptr(array: np.ndarray) -> Any:
    """A ``const float *`` to the first element of a C-contiguous float32 array (no copy);
    None (NULL) for an empty array."""
    try:
        return ctypes.byref(c_float.from_buffer(array))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return array.ctypes.data_as(POINTER(c_float)) if array.size else None


def u64_ptr(array: np.ndarray) -> Any:
    """A ``uint64_t *`` to the first element of a C-contiguous uint64 array (no copy); None
    (NULL) for an empty array."""
    try:
        return ctypes.byref(c_uint64.from_buffer(array))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return array.ctypes.data_as(POINTER(c_uint64)) if array.size else None
