"""XGBoost: ``loopml.integrations.xgboost.callback()`` for ``xgb.train`` and the sklearn API.

Logs every evaluation metric of every ``evals`` set per boosting round (``validation_0/rmse``
...), the booster's config, and after training the feature importances (gain, weight, cover)
as ``feature_importance.csv``. Inside a sweep trial, ``prune_on="valid/rmse"`` reports that
metric each round and raises ``loopml.sweeps.TrialPruned`` when the sweep's pruner says stop.
"""

from __future__ import annotations

from typing import Any

from loopml.integrations._boosting import RoundLogger
from loopml.integrations._common import metric_key, require

__all__ = ["BELOW_VERSION", "MIN_VERSION", "callback"]

MIN_VERSION, BELOW_VERSION = "2.0", "4"


def callback(
    run: Any = None,
    *,
    project: str | None = None,
    prune_on: str | None = None,
    log_every: int = 1,
    log_importance: bool = True,
) -> Any:
    """An ``xgboost.callback.TrainingCallback`` logging to ``run`` (default: active, else new).

    ``project`` starts a new run there even when one is active. ``prune_on`` (a metric key such
    as ``"valid/rmse"``) reports it to the sweep's pruner each round. ``log_every`` logs every
    N-th round (the last is always logged).
    """
    xgb: Any = require("xgboost", "xgboost", MIN_VERSION, BELOW_VERSION)
    logger = RoundLogger(run, project, "xgboost", prune_on, log_every)

    class LoopmlCallback(xgb.callback.TrainingCallback):
        """Logs each round's evaluation metrics and the importances after training."""

        def before_training(self, model: Any) -> Any:
            import json

            try:
                config = json.loads(model.save_config())
                learner = config.get("learner", {})
                params = {
                    **learner.get("gradient_booster", {}).get("tree_train_param", {}),
                    **learner.get("learner_train_param", {}),
                }
            except Exception:
                params = {}
            logger.params({k: _number(v) for k, v in params.items()})
            return model

        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            values = {
                metric_key(data, name): float(
                    series[-1][0] if isinstance(series[-1], tuple) else series[-1]
                )
                for data, metrics in evals_log.items()
                for name, series in metrics.items()
                if series
            }
            logger.round(epoch, values)
            return False

        def after_training(self, model: Any) -> Any:
            if log_importance:
                table = {}
                for kind in ("gain", "weight", "cover"):
                    try:
                        table[kind] = {
                            k: float(v) for k, v in model.get_score(importance_type=kind).items()
                        }
                    except Exception:
                        continue
                logger.importances(table)
            logger.close()
            return model

    return LoopmlCallback()


def _number(value: Any) -> Any:
    # XGBoost's saved config holds every value as text: give numbers back their type.
    if not isinstance(value, str):
        return value
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            continue
    return value
