"""The stdlib random search: ``sampler="random"`` over a dict space, without importing Optuna.

Random sampling needs no model of the trials so far, and Optuna (with NumPy) costs a fresh
process a fifth of a second to import: more than a 1,000-trial sweep of trivial trials takes to
run. So for ``sampler="random"`` with no pruner and a dict space the sweep draws params here,
from Python's ``random.Random(seed)``; the same seed gives the same params in loopml (they are
not the draws Optuna's ``RandomSampler`` would make). Distributions are stored in Optuna's JSON
form, so that a resumed sweep, the analysis and the dashboard read them as before.

Each draw follows the Optuna distribution's rule: floats uniform in ``[low, high]`` (in log
space for ``loguniform``; on the ``step`` grid when there is one), integers uniform over the
values of their range (``log=True``: log-uniform over ``[low - 0.5, high + 0.5]``, rounded),
choices uniform.
"""

from __future__ import annotations

import decimal
import json
import math
import random
from collections import deque
from typing import Any

from loopml.sweeps._space import Param, SpaceSpec

__all__ = ["RandomSearch", "distribution_json", "uses_stdlib_random"]


def uses_stdlib_random(sampler: Any, pruner: Any, space: SpaceSpec) -> bool:
    """Whether this sweep samples with :class:`RandomSearch` (else with an Optuna study)."""
    return sampler == "random" and pruner is None and space.function is None


def _step_high(low: float, high: float, step: float) -> float:
    # Optuna's FloatDistribution moves ``high`` down onto the step grid, in decimal arithmetic.
    d_low, d_high, d_step = (decimal.Decimal(str(v)) for v in (low, high, step))
    d_range = d_high - d_low
    if d_range % d_step != 0:
        return float((d_range // d_step) * d_step + d_low)
    return high


def distribution_json(p: Param) -> str:
    """``optuna.distributions.distribution_to_json`` of ``p.to_optuna()``, computed without Optuna."""
    if p.kind == "float":
        low, high = float(p.low or 0), float(p.high or 0)
        step = None if p.step is None else float(p.step)
        if step is not None:
            high = _step_high(low, high, step)
        attrs: dict[str, Any] = {"step": step, "low": low, "high": high, "log": p.log}
        return json.dumps({"name": "FloatDistribution", "attributes": attrs})
    if p.kind == "int":
        low_i, high_i, step_i = int(p.low or 0), int(p.high or 0), int(p.step or 1)
        high_i = (high_i - low_i) // step_i * step_i + low_i
        attrs = {"log": p.log, "step": step_i, "low": low_i, "high": high_i}
        return json.dumps({"name": "IntDistribution", "attributes": attrs})
    return json.dumps(
        {"name": "CategoricalDistribution", "attributes": {"choices": list(p.choices)}}
    )


class _Draw:
    """One drawn trial (the controller's handle); random search needs nothing back from it."""

    __slots__ = ()


_DRAW = _Draw()


class RandomSearch:
    """Independent uniform draws for every sampled param (see the module docstring)."""

    def __init__(self, space: SpaceSpec, seed: int | None) -> None:
        self.space = space
        self.rng = random.Random(seed)
        self.dists_json = {k: distribution_json(p) for k, p in space.sampled.items()}
        self._queued: deque[dict[str, Any]] = deque()
        self._draws = [(name, self._drawer(p)) for name, p in space.sampled.items()]

    def _drawer(self, p: Param) -> Any:
        rng = self.rng
        if p.kind == "categorical":
            choices = list(p.choices)
            return lambda: choices[rng.randrange(len(choices))]
        low, high = float(p.low or 0), float(p.high or 0)
        if p.kind == "float":
            if p.step is not None:
                n = round((_step_high(low, high, float(p.step)) - low) / p.step)
                step = float(p.step)
                return lambda: low + rng.randint(0, n) * step  # the grid sampler's values
            if p.log:
                lo, hi = math.log(low), math.log(high)
                return lambda: min(max(math.exp(rng.uniform(lo, hi)), low), high)
            return lambda: min(rng.uniform(low, high), high)
        ilow, ihigh, istep = int(low), int(high), int(p.step or 1)
        if p.log:
            lo, hi = math.log(ilow - 0.5), math.log(ihigh + 0.5)
            return lambda: min(max(round(math.exp(rng.uniform(lo, hi))), ilow), ihigh)
        return lambda: ilow + rng.randint(0, (ihigh - ilow) // istep) * istep

    def enqueue(self, params: dict[str, Any]) -> None:
        """The next ``ask`` returns these params (a resumed trial runs again with its own)."""
        self._queued.append(params)

    def ask(self) -> tuple[_Draw, dict[str, Any], dict[str, str]]:
        """A new trial: its handle, its params (fixed ones included) and their distributions."""
        if self._queued:
            drawn = self._queued.popleft()
        else:
            drawn = {name: draw() for name, draw in self._draws}
        return _DRAW, {**self.space.fixed, **drawn}, self.dists_json

    def tell(self, handle: Any, value: float | None = None, state: str = "finished") -> None:
        """Random search learns nothing from results."""

    def report(self, handle: Any, value: float, step: int) -> bool:
        """Never prunes (a sweep with a pruner samples through Optuna)."""
        return False
