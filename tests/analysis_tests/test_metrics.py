"""Metric kernels against scikit-learn, their vectorized bootstrap against a loop, and the
evaluation's store write failing on either side of the metrics (nothing stored half-way)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from loopml.analysis import evaluate
from loopml.analysis._metrics import ece, roc_auc

from .conftest import CLASSES, planted_predictions


@pytest.mark.parametrize("k", [2, 3, 5])
def test_roc_auc_and_ece_match_a_reference(k: int) -> None:
    rng = np.random.default_rng(k)
    n = 2000
    probs = rng.dirichlet(np.ones(k), n).round(2)  # rounded: many tied scores
    probs /= probs.sum(1, keepdims=True)
    truth = rng.integers(0, k, n)
    want = (
        roc_auc_score(truth, probs[:, 1])
        if k == 2
        else roc_auc_score(truth, probs, multi_class="ovr", average="macro")
    )
    assert roc_auc(truth, probs) == pytest.approx(want, abs=1e-12)
    conf, pred = probs.max(1), probs.argmax(1)
    bins = np.minimum((conf * 15).astype(int), 14)
    manual = (
        sum(
            abs((pred[bins == b] == truth[bins == b]).sum() - conf[bins == b].sum())
            for b in range(15)
        )
        / n
    )
    assert ece(truth, probs) == pytest.approx(manual, abs=1e-12)
    # the bootstrap draws, vectorized, equal the metric of each resample computed alone
    idx = rng.integers(0, n, (7, 500))
    loop_auc = [roc_auc(truth[i], probs[i]) for i in idx]
    loop_ece = [ece(truth[i], probs[i]) for i in idx]
    np.testing.assert_allclose(roc_auc(truth, probs, idx), loop_auc, atol=1e-12)
    np.testing.assert_allclose(ece(truth, probs, idx), loop_ece, atol=1e-12)


def test_roc_auc_many_distinct_scores_one_draw_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import loopml.analysis._metrics as metrics

    rng = np.random.default_rng(0)
    n = 3000
    p1 = rng.random(n)
    probs = np.stack([1 - p1, p1], 1)
    truth = (rng.random(n) < p1).astype(int)
    idx = rng.integers(0, n, (4, 800))
    vectorized = roc_auc(truth, probs, idx)
    monkeypatch.setattr(metrics, "_AUC_CELLS", 10)  # forces the per-draw path
    np.testing.assert_allclose(roc_auc(truth, probs, idx), vectorized, atol=1e-12)
    assert np.isnan(roc_auc(np.zeros(n, int), probs))  # one class only: undefined


def _stored(store: Any) -> tuple[int, list[Path]]:
    folder = Path(store.evaluations.folder)
    files = [f for f in folder.rglob("*") if f.is_file()] if folder.exists() else []
    return len(store.evaluations.search()), files


def test_metrics_failing_while_the_rows_are_written_leaves_nothing(
    store: Any, version: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import loopml.analysis._metrics as metrics

    def boom(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("metric failed")

    monkeypatch.setattr(metrics, "classification_metrics", boom)
    with pytest.raises(RuntimeError, match="metric failed"):
        evaluate(planted_predictions(version), version, classes=CLASSES)
    assert _stored(store) == (0, [])


def test_rows_write_failing_leaves_nothing(
    store: Any, version: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import loopml.store._evaluations as evaluations_store

    def boom(*_a: Any, **_k: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(evaluations_store, "_write_rows", boom)
    with pytest.raises(OSError, match="disk full"):
        evaluate(planted_predictions(version), version, classes=CLASSES)
    assert _stored(store) == (0, [])
