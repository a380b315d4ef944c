"""A project's guideline problems: disagreements and flags under one version, by class pair."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from loopml._errors import ValidationError
from loopml.labeling._votes import annotation_arrays

if TYPE_CHECKING:
    from loopml.labeling._handle import ProjectHandle
    from loopml.labeling._problems import ProblemGroup

__all__ = ["problems"]


def problems(p: ProjectHandle, version: int | None = None) -> list[ProblemGroup]:
    """Disagreements and flags by class pair under one guideline version (default: the latest labeled)."""
    from loopml.labeling._problems import problem_groups

    if p.schema.multi_label:
        raise ValidationError("the guideline problems report is for single-label projects")
    arr = annotation_arrays(p)
    if version is None:
        version = int(arr["version"].max()) if len(arr["version"]) else 1
    m = arr["version"] == version
    flags = [
        dataclasses.asdict(f)
        for f in p.store.labeling.annotations.flagged(p.id)
        if f.guideline_version == version
    ]
    for f in flags:
        f["label"] = p.schema.decode(f["label"])
    groups = problem_groups(arr["item"][m], arr["label"][m], p.classes, flags)
    idxs = {int(x) for g in groups for x in g.examples} | {
        int(c["item"]) for g in groups for c in g.comments
    }
    names = p._ids(sorted(idxs))
    for g in groups:
        g.examples = [names.get(int(x), str(x)) for x in g.examples]
        for c in g.comments:
            c["item"] = names.get(int(c["item"]), str(c["item"]))
    return groups
