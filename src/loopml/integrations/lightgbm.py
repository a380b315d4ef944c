"""LightGBM: ``loopml.integrations.lightgbm.callback()`` for ``lgb.train`` and the sklearn API.

Logs every evaluation metric of every validation set per boosting round (``valid_0/l2``...),
the booster's params, and at the last round the feature importances (gain and split) as
``feature_importance.csv``. Inside a sweep trial, ``prune_on="valid_0/l2"`` reports that metric
each round and raises ``loopml.sweeps.TrialPruned`` when the sweep's pruner says stop.
"""

from __future__ import annotations

import time
from typing import Any

from loopml.integrations._boosting import RoundLogger
from loopml.integrations._common import metric_key, require

__all__ = ["BELOW_VERSION", "MIN_VERSION", "LoopmlCallback", "callback"]

MIN_VERSION, BELOW_VERSION = "4.0", "5"
# Half the writer's default flush interval (1 s): what the callback holds back reaches the
# journal before the writer's next pass, so the rounds are ingested in the background while
# training goes on, not all on the training thread when the run ends. A batch written is a few
# journal appends, not a store transaction (the writer makes one per pass, batches or not).
_BATCH_SECONDS = 0.5
_monotonic = time.monotonic


class LoopmlCallback:
    """A LightGBM callback (``callbacks=[...]``); make it with :func:`callback`.

    Per round it only keeps a reference to LightGBM's own list of results; they are turned
    into metrics and written in batches, every half second and at the end. (A Python call on
    a round's cold path costs tens of microseconds between LightGBM's rounds; one batch write
    costs a few per round.) Values held back are written when the run ends however it ends
    (the run's ``before_finish`` hook): early stopping, an exception, process exit. With
    ``prune_on``, or on a run without that hook (a sweep's function trial), every round is
    written at once.
    """

    order = 5  # before early stopping (30), so the round that stops training is logged too
    before_iteration = False

    def __init__(self, logger: RoundLogger, importance: bool) -> None:
        self._logger = logger
        self._importance = importance
        self._every = logger.log_every
        self._keys: dict[tuple[str, str], tuple[str, str, str]] = {}
        self._pending: list[tuple[int, Any]] = []  # (round, LightGBM's result list)
        self._batch = False
        self._due = 0.0

    def __call__(self, env: Any) -> None:
        iteration = env.iteration
        if iteration == env.begin_iteration:
            self._begin(env)
        last = iteration + 1 >= env.end_iteration
        if iteration % self._every == 0 or last:
            # LightGBM builds a new list each round: keeping it costs no copy.
            self._pending.append((iteration, env.evaluation_result_list))
        if last:
            self.flush()
            if self._importance:
                self.log_importances(env.model)
            self._logger.close()
        elif not self._batch or _monotonic() >= self._due:
            self.flush()

    def _begin(self, env: Any) -> None:
        logger = self._logger
        logger.params(dict(env.params or {}))
        run = logger.owner.run
        self._batch = logger.prune_on is None and hasattr(run, "before_finish")
        if self._batch:
            run.before_finish(self.flush)
        self._due = _monotonic() + _BATCH_SECONDS

    def flush(self) -> None:
        """Write the rounds held back (called every half second, at the end, and by the run
        when it ends)."""
        pending, self._pending = self._pending, []
        self._due = _monotonic() + _BATCH_SECONDS
        if not pending:
            return
        keys = self._keys
        logger = self._logger
        for iteration, results in pending:
            values: dict[str, float] = {}
            for item in results or ():
                names = keys.get((item[0], item[1]))
                if names is None:  # once per (set, metric): key checks stay off this loop
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
            logger.round(iteration, values, last=True)  # rounds were picked by log_every

    def log_importances(self, booster: Any) -> None:
        """Write the booster's feature importances (call after early stopping ended training)."""
        self.flush()
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
        self.flush()
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
