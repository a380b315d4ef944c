"""Label snapshots: a project's consensus labels as a new dataset version."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopml._errors import ValidationError
from loopml.labeling._project_consensus import project_consensus

if TYPE_CHECKING:
    from loopml.labeling._handle import ProjectHandle
    from loopml.store import DatasetVersion

__all__ = ["snapshot"]


def snapshot(
    p: ProjectHandle, name: str, *, method: str = "majority", note: str | None = None
) -> DatasetVersion:
    """A new dataset version: the project's items with consensus labels and where each came from."""
    import numpy as np
    import pyarrow as pa

    from loopml.datasets import create_from_table

    cons, _, version, source = project_consensus(p, method)
    if len(cons.items) == 0:
        raise ValidationError(f"project {p.name!r} has no labels yet; nothing to snapshot")
    ds = p.dataset
    table = ds.to_arrow()
    n = table.num_rows
    labels: list[Any] = [None] * n
    for i, v in zip(cons.items.tolist(), cons.label.tolist(), strict=False):
        labels[i] = p.schema.decode(v)
    gv = np.zeros(n, dtype=np.int64)
    agree = np.full(n, np.nan)
    votes = np.zeros(n, dtype=np.int64)
    src: list[str | None] = [None] * n
    gv[cons.items], agree[cons.items], votes[cons.items] = version, cons.agreement, cons.n_votes
    for i, s in zip(cons.items.tolist(), source.tolist(), strict=False):
        src[i] = s
    has = np.zeros(n, dtype=bool)
    has[cons.items] = True
    if "label" in table.column_names:
        table = table.rename_columns(
            ["previous_label" if c == "label" else c for c in table.column_names]
        )
    extra = {
        "label": pa.array(labels),
        "label_guideline_version": pa.array(gv, mask=~has),
        "label_agreement": pa.array(agree, mask=~has),
        "label_votes": pa.array(votes, mask=~has),
        "label_source": pa.array(src, type=pa.string()),
    }
    cols = {c: table[c] for c in table.column_names[:2]}
    cols.update(extra)
    cols.update({c: table[c] for c in table.column_names[2:]})
    new = pa.table(cols)
    meta = [
        *ds.metadata,
        *(["previous_label"] if ds.label else []),
        *[c for c in extra if c != "label"],
    ]
    roles = {
        "id": "id",
        "label": "label",
        "inputs": ds.inputs,
        "metadata": meta,
        "types": {f.name: str(f.type) for f in new.schema},
    }
    counts = np.bincount(version, minlength=1)
    source_info = {
        "kind": "label_snapshot",
        "project": p.name,
        "from": ds.digest,
        "method": method,
        "guideline_versions": {str(v): int(c) for v, c in enumerate(counts) if c and v},
    }
    return create_from_table(name, new, roles, source_info, note=note, store=p.store)
