"""Sweeps: search spaces, Optuna samplers and pruners through ask-and-tell, local and Ray executors.

import loopml

def objective(params, run):
    ...
    return {"val_acc": acc}

sweep = loopml.sweep(objective, {"lr": loopml.loguniform(1e-4, 1e-1)}, n_trials=32)
sweep.best_trial
"""

from typing import Any

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
