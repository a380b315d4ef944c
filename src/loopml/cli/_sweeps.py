"""``loopml sweep ...``: run a sweep file, resume a sweep, show one, list them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from loopml.cli._common import console, err_console, fmt_time, fmt_value, status_text

app = typer.Typer(
    help="Run hyperparameter sweeps (trials are runs) and inspect them.", no_args_is_help=True
)


def _sweeps():  # type: ignore[no-untyped-def]
    from loopml.tracking import default_session

    return default_session().sweeps  # the local store's, or a team server's


def _interrupted(exc: BaseException) -> None:
    sweep_id = getattr(exc, "loopml_sweep_id", None)
    hint = f"; resume it with `loopml sweep resume {sweep_id}`" if sweep_id else ""
    err_console.print(
        Text(f"sweep stopped: unfinished trials were marked killed{hint}", style="yellow")
    )
    raise typer.Exit(130)


@app.command("run")
def run(
    file: Annotated[
        Path,
        typer.Argument(help="A sweep file (YAML): objective or command, space, metric, budget."),
    ],
    no_cache: Annotated[
        bool,
        typer.Option("--no-cache", help="Run every trial, even one identical to a stored one."),
    ] = False,
    n_trials: Annotated[
        int | None, typer.Option("--n-trials", "-n", min=1, help="Override the file's budget.")
    ] = None,
    parallel: Annotated[
        int | None,
        typer.Option("--parallel", "-j", min=1, help="Override the number of workers."),
    ] = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show the progress bar.")
    ] = True,
) -> None:
    """Run the sweep described by FILE, then print its best trials."""
    import loopml
    from loopml.sweeps import read_sweep_file

    kwargs: dict[str, Any] = read_sweep_file(file)
    if no_cache:
        kwargs["cache"] = False
    if n_trials is not None:
        kwargs["n_trials"] = n_trials
    if parallel is not None:
        kwargs["parallel"] = parallel
    try:
        sweep = loopml.sweep(progress=progress, **kwargs)
    except KeyboardInterrupt as exc:
        _interrupted(exc)
    _show(sweep.id, top=5, importances=False)


@app.command("resume")
def resume(
    sweep_id: Annotated[
        str, typer.Argument(help="Sweep id (or a unique prefix of 4+ characters).")
    ],
    n_trials: Annotated[
        int | None, typer.Option("--n-trials", "-n", min=1, help="A new total budget.")
    ] = None,
    parallel: Annotated[
        int | None, typer.Option("--parallel", "-j", min=1, help="Number of workers.")
    ] = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show the progress bar.")
    ] = True,
) -> None:
    """Continue a stopped or crashed sweep from its stored trials."""
    import loopml

    try:
        sweep = loopml.resume_sweep(
            sweep_id, n_trials=n_trials, parallel=parallel, progress=progress
        )
    except KeyboardInterrupt as exc:
        _interrupted(exc)
    _show(sweep.id, top=5, importances=False)


@app.command("show")
def show(
    sweep_id: Annotated[
        str | None,
        typer.Argument(
            help="Sweep id (or a unique prefix of 4+ characters); default: the latest sweep."
        ),
    ] = None,
    top: Annotated[
        int, typer.Option("--top", "-n", min=1, help="How many best trials to list.")
    ] = 10,
) -> None:
    """Print a sweep's settings, its best trials and its parameter importances."""
    if sweep_id is None:
        latest = _sweeps().list_sweeps(limit=20)
        if not latest:
            console.print("no sweeps yet; run one with `loopml sweep run FILE`")
            return
        if len({r.project for r in latest}) > 1:
            # Several projects: the newest sweep of one may not be the one meant; list them.
            console.print("sweeps of several projects; show one with `loopml sweep show ID`")
            list_sweeps(project=None, limit=20)
            return
        sweep_id = latest[0].id
        console.print(
            Text(
                f"the latest sweep of project {latest[0].project} (`loopml sweep list` lists all)"
            ),
            style="dim",
        )
    _show(sweep_id, top, importances=True)


def _show(sweep_id: str, top: int, importances: bool) -> None:
    from loopml.sweeps import analyze, load_sweep, points_from_trials, ranked

    sweep = load_sweep(sweep_id)
    r = sweep.record
    rows = sweep.trial_rows()
    analysis = analyze(points_from_trials(rows, r.name), r.metric, r.direction, importances)
    cached = sum(1 for t in rows if t.cached_from)
    c = r.config
    console.print(
        Text.assemble(
            (f"sweep {r.id}", "bold"),
            f" {r.name} in project {r.project}: ",
            Text.from_markup(status_text(r.status)),
            f", {r.direction} {r.metric}, sampler {c['sampler']}, pruner {c['pruner'] or '-'}, "
            f"executor {c['executor']} x{c['parallel']}, started {fmt_time(r.created_at)}",
        )
    )
    console.print(
        "trials: "
        + ", ".join(f"{n} {s}" for s, n in sorted(analysis.by_status.items()))
        + f" ({cached} from cache) of {c['n_trials']}",
        markup=False,
    )
    best = ranked(analysis.trials, analysis.direction)[:top]
    names = sorted({k for t in best for k in t.params})
    table = Table(title=f"best {len(best)} trials", header_style="bold")
    for col in ("#", "run", r.metric, *names):
        table.add_column(Text(col), justify="right" if col != "run" else "left")
    for t in best:
        table.add_row(
            str(t.number),
            t.run_id[:8],
            fmt_value(t.value),
            *(Text(fmt_value(t.params.get(k))) for k in names),
        )
    console.print(table)
    if importances:
        found = analysis.importances
        if not found.values:
            console.print(Text(found.note, style="dim"))
            return
        imp = Table(title="parameter importances (fANOVA)", header_style="bold")
        imp.add_column("param")
        imp.add_column("importance", justify="right")
        imp.add_column("")
        for k, v in found.values.items():
            imp.add_row(Text(k), f"{v:.3f}", "█" * round(v * 30))
        console.print(imp)


@app.command("list")
def list_sweeps(
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="Only sweeps of this project.")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, help="At most this many sweeps.")
    ] = 20,
) -> None:
    """List sweeps, newest first, with their trial counts and best value."""
    from loopml.sweeps import best_trial, points_from_trials

    sweeps = _sweeps()
    records = sweeps.list_sweeps(project=project, limit=limit)
    counts = sweeps.trial_counts([r.id for r in records])
    table = Table(title=f"sweeps ({len(records)})", header_style="bold")
    for col in ("id", "name", "project", "status", "started", "metric", "trials", "failed", "best"):
        table.add_column(
            col,
            justify="right" if col in ("trials", "failed", "best") else "left",
            no_wrap=col == "id",
        )
    for r in records:
        n = counts[r.id]
        best = best_trial(points_from_trials(sweeps.load_trials(r.id)), r.direction)
        table.add_row(
            r.id,
            Text(r.name),
            Text(r.project),
            status_text(r.status),
            fmt_time(r.created_at),
            Text(f"{r.direction} {r.metric}"),
            f"{sum(n.values())}/{r.config['n_trials']}",
            str(n.get("failed", 0)),
            fmt_value(best.value if best else None),
        )
    console.print(table)
