"""Shared CLI pieces: the console, formatting of times and values, the error boundary."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from loopml._format import fmt_duration, fmt_time, fmt_value, status_text

__all__ = [
    "console",
    "err_console",
    "fmt_duration",
    "fmt_time",
    "fmt_value",
    "new_table",
    "status_text",
]

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def new_table(title: str, *columns: str) -> Table:
    """A table in the CLI's style with plain, left-aligned ``columns``."""
    out = Table(title=title, header_style="bold")
    for col in columns:
        out.add_column(col)
    return out
