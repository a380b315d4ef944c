"""Sweep analysis: one set of rules (best, best so far, importances, ranking) for API, pages and CLI."""

from __future__ import annotations

from typing import Any

import pytest

import loopml
from loopml.sweeps import (
    TrialPoint,
    analyze,
    best_trial,
    choose_objective,
    points_from_runs,
    ranked,
)
from loopml.sweeps._analysis import (
    MIN_IMPORTANCE_TRIALS,
    best_so_far,
    guess_direction,
    normalize_direction,
    param_importances,
)
from tests.sweeps_tests._objectives import quadratic


def _point(n: int, value: float | None, state: str = "finished", **params: Any) -> TrialPoint:
    return TrialPoint(n, f"run{n}", f"t-{n}", state, value, params, {})


def test_only_finished_trials_with_a_finite_value_count() -> None:
    points = [
        _point(0, 0.5),
        _point(1, 0.9, state="pruned"),  # reported 0.9 before it was stopped: never best
        _point(2, None, state="failed"),
        _point(3, 0.7, state="running"),
        _point(4, 0.6),
    ]
    assert best_trial(points, "max").run_id == "run4"  # type: ignore[union-attr]
    assert best_trial(points, "minimize").run_id == "run0"  # type: ignore[union-attr]
    assert [p.run_id for p in ranked(points, "max")] == ["run4", "run0"]
    curve = best_so_far(points, "maximize")
    assert [c.value for c in curve] == [0.5, 0.9, None, 0.7, 0.6]  # shown as reported
    assert [c.best for c in curve] == [0.5, 0.5, 0.5, 0.5, 0.6]  # moved only by counted trials
    assert best_trial([_point(0, None, state="failed")], "max") is None


def test_ties_keep_the_first_trial() -> None:
    points = [_point(0, 1.0), _point(1, 1.0), _point(2, 2.0)]
    assert best_trial(points, "min").run_id == "run0"  # type: ignore[union-attr]
    assert [p.run_id for p in ranked(points, "min")] == ["run0", "run1", "run2"]


def test_directions() -> None:
    assert normalize_direction("max") == normalize_direction("MAXIMIZE") == "maximize"
    assert normalize_direction("min") == "minimize"
    with pytest.raises(loopml.ValidationError, match="'sideways'"):
        normalize_direction("sideways")
    assert guess_direction("val_loss") == "minimize" and guess_direction("val_acc") == "maximize"
    assert guess_direction(None) == "maximize"


def test_importances_need_enough_trials_and_are_repeatable() -> None:
    few = [_point(i, float(i), x=i / 10) for i in range(MIN_IMPORTANCE_TRIALS - 1)]
    found = param_importances(few, "max")
    assert found.values == {} and f"at least {MIN_IMPORTANCE_TRIALS}" in found.note
    points = [
        _point(i, (x - 0.3) ** 2 + 0.01 * y, x=x, y=y, opt=["a", "b"][i % 2])
        for i, (x, y) in enumerate((i / 16, ((i * 7) % 16) / 16) for i in range(16))
    ]
    first = param_importances(points, "min")
    assert set(first.values) == {"x", "y", "opt"} and first.note == ""
    assert max(first.values, key=first.values.__getitem__) == "x"
    assert param_importances(points, "min") == first  # seeded: the same numbers every time
    same = [_point(i, float(i), x=1) for i in range(5)]
    assert param_importances(same, "max").note == "no parameter varies across the trials"


def test_stored_distributions_are_used_when_every_trial_has_them() -> None:
    from optuna.distributions import FloatDistribution, distribution_to_json

    dist = {"x": distribution_to_json(FloatDistribution(0.0, 1.0))}
    points = [
        TrialPoint(i, f"r{i}", f"t{i}", "finished", (i / 8) ** 2, {"x": i / 8, "fixed": 3}, dist)
        for i in range(8)
    ]
    assert set(param_importances(points, "min").values) == {"x"}  # only the sampled param


def test_analyze_gathers_everything() -> None:
    points = [_point(0, 3.0, x=0.1), _point(1, 1.0, x=0.5), _point(2, None, state="failed")]
    a = analyze(points, "loss", "min")
    assert a.direction == "minimize" and a.metric == "loss"
    assert a.best is not None and a.best.run_id == "run1"
    assert dict(a.by_status) == {"finished": 2, "failed": 1}
    assert [c.best for c in a.curve] == [3.0, 1.0, 1.0]
    assert a.importances.values == {}  # two counted trials are too few
    skipped = analyze(points[:2], "loss", "min", importances=False)
    assert skipped.importances.values == {} and skipped.importances.note


def test_objective_from_runs_request_record_or_guess() -> None:
    with loopml.init(project="obj") as run:
        run.log({"val_loss": 0.5, "train_time": 3.0})
    with loopml.init(project="obj") as run:
        run.log({"val_loss": 0.4})
    from loopml.tracking import default_session

    runs = default_session().store.runs.search("obj", None, "created_at", None)
    assert choose_objective(runs) == ("val_loss", "minimize")  # most logged, a loss
    assert choose_objective(runs, "train_time", "maximize") == ("train_time", "maximize")
    assert choose_objective(runs, "nope", "sideways") == ("val_loss", "minimize")
    stored = choose_objective(runs, stored_metric="val_loss", stored_direction="max")
    assert stored == ("val_loss", "maximize")
    # A stored direction belongs to the stored metric; another metric gets its own guess.
    assert (
        choose_objective(runs, "train_time", stored_metric="val_loss", stored_direction="max")[1]
        == "minimize"
    )
    points = points_from_runs(runs, "val_loss")
    assert [p.value for p in points] == [0.5, 0.4] and [p.number for p in points] == [0, 1]


def test_sweep_api_uses_the_analysis() -> None:
    space = {"x": loopml.uniform(0, 1), "y": loopml.uniform(0, 1)}
    sweep = loopml.sweep(quadratic, space, n_trials=8, sampler="random", seed=1, progress=False)
    a = sweep.analysis()
    assert a.direction == "maximize" and a.metric == "val_acc"
    assert a.best is not None and a.best.run_id == sweep.best_trial.run_id
    assert a.best.value == sweep.best_value == max(sweep.trials["value"])
    assert a.best.name == loopml.get_run(a.best.run_id).name  # points carry the runs' names
    assert dict(a.importances.values) == sweep.importances()
    assert sweep.importances() == loopml.load_sweep(sweep.id).importances()  # seeded
