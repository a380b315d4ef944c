"""A sweep as the dashboard shows it, built from its trials (runs sharing a ``sweep_id``).

The objective metric and direction come from the request, else from the sweep's own record
when the sweeps capability stored one, else from a guess (the metric most trials logged;
names with ``loss`` or ``err`` are minimised).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from loopml.store import RunRecord, Store

__all__ = ["SweepView", "build_sweep_view", "param_importances"]

_MINIMISED = ("loss", "err", "mse", "mae", "rmse", "perplexity", "latency", "time")


@dataclass
class SweepView:
    """Everything the sweep page shows."""

    sweep_id: str
    project: str
    metric: str | None
    direction: str
    trials: list[RunRecord]
    by_status: dict[str, int]
    budget: int | None = None
    best: RunRecord | None = None
    curve: list[dict[str, Any]] = field(default_factory=list)
    importances: dict[str, float] = field(default_factory=dict)
    importance_note: str = ""
    metric_keys: list[str] = field(default_factory=list)
    name: str | None = None
    status: str | None = None


def _guess_metric(trials: list[RunRecord]) -> str | None:
    counts: dict[str, int] = {}
    for t in trials:
        for k in t.metrics:
            counts[k] = counts.get(k, 0) + 1
    if not counts:
        return None
    return max(sorted(counts), key=lambda k: (counts[k], k.startswith(("val", "test", "score"))))


def guess_direction(metric: str | None) -> str:
    """``minimize`` for loss-like names, ``maximize`` otherwise."""
    name = (metric or "").lower()
    return "minimize" if any(w in name for w in _MINIMISED) else "maximize"


def _value(t: RunRecord, metric: str | None) -> float | None:
    s = t.metrics.get(metric) if metric else None
    if s is None or not math.isfinite(s.last):
        return None
    return s.last


def build_sweep_view(
    store: Store, sweep_id: str, metric: str | None = None, direction: str | None = None
) -> SweepView:
    """Trials, progress, best-so-far curve and parameter importances of sweep ``sweep_id``."""
    from loopml._errors import NotFoundError

    trials = store.sweeps.trial_runs(sweep_id)
    if not trials:
        raise NotFoundError(f"no sweep {sweep_id!r} has trials; list sweeps at /sweeps")
    record = store.sweeps.info(sweep_id)
    keys = sorted({k for t in trials for k in t.metrics})
    if metric not in keys:
        metric = record.metric if record and record.metric in keys else _guess_metric(trials)
    if direction not in ("minimize", "maximize"):
        stored = record.direction if record and record.metric == metric else None
        direction = stored if stored in ("minimize", "maximize") else guess_direction(metric)
    goal = "minimize" if direction == "minimize" else "maximize"
    by_status: dict[str, int] = {}
    for t in trials:
        by_status[t.status] = by_status.get(t.status, 0) + 1
    view = SweepView(
        sweep_id,
        trials[0].project,
        metric,
        goal,
        trials,
        by_status,
        budget=record.budget if record else None,
        metric_keys=keys,
        name=record.name if record else None,
        status=record.status if record else None,
    )
    sign = -1.0 if goal == "minimize" else 1.0
    best_value: float | None = None
    for n, t in enumerate(trials, start=1):
        v = _value(t, metric)
        if v is not None and (best_value is None or sign * v > sign * best_value):
            best_value, view.best = v, t
        view.curve.append({"n": n, "id": t.id, "name": t.name, "value": v, "best": best_value})
    trial_dists = store.sweeps.distributions(sweep_id) if record else {}
    view.importances, view.importance_note = param_importances(trials, metric, goal, trial_dists)
    return view


def _distribution(values: list[Any]) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        lo, hi = min(values), max(values)
        return IntDistribution(lo, hi) if lo < hi else None
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        if not all(math.isfinite(v) for v in values):
            return None
        lo, hi = float(min(values)), float(max(values))
        if lo >= hi:
            return None
        return FloatDistribution(lo, hi, log=lo > 0 and hi / lo > 100)
    choices = sorted({str(v) for v in values})
    return CategoricalDistribution(choices) if len(choices) > 1 else None


def _stored_distributions(
    done: list[RunRecord], stored: dict[str, dict[str, str]]
) -> dict[str, Any]:
    from optuna.distributions import json_to_distribution

    per_trial = [stored.get(t.id) or {} for t in done]
    keys = set.intersection(*(set(d) for d in per_trial)) if per_trial else set()
    return {k: json_to_distribution(per_trial[0][k]) for k in sorted(keys)}


def param_importances(
    trials: list[RunRecord],
    metric: str | None,
    direction: str,
    stored: dict[str, dict[str, str]] | None = None,
) -> tuple[dict[str, float], str]:
    """Optuna's fANOVA importances on a study rebuilt from the trials; ({}, why) when it can't.

    ``stored`` holds the distributions the sweep sampled from (per run id); without them they
    are inferred from the values (ints, floats on a log scale when they span 100x, categories).
    """
    done = [t for t in trials if _value(t, metric) is not None]
    if len(done) < 3:
        return (
            {},
            f"parameter importances need at least 3 trials with a finite {metric or 'objective'}",
        )
    import optuna
    from optuna.distributions import CategoricalDistribution
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    dists = _stored_distributions(done, stored) if stored else {}
    if not dists:
        keys = sorted(set.intersection(*(set(t.params) for t in done)))
        for k in keys:
            d = _distribution([t.params[k] for t in done])
            if d is not None:
                dists[k] = d
    if not dists:
        return {}, "no parameter varies across the trials"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(direction="minimize" if direction == "minimize" else "maximize")
        for t in done:
            ps = {
                k: (
                    str(t.params[k])
                    if isinstance(d, CategoricalDistribution) and not stored
                    else t.params[k]
                )
                for k, d in dists.items()
            }
            study.add_trial(
                optuna.trial.create_trial(params=ps, distributions=dists, value=_value(t, metric))
            )
        found = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0))
    except Exception as exc:  # importances are a hint; a numerical failure must not break the page
        return {}, f"could not compute importances: {exc}"
    return {k: float(v) for k, v in found.items()}, ""
