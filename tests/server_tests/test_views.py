"""The dashboard's read queries (runs pages, columns, series, sweeps) on SQLite and PostgreSQL."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, insert

from loopml.store import ColumnChoices, Store
from loopml.store._engine import run_write
from loopml.store._schema_runs import metric_summary, metrics
from tests.server_tests._seed import PROJECT, Seeded


def _long_series(store: Store, n: int, key: str = "signal") -> tuple[str, list[float]]:
    """A run with an ``n``-point series written straight to the tables (fast), with spikes."""
    rid = uuid.uuid4().hex[:16]
    store.runs.create(rid, "long", "long", {}, {}, {})
    kid = store.runs.intern_keys([key])[key]
    values = [math.sin(i / 50.0) for i in range(n)]
    values[n // 3] = 1000.0  # one spike up, one down: downsampling must keep both
    values[2 * n // 3] = -1000.0
    values[n // 2] = math.nan
    rows = [
        {
            "run_id": rid,
            "key_id": kid,
            "step": i,
            "value": None if v != v else v,
            "flag": 1 if v != v else 0,
            "ts": 1000.0 + i,
        }
        for i, v in enumerate(values)
    ]
    finite = [v for v in values if v == v]
    summary = {
        "run_id": rid,
        "key_id": kid,
        "last": values[-1],
        "last_flag": 0,
        "last_step": n - 1,
        "min": min(finite),
        "max": max(finite),
        "count": n,
    }

    def write(conn: Any) -> None:
        conn.execute(insert(metrics), rows)
        conn.execute(insert(metric_summary), [summary])

    run_write(store.engine, write)
    return rid, values


@contextmanager
def count_queries(store: Store) -> Iterator[list[str]]:
    seen: list[str] = []

    def hook(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", hook)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", hook)


def test_downsampling_keeps_extremes_and_bounds_points(store: Store) -> None:
    rid, values = _long_series(store, 20_000)
    s = store.runs.series([rid], "signal", max_points=500)[rid]
    assert s.downsampled and s.total == 20_000
    assert 0 < len(s.values) <= 500
    assert max(s.values) == 1000.0 and min(s.values) == -1000.0
    assert s.steps == sorted(s.steps) and len(set(s.steps)) == len(s.steps)
    assert s.steps[0] == 0 and s.steps[-1] == 19_999
    # Each kept point is a real point of the series, at its own step and time.
    for step, t, v in zip(s.steps, s.times, s.values, strict=True):
        assert values[step] == v and t == 1000.0 + step


def test_short_series_come_back_whole_for_many_runs_in_one_query(
    store: Store, seeded: Seeded
) -> None:
    ids = seeded.runs[:5]
    with count_queries(store) as seen:
        out = store.runs.series(ids, "loss")
    assert len(seen) == 3  # key id, counts, points: not one per run
    assert [len(out[r].steps) for r in ids] == [30] * 5
    assert not any(s.downsampled for s in out.values())


def test_runs_page_query_count_does_not_grow_with_page_size(store: Store, seeded: Seeded) -> None:
    with count_queries(store) as small:
        store.runs.page(PROJECT, None, "-metrics.loss", limit=2)
    with count_queries(store) as large:
        page = store.runs.page(PROJECT, None, "-metrics.loss", limit=50)
    assert len(page.runs) > 10
    assert len(large) == len(small)


def test_column_choices(store: Store, seeded: Seeded) -> None:
    c = store.runs.column_choices(PROJECT)
    assert {"lr", "model", "layers", "note", "opt"} <= set(c.params)
    assert {"loss", "acc", "weird", "val_loss"} <= set(c.metrics)
    assert set(c.tags) == {"team", "html"}
    assert store.runs.column_choices("no-such-project") == ColumnChoices()


def test_list_sweeps_and_trials(store: Store, seeded: Seeded) -> None:
    sweeps = store.sweeps.summaries()
    assert [s.sweep_id for s in sweeps] == [seeded.sweep_id]
    assert sweeps[0].trials == len(seeded.sweep_runs) and sweeps[0].by_status == {"finished": 6}
    assert sweeps[0].project == PROJECT and sweeps[0].last_activity is not None
    assert [r.id for r in store.sweeps.trial_runs(seeded.sweep_id)] == seeded.sweep_runs
    assert store.sweeps.summaries("other") == []
    assert store.sweeps.info(seeded.sweep_id) is None  # logged without a sweep record


def test_max_points_is_checked(store: Store) -> None:
    with pytest.raises(ValueError, match="max_points"):
        store.runs.series(["x"], "k", max_points=1)
    assert store.runs.series([], "k") == {}


def test_downsampled_series_cache_follows_new_points(store: Store) -> None:
    rid, _ = _long_series(store, 2_000)
    first = store.runs.series([rid], "signal", max_points=100)[rid]
    assert store.runs.series([rid], "signal", max_points=100)[rid] is first  # cached
    kid = store.runs.intern_keys(["signal"])["signal"]

    def write(conn: Any) -> None:
        conn.execute(
            insert(metrics),
            [{"run_id": rid, "key_id": kid, "step": 2_000, "value": 5000.0, "flag": 0, "ts": 0.0}],
        )
        conn.execute(
            metric_summary.update().where(metric_summary.c.run_id == rid).values(count=2_001)
        )

    run_write(store.engine, write)
    again = store.runs.series([rid], "signal", max_points=100)[rid]
    assert again is not first and max(again.values) == 5000.0 and again.total == 2_001
