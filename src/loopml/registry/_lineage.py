"""Walk a model version's lineage through the other packages' public APIs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml._errors import NotFoundError

if TYPE_CHECKING:
    from loopml.datasets import DatasetVersion
    from loopml.registry._version import ModelVersion
    from loopml.store import EvaluationRecord, RunRecord, Store

__all__ = ["lineage_of"]


def lineage_of(mv: ModelVersion, store: Store | None) -> Lineage:
    """Model version -> run -> dataset versions (``datasets.inputs_of``) -> guideline versions,
    and the evaluations of the version (naming it, or scoring its run)."""
    if store is None:
        from loopml.tracking import default_session

        store = default_session().store
    run: RunRecord | None = None
    datasets: tuple[DatasetVersion, ...] = ()
    guidelines: list[GuidelineUse] = []
    if mv.run_id is not None:
        try:
            run = store.runs.get(mv.run_id)
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
    evaluations = tuple(store.models.evaluations(mv.name, mv.version))
    return Lineage(mv.ref, mv.run_id, run, datasets, tuple(guidelines), evaluations)


@dataclass(frozen=True)
class GuidelineUse:
    """A guideline version whose labels went into a dataset version (a label snapshot)."""

    project: str
    version: int
    labels: int  # how many labels in the snapshot were given under it
    note: str | None
    created_at: float | None
    dataset: str  # "name@number" of the snapshot


@dataclass(frozen=True)
class Lineage:
    """Model version -> run -> dataset versions -> guideline versions; its evaluations."""

    model: str
    run_id: str | None
    run: RunRecord | None  # None when there is no run or it was deleted
    datasets: tuple[DatasetVersion, ...]
    guidelines: tuple[GuidelineUse, ...]
    evaluations: tuple[EvaluationRecord, ...] = ()  # newest first

    def dataset_of(self, evaluation: EvaluationRecord) -> str | None:
        """``name@number`` of the dataset version ``evaluation`` scored, when it is one of
        this lineage's datasets."""
        for ds in self.datasets:
            if ds.digest == evaluation.dataset_digest:
                return f"{ds.name}@{ds.number}"
        return None
