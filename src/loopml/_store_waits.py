"""Writes this process handed to a helper process, which its readers wait for.

A fresh process's short first sweep returns once its trials are kept in the sweep's journal,
while its store process is still storing them (``sweeps/_writer.py``). Whatever opens a store in
this process afterwards (``Store``) first waits here, so that it reads every trial; so does the
interpreter's exit, so that the store process is not killed with the process (multiprocessing
ends daemonic children at exit). A forked child starts with nothing to wait for.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable

__all__ = ["hand_off", "wait_for_handoffs"]

_lock = threading.Lock()
_waits: list[Callable[[], None]] = []
_at_exit = False


def hand_off(wait: Callable[[], None]) -> None:
    """Register ``wait``: it returns once the handed-off writes are stored (or can never be)."""
    global _at_exit
    with _lock:
        _waits.append(wait)
        if not _at_exit:
            # Registered now, after multiprocessing's own exit hook: atexit runs this one first.
            atexit.register(wait_for_handoffs)
            _at_exit = True


def wait_for_handoffs() -> None:
    """Wait for every write handed off so far."""
    with _lock:
        waits = list(_waits)
        _waits.clear()
    for wait in waits:
        wait()


def _forget_in_child() -> None:
    _waits.clear()


os.register_at_fork(after_in_child=_forget_in_child)
