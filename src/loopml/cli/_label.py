"""``loopml label ...``: labeling projects, guidelines, queues, agreement, review and label issues."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from loopml._errors import NotFoundError, ValidationError
from loopml.cli._common import console, fmt_time, fmt_value, new_table

if TYPE_CHECKING:
    import numpy as np

    from loopml.labeling import LabelingProject

app = typer.Typer(
    help="Label data under versioned guidelines; measure agreement; review; find label issues.",
    no_args_is_help=True,
)
guidelines_app = typer.Typer(
    help="Publish, list, show and diff guideline versions.", no_args_is_help=True
)
annotators_app = typer.Typer(help="Add and list annotators and reviewers.", no_args_is_help=True)
app.add_typer(guidelines_app, name="guidelines")
app.add_typer(annotators_app, name="annotators")

ProjectOpt = Annotated[
    str | None,
    typer.Option(
        "--project",
        "-p",
        help="Labeling project (default: $LOOPML_LABEL_PROJECT, or the only one).",
    ),
]


def _csv(text: str | None) -> list[str] | None:
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


def _project(name: str | None) -> LabelingProject:
    import loopml

    name = name or os.environ.get("LOOPML_LABEL_PROJECT")
    if not name:
        names = [p["name"] for p in loopml.labeling.list_projects()]
        if len(names) != 1:
            raise ValidationError(
                f"which labeling project? give --project NAME (there are {len(names)}: {', '.join(names) or 'none'}) "
                "or set LOOPML_LABEL_PROJECT"
            )
        name = names[0]
    return loopml.labeling.project(name)


def _load_probs(path: Path) -> np.ndarray:
    import numpy as np

    if not path.is_file():
        raise NotFoundError(
            f"no file {str(path)!r}; save probabilities with numpy.save('probs.npy', array)"
        )
    return np.load(path, allow_pickle=False)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Project name.")],
    dataset: Annotated[
        str, typer.Option("--dataset", "-d", help="Dataset version to label, e.g. 'digits@1'.")
    ],
    classes: Annotated[
        str | None,
        typer.Option(
            "--classes",
            help="Comma-separated classes in key order (default: the dataset's labels).",
        ),
    ] = None,
    multi_label: Annotated[
        bool, typer.Option("--multi-label", help="Each item may take several classes.")
    ] = False,
    overlap: Annotated[int, typer.Option("--overlap", "-k", help="Annotators per item.")] = 1,
    show_others: Annotated[
        bool, typer.Option("--show-others", help="Annotators may see each other's labels.")
    ] = False,
    min_agreement: Annotated[
        float, typer.Option("--min-agreement", help="Below this vote share an item goes to review.")
    ] = 0.6,
) -> None:
    """Create a labeling project over a dataset version."""
    import loopml

    p = loopml.labeling.create_project(
        name,
        dataset,
        _csv(classes),
        multi_label=multi_label,
        overlap=overlap,
        show_others=show_others,
        min_agreement=min_agreement,
    )
    console.print(
        f"created labeling project {p.name!r} on {p.dataset.ref}: {len(p)} items, classes {', '.join(p.classes)}"
    )


@app.command("projects")
def projects() -> None:
    """List labeling projects."""
    import loopml

    table = new_table(
        "labeling projects", "project", "classes", "overlap", "items", "annotations", "created"
    )
    for r in loopml.labeling.list_projects():
        table.add_row(
            r["name"],
            ", ".join(r["classes"]),
            str(r["overlap"]),
            str(r["n_items"]),
            str(r["n_annotations"]),
            fmt_time(r["created_at"]),
        )
    console.print(table)


@app.command("status")
def status(project: ProjectOpt = None) -> None:
    """Show a project's items, guideline version, queue and open reviews."""
    p = _project(project)
    s = p.status()
    q = s["queue"]
    to_review = len(p.review_queue(["tie", "low_agreement"], limit=None))
    to_check = len(p.review_queue(["label_issue"], limit=None))
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for label, value in (
        ("project", s["project"]),
        ("dataset", f"{s['dataset']}, {s['items']:,} items"),
        ("classes", ", ".join(s["classes"])),
        ("guideline", f"v{s['guideline_version']}" if s["guideline_version"] else "none yet"),
        ("annotators", str(s["annotators"])),
        ("queue", f"{q['pending']:,} pending, {q['done']:,} done, {q['skipped']:,} skipped"),
        (
            "open reviews",
            f"{to_review:,} ties or low agreement, {to_check:,} suspected label errors",
        ),
    ):
        grid.add_row(label, Text(value))
    console.print(grid)
    if to_review or to_check:
        console.print(f"list them: loopml label review --project {p.name}", markup=False)


# -- guidelines ------------------------------------------------------------------------------
@guidelines_app.command("publish")
def publish(
    file: Annotated[Path, typer.Argument(help="The guideline in Markdown.")],
    note: Annotated[
        str,
        typer.Option(
            "--note",
            "-m",
            help="What changed and why; class names in it mark the classes affected.",
        ),
    ],
    project: ProjectOpt = None,
    affects: Annotated[
        str | None,
        typer.Option(
            "--affects",
            help="Comma-separated classes the change affects (default: those named in the note).",
        ),
    ] = None,
    author: Annotated[str | None, typer.Option("--author", help="Who wrote this version.")] = None,
) -> None:
    """Publish the next guideline version; items whose labels touch the affected classes are queued for relabeling."""
    if not file.is_file():
        raise NotFoundError(
            f"no guideline file {str(file)!r}; write the guideline as a Markdown file"
        )
    g = _project(project).publish_guidelines(
        file.read_text(encoding="utf-8"), note, affects=_csv(affects), author=author
    )
    console.print(
        f"published guideline v{g.version}"
        + (
            f"; affects {', '.join(g.affects)}: {g.queued} relabel tasks queued"
            if g.version > 1
            else ""
        )
    )


@guidelines_app.command("list")
def guidelines_list(project: ProjectOpt = None) -> None:
    """List guideline versions with their change notes."""
    table = new_table("guideline versions", "version", "published", "author", "affects", "note")
    for g in _project(project).guidelines():
        table.add_row(
            f"v{g.version}", fmt_time(g.created_at), g.author or "", ", ".join(g.affects), g.note
        )
    console.print(table)


@guidelines_app.command("show")
def guidelines_show(
    project: ProjectOpt = None,
    version: Annotated[
        int | None, typer.Option("--version", "-v", help="Version (default: latest).")
    ] = None,
) -> None:
    """Print a guideline version's text."""
    g = _project(project).guideline(version)
    console.print(f"[bold]v{g.version}[/] - {g.note}\n")
    console.print(g.text, markup=False)


@guidelines_app.command("diff")
def guidelines_diff(
    old: Annotated[int, typer.Argument(help="Older version number.")],
    new: Annotated[int, typer.Argument(help="Newer version number.")],
    project: ProjectOpt = None,
) -> None:
    """Show what changed between two guideline versions (unified diff)."""
    console.print(_project(project).guideline_diff(old, new) or "(no change)", markup=False)


# -- annotators and queues -------------------------------------------------------------------
@annotators_app.command("add")
def annotators_add(
    names: Annotated[list[str], typer.Argument(help="Annotator names.")],
    project: ProjectOpt = None,
    role: Annotated[str, typer.Option("--role", help="'annotator' or 'reviewer'.")] = "annotator",
) -> None:
    """Add annotators (or reviewers) to a project."""
    added = _project(project).add_annotators(names, role=role)
    console.print(f"{len(added)} {role}s: {', '.join(sorted(added))}")


@annotators_app.command("list")
def annotators_list(project: ProjectOpt = None) -> None:
    """List annotators with their label, flag and pending counts."""
    table = new_table("annotators", "name", "role", "labels", "flags", "pending")
    for a in _project(project).annotators():
        table.add_row(a["name"], a["role"], str(a["labels"]), str(a["flags"]), str(a["pending"]))
    console.print(table)


@app.command("assign")
def assign(
    project: ProjectOpt = None,
    annotators: Annotated[
        str | None,
        typer.Option("--annotators", "-a", help="Comma-separated names (default: all annotators)."),
    ] = None,
    overlap: Annotated[
        int | None,
        typer.Option("--overlap", "-k", help="Annotators per item (default: the project's)."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", help="At most this many new items.")
    ] = None,
) -> None:
    """Queue a batch of not-yet-assigned items, each to k annotators."""
    batch, added = _project(project).assign(_csv(annotators), overlap=overlap, limit=limit)
    console.print(f"batch {batch}: {added} queue entries added")


@app.command("next")
def next_(
    annotator: Annotated[str, typer.Option("--annotator", "-a", help="Whose queue.")],
    project: ProjectOpt = None,
    n: Annotated[int, typer.Option("--n", help="How many items to show.")] = 5,
) -> None:
    """Show the next items in an annotator's queue."""
    p = _project(project)
    for q in p.next_items(annotator, n):
        console.print(f"{q.item_id}  ({q.reason}, guideline v{q.round})", markup=False)
    counts = p.queue_counts(annotator)
    console.print(
        f"queue: {counts['pending']} pending, {counts['done']} done, {counts['skipped']} skipped"
    )


@app.command("annotate")
def annotate(
    item: Annotated[str, typer.Argument(help="Item id.")],
    label: Annotated[str, typer.Argument(help="Class name (comma-separated for multi-label).")],
    annotator: Annotated[str, typer.Option("--annotator", "-a", help="Who labels.")],
    project: ProjectOpt = None,
    flag: Annotated[
        bool, typer.Option("--flag", help="Flag the item (e.g. the guideline is unclear here).")
    ] = False,
    comment: Annotated[str | None, typer.Option("--comment", help="Why it is flagged.")] = None,
    seconds: Annotated[float | None, typer.Option("--seconds", help="Time spent.")] = None,
) -> None:
    """Record one label under the latest guideline version."""
    p = _project(project)
    value = _csv(label) if p.schema.multi_label else label
    p.annotate(annotator, item, value, flag=flag or bool(comment), comment=comment, seconds=seconds)
    console.print(f"labeled {item} as {label}", markup=False)


@app.command("labels")
def labels(
    item: Annotated[str, typer.Argument(help="Item id.")],
    project: ProjectOpt = None,
) -> None:
    """List every label of one item, oldest first: who, which class, under which guideline."""
    p = _project(project)
    rows = p.item_annotations(item)
    table = new_table(f"labels of {item}", "annotator", "label", "guideline", "kind", "comment")
    for r in rows:
        label = r["label"]
        table.add_row(
            Text(r["annotator"]),
            Text("(undecided)" if label is None else fmt_value(label)),
            f"v{r['guideline_version']}",
            r["kind"] + (", flagged" if r.get("flag") else ""),
            Text(r.get("comment") or ""),
        )
    console.print(table)
    if not rows:
        console.print(f"{item} has no labels yet", markup=False)


# -- quality ---------------------------------------------------------------------------------
@app.command("agreement")
def agreement(project: ProjectOpt = None) -> None:
    """Agreement per guideline version, side by side: kappas, alpha, alpha per class, top confusions."""
    p = _project(project)
    stats = p.agreement()
    if not stats:
        console.print("no labels yet")
        return
    table = Table(title=f"agreement per guideline version - {p.name}", header_style="bold")
    table.add_column("")
    for s in stats:
        table.add_column(f"v{s.version}", justify="right")
    rows = [
        ("annotations", [str(s.n_annotations) for s in stats]),
        ("items with 2+ labels", [str(s.n_items) for s in stats]),
        ("percent agreement", [f"{s.percent_agreement:.3f}" for s in stats]),
        ("Cohen's kappa (mean of pairs)", [f"{s.cohen_kappa:.3f}" for s in stats]),
        ("Fleiss' kappa", [f"{s.fleiss_kappa:.3f}" for s in stats]),
        ("Krippendorff's alpha", [f"{s.krippendorff_alpha:.3f}" for s in stats]),
    ]
    rows += [
        (f"  alpha({c})", [f"{s.alpha_per_class.get(c, float('nan')):.3f}" for s in stats])
        for c in p.classes
    ]
    rows.append(
        (
            "most confused",
            [", ".join(f"{a}/{b} ({n})" for a, b, n in s.confused_pairs[:3]) for s in stats],
        )
    )
    for label, values in rows:
        table.add_row(label, *values)
    console.print(table)


@app.command("problems")
def problems(
    project: ProjectOpt = None,
    version: Annotated[
        int | None,
        typer.Option("--version", "-v", help="Guideline version (default: latest labeled)."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Class pairs to show.")] = 10,
) -> None:
    """Where the guideline is ambiguous: disagreements and flags by class pair, with examples and comments."""
    groups = _project(project).problems(version)[:limit]
    if not groups:
        console.print("no disagreements or flags")
    for g in groups:
        console.print(
            f"[bold]{g.a} vs {g.b}[/]: {g.n_items} disputed items, {g.n_flags} flags; e.g. {', '.join(map(str, g.examples))}"
        )
        for c in g.comments[:3]:
            console.print(f"    {c['annotator']} on {c['item']}: {c['comment']}", markup=False)


@app.command("consensus")
def consensus(
    project: ProjectOpt = None,
    method: Annotated[
        str, typer.Option("--method", help="'majority' or 'dawid_skene'.")
    ] = "majority",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write every consensus label to this CSV.")
    ] = None,
) -> None:
    """Compute consensus labels; ties and low agreement go to the review queue."""
    p = _project(project)
    frame = p.consensus(method)
    if out is not None:
        frame.to_csv(out, index=False)
    n_open = len(p.review_queue(["tie", "low_agreement"], limit=None))
    console.print(
        f"consensus on {len(frame)} items ({int(frame['tie'].sum()) if len(frame) else 0} ties); {n_open} open for review"
    )


@app.command("review")
def review(
    project: ProjectOpt = None,
    kind: Annotated[
        str | None,
        typer.Option("--kind", help="tie, low_agreement or label_issue (default: all)."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n")] = 20,
) -> None:
    """List the open review queue, most urgent first."""
    table = new_table("review queue", "item", "kind", "score", "reason")
    for r in _project(project).review_queue(kind, limit=limit):
        table.add_row(r["item_id"], r["kind"], f"{r['score']:.2f}", r["detail"].get("reason", ""))
    console.print(table)


@app.command("adjudicate")
def adjudicate(
    item: Annotated[str, typer.Argument(help="Item id.")],
    label: Annotated[str, typer.Argument(help="The decided class.")],
    reviewer: Annotated[str, typer.Option("--reviewer", "-r", help="Who decides (role reviewer).")],
    project: ProjectOpt = None,
) -> None:
    """Decide an item's label as a reviewer; closes its open review entries (labels are kept)."""
    n = _project(project).adjudicate(item, label, reviewer)
    console.print(f"{item}: {label} ({n} review entries closed)", markup=False)


@app.command("issues")
def issues(
    project: ProjectOpt = None,
    run: Annotated[
        str | None, typer.Option("--run", help="Take probabilities from this run's artifact.")
    ] = None,
    artifact: Annotated[
        str, typer.Option("--artifact", help="Artifact name of the .npy probabilities.")
    ] = "pred_probs.npy",
    probs: Annotated[
        Path | None,
        typer.Option(
            "--probs", help="A .npy file of out-of-sample probabilities (items x classes)."
        ),
    ] = None,
    cv: Annotated[
        bool,
        typer.Option(
            "--cv", help="Compute probabilities by 5-fold cross-validation on numeric inputs."
        ),
    ] = False,
    limit: Annotated[int, typer.Option("--limit", "-n")] = 20,
) -> None:
    """Rank suspected label errors with cleanlab into the review queue."""
    frame = _project(project).find_label_issues(
        None if probs is None else _load_probs(probs), run=run, artifact=artifact, cv=cv
    )
    console.print(f"{len(frame)} suspected label errors")
    for r in frame.head(limit).itertuples():
        console.print(f"  {r.item_id}: {r.reason}", markup=False)


@app.command("suggest")
def suggest(
    probs: Annotated[
        Path, typer.Option("--probs", help="A .npy file of model probabilities for every item.")
    ],
    project: ProjectOpt = None,
    method: Annotated[
        str, typer.Option("--method", help="entropy, margin, least_confidence or activelab.")
    ] = "entropy",
    limit: Annotated[int, typer.Option("--limit", "-n")] = 20,
    queue_for: Annotated[
        str | None,
        typer.Option("--queue-for", help="Comma-separated annotators to queue the items for."),
    ] = None,
) -> None:
    """Rank the items most worth labeling next (active learning), optionally queueing them."""
    frame = _project(project).suggest(
        _load_probs(probs), method=method, limit=limit, queue_for=_csv(queue_for)
    )
    for r in frame.itertuples():
        console.print(f"  {r.item_id}  {r.score:.3f}", markup=False)
    if queue_for:
        console.print(f"queued {len(frame)} items for {queue_for}")


@app.command("snapshot")
def snapshot(
    name: Annotated[str, typer.Argument(help="Dataset name for the labeled version.")],
    project: ProjectOpt = None,
    method: Annotated[
        str, typer.Option("--method", help="'majority' or 'dawid_skene'.")
    ] = "majority",
    note: Annotated[str | None, typer.Option("--note")] = None,
) -> None:
    """Save consensus labels as a new dataset version (with each label's guideline version)."""
    v = _project(project).snapshot(name, method=method, note=note)
    versions = v.source.get("guideline_versions") or {}
    console.print(
        f"{v}: labels from "
        + (", ".join(f"guideline v{k} ({n} items)" for k, n in sorted(versions.items())) or "-"),
        markup=False,
    )
