"""The background writer's pass: what it ingests, and which runs it beats the heartbeat for."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from loopml._config import Settings
from loopml.tracking import Session


def test_a_pass_beats_only_for_runs_it_did_not_ingest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = Session(Settings(data_dir=tmp_path, flush_interval=3600.0, heartbeat_interval=0.001))
    busy = session.start_run("p", "busy")
    quiet = session.start_run("p", "quiet")
    busy.flush()
    quiet.flush()
    beats: list[list[str]] = []
    real = session.backend.heartbeat

    def spy(run_ids: list[str]) -> None:
        beats.append(list(run_ids))
        real(run_ids)

    monkeypatch.setattr(session.backend, "heartbeat", spy)
    before = session.backend.get(busy.id).heartbeat_at
    assert before is not None
    busy.log({"x": 1.0}, step=0)
    session.writer.pass_once()
    assert beats == [[quiet.id]]  # the ingest marked ``busy`` alive itself
    assert (session.backend.get(busy.id).heartbeat_at or 0.0) > before
    assert session.backend.get(busy.id).metrics["x"].count == 1
    session.writer.pass_once()  # nothing new anywhere: both beat
    assert beats[1] == sorted([busy.id, quiet.id])
    busy.finish()
    quiet.finish()
    session.shutdown()


class _HeldStart(threading.Thread):
    """A thread whose ``start()`` does not return until the test lets it."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__(target=lambda: None, daemon=True)
        self.release = threading.Event()
        self.fail = fail

    def start(self) -> None:
        self.release.wait(timeout=30)
        if self.fail:
            raise RuntimeError("can't create new thread at interpreter shutdown")
        super().start()


def test_start_soon_returns_before_the_thread_has_started() -> None:
    """loopml.init starts its threads with start_soon: the caller never waits in start()."""
    from loopml.tracking._threads import pending_or_alive, start_soon

    thread = _HeldStart()
    launched = start_soon(thread)
    assert not launched.is_set()  # start() is still held: start_soon did not wait for it
    assert pending_or_alive(thread, launched)
    thread.release.set()
    assert launched.wait(timeout=30)
    thread.join(timeout=30)
    assert thread.ident is not None and not pending_or_alive(thread, launched)
    # A start refused (interpreter shutdown) still sets the event, and counts as not running.
    refused = _HeldStart(fail=True)
    refused.release.set()
    done = start_soon(refused)
    assert done.wait(timeout=30)
    assert refused.ident is None and not pending_or_alive(refused, done)


def test_writer_stops_also_before_its_thread_has_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopml.tracking import _threads, _writer

    release = threading.Event()
    threads: list[threading.Thread] = []

    def held_start_soon(thread: threading.Thread) -> threading.Event:
        def held() -> None:
            release.wait(timeout=30)
            threading.Thread.start(thread)

        thread.start = held  # type: ignore[method-assign]
        threads.append(thread)
        return _threads.start_soon(thread)

    monkeypatch.setattr(_writer, "start_soon", held_start_soon)
    settings = Settings(data_dir=tmp_path)
    writer = _writer.BackgroundWriter(Session(settings).backend, settings)
    stopper = threading.Thread(target=writer.stop)
    stopper.start()
    assert threads[0].ident is None  # not started yet
    release.set()  # stop() waits for the start, then joins the thread, which sees the stop
    stopper.join(timeout=30)
    assert not stopper.is_alive()
    assert threads[0].ident is not None and not threads[0].is_alive()
