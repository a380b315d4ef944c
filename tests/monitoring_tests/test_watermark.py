"""Late data: a window is computed only once every live writer of the log has written it out
(the log's watermark), and rows that land after their window was computed get it recomputed.

The writers are real ``PredictionLog`` objects (a live one holds its journal's lock) driven by
hand: no thread, their clock replaced, so every mark and every row time is chosen here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

import loopml.monitoring as mon
from loopml.registry import Feature, Signature
from loopml.serving import _log as serving_log
from loopml.serving import log_watermark
from loopml.serving._log import PredictionLog, recover

COLUMNS = ["a", "b"]
SIG = Signature(tuple(Feature(c, "float64") for c in COLUMNS))
CLASSES = ["high", "low"]
W0 = 1_796_000_040.0  # a minute: the window [W0, W0 + 60) is the one watched here


class Clock:
    """The writers' clock (epoch seconds), moved by hand."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock(W0 + 5)
    monkeypatch.setattr(serving_log, "_clock", c)
    return c


@pytest.fixture
def monitored(store: Any) -> Any:
    """``m`` monitored in 1-minute windows, its log empty."""
    rng = np.random.default_rng(3)
    mon.init("m", reference=pd.DataFrame(rng.random((200, 2)), columns=COLUMNS), window="1m")
    return store


@pytest.fixture
def writers(monitored: Any, clock: Clock) -> Iterator[list[PredictionLog]]:
    """Make writers with ``writers.append(_writer(store))``; all closed at the end."""
    made: list[PredictionLog] = []
    yield made
    for log in made:
        log.journal.close(delete=False)


def _writer(store: Any, made: list[PredictionLog], every: float = 5.0) -> PredictionLog:
    log = PredictionLog(store, "m", SIG, CLASSES, flush_interval=every)
    made.append(log)
    return log


def _answer(log: PredictionLog, at: float, n: int = 1) -> None:
    """``n`` answered requests timed ``at`` (epoch seconds), journaled, not yet written out."""
    for i in range(n):
        log.append(
            {
                "r": f"r{at:.3f}-{i}",
                "t": int(at * 1e6) + i,
                "v": 1,
                "s": 200,
                "l": 1.0,
                "b": 30,
                "n": 1,
                "in": {"a": [0.25], "b": [0.75]},
                "p": ["low"],
                "c": [0.75],
                "pr": [[0.25, 0.75]],
            }
        )


def _write_part(store: Any, times: list[float], part: str) -> None:
    """A part of the log's columns, rows timed ``times``, written straight to the log."""
    import pyarrow as pa

    n = len(times)
    store.predictions.write(
        "m",
        pa.table(
            {
                "id": [f"{part}-{i}" for i in range(n)],
                "time": pa.array([int(t * 1e6) for t in times], pa.timestamp("us", tz="UTC")),
                "model": ["m"] * n,
                "model_version": pa.array([1] * n, pa.int32()),
                "status": pa.array([200] * n, pa.int16()),
                "latency_ms": [1.0] * n,
                "payload_bytes": pa.array([30] * n, pa.int32()),
                "in.a": [0.5] * n,
                "in.b": [0.5] * n,
                "prediction": ["high"] * n,
                "confidence": [0.5] * n,
                "probabilities": pa.array([[0.5, 0.5]] * n, pa.list_(pa.float64())),
            }
        ),
        part,
        CLASSES,
    )


def _rows(store: Any, start: float) -> float | None:
    """The stored ``rows`` value of the window starting at ``start`` (None: not computed)."""
    got = store.monitors.values("m", 60, ["rows"], start, start + 1)
    return None if got.empty else float(got["value"].iloc[0])


def test_a_window_waits_for_every_live_writer_to_write_it_out(
    monitored: Any, writers: list[PredictionLog], clock: Clock
) -> None:
    store = monitored
    first, second = _writer(store, writers), _writer(store, writers)
    _answer(first, W0 + 10, 3)
    _answer(second, W0 + 20, 2)
    clock.t = W0 + 30
    first.flush()
    second.flush()
    _answer(first, W0 + 50, 4)  # journaled, not written out: the writer flushes every 5 s
    clock.t = W0 + 61
    second.flush()  # the second writer is past the window's end; the first is not

    assert log_watermark(store, "m", W0 + 70).until == W0 + 29
    early = mon.run("m", now=W0 + 70)
    assert early.watermark == W0 + 29
    assert early.until == W0 and _rows(store, W0) is None  # held back, though the clock is past
    assert _rows(store, W0 - 60) == 0  # the windows before it are closed for everyone

    first.flush()  # the first writer catches up: its 4 rows are in, its mark is past W0 + 60
    done = mon.run("m", now=W0 + 70)
    assert done.watermark == W0 + 60 and done.until == W0 + 60 and done.windows == 1
    assert _rows(store, W0) == 9  # every row of the window, none left behind
    assert done.recomputed == [] and done.late_rows == 0


def test_an_idle_writer_moves_the_watermark_on(
    monitored: Any, writers: list[PredictionLog], clock: Clock
) -> None:
    store = monitored
    log = _writer(store, writers)
    assert log_watermark(store, "m", W0 + 10).until == W0 + 4  # nothing journaled at its start
    clock.t = W0 + 125
    assert log.flush() == 0  # nothing to write, but the mark moves on
    assert log_watermark(store, "m", W0 + 130).until == W0 + 124
    assert mon.run("m", now=W0 + 130).until == W0 + 120


def test_late_rows_get_their_window_recomputed_once(
    monitored: Any, writers: list[PredictionLog], clock: Clock
) -> None:
    store = monitored
    log = _writer(store, writers)
    _answer(log, W0 + 10, 3)
    clock.t = W0 + 70
    log.flush()
    assert mon.run("m", now=W0 + 80).windows == 1 and _rows(store, W0) == 3
    # A part lands for that window once it was computed (a writer that was stuck, say).
    _write_part(store, [W0 + 40, W0 + 41], "late")
    again = mon.run("m", now=W0 + 90)
    assert again.windows == 0
    assert again.recomputed == [W0] and again.late_rows == 2
    assert _rows(store, W0) == 5
    assert mon.run("m", now=W0 + 100).recomputed == []  # the upsert holds: done once


def test_a_dead_writer_does_not_hold_windows_back_and_its_replay_is_not_lost(
    monitored: Any, writers: list[PredictionLog], clock: Clock
) -> None:
    store = monitored
    live, dying = _writer(store, writers), _writer(store, writers)
    _answer(live, W0 + 10, 2)
    _answer(dying, W0 + 20, 3)
    dying.journal.close(delete=False)  # the process died: its lock is free, its journal kept
    clock.t = W0 + 65
    live.flush()
    mark = log_watermark(store, "m", W0 + 70)
    assert mark.live == 1 and mark.until == W0 + 64  # the dead writer's old mark is left out
    result = mon.run("m", now=W0 + 70)
    assert result.until == W0 + 60 and _rows(store, W0) == 2
    assert recover(store, "m") == 3  # the next writer replays the dead one's journal
    replayed = mon.run("m", now=W0 + 75)
    assert replayed.recomputed == [W0] and replayed.late_rows == 3
    assert _rows(store, W0) == 5


def test_a_stuck_writer_holds_windows_back_only_so_long(
    monitored: Any, writers: list[PredictionLog], clock: Clock
) -> None:
    store = monitored
    stuck = _writer(store, writers, every=5.0)  # its mark: W0 + 4, and no flush since
    _answer(stuck, W0 + 10)
    held = mon.run("m", now=W0 + 80)
    assert held.watermark == W0 + 4 and held.stale_writers == []
    assert held.until == W0 and _rows(store, W0) is None
    # Ten flush intervals and 30 s later it is left out as stuck (it still holds its lock).
    gone = mon.run("m", now=W0 + 4 + 10 * 5.0 + 30 + 1)
    assert gone.stale_writers == [stuck.journal.id] and gone.watermark is None
    assert gone.until == W0 + 60 and _rows(store, W0) == 0  # computed without its row
    clock.t = W0 + 140
    stuck.flush()  # it comes back: its row is late, and its window recomputed
    back = mon.run("m", now=W0 + 141)
    assert back.stale_writers == [] and back.recomputed == [W0] and _rows(store, W0) == 1


def test_a_compaction_or_a_new_process_recomputes_only_what_changed(
    monitored: Any, writers: list[PredictionLog], clock: Clock
) -> None:
    from loopml.monitoring import _late

    store = monitored
    log = _writer(store, writers)
    for k in range(3):  # three parts in the window's hour
        _answer(log, W0 + 10 + k, 2)
        clock.t = W0 + 20 + k
        log.flush()
    clock.t = W0 + 65
    log.flush()
    assert mon.run("m", now=W0 + 70).windows == 1 and _rows(store, W0) == 6
    hour = W0 // 3600 * 3600
    assert store.predictions.compact("m", closed_after=0, now=hour + 3600).hours == 1
    assert mon.run("m", now=W0 + 80).recomputed == []  # merged: new file, same rows
    # A new process has no listing to compare with: it checks the last day's counts once.
    _late._WATCHES.clear()
    assert mon.run("m", now=W0 + 90).recomputed == []
    _late._WATCHES.clear()
    _answer(log, W0 + 30)
    log.flush()  # a row of W0 flushed late (rows are rarely this late: it counts all the same)
    fresh = mon.run("m", now=W0 + 100)
    assert fresh.recomputed == [W0] and fresh.late_rows == 1 and _rows(store, W0) == 7


def test_log_watermark_refuses_a_bad_model_name(store: Any) -> None:
    from loopml import ValidationError

    with pytest.raises(ValidationError, match="model"):
        log_watermark(store, "")
    assert log_watermark(store, "nothing-logged").until is None


def test_a_late_part_in_an_hour_older_than_a_day_is_found_too(
    monitored: Any, writers: list[PredictionLog], clock: Clock
) -> None:
    store = monitored
    old = W0 - 2 * 86_400  # two days before: past what a process lists on its first run
    _write_part(store, [old + 5, old + 6], "old")
    mon.backfill("m", old, old + 3600)
    log = _writer(store, writers)
    _answer(log, W0 + 10)
    clock.t = W0 + 65
    log.flush()
    first = mon.run("m", now=W0 + 70)
    assert first.until == W0 + 60 and first.recomputed == [] and _rows(store, W0) == 1
    _write_part(store, [old + 7], "old-late")  # a journal of two days ago replayed now
    found = mon.run("m", now=W0 + 80)
    assert found.recomputed == [old] and found.late_rows == 1 and _rows(store, old) == 3


def test_a_run_that_fails_after_listing_new_parts_does_not_lose_them(
    monitored: Any, writers: list[PredictionLog], clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopml.monitoring import _monitor

    store = monitored
    log = _writer(store, writers)
    _answer(log, W0 + 10)
    clock.t = W0 + 65
    log.flush()
    assert mon.run("m", now=W0 + 70).windows == 1
    _write_part(store, [W0 + 20], "late")

    def down(*args: Any, **kwargs: Any) -> None:
        raise OSError("the store went away")

    with monkeypatch.context() as patch:
        patch.setattr(_monitor, "_recompute_late", down)
        with pytest.raises(OSError, match="went away"):
            mon.run("m", now=W0 + 75)
    after = mon.run("m", now=W0 + 80)
    assert after.recomputed == [W0] and after.late_rows == 1 and _rows(store, W0) == 2


def test_the_servers_monitor_says_when_it_goes_on_without_a_writer_and_recomputes(
    monitored: Any, writers: list[PredictionLog], caplog: pytest.LogCaptureFixture
) -> None:
    import time

    from loopml.monitoring._server_hook import ServerMonitor

    store = monitored
    stuck = _writer(store, writers)  # its mark is from the (fake) clock: long stuck by now
    hook = ServerMonitor(store, "m", compact=False)
    try:
        with caplog.at_level("WARNING", logger="loopml.monitoring"):
            hook.tick()
            assert f"going on without 1 stuck log writer(s) ({stuck.journal.id})" in caplog.text
            ten_minutes_ago = time.time() // 60 * 60 - 600
            _write_part(store, [ten_minutes_ago + 1, ten_minutes_ago + 2], "late")
            caplog.clear()
            hook.tick()
        assert "monitor m: 2 late row(s) landed after their window was computed" in caplog.text
        assert "stuck" not in caplog.text  # said once, not at every tick
    finally:
        hook.lock.release()
