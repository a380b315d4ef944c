"""``Sweep``: a handle on a stored sweep (best trial, trials as a DataFrame, importances, resume)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from loopml._errors import LoopmlError, NotFoundError
from loopml.sweeps._analysis import (
    BestTrial,
    SweepAnalysis,
    analyze,
    best_trial,
    param_importances,
    points_from_trials,
)

if TYPE_CHECKING:
    import pandas as pd

    from loopml.store import SweepRecord, SweepStore, TrialRow

__all__ = ["Sweep"]


class Sweep:
    """A sweep as stored: read its trials, find the best, resume it."""

    def __init__(
        self,
        sweeps: SweepStore | None,
        record: SweepRecord,
        objective: Callable[..., Any] | None = None,
        resumer: Callable[..., Sweep] | None = None,
        opener: Callable[[], SweepStore] | None = None,
    ) -> None:
        if sweeps is None and opener is None:
            raise LoopmlError("a Sweep needs its store's sweeps surface, or a function opening it")
        self._store = sweeps
        # Opens the store on first read: a sweep written through a store process returns
        # without this process ever importing the store.
        self._opener = opener
        self.record = record
        self._objective = objective
        # ``loopml.resume_sweep``, handed in by the module that builds sweeps (it imports this
        # one, so importing it back would close a circle).
        self._resumer = resumer

    @property
    def _sweeps(self) -> SweepStore:
        if self._store is None:
            assert self._opener is not None
            self._store = self._opener()
        return self._store

    def __repr__(self) -> str:
        return f"Sweep(id={self.id!r}, name={self.record.name!r}, status={self.status!r})"

    @property
    def id(self) -> str:
        """The sweep's id."""
        return self.record.id

    @property
    def name(self) -> str:
        """The sweep's name (its trials' runs are named ``<name>-<number>``)."""
        return self.record.name

    @property
    def status(self) -> str:
        """``running``, ``finished`` or ``stopped`` (as stored now)."""
        return self._sweeps.get(self.id).status

    def trial_rows(self) -> list[TrialRow]:
        """The stored trials, by number."""
        return self._sweeps.load_trials(self.id)

    @property
    def trials(self) -> pd.DataFrame:
        """One row per trial: number, run_id, state, value, attempts, cached_from, duration, ``params.*``."""
        import pandas as pd

        rows = []
        for t in self.trial_rows():
            row: dict[str, Any] = {
                "number": t.number,
                "run_id": t.run_id,
                "state": t.state,
                "value": t.value,
                "attempts": t.attempts,
                "cached_from": t.cached_from,
                "duration": None if t.ended_at is None else t.ended_at - t.started_at,
            }
            row.update({f"params.{k}": v for k, v in t.params.items()})
            rows.append(row)
        columns = ["number", "run_id", "state", "value", "attempts", "cached_from", "duration"]
        return pd.DataFrame(rows) if rows else pd.DataFrame(columns=columns)

    def analysis(self, importances: bool = True) -> SweepAnalysis:
        """Best trial, best-so-far curve, state counts and importances (see ``loopml.sweeps``)."""
        points = points_from_trials(self.trial_rows(), self.name)
        return analyze(points, self.record.metric, self.record.direction, importances)

    @property
    def best_trial(self) -> BestTrial:
        """The best finished trial (raises NotFoundError when none finished)."""
        best = best_trial(points_from_trials(self.trial_rows()), self.record.direction)
        if best is None or best.value is None:
            raise NotFoundError(
                f"sweep {self.id} has no finished trial yet; see sweep.trials for what happened"
            )
        return BestTrial(best.number, best.run_id, best.value, dict(best.params))

    @property
    def best_value(self) -> float:
        """The best trial's value."""
        return self.best_trial.value

    @property
    def best_params(self) -> dict[str, Any]:
        """The best trial's params."""
        return self.best_trial.params

    def importances(self) -> dict[str, float]:
        """Parameter importances (Optuna's fANOVA, seeded) over the finished trials.

        Empty when fewer than three trials finished or no sampled param varies.
        """
        points = points_from_trials(self.trial_rows())
        return dict(param_importances(points, self.record.direction).values)

    def resume(self, n_trials: int | None = None, **kwargs: Any) -> Sweep:
        """Continue this sweep (see :func:`loopml.resume_sweep`)."""
        if self._resumer is None:
            raise LoopmlError(
                f"this handle on sweep {self.id} cannot resume it; use "
                f"loopml.resume_sweep({self.id!r}, objective=fn)"
            )
        return self._resumer(self.id, self._objective, n_trials=n_trials, **kwargs)
