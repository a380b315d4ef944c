"""The ``loopml`` command line (Typer + rich). Each command group lives in its own module."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.text import Text

from loopml._errors import LoopmlError
from loopml._version import __version__
from loopml.cli import (
    _datasets,
    _eval,
    _label,
    _models,
    _monitor,
    _runs,
    _server,
    _serving,
    _sweeps,
    _tensorboard,  # noqa: F401 - registers the tensorboard command of the import group
    _ui,
)
from loopml.cli._common import console, err_console

app = typer.Typer(
    name="loopml",
    help="loopml: high-throughput iteration for machine learning.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(_runs.app, name="runs")
app.add_typer(_datasets.app, name="datasets")
app.add_typer(_label.app, name="label")
app.add_typer(_sweeps.app, name="sweep")
app.add_typer(_eval.app, name="eval")
app.add_typer(_models.app, name="models")
app.command("serve")(_serving.serve_command)
app.command("predict")(_serving.predict_command)
app.add_typer(_monitor.app, name="monitor")
app.command("recover")(_runs.recover_command)
app.command("ui")(_ui.ui_command)
app.add_typer(_server.app, name="server")
app.command("login")(_server.login_command)
app.command("sync")(_server.sync_command)
app.add_typer(_server.import_app, name="import")


def _version(value: bool) -> None:
    if value:
        console.print(f"loopml {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool | None,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = None,
) -> None:
    """loopml: track, sweep, label, analyse, serve and monitor, in one loop."""


@app.command("projects")
def projects() -> None:
    """List projects with their run counts and last activity."""
    from rich.table import Table

    from loopml.cli._common import fmt_time
    from loopml.tracking import default_session

    table = Table(title="projects", header_style="bold")
    for col in ("project", "runs", "running", "last activity"):
        table.add_column(col, justify="right" if col in ("runs", "running") else "left")
    for p in default_session().store.list_projects():
        table.add_row(p.name, str(p.run_count), str(p.running), fmt_time(p.last_activity))
    console.print(table)


@app.command("demo")
def demo(
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the dashboard afterwards.")
    ] = True,
    port: Annotated[int, typer.Option(help="Dashboard port (with --serve).")] = 8765,
) -> None:
    """Run the iteration loop on the bundled digits data set and print what it found."""
    from loopml.demo import run_demo

    run_demo(serve=serve, port=port)


def main() -> None:
    """Entry point: run the app, turning loopml errors into one readable line and exit code 2."""
    try:
        app()
    except LoopmlError as exc:
        # The message is data, not markup: hints like "{uniform: [low, high]}" keep their brackets.
        err_console.print(Text.assemble(("error:", "bold red"), " ", str(exc)))
        sys.exit(2)


__all__ = ["app", "main"]
