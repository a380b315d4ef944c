"""A registered classifier (``m``, versions 1 and 2, ``m@champion`` -> 1) and a served app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

COLUMNS = ["a", "b", "c", "d", "e"]


@pytest.fixture(scope="session")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(1)
    x = pd.DataFrame(rng.random((150, 5)), columns=COLUMNS)
    y = np.where(x["a"] > 0.66, "high", np.where(x["a"] > 0.33, "mid", "low"))
    return x, y


@pytest.fixture
def session(tmp_path: Path) -> Iterator[object]:
    """A SQLite session (the server's logic does not depend on the backend; the store tests
    cover both), writing the prediction log often so tests wait little."""
    from loopml._config import Settings
    from loopml.tracking import Session, set_default_session

    s = Session(Settings(data_dir=tmp_path / "loopml-data", flush_interval=0.05))
    set_default_session(s)
    yield s
    set_default_session(None)
    s.store.close()


@pytest.fixture
def store(session: object) -> object:
    return session.store  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def fitted(data: tuple[pd.DataFrame, np.ndarray]) -> tuple[object, object]:
    from sklearn.ensemble import HistGradientBoostingClassifier

    x, y = data
    first = HistGradientBoostingClassifier(max_iter=5).fit(x, y)
    flipped = np.where(y == "high", "low", np.where(y == "low", "high", y))
    second = HistGradientBoostingClassifier(max_iter=5).fit(x, flipped)
    return first, second


@pytest.fixture
def model(
    session: object, data: tuple[pd.DataFrame, np.ndarray], fitted: tuple[object, object]
) -> object:
    """Versions 1 and 2 of ``m`` (2 answers the opposite of 1 for 'high'/'low'); champion -> 1."""
    import loopml.registry as reg

    x, _ = data
    first, second = fitted
    reg.register("m", first, example=x[:3])
    reg.register("m", second, example=x[:3])
    reg.set_alias("m", "champion", 1, reason="first")
    reg.set_alias("m", "challenger", 2, reason="try")
    return first


@pytest.fixture
def client(store: object, model: object) -> Iterator[object]:
    from fastapi.testclient import TestClient

    from loopml.serving import ServeConfig, create_app

    app = create_app(
        ServeConfig("m@champion", poll_interval=0.1, max_body_bytes=20_000, log_flush_seconds=0),
        store,
    )  # type: ignore[arg-type]
    with TestClient(app) as c:
        yield c
