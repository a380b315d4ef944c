"""A sweep as the dashboard shows it: its runs (trials sharing a ``sweep_id``) and their analysis.

The store reads happen here; every rule (objective metric and direction, best trial, best-so-far
curve, importances) is ``loopml.sweeps``'s analysis. The metric and direction come from the
request, else from the sweep's own record when the sweeps capability stored one, else a guess.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from loopml.store import RunRecord, Store
from loopml.sweeps import SweepAnalysis, analyze, choose_objective, points_from_runs

__all__ = ["SweepView", "build_sweep_view"]


@dataclass(frozen=True)
class SweepView:
    """Everything the sweep page shows: the runs and what the analysis says about them."""

    sweep_id: str
    project: str
    trials: list[RunRecord]
    analysis: SweepAnalysis
    metric_keys: list[str]
    budget: int | None = None
    name: str | None = None
    status: str | None = None

    @property
    def metric(self) -> str | None:
        """The objective metric shown."""
        return self.analysis.metric

    @property
    def direction(self) -> str:
        """``maximize`` or ``minimize``."""
        return self.analysis.direction

    @property
    def by_status(self) -> dict[str, int]:
        """Trial counts by run status."""
        return dict(self.analysis.by_status)

    @property
    def best(self) -> RunRecord | None:
        """The best trial's run."""
        best = self.analysis.best
        return next((t for t in self.trials if best and t.id == best.run_id), None)

    @property
    def curve(self) -> list[dict[str, Any]]:
        """The best-so-far curve as JSON rows (n, id, name, value, best)."""
        return [asdict(p) for p in self.analysis.curve]

    @property
    def importances(self) -> dict[str, float]:
        """Parameter importances, largest first."""
        return dict(self.analysis.importances.values)

    @property
    def importance_note(self) -> str:
        """Why there are no importances (empty when there are)."""
        return self.analysis.importances.note


def build_sweep_view(
    store: Store, sweep_id: str, metric: str | None = None, direction: str | None = None
) -> SweepView:
    """Trials, progress, best-so-far curve and parameter importances of sweep ``sweep_id``."""
    from loopml._errors import NotFoundError

    trials = store.sweeps.trial_runs(sweep_id)
    if not trials:
        raise NotFoundError(f"no sweep {sweep_id!r} has trials; list sweeps at /sweeps")
    record = store.sweeps.info(sweep_id)
    metric, goal = choose_objective(
        trials,
        metric,
        direction,
        stored_metric=record.metric if record else None,
        stored_direction=record.direction if record else None,
    )
    dists = store.sweeps.distributions(sweep_id) if record else {}
    analysis = analyze(points_from_runs(trials, metric, dists), metric, goal)
    return SweepView(
        sweep_id,
        trials[0].project,
        trials,
        analysis,
        metric_keys=sorted({k for t in trials for k in t.metrics}),
        budget=record.budget if record else None,
        name=record.name if record else None,
        status=record.status if record else None,
    )
