"""Sweep errors sit under LoopmlError; raising loopml's or Optuna's TrialPruned prunes a trial."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import optuna
import pytest

import loopml
from loopml.sweeps import CommandObjective, CommandTrialError, TrialPruned


def _prune_with(params: dict[str, Any], run: Any) -> float:
    if params["kind"] == "loopml":
        raise TrialPruned()
    if params["kind"] == "optuna":
        raise optuna.TrialPruned()
    return 1.0


def test_both_trial_pruned_exceptions_prune() -> None:
    assert issubclass(TrialPruned, loopml.LoopmlError)
    assert issubclass(CommandTrialError, loopml.LoopmlError)
    sweep = loopml.sweep(
        _prune_with,
        {"kind": loopml.choice(["loopml", "optuna", "none"])},
        n_trials=3,
        sampler="grid",
        progress=False,
    )
    states = dict(zip(sweep.trials["params.kind"], sweep.trials["state"], strict=True))
    assert states == {"loopml": "pruned", "optuna": "pruned", "none": "finished"}


@pytest.mark.parametrize(
    ("script", "needle"),
    [
        ("import sys; sys.exit(3)", "command exited with code 3"),
        ("print('no loopml here')", "never logged 'val_acc'"),
    ],
)
def test_a_failing_command_fails_its_trial_with_a_loopml_error(
    tmp_path: Path, script: str, needle: str
) -> None:
    (tmp_path / "train.py").write_text(script)
    objective = CommandObjective(f"{sys.executable} train.py --x {{x}}", metric="val_acc")
    sweep = loopml.sweep(
        objective, {"x": loopml.uniform(0, 1)}, n_trials=1, cache=False, progress=False
    )
    record = loopml.get_run(sweep.trials["run_id"][0])
    assert sweep.trials["state"][0] == "failed"
    assert "CommandTrialError" in (record.error or "") and needle in (record.error or "")
