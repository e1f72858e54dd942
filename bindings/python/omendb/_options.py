"""The options of ``Index(...)``, each handed to its ``omendb_options_set_*`` setter, and only
when given: reopening a durable directory compares exactly those with the stored ones, and the
rest take the stored values."""

from __future__ import annotations

import ctypes
import os
from ctypes import byref, c_size_t
from typing import Any, Optional, Sequence, Tuple, Union

from . import _ffi
from ._convert import _encode, _u32, _unsigned, enum_code
from ._ffi import check
from .errors import InvalidArgumentError

__all__ = ["set_options", "set_text_options"]


def set_options(
    options: Any,
    err: Any,
    *,
    dim: Optional[int],
    metric: Optional[str],
    m: Optional[int],
    ef_construction: Optional[int],
    ef_search: Optional[int],
    seed: Optional[int],
    dtype: Optional[str],
    rerank: Optional[int],
    pq_m: Optional[int],
    full_precision_dir: Optional[str],
    neighbor_codes: Optional[int],
    path: Optional[Union[str, "os.PathLike[str]"]],
    sync: str,
    sync_interval_ms: int,
    checkpoint_bytes: Optional[int],
    stemmer: Optional[str],
    stop_words: Union[str, Sequence[str], None],
    lowercase: Optional[bool],
    normalize_unicode: Optional[bool],
    token_chars: Optional[Tuple[int, int]],
    bm25: Optional[Tuple[float, float]],
) -> None:
    """Calls the setter of every option given (not None) on the C options ``options``."""
    lib = _ffi.lib
    if dim is not None:
        check(lib.omendb_options_set_dim(options, _unsigned(dim, "dim"), byref(err)), err, "dim")
    if metric is not None:
        check(lib.omendb_options_set_metric(options, enum_code("metric", metric), byref(err)), err, "metric")
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
        check(lib.omendb_options_set_dtype(options, enum_code("dtype", dtype), byref(err)), err, "dtype")
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
    if neighbor_codes is not None:
        check(
            lib.omendb_options_set_neighbor_codes(options, _u32(neighbor_codes, "neighbor_codes"), byref(err)),
            err,
            "neighbor_codes",
        )
    set_text_options(options, err, stemmer, stop_words, lowercase, normalize_unicode, token_chars, bm25)
    if path is not None:
        raw = os.fsencode(path)
        check(lib.omendb_options_set_path(options, raw, len(raw), byref(err)), err, "path")
        check(
            lib.omendb_options_set_sync(options, enum_code("sync", sync), _u32(sync_interval_ms, "sync_interval_ms"), byref(err)),
            err,
            "sync",
        )
        if checkpoint_bytes is not None:
            check(
                lib.omendb_options_set_checkpoint_bytes(options, _unsigned(checkpoint_bytes, "checkpoint_bytes"), byref(err)),
                err,
                "checkpoint_bytes",
            )


def set_text_options(
    options: Any,
    err: Any,
    stemmer: Optional[str],
    stop_words: Union[str, Sequence[str], None],
    lowercase: Optional[bool],
    normalize_unicode: Optional[bool],
    token_chars: Optional[Tuple[int, int]],
    bm25: Optional[Tuple[float, float]],
) -> None:
    """The tokenizer and BM25 options given to ``__init__`` (each C setter only when given:
    a durable index compares exactly those with its stored ones)."""
    lib = _ffi.lib
    if lowercase is not None or normalize_unicode is not None:
        check(
            lib.omendb_options_set_text_case(
                options, True if lowercase is None else bool(lowercase), True if normalize_unicode is None else bool(normalize_unicode), byref(err)
            ),
            err,
            "lowercase / normalize_unicode",
        )
    if stemmer is not None:
        language = _encode(stemmer, "stemmer")
        check(lib.omendb_options_set_stemmer(options, language, len(language), byref(err)), err, "stemmer")
    if stop_words is not None:
        if isinstance(stop_words, str):
            mode = {"none": _ffi.OMENDB_STOP_WORDS_NONE, "english": _ffi.OMENDB_STOP_WORDS_ENGLISH}.get(stop_words.lower())
            if mode is None:
                raise InvalidArgumentError(f"stop_words {stop_words!r}: expected 'english', 'none' or a list of words")
            check(lib.omendb_options_set_stop_words(options, mode, None, None, 0, byref(err)), err, "stop_words")
        else:
            words = [_encode(w, f"stop_words[{i}]") for i, w in enumerate(stop_words)]
            pointers = (ctypes.c_char_p * len(words))(*words)
            lengths = (c_size_t * len(words))(*map(len, words))
            check(
                lib.omendb_options_set_stop_words(options, _ffi.OMENDB_STOP_WORDS_CUSTOM, pointers, lengths, len(words), byref(err)),
                err,
                "stop_words",
            )
    if token_chars is not None:
        low, high = token_chars
        check(
            lib.omendb_options_set_token_chars(options, _unsigned(low, "token_chars[0]"), _unsigned(high, "token_chars[1]"), byref(err)),
            err,
            "token_chars",
        )
    if bm25 is not None:
        k1, b = bm25
        check(lib.omendb_options_set_bm25(options, float(k1), float(b), byref(err)), err, "bm25")
