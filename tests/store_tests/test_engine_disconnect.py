"""PostgreSQL connections lost under the pool (a database restart): no caller sees an error.

A restart is simulated by terminating the pool's server processes (``pg_terminate_backend``),
which is what the client sees of one. Connections are tagged with an ``application_name`` so
that only this test's are terminated.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from loopml.store import _engine
from loopml.store._engine import make_engine, read, read_with_retry, run_write

pytestmark = pytest.mark.postgres


@pytest.fixture
def tagged_url(pg_schema_url: str) -> Iterator[tuple[str, str]]:
    """The test schema's URL with a unique ``application_name``, and that name."""
    name = f"loopml_disc_{uuid.uuid4().hex[:8]}"
    yield f"{pg_schema_url}&application_name={name}", name


def _kill(url: str, name: str) -> int:
    """Terminate every server process of connections named ``name``; how many there were."""
    import psycopg

    dsn = url.split("?")[0].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (name,),
        ).fetchall()
    return len(rows)


def _pid(engine: Engine) -> int:
    return int(
        read_with_retry(engine, lambda c: c.execute(text("SELECT pg_backend_pid()")).scalar())
    )


def test_read_with_retry_survives_lost_connections(tagged_url: tuple[str, str]) -> None:
    url, name = tagged_url
    engine = make_engine(url)
    try:
        before = _pid(engine)
        assert _kill(url, name) == 1
        # Back in the pool a moment ago: not pinged, so the first try fails and is retried.
        assert _pid(engine) != before
    finally:
        engine.dispose()


def test_run_write_survives_lost_connections_and_writes_once(tagged_url: tuple[str, str]) -> None:
    url, name = tagged_url
    engine = make_engine(url)
    try:
        run_write(engine, lambda c: c.execute(text("CREATE TABLE t (v INTEGER)")))
        assert _kill(url, name) == 1
        run_write(engine, lambda c: c.execute(text("INSERT INTO t VALUES (1)")))
        with read(engine) as conn:
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 1
    finally:
        engine.dispose()


def test_idle_connection_is_pinged_before_use(
    tagged_url: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, name = tagged_url
    engine = make_engine(url)
    try:
        before = _pid(engine)
        assert _kill(url, name) == 1
        monkeypatch.setattr(_engine, "_PING_AFTER_IDLE_S", 0.0)
        # A plain read (no retry): the ping on checkout finds the connection dead and replaces it.
        with read(engine) as conn:
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar() != before
    finally:
        engine.dispose()


def test_team_server_survives_its_database_restarting(tagged_url: tuple[str, str]) -> None:
    import httpx

    from loopml._config import Settings
    from loopml.store import Store
    from tests._team import TeamServer

    url, name = tagged_url
    store = Store(Settings(data_dir=Path("data"), store_url=url))
    server = TeamServer(store)
    try:
        headers = {"Authorization": f"Bearer {server.admin_token}"}
        with httpx.Client(base_url=server.url, headers=headers) as client:
            assert client.get("/api/v1/runs").status_code == 200
            assert _kill(url, name) >= 1
            for _ in range(3):  # every request after the restart is answered
                assert client.get("/api/v1/runs").status_code == 200
    finally:
        server.stop()
        store.close()


def test_token_lookup_sees_a_revoke_at_once_and_the_roles(tagged_url: tuple[str, str]) -> None:
    """The caller lookup is one autocommit query on PostgreSQL: it sees every role, and a
    revoke committed by another store (another worker) the moment it commits."""
    from loopml._config import Settings
    from loopml.store import Store

    url, _ = tagged_url
    server = Store(Settings(data_dir=Path("a"), store_url=url))
    admin = Store(Settings(data_dir=Path("b"), store_url=url))
    try:
        admin.users.add("ann", "viewer")
        admin.users.set_role("ann", "member", "p")
        secret = admin.users.create_token("ann", "t")
        user = server.users.authenticate_token(secret)
        assert user is not None and user.name == "ann"
        assert user.roles == admin.users.get("ann").roles and len(user.roles) == 2
        admin.users.add("bob", "viewer")  # a user without a token is nobody's caller
        assert server.users.authenticate_token("lm_nope") is None
        (info,) = admin.users.tokens()
        admin.users.revoke_token(info.id)
        assert server.users.authenticate_token(secret) is None
    finally:
        server.close()
        admin.close()
