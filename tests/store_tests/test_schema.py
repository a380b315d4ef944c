"""The SQL store's own promises (schema, migrations, ingest blocks), on SQLite and PostgreSQL."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from loopml import SchemaVersionError
from loopml.store import Batch, Store
from loopml.store._engine import run_write
from loopml.store._schema import SCHEMA_REVISION, metadata


def _run(store: Store, run_id: str = "r1", project: str = "p") -> str:
    store.runs.create(run_id, project, f"name-{run_id}", {}, {}, {}, journal_id=f"j-{run_id}")
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


def test_the_rendered_sqlite_schema_is_what_create_all_emits() -> None:
    """A new SQLite store runs pre-rendered DDL; it must still be the declared tables' own."""
    from loopml.store._schema_sqlite import SQLITE_DDL, SQLITE_DDL_REVISION, render_sqlite_ddl

    assert SQLITE_DDL_REVISION == SCHEMA_REVISION, "run: python -m loopml.store._schema_sqlite"
    assert render_sqlite_ddl() == SQLITE_DDL, "run: python -m loopml.store._schema_sqlite"


def _sqlite_shape(path: Path) -> dict[str, object]:
    """Every table's columns, indexes (with their columns) and foreign keys, and the revision."""
    db = sqlite3.connect(path)
    try:
        shape: dict[str, object] = {
            "revision": db.execute("SELECT version_num FROM alembic_version").fetchall()
        }
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for name in sorted(names):
            indexes = {}
            for idx in db.execute(f"PRAGMA index_list('{name}')").fetchall():
                columns = db.execute(f"PRAGMA index_info('{idx[1]}')").fetchall()
                # Unnamed (autoindex) names depend on creation order; key them by their columns.
                key = idx[1] if not idx[1].startswith("sqlite_autoindex") else repr(columns)
                indexes[key] = (idx[2], idx[3], columns)  # unique, origin, columns
            shape[name] = {
                "columns": db.execute(f"PRAGMA table_info('{name}')").fetchall(),
                "indexes": indexes,
                "foreign_keys": sorted(
                    r[2:] for r in db.execute(f"PRAGMA foreign_key_list('{name}')").fetchall()
                ),
                "without_rowid": "WITHOUT ROWID"
                in db.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,))
                .fetchone()[0]
                .upper(),
            }
        return shape
    finally:
        db.close()


def test_a_new_sqlite_store_equals_one_migrated_step_by_step(tmp_path: Path) -> None:
    """Tables, columns, indexes, foreign keys and ``alembic_version``, compared through SQLite."""
    from loopml._config import Settings
    from loopml.store._engine import make_engine
    from loopml.store._migrate import _upgrade

    fresh = Store(Settings(data_dir=tmp_path / "fresh"))  # the pre-rendered DDL
    fresh.close()
    migrated_path = tmp_path / "migrated.db"
    engine = make_engine(f"sqlite:///{migrated_path}")
    run_write(engine, lambda conn: _upgrade(conn, fresh_from_metadata=False))
    engine.dispose()
    fresh_path = Path(fresh.engine.url.database or "")
    assert _sqlite_shape(fresh_path) == _sqlite_shape(migrated_path)


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


def test_projects_listing(store: Store) -> None:
    for i in range(5):
        _run(store, f"run{i}")
    _run(store, "other", project="q")
    projects = {p.name: p for p in store.list_projects()}
    assert projects["p"].run_count == 5 and projects["p"].running == 5
    assert projects["q"].run_count == 1


def test_long_series_is_drawn_from_ingest_buckets_with_its_extremes(store: Store) -> None:
    """Per-bucket extremes kept on ingest give the same spikes as scanning every point."""
    from loopml.store._schema_runs import metric_buckets
    from loopml.store._series import _from_buckets, _scanned

    _run(store)
    n = 40_000
    values = [math.sin(i / 500) for i in range(n)]
    values[12_345], values[31_000], values[7] = 9.0, -9.0, math.nan
    half = n // 2  # two ingests, so buckets are merged with what is stored
    store.runs.ingest(
        "j-r1", "r1", Batch(points=[(i, float(i), "v", values[i]) for i in range(half)]), 0, 1
    )
    store.runs.ingest(
        "j-r1", "r1", Batch(points=[(i, float(i), "v", values[i]) for i in range(half, n)]), 1, 2
    )
    kid = store.runs.intern_keys(["v"])["v"]
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


def test_sweep_trials_land_through_the_journal_ingest_path(store: Store) -> None:
    """A trial's points get the same per-bucket extremes and summaries as a journal's."""
    from loopml.store import TrialWrite
    from loopml.store._series import _from_buckets

    store.sweeps.create_sweep("s1", "p", "sweep", "v", "max", "mod:fn", {})
    n = 4_000
    points = [(i, float(i), "v", float(i % 97)) for i in range(n)]
    trial = TrialWrite(
        number=0,
        run_id="t0",
        name="trial-0",
        state="finished",
        params={"lr": 0.1},
        encoded_params={"lr": ("0.1", 0.1)},
        distributions={},
        started_at=1.0,
        ended_at=2.0,
        value=96.0,
        points=points,
        tags={"k": "v"},
    )
    store.sweeps.write_trials("p", "s1", {}, [trial])
    store.sweeps.write_trials("p", "s1", {}, [trial])  # written again: idempotent
    record = store.runs.get("t0")
    assert record.sweep_id == "s1" and record.tags == {"k": "v"} and record.params == {"lr": 0.1}
    summary = record.metrics["v"]
    assert (summary.count, summary.min, summary.max, summary.last) == (
        n,
        0.0,
        96.0,
        float((n - 1) % 97),
    )
    kid = store.runs.intern_keys(["v"])["v"]
    with store.engine.connect() as conn:
        drawn = _from_buckets(conn, "t0", "v", kid, n, 20)
    assert drawn is not None and max(drawn.values) == 96.0 and min(drawn.values) == 0.0


def test_migration_0008_marks_hand_tag_members_as_tagged_by_hand(
    backend_settings: object,
) -> None:
    """Upgrading a store holding tags: the members of hand tags become hand-made taggings (so
    ``u`` still undoes them), those of rule tags do not."""
    from alembic import command
    from alembic.config import Config

    from loopml.store._engine import make_engine
    from loopml.store._migrate import _MIGRATIONS_DIR, _upgrade

    engine = make_engine(backend_settings.resolved_store_url)  # type: ignore[attr-defined]

    def to_0007(conn: object) -> None:
        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS_DIR))
        config.attributes["connection"] = conn
        command.upgrade(config, "0007")

    run_write(engine, to_0007)

    def seed(conn: object) -> None:
        conn.execute(  # type: ignore[attr-defined]
            text("INSERT INTO datasets (id, name, created_at) VALUES (1, 'ds', 0)")
        )
        conn.execute(  # type: ignore[attr-defined]
            text(
                "INSERT INTO dataset_versions (digest, dataset_id, number, n_items, columns, "
                "splits, created_at) VALUES ('d', 1, 1, 2, '{}', '{}', 0)"
            )
        )
        conn.execute(  # type: ignore[attr-defined]
            text(
                "INSERT INTO evaluations (id, name, dataset_digest, task, classes, n_rows, "
                "metrics, columns, file, created_at) "
                "VALUES ('e', 'e', 'd', 'classification', '[]', 2, '{}', '{}', 'f', 0)"
            )
        )
        for tag_id, kind in ((1, "hand"), (2, "rule")):
            conn.execute(  # type: ignore[attr-defined]
                text(
                    "INSERT INTO eval_tags (id, evaluation_id, name, kind, created_at) "
                    f"VALUES ({tag_id}, 'e', 't{tag_id}', '{kind}', 0)"
                )
            )
            conn.execute(  # type: ignore[attr-defined]
                text(
                    "INSERT INTO eval_tag_items (tag_id, item_id, created_at) "
                    f"VALUES ({tag_id}, 'x', 0)"
                )
            )

    run_write(engine, seed)
    run_write(engine, lambda conn: _upgrade(conn, fresh_from_metadata=False))
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT tag_id, by_hand FROM eval_tag_items ORDER BY tag_id")
        ).all()
    assert [(int(r[0]), bool(r[1])) for r in rows] == [(1, True), (2, False)]
    engine.dispose()
