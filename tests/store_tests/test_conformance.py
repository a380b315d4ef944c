"""The ``RunBackend`` conformance suite: every implementation of the contract runs all of it.

Today the implementations are the SQL store on SQLite and on PostgreSQL (the ``backend``
fixture in ``conftest.py``); another implementation (the team server's HTTP client) joins by
adding itself to that fixture, and must pass every test here unchanged.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from loopml import NotFoundError, QueryError
from loopml.store import Batch, RunBackend

SPECIALS = [math.nan, math.inf, -math.inf, -0.0, 0.0, 1e308, -1e308, 5e-324, 0.1, 2.0**53 + 2]


def _run(
    backend: RunBackend,
    run_id: str = "r1",
    project: str = "p",
    journal: str = "j1",
    **params: object,
) -> str:
    from loopml._values import encode_param

    backend.create(
        run_id,
        project,
        f"name-{run_id}",
        {},
        {k: encode_param(k, v) for k, v in params.items()},
        {},
        journal_id=journal,
    )
    return run_id


def test_special_floats_round_trip_exactly(backend: RunBackend) -> None:
    _run(backend)
    points = [(i, 1.0 + i, "v", v) for i, v in enumerate(SPECIALS)]
    assert backend.ingest("j1", "r1", Batch(points=points), 0, 10)
    steps, _, values = backend.history("r1", "v")
    assert steps == list(range(len(SPECIALS)))
    for got, want in zip(values, SPECIALS, strict=True):
        if math.isnan(want):
            assert math.isnan(got)
        else:
            assert got == want and math.copysign(1, got) == math.copysign(1, want)
    summary = backend.get("r1").metrics["v"]
    assert summary.last == 2.0**53 + 2 and summary.count == len(SPECIALS)
    assert summary.min == -math.inf and summary.max == math.inf


def test_last_value_nan_and_negative_zero_survive_in_summary(backend: RunBackend) -> None:
    _run(backend)
    backend.ingest(
        "j1",
        "r1",
        Batch(points=[(0, 1.0, "a", 1.0), (1, 2.0, "a", math.nan), (0, 1.0, "z", -0.0)]),
        0,
        5,
    )
    m = backend.get("r1").metrics
    assert math.isnan(m["a"].last) and m["a"].min == 1.0 and m["a"].max == 1.0
    assert m["z"].last == 0.0 and math.copysign(1, m["z"].last) == -1


def test_ingest_is_exactly_once_per_journal_offset(backend: RunBackend) -> None:
    _run(backend)
    batch = Batch(points=[(s, float(s), "loss", 1.0 / (s + 1)) for s in range(100)])
    assert backend.ingest("j1", "r1", batch, 0, 100)
    assert not backend.ingest("j1", "r1", batch, 0, 100)  # replayed segment: ignored
    assert backend.get("r1").metrics["loss"].count == 100
    from loopml.store import OffsetMismatch

    with pytest.raises(OffsetMismatch) as info:
        backend.ingest("j1", "r1", batch, 50, 150)
    assert info.value.stored == 100


def test_summary_merges_across_batches(backend: RunBackend) -> None:
    _run(backend)
    backend.ingest("j1", "r1", Batch(points=[(0, 0.0, "x", 5.0), (1, 0.0, "x", 2.0)]), 0, 10)
    backend.ingest("j1", "r1", Batch(points=[(2, 0.0, "x", 9.0), (3, 0.0, "x", 3.0)]), 10, 20)
    s = backend.get("r1").metrics["x"]
    assert (s.last, s.last_step, s.min, s.max, s.count) == (3.0, 3, 2.0, 9.0, 4)


def test_final_status_and_closing(backend: RunBackend) -> None:
    _run(backend)
    backend.ingest(
        "j1", "r1", Batch(), 0, 0, final={"status": "finished", "ended_at": 5.0}, close=True
    )
    assert backend.status("r1") == "finished"
    assert backend.journal_offset("j1") is None
    # A later recovery's 'crashed' never overwrites a final status.
    assert not backend.set_status("r1", "crashed", only_if=["running"])
    assert backend.status("r1") == "finished"


def test_numpy_params_and_param_types(backend: RunBackend) -> None:
    _run(
        backend,
        lr=np.float64(0.01),
        depth=np.int64(3),
        name="svc",
        flag=True,
        none=None,
        lst=[1, 2],
    )
    r = backend.get("r1")
    assert r.params == {
        "depth": 3,
        "flag": "true",
        "lr": 0.01,
        "lst": "[1, 2]",
        "name": "svc",
        "none": "null",
    }


def _seed_search(backend: RunBackend) -> None:
    models = ["svc", "rf", "svc", "mlp", "svc"]
    for i, model in enumerate(models):
        rid = f"run{i}"
        _run(backend, rid, journal=f"j{i}", model=model, lr=10.0**-i)
        backend.ingest(
            f"j{i}",
            rid,
            Batch(
                points=[(0, 0.0, "acc", 0.8 + i * 0.04), (0, 0.0, "val loss", 1.0 - i * 0.1)],
                tags={"team": "ab"[i % 2]},
            ),
            0,
            1,
        )
    _run(backend, "other", project="q", journal="jq", model="svc")


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("metrics.acc > 0.9", ["run4", "run3"]),
        ("metrics.acc > 0.85 and params.model = 'svc'", ["run4", "run2"]),
        ("params.model in ('rf', 'mlp')", ["run3", "run1"]),
        ("params.model not in ('svc')", ["run3", "run1"]),
        ("params.lr < 0.005", ["run4", "run3"]),
        ("params.lr >= 0.01 and (tags.team = 'a' or metrics.acc <= 0.8)", ["run2", "run0"]),
        ("metrics.`val loss` < 0.75", ["run4", "run3"]),
        ("name like 'name-run%' and metrics.acc != 0.88", ["run4", "run3", "run1", "run0"]),
        ("status = 'running' and params.model != 'svc'", ["run3", "run1"]),
        ("not (metrics.acc > 0.85)", ["run1", "run0"]),
        ("metrics.missing > 0", []),
    ],
)
def test_search_filters(backend: RunBackend, where: str, expected: list[str]) -> None:
    _seed_search(backend)
    got = [r.id for r in backend.search("p", where, "-metrics.acc")]
    assert got == expected
    assert backend.count("p", where) == len(expected)


def test_search_sorts_and_pages(backend: RunBackend) -> None:
    _seed_search(backend)
    ids = [r.id for r in backend.search("p", None, "params.lr")]
    assert ids == ["run4", "run3", "run2", "run1", "run0"]
    page = [r.id for r in backend.search("p", None, "params.lr", limit=2, offset=2)]
    assert page == ["run2", "run1"]
    assert {r.id for r in backend.search(["p", "q"], "params.model = 'svc'")} == {
        "run0",
        "run2",
        "run4",
        "other",
    }
    assert backend.search("nope") == []


@pytest.mark.parametrize(
    "evil",
    [
        "params.model = 'x'; DROP TABLE runs; --'",
        "params.model = 'x' or 1=1",
        "metrics.acc > 0 union select * from runs",
        "params.`model') OR ('1'='1` = 'a'",
    ],
)
def test_filter_injection_is_data_never_sql(backend: RunBackend, evil: str) -> None:
    _seed_search(backend)
    try:
        rows = backend.search("p", evil)
    except QueryError:
        rows = []
    assert rows == []
    assert backend.count("p") == 5  # the table is still there, untouched


def test_search_rejects_bad_arguments(backend: RunBackend) -> None:
    with pytest.raises(QueryError, match="compare it with a number"):
        backend.search("p", "metrics.acc > 'high'")
    with pytest.raises(QueryError, match="cannot sort by"):
        backend.search("p", None, "-metrics.acc;drop")
    with pytest.raises(ValueError, match="limit must be"):
        backend.search("p", None, None, limit=-1)


def test_get_run_by_prefix_and_missing(backend: RunBackend) -> None:
    _run(backend, "abcdef0123456789")
    assert backend.get("abcd").id == "abcdef0123456789"
    with pytest.raises(NotFoundError, match="no run with id"):
        backend.get("ffffffff")


def test_delete_runs_removes_everything(backend: RunBackend) -> None:
    _seed_search(backend)
    assert backend.delete(["run0", "run1"]) == 2
    assert backend.count("p") == 3
    assert backend.history("run0", "acc") == ([], [], [])


def test_every_implementation_is_a_run_backend(backend: RunBackend) -> None:
    assert isinstance(backend, RunBackend)


def test_history_frame_is_one_row_per_step(backend: RunBackend) -> None:
    _run(backend)
    points = [(0, 1.0, "a", 1.0), (1, 2.0, "a", 2.0), (1, 2.0, "b", 5.0)]
    backend.ingest("j1", "r1", Batch(points=points), 0, 3)
    frame = backend.history_frame("r1")
    assert list(frame.columns) == ["step", "time", "a", "b"]
    assert frame["a"].tolist() == [1.0, 2.0]
    assert math.isnan(frame["b"].iloc[0]) and frame["b"].iloc[1] == 5.0


def test_a_run_created_by_its_first_segment_lands_once(backend: RunBackend) -> None:
    spec = {
        "project": "p",
        "name": "lazy",
        "created_at": 1.0,
        "attributes": {},
        "params": {"lr": ("0.1", 0.1)},
        "tags": {},
    }
    batch = Batch(points=[(0, 1.0, "x", 1.0)], create=spec)
    assert backend.ingest("jl", "rl", batch, 0, 10)
    assert not backend.ingest("jl", "rl", batch, 0, 10)  # a replay: nothing twice
    record = backend.get("rl")
    assert record.params == {"lr": 0.1} and record.metrics["x"].count == 1
