"""OmenDB: an embedded vector database (HNSW), through its C library.

>>> import numpy as np, omendb
>>> with omendb.Index(metric="cosine") as index:
...     ids = index.add(np.random.rand(100, 8).astype(np.float32))
...     labels, distances = index.search(np.random.rand(8).astype(np.float32), k=5)

See ``omendb.Index``. Errors are ``omendb.OmenDBError`` subclasses, one per C status code.
"""

from . import _ffi
from .errors import (
    BufferTooSmallError,
    CorruptError,
    DimensionMismatchError,
    DuplicateKeyError,
    FilterSyntaxError,
    LockedError,
    IndexClosedError,
    InternalError,
    InvalidArgumentError,
    InvalidKeyError,
    InvalidUtf8Error,
    IoError,
    KeyNotFoundError,
    NonFiniteError,
    NullPointerError,
    OmenDBError,
    OutOfRangeError,
    UnsupportedVersionError,
    ZeroVectorError,
)
from .filter import Filter
from .index import NO_KEY, Index
from ._shards import TextStats, fuse
from .client import Client, ServerError


def version() -> str:
    """The version of the loaded C library (``omendb_version``)."""
    return _ffi.version()


__version__ = version()

__all__ = [
    "Index",
    "Filter",
    "TextStats",
    "Client",
    "ServerError",
    "fuse",
    "NO_KEY",
    "version",
    "__version__",
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
]
