"""Writes this process handed to a helper process, which its readers wait for.

A fresh process's short first sweep returns once its trials are kept in the sweep's journal,
while its store process is still storing them (``sweeps/_writer.py``). Whatever opens a store in
this process afterwards (``Store``) first waits here, so that it reads every trial; so does the
interpreter's exit, so that the store process is not killed with the process (multiprocessing
ends daemonic children at exit). A forked child starts with nothing to wait for.

Ctrl-C during that exit wait stops waiting: the store process (which ignores SIGINT) goes on
storing what it kept, and this process dies of the SIGINT, as an interrupted Python program does.
Python would print the ``KeyboardInterrupt`` raised in an exit hook as "ignored", exit 0 and then
end the store process with the other daemonic children.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
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
            atexit.register(_wait_at_exit)
            _at_exit = True


def wait_for_handoffs() -> None:
    """Wait for every write handed off so far."""
    with _lock:
        waits = list(_waits)
        _waits.clear()
    for i, wait in enumerate(waits):
        try:
            wait()
        except BaseException:  # e.g. Ctrl-C: the next reader (or the exit) still waits for these
            with _lock:
                _waits[:0] = waits[i:]
            raise


def _wait_at_exit() -> None:
    try:
        wait_for_handoffs()
    except KeyboardInterrupt:
        print(
            "loopml: Ctrl-C: not waiting for the sweep's store process; it goes on storing the "
            "last sweep's trials (kept in the data folder's sweep-journals until they are stored)",
            file=sys.stderr,
        )
        # Dying of SIGINT skips the exit hooks left, multiprocessing's among them (it would end
        # the store process); the exit status tells a shell the program was interrupted.
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # closed, or None without a console
                stream.flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        os._exit(128 + signal.SIGINT)  # SIGINT blocked in this thread: the shell's status for it


def _forget_in_child() -> None:
    _waits.clear()


os.register_at_fork(after_in_child=_forget_in_child)
