"""Ctrl-C in a sweep: its child processes ignore it, and a second one stops the stopping.

The terminal's Ctrl-C reaches the whole process group, and a sweep's children ignore it: the
sweep's process decides what is written. A child only starts ignoring it once its code runs,
though; a SIGINT that came just after the fork would raise ``KeyboardInterrupt`` in the new child
(a worker's traceback; a store process gone, so that the sweep opens the store itself). So the
thread that forks holds SIGINT back (:func:`sigint_held`), and the child lets it through only
once it ignores it (:func:`ignore_sigint`).

On the first Ctrl-C the sweep marks its unfinished trials killed, hands them to its writer and
waits until they are stored. A second one during the few lines that hand them over waits until
they are handed over (:func:`ctrl_c_deferred`); during the wait it ends the wait, and the sweep
waits for nothing more (:func:`ctrl_c_twice`).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

__all__ = ["ctrl_c_deferred", "ctrl_c_twice", "ignore_sigint", "sigint_held"]

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


@contextlib.contextmanager
def ctrl_c_deferred() -> Iterator[None]:
    """A SIGINT that comes inside the block is delivered as it ends (main thread only)."""
    if (
        threading.current_thread() is not threading.main_thread()  # no KeyboardInterrupt there
        or signal.getsignal(signal.SIGINT) is None  # a handler not set from Python: kept as is
    ):
        yield
        return
    came: list[int] = []
    before = signal.signal(signal.SIGINT, lambda signum, frame: came.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)
        if came:
            signal.raise_signal(signal.SIGINT)  # to the handler it had: KeyboardInterrupt


def ctrl_c_twice(exc: BaseException) -> bool:
    """Whether ``exc`` is a Ctrl-C that came while the sweep was stopping for an earlier one."""
    return isinstance(exc, KeyboardInterrupt) and isinstance(exc.__context__, KeyboardInterrupt)
