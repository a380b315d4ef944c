"""The store conformance suite: every test here runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sqlalchemy import inspect, text

from loopml import NotFoundError, QueryError, SchemaVersionError
from loopml.store import Batch, Store
from loopml.store._engine import run_write
from loopml.store._schema import SCHEMA_REVISION, metadata

SPECIALS = [math.nan, math.inf, -math.inf, -0.0, 0.0, 1e308, -1e308, 5e-324, 0.1, 2.0**53 + 2]


def _run(
    store: Store, run_id: str = "r1", project: str = "p", journal: str = "j1", **params: object
) -> str:
    from loopml._values import encode_param

    store.create_run(
        run_id,
        project,
        f"name-{run_id}",
        {},
        {k: encode_param(k, v) for k, v in params.items()},
        {},
        journal_id=journal,
    )
    return run_id


def test_migrated_schema_matches_metadata(store: Store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    with store.engine.connect() as conn:
        assert (
            conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            == SCHEMA_REVISION
        )


def test_running_every_migration_builds_the_declared_schema(backend_settings: object) -> None:
    """New stores are built from the metadata; the migration chain must build the same thing."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from loopml.store._engine import make_engine
    from loopml.store._migrate import _upgrade

    engine = make_engine(backend_settings.resolved_store_url)  # type: ignore[attr-defined]
    run_write(engine, lambda conn: _upgrade(conn, fresh_from_metadata=False))
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            == SCHEMA_REVISION
        )
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    engine.dispose()


def test_reopening_does_not_migrate_again(store: Store) -> None:
    again = Store(store.settings)
    with again.engine.connect() as conn:
        assert inspect(conn).has_table("runs")
    again.close()


def test_newer_schema_is_refused(store: Store) -> None:
    run_write(
        store.engine, lambda c: c.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    )
    with pytest.raises(SchemaVersionError, match="newer than this loopml knows"):
        Store(store.settings)
    run_write(
        store.engine,
        lambda c: c.execute(text(f"UPDATE alembic_version SET version_num = '{SCHEMA_REVISION}'")),
    )


def test_special_floats_round_trip_exactly(store: Store) -> None:
    _run(store)
    points = [(i, 1.0 + i, "v", v) for i, v in enumerate(SPECIALS)]
    assert store.ingest("j1", "r1", Batch(points=points), 0, 10)
    steps, _, values = store.history("r1", "v")
    assert steps == list(range(len(SPECIALS)))
    for got, want in zip(values, SPECIALS, strict=True):
        if math.isnan(want):
            assert math.isnan(got)
        else:
            assert got == want and math.copysign(1, got) == math.copysign(1, want)
    summary = store.get_run("r1").metrics["v"]
    assert summary.last == 2.0**53 + 2 and summary.count == len(SPECIALS)
    assert summary.min == -math.inf and summary.max == math.inf


def test_last_value_nan_and_negative_zero_survive_in_summary(store: Store) -> None:
    _run(store)
    store.ingest(
        "j1",
        "r1",
        Batch(points=[(0, 1.0, "a", 1.0), (1, 2.0, "a", math.nan), (0, 1.0, "z", -0.0)]),
        0,
        5,
    )
    m = store.get_run("r1").metrics
    assert math.isnan(m["a"].last) and m["a"].min == 1.0 and m["a"].max == 1.0
    assert m["z"].last == 0.0 and math.copysign(1, m["z"].last) == -1


def test_ingest_is_exactly_once_per_journal_offset(store: Store) -> None:
    _run(store)
    batch = Batch(points=[(s, float(s), "loss", 1.0 / (s + 1)) for s in range(100)])
    assert store.ingest("j1", "r1", batch, 0, 100)
    assert not store.ingest("j1", "r1", batch, 0, 100)  # replayed segment: ignored
    assert store.get_run("r1").metrics["loss"].count == 100
    from loopml.store import OffsetMismatch

    with pytest.raises(OffsetMismatch) as info:
        store.ingest("j1", "r1", batch, 50, 150)
    assert info.value.stored == 100


def test_summary_merges_across_batches(store: Store) -> None:
    _run(store)
    store.ingest("j1", "r1", Batch(points=[(0, 0.0, "x", 5.0), (1, 0.0, "x", 2.0)]), 0, 10)
    store.ingest("j1", "r1", Batch(points=[(2, 0.0, "x", 9.0), (3, 0.0, "x", 3.0)]), 10, 20)
    s = store.get_run("r1").metrics["x"]
    assert (s.last, s.last_step, s.min, s.max, s.count) == (3.0, 3, 2.0, 9.0, 4)


def test_final_status_and_closing(store: Store) -> None:
    _run(store)
    store.ingest(
        "j1", "r1", Batch(), 0, 0, final={"status": "finished", "ended_at": 5.0}, close=True
    )
    assert store.run_status("r1") == "finished"
    assert store.journal_offset("j1") is None
    # A later recovery's 'crashed' never overwrites a final status.
    assert not store.set_status("r1", "crashed", only_if=["running"])
    assert store.run_status("r1") == "finished"


def test_numpy_params_and_param_types(store: Store) -> None:
    _run(
        store, lr=np.float64(0.01), depth=np.int64(3), name="svc", flag=True, none=None, lst=[1, 2]
    )
    r = store.get_run("r1")
    assert r.params == {
        "depth": 3,
        "flag": "true",
        "lr": 0.01,
        "lst": "[1, 2]",
        "name": "svc",
        "none": "null",
    }


def _seed_search(store: Store) -> None:
    models = ["svc", "rf", "svc", "mlp", "svc"]
    for i, model in enumerate(models):
        rid = f"run{i}"
        _run(store, rid, journal=f"j{i}", model=model, lr=10.0**-i)
        store.ingest(
            f"j{i}",
            rid,
            Batch(
                points=[(0, 0.0, "acc", 0.8 + i * 0.04), (0, 0.0, "val loss", 1.0 - i * 0.1)],
                tags={"team": "ab"[i % 2]},
            ),
            0,
            1,
        )
    _run(store, "other", project="q", journal="jq", model="svc")


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
def test_search_filters(store: Store, where: str, expected: list[str]) -> None:
    _seed_search(store)
    got = [r.id for r in store.search_runs("p", where, "-metrics.acc")]
    assert got == expected
    assert store.count_runs("p", where) == len(expected)


def test_search_sorts_and_pages(store: Store) -> None:
    _seed_search(store)
    ids = [r.id for r in store.search_runs("p", None, "params.lr")]
    assert ids == ["run4", "run3", "run2", "run1", "run0"]
    page = [r.id for r in store.search_runs("p", None, "params.lr", limit=2, offset=2)]
    assert page == ["run2", "run1"]
    assert {r.id for r in store.search_runs(["p", "q"], "params.model = 'svc'")} == {
        "run0",
        "run2",
        "run4",
        "other",
    }
    assert store.search_runs("nope") == []


@pytest.mark.parametrize(
    "evil",
    [
        "params.model = 'x'; DROP TABLE runs; --'",
        "params.model = 'x' or 1=1",
        "metrics.acc > 0 union select * from runs",
        "params.`model') OR ('1'='1` = 'a'",
    ],
)
def test_filter_injection_is_data_never_sql(store: Store, evil: str) -> None:
    _seed_search(store)
    try:
        rows = store.search_runs("p", evil)
    except QueryError:
        rows = []
    assert rows == []
    assert store.count_runs("p") == 5  # the table is still there, untouched


def test_search_rejects_bad_arguments(store: Store) -> None:
    with pytest.raises(QueryError, match="compare it with a number"):
        store.search_runs("p", "metrics.acc > 'high'")
    with pytest.raises(QueryError, match="cannot sort by"):
        store.search_runs("p", None, "-metrics.acc;drop")
    with pytest.raises(ValueError, match="limit must be"):
        store.search_runs("p", None, None, limit=-1)


def test_get_run_by_prefix_and_missing(store: Store) -> None:
    _run(store, "abcdef0123456789")
    assert store.get_run("abcd").id == "abcdef0123456789"
    with pytest.raises(NotFoundError, match="no run with id"):
        store.get_run("ffffffff")


def test_delete_runs_removes_everything(store: Store) -> None:
    _seed_search(store)
    assert store.delete_runs(["run0", "run1"]) == 2
    assert store.count_runs("p") == 3
    assert store.history("run0", "acc") == ([], [], [])


def test_projects_listing(store: Store) -> None:
    _seed_search(store)
    projects = {p.name: p for p in store.list_projects()}
    assert projects["p"].run_count == 5 and projects["p"].running == 5
    assert projects["q"].run_count == 1


def test_long_series_is_drawn_from_ingest_buckets_with_its_extremes(store: Store) -> None:
    """Per-bucket extremes kept on ingest give the same spikes as scanning every point."""
    from loopml.store._schema_runs import metric_buckets
    from loopml.store._views import _from_buckets, _scanned

    _run(store)
    n = 40_000
    values = [math.sin(i / 500) for i in range(n)]
    values[12_345], values[31_000], values[7] = 9.0, -9.0, math.nan
    half = n // 2  # two ingests, so buckets are merged with what is stored
    store.ingest(
        "j1", "r1", Batch(points=[(i, float(i), "v", values[i]) for i in range(half)]), 0, 1
    )
    store.ingest(
        "j1", "r1", Batch(points=[(i, float(i), "v", values[i]) for i in range(half, n)]), 1, 2
    )
    kid = store.intern_keys(["v"])["v"]
    with store.engine.connect() as conn:
        fast = _from_buckets(conn, "r1", "v", kid, n, 200)  # 157 blocks, 100 groups
        slow = _scanned(conn, "r1", "v", kid, n, 200)
        assert _from_buckets(conn, "r1", "v", kid, n, 5000) is None  # too coarse: scan instead
    assert fast is not None and len(fast.steps) <= 200
    for series in (fast, slow):
        assert (12_345, 9.0) in zip(series.steps, series.values, strict=True)
        assert (31_000, -9.0) in zip(series.steps, series.values, strict=True)
        assert series.steps == sorted(series.steps)
    assert max(fast.values) == max(slow.values) and min(fast.values) == min(slow.values)
    # Buckets that miss points (written by another path) are never trusted.
    run_write(
        store.engine,
        lambda c: c.execute(metric_buckets.delete().where(metric_buckets.c.bucket == 3)),
    )
    with store.engine.connect() as conn:
        assert _from_buckets(conn, "r1", "v", kid, n, 200) is None
