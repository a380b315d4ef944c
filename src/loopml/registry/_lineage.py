"""Walk a model version's lineage through the other packages' public APIs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopml._errors import NotFoundError

if TYPE_CHECKING:
    from loopml.datasets import DatasetVersion
    from loopml.registry._version import Lineage, ModelVersion
    from loopml.store import RunRecord, Store

__all__ = ["lineage_of"]


def lineage_of(mv: ModelVersion, store: Store | None) -> Lineage:
    """Model version -> run -> dataset versions (``datasets.inputs_of``) -> guideline versions."""
    from loopml.registry._api import _store
    from loopml.registry._version import GuidelineUse, Lineage

    store = _store(store)
    run: RunRecord | None = None
    datasets: tuple[DatasetVersion, ...] = ()
    guidelines: list[GuidelineUse] = []
    if mv.run_id is not None:
        try:
            run = store.get_run(mv.run_id)
        except NotFoundError:
            run = None
        if run is not None:
            import loopml.datasets

            datasets = tuple(loopml.datasets.inputs_of(mv.run_id, store=store))
    for ds in datasets:
        src: dict[str, Any] = ds.source or {}
        if src.get("kind") != "label_snapshot":
            continue
        counts = {int(v): int(c) for v, c in (src.get("guideline_versions") or {}).items()}
        notes: dict[int, tuple[str | None, float | None]] = {}
        try:
            import loopml.labeling

            for g in loopml.labeling.project(src["project"], store=store).guidelines():
                notes[g.version] = (g.note, g.created_at)
        except NotFoundError:
            pass  # the labeling project was deleted; the counts in the snapshot remain
        for version, n in sorted(counts.items()):
            note, created = notes.get(version, (None, None))
            guidelines.append(
                GuidelineUse(src["project"], version, n, note, created, f"{ds.name}@{ds.number}")
            )
    return Lineage(mv.ref, mv.run_id, run, datasets, tuple(guidelines))
