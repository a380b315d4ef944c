"""A small fitted classifier and its training frame, shared by the registry tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="session")
def frame() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.random((120, 4)), columns=["a", "b", "c", "d"])
    y = (x["a"] + x["b"] > 1).astype(int).to_numpy() + (x["c"] > 0.8).astype(int).to_numpy()
    return x, y


@pytest.fixture(scope="session")
def clf(frame: tuple[pd.DataFrame, np.ndarray]) -> object:
    from sklearn.ensemble import HistGradientBoostingClassifier

    x, y = frame
    return HistGradientBoostingClassifier(max_iter=5).fit(x, y)
