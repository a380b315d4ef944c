"""``loopml models ...``: list registered models, show a version with its lineage, move aliases."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.text import Text

from loopml._errors import ValidationError
from loopml.cli._common import console, fmt_time, new_table

app = typer.Typer(
    help="List registered models, show a version with its lineage, move aliases.",
    no_args_is_help=True,
)


@app.command("list")
def list_() -> None:
    """List registered models with their latest version and aliases."""
    import loopml.registry as reg

    table = new_table("models", "name", "versions", "latest", "aliases", "created")
    for m in reg.list_models():
        aliases = ", ".join(f"@{a}->{v}" for a, v in m.aliases.items()) or "-"
        table.add_row(
            Text(m.name),
            str(m.n_versions),
            "-" if m.latest is None else str(m.latest),
            Text(aliases),
            fmt_time(m.created_at),
        )
    console.print(table)


@app.command("show")
def show(
    ref: Annotated[
        str, typer.Argument(help="NAME/3 (a version), NAME@ALIAS, or NAME (the latest).")
    ],
) -> None:
    """One model version: flavor, signature, aliases and their history, lineage."""
    import loopml.registry as reg

    mv = reg.get(ref)
    aliases = reg.list_models()
    current = next((m.aliases for m in aliases if m.name == mv.name), {})
    console.print(Text(f"{mv.ref}  ({mv.flavor}, {mv.task})", style="bold"))
    pointing = [a for a, v in current.items() if v == mv.version]
    console.print(Text(f"aliases here: {', '.join('@' + a for a in pointing) or '-'}"))
    console.print(Text(f"created {fmt_time(mv.created_at)} by {mv.created_by or '?'}"))
    console.print(Text(f"file: {mv.size:,} bytes, sha256 {mv.sha256[:16]}"))
    if mv.description:
        console.print(Text(f"description: {mv.description}"))
    if mv.classes is not None:
        shown = ", ".join(str(c) for c in mv.classes[:20])
        console.print(Text(f"classes ({len(mv.classes)}): {shown}"))
    if mv.signature is not None:
        sig = new_table("signature", "column", "dtype", "categories")
        for f in mv.signature.features:
            cats = ", ".join(f.categories[:6]) if f.categories else ""
            sig.add_row(Text(f.name), f.dtype, Text(cats))
        console.print(sig)
    else:
        console.print("signature: none (register with example=... to validate requests)")
    lin = mv.lineage()
    tree = new_table("lineage", "step", "what")
    tree.add_row("model", Text(mv.ref))
    if lin.run_id is None:
        tree.add_row("run", "- (registered without run=...)")
    elif lin.run is None:
        tree.add_row("run", Text(f"{lin.run_id} (deleted)"))
    else:
        tree.add_row("run", Text(f"{lin.run.id[:12]} {lin.run.name} ({lin.run.project})"))
    for ds in lin.datasets:
        tree.add_row("dataset", Text(f"{ds.name}@{ds.number} ({ds.n_items} items)"))
    for g in lin.guidelines:
        note = f" - {g.note}" if g.note else ""
        tree.add_row("guideline", Text(f"{g.project} v{g.version}: {g.labels} labels{note}"))
    for ev in lin.evaluations:
        tree.add_row("evaluation", Text(f"{ev.id[:8]} {ev.name}: {_metrics_text(ev)}"))
    if not lin.evaluations:
        tree.add_row(
            "evaluation", f"- (none; loopml.analysis.evaluate(..., model_version={mv.ref!r}))"
        )
    console.print(tree)
    history = reg.alias_history(mv.name)
    if history:
        hist = new_table("alias history", "when", "alias", "move", "by", "reason")
        for e in history[:20]:
            move = f"{e.from_version or '-'} -> {e.to_version or 'removed'}"
            hist.add_row(
                fmt_time(e.time), Text(e.alias), move, Text(e.user or "?"), Text(e.reason or "")
            )
        console.print(hist)


def _metrics_text(e: Any) -> str:
    """The first few metrics of an evaluation with their intervals, and its size."""
    parts = []
    for m in list(e.metrics.values())[:3]:
        if m.value is None:
            parts.append(f"{m.name} -")
        elif m.low is not None and m.high is not None:
            parts.append(f"{m.name} {m.value:.3f} [{m.low:.3f}, {m.high:.3f}]")
        else:
            parts.append(f"{m.name} {m.value:.3f}")
    split = f" {e.split}" if e.split else ""
    return f"{', '.join(parts) or 'no metrics'} ({e.n_rows:,} rows{split})"


@app.command("alias")
def alias(
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="Alias, e.g. champion.")],
    version: Annotated[
        int | None, typer.Argument(help="Version to point it at (omit with --remove).")
    ] = None,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why (kept in the audit log).")
    ] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Remove the alias.")] = False,
) -> None:
    """Point an alias at a version (or remove it); servers of NAME@ALIAS swap to it."""
    import loopml.registry as reg

    if remove:
        if version is not None:
            raise ValidationError("give either a VERSION or --remove, not both")
        e = reg.remove_alias(name, alias_name, reason)
        console.print(Text(f"{name}@{alias_name} removed (was version {e.from_version})"))
        return
    if version is None:
        raise ValidationError(
            f"give the version to point {name}@{alias_name} at, e.g. "
            f"`loopml models alias {name} {alias_name} 3`, or --remove"
        )
    e = reg.set_alias(name, alias_name, version, reason)
    was = "" if e.from_version is None else f" (was {e.from_version})"
    console.print(Text(f"{name}@{alias_name} -> version {version}{was}"))
