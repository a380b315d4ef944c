"""``loopml import tensorboard LOGDIR``: TensorBoard event files into runs (a sibling of
``loopml import mlflow``, registered on the same ``import`` group)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from loopml.cli._common import console, err_console, new_table
from loopml.cli._server import import_app


@import_app.command("tensorboard")
def import_tensorboard_command(
    logdir: Annotated[
        Path, typer.Argument(help="The folder you give tensorboard --logdir.", show_default=False)
    ],
    project: Annotated[
        str | None,
        typer.Option(help="The project to import into (default: the folder's name)."),
    ] = None,
) -> None:
    """Import TensorBoard event files: one run per run folder.

    Scalars become metrics, histograms and images media, hparams params. Safe to run again:
    nothing is stored twice, and event files that grew add their new points.
    """
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from loopml.integrations.tensorboard import import_logdir

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("reading event files", total=None)

        def progress(done: int, total: int, name: str) -> None:
            bar.update(task, completed=done, total=total, description=escape(name))

        report = import_logdir(logdir, project=project, progress=progress)
    for warning in report.warnings:
        err_console.print(Text(f"warning: {warning}"))
    table = new_table(f"imported from {logdir} into project {report.project}", "run", "id")
    for col in ("points", "media", "params"):
        table.add_column(col, justify="right")
    table.add_column("result")
    for run in report.runs:
        table.add_row(
            Text(run.name),
            run.run_id,
            f"{run.points:,}",
            f"{run.media:,}",
            f"{run.params:,}",
            run.state,
        )
    console.print(table)
    console.print(
        Text(
            f"{report.count('imported')} run(s) imported, {report.count('updated')} updated, "
            f"{report.count('unchanged')} unchanged, {report.count('skipped')} skipped; "
            f"{report.points:,} point(s), {report.media:,} media step(s) added"
        )
    )
