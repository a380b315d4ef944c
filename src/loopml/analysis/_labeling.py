"""Send to labeling, the loop's edge: queue a group of examples in a labeling project with the
reason recorded, and read an example's labeling history. Uses ``loopml.labeling``'s public API.

The labeling queue keeps a short reason code per entry (``analysis``); the full reason (which
evaluation, which group) is recorded by the evaluations store with the project and batch number,
in the same transaction as the queue entries (``store.evaluations.send_to_labeling``), so a label
made in that batch always traces back to the analysis that asked for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from loopml._errors import ValidationError

if TYPE_CHECKING:
    from loopml.labeling import LabelingProject
    from loopml.store import EvaluationRecord, LabelRequestRecord, Store

__all__ = ["QUEUE_REASON", "labeling_history", "projects_over", "send_to_labeling"]

QUEUE_REASON = "analysis"  # the labeling queue's reason code (16 characters at most)


def projects_over(rec: EvaluationRecord, store: Store) -> list[str]:
    """Names of the labeling projects over the evaluation's dataset version."""
    from loopml.labeling import list_projects

    return [p["name"] for p in list_projects(store=store) if p["dataset"] == rec.dataset_digest]


def _group(
    rec: EvaluationRecord,
    store: Store,
    tag: str | None,
    slice: str | None,
    cell: tuple[Any, Any] | None,
    items: Sequence[str] | None,
    label_issues: bool,
) -> tuple[str, str, list[str]]:
    chosen = [x for x in (tag, slice, cell, items, label_issues or None) if x is not None]
    if len(chosen) != 1:
        raise ValidationError(
            "send exactly one group: tag='name', slice='predicate', cell=(truth, prediction), "
            "items=[ids] or label_issues=True"
        )
    ev = store.evaluations
    if tag is not None:
        return "tag", tag, ev.tag_items(rec.id, tag)
    if slice is not None:
        ids = ev.read_rows(rec.id, slice, columns=["id"])["id"].to_pylist()
        return "slice", slice, ids
    if cell is not None:
        from loopml.analysis._slices import render_value

        truth, pred = (str(v) for v in cell)
        where = f"truth = {render_value(truth)} and prediction = {render_value(pred)}"
        return "cell", where, ev.read_rows(rec.id, where, columns=["id"])["id"].to_pylist()
    if items is not None:
        if isinstance(items, str):
            raise ValidationError("items is a list of item ids, e.g. items=['17', '42']")
        ids = [str(i) for i in items]
        found = set(ev.read_rows(rec.id, "id in (" + ", ".join(
            "'" + i.replace("'", "''") + "'" for i in ids) + ")", columns=["id"])["id"].to_pylist()
        ) if ids else set()  # fmt: skip
        missing = [i for i in ids if i not in found]
        if missing:
            raise ValidationError(
                f"{len(missing)} items are not in evaluation {rec.id[:8]} (e.g. {missing[:5]})"
            )
        return "items", f"{len(ids)} items", ids
    from loopml.analysis._tags import auto_tag

    name = "suspected-label-error"
    auto_tag(rec, store, name)
    return "label_issues", name, ev.tag_items(rec.id, name)


def send_to_labeling(
    rec: EvaluationRecord,
    store: Store,
    *,
    tag: str | None = None,
    slice: str | None = None,
    cell: tuple[Any, Any] | None = None,
    items: Sequence[str] | None = None,
    label_issues: bool = False,
    project: str | None = None,
    annotators: Sequence[str] | None = None,
    overlap: int | None = None,
    limit: int | None = None,
    reason: str | None = None,
) -> LabelRequestRecord:
    """Queue one group's examples in a labeling project over the evaluation's dataset version.

    The project is ``project`` (created when missing), else the first project over the version,
    else a new one named ``<dataset>-analysis``. ``annotators`` are added to it first; ``limit``
    keeps the first examples. Returns the recorded request (project, batch, items, reason).
    """
    from loopml.datasets import get
    from loopml.labeling import create_project
    from loopml.labeling import project as open_project

    kind, name, ids = _group(rec, store, tag, slice, cell, items, label_issues)
    if limit is not None:
        if not isinstance(limit, int) or limit < 1:
            raise ValidationError(f"limit must be a whole number >= 1, got {limit!r}")
        ids = ids[:limit]
    if not ids:
        raise ValidationError(f"the {kind} {name!r} holds no examples; there is nothing to send")
    version = get(rec.dataset_digest, store=store)
    from loopml.labeling import list_projects

    all_names = {p["name"]: p for p in list_projects(store=store)}
    existing = projects_over(rec, store)
    # Among the projects over the version, one that has people to label comes first.
    staffed = [n for n in existing if open_project(n, store=store).annotators()]
    name_to_use = project or (staffed or existing or [f"{version.name}-analysis"])[0]
    p: LabelingProject
    if name_to_use in all_names:
        if all_names[name_to_use]["dataset"] != rec.dataset_digest:
            raise ValidationError(
                f"labeling project {name_to_use!r} is over another dataset version; name a "
                f"project over {version.ref} (or a new name to create one)"
            )
        p = open_project(name_to_use, store=store)
    elif not annotators:
        # Checked before creating anything: a failed send leaves no empty project behind.
        raise ValidationError(
            f"there is no labeling project {name_to_use!r} with annotators to queue the items "
            "for; pass annotators=['ann', ...] (the project is created over "
            f"{version.ref}), or name an existing project with project=..."
        )
    else:
        p = create_project(name_to_use, version, list(rec.classes) or None, store=store)
    if annotators:
        have = {a["name"] for a in p.annotators()}
        new = [a for a in annotators if a not in have]
        if new:
            p.add_annotators(new)
    if not any(a.get("role", "annotator") == "annotator" for a in p.annotators()):
        raise ValidationError(
            f"labeling project {p.name!r} has no annotators to queue the items for; pass "
            "annotators=['ann', ...] (or add them with project.add_annotators([...]))"
        )
    why = reason or f"{kind} {name} of evaluation {rec.id[:8]} ({rec.name})"
    if reason is not None and (not isinstance(reason, str) or not reason.strip()):
        raise ValidationError(f"reason is a sentence saying why, not {reason!r}")
    k = p.overlap if overlap is None else overlap
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValidationError(f"overlap is a whole number >= 1, got {overlap!r}")
    found = store.labeling.projects.item_indices(p.id, ids)
    missing = [i for i in ids if i not in found]
    if missing:
        raise ValidationError(
            f"{len(missing)} items are not in labeling project {p.name!r} (e.g. {missing[:5]})"
        )
    annotator_ids = [a.id for a in store.labeling.annotators.all(p.id) if a.role == "annotator"]
    # The queue entries and the request recording why land in one transaction.
    return store.evaluations.send_to_labeling(
        rec.id, project=p.name, project_id=p.id, annotator_ids=annotator_ids, item_ids=ids,
        item_idxs=[found[i] for i in ids], overlap=k, queue_reason=QUEUE_REASON,
        group_kind=kind, group_name=name, reason=why,
    )  # fmt: skip


def labeling_history(rec: EvaluationRecord, store: Store, item_id: str) -> list[dict[str, Any]]:
    """An example's labels in every labeling project over the dataset version: who labeled it,
    under which guideline version, each vote, and which analysis request queued it."""
    from loopml.labeling import project as open_project

    requests = store.evaluations.label_requests(rec.id)
    out = []
    for name in projects_over(rec, store):
        p = open_project(name, store=store)
        try:
            annotations = p.item_annotations(str(item_id))
        except LookupError:
            continue
        asked = [r.reason for r in requests if r.project == name and str(item_id) in r.item_ids]
        for a in annotations:
            out.append({"project": name, "requested_by": "; ".join(asked) or None, **a})
    return out
