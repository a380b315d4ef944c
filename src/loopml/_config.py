"""Typed configuration, read from the environment once, when first asked for."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from loopml._errors import ValidationError

__all__ = ["Settings", "config_dir", "credentials_path", "saved_token"]


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
    # A team server to log to (``LOOPML_TRACKING_URI``) and the API token to use there
    # (``LOOPML_TOKEN``, else the one ``loopml login`` saved for that URL).
    tracking_uri: str | None = None
    token: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Build settings from ``LOOPML_*`` variables (``LOOPML_DIR``, ``LOOPML_STORE``...)."""
        env = os.environ if environ is None else environ
        data_dir = Path(env.get("LOOPML_DIR") or ".loopml").expanduser()
        uri = (env.get("LOOPML_TRACKING_URI") or "").rstrip("/") or None
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
            tracking_uri=uri,
            token=env.get("LOOPML_TOKEN") or (saved_token(uri, env) if uri else None),
        )

    @property
    def resolved_store_url(self) -> str:
        """The store URL, defaulting to the SQLite file inside ``data_dir``."""
        if self.store_url:
            return self.store_url
        return f"sqlite:///{self.data_dir / 'loopml.db'}"


def config_dir(environ: os._Environ[str] | dict[str, str] | None = None) -> Path:
    """The user's loopml config folder (``$XDG_CONFIG_HOME/loopml``, else ``~/.config/loopml``)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "loopml"


def credentials_path(environ: os._Environ[str] | dict[str, str] | None = None) -> Path:
    """The 0600 file where ``loopml login`` keeps one API token per server URL."""
    return config_dir(environ) / "credentials.json"


def saved_token(url: str, environ: os._Environ[str] | dict[str, str] | None = None) -> str | None:
    """The token ``loopml login`` saved for ``url``, if any."""
    import json

    try:
        data = json.loads(credentials_path(environ).read_text())
    except (OSError, ValueError):
        return None
    token = data.get(url.rstrip("/")) if isinstance(data, dict) else None
    return token if isinstance(token, str) else None


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
