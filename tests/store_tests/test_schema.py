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


def test_merged_buckets_of_several_keys_equal_one_ingest_of_all_points(store: Store) -> None:
    """A later segment's buckets fold into the stored ones per key (keys sharing a span are
    read in one query, a key with another span on its own), as if ingested in one go."""
    from sqlalchemy import select

    from loopml.store._schema_runs import BUCKET_STEPS, metric_buckets

    def points(lo: int, hi: int) -> list[tuple[int, float, str, float]]:
        out = []
        for i in range(lo, hi):
            out += [(i, float(i), "a", math.sin(i)), (i, float(i), "b", math.cos(i))]
            if i % 7 == 0:
                out.append((i, float(i), "c", (i % 5) + i * 1e-6))  # no ties: which of equal
                # extremes a bucket keeps depends on the order the points come in
        if lo:  # a key that only this segment has, in a bucket of its own
            out.append((hi * 3, 0.5, "late", -1.0))
        return out

    n, cut = 5 * BUCKET_STEPS, 2 * BUCKET_STEPS + 17  # the cut falls inside a bucket
    for rid in ("split", "whole"):
        _run(store, rid)
    store.runs.ingest("j-split", "split", Batch(points=points(0, cut)), 0, 1)
    store.runs.ingest("j-split", "split", Batch(points=points(cut, n)), 1, 2)
    whole = points(0, cut) + points(cut, n)
    store.runs.ingest("j-whole", "whole", Batch(points=whole), 0, 1)

    def buckets(rid: str) -> list[tuple[object, ...]]:
        with store.engine.connect() as conn:
            rows = conn.execute(select(metric_buckets).where(metric_buckets.c.run_id == rid)).all()
        return sorted(tuple(r)[1:] for r in rows)

    assert buckets("split") == buckets("whole")
    split, one = store.runs.get("split").metrics, store.runs.get("whole").metrics
    assert {k: (m.count, m.min, m.max, m.last) for k, m in split.items()} == {
        k: (m.count, m.min, m.max, m.last) for k, m in one.items()
    }


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


def _every_bulk_upsert() -> list[tuple[object, list[str], list[str] | None, tuple[str, ...]]]:
    from loopml.store import _ingest, _sweeps
    from loopml.store._labeling_rows import ASSIGNMENT_COLUMNS
    from loopml.store._schema_labeling import assignments, label_items
    from loopml.store._schema_monitors import monitor_values
    from loopml.store._schema_runs import (
        artifacts,
        journals,
        metric_buckets,
        metric_keys,
        metric_summary,
        metrics,
        params,
        runs,
        tags,
    )
    from loopml.store._schema_sweeps import sweep_trials

    return [
        (metrics, _ingest._METRIC_KEY, _ingest._METRIC_SET, _ingest._METRIC_COLUMNS),
        (metric_buckets, _ingest._BUCKET_KEY, _ingest._BUCKET_SET, _ingest._BUCKET_COLUMNS),
        (metric_summary, _ingest._SUMMARY_KEY, _ingest._SUMMARY_SET, _ingest._SUMMARY_COLUMNS),
        (params, ["run_id", "key"], None, ("run_id", "key", "value", "num")),
        (metric_keys, ["name"], None, ("name",)),
        (tags, ["run_id", "key"], ["value"], ("run_id", "key", "value")),
        (artifacts, ["run_id", "name"], ["size", "sha256"], ("run_id", "name", "size", "sha256")),
        (journals, ["id"], ["offset"], ("id", "run_id", "offset", "created_at")),
        (runs, ["id"], ["status", "ended_at"], _sweeps._RUN_COLUMNS),
        (sweep_trials, ["sweep_id", "number"], ["state", "value"], _sweeps._TRIAL_COLUMNS),
        (
            assignments,
            ["project_id", "annotator_id", "item_idx", "round"],
            None,
            ASSIGNMENT_COLUMNS,
        ),
        (label_items, ["project_id", "idx"], None, ("project_id", "idx", "item_id")),
        (
            monitor_values,
            ["model", "window_seconds", "window_start", "metric"],
            ["value", "n"],
            ("model", "window_seconds", "window_start", "metric", "value", "n"),
        ),
    ]


@pytest.mark.parametrize("shape", range(len(_every_bulk_upsert())))
def test_sqlite_upsert_text_is_what_sqlalchemy_compiles(shape: int) -> None:
    """bulk_upsert writes SQLite's upsert out by hand (no compile in a new process): the text
    and the parameter order must be exactly SQLAlchemy's, quoting of reserved words included."""
    from sqlalchemy import bindparam
    from sqlalchemy.dialects import sqlite
    from sqlalchemy.dialects.sqlite import insert

    from loopml.store._dialect import sqlite_upsert_sql

    table, keys, update, columns = _every_bulk_upsert()[shape]
    stmt = insert(table)  # type: ignore[arg-type]
    if update is None:
        stmt = stmt.on_conflict_do_nothing(index_elements=keys)
    else:
        stmt = stmt.on_conflict_do_update(
            index_elements=keys, set_={c: getattr(stmt.excluded, c) for c in update}
        )
    compiled = stmt.values({c: bindparam(c) for c in columns}).compile(dialect=sqlite.dialect())
    assert tuple(compiled.positiontup or ()) == columns
    ours = sqlite_upsert_sql(sqlite.dialect(), table, keys, update, columns)  # type: ignore[arg-type]
    assert ours == compiled.string


def test_first_ingest_makes_project_and_keys_and_caches_them_only_once_committed(
    store: Store,
) -> None:
    """A lazily created run's first segment brings a new project and new metric keys (on
    SQLite in the segment's own transaction): a segment refused for its offset leaves neither
    cached nor stored, and the accepted one stores and caches both."""
    from loopml.store import OffsetMismatch

    spec = {
        "project": "fresh-project",
        "name": "n",
        "created_at": 1.0,
        "attributes": {},
        "params": {},
        "tags": {},
    }
    store.runs.create("other", "p", "o", {}, {}, {}, journal_id="j-taken")
    store.runs.ingest("j-taken", "other", Batch(points=[(0, 1.0, "seen", 1.0)]), 0, 5)
    with pytest.raises(OffsetMismatch):  # the journal is at 5: a segment from 0 is refused
        store.runs.ingest("j-taken", "other", Batch(points=[(1, 1.0, "never-stored", 2.0)]), 0, 9)
    with store.engine.connect() as conn:
        names = set(conn.execute(text("SELECT name FROM metric_keys")).scalars())
    assert set(store.runs._key_ids) <= names  # whatever is cached is committed
    if store.engine.dialect.name == "sqlite":  # one transaction: the refused segment's key too
        assert "never-stored" not in names
    batch = Batch(points=[(0, 1.0, "brand-new", 3.0)], create=spec)
    assert store.cached_project_id("fresh-project") is None
    assert store.runs.ingest("j-new", "r-new", batch, 0, 7)
    pid = store.cached_project_id("fresh-project")
    assert pid is not None and store.ensure_project("fresh-project") == pid
    assert "brand-new" in store.runs._key_ids
    record = store.runs.get("r-new")
    assert record.project == "fresh-project" and record.metrics["brand-new"].last == 3.0


def _prepared() -> list[tuple[str, object]]:
    from loopml.store import _ingest, _runs, _store
    from loopml.store._dialect import Prepared

    return sorted(
        (f"{m.__name__}.{n}", v)
        for m in (_ingest, _runs, _store)
        for n, v in vars(m).items()
        if isinstance(v, Prepared)
    )


@pytest.mark.parametrize("name", [n for n, _ in _prepared()])
def test_prepared_sqlite_text_is_what_sqlalchemy_compiles(name: str) -> None:
    """Statements run on SQLite from their written-out text: text, parameter order and the
    values the statement binds itself must be exactly SQLAlchemy's."""
    from sqlalchemy.dialects import sqlite

    prepared = dict(_prepared())[name]
    compiled = prepared.stmt.compile(dialect=sqlite.dialect())  # type: ignore[attr-defined]
    assert prepared.sqlite_sql == compiled.string  # type: ignore[attr-defined]
    assert prepared.names == tuple(compiled.positiontup or ())  # type: ignore[attr-defined]
    fixed = {k: v for k, v in compiled.params.items() if v is not None}
    assert prepared.fixed == fixed  # type: ignore[attr-defined]


def test_prepared_statements_fill_an_in_list_and_fall_back_for_an_empty_one(store: Store) -> None:
    from loopml.store._ingest import _RUNS_EXIST_Q
    from loopml.store._runs import _KEY_IDS

    _run(store, "a")
    _run(store, "b")
    with store.engine.connect() as conn:
        assert set(_RUNS_EXIST_Q.run(conn, {"ids": ["a", "b", "zz"]}).scalars()) == {"a", "b"}
        assert set(_RUNS_EXIST_Q.run(conn, {"ids": ["b"]}).scalars()) == {"b"}
        assert list(_RUNS_EXIST_Q.run(conn, {"ids": []}).scalars()) == []
    ids = store.runs.intern_keys(["k1", "k2"])
    with store.engine.connect() as conn:
        rows = {r.name: r.id for r in _KEY_IDS.run(conn, {"names": ["k2", "k1", "nope"]})}
    assert rows == {"k1": ids["k1"], "k2": ids["k2"]}


@pytest.mark.parametrize(
    ("table_name", "columns"),
    [
        (
            "runs",
            (
                "id",
                "project_id",
                "name",
                "status",
                "created_at",
                "heartbeat_at",
                "git_commit",
                "git_dirty",
                "command",
                "host",
                "pid",
                "environment",
                "sweep_id",
                "ended_at",
                "error",
            ),
        ),
        ("runs", ("status", "name", "id", "project_id", "created_at")),  # any order given
        ("params", ("run_id", "key", "value", "num")),
        ("tags", ("run_id", "key", "value")),
    ],
)
def test_sqlite_insert_text_is_what_sqlalchemy_compiles(
    table_name: str, columns: tuple[str, ...]
) -> None:
    from sqlalchemy import bindparam
    from sqlalchemy.dialects import sqlite

    from loopml.store._dialect import sqlite_insert_sql

    table = metadata.tables[table_name]
    compiled = (
        table.insert().values({c: bindparam(c) for c in columns}).compile(dialect=sqlite.dialect())
    )
    sql, order = sqlite_insert_sql(sqlite.dialect(), table, columns)
    assert sql == compiled.string
    assert tuple(columns[i] for i in order) == tuple(compiled.positiontup or ())


def test_sqlite_insert_refuses_a_column_the_table_lacks() -> None:
    from sqlalchemy.dialects import sqlite

    from loopml.store._dialect import sqlite_insert_sql

    with pytest.raises(ValueError, match="unconsumed column names for table runs: nope"):
        sqlite_insert_sql(sqlite.dialect(), metadata.tables["runs"], ("id", "nope"))
