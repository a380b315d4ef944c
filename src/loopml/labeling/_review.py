"""The review queue of a project, and reviewers' decisions."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from loopml._errors import NotFoundError, ValidationError
from loopml.labeling._votes import role_of

if TYPE_CHECKING:
    from loopml.labeling._handle import ProjectHandle

__all__ = ["adjudicate", "review_queue"]


def review_queue(
    p: ProjectHandle, kind: str | Sequence[str] | None, status: str, limit: int | None
) -> list[dict[str, Any]]:
    """Review entries, most urgent first, with item ids and decoded labels.

    ``status``: open, resolved, dismissed or all.
    """
    kinds = [kind] if isinstance(kind, str) else (list(kind) if kind is not None else None)
    entries = p.store.labeling.reviews.entries(
        p.id, kinds, None if status == "all" else status, limit
    )
    rows = [dataclasses.asdict(r) for r in entries]
    for r in rows:
        r["resolution"] = p.schema.decode(r["resolution"])
    return rows


def adjudicate(p: ProjectHandle, item_id: str, label: Any, reviewer: str) -> int:
    """Record a reviewer's decision and close the item's open review entries."""
    role = role_of(p, reviewer)
    if role is None:
        raise NotFoundError(
            f"no reviewer {reviewer!r}; add them with project.add_annotators([{reviewer!r}], role='reviewer')"
        )
    if role != "reviewer":
        raise ValidationError(
            f"{reviewer!r} is an annotator; only reviewers adjudicate (add them with role='reviewer')"
        )
    value = None if label is None else p.schema.encode(label)
    version = p.store.labeling.guidelines.latest_version(p.id)
    return p.store.labeling.reviews.resolve(
        p.id, p._index(item_id), p._annotator(reviewer), reviewer, value, max(version, 1)
    )
