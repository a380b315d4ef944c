"""``loopml monitor ...``: init a catalog, run or backfill windows, alerts, prune and restore."""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from loopml.cli._common import console, err_console, fmt_value, new_table

if TYPE_CHECKING:
    from loopml.store import CompactionResult

app = typer.Typer(
    help="Monitor a served model's prediction log: metrics per window, drift, alerts, pruning.",
    no_args_is_help=True,
)

Model = Annotated[str, typer.Argument(help="The served model's name (its prediction log).")]


def _when(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M")


def _print_run(result: object) -> None:
    from loopml.monitoring import MonitorRun

    assert isinstance(result, MonitorRun)
    console.print(
        Text(
            f"{result.model}: {result.windows} windows computed "
            f"({_when(result.since)} .. {_when(result.until)} UTC), "
            f"{result.values_written} values, {len(result.alerts)} new alerts, "
            f"{len(result.incidents)} incidents touched",
        )
    )
    if result.empty_windows:
        console.print(
            Text(
                f"{len(result.empty_windows)} empty windows (no traffic), first "
                f"{_when(result.empty_windows[0])}",
                style="yellow",
            )
        )
    if result.recomputed:
        console.print(
            Text(
                f"{len(result.recomputed)} windows recomputed for {result.late_rows} rows that "
                f"landed late, first {_when(result.recomputed[0])}",
                style="yellow",
            )
        )
    if result.stale_writers:
        console.print(
            Text(
                f"went on without {len(result.stale_writers)} stuck log writers "
                f"({', '.join(result.stale_writers)}): their rows will land late",
                style="yellow",
            )
        )
    for change in result.schema_changes:
        console.print(
            Text(
                f"schema change: column {change.column} {change.change} in {change.first_file}",
                style="yellow",
            )
        )
    for a in result.alerts[:20]:
        console.print(Text(f"  alert {a.id}  {_when(a.window_start)}  {a.metric}: {a.detail}"))
    if len(result.alerts) > 20:
        console.print(Text(f"  ... and {len(result.alerts) - 20} more: loopml monitor alerts"))


def _interval(text: str, option: str = "--every") -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    raw = text.strip().lower()
    unit = raw[-1] if raw[-1:] in units else "s"
    try:
        seconds = float(raw.rstrip("smh")) * units[unit]
    except ValueError:
        seconds = -1
    if seconds <= 0:
        raise typer.BadParameter(f"{option} {text!r} is not an interval; write e.g. 60s or 5m")
    return seconds


@app.command("init")
def init(
    model: Model,
    reference: Annotated[
        str | None,
        typer.Option("--reference", "-r", help="A dataset version (the training data): name@N."),
    ] = None,
    reference_since: Annotated[
        str | None,
        typer.Option("--reference-since", help="Or a window of the log: start (ISO 8601, UTC)."),
    ] = None,
    reference_until: Annotated[
        str | None, typer.Option("--reference-until", help="End of the reference window.")
    ] = None,
    window: Annotated[str, typer.Option("--window", "-w", help="Window: 1m .. 1d.")] = "1h",
    webhook: Annotated[
        str | None, typer.Option("--webhook", help="URL that receives each new incident.")
    ] = None,
    segments: Annotated[
        int, typer.Option("--segments", min=0, help="Top values per categorical feature.")
    ] = 3,
) -> None:
    """Generate every applicable metric for MODEL (a new catalog version)."""
    import loopml.monitoring as mon

    version = mon.init(
        model,
        reference,
        reference_since=reference_since,
        reference_until=reference_until,
        window=window,
        webhook=webhook,
        segments=segments,
    )
    console.print(
        Text(f"{model}: catalog version {version.version}, {version.n_active} active metrics")
    )
    console.print(Text(version.note, style="dim"))


@app.command("run")
def run(
    model: Model,
    every: Annotated[
        str | None,
        typer.Option("--every", help="Keep running, once per interval (e.g. 60s, 5m)."),
    ] = None,
    max_runs: Annotated[
        int | None, typer.Option("--max-runs", min=1, help="Stop after this many runs.")
    ] = None,
) -> None:
    """Compute the windows closed since the last run, raise alerts, notify incidents."""
    import loopml.monitoring as mon

    interval = _interval(every) if every else None
    done = 0
    try:
        while True:
            _print_run(mon.run(model))
            _print_compaction(mon.compact_log(model), quiet=True)
            done += 1
            if interval is None or (max_runs is not None and done >= max_runs):
                break
            time.sleep(interval)
    except KeyboardInterrupt:
        err_console.print("stopped")


@app.command("backfill")
def backfill(
    model: Model,
    since: Annotated[str, typer.Option("--since", help="Start (ISO 8601, UTC).")],
    until: Annotated[str, typer.Option("--until", help="End (ISO 8601, UTC), exclusive.")],
    ray: Annotated[
        str | None,
        typer.Option("--ray", help="Ray cluster address: one task per day of history."),
    ] = None,
) -> None:
    """Compute every active metric over the history [since, until) in one pass."""
    import loopml.monitoring as mon

    with console.status(f"computing {model}'s windows ..."):
        result = mon.backfill(model, since, until, ray_address=ray)
    _print_run(result)


@app.command("alerts")
def alerts(
    model: Model,
    useful: Annotated[
        list[int] | None, typer.Option("--useful", help="Mark this alert id useful.")
    ] = None,
    noise: Annotated[
        list[int] | None, typer.Option("--noise", help="Mark this alert id noise.")
    ] = None,
    verdict: Annotated[
        str | None, typer.Option("--verdict", help="Only: useful, noise or none (unjudged).")
    ] = None,
    incident: Annotated[int | None, typer.Option("--incident", help="Only this incident.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many.")] = 30,
    by: Annotated[
        str | None, typer.Option("--by", help="Who judged (with --useful/--noise).")
    ] = None,
) -> None:
    """List MODEL's alerts (newest first), or mark them useful or noise."""
    import loopml.monitoring as mon

    if useful or noise:
        n = 0
        if useful:
            n += mon.mark(useful, "useful", by=by)
        if noise:
            n += mon.mark(noise, "noise", by=by)
        console.print(f"marked {n} alerts")
        return
    rows = mon.alerts(model, verdict=verdict, incident=incident, limit=limit)
    table = new_table(f"{model}: alerts", "id", "window", "metric", "rule", "value", "verdict")
    for a in rows:
        table.add_row(
            str(a.id),
            _when(a.window_start),
            Text(a.metric),
            a.rule,
            fmt_value(a.value),
            a.verdict or "-",
        )
    console.print(table)
    if not rows:
        console.print("no alerts")


@app.command("prune")
def prune(
    model: Model,
    apply: Annotated[bool, typer.Option("--apply", help="Prune them (history is kept).")] = False,
    keep: Annotated[
        list[str] | None, typer.Option("--keep", help="Never prune names like this (glob).")
    ] = None,
    show: Annotated[int, typer.Option("--show", min=0, help="Reasons to print.")] = 25,
) -> None:
    """Suggest which metrics to prune, with reasons; --apply prunes them."""
    import loopml.monitoring as mon

    plan = mon.prune(model, apply=apply, keep=keep or ())
    table = new_table(
        f"{model}: prune {len(plan.prune)} of {len(plan.prune) + len(plan.keep)}", "metric", "why"
    )
    for s in plan.prune[:show]:
        table.add_row(Text(s.metric), Text(s.reason))
    console.print(table)
    if len(plan.prune) > show:
        console.print(f"... and {len(plan.prune) - show} more")
    console.print(Text(f"keep {len(plan.keep)}: {', '.join(plan.keep[:12])}"))
    if plan.applied:
        console.print(
            Text(f"applied: catalog version {plan.applied.version}, {plan.applied.n_active} active")
        )
    elif plan.prune:
        console.print(Text(f"apply with: loopml monitor prune {model} --apply"))


@app.command("restore")
def restore(
    model: Model,
    metrics: Annotated[list[str], typer.Argument(help="Pruned metric names to bring back.")],
) -> None:
    """Bring pruned metrics back (their history was kept)."""
    import loopml.monitoring as mon

    version = mon.restore(model, metrics)
    console.print(
        Text(f"{model}: catalog version {version.version}, {version.n_active} active metrics")
    )


def _print_compaction(result: CompactionResult, *, quiet: bool = False) -> None:
    for why in result.skipped:
        err_console.print(Text(f"  not compacted: {why}"))
    if quiet and not result.hours and not result.removed:
        return
    console.print(
        Text(
            f"{result.model}: {result.hours} hour(s) compacted ({result.parts} parts, "
            f"{result.rows:,} rows into one file each); {result.removed} leftover part(s) removed"
        )
    )


@app.command("compact")
def compact(
    model: Model,
    closed_after: Annotated[
        str, typer.Option("--closed-after", help="An hour is closed this long after its end.")
    ] = "10m",
) -> None:
    """Merge each closed hour of MODEL's prediction log into one file (safe while serving)."""
    import loopml.monitoring as mon

    seconds = (
        0.0 if closed_after.strip() in ("0", "0s") else _interval(closed_after, "--closed-after")
    )
    _print_compaction(mon.compact_log(model, closed_after=seconds))


@app.command("catalog")
def catalog(
    model: Model,
    pruned: Annotated[bool, typer.Option("--pruned", help="List the pruned metrics.")] = False,
    versions: Annotated[
        bool, typer.Option("--versions", help="Show how the catalog evolved.")
    ] = False,
) -> None:
    """List MODEL's active (or pruned) metrics, or the catalog's versions."""
    import loopml.monitoring as mon

    if versions:
        table = new_table(f"{model}: catalog versions", "version", "active", "when", "note")
        for v in mon.catalog_versions(model):
            table.add_row(str(v.version), str(v.n_active), _when(v.created_at), Text(v.note))
        console.print(table)
        return
    metrics = mon.catalog(model, state="pruned" if pruned else "active")
    table = new_table(
        f"{model}: {len(metrics)} {'pruned' if pruned else 'active'} metrics",
        "metric",
        "kind",
        "group",
    )
    for m in metrics:
        table.add_row(Text(m.name), m.kind, m.group)
    console.print(table)
