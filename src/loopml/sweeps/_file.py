"""Sweep files: a YAML document naming the objective (``module:function`` or a command), the space,
the metric, the budget and the executor, for ``loopml sweep run sweep.yaml``.

    objective: train:objective          # or: command: python train.py --lr {lr} --depth {depth}
    metric: val_acc
    direction: max
    n_trials: 32
    parallel: 2
    space:
      lr: {loguniform: [1e-4, 1e-1]}
      depth: {intrange: [2, 8]}
      model: {choice: [hgb, sgd]}
      epochs: 10                        # fixed
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from loopml._errors import ValidationError
from loopml.sweeps._space import Param, choice, intrange, loguniform, uniform

__all__ = ["read_sweep_file"]

_HELPERS: dict[str, Callable[..., Param]] = {
    "uniform": uniform,
    "loguniform": loguniform,
    "intrange": intrange,
    "choice": choice,
}
_KEYS = {
    "project", "name", "objective", "command", "metric", "direction", "n_trials", "parallel", "sampler",
    "pruner", "executor", "timeout_per_trial", "retries", "seed", "inputs", "space", "ray_address", "cache", "env",
}  # fmt: skip


def read_sweep_file(path: str | Path) -> dict[str, Any]:
    """Parse and check a sweep file; returns keyword arguments for :func:`loopml.sweep`."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ValidationError(f"sweep file {str(path)!r} does not exist") from None
    except yaml.YAMLError as exc:
        raise ValidationError(f"sweep file {str(path)!r} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ValidationError(
            f"sweep file {str(path)!r} must be a mapping with 'objective' or 'command', and 'space'"
        )
    unknown = sorted(set(map(str, data)) - _KEYS)
    if unknown:
        raise ValidationError(
            f"sweep file {str(path)!r} has unknown keys {unknown}; allowed: {', '.join(sorted(_KEYS))}"
        )
    if ("objective" in data) == ("command" in data):
        raise ValidationError(
            f"sweep file {str(path)!r} needs exactly one of 'objective: module:function' or "
            "'command: python train.py --lr {lr}'"
        )
    kwargs = {k: v for k, v in data.items() if k not in ("command", "space", "env")}
    kwargs["workdir"] = str(path.resolve().parent)
    if "command" in data:
        from loopml.sweeps._objective import CommandObjective

        kwargs["objective"] = CommandObjective(
            str(data["command"]), str(data.get("metric", "val_acc")), data.get("env")
        )
    kwargs["space"] = _space(data.get("space"), path)
    return kwargs


def _space(raw: Any, path: Path) -> dict[str, Any]:
    if not isinstance(raw, dict) or not raw:
        raise ValidationError(
            f"sweep file {str(path)!r}: 'space' must be a non-empty mapping, e.g. space: {{lr: {{loguniform: [1e-4, 1e-1]}}}}"
        )
    space: dict[str, Any] = {}
    for name, spec in raw.items():
        if isinstance(spec, dict):
            if len(spec) != 1 or next(iter(spec)) not in _HELPERS:
                raise ValidationError(
                    f"space param {name!r}: {spec!r} is not one of {{uniform: [low, high]}}, {{loguniform: [low, high]}}, "
                    "{intrange: [low, high]}, {choice: [a, b, ...]}"
                )
            helper, args = next(iter(spec.items()))
            space[str(name)] = _call(helper, args, name)
        else:
            space[str(name)] = spec
    return space


def _call(helper: str, args: Any, name: str) -> Param:
    fn = _HELPERS[helper]
    if helper == "choice":
        return fn(args)
    if isinstance(args, dict):
        return fn(**args)
    if not isinstance(args, list):
        raise ValidationError(
            f"space param {name!r}: {helper} takes a list [low, high], not {args!r}"
        )
    try:
        return fn(*args)
    except TypeError as exc:
        raise ValidationError(
            f"space param {name!r}: {helper}{tuple(args)} is not valid ({exc})"
        ) from None
