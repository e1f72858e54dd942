"""Long adds in chunks (``Index.add``): Ctrl-C taken at a chunk boundary, where the add can
undo the chunks already in, and the progress line of ``progress=True``."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

__all__ = ["DeferredInterrupt", "print_progress"]


class DeferredInterrupt:
    """Ctrl-C (SIGINT) during a chunked add, taken at a chunk boundary: Python raises
    KeyboardInterrupt at any bytecode, which could fall between a chunk going in and its keys
    being recorded for the rollback; this handler only notes the press, and
    ``raise_if_pressed`` raises it where the add can undo itself. Installed only on the main
    thread and over Python's default handler (a program's own handler is left alone)."""

    def __init__(self) -> None:
        self._pressed = False
        self._previous: Any = None

    def __enter__(self) -> "DeferredInterrupt":
        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._note)
        return self

    def _note(self, signum: int, frame: Any) -> None:
        self._pressed = True

    def raise_if_pressed(self) -> None:
        if self._pressed:
            self._pressed = False
            raise KeyboardInterrupt

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        if self._pressed and exc[0] is None:  # pressed after the last chunk: still an interrupt
            raise KeyboardInterrupt


def print_progress(added: int, total: int) -> None:
    """``add(progress=True)``: one line on stderr, rewritten in place."""
    end = "\n" if added == total else ""
    print(f"\romendb: added {added:,} / {total:,} ({100 * added / total:.0f} %)", end=end, file=sys.stderr, flush=True)
