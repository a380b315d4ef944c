"""Frozen model versions and their lineage (run -> dataset versions -> guideline versions)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml.registry._lineage import GuidelineUse, Lineage
from loopml.registry._signature import Signature

if TYPE_CHECKING:
    from loopml.store import ModelVersionRecord, Store

__all__ = ["GuidelineUse", "Lineage", "ModelVersion"]


@dataclass(frozen=True)
class ModelVersion:
    """One immutable registered model version (``name/version``) and what it was made from."""

    name: str
    version: int
    flavor: str
    task: str  # "classifier" or "regressor"
    signature: Signature | None
    classes: tuple[Any, ...] | None
    run_id: str | None
    description: str | None
    created_by: str | None
    created_at: float
    sha256: str
    size: int
    trusted_types: tuple[str, ...]
    path: Path = field(repr=False)
    _store: Store | None = field(default=None, repr=False, compare=False)

    @property
    def ref(self) -> str:
        """``name/version``, the reference that always means this version."""
        return f"{self.name}/{self.version}"

    @classmethod
    def from_record(cls, r: ModelVersionRecord, store: Store | None = None) -> ModelVersion:
        """Build from the store's record."""
        return cls(
            name=r.name,
            version=r.version,
            flavor=r.flavor,
            task=r.task,
            signature=Signature.from_json(r.signature_json) if r.signature_json else None,
            classes=r.classes,
            run_id=r.run_id,
            description=r.description,
            created_by=r.created_by,
            created_at=r.created_at,
            sha256=r.sha256,
            size=r.size,
            trusted_types=r.trusted_types,
            path=r.path,
            _store=store,
        )

    def load(self, *, trust: bool = False, trusted_types: list[str] | None = None) -> Any:
        """The model object (see :func:`loopml.registry.load` for what is refused)."""
        from loopml.registry._flavors import load_file

        return load_file(
            self.path,
            self.flavor,
            vouched=self.trusted_types,
            trust=trust,
            extra_trusted=trusted_types or (),
            label=self.ref,
        )

    def lineage(self) -> Lineage:
        """What this version was made from: its run, the run's datasets and their guidelines."""
        from loopml.registry._lineage import lineage_of

        return lineage_of(self, self._store)
