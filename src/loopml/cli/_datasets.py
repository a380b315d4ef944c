"""``loopml datasets ...``: create, list, show and diff dataset versions."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from loopml._errors import ValidationError
from loopml.cli._common import console, fmt_time, fmt_value, new_table

app = typer.Typer(help="Create, list, show and compare dataset versions.", no_args_is_help=True)


def _fractions(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise ValidationError(
                f"--split {text!r} is not understood; write fractions like 'train=0.8,test=0.2' or a column name"
            )
    return out


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Dataset name, e.g. 'digits'.")],
    source: Annotated[
        str, typer.Argument(help="A .csv, .parquet or .jsonl file, or a folder of images.")
    ],
    id_column: Annotated[
        str, typer.Option("--id-column", help="Column holding item ids (default: number the rows).")
    ] = "id",
    label_column: Annotated[
        str, typer.Option("--label-column", help="Column holding labels, if any.")
    ] = "label",
    split: Annotated[
        str | None,
        typer.Option("--split", help="A split column, or fractions like 'train=0.8,test=0.2'."),
    ] = None,
    metadata: Annotated[
        str | None,
        typer.Option("--metadata", help="Comma-separated metadata columns (not inputs)."),
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="What this version is.")] = None,
) -> None:
    """Store a file or folder as the next version of a dataset (identical content: same version)."""
    import loopml

    split_arg: Any = None
    if split:
        split_arg = _fractions(split) if "=" in split else split
    meta = [m.strip() for m in metadata.split(",") if m.strip()] if metadata else []
    v = loopml.datasets.create(
        name,
        source,
        id_column=id_column,
        label_column=label_column,
        split=split_arg,
        metadata=meta,
        note=note,
    )
    console.print(
        f"{v.ref}  {v.digest[:12]}  {v.n_items} items  splits {fmt_value(v.splits)}", markup=False
    )


@app.command("list")
def list_() -> None:
    """List datasets with their latest version."""
    import loopml

    table = new_table("datasets", "name", "latest", "digest", "items", "splits", "created")
    for v in loopml.datasets.list_datasets():
        splits = ", ".join(f"{k} {n}" for k, n in v.splits.items())
        table.add_row(
            v.name, f"v{v.number}", v.digest[:12], str(v.n_items), splits, fmt_time(v.created_at)
        )
    console.print(table)


@app.command("show")
def show(ref: Annotated[str, typer.Argument(help="'name', 'name@3' or a digest prefix.")]) -> None:
    """Show a dataset version: columns, splits, source, every version, and the runs that used it."""
    import loopml

    v = loopml.datasets.get(ref)
    console.print(f"[bold]{v.ref}[/]  digest {v.digest}")
    console.print(
        f"items {v.n_items}   splits {fmt_value(v.splits)}   label column {v.label or '-'}",
        markup=False,
    )
    console.print(f"inputs {', '.join(v.inputs[:12])}{' ...' if len(v.inputs) > 12 else ''}")
    if v.metadata:
        console.print(f"metadata {', '.join(v.metadata)}")
    console.print(
        f"source {fmt_value(v.source)}   note {v.note or '-'}   file {v.path}", markup=False
    )
    versions = new_table(f"versions of {v.name}", "version", "digest", "items", "created", "note")
    for o in loopml.datasets.versions(v.name):
        versions.add_row(
            f"v{o.number}", o.digest[:12], str(o.n_items), fmt_time(o.created_at), o.note or ""
        )
    console.print(versions)
    users = loopml.datasets.used_by(v)
    if users:
        console.print(
            "used by runs: "
            + ", ".join(f"{u['id'][:8]} ({u['project']}/{u['name']})" for u in users)
        )


@app.command("diff")
def diff(
    a: Annotated[str, typer.Argument(help="The older version, e.g. 'digits@1'.")],
    b: Annotated[str, typer.Argument(help="The newer version, e.g. 'digits@2'.")],
    limit: Annotated[int, typer.Option("--limit", "-n", help="Ids to print per list.")] = 20,
) -> None:
    """List the items added, removed and changed from version A to version B."""
    import loopml

    d = loopml.datasets.diff(a, b)
    console.print(
        f"{d.a} -> {d.b}: {len(d.added)} added, {len(d.removed)} removed, {len(d.changed)} changed"
    )
    for title, ids in (("added", d.added), ("removed", d.removed)):
        if ids:
            console.print(
                f"[bold]{title}[/]: "
                + ", ".join(ids[:limit])
                + (" ..." if len(ids) > limit else "")
            )
    if d.changed:
        console.print("[bold]changed[/]:")
        for item, cols in list(d.changed.items())[:limit]:
            console.print(f"  {item}: {', '.join(cols)}")
