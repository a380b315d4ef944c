"""Search spaces and argument checks: bad input fails early with a message that teaches."""

from __future__ import annotations

import pytest

import loopml
from loopml import ValidationError
from loopml.sweeps._space import SpaceSpec
from tests.sweeps_tests._objectives import quadratic


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda: loopml.uniform(1, 1), "low must be below high"),
        (lambda: loopml.uniform(0, float("inf")), "finite"),
        (lambda: loopml.loguniform(0, 1), "0 < low < high"),
        (lambda: loopml.intrange(1.5, 3), "integer"),
        (lambda: loopml.intrange(5, 2), "low <= high"),
        (lambda: loopml.choice([]), "non-empty list"),
        (lambda: loopml.choice("abc"), "non-empty list"),
        (lambda: loopml.choice([[1, 2]]), "must be str, int, float, bool or None"),
    ],
)
def test_bad_helpers(make, needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        make()


@pytest.mark.parametrize(
    ("space", "needle"),
    [
        ({}, "search space is empty"),
        ({"x": [1, 2]}, "use loopml.uniform"),
        ({"x": 1}, "only fixed values"),
        (42, "a space is a dict"),
    ],
)
def test_bad_spaces(space, needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        loopml.sweep(quadratic, space, n_trials=1, progress=False)


def test_grid_needs_finite_values() -> None:
    with pytest.raises(ValidationError, match="finitely many values"):
        SpaceSpec({"x": loopml.uniform(0, 1)}).grid()
    grid = SpaceSpec(
        {"x": loopml.uniform(0, 1, step=0.5), "n": loopml.intrange(1, 3), "c": loopml.choice(["a"])}
    ).grid()
    assert grid == {"x": [0.0, 0.5, 1.0], "n": [1, 2, 3], "c": ["a"]}


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"n_trials": 0}, "n_trials must be a positive integer"),
        ({"parallel": -1}, "parallel must be a positive integer"),
        ({"direction": "up"}, "direction must be 'max' or 'min'"),
        ({"metric": ""}, "metric must be the name"),
        ({"sampler": "bayes"}, "unknown sampler 'bayes'"),
        ({"pruner": "early"}, "unknown pruner 'early'"),
        ({"executor": "slurm"}, "executor 'slurm' is unknown"),
        ({"timeout_per_trial": -1}, "timeout_per_trial must be a positive"),
        ({"retries": -1}, "retries must be a non-negative"),
    ],
)
def test_bad_arguments(kwargs, needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        loopml.sweep(quadratic, {"x": loopml.uniform(0, 1)}, progress=False, **kwargs)


def test_space_round_trips_through_json() -> None:
    space = {
        "x": loopml.loguniform(1e-3, 1.0),
        "n": loopml.intrange(2, 8, step=2),
        "c": loopml.choice(["a", None]),
        "k": 3,
    }
    spec = SpaceSpec.from_json(SpaceSpec(space).to_json())  # type: ignore[arg-type]
    assert spec.sampled == SpaceSpec(space).sampled and spec.fixed == {"k": 3}
