"""Exceptions: one class per ``omendb_status`` code of ``include/omendb.h``.

Every failed C call raises the class registered for its status (see ``for_status``), with the
message of the C ``omendb_error``. Classes also derive from the matching Python built-in
(``ValueError``, ``KeyError``, ``IndexError``) so ordinary ``except`` clauses work.
"""

from __future__ import annotations

from typing import Dict, Optional, Type

__all__ = [
    "OmenDBError",
    "InternalError",
    "NullPointerError",
    "IndexClosedError",
    "InvalidArgumentError",
    "DimensionMismatchError",
    "NonFiniteError",
    "ZeroVectorError",
    "InvalidKeyError",
    "InvalidUtf8Error",
    "DuplicateKeyError",
    "KeyNotFoundError",
    "BufferTooSmallError",
    "OutOfRangeError",
    "IoError",
    "CorruptError",
    "UnsupportedVersionError",
    "FilterSyntaxError",
    "LockedError",
    "for_status",
]


class OmenDBError(Exception):
    """Base class of every error reported by the C library.

    Attributes:
        status: the ``omendb_status`` number (``OMENDB_STATUS_*`` in the header).
        status_name: its name, such as ``"OMENDB_STATUS_INVALID_KEY"``.
        message: the message of the C error object.
    """

    status: int = -1
    status_name: str = "OMENDB_STATUS_UNKNOWN"

    def __init__(self, message: str, status: Optional[int] = None, status_name: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if status_name is not None:
            self.status_name = status_name

    def __str__(self) -> str:
        # KeyError would otherwise show repr(message), quotes included.
        return f"{self.message} [{self.status_name}]"


class InternalError(OmenDBError):
    """OMENDB_STATUS_INTERNAL: a bug in OmenDB (a caught panic or a broken invariant)."""

    status = 1
    status_name = "OMENDB_STATUS_INTERNAL"


class NullPointerError(OmenDBError):
    """OMENDB_STATUS_NULL_POINTER: a required pointer was NULL."""

    status = 2
    status_name = "OMENDB_STATUS_NULL_POINTER"


class IndexClosedError(NullPointerError):
    """An ``Index`` (or a ``Filter``: "the filter is closed") was used after ``close()``;
    raised by the binding before calling C, whose answer to the NULL handle would be
    OMENDB_STATUS_NULL_POINTER."""


class InvalidArgumentError(OmenDBError, ValueError):
    """OMENDB_STATUS_INVALID_ARGUMENT: an argument is out of range (k = 0, m < 2, bad metric...).

    The binding raises it too, before calling C, for an integer argument that no ``size_t`` /
    ``uint64_t`` parameter can hold (negative, or 2**64 and above: k = -1, ef = -5, an id of
    -1), which ctypes would otherwise wrap around silently."""

    status = 3
    status_name = "OMENDB_STATUS_INVALID_ARGUMENT"


class DimensionMismatchError(OmenDBError, ValueError):
    """OMENDB_STATUS_DIMENSION_MISMATCH: a vector's length differs from the index's dimensions."""

    status = 4
    status_name = "OMENDB_STATUS_DIMENSION_MISMATCH"


class NonFiniteError(OmenDBError, ValueError):
    """OMENDB_STATUS_NON_FINITE: a vector holds NaN or an infinity."""

    status = 5
    status_name = "OMENDB_STATUS_NON_FINITE"


class ZeroVectorError(OmenDBError, ValueError):
    """OMENDB_STATUS_ZERO_VECTOR: a zero vector was given to a cosine index."""

    status = 6
    status_name = "OMENDB_STATUS_ZERO_VECTOR"


class InvalidKeyError(OmenDBError, ValueError):
    """OMENDB_STATUS_INVALID_KEY: a key is empty, too long, reserved, or of the other kind."""

    status = 7
    status_name = "OMENDB_STATUS_INVALID_KEY"


class InvalidUtf8Error(OmenDBError, ValueError):
    """OMENDB_STATUS_INVALID_UTF8: a string key is not valid UTF-8."""

    status = 8
    status_name = "OMENDB_STATUS_INVALID_UTF8"


class DuplicateKeyError(OmenDBError, ValueError):
    """OMENDB_STATUS_DUPLICATE_KEY: the key is already stored, or repeats within one batch."""

    status = 9
    status_name = "OMENDB_STATUS_DUPLICATE_KEY"


class KeyNotFoundError(OmenDBError, KeyError):
    """OMENDB_STATUS_KEY_NOT_FOUND: the key is not stored."""

    status = 10
    status_name = "OMENDB_STATUS_KEY_NOT_FOUND"


class BufferTooSmallError(OmenDBError):
    """OMENDB_STATUS_BUFFER_TOO_SMALL: an output buffer is smaller than the call needs."""

    status = 11
    status_name = "OMENDB_STATUS_BUFFER_TOO_SMALL"


class OutOfRangeError(OmenDBError, IndexError):
    """OMENDB_STATUS_OUT_OF_RANGE: a position is past the end (of a results object)."""

    status = 12
    status_name = "OMENDB_STATUS_OUT_OF_RANGE"


class IoError(OmenDBError):
    """OMENDB_STATUS_IO: the operating system refused a file operation (open, read, write,
    fsync, rename); the message names the path and the OS error."""

    status = 13
    status_name = "OMENDB_STATUS_IO"


class CorruptError(OmenDBError):
    """OMENDB_STATUS_CORRUPT: the file is not a valid OmenDB index (a foreign file, truncated,
    or damaged: a checksum or a structural check failed)."""

    status = 14
    status_name = "OMENDB_STATUS_CORRUPT"


class UnsupportedVersionError(OmenDBError):
    """OMENDB_STATUS_UNSUPPORTED_VERSION: the file was written by a newer OmenDB, in a format
    version this library cannot read."""

    status = 15
    status_name = "OMENDB_STATUS_UNSUPPORTED_VERSION"


class FilterSyntaxError(InvalidArgumentError):
    """OMENDB_STATUS_FILTER_SYNTAX: filter text does not parse. The message reads "filter
    syntax error at byte N: what was expected"."""

    status = 16
    status_name = "OMENDB_STATUS_FILTER_SYNTAX"


class LockedError(OmenDBError):
    """OMENDB_STATUS_LOCKED: the durable index directory is open for writing elsewhere (another
    process, or another ``Index`` in this one); the message names the holder's pid."""

    status = 17
    status_name = "OMENDB_STATUS_LOCKED"


_BY_STATUS: Dict[int, Type[OmenDBError]] = {
    cls.status: cls
    for cls in (
        InternalError,
        NullPointerError,
        InvalidArgumentError,
        DimensionMismatchError,
        NonFiniteError,
        ZeroVectorError,
        InvalidKeyError,
        InvalidUtf8Error,
        DuplicateKeyError,
        KeyNotFoundError,
        BufferTooSmallError,
        OutOfRangeError,
        IoError,
        CorruptError,
        UnsupportedVersionError,
        FilterSyntaxError,
        LockedError,
    )
}


def for_status(status: int) -> Type[OmenDBError]:
    """The exception class for a non-zero status; ``OmenDBError`` itself for an unknown number."""
    return _BY_STATUS.get(status, OmenDBError)
