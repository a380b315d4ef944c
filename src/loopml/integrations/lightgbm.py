"""LightGBM: ``loopml.integrations.lightgbm.callback()`` for ``lgb.train`` and the sklearn API.

Logs every evaluation metric of every validation set per boosting round (``valid_0/l2``...),
the booster's params, and at the last round the feature importances (gain and split) as
``feature_importance.csv``. Inside a sweep trial, ``prune_on="valid_0/l2"`` reports that metric
each round and raises ``loopml.sweeps.TrialPruned`` when the sweep's pruner says stop.
"""

from __future__ import annotations

from typing import Any

from loopml.integrations._boosting import RoundLogger
from loopml.integrations._common import metric_key, require

__all__ = ["BELOW_VERSION", "MIN_VERSION", "LoopmlCallback", "callback"]

MIN_VERSION, BELOW_VERSION = "4.0", "5"


class LoopmlCallback:
    """A LightGBM callback (``callbacks=[...]``); make it with :func:`callback`."""

    order = 5  # before early stopping (30), so the round that stops training is logged too
    before_iteration = False

    def __init__(self, logger: RoundLogger, importance: bool) -> None:
        self._logger = logger
        self._importance = importance
        self._keys: dict[tuple[str, str], tuple[str, str, str]] = {}

    def __call__(self, env: Any) -> None:
        logger = self._logger
        if env.iteration == env.begin_iteration:
            logger.params(dict(env.params or {}))
        keys = self._keys
        values: dict[str, float] = {}
        for item in env.evaluation_result_list or ():
            names = keys.get((item[0], item[1]))
            if names is None:  # once per (set, metric): key checks stay off the per-round path
                names = keys[(item[0], item[1])] = (
                    metric_key(item[0], item[1]),
                    metric_key(item[0], item[1] + "-mean"),
                    metric_key(item[0], item[1] + "-stdv"),
                )
            if len(item) == 5:  # lgb.cv: (name, metric, mean, higher_better, stdv)
                values[names[1]] = float(item[2])
                values[names[2]] = float(item[4])
            else:
                values[names[0]] = float(item[2])
        last = env.iteration + 1 >= env.end_iteration
        logger.round(env.iteration, values, last=last)
        if last:
            if self._importance:
                self.log_importances(env.model)
            logger.close()

    def log_importances(self, booster: Any) -> None:
        """Write the booster's feature importances (call after early stopping ended training)."""
        booster = getattr(booster, "booster_", booster)  # LGBMModel -> Booster
        if not hasattr(booster, "feature_importance"):
            return  # lgb.cv hands a CVBooster: no single model to rank features by
        names = booster.feature_name()
        table = {
            kind: dict(zip(names, map(float, booster.feature_importance(kind)), strict=False))
            for kind in ("gain", "split")
        }
        self._logger.importances(table)

    def finish(self) -> None:
        """Finish the run the callback started (after early stopping ended training)."""
        self._logger.close()


def callback(
    run: Any = None,
    *,
    project: str | None = None,
    prune_on: str | None = None,
    log_every: int = 1,
    log_importance: bool = True,
) -> LoopmlCallback:
    """A LightGBM callback logging to ``run`` (default: the active run, else a new run).

    ``project`` starts a new run there even when one is active. ``prune_on`` (a metric key such
    as ``"valid_0/l2"``) reports it to the sweep's pruner each round. ``log_every`` logs every
    N-th round (the last is always logged).
    """
    require("lightgbm", "lightgbm", MIN_VERSION, BELOW_VERSION)
    return LoopmlCallback(
        RoundLogger(run, project, "lightgbm", prune_on, log_every), log_importance
    )
