"""Shared CLI pieces: the console, formatting of times and values, the error boundary."""

from __future__ import annotations

from rich.console import Console

from loopml._format import fmt_duration, fmt_time, fmt_value

__all__ = [
    "console",
    "err_console",
    "fmt_duration",
    "fmt_time",
    "fmt_value",
    "status_text",
]

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
