"""Starting loopml's background threads without making the caller wait for them."""

from __future__ import annotations

import _thread
import threading

__all__ = ["pending_or_alive", "start_soon"]


def start_soon(thread: threading.Thread) -> threading.Event:
    """Start ``thread`` without waiting for it to be scheduled; the event returned is set once
    ``thread.start()`` has returned (or failed, when the interpreter is shutting down).

    ``Thread.start()`` blocks until the new thread has run far enough to say it started. On a
    machine whose cores a training keeps busy that takes milliseconds (tens under load), and
    ``loopml.init`` starts two threads on the training's own path. Creating a bare helper
    thread does not wait: the helper makes the ``start()`` call and the wait instead.
    """
    launched = threading.Event()

    def launch() -> None:
        try:
            thread.start()
        except RuntimeError:  # "can't create new thread at interpreter shutdown"
            pass
        finally:
            launched.set()

    _thread.start_new_thread(launch, ())
    return launched


def pending_or_alive(thread: threading.Thread, launched: threading.Event) -> bool:
    """Whether ``thread`` (started with :func:`start_soon`) is about to run or running."""
    return not launched.is_set() or thread.is_alive()
