"""Sweeps: search spaces, Optuna samplers and pruners through ask-and-tell, local and Ray executors.

import loopml

def objective(params, run):
    ...
    return {"val_acc": acc}

sweep = loopml.sweep(objective, {"lr": loopml.loguniform(1e-4, 1e-1)}, n_trials=32)
sweep.best_trial
"""

from typing import TYPE_CHECKING, Any

from loopml._lazy import lazy_exports

# Public name -> the module that defines it, imported on first access (PEP 562): importing
# the package stays cheap (no SQLAlchemy, pandas or Optuna until a name that needs them is used).
_EXPORTS = {
    "loopml.sweeps._analysis": (
        "BestTrial",
        "CurvePoint",
        "Importances",
        "SweepAnalysis",
        "TrialPoint",
        "analyze",
        "best_trial",
        "choose_objective",
        "points_from_runs",
        "points_from_trials",
        "ranked",
    ),
    "loopml.sweeps._api": (
        "load_sweep",
        "resume_sweep",
        "sweep",
    ),
    "loopml.sweeps._file": ("read_sweep_file",),
    "loopml.sweeps._objective": (
        "CommandObjective",
        "CommandTrialError",
    ),
    "loopml.sweeps._space": (
        "Param",
        "choice",
        "intrange",
        "loguniform",
        "uniform",
    ),
    "loopml.sweeps._sweep": ("Sweep",),
    "loopml.sweeps._trial": (
        "TrialPruned",
        "TrialResult",
        "TrialRun",
        "TrialSpec",
    ),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from loopml.sweeps._analysis import (
        BestTrial,
        CurvePoint,
        Importances,
        SweepAnalysis,
        TrialPoint,
        analyze,
        best_trial,
        choose_objective,
        points_from_runs,
        points_from_trials,
        ranked,
    )
    from loopml.sweeps._api import load_sweep, resume_sweep, sweep
    from loopml.sweeps._file import read_sweep_file
    from loopml.sweeps._objective import CommandObjective, CommandTrialError
    from loopml.sweeps._space import Param, choice, intrange, loguniform, uniform
    from loopml.sweeps._sweep import Sweep
    from loopml.sweeps._trial import TrialPruned, TrialResult, TrialRun, TrialSpec


def worker_data() -> Any:
    """What the sweep's ``setup`` hook returned in this worker process (None without one)."""
    from loopml.sweeps import _worker_state

    return _worker_state.value


__all__ = [
    "BestTrial",
    "CommandObjective",
    "CommandTrialError",
    "CurvePoint",
    "Importances",
    "Param",
    "Sweep",
    "SweepAnalysis",
    "TrialPoint",
    "TrialPruned",
    "TrialResult",
    "TrialRun",
    "TrialSpec",
    "analyze",
    "best_trial",
    "choice",
    "choose_objective",
    "intrange",
    "load_sweep",
    "loguniform",
    "points_from_runs",
    "points_from_trials",
    "ranked",
    "read_sweep_file",
    "resume_sweep",
    "sweep",
    "uniform",
    "worker_data",
]
