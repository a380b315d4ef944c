"""Sweep objectives that train boosted trees with the loopml callbacks (run in sweep workers)."""

from __future__ import annotations

from typing import Any

import numpy as np


def data() -> tuple[Any, Any, Any, Any]:
    """A small regression problem: 300 training and 200 validation rows."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 6))
    y = x[:, 0] * 2 + np.sin(x[:, 1] * 3) + rng.normal(scale=0.1, size=500)
    return x[:300], y[:300], x[300:], y[300:]


def lightgbm_objective(params: dict[str, Any], run: Any) -> float:
    """LightGBM for 40 rounds; the callback reports valid_0/l2 to the sweep's pruner."""
    import lightgbm as lgb

    from loopml.integrations.lightgbm import callback

    x, y, xv, yv = data()
    train = lgb.Dataset(x, y)
    valid = lgb.Dataset(xv, yv, reference=train)
    booster = lgb.train(
        {"objective": "regression", "learning_rate": params["lr"], "verbose": -1, "num_threads": 1},
        train,
        num_boost_round=40,
        valid_sets=[valid],
        callbacks=[callback(run, prune_on="valid_0/l2")],
    )
    return float(np.mean((booster.predict(xv) - yv) ** 2))


def xgboost_objective(params: dict[str, Any], run: Any) -> float:
    """XGBoost for 40 rounds; the callback reports valid/rmse to the sweep's pruner."""
    import xgboost as xgb

    from loopml.integrations.xgboost import callback

    x, y, xv, yv = data()
    dtrain, dvalid = xgb.DMatrix(x, y), xgb.DMatrix(xv, yv)
    booster = xgb.train(
        {"eta": params["lr"], "max_depth": 3, "nthread": 1},
        dtrain,
        num_boost_round=40,
        evals=[(dvalid, "valid")],
        verbose_eval=False,
        callbacks=[callback(run, prune_on="valid/rmse")],
    )
    return float(np.sqrt(np.mean((booster.predict(dvalid) - yv) ** 2)))


def media_objective(params: dict[str, Any], run: Any) -> float:
    """Logs an image and a histogram per step, and a table once, from inside a sweep trial."""
    import pandas as pd

    import loopml

    rng = np.random.default_rng(int(params["seed"]))
    for step in range(3):
        pixels = np.full((4, 6, 3), 40 * step + int(params["seed"]), np.uint8)
        run.log(
            {
                "loss": 1.0 / (step + 1),
                "samples": loopml.Image(pixels, caption=f"step {step}"),
                "weights": loopml.Histogram(rng.normal(step, 1.0, 200), bins=16),
            }
        )
    run.log({"preds": loopml.Table(pd.DataFrame({"y": [1, 0], "p": [0.8, 0.3]}))})
    return 0.25 + params["seed"]
