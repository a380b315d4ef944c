"""What every integration shares: the framework check, the run to log to, safe keys."""

from __future__ import annotations

import importlib
import re
import warnings
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from loopml._errors import MissingDependencyError, UnsupportedVersionError

__all__ = [
    "RunOwner",
    "as_param",
    "check_version",
    "log_params_soft",
    "metric_key",
    "require",
    "version_tuple",
]


def version_tuple(version: str) -> tuple[int, ...]:
    """The leading numbers of a version string: ``"2.6.0+cpu"`` -> ``(2, 6, 0)``."""
    parts: list[int] = []
    for piece in version.split("."):
        digits = re.match(r"\d+", piece)
        if digits is None:
            break
        parts.append(int(digits.group()))
        if digits.group() != piece:
            break
    return tuple(parts)


def require(module: str, package: str, minimum: str, below: str, hint: str = "") -> ModuleType:
    """Import ``module`` and check that its version is in ``[minimum, below)``.

    Raises MissingDependencyError naming the pip command when it is not installed (or
    ``hint`` when it is installed but fails to import), and UnsupportedVersionError naming the
    installed and supported versions when it is outside the range.
    """
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        if exc.name is not None and exc.name.split(".")[0] != module:
            raise MissingDependencyError(
                f"importing {package} failed: {exc}. {hint}".strip()
            ) from exc
        raise MissingDependencyError(
            f"the {package} integration needs {package} installed ({exc}); "
            f"run: pip install 'loopml[integrations]' or pip install '{package}>={minimum},<{below}'"
        ) from exc
    check_version(package, str(getattr(mod, "__version__", "0")), minimum, below)
    return mod


def check_version(package: str, installed: str, minimum: str, below: str) -> None:
    """Raise UnsupportedVersionError unless ``minimum <= installed < below``."""
    v = version_tuple(installed)
    if not version_tuple(minimum) <= v < version_tuple(below):
        raise UnsupportedVersionError(
            f"{package} {installed} is not supported by loopml's {package} integration, which "
            f"needs {package}>={minimum},<{below}; run: pip install '{package}>={minimum},<{below}'"
        )


_BAD_KEY_CHARS = re.compile(r"[^\w\-./: ]")


def metric_key(*parts: str) -> str:
    """A valid metric key from name parts joined with ``/`` (other characters become ``_``)."""
    key = "/".join(_BAD_KEY_CHARS.sub("_", str(p)).strip() or "_" for p in parts)
    return key[:250]


def as_param(value: Any) -> Any:
    """A param value loopml can store: numbers, text, booleans and None as they are, else text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)) and all(
        v is None or isinstance(v, (bool, int, float, str)) for v in value
    ):
        return list(value)
    if isinstance(value, type):
        return value.__name__
    text = repr(value)
    if len(text) > 1000:
        text = text[:997] + "..."
    return text


class RunOwner:
    """The run an integration logs to: the one passed in, the active one, or one it starts.

    A run the integration started itself is finished by :meth:`close`; a run it was given is
    left open for its owner.
    """

    def __init__(
        self,
        run: Any = None,
        project: str | None = None,
        name: str | None = None,
        default_project: str = "default",
    ) -> None:
        self._run = run
        self._project = project
        self._name = name
        self._default_project = default_project
        self.owned = False

    def get(self, config: Mapping[str, Any] | None = None) -> Any:
        """The run to log to, starting one (with ``config`` as its params) if there is none."""
        if self._run is not None:
            return self._run
        import loopml
        from loopml.tracking import default_session

        if self._project is None:
            active = default_session().active_runs
            if active:
                self._run = active[-1]
                return self._run
        self._run = loopml.init(
            project=self._project or self._default_project,
            name=self._name,
            config={k: as_param(v) for k, v in (config or {}).items()},
        )
        self.owned = True
        return self._run

    @property
    def run(self) -> Any:
        """The run chosen so far, or None before the first :meth:`get`."""
        return self._run

    def close(self, status: str = "finished") -> None:
        """Finish the run if this integration started it."""
        if self._run is not None and self.owned and self._run.status == "running":
            self._run.finish(status)


def log_params_soft(run: Any, params: Mapping[str, Any]) -> None:
    """Log params, warning (not failing training) when one conflicts with what is stored."""
    from loopml._errors import LoopmlError

    clean = {str(k): as_param(v) for k, v in params.items()}
    try:
        run.log_params(clean)
    except LoopmlError as exc:
        warnings.warn(f"loopml: params not logged: {exc}", RuntimeWarning, stacklevel=3)
