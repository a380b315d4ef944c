"""Search spaces: ``uniform``, ``loguniform``, ``intrange``, ``choice``, fixed values, or a function.

A space is a dict of name -> one of the helpers (sampled) or any other JSON value (fixed), or a
define-by-run function ``space(trial) -> dict`` calling ``trial.suggest_float/int/categorical``
(an Optuna trial), for params that depend on one another. Helpers are plain data until the
sweep turns them into Optuna distributions, so ``import loopml`` does not import Optuna.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml._errors import ValidationError

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

__all__ = ["Param", "SpaceSpec", "choice", "intrange", "loguniform", "uniform"]

_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Param:
    """A sampled parameter: ``kind`` is float, int or categorical."""

    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def to_optuna(self) -> BaseDistribution:
        """The Optuna distribution this parameter samples from."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.kind == "float":
            lo, hi = float(self.low or 0), float(self.high or 0)
            return FloatDistribution(lo, hi, log=self.log, step=self.step)
        if self.kind == "int":
            ilo, ihi = int(self.low or 0), int(self.high or 0)
            return IntDistribution(ilo, ihi, log=self.log, step=int(self.step or 1))
        return CategoricalDistribution(list(self.choices))

    def grid(self) -> list[Any] | None:
        """Every value, for the grid sampler (None when there are infinitely many)."""
        if self.kind == "categorical":
            return list(self.choices)
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))  # type: ignore[arg-type]
        if self.step is not None:
            n = round((float(self.high) - float(self.low)) / self.step)  # type: ignore[arg-type]
            return [float(self.low) + i * self.step for i in range(n + 1)]  # type: ignore[arg-type]
        return None

    def to_json(self) -> dict[str, Any]:
        """A JSON form, stored with the sweep so that it can be resumed from the command line."""
        return {
            "kind": self.kind,
            "low": self.low,
            "high": self.high,
            "log": self.log,
            "step": self.step,
            "choices": list(self.choices),
        }


def _number(name: str, value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValidationError(f"{what}: bounds must be finite numbers, got {name}={value!r}")
    return float(value)


def uniform(low: float, high: float, step: float | None = None) -> Param:
    """A float drawn uniformly from ``[low, high]`` (on a grid of ``step`` if given)."""
    lo, hi = _number("low", low, "uniform"), _number("high", high, "uniform")
    if not lo < hi:
        raise ValidationError(
            f"uniform({low!r}, {high!r}): low must be below high, e.g. uniform(0.0, 1.0)"
        )
    if step is not None and not (_number("step", step, "uniform") > 0):
        raise ValidationError(f"uniform(..., step={step!r}): step must be positive")
    return Param("float", lo, hi, step=step)


def loguniform(low: float, high: float) -> Param:
    """A float drawn uniformly in log space from ``[low, high]`` (both positive), e.g. a learning rate."""
    lo, hi = _number("low", low, "loguniform"), _number("high", high, "loguniform")
    if not 0 < lo < hi:
        raise ValidationError(
            f"loguniform({low!r}, {high!r}): needs 0 < low < high, e.g. loguniform(1e-4, 1e-1)"
        )
    return Param("float", lo, hi, log=True)


def intrange(low: int, high: int, step: int = 1, log: bool = False) -> Param:
    """An integer from ``low`` to ``high`` inclusive (every ``step``; log-spaced with ``log=True``)."""
    for name, v in (("low", low), ("high", high), ("step", step)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValidationError(
                f"intrange: {name} must be an integer, got {v!r}, e.g. intrange(2, 10)"
            )
    if not low <= high or step < 1:
        raise ValidationError(
            f"intrange({low}, {high}, step={step}): needs low <= high and step >= 1"
        )
    if log and (low < 1 or step != 1):
        raise ValidationError(f"intrange({low}, {high}, log=True): needs low >= 1 and step 1")
    return Param("int", low, high, log=log, step=step)


def choice(options: Sequence[Any]) -> Param:
    """One of ``options`` (strings, numbers, booleans or None)."""
    if isinstance(options, (str, bytes)) or not isinstance(options, Sequence) or not options:
        raise ValidationError(
            f"choice() takes a non-empty list of options, e.g. choice(['adam', 'sgd']), not {options!r}"
        )
    for o in options:
        if not isinstance(o, _SCALARS):
            raise ValidationError(
                f"choice option {o!r} is a {type(o).__name__}; options must be str, int, float, bool or None"
            )
    return Param("categorical", choices=tuple(options))


SpaceFn = Callable[[Any], Mapping[str, Any]]


class SpaceSpec:
    """A validated space: the sampled params, the fixed ones, or a define-by-run function."""

    def __init__(self, space: Mapping[str, Any] | SpaceFn) -> None:
        self.function: SpaceFn | None = None
        self.sampled: dict[str, Param] = {}
        self.fixed: dict[str, Any] = {}
        if callable(space) and not isinstance(space, Mapping):
            self.function = space
            return
        if not isinstance(space, Mapping):
            raise ValidationError(
                f"a space is a dict of name -> loopml.uniform(...)/choice(...)/fixed value, or a function "
                f"space(trial) -> dict; got {type(space).__name__}"
            )
        if not space:
            raise ValidationError(
                "the search space is empty; give at least one param, e.g. {'lr': loopml.loguniform(1e-4, 1e-1)}"
            )
        for name, value in space.items():
            if not isinstance(name, str) or not name:
                raise ValidationError(f"space keys must be non-empty strings, got {name!r}")
            if isinstance(value, Param):
                self.sampled[name] = value
            elif isinstance(value, _SCALARS):
                self.fixed[name] = value
            else:
                raise ValidationError(
                    f"space value for {name!r} is a {type(value).__name__}; use loopml.uniform, loguniform, "
                    "intrange or choice to sample it, or a str/number/bool/None to fix it"
                )
        if not self.sampled:
            raise ValidationError(
                f"the search space has only fixed values ({', '.join(self.fixed)}); sample at least one, "
                "e.g. 'lr': loopml.loguniform(1e-4, 1e-1)"
            )

    def distributions(self) -> dict[str, BaseDistribution]:
        """Optuna distributions of the sampled params (empty for a define-by-run space)."""
        return {k: p.to_optuna() for k, p in self.sampled.items()}

    def grid(self) -> dict[str, list[Any]]:
        """The grid sampler's search space; raises for a param with infinitely many values."""
        if self.function is not None:
            raise ValidationError("sampler 'grid' needs a dict space, not a define-by-run function")
        out: dict[str, list[Any]] = {}
        for name, p in self.sampled.items():
            values = p.grid()
            if values is None:
                raise ValidationError(
                    f"sampler 'grid' needs finitely many values; param {name!r} is a continuous range. "
                    "Use choice([...]), intrange(...) or uniform(low, high, step=...)"
                )
            out[name] = values
        return out

    def to_json(self) -> dict[str, Any] | str:
        """The space as JSON (a define-by-run function as ``module:qualname``)."""
        if self.function is not None:
            return function_ref(self.function)
        return {"sampled": {k: p.to_json() for k, p in self.sampled.items()}, "fixed": self.fixed}

    @classmethod
    def from_json(cls, data: dict[str, Any] | str) -> SpaceSpec:
        """Inverse of :meth:`to_json`."""
        if isinstance(data, str):
            return cls(load_ref(data))
        space: dict[str, Any] = dict(data.get("fixed", {}))
        for k, p in data["sampled"].items():
            space[k] = Param(
                p["kind"], p["low"], p["high"], p["log"], p["step"], tuple(p["choices"])
            )
        return cls(space)


def function_ref(fn: Callable[..., Any]) -> str:
    """``module:qualname`` of an importable function ('' for lambdas and nested functions)."""
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", "")
    if not module or "<" in qualname:
        return ""
    return f"{module}:{qualname}"


def load_ref(ref: str) -> Any:
    """Import ``module:attribute`` (for objectives and space functions named in YAML or stored)."""
    import importlib

    if not isinstance(ref, str) or ref.count(":") != 1:
        raise ValidationError(
            f"{ref!r} is not a 'module:function' reference, e.g. 'train:objective'"
        )
    module_name, attr = ref.split(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValidationError(
            f"cannot import module {module_name!r} for {ref!r} ({exc}); run from the folder that holds it "
            "or add it to PYTHONPATH"
        ) from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValidationError(
                f"module {module_name!r} has no attribute {attr!r} (from {ref!r})"
            )
        obj = getattr(obj, part)
    return obj
