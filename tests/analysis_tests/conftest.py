"""A small labeled dataset with metadata, and predictions whose errors are planted in a slice."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from loopml.datasets import DatasetVersion, create

CLASSES = ["cat", "dog", "bird"]


def planted_predictions(
    version: DatasetVersion, seed: int = 0, rate_in: float = 0.7, rate_out: float = 0.05
) -> pd.DataFrame:
    """Predictions for the test split: wrong mostly on dark scans, with probabilities."""
    rng = np.random.default_rng(seed)
    test = version.to_pandas(split="test")
    hard = (test["brightness"] < 0.3) & (test["source"] == "scan")
    wrong = rng.random(len(test)) < np.where(hard, rate_in, rate_out)
    truth = test["label"].map(CLASSES.index).to_numpy()
    pred = np.where(wrong, (truth + 1 + rng.integers(0, 2, len(test))) % 3, truth)
    probs = np.full((len(test), 3), 0.15)
    probs[np.arange(len(test)), pred] = 0.7
    return pd.DataFrame(
        {"id": test["id"], "prediction": [CLASSES[p] for p in pred], "probabilities": list(probs)}
    )


@pytest.fixture
def version(store: Any) -> DatasetVersion:
    """600 items (about half in the test split): label, brightness, source, camera."""
    rng = np.random.default_rng(1)
    n = 600
    frame = pd.DataFrame(
        {
            "id": [f"it{i}" for i in range(n)],
            "label": [CLASSES[i % 3] for i in range(n)],
            "brightness": rng.random(n).round(4),
            "source": rng.choice(["scan", "photo"], n),
            "camera": rng.integers(0, 3, n),
        }
    )
    return create(
        "pets", frame, metadata=["source", "camera"], split={"train": 0.5, "test": 0.5},
        store=store,
    )  # fmt: skip


@pytest.fixture
def evaluation(store: Any, version: DatasetVersion) -> Any:
    """An evaluation of the planted predictions on the test split."""
    from loopml.analysis import evaluate

    return evaluate(planted_predictions(version), version, classes=CLASSES, store=store)
