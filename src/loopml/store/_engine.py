"""Engine creation and transactions, the one place that knows SQLite from PostgreSQL.

SQLite runs in WAL mode so readers never block the writer, and every write transaction starts
with ``BEGIN IMMEDIATE``: a deferred transaction that later needs the write lock can fail with
"database is locked" at once, whatever the busy timeout, whereas an immediate one waits for it.
A write that still meets a lock (a long checkpoint, a stalled process) is retried with backoff,
so the error never reaches the user while another process is making progress.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from loopml._errors import MissingDependencyError, StoreError

T = TypeVar("T")

_BUSY_TIMEOUT_MS = 60_000
_AUTOCHECKPOINT_PAGES = 16_000
_WRITE_RETRY_SECONDS = 300.0


def normalize_url(url: str) -> str:
    """Map ``postgresql://`` to the psycopg 3 driver and check that the URL parses."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(
            f"store URL {url!r} is not a valid SQLAlchemy URL; use e.g. "
            "'sqlite:////path/to/loopml.db' or 'postgresql://user@host:5432/db'"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
        raise StoreError(
            f"store URL {url!r} uses {parsed.drivername!r}; loopml supports SQLite "
            "('sqlite:///...') and PostgreSQL ('postgresql://...')"
        )
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str) -> Engine:
    """Create an engine for ``url`` with loopml's connection settings."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise MissingDependencyError(
            "PostgreSQL support needs psycopg 3: pip install 'loopml[postgres]'"
        ) from None
    return create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=8)


def _sqlite_engine(url: str) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # Pooled connections are shared by the caller's thread and the background writer; after a
    # fork the child drops its inherited pool (see ``Store``), so nothing is used by two processes.
    engine = create_engine(
        url,
        pool_size=4,
        max_overflow=8,
        connect_args={"timeout": _BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the driver so that BEGIN is ours to emit.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        mode = cur.execute("PRAGMA journal_mode=WAL").fetchone()
        cur.execute("PRAGMA synchronous=NORMAL")
        # Checkpoints are the background writer's job (Store.checkpoint); this bound only keeps
        # the WAL from growing without limit when no writer runs. The default (1,000 pages)
        # puts a checkpoint's fsync inside every few hundred user commits.
        cur.execute(f"PRAGMA wal_autocheckpoint={_AUTOCHECKPOINT_PAGES}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()
        if mode and str(mode[0]).lower() != "wal":
            raise StoreError(
                f"could not switch SQLite database {url!r} to WAL mode (got {mode[0]!r})"
            )

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("loopml_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def checkpoint(engine: Engine) -> None:
    """Copy SQLite's write-ahead log into the database without waiting on readers or writers."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


def is_sqlite(engine: Engine) -> bool:
    """True when ``engine`` talks to SQLite."""
    return engine.dialect.name == "sqlite"


def _is_lock_error(exc: OperationalError) -> bool:
    text = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
    return "database is locked" in text or "database is busy" in text or "deadlock detected" in text


def run_write(engine: Engine, fn: Callable[[Connection], T]) -> T:
    """Run ``fn`` in one write transaction, retrying it whole while the database is locked.

    ``fn`` must be safe to run again from the start (it only talks to the connection).
    """
    deadline = time.monotonic() + _WRITE_RETRY_SECONDS
    delay = 0.005
    while True:
        try:
            with engine.connect().execution_options(loopml_write=True) as conn, conn.begin():
                return fn(conn)
        except OperationalError as exc:
            if not _is_lock_error(exc) or time.monotonic() > deadline:
                raise
        time.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, 0.5)


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """A connection for reads (a plain transaction; never takes SQLite's write lock)."""
    with engine.connect() as conn:
        yield conn
