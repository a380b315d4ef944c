"""The store tests' fixtures: every ``RunBackend`` implementation, on every SQL dialect."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loopml.store import RunBackend


@pytest.fixture(params=["sql", "http"])
def backend(request: pytest.FixtureRequest, store: object) -> Iterator[RunBackend]:
    """Each implementation of the run contract, on SQLite and PostgreSQL.

    ``sql``: the SQL store itself. ``http``: the team server's client (``HttpBackend``) talking
    to a real ``loopml server`` app (uvicorn on a loopback port) over that same store.
    ``store`` is parametrized by dialect (``tests/conftest.py``); a new implementation of
    ``RunBackend`` is added here so that the whole conformance suite runs against it.
    """
    if request.param == "sql":
        yield store.runs  # type: ignore[attr-defined]
        return
    from loopml.tracking import HttpBackend
    from tests._team import TeamServer

    server = TeamServer(store)  # type: ignore[arg-type]
    try:
        yield HttpBackend(server.url, server.admin_token)
    finally:
        server.stop()
