"""``Filter``: a parsed metadata filter (``omendb_filter``), reusable across searches."""

from __future__ import annotations

from ctypes import byref
from typing import Any, Optional

from . import _ffi
from ._ffi import check

__all__ = ["Filter"]


class Filter:
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
    collector) frees it; it must not run while a search uses the filter.
    """

    _handle: Optional[Any] = None  # FilterPtr; None once closed

    def __init__(self, text: str) -> None:
        self.text = text
        encoded = text.encode("utf-8", "surrogatepass")
        handle = _ffi.FilterPtr()
        err = _ffi.ErrorPtr()
        check(_ffi.lib.omendb_filter_parse(encoded, len(encoded), byref(handle), byref(err)), err)
        self._handle = handle

    def close(self, _free: Any = _ffi.lib.omendb_filter_free) -> None:
        """Frees the C filter (``omendb_filter_free``). Idempotent."""
        handle, self._handle = self._handle, None
        if handle:
            _free(handle)

    def __del__(self) -> None:
        self.close()

    def __enter__(self) -> "Filter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _h(self) -> Any:
        if self._handle is None:
            raise ValueError("the filter is closed")
        return self._handle

    def __repr__(self) -> str:
        return f"omendb.Filter({self.text!r})"
