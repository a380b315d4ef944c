"""Error tags three ways: by hand (item ids), by rule (a predicate) and automatic (low confidence;
suspected label errors from the labeling package's label-issue finder)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from loopml._errors import ValidationError

if TYPE_CHECKING:
    from loopml.store import EvalTagRecord, EvaluationRecord, Store

__all__ = ["AUTO_TAGS", "auto_tag", "tag"]

AUTO_TAGS = ("low-confidence", "suspected-label-error")


def tag(
    rec: EvaluationRecord,
    store: Store,
    name: str,
    items: Sequence[str] | None = None,
    where: str | None = None,
    errors_only: bool = False,
) -> EvalTagRecord:
    """Tag examples by hand (``items``) or by rule (``where``, a predicate; the rule is kept).

    ``errors_only`` keeps only the examples the model got wrong (a rule tag of errors).
    """
    if (items is None) == (where is None):
        raise ValidationError("tag examples either by hand (items=[...]) or by rule (where=...)")
    if items is not None:
        if isinstance(items, str):
            raise ValidationError("items is a list of item ids, e.g. items=['17', '42']")
        return store.evaluations.tag(rec.id, name, list(items), kind="hand")
    assert where is not None
    cond = (
        f"({where}) and correct = false" if errors_only and rec.task == "classification" else where
    )
    ids = store.evaluations.read_rows(rec.id, cond, columns=["id"])["id"].to_pylist()
    return store.evaluations.tag(rec.id, name, ids, kind="rule", rule=cond, replace=True)


def auto_tag(
    rec: EvaluationRecord, store: Store, kind: str, threshold: float = 0.5
) -> EvalTagRecord:
    """An automatic tag: ``low-confidence`` (confidence below ``threshold``) or
    ``suspected-label-error`` (``loopml.labeling.find_label_issues`` on the evaluation's
    probabilities: confident learning, the model's probabilities being out of sample here)."""
    import numpy as np

    if kind not in AUTO_TAGS:
        raise ValidationError(f"automatic tags are {AUTO_TAGS}, not {kind!r}")
    if rec.task != "classification" or "probabilities" not in rec.columns:
        raise ValidationError(
            f"the {kind!r} tag needs the model's probabilities; evaluate predictions with a "
            "'probabilities' column (or a model with predict_proba)"
        )
    ev = store.evaluations
    if kind == "low-confidence":
        if not 0 < threshold <= 1:
            raise ValidationError(f"threshold is a probability in (0, 1], got {threshold!r}")
        rule = f"confidence < {threshold:g}"
        ids = ev.read_rows(rec.id, rule, columns=["id"])["id"].to_pylist()
        return ev.tag(rec.id, kind, ids, kind="auto", rule=rule, replace=True)
    from loopml.labeling import find_label_issues

    table = ev.read_rows(rec.id, columns=["id", "truth", "probabilities"])
    index = {c: i for i, c in enumerate(rec.classes)}
    labels = np.array([index[t] for t in table["truth"].to_pylist()], dtype=np.int64)
    probs = np.asarray(table["probabilities"].combine_chunks().flatten()).reshape(
        len(labels), len(rec.classes)
    )
    found = find_label_issues(labels, probs)
    ids = table["id"].to_numpy(zero_copy_only=False)[found.indices].tolist()
    rule = "loopml.labeling.find_label_issues (confident learning)"
    return ev.tag(rec.id, kind, ids, kind="auto", rule=rule, replace=True)
