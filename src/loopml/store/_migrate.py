"""Bring a store's schema to this version of loopml, through Alembic migrations.

The common case (schema already current) costs one small query and never imports Alembic.
Migrations run inside one write transaction that holds the database's write lock (SQLite) or an
advisory lock (PostgreSQL), so processes opening a new store at once migrate it exactly once.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, Engine, inspect, text

from loopml._errors import SchemaVersionError
from loopml.store._engine import is_sqlite, run_write
from loopml.store._metadata import KNOWN_REVISIONS, SCHEMA_REVISION

_MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_PG_LOCK_KEY = 0x6C6F6F70  # "loop"


def current_revision(conn: Connection) -> str | None:
    """The Alembic revision stored in the database, or None for an empty database."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def ensure_schema(engine: Engine) -> None:
    """Migrate the store to ``SCHEMA_REVISION``; refuse a store written by a newer loopml."""
    with engine.connect() as conn:
        revision = current_revision(conn)
    if revision == SCHEMA_REVISION:
        return
    _check_known(revision, engine)
    run_write(engine, _upgrade)


def _check_known(revision: str | None, engine: Engine) -> None:
    if revision is not None and revision not in KNOWN_REVISIONS:
        raise SchemaVersionError(
            f"the store at {engine.url.render_as_string(hide_password=True)} has schema revision "
            f"{revision!r}, newer than this loopml knows (latest {SCHEMA_REVISION!r}); "
            "upgrade loopml (pip install -U loopml) or point LOOPML_STORE at another store"
        )


def _upgrade(conn: Connection, fresh_from_metadata: bool = True) -> None:
    """Migrate under the lock. An empty database is built from the declared tables and stamped
    with the head revision (a test checks that this equals running every migration), which
    spares a new user's first run Alembic's import and replay."""
    if not is_sqlite(conn.engine):
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    revision = current_revision(conn)  # again, now under the lock
    if revision == SCHEMA_REVISION:
        return
    _check_known(revision, conn.engine)
    if revision is None and fresh_from_metadata:
        _create_at_head(conn)
        conn.execute(
            text(
                "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
            )
        )
        conn.execute(
            text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": SCHEMA_REVISION}
        )
        return
    from alembic import command  # only an existing, older store needs Alembic
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS_DIR))
    config.attributes["connection"] = conn
    command.upgrade(config, SCHEMA_REVISION)


def _create_at_head(conn: Connection) -> None:
    """Create every declared table in an empty database (the caller stamps the revision).

    SQLite runs the pre-rendered statements of ``_schema_sqlite`` (``create_all``'s own output,
    checked by a test) and skips compiling some forty tables on a new user's first run.
    """
    if is_sqlite(conn.engine):
        from loopml.store._schema_sqlite import SQLITE_DDL, SQLITE_DDL_REVISION

        if SQLITE_DDL_REVISION == SCHEMA_REVISION:
            for statement in SQLITE_DDL:
                conn.exec_driver_sql(statement)
            return
    from loopml.store._schema import metadata

    metadata.create_all(conn)
