"""The PostgreSQL COPY ingest path agrees with the row path; the packed wire form is exact."""

from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopml._errors import NotFoundError, ValidationError
from loopml.store import Batch, Store, batch_from_wire, batch_to_wire
from loopml.store._ingest import _bucket_points, aggregate_points
from loopml.store._ingest_copy import aggregate_columns, point_columns

KEYS = {"a": 1, "b": 2, "c": 3}
_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1.0, -1.0, math.nan]),
)
_points = st.lists(
    st.tuples(
        st.integers(0, 700),  # several buckets of 256 steps, and repeated steps
        st.floats(0, 2e9, allow_nan=False),
        st.sampled_from(sorted(KEYS)),
        _values,
    ),
    min_size=1,
    max_size=300,
)


def _same(a: Any, b: Any) -> bool:
    """Equal, NaN equal to NaN, element by element."""
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b) and type(a) is type(b)


@settings(max_examples=200, deadline=None)
@given(_points)
def test_numpy_aggregates_equal_the_point_by_point_ones(points: list[Any]) -> None:
    columns = point_columns(points, KEYS)
    agg, buckets = aggregate_columns(columns)
    rows, want_agg = aggregate_points("r", points, KEYS)
    want_buckets = _bucket_points(points, KEYS)
    assert agg.keys() == want_agg.keys() and buckets.keys() == want_buckets.keys()
    for kid, want in want_agg.items():
        assert _same(agg[kid], want), (kid, agg[kid], want)
    for key, want in want_buckets.items():
        assert _same(buckets[key], want), (key, buckets[key], want)
    # the stored rows: one per (key, step), the last logged, encoded as the row path does
    last = {(r[1], r[2]): r for r in rows}
    assert _same(sorted(columns.rows("r")), sorted(last.values()))


def _run(store: Store, rid: str = "r1") -> None:
    store.runs.create(rid, "p", rid, {}, {}, {}, journal_id=f"j-{rid}")


def test_copy_path_stores_every_value_exactly_and_a_relogged_step_replaces(store: Store) -> None:
    _run(store)
    odd = [math.nan, -0.0, math.inf, -math.inf, 5e-324, 1.7976931348623157e308]
    n = 1000  # over the COPY threshold
    values = [odd[i] if i < len(odd) else math.sin(i) for i in range(n)]
    store.runs.ingest(
        "j-r1", "r1", Batch(points=[(i, 1.5 + i, "v", values[i]) for i in range(n)]), 0, 1
    )
    # the same steps again (and a step twice in one batch): the later value wins
    again = [(i, 9.0, "v", float(-i)) for i in range(500, 600)] * 2
    again += [(5, 9.0, "v", 1.0), (5, 9.0, "v", 2.0)]
    again += [(i, 9.0, "v", 0.5) for i in range(n, n + 100)]
    store.runs.ingest("j-r1", "r1", Batch(points=again), 1, 2)
    steps, times, got = store.runs.history("r1", "v")
    want = list(values) + [0.5] * 100
    want[5] = 2.0
    for i in range(500, 600):
        want[i] = float(-i)
    assert steps == list(range(n + 100))
    assert _same(got, want) and math.copysign(1, got[1]) < 0
    assert times[0] == 1.5 and times[600] == 1.5 + 600 and times[550] == 9.0
    s = store.runs.get("r1").metrics["v"]
    assert s.count == n + len(again) and s.last_step == n + 99 and s.last == 0.5
    assert s.max == math.inf and s.min == -math.inf


def test_points_for_a_deleted_run_are_refused_and_deleting_takes_the_points(store: Store) -> None:
    from loopml.store._ingest import RunContent, write_content

    _run(store)
    store.runs.ingest("j-r1", "r1", Batch(points=[(i, 1.0, "v", 1.0) for i in range(200)]), 0, 1)
    assert store.runs.delete(["r1"]) == 1
    kid = store.runs.intern_keys(["v"])
    with store.engine.begin() as conn:
        from sqlalchemy import text

        assert conn.execute(text("SELECT count(*) FROM metrics")).scalar() == 0
        # a writer that races the delete: nothing is stored for a run that is gone
        with pytest.raises(NotFoundError, match="deleted"):
            write_content(
                conn, [RunContent("r1", [(i, 1.0, "v", 1.0) for i in range(100)])], kid, True
            )


def test_packed_points_round_trip_exactly() -> None:
    points = [
        (0, 1.25, "loss", math.nan),
        (2**62, 2.5, "a/b", -0.0),
        (-3, 1e300, "loss", math.inf),
        (7, 0.0, "é", 0.1 + 0.2),
    ]
    wire = batch_to_wire(Batch(points=points))
    assert "points" not in wire and wire["columns"]["keys"] == ["loss", "a/b", "é"]
    back = batch_from_wire(wire).all_points()
    assert _same(back, points) and math.copysign(1, back[1][3]) < 0
    # what clients before the packed form sent is still read
    legacy = {"points": [[1, 2.0, "x", 3.0]]}
    assert batch_from_wire(legacy).all_points() == [(1, 2.0, "x", 3.0)]


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(a.tobytes()).decode()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"keys": "loss"}, "list of metric names"),
        ({"keys": [1]}, "list of metric names"),
        ({"step": "***"}, "not valid base64"),
        ({"step": 5}, "base64 string"),
        ({"ts": _b64(np.zeros(3, "<u1"))}, "partial element"),
        ({"value": _b64(np.zeros(2, "<f8"))}, "differ in length"),
        ({"key": _b64(np.array([0, 0, 1], "<u4"))}, "past the 1 key"),
    ],
)
def test_bad_packed_points_are_refused(change: dict[str, Any], message: str) -> None:
    wire = batch_to_wire(Batch(points=[(i, 1.0, "loss", 1.0) for i in range(3)]))
    wire["columns"].update(change)
    with pytest.raises(ValidationError, match=message):
        batch_from_wire(wire)
    with pytest.raises(ValidationError, match="list of metric names"):
        batch_from_wire({"columns": "nope"})
