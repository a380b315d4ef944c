"""Ctrl-C and a sweep's child processes (workers, the store process).

The terminal's Ctrl-C reaches the whole process group, and a sweep's children ignore it: the
sweep's process decides what is written. A child only starts ignoring it once its code runs,
though; a SIGINT that came just after the fork would raise ``KeyboardInterrupt`` in the new child
(a worker's traceback; a store process gone, so that the sweep opens the store itself). So the
thread that forks holds SIGINT back (:func:`sigint_held`), and the child lets it through only
once it ignores it (:func:`ignore_sigint`).
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

__all__ = ["ignore_sigint", "sigint_held"]

_MASKS = hasattr(signal, "pthread_sigmask")  # not on Windows (no fork there either)


@contextlib.contextmanager
def sigint_held() -> Iterator[None]:
    """Block SIGINT in this thread while children are started; a blocked one is delivered after."""
    if not _MASKS:
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def ignore_sigint() -> None:
    """In a sweep's child: ignore SIGINT, then unblock it (one held back since the fork is dropped)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if _MASKS:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
