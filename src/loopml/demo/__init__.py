"""``make demo``: the iteration loop on the bundled digits data, as far as the loop is built.

Each stage is a module of its own; ``run_demo`` runs them in the loop's order.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from loopml.cli._common import fmt_duration, fmt_value, status_text
from loopml.demo._integrations import autolog_digits
from loopml.demo._labeling import label_digits
from loopml.demo._sweeps import sweep_digits
from loopml.demo._tracking import PROJECT, train_models

__all__ = ["run_demo"]


def _print_runs(console: Console, project: str) -> None:
    import loopml

    frame = loopml.runs(project, order_by="-metrics.val_acc", limit=20)
    table = Table(title=f"runs in project '{project}', best first", header_style="bold")
    for col in ("id", "name", "status", "duration", "val_acc", "val_loss", "train_acc"):
        table.add_column(col, justify="right" if col.startswith(("val", "train")) else "left")
    for _, row in frame.iterrows():
        table.add_row(
            row["id"][:8],
            row["name"],
            status_text(row["status"]),
            fmt_duration(row["duration"]),
            *(fmt_value(row.get(f"metrics.{k}")) for k in ("val_acc", "val_loss", "train_acc")),
        )
    console.print(table)


def run_demo(serve: bool = True, port: int = 8765) -> None:
    """Run every built stage of the loop, print the results, then serve the dashboard if asked."""
    console = Console()
    console.rule("[bold]loopml demo: digits")
    console.print("1. tracking: training models epoch by epoch, every metric logged")
    train_models(console)
    _print_runs(console, PROJECT)
    console.print(
        "2. sweeps: searching SGD settings on warm workers, ASHA stopping bad trials early"
    )
    sweep_digits(console)
    autolog_digits(console)
    label_digits(console)
    if serve:
        _serve(console, port)


def _serve(console: Console, port: int) -> None:
    try:
        from loopml.server import serve
    except ImportError:
        console.print("[dim]the dashboard is not built yet; nothing to serve[/]")
        return
    serve(host="127.0.0.1", port=port)
