"""Engine creation and transactions, the one place that knows SQLite from PostgreSQL.

SQLite runs in WAL mode so readers never block the writer, and every write transaction starts
with ``BEGIN IMMEDIATE``: a deferred transaction that later needs the write lock can fail with
"database is locked" at once, whatever the busy timeout, whereas an immediate one waits for it.
A write that still meets a lock (a long checkpoint, a stalled process) is retried with backoff,
so the error never reaches the user while another process is making progress.

PostgreSQL connections are checked for life ("pinged") only when they come out of the pool after
sitting idle for a while (``_PING_AFTER_IDLE_S``), not on every checkout: a busy server checks a
connection out several times a request, and a ping each time was a round trip each. A connection
that dies while in use (the database restarted within that idle window) fails its statement;
SQLAlchemy then discards every pooled connection opened before, and ``run_write`` and
``read_with_retry`` run their work again on a fresh one (a write only when the failure came
before its commit was sent). The team server looks its caller up that way first on every request,
so a database restart within the idle window costs no request an error there either.
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
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError, OperationalError

from loopml._errors import MissingDependencyError, StoreError

T = TypeVar("T")

_BUSY_TIMEOUT_MS = 60_000
_AUTOCHECKPOINT_PAGES = 16_000
_WRITE_RETRY_SECONDS = 300.0
# A pooled connection idle for longer than this is pinged before use (see the module docstring).
_PING_AFTER_IDLE_S = 1.0
# Attempts at a unit of work whose connection was lost before its commit was sent.
_DISCONNECT_ATTEMPTS = 3


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
    engine = create_engine(url, pool_size=4, max_overflow=8)
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Ping a connection on checkout only when it sat idle in the pool (see module docstring)."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["loopml_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("loopml_idle_since")
        if since is None or time.monotonic() - since < _PING_AFTER_IDLE_S:
            return  # new, or back in the pool a moment ago
        try:
            # psycopg in its default (non-autocommit) mode opens a transaction with the first
            # statement; roll it back so the caller starts from a clean connection.
            cur = dbapi_conn.cursor()
            try:
                cur.execute("SELECT 1")
            finally:
                cur.close()
            dbapi_conn.rollback()
        except Exception as exc:
            # The pool discards this connection and checks out (or opens) another.
            raise DisconnectionError(f"pooled connection is gone: {exc}") from exc


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
    lost = 0
    while True:
        committing = False
        try:
            with engine.connect().execution_options(loopml_write=True) as conn, conn.begin():
                result = fn(conn)
                committing = True  # leaving the block commits: a failure now is not retried
            return result
        except DBAPIError as exc:
            if exc.connection_invalidated and not committing:
                # The connection died before the commit was sent: nothing was written.
                lost += 1
                if lost >= _DISCONNECT_ATTEMPTS:
                    raise
                continue
            if not isinstance(exc, OperationalError) or not _is_lock_error(exc):
                raise
            if time.monotonic() > deadline:
                raise
        time.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, 0.5)


def read_with_retry(engine: Engine, fn: Callable[[Connection], T]) -> T:
    """Run the read ``fn`` on a connection, again on a fresh one if the connection was lost.

    On PostgreSQL ``fn`` runs outside a transaction (autocommit): for a single query (the
    server's caller lookup) that saves the BEGIN and ROLLBACK round trips; each statement still
    sees committed data only, so ``fn`` should be one query (several would not share a snapshot).
    """
    options = {"isolation_level": "AUTOCOMMIT"} if engine.dialect.name == "postgresql" else {}
    lost = 0
    while True:
        try:
            with engine.connect().execution_options(**options) as conn:
                return fn(conn)
        except DBAPIError as exc:
            lost += 1
            if not exc.connection_invalidated or lost >= _DISCONNECT_ATTEMPTS:
                raise


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """A connection for reads (a plain transaction; never takes SQLite's write lock)."""
    with engine.connect() as conn:
        yield conn
