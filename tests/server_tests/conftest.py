"""Fixtures for the dashboard's in-process tests: a seeded store (both backends) and a client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from loopml.server import create_app
from tests.server_tests._seed import Seeded, seed


@pytest.fixture
def seeded(session: object, tmp_path: Path) -> Seeded:
    """The seed data, logged through the tracking client into the backend's store."""
    return seed(tmp_path)


@pytest.fixture
def client(store: object, seeded: Seeded) -> Iterator[TestClient]:
    """A TestClient on the dashboard app over the seeded store."""
    with TestClient(create_app(store)) as c:  # type: ignore[arg-type]
        yield c
