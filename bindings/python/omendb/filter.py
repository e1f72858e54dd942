"""``Filter``: a parsed metadata filter (``omendb_filter``), reusable across searches."""

from __future__ import annotations

from ctypes import byref
from typing import Any

from . import _ffi
from ._ffi import check
from ._lease import Leased

__all__ = ["Filter"]


class Filter(Leased):
    """A metadata filter parsed once by C (``omendb_filter_parse``).

    Grammar (keywords case-insensitive): ``field = | != | < | <= | > | >= literal``,
    ``field IN (v1, v2, ...)``, ``field CONTAINS "s"`` (a list of strings holding s),
    ``EXISTS field``, ``NOT f``, ``f AND f``, ``f OR f``, parentheses. Literals: double-quoted
    strings, integers, floats, TRUE, FALSE. Example: ``'genre = "jazz" AND year >= 1990'``.

    Raises:
        FilterSyntaxError (an InvalidArgumentError, so a ValueError): the text does not parse;
            the message names the byte offset at fault.
        InvalidUtf8Error: the text holds a lone surrogate.

    A filter is immutable and may be used by many threads at once. ``close()`` (or the garbage
    collector) frees it. ``close()`` may run while searches use the filter: they finish
    normally, and the C filter is freed when the last of them returns; a search started after
    ``close()`` raises ``IndexClosedError`` ("the filter is closed").
    """

    _CLOSED = "the filter is closed"

    def __init__(self, text: str) -> None:
        self.text = text
        encoded = text.encode("utf-8", "surrogatepass")
        handle = _ffi.FilterPtr()
        err = _ffi.ErrorPtr()
        check(_ffi.lib.omendb_filter_parse(encoded, len(encoded), byref(handle), byref(err)), err)
        self._adopt(handle)

    def close(self, _free: Any = _ffi.lib.omendb_filter_free) -> None:
        """Frees the C filter (``omendb_filter_free``): now, or when the last search using it
        returns. Idempotent; afterwards a search with this filter raises IndexClosedError."""
        self._close(_free)

    def __del__(self) -> None:
        self.close()

    def __enter__(self) -> "Filter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"omendb.Filter({self.text!r})"
