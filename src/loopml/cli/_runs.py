"""``loopml runs ...`` and ``loopml recover``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from loopml._errors import ValidationError
from loopml.cli._common import (
    Col,
    console,
    fit_table,
    fmt_ago,
    fmt_duration,
    fmt_time,
    fmt_value,
    new_table,
    status_text,
)

app = typer.Typer(help="List, inspect, export and delete runs.", no_args_is_help=True)

ProjectOpt = Annotated[
    str | None, typer.Option("--project", "-p", help="Only runs of this project.")
]
WhereOpt = Annotated[
    str | None,
    typer.Option(
        "--where", "-w", help="Filter, e.g. \"metrics.acc > 0.9 and params.model = 'svc'\"."
    ),
]
SortOpt = Annotated[
    str | None,
    typer.Option("--sort", "-s", help="Sort keys, e.g. '-metrics.acc,name' ('-' = descending)."),
]
LimitOpt = Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many runs.")]


def _store():  # type: ignore[no-untyped-def]
    from loopml.tracking import default_session

    return default_session().store


@app.command("list")
def list_runs(
    project: ProjectOpt = None,
    where: WhereOpt = None,
    sort: SortOpt = None,
    limit: LimitOpt = 20,
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns",
            "-c",
            help="Extra columns, e.g. 'metrics.acc,params.model'; default: all metrics.",
        ),
    ] = None,
) -> None:
    """Show runs as a table, newest first unless --sort says otherwise."""
    store = _store()
    store.runs.check_query(project, where)
    records = store.runs.search(project, where, sort, limit)
    total = store.runs.count(project, where)
    if columns:
        extra = [c.strip() for c in columns.split(",") if c.strip()]
    else:
        keys = sorted({k for r in records for k in r.metrics})
        extra = [f"metrics.{k}" for k in keys][:8]
    # Narrow terminals drop columns by priority, never cutting a number: id, name, status and the
    # metrics first, then duration, start time, and the project (only listed when it varies).
    projects = {r.project for r in records}
    cols = [
        Col("id", [r.id[:8] for r in records], priority=0),
        Col("name", [Text(r.name) for r in records], priority=0, wrap=True),
        Col("status", [Text.from_markup(status_text(r.status)) for r in records], priority=1),
    ]
    if project is None and len(projects) > 1:
        cols.insert(2, Col("project", [Text(r.project) for r in records], priority=40, wrap=True))
    flats = [r.to_flat_dict() for r in records]
    for i, c in enumerate(extra):
        cells = ["-" if f.get(c) is None else fmt_value(f.get(c)) for f in flats]
        cols.append(Col(c.split(".", 1)[-1], cells, priority=10 + i, justify="right"))
    cols.append(Col("duration", [fmt_duration(r.duration) for r in records], priority=30))
    cols.append(Col("started", [fmt_ago(r.created_at) for r in records], priority=35))
    table, dropped = fit_table(f"runs ({len(records)} of {total})", cols)
    console.print(table)
    if dropped:
        console.print(
            f"left out to fit {console.width} columns: {', '.join(dropped)} "
            "(widen the terminal, or pick with --columns)",
            markup=False,
            style="dim",
        )


@app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(help="Run id or a unique prefix (4+ characters).")],
) -> None:
    """Show one run: attributes, params, metric summaries, tags, artifacts and environment."""
    store = _store()
    r = store.runs.get(run_id)
    info = Table.grid(padding=(0, 2))
    info.add_column(style="bold")
    info.add_column()
    for label, value in (
        ("id", r.id),
        ("project", r.project),
        ("status", status_text(r.status)),
        ("started", fmt_time(r.created_at)),
        ("ended", fmt_time(r.ended_at)),
        ("duration", fmt_duration(r.duration)),
        ("git", f"{r.git_commit or '-'}{' (dirty)' if r.git_dirty else ''}"),
        ("command", r.command or "-"),
        ("host", f"{r.host or '-'} (pid {r.pid})"),
        ("sweep", r.sweep_id or "-"),
    ):
        info.add_row(label, value)
    console.print(Panel(info, title=f"run {r.name}", expand=False))
    if r.params:
        t = new_table("params", "key", "value")
        for k, v in r.params.items():
            t.add_row(k, fmt_value(v))
        console.print(t)
    if r.metrics:
        t = Table(title="metrics", header_style="bold")
        for col in ("key", "last", "step", "min", "max", "count"):
            t.add_column(col, justify="left" if col == "key" else "right")
        for k, m in r.metrics.items():
            t.add_row(
                k,
                fmt_value(m.last),
                str(m.last_step),
                fmt_value(m.min),
                fmt_value(m.max),
                str(m.count),
            )
        console.print(t)
    if r.tags:
        console.print("[bold]tags[/] " + ", ".join(f"{k}={v}" for k, v in r.tags.items()))
    arts = store.runs.list_artifacts(r.id)
    if arts:
        t = Table(title="artifacts", header_style="bold")
        t.add_column("name")
        t.add_column("size", justify="right")
        for a in arts:
            t.add_row(a.name, f"{a.size:,}")
        console.print(t)
    if r.error:
        console.print(Panel(r.error.strip(), title="error", border_style="red", expand=False))
    if r.environment:
        packages = r.environment.get("packages") or {}
        if packages:
            console.print(
                "packages: " + fmt_value(packages),
                markup=False,
                style="dim",
            )


@app.command("export")
def export(
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")],
    format: Annotated[str, typer.Option("--format", "-f", help="parquet or csv.")] = "parquet",
    project: ProjectOpt = None,
    where: WhereOpt = None,
    sort: SortOpt = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", "-n", min=1, help="At most this many runs (default all)."),
    ] = None,
) -> None:
    """Write runs (attributes, params.*, metrics.*, tags.*) to a Parquet or CSV file."""
    from loopml.tracking import runs

    fmt = format.lower()
    if fmt not in ("parquet", "csv"):
        raise ValidationError(f"--format {format!r} is not supported; use parquet or csv")
    frame = runs(project, where, sort, limit)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.partial")
    if fmt == "parquet":
        frame.to_parquet(tmp, index=False)
    else:
        frame.to_csv(tmp, index=False)
    tmp.replace(output)
    console.print(f"wrote {len(frame)} runs to {output}")


@app.command("delete")
def delete(
    run_ids: Annotated[
        list[str] | None, typer.Argument(help="Run ids (or unique prefixes).")
    ] = None,
    project: ProjectOpt = None,
    where: WhereOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete runs by id, or every run matching --project/--where, with their data and artifacts."""
    store = _store()
    if run_ids:
        ids = [store.runs.resolve_id(i) for i in run_ids]
    elif where or project:
        ids = [r.id for r in store.runs.search(project, where, None, None)]
    else:
        raise ValidationError(
            "name the runs to delete: give run ids, or --project/--where to select them"
        )
    if not ids:
        console.print("no runs match; nothing deleted")
        return
    if not yes and not typer.confirm(f"delete {len(ids)} run(s)? This cannot be undone"):
        raise typer.Abort()
    n = store.runs.delete(ids)
    console.print(f"deleted {n} run(s)")


def recover_command() -> None:
    """Replay the journals of processes that died, and mark their runs crashed."""
    from loopml.tracking import default_session, recover

    session = default_session()
    first = session.last_recovery  # opening the store already recovered what it found
    report = recover()
    journals = first.journals + report.journals
    points = first.points + report.points
    crashed = sorted(set(first.runs_crashed + report.runs_crashed))
    console.print(
        f"recovered {journals} journal(s), {points:,} point(s); {len(crashed)} run(s) marked crashed"
    )
    for run_id in crashed:
        console.print(f"  {run_id}  {status_text('crashed')}")
