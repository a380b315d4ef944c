"""The ceiling table's gain for every metric, against a brute-force recomputation.

Brute force: build the predictions with the group's errors fixed as docs/analysis.md defines it
(classification: the fixed example's probabilities of its true and predicted class swap;
regression: a fixed error is predicted exactly), recompute the metric with scikit-learn (or a
plain loop), and subtract.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    accuracy_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)

import loopml
from loopml import ValidationError
from loopml.analysis import evaluate

from .conftest import CLASSES

LOWER_IS_BETTER = {"log_loss", "ece", "rmse", "mae"}


def _ece_loop(truth: np.ndarray, probs: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error, written out bin by bin."""
    total = 0.0
    conf = probs.max(1)
    pred = probs.argmax(1)
    for b in range(bins):
        inside = [i for i in range(len(truth)) if min(int(conf[i] * bins), bins - 1) == b]
        if inside:
            acc = sum(pred[i] == truth[i] for i in inside)
            total += abs(acc - sum(conf[i] for i in inside))
    return total / len(truth)


def _brute(metric: str, truth: np.ndarray, probs: np.ndarray) -> float:
    if metric == "log_loss":
        return float(log_loss(truth, probs, labels=list(range(probs.shape[1]))))
    if metric == "roc_auc":
        if probs.shape[1] == 2:
            return float(roc_auc_score(truth, probs[:, 1]))
        return float(roc_auc_score(truth, probs, multi_class="ovr", average="macro"))
    if metric == "ece":
        return _ece_loop(truth, probs)
    assert metric == "accuracy"
    return float(accuracy_score(truth, probs.argmax(1)))


@pytest.fixture
def soft(store: Any, version: Any) -> Any:
    """An evaluation with varied probabilities (the prediction is their argmax)."""
    rng = np.random.default_rng(7)
    test = version.to_pandas(split="test")
    truth = test["label"].map(CLASSES.index).to_numpy()
    logits = rng.normal(size=(len(test), 3))
    logits[np.arange(len(test)), truth] += 1.2
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    pred = probs.argmax(1)
    frame = pd.DataFrame(
        {"id": test["id"], "prediction": [CLASSES[p] for p in pred], "probabilities": list(probs)}
    )
    ev = evaluate(frame, version, classes=CLASSES, store=store)
    ev.tag("dark-scan", where="brightness < 0.3 and source = 'scan'", errors_only=True)
    ev.tag("cameras", where="camera = 1")  # errors and right answers: only errors get fixed
    ev.tag("few", test["id"].iloc[:15].tolist())
    return ev


@pytest.mark.parametrize("metric", ["log_loss", "roc_auc", "ece", "accuracy"])
def test_probability_metric_gains_match_brute_force(soft: Any, metric: str) -> None:
    rows = soft.rows(columns=["id", "truth", "prediction", "probabilities"])
    truth = rows["truth"].map(CLASSES.index).to_numpy()
    pred = rows["prediction"].map(CLASSES.index).to_numpy()
    probs = np.stack(rows["probabilities"].to_numpy())
    base = _brute(metric, truth, probs)
    table = soft.ceiling(by="tags", metric=metric).set_index("tag")
    assert set(table.index) == {"dark-scan", "cameras", "few"}
    for name in table.index:
        members = rows["id"].isin(soft.tag_items(name)).to_numpy()
        fixed = np.flatnonzero(members & (truth != pred))
        new = probs.copy()
        new[fixed, truth[fixed]] = probs[fixed, pred[fixed]]
        new[fixed, pred[fixed]] = probs[fixed, truth[fixed]]
        want = _brute(metric, truth, new) - base
        if metric in LOWER_IS_BETTER:
            want = -want
        got = table.loc[name]
        assert got["gain"] == pytest.approx(want, abs=1e-9), name
        assert got["errors"] == len(fixed) and got["size"] == members.sum()
        assert got["gain_low"] <= got["gain"] <= got["gain_high"]
    assert list(table["gain"]) == sorted(table["gain"], reverse=True)
    assert table.attrs["metric"] == metric


def test_probability_gains_by_slice(soft: Any) -> None:
    table = soft.ceiling(by="slices", slices=["source = 'scan'", "brightness > 5"], metric="ece")
    empty = table.set_index("slice").loc["brightness > 5"]
    assert empty["size"] == 0 and empty["errors"] == 0 and empty["gain"] == 0
    scan = table.set_index("slice").loc["source = 'scan'"]
    # Fixed errors keep their confidence, so calibration can get worse (a negative gain): the
    # sign is the metric's own, never clipped.
    assert scan["errors"] > 0 and np.isfinite(scan["gain"]) and scan["gain"] != 0


def test_probability_metrics_need_probabilities(store: Any, version: Any) -> None:
    test = version.to_pandas(split="test")
    ev = evaluate(
        pd.DataFrame({"id": test["id"], "prediction": test["label"]}), version, store=store
    )
    with pytest.raises(ValidationError, match="need the evaluation's probabilities"):
        ev.ceiling(metric="log_loss")
    with pytest.raises(ValidationError, match="error_threshold defines a regression error"):
        ev.ceiling(error_threshold=0.5)


@pytest.fixture
def regression(store: Any) -> Any:
    rng = np.random.default_rng(3)
    n = 400
    x = rng.random(n)
    group = rng.choice(["a", "b", "c"], n)
    truth = 3 * x + rng.normal(0, 0.1, n)
    frame = pd.DataFrame(
        {"id": [f"r{i}" for i in range(n)], "label": truth, "x": x, "group": group, "split": "test"}
    )
    v = loopml.datasets.create("houses", frame, metadata=["group"], store=store)
    noise = rng.normal(0, 0.2, n) + np.where(group == "b", rng.normal(0, 1.5, n), 0)
    pred = truth + noise
    ev = evaluate(pd.DataFrame({"id": frame["id"], "prediction": pred}), v, store=store)
    ev.tag("group-b", where="group = 'b'")
    ev.tag("firsts", frame["id"].iloc[:30].tolist())
    return ev


@pytest.mark.parametrize("metric", ["rmse", "mae", "r2"])
@pytest.mark.parametrize("threshold", [None, 0.5])
def test_regression_gains_match_brute_force(
    regression: Any, metric: str, threshold: float | None
) -> None:
    rows = regression.rows(columns=["id", "truth", "prediction", "error"])
    truth, pred = rows["truth"].to_numpy(), rows["prediction"].to_numpy()
    residual = np.abs(pred - truth)
    cut = threshold if threshold is not None else np.quantile(residual, 0.9)
    score = {
        "rmse": lambda p: mean_squared_error(truth, p) ** 0.5,
        "mae": lambda p: mean_absolute_error(truth, p),
        "r2": lambda p: r2_score(truth, p),
    }[metric]
    table = regression.ceiling(by="tags", metric=metric, error_threshold=threshold)
    assert table.attrs["error_threshold"] == pytest.approx(cut)
    for r in table.itertuples():
        members = rows["id"].isin(regression.tag_items(r.tag)).to_numpy()
        fixed = members & (residual > cut)
        want = score(np.where(fixed, truth, pred)) - score(pred)
        if metric in LOWER_IS_BETTER:
            want = -want
        assert r.gain == pytest.approx(want, abs=1e-9), r.tag
        assert r.errors == fixed.sum() and r.gain_low <= r.gain <= r.gain_high
    assert table.iloc[0]["tag"] == "group-b"  # its large residuals are the errors worth fixing


def test_regression_ceiling_defaults_and_bad_input(regression: Any) -> None:
    table = regression.ceiling(by="slices", slices=["group = 'b'", "x > 5"])
    assert table.attrs["metric"] == "rmse"
    assert table.set_index("slice").loc["x > 5", "size"] == 0
    for bad in (-1, float("nan"), float("inf"), "big", True):
        with pytest.raises(ValidationError, match="error_threshold"):
            regression.ceiling(metric="mae", error_threshold=bad)
    with pytest.raises(ValidationError, match="metric must be one of"):
        regression.ceiling(metric="accuracy")
