"""``Leased``: a C handle that concurrent calls borrow and that ``close()`` frees once, never
while a call is using it.

ctypes releases the GIL during every C call, so one thread may call ``close()`` while another
is inside C with the same handle. Each method therefore leases the handle for the whole of
its C calls (``_acquire`` / ``_release``: a use count under a ``threading.Lock``). ``close()``
takes the handle away at once, so later calls raise ``IndexClosedError``; it does not wait:
when calls still hold the handle, the last of them to finish frees it (``_release``).
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional, Tuple

from . import _ffi
from .errors import IndexClosedError

__all__ = ["Leased"]


class Leased:
    """Base of ``Index`` and ``Filter``: the handle, its use count and the pending free."""

    _handle: Optional[Any] = None  # the C pointer; None once closed (or never opened)
    _CLOSED = "the object is closed"  # the message of IndexClosedError

    def _adopt(self, handle: Any) -> None:
        """Starts leasing ``handle`` (a C object this Python object now owns)."""
        self._lock = threading.Lock()
        self._users = 0  # calls holding the handle now
        self._pending: Optional[Tuple[Callable[[Any], None], Any]] = None  # (free, handle) for the last user
        self._handle = handle

    def _acquire(self) -> Any:
        """The handle, held until the matching ``_release``; raises IndexClosedError once
        ``close()`` was called. Every ``_acquire`` that returns must be followed by exactly one
        ``_release`` (``try`` / ``finally``)."""
        with self._lock:
            handle = self._handle
            if handle is None:
                raise IndexClosedError(self._CLOSED, _ffi.OMENDB_STATUS_NULL_POINTER, "OMENDB_STATUS_NULL_POINTER")
            self._users += 1
        return handle

    def _release(self) -> None:
        """Ends a lease; the last one after a ``close()`` frees the handle."""
        with self._lock:
            self._users -= 1
            if self._users or self._pending is None:
                return
            free, handle = self._pending
            self._pending = None
        free(handle)

    def _free_pending(self) -> None:
        """Frees the handle if ``close()`` left it to the last user and no call holds it now
        (for a caller that ended its lease inline, as ``Index.search``'s fast path does)."""
        with self._lock:
            if self._users or self._pending is None:
                return
            free, handle = self._pending
            self._pending = None
        free(handle)

    def _close(self, free: Callable[[Any], None]) -> None:
        """Takes the handle away and frees it with ``free``: now when no call holds it, else
        when the last call holding it returns. Idempotent."""
        if self._handle is None:  # never opened (a failed __init__) or closed already
            return
        with self._lock:
            handle, self._handle = self._handle, None
            if not handle:
                return
            if self._users:
                self._pending = (free, handle)
                return
        free(handle)

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has been called (the C object may still be in use by calls that
        started before; it is freed when the last of them returns)."""
        return self._handle is None
