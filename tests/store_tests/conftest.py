"""The store tests' fixtures: every ``RunBackend`` implementation, on every SQL dialect."""

from __future__ import annotations

import pytest

from loopml.store import RunBackend


@pytest.fixture
def backend(store: object) -> RunBackend:
    """Each implementation of the run contract: the SQL store, on SQLite and PostgreSQL.

    ``store`` is parametrized by dialect (``tests/conftest.py``); a new implementation of
    ``RunBackend`` is added here so that the whole conformance suite runs against it.
    """
    return store.runs  # type: ignore[attr-defined, no-any-return]
