"""The ``loopml`` command line (Typer + rich). Each command group lives in its own module."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Any

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

_APP_OPTIONS: dict[str, Any] = {
    "name": "loopml",
    "help": "loopml: high-throughput iteration for machine learning.",
    "no_args_is_help": True,
    "pretty_exceptions_enable": False,
    "add_completion": False,
}


def _projects() -> None:
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


def _demo(
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the dashboard afterwards.")
    ] = True,
    port: Annotated[int, typer.Option(help="Dashboard port (with --serve).")] = 8765,
) -> None:
    """Run the iteration loop on the bundled digits data set and print what it found."""
    from loopml.demo import run_demo

    run_demo(serve=serve, port=port)


# Each top-level command or group, in the order the whole app adds them, and how to add it to
# an app. `main` builds only the one a command line names: Typer builds every command's
# parameters when it runs (~0.05 CPU s for all of them), which ``loopml serve`` would pay before
# its workers start.
_ENTRIES: dict[str, Callable[[typer.Typer], Any]] = {
    "runs": lambda a: a.add_typer(_runs.app, name="runs"),
    "datasets": lambda a: a.add_typer(_datasets.app, name="datasets"),
    "label": lambda a: a.add_typer(_label.app, name="label"),
    "sweep": lambda a: a.add_typer(_sweeps.app, name="sweep"),
    "eval": lambda a: a.add_typer(_eval.app, name="eval"),
    "models": lambda a: a.add_typer(_models.app, name="models"),
    "serve": lambda a: a.command("serve")(_serving.serve_command),
    "predict": lambda a: a.command("predict")(_serving.predict_command),
    "monitor": lambda a: a.add_typer(_monitor.app, name="monitor"),
    "recover": lambda a: a.command("recover")(_runs.recover_command),
    "ui": lambda a: a.command("ui")(_ui.ui_command),
    "server": lambda a: a.add_typer(_server.app, name="server"),
    "login": lambda a: a.command("login")(_server.login_command),
    "sync": lambda a: a.command("sync")(_server.sync_command),
    "import": lambda a: a.add_typer(_server.import_app, name="import"),
    "projects": lambda a: a.command("projects")(_projects),
    "demo": lambda a: a.command("demo")(_demo),
}


def _version(value: bool) -> None:
    if value:
        console.print(f"loopml {__version__}")
        raise typer.Exit()


def _root(
    version: Annotated[
        bool | None,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = None,
) -> None:
    """loopml: track, sweep, label, analyse, serve and monitor, in one loop."""


def _build(names: Iterable[str]) -> typer.Typer:
    out = typer.Typer(**_APP_OPTIONS)
    out.callback()(_root)
    for name in names:
        _ENTRIES[name](out)
    return out


app = _build(_ENTRIES)


def app_for(argv: Sequence[str]) -> typer.Typer:
    """The app that runs ``loopml argv``: for a known command or group, one holding only it
    (the same command: same options, help and errors); otherwise (``--help``, no command, a
    mistyped one) the whole app, which lists them all."""
    name = next((a for a in argv if not a.startswith("-")), None)
    if name is None or name not in _ENTRIES:
        return app
    return _build([name])


def main() -> None:
    """Entry point: run the app, turning loopml errors into one readable line and exit code 2."""
    try:
        app_for(sys.argv[1:])()
    except LoopmlError as exc:
        # The message is data, not markup: hints like "{uniform: [low, high]}" keep their brackets.
        err_console.print(Text.assemble(("error:", "bold red"), " ", str(exc)))
        sys.exit(2)


__all__ = ["app", "app_for", "main"]
