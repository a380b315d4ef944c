"""Sweep analysis, one set of rules for the Python API, the dashboard and the CLI.

What a sweep's trials say: the objective (metric and direction), the best trial, the best-so-far
curve, the parameter importances and the trials ranked best first. The functions take records
(stored trials or runs) that their callers fetched, and return frozen dataclasses; the callers
only format them.

The rules, in one place:
- A trial *counts* when it finished with a finite value. Only counted trials can be best, move
  the best-so-far line or feed the importances; a pruned, failed or still running trial is shown
  with the value it reported but never counts.
- Directions are ``maximize`` / ``minimize`` (the sweeps store's ``max`` / ``min`` are read too).
- Without a stored objective, the metric is the one most trials logged (``val*``, ``test*`` and
  ``score*`` win ties) and names that look like a loss or an error are minimised.
- Importances: Optuna's fANOVA, seeded (the same trials give the same numbers every time), over at
  least :data:`MIN_IMPORTANCE_TRIALS` counted trials, on the distributions the sweep sampled from
  when they were stored, else on distributions inferred from the values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from loopml._errors import ValidationError

if TYPE_CHECKING:
    from loopml.store import RunRecord

__all__ = [
    "FANOVA_SEED",
    "MIN_IMPORTANCE_TRIALS",
    "BestTrial",
    "CurvePoint",
    "Direction",
    "Importances",
    "SweepAnalysis",
    "TrialPoint",
    "analyze",
    "best_so_far",
    "best_trial",
    "choose_objective",
    "guess_direction",
    "guess_metric",
    "normalize_direction",
    "param_importances",
    "points_from_runs",
    "points_from_trials",
    "ranked",
    "state_counts",
]

Direction = Literal["maximize", "minimize"]

#: Fewer counted trials than this and fANOVA has nothing to say (its forest needs a spread).
MIN_IMPORTANCE_TRIALS = 3
#: The fANOVA forest's seed: the same trials always give the same importances.
FANOVA_SEED = 0

_MINIMISED = ("loss", "err", "mse", "mae", "rmse", "perplexity", "latency", "time")
_DIRECTIONS: dict[str, Direction] = {
    "max": "maximize",
    "maximize": "maximize",
    "min": "minimize",
    "minimize": "minimize",
}


@dataclass(frozen=True)
class TrialPoint:
    """One trial as the analysis sees it: its order, run, state, value and params.

    ``value`` is what the trial reported (None when it reported nothing finite);
    ``distributions`` are the Optuna distributions (as JSON) its params were sampled from, empty
    when unknown (runs logged outside a sweep's own record).
    """

    number: int
    run_id: str
    name: str
    state: str
    value: float | None
    params: Mapping[str, Any]
    distributions: Mapping[str, str]

    @property
    def counts(self) -> bool:
        """Whether the trial can be best: it finished with a finite value."""
        return self.state == "finished" and self.value is not None


@dataclass(frozen=True)
class BestTrial:
    """The best finished trial: its number, run, value and params."""

    number: int
    run_id: str
    value: float
    params: dict[str, Any]


@dataclass(frozen=True)
class CurvePoint:
    """One trial on the best-so-far curve: its position ``n`` (from 1), its value, the best yet."""

    n: int
    id: str
    name: str
    value: float | None
    best: float | None


@dataclass(frozen=True)
class Importances:
    """Parameter importances (name -> share, largest first), or an empty mapping and why."""

    values: Mapping[str, float]
    note: str = ""


@dataclass(frozen=True)
class SweepAnalysis:
    """Everything the analysis says about a sweep's trials."""

    metric: str | None
    direction: Direction
    trials: tuple[TrialPoint, ...]
    by_status: Mapping[str, int]
    best: TrialPoint | None
    curve: tuple[CurvePoint, ...]
    importances: Importances


# -- objective ------------------------------------------------------------------------------------
def normalize_direction(direction: str) -> Direction:
    """``maximize`` or ``minimize`` from any spelling loopml accepts (``max``, ``min`` too)."""
    found = _DIRECTIONS.get(str(direction).lower()) if isinstance(direction, str) else None
    if found is None:
        raise ValidationError(
            f"direction must be 'maximize' or 'minimize' ('max' / 'min'), got {direction!r}"
        )
    return found


def guess_direction(metric: str | None) -> Direction:
    """``minimize`` for loss- or error-like names, ``maximize`` otherwise."""
    name = (metric or "").lower()
    return "minimize" if any(w in name for w in _MINIMISED) else "maximize"


def guess_metric(runs: Iterable[RunRecord]) -> str | None:
    """The metric most runs logged (``val*``, ``test*``, ``score*`` win ties); None without any."""
    counts: dict[str, int] = {}
    for r in runs:
        for k in r.metrics:
            counts[k] = counts.get(k, 0) + 1
    if not counts:
        return None
    return max(sorted(counts), key=lambda k: (counts[k], k.startswith(("val", "test", "score"))))


def choose_objective(
    runs: Sequence[RunRecord],
    metric: str | None = None,
    direction: str | None = None,
    stored_metric: str | None = None,
    stored_direction: str | None = None,
) -> tuple[str | None, Direction]:
    """The metric and direction to analyse runs by.

    The asked-for ``metric`` when some run logged it, else the sweep's stored one when runs
    logged it, else a guess; the asked-for ``direction`` when valid, else the stored one when it
    belongs to the chosen metric, else a guess from the metric's name.
    """
    keys = {k for r in runs for k in r.metrics}
    if metric not in keys:
        metric = stored_metric if stored_metric in keys else guess_metric(runs)
    for candidate in (direction, stored_direction if stored_metric == metric else None):
        if isinstance(candidate, str) and candidate.lower() in _DIRECTIONS:
            return metric, _DIRECTIONS[candidate.lower()]
    return metric, guess_direction(metric)


# -- records -> points ----------------------------------------------------------------------------
def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def points_from_trials(rows: Iterable[Any], sweep_name: str | None = None) -> list[TrialPoint]:
    """Points from a sweep's stored trials (``TrialRow``: number, run_id, state, value...).

    Each trial's run is named ``<sweep_name>-<number>`` (``trial-<number>`` without a name).
    """
    prefix = sweep_name or "trial"
    return [
        TrialPoint(
            number=t.number,
            run_id=t.run_id,
            name=f"{prefix}-{t.number}",
            state=t.state,
            value=_finite(t.value),
            params=t.params,
            distributions=t.distributions,
        )
        for t in rows
    ]


def points_from_runs(
    runs: Iterable[RunRecord],
    metric: str | None,
    distributions: Mapping[str, Mapping[str, str]] | None = None,
) -> list[TrialPoint]:
    """Points from a sweep's runs, in the order given: the value is ``metric``'s last value.

    ``distributions`` maps run ids to the distributions the sweep sampled them from, when stored.
    """
    distributions = distributions or {}
    out = []
    for number, r in enumerate(runs):
        s = r.metrics.get(metric) if metric else None
        out.append(
            TrialPoint(
                number=number,
                run_id=r.id,
                name=r.name,
                state=r.status,
                value=_finite(s.last) if s is not None else None,
                params=r.params,
                distributions=distributions.get(r.id) or {},
            )
        )
    return out


# -- the analysis ---------------------------------------------------------------------------------
def _better(direction: Direction) -> Any:
    sign = -1.0 if direction == "minimize" else 1.0
    return lambda a, b: sign * a > sign * b


def best_trial(points: Iterable[TrialPoint], direction: str) -> TrialPoint | None:
    """The counted trial with the best value (the first of equals); None when none counts."""
    better = _better(normalize_direction(direction))
    best: TrialPoint | None = None
    for p in points:
        if p.counts and (best is None or better(p.value, best.value)):
            best = p
    return best


def ranked(points: Iterable[TrialPoint], direction: str) -> list[TrialPoint]:
    """The counted trials, best first (equal values keep their order)."""
    maximize = normalize_direction(direction) == "maximize"
    counted = [p for p in points if p.counts]
    counted.sort(key=lambda p: -(p.value or 0.0) if maximize else (p.value or 0.0))
    return counted


def best_so_far(points: Iterable[TrialPoint], direction: str) -> list[CurvePoint]:
    """Every trial in order with its value and the best counted value up to it."""
    better = _better(normalize_direction(direction))
    best: float | None = None
    curve = []
    for n, p in enumerate(points, start=1):
        if p.counts and (best is None or better(p.value, best)):
            best = p.value
        curve.append(CurvePoint(n, p.run_id, p.name, p.value, best))
    return curve


def state_counts(points: Iterable[TrialPoint]) -> dict[str, int]:
    """How many trials are in each state, in the order states first appear."""
    out: dict[str, int] = {}
    for p in points:
        out[p.state] = out.get(p.state, 0) + 1
    return out


def _inferred(values: list[Any]) -> Any:
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
        # A positive range over two orders of magnitude was most likely sampled on a log scale.
        return FloatDistribution(lo, hi, log=lo > 0 and hi / lo > 100)
    choices = sorted({str(v) for v in values})
    return CategoricalDistribution(choices) if len(choices) > 1 else None


def param_importances(points: Sequence[TrialPoint], direction: str) -> Importances:
    """Optuna's fANOVA importances (seeded) over the counted trials; empty with a note if not.

    Uses the distributions every counted trial stored (the params they share), else infers them
    from the values (ints, floats on a log scale when they span 100x, categories as strings).
    """
    goal = normalize_direction(direction)
    done = [p for p in points if p.counts]
    if len(done) < MIN_IMPORTANCE_TRIALS:
        return Importances(
            {},
            f"parameter importances need at least {MIN_IMPORTANCE_TRIALS} finished trials "
            "with a finite objective",
        )
    import optuna
    from optuna.distributions import json_to_distribution
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    dists: dict[str, Any] = {}
    stored = all(p.distributions for p in done)
    if stored:
        shared = set(done[0].distributions)
        for p in done:
            shared &= set(p.distributions) & set(p.params)
        dists = {k: json_to_distribution(done[0].distributions[k]) for k in sorted(shared)}
    if not dists:
        stored = False
        common = set(done[0].params)
        for p in done:
            common &= set(p.params)
        for k in sorted(common):
            d = _inferred([p.params[k] for p in done])
            if d is not None:
                dists[k] = d
    if not dists:
        return Importances({}, "no parameter varies across the trials")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(direction=goal)
        for p in done:
            params = {
                # Inferred categories are the values as strings (a mix of types sorts as text).
                k: p.params[k]
                if stored or not isinstance(d, optuna.distributions.CategoricalDistribution)
                else str(p.params[k])
                for k, d in dists.items()
            }
            study.add_trial(
                optuna.trial.create_trial(params=params, distributions=dists, value=p.value)
            )
        found = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=FANOVA_SEED))
    except Exception as exc:  # importances are a hint; a numerical failure must not break a page
        return Importances({}, f"could not compute importances: {exc}")
    return Importances({k: float(v) for k, v in found.items()})


def analyze(
    points: Sequence[TrialPoint], metric: str | None, direction: str, importances: bool = True
) -> SweepAnalysis:
    """The whole analysis of a sweep's trials (in the order they started).

    ``importances=False`` skips fANOVA (the slow part) and leaves an empty result with a note.
    """
    goal = normalize_direction(direction)
    return SweepAnalysis(
        metric=metric,
        direction=goal,
        trials=tuple(points),
        by_status=state_counts(points),
        best=best_trial(points, goal),
        curve=tuple(best_so_far(points, goal)),
        importances=(
            param_importances(points, goal)
            if importances
            else Importances({}, "importances not computed")
        ),
    )
