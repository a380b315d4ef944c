"""Plain-text formatting of times, durations and values, shared by the CLI and the web UI."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

__all__ = ["STATUS_STYLES", "fmt_ago", "fmt_duration", "fmt_time", "fmt_value", "status_text"]


def fmt_time(ts: float | None) -> str:
    """A Unix time as local ``YYYY-mm-dd HH:MM:SS``."""
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def fmt_ago(ts: float | None, now: float | None = None) -> str:
    """How long ago ``ts`` was, compactly (``5 s ago``, ``3 min ago``, ``2 d ago``)."""
    import time

    if ts is None:
        return "never"
    s = max(0.0, (time.time() if now is None else now) - ts)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{int(s // size)} {unit} ago"
    return f"{int(s)} s ago"


def fmt_duration(seconds: float | None) -> str:
    """Seconds as ``1h02m``, ``3m04s`` or ``5.2s``."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def fmt_value(value: Any) -> str:
    """A metric or param value, compact; NaN and infinities shown as ``NaN``, ``inf``, ``-inf``.

    Mappings read ``k=v, k=v`` and lists ``a, b``, never as Python reprs.
    """
    if value is None:
        return ""
    if isinstance(value, dict):
        return ", ".join(f"{k}={fmt_value(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt_value(v) for v in value)
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.6g}"
    return str(value)


# A run status's colour wherever a terminal shows it (rich styles).
STATUS_STYLES = {
    "running": "bold blue",
    "finished": "green",
    "failed": "bold red",
    "crashed": "bold magenta",
    "killed": "yellow",
    "pruned": "dim",
}


def status_text(status: str) -> str:
    """A run status as rich markup in its colour."""
    style = STATUS_STYLES.get(status, "")
    return f"[{style}]{status}[/]" if style else status
