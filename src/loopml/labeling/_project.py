"""``LabelingProject``: the handle a manager, an annotator page or a script works through."""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from loopml._errors import NotFoundError, ValidationError
from loopml.labeling._guideline_problems import problems
from loopml.labeling._project_consensus import consensus
from loopml.labeling._project_issues import label_issues
from loopml.labeling._review import adjudicate, review_queue
from loopml.labeling._schema import LabelSchema
from loopml.labeling._snapshot import snapshot
from loopml.labeling._suggest import suggest
from loopml.labeling._version_agreement import agreement_by_version
from loopml.labeling._votes import role_of

if TYPE_CHECKING:
    import pandas as pd

    from loopml.datasets import DatasetVersion
    from loopml.labeling._agreement import AgreementStats
    from loopml.labeling._problems import ProblemGroup
    from loopml.store import ItemReader, LabelProjectRecord, Store

__all__ = ["Guideline", "LabelingProject", "QueueItem"]


@dataclass(frozen=True)
class Guideline:
    """One published guideline version."""

    version: int
    text: str
    note: str
    affects: list[str]
    author: str | None
    created_at: float
    queued: int = 0  # relabel queue entries its publication created


@dataclass(frozen=True)
class QueueItem:
    """An item waiting in an annotator's queue."""

    item_id: str
    index: int
    reason: str  # "label", "relabel", "active" or "direct"
    round: int  # the guideline version it was queued under


class LabelingProject:
    """A labeling project: classes, guideline versions, annotators, queues and annotations.

    Thread-safe (every call is its own store transaction). Get one with
    ``loopml.labeling.create_project(...)`` or ``loopml.labeling.project(name)``.
    """

    def __init__(self, store: Store, record: LabelProjectRecord) -> None:
        self.store = store
        self.id: int = record.id
        self.name: str = record.name
        self.dataset_digest: str = record.dataset
        self.schema = LabelSchema.of(record.classes, record.multi_label)
        self.overlap: int = record.overlap
        self.show_others: bool = record.show_others
        self.min_agreement: float = record.min_agreement
        self.created_at: float = record.created_at

    def __repr__(self) -> str:
        return f"LabelingProject(name={self.name!r}, classes={list(self.classes)!r}, overlap={self.overlap})"

    @property
    def classes(self) -> tuple[str, ...]:
        """The class names, in key order."""
        return self.schema.classes

    @cached_property
    def dataset(self) -> DatasetVersion:
        """The dataset version whose items are labeled."""
        from loopml.datasets import get

        return get(self.dataset_digest, store=self.store)

    @cached_property
    def _reader(self) -> ItemReader:
        return self.store.datasets.rows(self.dataset)

    # -- items -------------------------------------------------------------------------------
    def _index(self, item_id: str) -> int:
        found = self.store.labeling.projects.item_indices(self.id, [str(item_id)])
        if str(item_id) not in found:
            raise NotFoundError(
                f"no item {item_id!r} in labeling project {self.name!r}; item ids come from {self.dataset.ref}"
            )
        return found[str(item_id)]

    def _ids(self, idxs: Sequence[int]) -> dict[int, str]:
        return self.store.labeling.projects.item_ids(self.id, idxs)

    def item(self, item_id: str) -> dict[str, Any]:
        """The item's row from the dataset (id, split, inputs, metadata)."""
        return self._reader.row(self._index(item_id))

    def __len__(self) -> int:
        return self.dataset.n_items

    # -- guidelines --------------------------------------------------------------------------
    def publish_guidelines(
        self,
        text: str,
        note: str,
        *,
        affects: Sequence[str] | None = None,
        author: str | None = None,
    ) -> Guideline:
        """Publish the next guideline version (Markdown) with a change note.

        From v2 on, the classes the change affects (``affects``, or else the class names the note
        mentions as whole words) select the items to relabel: every item whose current labels,
        made under an older version, touch one of them is queued again for its annotators.
        Old labels are kept.
        """
        if not isinstance(text, str) or not text.strip():
            raise ValidationError("guideline text is empty; write the guideline in Markdown")
        if not isinstance(note, str) or not note.strip():
            raise ValidationError(
                "a guideline version needs a change note saying what changed and why"
            )
        names = list(affects) if affects is not None else self.classes_named_in(note)
        idx = [self.schema.index(n) for n in names]
        version, queued = self.store.labeling.guidelines.publish(
            self.id,
            text,
            note.strip(),
            affects=idx,
            affect_names=[self.classes[i] for i in idx],
            author=author,
            multi_label=self.schema.multi_label,
        )
        return dataclasses.replace(self.guideline(version), queued=queued)

    def classes_named_in(self, note: str) -> list[str]:
        """Class names that appear in ``note`` as whole words (how a change note names its classes)."""
        return [c for c in self.classes if re.search(rf"(?<![\w-]){re.escape(c)}(?![\w-])", note)]

    def guidelines(self) -> list[Guideline]:
        """Every guideline version, oldest first."""
        return [
            Guideline(g.version, g.text, g.note, list(g.affects), g.author, g.created_at)
            for g in self.store.labeling.guidelines.versions(self.id)
        ]

    def guideline(self, version: int | None = None) -> Guideline:
        """One guideline version (default: the latest)."""
        versions = self.guidelines()
        if not versions:
            raise NotFoundError(
                f"project {self.name!r} has no guideline yet; publish one with `loopml label guidelines publish FILE --project {self.name} --note 'first version'`"
            )
        if version is None:
            return versions[-1]
        for g in versions:
            if g.version == version:
                return g
        raise NotFoundError(
            f"project {self.name!r} has no guideline version {version}; versions are 1..{versions[-1].version}"
        )

    def guideline_diff(self, old: int, new: int) -> str:
        """A unified diff of two guideline versions' text."""
        a, b = self.guideline(old), self.guideline(new)
        return "".join(
            difflib.unified_diff(
                a.text.splitlines(keepends=True),
                b.text.splitlines(keepends=True),
                f"v{old}",
                f"v{new}",
            )
        )

    def changed_lines(self, version: int | None = None) -> set[int]:
        """Line numbers (0-based) of ``version``'s text that are new or changed since the previous one."""
        g = self.guideline(version)
        if g.version == 1:
            return set()
        prev = self.guideline(g.version - 1).text.splitlines()
        out: set[int] = set()
        for tag, _, _, j1, j2 in difflib.SequenceMatcher(
            a=prev, b=g.text.splitlines()
        ).get_opcodes():
            if tag in ("replace", "insert"):
                out.update(range(j1, j2))
        return out

    # -- annotators and queues ---------------------------------------------------------------
    def add_annotators(self, names: Sequence[str], role: str = "annotator") -> list[str]:
        """Add annotators (or reviewers, ``role="reviewer"``); existing names are kept."""
        if isinstance(names, str):
            names = [names]
        return list(self.store.labeling.annotators.add(self.id, list(names), role))

    def annotators(self) -> list[dict[str, Any]]:
        """The annotators with their label, flag and pending counts."""
        return [dataclasses.asdict(a) for a in self.store.labeling.annotators.stats(self.id)]

    def _annotator(self, name: str) -> int:
        return self.store.labeling.annotators.get(self.id, name).id

    def assign(
        self,
        annotators: Sequence[str] | None = None,
        *,
        overlap: int | None = None,
        items: Sequence[str] | None = None,
        limit: int | None = None,
        reason: str = "label",
    ) -> tuple[int, int]:
        """Queue a batch: each item to ``overlap`` annotators (default: the project's overlap).

        ``items`` None takes the items nobody has been assigned yet, up to ``limit``.
        Returns (batch number, queue entries added).
        """
        names = (
            list(annotators)
            if annotators is not None
            else [
                a.name for a in self.store.labeling.annotators.all(self.id) if a.role == "annotator"
            ]
        )
        if not names:
            raise ValidationError(
                f"project {self.name!r} has no annotators; add some with project.add_annotators([...])"
            )
        k = self.overlap if overlap is None else int(overlap)
        if not 1 <= k <= len(names):
            raise ValidationError(
                f"overlap {k} must be between 1 and the number of annotators ({len(names)})"
            )
        ids = [self._annotator(n) for n in names]
        idxs = None
        if items is not None:
            found = self.store.labeling.projects.item_indices(self.id, [str(i) for i in items])
            missing = [i for i in items if str(i) not in found]
            if missing:
                raise NotFoundError(
                    f"{len(missing)} items are not in project {self.name!r} (e.g. {missing[:3]!r})"
                )
            idxs = [found[str(i)] for i in items]
        return self.store.labeling.queue.assign(
            self.id, ids, idxs, overlap=k, limit=limit, reason=reason
        )

    def next_items(self, annotator: str, n: int = 1) -> list[QueueItem]:
        """The annotator's next ``n`` queue entries."""
        entries = self.store.labeling.queue.next(self.id, self._annotator(annotator), n)
        return [QueueItem(e.item_id, e.item_idx, e.reason, e.round) for e in entries]

    def next_item(self, annotator: str) -> QueueItem | None:
        """The annotator's next queue entry, or None when the queue is empty."""
        got = self.next_items(annotator, 1)
        return got[0] if got else None

    def queue_counts(self, annotator: str | None = None) -> dict[str, int]:
        """Pending, done and skipped queue entries (of one annotator, or everyone)."""
        who = None if annotator is None else self._annotator(annotator)
        return dataclasses.asdict(self.store.labeling.queue.counts(self.id, who))

    # -- annotating --------------------------------------------------------------------------
    def annotate(
        self,
        annotator: str,
        item_id: str,
        label: Any,
        *,
        seconds: float | None = None,
        flag: bool = False,
        comment: str | None = None,
        guideline_version: int | None = None,
    ) -> int:
        """Record ``annotator``'s label for an item under a guideline version (default: latest).

        ``label`` is a class name (a list of names for multi-label), or None with ``flag=True``
        to flag an item without labeling it. Returns the annotation id.
        """
        value = None if label is None else self.schema.encode(label)
        if value is None and not flag:
            raise ValidationError("an annotation needs a label, or flag=True with a comment")
        return self.store.labeling.annotations.add(
            self.id, self._annotator(annotator), self._index(item_id), value,
            version=guideline_version, seconds=seconds, flag=bool(flag), comment=comment,
        )  # fmt: skip

    def skip(self, annotator: str, item_id: str) -> bool:
        """Skip an item in the annotator's queue (it is not served again); False if not queued."""
        return self.store.labeling.queue.skip(
            self.id, self._annotator(annotator), self._index(item_id)
        )

    def undo(self, annotator: str) -> str | None:
        """Take back the annotator's last label or skip; returns that item's id (None: nothing)."""
        idx = self.store.labeling.queue.undo(self.id, self._annotator(annotator))
        return None if idx is None else self._ids([idx])[idx]

    def item_annotations(self, item_id: str, viewer: str | None = None) -> list[dict[str, Any]]:
        """The item's annotations (labels decoded). An annotator ``viewer`` sees only their own
        unless the project shows others' labels; reviewers and managers (viewer None) see all."""
        records = self.store.labeling.annotations.of_item(self.id, self._index(item_id))
        rows = [dataclasses.asdict(r) for r in records]
        if viewer is not None and not self.show_others:
            role = role_of(self, viewer)
            if role is None:
                raise NotFoundError(f"no annotator {viewer!r} in project {self.name!r}")
            if role == "annotator":
                rows = [r for r in rows if r["annotator"] == viewer]
        for r in rows:
            r["label"] = self.schema.decode(r["label"])
        return rows

    # -- quality: agreement, problems, consensus, issues, active learning, snapshots -------------
    def agreement(self, *, common_items: bool = False) -> list[AgreementStats]:
        """Agreement statistics per guideline version, oldest first (see ``AgreementStats``).

        ``common_items=True`` compares the versions on the same items only (those labeled
        under every version), the fair comparison after a targeted relabel.
        """
        return agreement_by_version(self, common_items=common_items)

    def agreement_frame(self, *, common_items: bool = False) -> pd.DataFrame:
        """Agreement per guideline version, side by side, as a DataFrame."""
        from loopml.labeling._agreement import stats_frame

        return stats_frame(self.agreement(common_items=common_items))

    def problems(self, version: int | None = None) -> list[ProblemGroup]:
        """Disagreements and flags grouped by class pair, biggest first (default: latest version labeled)."""
        return problems(self, version)

    def consensus(self, method: str = "majority", *, queue: bool = True) -> pd.DataFrame:
        """Consensus label per labeled item; ties and low agreement go to the review queue."""
        return consensus(self, method, queue=queue)

    def review_queue(
        self,
        kind: str | Sequence[str] | None = None,
        *,
        status: str = "open",
        limit: int | None = 100,
    ) -> list[dict[str, Any]]:
        """Open review entries (``tie``, ``low_agreement``, ``label_issue``), most urgent first."""
        return review_queue(self, kind, status, limit)

    def adjudicate(self, item_id: str, label: Any, reviewer: str) -> int:
        """A reviewer decides an item's label (None dismisses); closes its open review entries."""
        return adjudicate(self, item_id, label, reviewer)

    def find_label_issues(
        self,
        pred_probs: Any = None,
        *,
        run: str | None = None,
        artifact: str = "pred_probs.npy",
        cv: bool = False,
        model: Any = None,
        use_votes: bool = True,
        queue: bool = True,
    ) -> pd.DataFrame:
        """Rank suspected label errors (cleanlab) into the review queue, with the reason recorded.

        Probabilities: ``pred_probs`` (items x classes, in dataset order), a run's artifact
        (``run=`` id, ``artifact=`` name, a .npy file), or ``cv=True`` to compute them by
        5-fold cross-validation on the dataset's numeric input columns.
        """
        return label_issues(
            self,
            pred_probs,
            run=run,
            artifact=artifact,
            cv=cv,
            model=model,
            use_votes=use_votes,
            queue=queue,
        )

    def suggest(
        self,
        pred_probs: Any,
        *,
        method: str = "entropy",
        limit: int = 50,
        queue_for: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """The next items to label, most informative first (entropy, margin, least_confidence, activelab).

        With ``queue_for`` (annotator names), the suggested items are queued for them.
        """
        return suggest(self, pred_probs, method=method, limit=limit, queue_for=queue_for)

    def snapshot(
        self, name: str, *, method: str = "majority", note: str | None = None
    ) -> DatasetVersion:
        """Consensus labels as a new dataset version, each with the guideline version it came from."""
        return snapshot(self, name, method=method, note=note)

    def status(self) -> dict[str, Any]:
        """Counts at a glance: items, annotators, guideline version, queue, open reviews."""
        return {
            "project": self.name,
            "dataset": self.dataset.ref,
            "items": self.store.labeling.projects.count_items(self.id),
            "classes": list(self.classes),
            "guideline_version": self.store.labeling.guidelines.latest_version(self.id),
            "annotators": len(self.annotators()),
            "queue": self.queue_counts(),
            "open_reviews": len(self.review_queue(limit=None)),
        }
