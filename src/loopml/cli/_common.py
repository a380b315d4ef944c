"""Shared CLI pieces: the console, formatting of times and values, the error boundary."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from rich.console import Console

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

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


def fmt_time(ts: float | None) -> str:
    """A Unix time as local ``YYYY-mm-dd HH:MM:SS``."""
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


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
    """A metric or param value, compact (NaN and infinities spelled out)."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.6g}"
    return str(value)
