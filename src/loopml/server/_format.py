"""Template filters: times, durations, values (NaN and infinities spelled out), status badges."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

from loopml._format import fmt_ago, fmt_duration, fmt_time, fmt_value

__all__ = [
    "FILTERS",
    "fmt_ago",
    "fmt_bytes",
    "fmt_duration",
    "fmt_short",
    "fmt_time",
    "fmt_value",
    "status_class",
]


def fmt_short(value: Any) -> str:
    """A value for a table cell: floats to 4 significant digits (``0.9622``, ``9.545e-05``), the
    rest as :func:`fmt_value`; the cell's tooltip carries the full value."""
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.4g}"
    return fmt_value(value)


def fmt_bytes(n: int | None) -> str:
    """A size in B, KB, MB or GB."""
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def status_class(status: str) -> str:
    """The CSS class of a status badge."""
    known = ("running", "finished", "failed", "crashed", "killed", "pruned")
    return f"badge badge-{status}" if status in known else "badge"


def query(params: dict[str, Any], **changes: Any) -> str:
    """``?a=1&b=2`` from ``params`` with ``changes`` applied (None removes a key)."""
    merged = {**params, **changes}
    items = [(k, v) for k, v in merged.items() if v not in (None, "", [])]
    flat: list[tuple[str, Any]] = []
    for k, v in items:
        if isinstance(v, (list, tuple)):
            flat.extend((k, x) for x in v)
        else:
            flat.append((k, v))
    return "?" + urlencode(flat) if flat else "?"


FILTERS = {
    "time": fmt_time,
    "ago": fmt_ago,
    "duration": fmt_duration,
    "value": fmt_value,
    "short": fmt_short,
    "bytes": fmt_bytes,
    "status_class": status_class,
}
