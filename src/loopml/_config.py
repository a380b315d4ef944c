"""Typed configuration, read from the environment once, when first asked for."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from loopml._errors import ValidationError

__all__ = ["Settings"]


@dataclass(frozen=True)
class Settings:
    """Where loopml keeps its data, and how the background writer behaves.

    ``data_dir`` holds the SQLite file (embedded default), run journals and artifacts.
    ``store_url`` is any SQLAlchemy URL; ``None`` means SQLite in ``data_dir``.
    ``system_metrics`` turns the per-run CPU/memory/disk/network/GPU sampling on, every
    ``system_metrics_interval`` seconds.
    """

    data_dir: Path = field(default_factory=lambda: Path(".loopml"))
    store_url: str | None = None
    flush_interval: float = 1.0
    heartbeat_interval: float = 10.0
    stale_after: float = 300.0
    # Set by a sweep for the command trials it launches: the trial's run, and the sweep's metric.
    run_id: str | None = None
    sweep_metric: str | None = None
    system_metrics: bool = True
    system_metrics_interval: float = 10.0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Build settings from ``LOOPML_*`` variables (``LOOPML_DIR``, ``LOOPML_STORE``...)."""
        env = os.environ if environ is None else environ
        data_dir = Path(env.get("LOOPML_DIR") or ".loopml").expanduser()
        return cls(
            data_dir=data_dir.absolute(),
            store_url=env.get("LOOPML_STORE") or None,
            flush_interval=_positive_float(env, "LOOPML_FLUSH_INTERVAL", 1.0),
            heartbeat_interval=_positive_float(env, "LOOPML_HEARTBEAT_INTERVAL", 10.0),
            stale_after=_positive_float(env, "LOOPML_STALE_AFTER", 300.0),
            run_id=env.get("LOOPML_RUN_ID") or None,
            sweep_metric=env.get("LOOPML_SWEEP_METRIC") or None,
            system_metrics=_flag(env, "LOOPML_SYSTEM_METRICS", True),
            system_metrics_interval=_positive_float(env, "LOOPML_SYSTEM_METRICS_INTERVAL", 10.0),
        )

    @property
    def resolved_store_url(self) -> str:
        """The store URL, defaulting to the SQLite file inside ``data_dir``."""
        if self.store_url:
            return self.store_url
        return f"sqlite:///{self.data_dir / 'loopml.db'}"


def _positive_float(env: os._Environ[str] | dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValidationError(
            f"{name}={raw!r} is not a number; set it to a positive number of seconds, e.g. {default}"
        ) from None
    if not value > 0:
        raise ValidationError(
            f"{name}={raw!r} must be a positive number of seconds, e.g. {default}"
        )
    return value


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _flag(env: os._Environ[str] | dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValidationError(f"{name}={raw!r} is not a switch; set it to 1 (on) or 0 (off)")
