"""The sweep's store writers: trial batches go to the store off the controller's thread.

A write transaction can take tens of milliseconds on a busy machine; done on the controller's
thread it would stall every worker waiting for a pruning decision. Both writers take snapshots
(the controller keeps mutating its own records), keep the order (a later snapshot of a trial
replaces an earlier one) and re-raise a write's error in the controller's thread.

``TrialWriter`` is a thread over the process's own store. ``ProcessWriter`` hands the batches to
a forked **store process**, which opens the store itself: a fresh process's first sweep then
starts its trials at once instead of first importing SQLAlchemy and opening the store (a third
of a second, more than a 1,000-trial sweep of short trials takes to run), and the store's work
runs on another core. The store process exits when its sweep ends: a fork left running would
hold copies of every file and socket this process had open when it forked (a browser driver's
pipes, a server's socket) and keep them from ever closing.

Until the store is open, the store process keeps every message it receives in the sweep's
journal (``store/_sweep_journal.py``) and acknowledges it as *kept*: a sweep that ends before
then (a fresh process's short first sweep) returns at once, and the store process stores it all
behind; readers in this process wait for it (``loopml._store_waits``), and opening the store
anywhere replays the journal of a store process that died. Once the store is open, the sweep
waits for its batches to be stored, as with the thread writer, and a write's error is raised in
the sweep.

Crash safety is the thread writer's: a trial counts as stored once its batch is acknowledged
(stored, or kept in the journal). The driver keeps every batch until then; if the store process
dies, the driver opens the store itself (which replays what the journal kept), writes the
unacknowledged batches again (the writes are upserts) and goes on with a ``TrialWriter``. If the
driver dies, the store process has written every batch it received before it sees the pipe
close; trials still running are left ``running`` and run again on resume, as with the thread
writer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pickle
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from loopml._errors import LoopmlError, StoreError
from loopml._store_waits import hand_off
from loopml.sweeps._sigint import ignore_sigint, sigint_held

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from loopml._config import Settings
    from loopml.store import SweepJournal, SweepRecord, SweepStore, TrialWrite

__all__ = ["NewSweep", "ProcessWriter", "TrialWriter", "Writer"]

_READER_SWITCH_INTERVAL = 0.0002  # seconds (see ``_store_main``)


class Writer(Protocol):
    """What the controller writes through."""

    def submit(self, trials: Iterable[TrialWrite]) -> None:
        """Queue snapshots of ``trials`` for the next transaction."""

    def drain(self) -> None:
        """Wait until everything submitted is stored (re-raising a write's error)."""

    def heartbeat(self, run_ids: list[str]) -> None:
        """Mark running trials' runs alive, after everything submitted so far."""


class TrialWriter:
    """One thread writing trial batches in order; ``drain()`` waits and re-raises its error."""

    def __init__(
        self, sweeps: SweepStore, project: str, sweep_id: str, attributes: dict[str, Any]
    ) -> None:
        self._sweeps = sweeps
        self._args = (project, sweep_id, attributes)
        self._cond = threading.Condition()
        self._queued: dict[int, TrialWrite] = {}
        self._busy = False
        self._closed = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="loopml-sweep-writer", daemon=True)
        self._thread.start()

    def submit(self, trials: Iterable[TrialWrite]) -> None:
        """Queue snapshots of ``trials`` for the next transaction."""
        snapshots = {t.number: dataclasses.replace(t) for t in trials}
        with self._cond:
            self._raise()
            self._queued.update(snapshots)
            self._cond.notify_all()

    def drain(self) -> None:
        """Wait until everything submitted is written (re-raising a write's error)."""
        with self._cond:
            while (self._queued or self._busy) and self._error is None:
                self._cond.wait()
            self._raise()

    def heartbeat(self, run_ids: list[str]) -> None:
        """Write what is queued, then mark ``run_ids`` alive."""
        self.drain()
        self._sweeps.store.runs.heartbeat(run_ids)

    def close(self, status: str | None = None) -> SweepRecord:
        """Drain, stop the thread, set the sweep's ``status`` (if given); the sweep as stored."""
        try:
            self.drain()
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()
            self._thread.join(timeout=10)
        sweep_id = self._args[1]
        if status is not None:
            self._sweeps.set_status(sweep_id, status)
        return self._sweeps.get(sweep_id)

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queued and not self._closed:
                    self._cond.wait()
                if not self._queued:
                    return
                batch, self._queued = list(self._queued.values()), {}
                self._busy = True
            try:
                self._sweeps.write_trials(*self._args[:2], self._args[2], batch)
            except BaseException as exc:  # handed to the controller's thread
                with self._cond:
                    self._error = exc
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()


# -- the store process ----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class NewSweep:
    """A sweep to create in the store: ``create_sweep``'s arguments."""

    sweep_id: str
    project: str
    name: str
    metric: str
    direction: str
    objective: str
    config: dict[str, Any]


def _store_main(
    conn: Connection, driver_end: Connection, settings: Settings, parent_pid: int
) -> None:
    """The store process: open the store, then answer the driver's messages in order."""
    driver_end.close()  # else the pipe never closes when the driver dies
    ignore_sigint()  # the terminal's Ctrl-C reaches the whole process group; the driver decides
    inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
    send_lock = threading.Lock()

    def send(msg: tuple[Any, ...]) -> None:
        # Two threads reply; a driver that is gone (it returned, or died) reads nothing more.
        with send_lock, contextlib.suppress(OSError, ValueError):
            conn.send(msg)

    # The reader thread imports nothing: an import it started while the main thread imports
    # SQLAlchemy would wait for that one to finish.
    from loopml.store import SweepJournal

    journals = _Journals(settings, parent_pid, SweepJournal)

    def read() -> None:
        # Reading on a thread of its own keeps the pipe empty while the store opens, so the
        # driver's sends never wait for SQLAlchemy's import; and each message is kept in its
        # sweep's journal (acknowledged as "kept") before the store is even open.
        while True:
            try:
                raw = conn.recv_bytes()
            except (EOFError, OSError):
                inbox.put(("gone",))
                return
            msg = pickle.loads(raw)
            kept = journals.keep(msg, raw)
            inbox.put(msg)
            if kept is not None:
                send(kept)

    # While the main thread imports SQLAlchemy and opens the store, the reader must get the GIL
    # back at once after each read from the pipe, not after the default 5 ms switch interval:
    # the driver waits for its "kept" replies.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(_READER_SWITCH_INTERVAL)
    threading.Thread(target=read, name="loopml-store-reader", daemon=True).start()
    from loopml.store import Store
    from loopml.tracking import run_attributes

    try:
        sweeps = Store(settings).sweeps
    except BaseException:
        journals.finish_all(stored=False)
        raise
    sys.setswitchinterval(interval)
    # The store is open: from now on the driver waits until its batches are stored.
    journals.stop_keeping()
    attributes: dict[str, dict[str, Any]] = {}
    held: list[Any] = []  # a message read while gathering writes, handled next
    while True:
        msg = held.pop() if held else inbox.get()
        kind = msg[0]
        if kind in ("gone", "exit"):  # the driver is gone or done: everything it sent is written
            journals.finish_all(stored=True)
            return
        seqs: list[int] = []
        # Every message is (kind, sweep id, ...) and every reply names the sweep too: a reply
        # left over from an interrupted sweep is ignored by the next one.
        sweep_of = msg[1]
        try:
            if kind == "create":
                new: NewSweep = msg[2]
                sweeps.create_sweep(
                    new.sweep_id,
                    new.project,
                    new.name,
                    new.metric,
                    new.direction,
                    new.objective,
                    new.config,
                )
                attributes[new.sweep_id] = {**run_attributes(), "pid": parent_pid}
                cache_key = new.config.get("objective_key") if new.config.get("cache") else None
                cached = sweeps.cached_results(cache_key) if cache_key else {}
                send(("ready", sweep_of, cached))
            elif kind == "write":
                # Every write already waiting goes into one transaction (a later snapshot of a
                # trial replaces an earlier one), then each is acknowledged.
                _, sweep_id, seq, project, batch = msg
                seqs, trials = [seq], {t.number: t for t in batch}
                while not inbox.empty():
                    more = inbox.get()
                    if more[0] != "write" or more[1] != sweep_id:
                        held.append(more)
                        break
                    seqs.append(more[2])
                    trials.update((t.number, t) for t in more[4])
                sweeps.write_trials(project, sweep_id, attributes[sweep_id], list(trials.values()))
                for seq in seqs:
                    send(("ack", sweep_of, seq))
            elif kind == "heartbeat":
                sweeps.store.runs.heartbeat(msg[2])
            elif kind == "close":
                _, sweep_id, status = msg
                sweeps.set_status(sweep_id, status)
                attributes.pop(sweep_id, None)
                journals.finish(sweep_id, stored=True)
                send(("closed", sweep_of, sweeps.get(sweep_id)))
        except Exception as exc:  # the driver re-raises it (the batches it names are done with)
            journals.failed(sweep_of, exc)
            send(("error", sweep_of, seqs, _picklable(exc)))


class _Journals:
    """The store process's sweep journals (see ``store/_sweep_journal.py``), one per sweep.

    Until the store is open, the reader thread keeps each message in its sweep's journal before
    it is handled (after that the driver waits for the store, so nothing more is kept); the main
    thread deletes a sweep's journal once everything in it is stored, and keeps it (for the
    next opening of the store to replay) if a write failed.
    """

    def __init__(
        self, settings: Settings, parent_pid: int, journal_type: type[SweepJournal]
    ) -> None:
        self._settings = settings
        self._pid = parent_pid
        self._journal_type = journal_type
        self._lock = threading.Lock()
        self._open: dict[str, SweepJournal] = {}
        self._failed: set[str] = set()
        self._keeping = True

    def stop_keeping(self) -> None:
        """The store is open: keep nothing more (what was kept is stored, then deleted)."""
        with self._lock:
            self._keeping = False

    def keep(self, msg: tuple[Any, ...], raw: bytes) -> tuple[Any, ...] | None:
        """Keep ``msg`` in its sweep's journal: the "kept" reply to send, or None."""
        kind = msg[0]
        if kind not in ("create", "write", "close"):
            return None
        SweepJournal = self._journal_type  # imported by the main thread
        with self._lock:
            if not self._keeping:
                return None
            journal = self._open.get(msg[1])
            if kind == "create":
                new: NewSweep = msg[2]
                if journal is not None or not SweepJournal.usable(
                    self._settings.resolved_store_url
                ):
                    return None
                try:
                    journal = SweepJournal(self._settings.data_dir, new.sweep_id)
                    journal.keep_create(
                        new.sweep_id, new.project, new.name, new.metric, new.direction,
                        new.objective, new.config, self._pid,
                    )  # fmt: skip
                except OSError:  # no room, or a journal left over: the store acknowledges
                    if journal is not None:
                        journal.close(delete=True)
                    return None
                self._open[new.sweep_id] = journal
                return ("kept", new.sweep_id, "create")
            if journal is None:
                return None
            try:
                journal.keep_message(raw)
            except OSError:  # e.g. the disk is full: stop keeping; the store acknowledges
                return None
            return ("kept", msg[1], msg[2] if kind == "write" else "close")

    def failed(self, sweep_id: str, exc: BaseException) -> None:
        """A write of ``sweep_id`` failed: keep its journal when the sweep ends."""
        with self._lock:
            if sweep_id in self._open and sweep_id not in self._failed:
                self._failed.add(sweep_id)
                print(
                    f"loopml: the sweep store process could not store sweep {sweep_id} "
                    f"({exc!r}); its trials stay in {self._open[sweep_id].path}, stored again "
                    "when the store is next opened",
                    file=sys.stderr,
                )

    def finish(self, sweep_id: str, stored: bool) -> None:
        """Close ``sweep_id``'s journal, deleting it if everything in it is ``stored``."""
        with self._lock:
            journal = self._open.pop(sweep_id, None)
            if journal is not None:
                journal.close(delete=stored and sweep_id not in self._failed)

    def finish_all(self, stored: bool) -> None:
        """Close every journal (the driver is gone or done, and every message handled)."""
        with self._lock:
            names = list(self._open)
        for sweep_id in names:
            self.finish(sweep_id, stored)


def _picklable(exc: Exception) -> Exception:
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return StoreError(f"the sweep's store process failed: {exc!r}")


class _StoreProcess:
    """A forked store process and the driver's end of its pipe (one per settings)."""

    def __init__(self, settings: Settings) -> None:
        import multiprocessing as mp

        self.settings = settings
        self.owner = os.getpid()
        ctx = mp.get_context("fork")
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(
            target=_store_main,
            args=(child, self.conn, settings, self.owner),
            daemon=True,
            name="loopml-sweep-store",
        )
        with sigint_held():
            self.process.start()
        child.close()

    def alive(self) -> bool:
        return self.process.is_alive()

    def hand_off(self) -> None:
        """Let it store what it kept and exit on its own; this process's readers wait for it."""
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(("exit",))
        with contextlib.suppress(OSError):
            self.conn.close()
        hand_off(self.process.join)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.close()
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)


_PROCESS: _StoreProcess | None = None
_PROCESS_LOCK = threading.Lock()


def _store_process(settings: Settings) -> _StoreProcess:
    """This process's store process for ``settings`` (forked now if there is none alive)."""
    global _PROCESS
    with _PROCESS_LOCK:
        current = _PROCESS
        if current is not None and (
            current.owner != os.getpid()  # inherited through a fork: not ours to use
            or current.settings != settings
            or not current.alive()
        ):
            if current.owner == os.getpid():
                current.stop()
            current = None
        if current is None:
            current = _PROCESS = _StoreProcess(settings)
        return current


def _forget(process: _StoreProcess) -> None:
    global _PROCESS
    with _PROCESS_LOCK:
        if _PROCESS is process:
            _PROCESS = None


class ProcessWriter:
    """Writes a new sweep and its trials through the store process (see the module docstring).

    ``open_store`` opens the store in this process; it is called only if the store process dies,
    to write what it had not acknowledged and go on with a :class:`TrialWriter`.
    """

    def __init__(
        self,
        settings: Settings,
        new: NewSweep,
        open_store: Callable[[], SweepStore],
        attributes: Callable[[], dict[str, Any]],
    ) -> None:
        self._new = new
        self._open_store = open_store
        self._attributes = attributes
        self._proc = _store_process(settings)
        self._created_at = time.time()
        self._seq = 0
        self._unacked: dict[int, list[TrialWrite]] = {}  # seq -> the batch sent, not yet kept
        self._unstored: set[int] = set()  # batches sent and not yet stored
        self._journaled = False  # the store process keeps this sweep's messages in a journal
        self._close_kept = False
        self._cached: dict[str, tuple[float, str]] | None = None
        self._fallback: TrialWriter | None = None
        self._send(("create", new.sweep_id, new))

    # -- the driver's side of the protocol -----------------------------------------------------
    def _send(self, msg: tuple[Any, ...]) -> None:
        if self._fallback is not None:
            return
        try:
            self._proc.conn.send(msg)
        except (OSError, ValueError):  # the store process is gone
            self._take_over()

    def _receive(self, block: bool) -> tuple[Any, ...] | None:
        """One reply (None when ``block`` is False and none is waiting); takes over if it died."""
        conn = self._proc.conn
        try:
            while not conn.poll(0.5 if block else 0):
                if not block:
                    return None
                if not self._proc.alive():
                    raise EOFError
            msg: tuple[Any, ...] = conn.recv()
        except (EOFError, OSError):
            self._take_over()
            return None
        if msg[1] != self._new.sweep_id:
            return msg  # left over from an earlier sweep that was interrupted
        if msg[0] == "kept":
            if msg[2] == "create":
                self._journaled = True
            elif msg[2] == "close":
                self._close_kept = True
            else:
                self._unacked.pop(msg[2], None)
        elif msg[0] == "ack":
            self._unacked.pop(msg[2], None)
            self._unstored.discard(msg[2])
        elif msg[0] == "ready":
            self._cached = msg[2]
        elif msg[0] == "error":
            for seq in msg[2]:
                self._unacked.pop(seq, None)
                self._unstored.discard(seq)
            if self._cached is None:
                self._cached = {}  # the sweep could not be created: nothing to wait for
            raise msg[3]
        return msg

    def _take_over(self) -> None:
        """The store process died: write what it had not acknowledged from this process."""
        if self._fallback is not None:
            return
        _forget(self._proc)
        with contextlib.suppress(Exception):
            self._proc.stop()
        sweeps = self._open_store()
        new = self._new
        try:
            sweeps.get(new.sweep_id)
        except LoopmlError:  # it died before creating the sweep
            sweeps.create_sweep(
                new.sweep_id,
                new.project,
                new.name,
                new.metric,
                new.direction,
                new.objective,
                new.config,
            )
        if self._cached is None:
            key = new.config.get("objective_key") if new.config.get("cache") else None
            self._cached = sweeps.cached_results(key) if key else {}
        self._fallback = TrialWriter(sweeps, new.project, new.sweep_id, self._attributes())
        for seq in sorted(self._unacked):
            self._fallback.submit(self._unacked[seq])
        self._unacked.clear()
        self._unstored.clear()

    # -- the writer ----------------------------------------------------------------------------
    def cached(self) -> dict[str, tuple[float, str]]:
        """Stored results by cache key (waits for the store process to open the store)."""
        while self._cached is None:
            self._receive(block=True)
        return self._cached if self._cached is not None else {}

    def submit(self, trials: Iterable[TrialWrite]) -> None:
        """Send snapshots of ``trials`` to the store process (kept until acknowledged)."""
        if self._fallback is not None:
            self._fallback.submit(trials)
            return
        while self._fallback is None and self._receive(block=False) is not None:
            pass  # collect acknowledgements already waiting
        self._seq += 1
        # Pickling for the pipe is the snapshot. The batch kept for a take-over holds the live
        # records: by then they may be newer, which is what would be written next anyway.
        batch = list(trials)
        self._unacked[self._seq] = batch
        self._unstored.add(self._seq)
        self._send(("write", self._new.sweep_id, self._seq, self._new.project, batch))
        if self._fallback is not None:
            self._fallback.submit(batch)

    def drain(self) -> None:
        """Wait until every batch is stored, or kept in the sweep's journal while the store is
        not open yet (re-raising a write's error)."""
        while self._fallback is None and not self._settled():
            self._receive(block=True)
        if self._fallback is not None:
            self._fallback.drain()

    def _settled(self) -> bool:
        if self._cached is None:  # the store is not open yet: kept in the journal will do
            return self._journaled and not self._unacked
        # Once it is open, every batch is stored, as by the thread writer: a write's error is
        # raised here, in the sweep.
        return not self._unacked and not self._unstored

    def heartbeat(self, run_ids: list[str]) -> None:
        """Mark running trials' runs alive (after the batches sent before)."""
        if self._fallback is not None:
            self._fallback.heartbeat(run_ids)
        else:
            self._send(("heartbeat", self._new.sweep_id, run_ids))

    def _hand_off(self, status: str) -> SweepRecord:
        from loopml.store import SweepRecord

        _forget(self._proc)
        self._proc.hand_off()
        new = self._new
        return SweepRecord(
            new.sweep_id, new.project, new.name, status, new.metric, new.direction,
            new.objective, new.config, self._created_at, time.time(),
        )  # fmt: skip

    def _release(self) -> None:
        """The sweep is stored: let the store process exit (see the module docstring)."""
        _forget(self._proc)
        with contextlib.suppress(OSError, ValueError):
            self._proc.conn.send(("exit",))
        self._proc.stop()

    def close(self, status: str) -> SweepRecord:
        """Drain, set the sweep's ``status``; the sweep as stored.

        A sweep that ends before the store process has opened the store (a fresh process's
        short first sweep) returns once its status is kept in the journal: the store process
        stores it all behind, and this process's readers wait for it (``loopml._store_waits``).
        """
        self.drain()
        if self._fallback is None:
            self._send(("close", self._new.sweep_id, status))
            while self._fallback is None:
                # Replies already waiting first: a "ready" among them means the store is open,
                # and then the sweep waits until everything is stored.
                msg = self._receive(block=False)
                if msg is None and self._fallback is None:
                    if self._close_kept and self._cached is None:
                        return self._hand_off(status)
                    msg = self._receive(block=True)
                if msg is not None and msg[0] == "closed" and msg[1] == self._new.sweep_id:
                    record: SweepRecord = msg[2]
                    self._release()
                    return record
        assert self._fallback is not None
        return self._fallback.close(status)
