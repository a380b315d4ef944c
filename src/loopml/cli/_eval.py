"""``loopml eval ...``: evaluate predictions, then slice, tag, compare and rank the errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from loopml._errors import ValidationError
from loopml.cli._common import console, fmt_time, fmt_value, new_table

if TYPE_CHECKING:
    import pandas as pd

app = typer.Typer(
    help="Evaluate predictions on a dataset version; slice, tag and compare the errors.",
    no_args_is_help=True,
)


def _interval(low: Any, high: Any) -> str:
    if low is None or high is None:
        return ""
    return f"[{fmt_value(low)}, {fmt_value(high)}]"


def _frame_table(title: str, frame: pd.DataFrame, columns: list[str]) -> None:
    table = new_table(title, *columns)
    for _, row in frame.iterrows():
        # user text (predicates, tag names) goes in as Text so brackets survive
        table.add_row(
            *(Text(fmt_value(row[c]) if not isinstance(row[c], str) else row[c]) for c in columns)
        )
    console.print(table)


@app.command("run")
def run(
    predictions: Annotated[
        str,
        typer.Argument(
            help="A .parquet/.csv file with id, prediction (and probabilities), or a run id "
            "whose predictions.parquet artifact holds them."
        ),
    ],
    dataset: Annotated[
        str, typer.Option("--dataset", "-d", help="Dataset version, e.g. digits@1.")
    ],
    split: Annotated[
        str, typer.Option("--split", help="Split to score ('all' for every item).")
    ] = "test",
    classes: Annotated[
        str | None,
        typer.Option(
            "--classes", help="Comma-separated classes, in the order of the probabilities."
        ),
    ] = None,
    run_id: Annotated[
        str | None, typer.Option("--run", help="Link to this run and log the metrics on it.")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="A name for the evaluation.")] = None,
) -> None:
    """Score predictions on a dataset version's split and store one row per example."""
    from pathlib import Path

    import pandas as pd

    from loopml.analysis import evaluate

    path = Path(predictions)
    source: Any = predictions
    if path.suffix in (".parquet", ".csv"):
        if not path.is_file():
            raise ValidationError(
                f"no file {predictions!r}; give a .parquet or .csv file or a run id"
            )
        source = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    class_list = [c.strip() for c in classes.split(",")] if classes else None
    ev = evaluate(
        source, dataset, None if split == "all" else split, class_list, run=run_id, name=name
    )
    console.print(
        f"evaluation {ev.id[:12]}  {ev.record.name}  {ev.record.n_rows} rows", markup=False
    )
    _print_metrics(ev)


def _print_metrics(ev: Any) -> None:
    table = new_table("metrics (95% bootstrap interval)", "metric", "value", "interval")
    for m in ev.metrics.values():
        table.add_row(m.name, fmt_value(m.value), _interval(m.low, m.high))
    console.print(table)


@app.command("show")
def show(
    evaluation: Annotated[
        str | None, typer.Argument(help="Evaluation id or prefix (none: list evaluations).")
    ] = None,
) -> None:
    """Show an evaluation's metrics, confusion matrix and tags, or list evaluations."""
    from loopml.analysis import get_evaluation, list_evaluations

    if evaluation is None:
        table = new_table("evaluations", "id", "name", "task", "rows", "run", "created")
        for ev in list_evaluations():
            r = ev.record
            table.add_row(
                r.id[:12], Text(r.name), r.task, str(r.n_rows), (r.run_id or "")[:8],
                fmt_time(r.created_at),
            )  # fmt: skip
        console.print(table)
        return
    ev = get_evaluation(evaluation)
    r = ev.record
    console.print(
        f"evaluation {r.id}  {r.name}  dataset {ev.dataset.ref} split {r.split or 'all'}  "
        f"{r.n_rows} rows  run {r.run_id or '-'}  model {r.model_version or '-'}",
        markup=False,
    )
    _print_metrics(ev)
    if r.task == "classification" and len(r.classes) <= 12:
        cm = ev.confusion()
        table = new_table("confusion (rows: truth, columns: prediction)", "", *map(str, cm.columns))
        for label, row in cm.iterrows():
            table.add_row(Text(str(label)), *(str(v) for v in row))
        console.print(table)
    tags = ev.tags()
    if tags:
        table = new_table("tags", "tag", "kind", "examples", "rule")
        for t in tags:
            table.add_row(Text(t.name), t.kind, str(t.size), Text(t.rule or ""))
        console.print(table)


@app.command("slices")
def slices(
    evaluation: Annotated[str, typer.Argument(help="Evaluation id or prefix.")],
    where: Annotated[
        str | None,
        typer.Option(
            "--where", "-w", help="One slice, e.g. \"brightness < 0.3 and source = 'scan'\"."
        ),
    ] = None,
    k: Annotated[int, typer.Option("-k", help="How many slices to discover.")] = 5,
    min_size: Annotated[
        int | None, typer.Option("--min-size", help="Smallest slice (default: 0.1% of rows).")
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="List every single-predicate slice instead.")
    ] = False,
) -> None:
    """Discover the slices with significantly high error, or measure one slice (--where)."""
    from loopml.analysis import get_evaluation

    ev = get_evaluation(evaluation)
    if where is not None:
        s = ev.slice(where)
        if s.empty:
            console.print(Text(f"the slice {where} is empty: no example matches it"))
            return
        table = new_table("slice", "slice", "size", s.metric, "interval", "errors")
        table.add_row(
            Text(s.predicate), str(s.size), fmt_value(s.value), _interval(s.low, s.high),
            "" if s.errors is None else str(s.errors),
        )  # fmt: skip
        console.print(table)
        return
    if every:
        frame = ev.slices()
        _frame_table("slices", frame, ["slice", "size", "value", "low", "high"])
        return
    found = ev.discover_slices(k=k, min_size=min_size)
    if found.empty:
        console.print("no slice has an error rate significantly above the overall one")
        return
    _frame_table(
        f"slices with excess error (overall {fmt_value(found.attrs['overall_error_rate'])})",
        found,
        ["slice", "size", "error_rate", "p_value", "gain"],
    )


@app.command("ceiling")
def ceiling(
    evaluation: Annotated[str, typer.Argument(help="Evaluation id or prefix.")],
    by: Annotated[str, typer.Option("--by", help="tags or slices.")] = "tags",
    metric: Annotated[
        str | None,
        typer.Option(
            "--metric",
            help="accuracy, balanced_accuracy, macro_f1, micro_f1, log_loss, roc_auc, ece; "
            "rmse, mae, r2 for regression (default: accuracy, or rmse).",
        ),
    ] = None,
    error_threshold: Annotated[
        float | None,
        typer.Option(
            "--error-threshold",
            help="Regression: the absolute residual above which an example is an error "
            "(default: the largest 10%).",
        ),
    ] = None,
) -> None:
    """The ceiling table: how much better the metric gets if each tag's (or slice's) errors
    were fixed, by gain."""
    from loopml.analysis import get_evaluation

    ev = get_evaluation(evaluation)
    frame = ev.ceiling(by=by, metric=metric, error_threshold=error_threshold)
    metric = str(frame.attrs.get("metric", metric))
    if frame.empty:
        hint = "tag errors first (loopml eval tag)" if by == "tags" else "no slice was found"
        console.print(f"nothing to rank: {hint}")
        return
    label = "tag" if by == "tags" else "slice"
    frame = frame.assign(
        interval=[
            _interval(lo, hi) for lo, hi in zip(frame["gain_low"], frame["gain_high"], strict=True)
        ]
    )
    _frame_table(
        f"ceiling: {metric} gain if fixed",
        frame,
        [label, "errors", "share", "error_rate", "gain", "interval"],
    )


@app.command("compare")
def compare(
    champion: Annotated[str, typer.Argument(help="Evaluation id of the champion (a).")],
    challenger: Annotated[str, typer.Argument(help="Evaluation id of the challenger (b).")],
) -> None:
    """Compare two evaluations on the same rows: fixed, broken, and slices made worse."""
    from loopml.analysis import get_evaluation

    cmp = get_evaluation(champion).compare(challenger)
    o = cmp.overall
    console.print(
        f"accuracy {fmt_value(o['a_accuracy'])} -> {fmt_value(o['b_accuracy'])}  "
        f"delta {fmt_value(o['delta'])} {_interval(o['delta_low'], o['delta_high'])}  "
        f"fixed {o['fixed']}  broken {o['broken']}  McNemar p {fmt_value(o['p_value'])}",
        markup=False,
    )
    if cmp.regressions.empty:
        console.print("no slice is significantly worse")
    else:
        _frame_table(
            "regressions",
            cmp.regressions,
            ["slice", "size", "a_accuracy", "b_accuracy", "delta", "p_adjusted"],
        )
    if not cmp.tags.empty:
        _frame_table("per tag", cmp.tags, ["tag", "size", "delta", "fixed", "broken", "p_value"])


@app.command("tag")
def tag(
    evaluation: Annotated[str, typer.Argument(help="Evaluation id or prefix.")],
    name: Annotated[
        str, typer.Argument(help="Tag name, or low-confidence / suspected-label-error with --auto.")
    ],
    where: Annotated[
        str | None, typer.Option("--where", "-w", help="Tag the examples matching a predicate.")
    ] = None,
    items: Annotated[
        str | None, typer.Option("--items", help="Comma-separated item ids to tag by hand.")
    ] = None,
    errors_only: Annotated[
        bool, typer.Option("--errors-only", help="With --where: only the misclassified examples.")
    ] = False,
    auto: Annotated[
        bool,
        typer.Option("--auto", help="An automatic tag (low-confidence, suspected-label-error)."),
    ] = False,
) -> None:
    """Tag examples by rule (--where), by hand (--items) or automatically (--auto)."""
    from loopml.analysis import get_evaluation

    ev = get_evaluation(evaluation)
    if auto:
        t = ev.auto_tag(name)
    else:
        ids = [i.strip() for i in items.split(",") if i.strip()] if items else None
        t = ev.tag(name, ids, where=where, errors_only=errors_only)
    console.print(Text(f"tag {t.name} ({t.kind}): {t.size} examples"))
