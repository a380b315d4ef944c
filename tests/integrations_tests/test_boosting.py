"""LightGBM and XGBoost callbacks: real training, importances, pruning in a real sweep."""

from __future__ import annotations

import csv
from typing import Any

import numpy as np
import pytest

import loopml
from tests.integrations_tests._objectives import data, lightgbm_objective, xgboost_objective

lgb = pytest.importorskip("lightgbm", reason="the LightGBM integration tests need lightgbm")
xgb = pytest.importorskip("xgboost", reason="the XGBoost integration tests need xgboost")


def _only_run(project: str) -> Any:
    frame = loopml.runs(project)
    assert len(frame) == 1
    return loopml.get_run(frame["id"][0])


def _importance(run_id: str) -> list[dict[str, str]]:
    store = loopml.tracking.default_session().store
    with store.runs.artifact_file(run_id, "feature_importance.csv").open() as fh:
        return list(csv.DictReader(fh))


def test_lightgbm_logs_every_metric_per_round_and_importances() -> None:
    from loopml.integrations.lightgbm import callback

    x, y, xv, yv = data()
    train = lgb.Dataset(x, y)
    valid = lgb.Dataset(xv, yv, reference=train)
    lgb.train(
        {"objective": "regression", "metric": ["l2", "l1"], "verbose": -1, "num_threads": 1},
        train,
        num_boost_round=25,
        valid_sets=[train, valid],
        valid_names=["train", "valid"],
        callbacks=[callback(project="lgb")],
    )
    rec = _only_run("lgb")
    assert rec.status == "finished"
    for key in ("train/l2", "train/l1", "valid/l2", "valid/l1"):
        assert rec.metrics[key].count == 25 and rec.metrics[key].last_step == 24
    assert rec.metrics["valid/l2"].last < rec.metrics["valid/l2"].max
    assert rec.params["objective"] == "regression"
    rows = _importance(rec.id)
    assert rows[0]["feature"] == "Column_0"  # the feature y depends on most ranks first
    assert set(rows[0]) == {"feature", "gain", "split"}


def test_lightgbm_sklearn_api_with_early_stopping_into_an_open_run() -> None:
    from loopml.integrations.lightgbm import callback

    x, y, xv, yv = data()
    with loopml.init(project="lgb-sk", config={"note": "mine"}) as run:
        cb = callback(log_every=5)
        model = lgb.LGBMRegressor(n_estimators=500, learning_rate=0.3, verbose=-1, n_jobs=1)
        model.fit(x, y, eval_set=[(xv, yv)], callbacks=[cb, lgb.early_stopping(5, verbose=False)])
        cb.log_importances(model)  # early stopping ended training before its last round
    rec = loopml.get_run(run.id)
    assert rec.status == "finished" and rec.params["note"] == "mine"
    series = rec.metrics["valid_0/l2"]
    assert series.last_step % 5 == 0 and series.count < 100  # every 5th round, stopped early
    assert len(_importance(rec.id)) == 6


def test_lightgbm_rounds_held_back_are_written_when_the_run_ends() -> None:
    """The callback writes rounds in batches; early stopping (no last round) and an exception
    in training still leave every round trained in the store once the run ends."""
    from loopml.integrations.lightgbm import callback

    x, y, xv, yv = data()
    train = lgb.Dataset(x, y)
    valid = lgb.Dataset(xv, yv, reference=train)
    params = {"objective": "regression", "learning_rate": 0.5, "verbose": -1, "num_threads": 1}
    with loopml.init(project="lgb-batch") as run:
        booster = lgb.train(
            params,
            train,
            num_boost_round=2000,
            valid_sets=[valid],
            callbacks=[callback(), lgb.early_stopping(3, verbose=False)],
        )
    trained = booster.best_iteration + 3  # rounds 0 .. best + 2
    series = loopml.get_run(run.id).metrics["valid_0/l2"]
    assert trained < 2000 and (series.count, series.last_step) == (trained, trained - 1)

    def boom(env: Any) -> None:
        if env.iteration == 7:
            raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError), loopml.init(project="lgb-batch") as failed:
        lgb.train(params, train, 50, valid_sets=[valid], callbacks=[callback(), boom])
    rec = loopml.get_run(failed.id)
    assert rec.status == "failed" and rec.metrics["valid_0/l2"].count == 8


def test_xgboost_logs_every_metric_per_round_and_importances() -> None:
    from loopml.integrations.xgboost import callback

    x, y, xv, yv = data()
    xgb.train(
        {"eta": 0.3, "max_depth": 3, "nthread": 1, "eval_metric": ["rmse", "mae"]},
        xgb.DMatrix(x, y),
        num_boost_round=20,
        evals=[(xgb.DMatrix(x, y), "train"), (xgb.DMatrix(xv, yv), "valid")],
        verbose_eval=False,
        callbacks=[callback(project="xgb")],
    )
    rec = _only_run("xgb")
    assert rec.status == "finished"
    for key in ("train/rmse", "train/mae", "valid/rmse", "valid/mae"):
        assert rec.metrics[key].count == 20
    assert rec.params["max_depth"] == 3
    rows = _importance(rec.id)
    assert rows[0]["feature"] == "f0" and set(rows[0]) == {"feature", "gain", "weight", "cover"}


def test_xgboost_sklearn_api() -> None:
    from loopml.integrations.xgboost import callback

    x, y, xv, yv = data()
    model = xgb.XGBRegressor(
        n_estimators=15, max_depth=2, n_jobs=1, callbacks=[callback(project="xgb-sk")]
    )
    model.fit(x, y, eval_set=[(xv, yv)], verbose=False)
    rec = _only_run("xgb-sk")
    assert rec.metrics["validation_0/rmse"].count == 15


@pytest.mark.parametrize("objective", [lightgbm_objective, xgboost_objective])
def test_pruned_inside_a_sweep(objective: Any) -> None:
    # lr=0.001 learns almost nothing, so the median pruner stops those trials early.
    sweep = loopml.sweep(
        objective,
        {"lr": loopml.choice([0.3, 0.2, 0.001])},
        metric="valid_loss",
        direction="min",
        n_trials=12,
        parallel=2,
        sampler="random",
        pruner="median",
        seed=0,
        cache=False,
        progress=False,
        project="boost-sweep",
    )
    trials = sweep.trials
    assert trials["state"].isin(["finished", "pruned"]).all()
    pruned = trials[trials["state"] == "pruned"]
    assert len(pruned) >= 1
    assert (pruned["params.lr"] == 0.001).all()
    rec = loopml.get_run(pruned.iloc[0]["run_id"])
    key = "valid_0/l2" if objective is lightgbm_objective else "valid/rmse"
    assert 0 < rec.metrics[key].count < 40  # per-round metrics logged, stopped before round 40
    assert rec.metrics["valid_loss"].count == rec.metrics[key].count  # what the pruner saw
    finished = loopml.get_run(trials[trials["state"] == "finished"].iloc[0]["run_id"])
    assert any(k.startswith("importance/") for k in finished.metrics)  # no artifacts in trials


def test_bad_input() -> None:
    from loopml.integrations.lightgbm import callback as lgb_callback
    from loopml.integrations.xgboost import callback as xgb_callback

    with pytest.raises(loopml.ValidationError, match="log_every"):
        lgb_callback(log_every=0)
    with pytest.raises(loopml.ValidationError, match="prune_on"):
        xgb_callback(prune_on=3)  # type: ignore[arg-type]
    x, y, xv, yv = data()
    train = lgb.Dataset(x, y)
    with pytest.raises(loopml.ValidationError, match="did you mean 'valid_0/l2'"):
        lgb.train(
            {"objective": "regression", "verbose": -1},
            train,
            num_boost_round=3,
            valid_sets=[lgb.Dataset(xv, yv, reference=train)],
            callbacks=[lgb_callback(project="typo", prune_on="valid_0/l3")],
        )


@pytest.mark.parametrize(("module", "framework"), [("lightgbm", lgb), ("xgboost", xgb)])
def test_unsupported_version_is_named(
    module: str, framework: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    monkeypatch.setattr(framework, "__version__", "1.2.3")
    integration = importlib.import_module(f"loopml.integrations.{module}")
    with pytest.raises(loopml.UnsupportedVersionError, match=f"{module} 1.2.3 is not supported"):
        integration.callback()
    assert np is not None
