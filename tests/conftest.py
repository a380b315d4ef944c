"""Shared fixtures: an isolated data folder per test, and the store backends to run against."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopml._config import Settings

POSTGRES_URL = os.environ.get("LOOPML_TEST_POSTGRES_URL")
_PG_SKIP = "PostgreSQL tests need LOOPML_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1:5432/test)"


def pytest_report_header(config: pytest.Config) -> str:
    if POSTGRES_URL:
        return f"loopml: PostgreSQL backend tests against {POSTGRES_URL}"
    return f"loopml: PostgreSQL backend tests SKIPPED: {_PG_SKIP}"


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own data folder and no default session left from another test."""
    from loopml.tracking import _session

    monkeypatch.setenv("LOOPML_DIR", str(tmp_path / "loopml-data"))
    monkeypatch.delenv("LOOPML_STORE", raising=False)
    monkeypatch.delenv("LOOPML_RUN_ID", raising=False)
    monkeypatch.chdir(tmp_path)
    _session.set_default_session(None)
    yield
    _session.set_default_session(None)


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    if not POSTGRES_URL:
        pytest.skip(_PG_SKIP)
    import psycopg

    schema = f"loopml_test_{uuid.uuid4().hex[:10]}"
    dsn = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for each store backend; the conformance suite runs once per backend."""
    data_dir = tmp_path / "loopml-data"
    if request.param == "postgres":
        url = request.getfixturevalue("pg_schema_url")
        return Settings(data_dir=data_dir, store_url=url, flush_interval=0.05)
    return Settings(data_dir=data_dir, flush_interval=0.05)


@pytest.fixture
def session(backend_settings: Settings) -> Iterator[object]:
    """A tracking session on each backend, installed as the process default."""
    from loopml.tracking import Session, set_default_session

    s = Session(backend_settings)
    set_default_session(s)
    yield s
    set_default_session(None)
    s.store.close()


@pytest.fixture
def store(session: object) -> object:
    """The store of ``session``."""
    return session.store  # type: ignore[attr-defined]
