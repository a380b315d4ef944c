"""``make demo``: the iteration loop on the bundled digits data, as far as the loop is built.

Each stage is a module of its own; ``run_demo`` runs them in the loop's order.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from loopml._format import fmt_duration, fmt_value, status_text
from loopml.demo._analysis import analyse_digits
from loopml.demo._integrations import autolog_digits
from loopml.demo._labeling import ANNOTATORS, LABEL_PROJECT, label_digits
from loopml.demo._monitoring import monitor_digits
from loopml.demo._serving import serve_digits
from loopml.demo._sweeps import sweep_digits
from loopml.demo._team import team_server_demo
from loopml.demo._tracking import PROJECT, train_models

__all__ = ["check_port", "run_demo"]


def _print_runs(console: Console, project: str) -> None:
    from rich.text import Text

    from loopml.tracking import default_session

    runs = default_session().store.runs.search(project, None, "-metrics.val_acc", 20)
    table = Table(title=f"runs in project '{project}', best first", header_style="bold")
    for col in ("id", "name", "status", "duration", "val_acc", "val_loss", "train_acc"):
        table.add_column(col, justify="right" if col.startswith(("val", "train")) else "left")
    for r in runs:
        # "-" for a metric the run never logged (sgd-hinge has no probabilities, so no val_loss);
        # NaN only for a logged NaN.
        last = [r.metrics.get(k) for k in ("val_acc", "val_loss", "train_acc")]
        table.add_row(
            r.id[:8],
            Text(r.name),
            status_text(r.status),
            fmt_duration(r.duration),
            *("-" if m is None else fmt_value(m.last) for m in last),
        )
    console.print(table)


def run_demo(serve: bool = True, port: int = 8765) -> None:
    """Run every built stage of the loop, print the results, then serve the dashboard if asked.

    The port is checked before any stage runs, so a taken port fails in a second, not after the
    whole demo. A rerun reuses what an earlier demo stored (each stage says so).
    """
    if serve:
        check_port(port)
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
    analyse_digits(console, PROJECT)
    serve_digits(console, port)
    monitor_digits(console)
    from loopml.tracking import default_session

    team_server_demo(console, default_session().settings.data_dir / "team-server")
    if serve:
        base = f"http://127.0.0.1:{port}"
        console.print(
            "label a few digits yourself (keys 0-9): "
            f"{base}/labeling/{LABEL_PROJECT}/annotate?annotator={ANNOTATORS[0]}",
            markup=False,
            soft_wrap=True,
        )
        _serve(console, port)


def check_port(port: int, host: str = "127.0.0.1") -> None:
    """Fail now, with the command to use instead, when ``port`` cannot be listened on."""
    import socket

    from loopml._errors import ConflictError

    def free(p: int) -> bool:
        with socket.socket() as s:
            try:
                s.bind((host, p))
            except OSError:
                return False
            return True

    if free(port):
        return
    other = next((p for p in range(port + 1, port + 50) if free(p)), 0)
    raise ConflictError(
        f"port {port} on {host} is in use (another `loopml ui` or demo?); "
        f"run the demo on a free one: make demo PORT={other}  (or: loopml demo --port {other})"
    )


def _serve(console: Console, port: int) -> None:
    try:
        from loopml.server import serve
    except ImportError:
        console.print("[dim]the dashboard is not built yet; nothing to serve[/]")
        return
    serve(host="127.0.0.1", port=port)
