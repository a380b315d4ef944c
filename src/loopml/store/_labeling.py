"""Store operations for labeling projects: items, guidelines, queues, annotations and reviews.

Every write is one transaction (``run_write``). The database enforces the promises that matter
under concurrency: an annotator labels an item at most once per guideline version (a unique
index), and a queue entry moves from pending to done at most once (a conditional UPDATE).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, delete, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError

from loopml._errors import ConflictError, NotFoundError, ValidationError
from loopml.store._dialect import bulk_upsert, chunks, upsert
from loopml.store._engine import read, run_write
from loopml.store._schema_labeling import (
    annotations as annotations_t,
)
from loopml.store._schema_labeling import (
    annotators,
    assignments,
    guidelines,
    label_items,
    label_projects,
    reviews,
)

if TYPE_CHECKING:
    import numpy as np

    from loopml.store._store import Store

PENDING, DONE, SKIPPED = 0, 1, 2
LABEL, REVIEW = 0, 1
OPEN, RESOLVED, DISMISSED = 0, 1, 2


# The columns an assignment row is written with, in order (bulk inserts and INSERT ... SELECT).
_ASSIGNMENT_COLUMNS = (
    "project_id",
    "annotator_id",
    "item_idx",
    "round",
    "batch",
    "reason",
    "status",
    "created_at",
)


# -- projects ----------------------------------------------------------------------------------
def create_project(store: Store, values: dict[str, Any], item_ids: Sequence[str]) -> int:
    """Insert a labeling project and its items (``idx`` is the item's row in the dataset file)."""

    def write(conn: Connection) -> int:
        if conn.execute(
            select(label_projects.c.id).where(label_projects.c.name == values["name"])
        ).first():
            raise ConflictError(
                f"labeling project {values['name']!r} already exists; open it with "
                f"loopml.labeling.project({values['name']!r}) or choose another name"
            )
        pid = conn.execute(
            insert(label_projects).values(**values, created_at=time.time())
        ).inserted_primary_key[0]  # type: ignore[index]
        cols = ("project_id", "idx", "item_id")
        for start in range(0, len(item_ids), 50_000):
            rows = [(pid, start + i, s) for i, s in enumerate(item_ids[start : start + 50_000])]
            bulk_upsert(conn, label_items, ["project_id", "idx"], None, cols, rows)
        return int(pid)

    return run_write(store.engine, write)


def get_project(store: Store, name: str) -> dict[str, Any]:
    """A labeling project's row (classes decoded)."""
    with read(store.engine) as conn:
        row = conn.execute(select(label_projects).where(label_projects.c.name == name)).first()
    if row is None:
        raise NotFoundError(
            f"no labeling project {name!r}; list them with `loopml label projects` or create one "
            f"with `loopml label create {name} --dataset DATASET`"
        )
    out = dict(row._mapping)
    out["classes"] = json.loads(out["classes"])
    return out


def list_projects(store: Store) -> list[dict[str, Any]]:
    """Every labeling project with its item and annotation counts."""
    n_items = (
        select(func.count())
        .where(label_items.c.project_id == label_projects.c.id)
        .scalar_subquery()
    )
    n_ann = (
        select(func.count())
        .where(annotations_t.c.project_id == label_projects.c.id, annotations_t.c.kind == LABEL)
        .scalar_subquery()
    )
    q = select(label_projects, n_items.label("n_items"), n_ann.label("n_annotations")).order_by(
        label_projects.c.name
    )
    with read(store.engine) as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def item_indices(store: Store, project_id: int, item_ids: Sequence[str]) -> dict[str, int]:
    """Map item ids to their indices (unknown ids are left out)."""
    found: dict[str, int] = {}
    with read(store.engine) as conn:
        for part in chunks(list(item_ids)):
            q = select(label_items.c.item_id, label_items.c.idx).where(
                label_items.c.project_id == project_id, label_items.c.item_id.in_(part)
            )
            found.update({r.item_id: int(r.idx) for r in conn.execute(q)})
    return found


def item_ids_of(store: Store, project_id: int, idxs: Sequence[int]) -> dict[int, str]:
    """Map item indices to their ids."""
    found: dict[int, str] = {}
    with read(store.engine) as conn:
        for part in chunks([int(i) for i in idxs]):
            q = select(label_items.c.idx, label_items.c.item_id).where(
                label_items.c.project_id == project_id, label_items.c.idx.in_(part)
            )
            found.update({int(r.idx): r.item_id for r in conn.execute(q)})
    return found


def count_items(store: Store, project_id: int) -> int:
    """How many items the project has."""
    with read(store.engine) as conn:
        return int(
            conn.execute(
                select(func.count()).where(label_items.c.project_id == project_id)
            ).scalar_one()
        )


# -- annotators --------------------------------------------------------------------------------
def add_annotators(
    store: Store, project_id: int, names: Sequence[str], role: str
) -> dict[str, int]:
    """Add annotators (existing names are kept as they are); returns name -> id for ``names``."""
    now = time.time()

    def write(conn: Connection) -> dict[str, int]:
        rows = [
            {"project_id": project_id, "name": n, "role": role, "created_at": now} for n in names
        ]
        conn.execute(upsert(conn, annotators, ["project_id", "name"], None), rows)
        q = select(annotators.c.name, annotators.c.id).where(
            annotators.c.project_id == project_id, annotators.c.name.in_(list(names))
        )
        return {r.name: int(r.id) for r in conn.execute(q)}

    return run_write(store.engine, write)


def list_annotators(store: Store, project_id: int) -> list[dict[str, Any]]:
    """The project's annotators with their counts of labels, flags and pending queue items."""
    # Each count names the project too, so it is a range of ``ix_annotations_annotator``.
    mine = and_(
        annotations_t.c.project_id == annotators.c.project_id,
        annotations_t.c.annotator_id == annotators.c.id,
    )
    n_labels = select(func.count()).where(mine, annotations_t.c.kind == LABEL).scalar_subquery()
    n_flags = select(func.count()).where(mine, annotations_t.c.flag.is_(True)).scalar_subquery()
    n_pending = (
        select(func.count())
        .where(
            assignments.c.annotator_id == annotators.c.id,
            assignments.c.project_id == annotators.c.project_id,
            assignments.c.status == PENDING,
        )
        .scalar_subquery()
    )
    q = (
        select(
            annotators, n_labels.label("labels"), n_flags.label("flags"), n_pending.label("pending")
        )
        .where(annotators.c.project_id == project_id)
        .order_by(annotators.c.name)
    )
    with read(store.engine) as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def annotator_names(store: Store, project_id: int) -> dict[int, tuple[str, str]]:
    """Annotator id -> (name, role), without counts."""
    q = select(annotators.c.id, annotators.c.name, annotators.c.role).where(
        annotators.c.project_id == project_id
    )
    with read(store.engine) as conn:
        return {int(r.id): (r.name, r.role) for r in conn.execute(q)}


def _name(store: Store, project_id: int) -> str:
    """A labeling project's name, for messages."""
    with read(store.engine) as conn:
        name = conn.execute(
            select(label_projects.c.name).where(label_projects.c.id == project_id)
        ).scalar()
    return str(name)


def annotator_id(store: Store, project_id: int, name: str) -> int:
    """The id of annotator ``name`` in the project."""
    with read(store.engine) as conn:
        aid = conn.execute(
            select(annotators.c.id).where(
                annotators.c.project_id == project_id, annotators.c.name == name
            )
        ).scalar()
    if aid is None:
        project = _name(store, project_id)
        raise NotFoundError(
            f"no annotator {name!r} in labeling project {project!r}; add them with "
            f"project.add_annotators([{name!r}]) or `loopml label annotators add {name} --project {project}`"
        )
    return int(aid)


# -- guidelines --------------------------------------------------------------------------------
def latest_guideline_version(conn: Connection, project_id: int) -> int:
    """The newest guideline version (0 when none is published)."""
    v = conn.execute(
        select(func.max(guidelines.c.version)).where(guidelines.c.project_id == project_id)
    ).scalar()
    return int(v or 0)


def publish_guideline(
    store: Store,
    project_id: int,
    text: str,
    note: str,
    affects: Sequence[int],
    affect_names: Sequence[str],
    author: str | None,
    multi_label: bool,
) -> tuple[int, int]:
    """Publish the next guideline version; queue for relabeling every item whose current labels
    (made under an older version) touch the ``affects`` class indices. Returns (version, queued)."""
    now = time.time()

    def write(conn: Connection) -> tuple[int, int]:
        version = latest_guideline_version(conn, project_id) + 1
        conn.execute(
            insert(guidelines).values(
                project_id=project_id,
                version=version,
                text=text,
                note=note,
                affects=json.dumps(list(affect_names)),
                author=author,
                created_at=now,
            )
        )
        if version == 1 or not affects:
            return version, 0
        return version, _queue_relabel(conn, project_id, version, affects, multi_label, now)

    return run_write(store.engine, write)


def _queue_relabel(
    conn: Connection,
    project_id: int,
    version: int,
    affects: Sequence[int],
    multi_label: bool,
    now: float,
) -> int:
    a = annotations_t.alias("a")
    b = annotations_t.alias("b")
    # An annotator's current label on an item is the one under the newest version they used.
    newest = (
        select(func.max(b.c.guideline_version))
        .where(
            b.c.project_id == a.c.project_id,
            b.c.kind == LABEL,
            b.c.item_idx == a.c.item_idx,
            b.c.annotator_id == a.c.annotator_id,
        )
        .scalar_subquery()
    )
    if multi_label:
        mask = sum(1 << int(c) for c in affects)
        touches = a.c.label.op("&")(mask) != 0
    else:
        touches = a.c.label.in_([int(c) for c in affects])
    current = and_(a.c.project_id == project_id, a.c.kind == LABEL, a.c.guideline_version == newest)
    affected = select(a.c.item_idx).where(
        current, a.c.guideline_version < version, a.c.label.is_not(None), touches
    )
    batch = _next_batch(conn, project_id)
    # Every annotator who labeled an affected item relabels it, so v(n+1) agreement is comparable.
    source = (
        select(
            literal(project_id),
            a.c.annotator_id,
            a.c.item_idx,
            literal(version),
            literal(batch),
            literal("relabel"),
            literal(PENDING),
            literal(now),
        )
        .where(current, a.c.item_idx.in_(affected))
        .distinct()
    )
    before = _count_assignments(conn, project_id)
    conn.execute(insert(assignments).from_select(list(_ASSIGNMENT_COLUMNS), source))
    # Counted, not rowcount: psycopg reports -1 for INSERT ... SELECT.
    return _count_assignments(conn, project_id) - before


def list_guidelines(store: Store, project_id: int) -> list[dict[str, Any]]:
    """Every guideline version, oldest first."""
    q = (
        select(guidelines)
        .where(guidelines.c.project_id == project_id)
        .order_by(guidelines.c.version)
    )
    with read(store.engine) as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
    for r in rows:
        r["affects"] = json.loads(r["affects"])
    return rows


# -- queues ------------------------------------------------------------------------------------
def _next_batch(conn: Connection, project_id: int) -> int:
    b = conn.execute(
        select(func.max(assignments.c.batch)).where(assignments.c.project_id == project_id)
    ).scalar()
    return int(b or 0) + 1


def assign(
    store: Store,
    project_id: int,
    annotator_ids: Sequence[int],
    item_idxs: Sequence[int] | None,
    overlap: int,
    limit: int | None,
    reason: str = "label",
) -> tuple[int, int]:
    """Queue items for annotators, each item to ``overlap`` of them (round robin).

    ``item_idxs`` None takes the items no one has been assigned yet, in order, up to ``limit``.
    Returns (batch number, queue entries added); entries that already exist are left as they are.
    """
    n = len(annotator_ids)
    now = time.time()

    def write(conn: Connection) -> tuple[int, int]:
        round_ = max(latest_guideline_version(conn, project_id), 1)
        batch = _next_batch(conn, project_id)
        if item_idxs is None:
            taken = select(assignments.c.item_idx).where(assignments.c.project_id == project_id)
            q = (
                select(label_items.c.idx)
                .where(label_items.c.project_id == project_id, label_items.c.idx.not_in(taken))
                .order_by(label_items.c.idx)
            )
            if limit is not None:
                q = q.limit(limit)
            items = [int(r[0]) for r in conn.execute(q)]
        else:
            items = [int(i) for i in item_idxs][:limit]
        cols = _ASSIGNMENT_COLUMNS
        rows = [
            (
                project_id,
                annotator_ids[(j + t + batch) % n],
                idx,
                round_,
                batch,
                reason,
                PENDING,
                now,
            )
            for j, idx in enumerate(items)
            for t in range(overlap)
        ]
        before = _count_assignments(conn, project_id)
        for start in range(0, len(rows), 50_000):
            bulk_upsert(
                conn,
                assignments,
                ["project_id", "annotator_id", "item_idx", "round"],
                None,
                cols,
                rows[start : start + 50_000],
            )
        return batch, _count_assignments(conn, project_id) - before

    return run_write(store.engine, write)


def _count_assignments(conn: Connection, project_id: int) -> int:
    return int(
        conn.execute(
            select(func.count()).where(assignments.c.project_id == project_id)
        ).scalar_one()
    )


def next_assignments(
    store: Store, project_id: int, annotator_id: int, limit: int = 1
) -> list[dict[str, Any]]:
    """The annotator's next pending queue entries, oldest first (served by one index range)."""
    q = (
        select(
            assignments.c.id,
            assignments.c.item_idx,
            assignments.c.round,
            assignments.c.reason,
            label_items.c.item_id,
        )
        .join(
            label_items,
            and_(
                label_items.c.project_id == assignments.c.project_id,
                label_items.c.idx == assignments.c.item_idx,
            ),
        )
        .where(
            assignments.c.project_id == project_id,
            assignments.c.annotator_id == annotator_id,
            assignments.c.status == PENDING,
        )
        .order_by(assignments.c.id)
        .limit(limit)
    )
    with read(store.engine) as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def queue_counts(store: Store, project_id: int, annotator_id: int | None = None) -> dict[str, int]:
    """Pending, done and skipped queue entries (of one annotator, or all)."""
    q = select(assignments.c.status, func.count()).where(assignments.c.project_id == project_id)
    if annotator_id is not None:
        q = q.where(assignments.c.annotator_id == annotator_id)
    names = {PENDING: "pending", DONE: "done", SKIPPED: "skipped"}
    out = dict.fromkeys(names.values(), 0)
    with read(store.engine) as conn:
        for status, n in conn.execute(q.group_by(assignments.c.status)):
            out[names[int(status)]] = int(n)
    return out


# -- annotations -------------------------------------------------------------------------------
def annotate(
    store: Store,
    project_id: int,
    annotator_id: int,
    item_idx: int,
    label: int | None,
    version: int | None,
    seconds: float | None,
    flag: bool,
    comment: str | None,
    kind: int = LABEL,
) -> int:
    """Store one annotation and close the annotator's queue entry for the item, atomically.

    ``version`` None means the latest guideline. Raises ConflictError when the annotator already
    labeled the item under that version (nothing is stored twice).
    """
    now = time.time()

    def write(conn: Connection) -> int:
        latest = latest_guideline_version(conn, project_id)
        v = latest if version is None else int(version)
        if latest == 0:
            name = conn.execute(
                select(label_projects.c.name).where(label_projects.c.id == project_id)
            ).scalar()
            raise ValidationError(
                f"labeling project {name!r} has no guideline yet; publish one first with "
                f"`loopml label guidelines publish FILE --project {name} --note 'first version'`"
            )
        if not 1 <= v <= latest:
            raise ValidationError(
                f"guideline version {version!r} does not exist; versions are 1..{latest}"
            )
        entry = conn.execute(
            select(assignments.c.id)
            .where(
                assignments.c.project_id == project_id,
                assignments.c.annotator_id == annotator_id,
                assignments.c.item_idx == item_idx,
                assignments.c.status != DONE,
            )
            .order_by(assignments.c.id)
            .limit(1)
        ).scalar()
        if entry is not None:
            claimed = conn.execute(
                update(assignments)
                .where(assignments.c.id == entry, assignments.c.status != DONE)
                .values(status=DONE, updated_at=now)
            ).rowcount
            if not claimed:
                raise ConflictError(
                    f"item {item_idx} was labeled by this annotator at the same moment"
                )
        elif kind == LABEL:  # labeled outside the queue: record a done entry so undo works alike
            entry = conn.execute(
                insert(assignments).values(
                    project_id=project_id,
                    annotator_id=annotator_id,
                    item_idx=item_idx,
                    round=v,
                    batch=0,
                    reason="direct",
                    status=DONE,
                    created_at=now,
                    updated_at=now,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        return int(
            conn.execute(
                insert(annotations_t).values(
                    project_id=project_id,
                    item_idx=item_idx,
                    annotator_id=annotator_id,
                    label=label,
                    guideline_version=v,
                    kind=kind,
                    seconds=seconds,
                    flag=flag,
                    comment=comment,
                    assignment_id=entry,
                    created_at=now,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        )

    try:
        return run_write(store.engine, write)
    except IntegrityError as exc:
        if "unique" in str(exc.orig).lower() or "duplicate" in str(exc.orig).lower():
            raise ConflictError(
                f"this annotator already labeled item {item_idx} under this guideline version; "
                "undo it first to change the label (the old label is kept until then)"
            ) from None
        raise


def skip(store: Store, project_id: int, annotator_id: int, item_idx: int) -> bool:
    """Mark the annotator's pending entry for the item as skipped; False when there was none."""
    stmt = (
        update(assignments)
        .where(
            assignments.c.project_id == project_id,
            assignments.c.annotator_id == annotator_id,
            assignments.c.item_idx == item_idx,
            assignments.c.status == PENDING,
        )
        .values(status=SKIPPED, updated_at=time.time())
    )
    return bool(run_write(store.engine, lambda conn: conn.execute(stmt).rowcount))


def undo(store: Store, project_id: int, annotator_id: int) -> int | None:
    """Take back the annotator's last label or skip: its queue entry is pending again.

    Returns the item index, or None when there is nothing to undo.
    """

    def write(conn: Connection) -> int | None:
        last = conn.execute(
            select(assignments.c.id, assignments.c.item_idx, assignments.c.reason)
            .where(
                assignments.c.project_id == project_id,
                assignments.c.annotator_id == annotator_id,
                assignments.c.status != PENDING,
                assignments.c.updated_at.is_not(None),
            )
            .order_by(assignments.c.updated_at.desc(), assignments.c.id.desc())
            .limit(1)
        ).first()
        if last is None:
            return None
        conn.execute(
            delete(annotations_t).where(
                annotations_t.c.assignment_id == last.id, annotations_t.c.kind == LABEL
            )
        )
        if last.reason == "direct":
            conn.execute(delete(assignments).where(assignments.c.id == last.id))
        else:
            conn.execute(
                update(assignments)
                .where(assignments.c.id == last.id)
                .values(status=PENDING, updated_at=None)
            )
        return int(last.item_idx)

    return run_write(store.engine, write)


def annotation_arrays(store: Store, project_id: int, kind: int = LABEL) -> dict[str, np.ndarray]:
    """Every labeled annotation as numpy arrays: item, annotator, label, version, id.

    Read straight from the driver cursor: at a million rows SQLAlchemy's per-row processing
    would cost more than the statistics.
    """
    import numpy as np

    sql = (
        "SELECT item_idx, annotator_id, label, guideline_version, id FROM annotations "
        f"WHERE project_id = {int(project_id)} AND kind = {int(kind)} AND label IS NOT NULL"
    )
    with read(store.engine) as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql)
            rows = cursor.fetchall()
        finally:
            cursor.close()
    flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64, count=5 * len(rows))
    cols = flat.reshape(-1, 5).T if len(rows) else np.zeros((5, 0), dtype=np.int64)
    return dict(zip(("item", "annotator", "label", "version", "id"), cols, strict=False))


def flagged(store: Store, project_id: int) -> list[dict[str, Any]]:
    """Flagged annotations with their comments, newest first."""
    q = (
        select(
            annotations_t.c.item_idx,
            annotations_t.c.label,
            annotations_t.c.guideline_version,
            annotations_t.c.comment,
            annotators.c.name.label("annotator"),
        )
        .join(annotators, annotators.c.id == annotations_t.c.annotator_id)
        .where(annotations_t.c.project_id == project_id, annotations_t.c.flag.is_(True))
        .order_by(annotations_t.c.id.desc())
    )
    with read(store.engine) as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def item_annotations(store: Store, project_id: int, item_idx: int) -> list[dict[str, Any]]:
    """Every annotation of one item, oldest first, with annotator names."""
    q = (
        select(annotations_t, annotators.c.name.label("annotator"))
        .join(annotators, annotators.c.id == annotations_t.c.annotator_id)
        .where(annotations_t.c.project_id == project_id, annotations_t.c.item_idx == item_idx)
        .order_by(annotations_t.c.id)
    )
    with read(store.engine) as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


# -- reviews -----------------------------------------------------------------------------------
def replace_open_reviews(
    store: Store, project_id: int, kinds: Sequence[str], rows: list[dict[str, Any]]
) -> int:
    """Replace the open review entries of ``kinds`` with ``rows`` (resolved ones stay)."""
    now = time.time()

    def write(conn: Connection) -> int:
        conn.execute(
            delete(reviews).where(
                reviews.c.project_id == project_id,
                reviews.c.kind.in_(list(kinds)),
                reviews.c.status == OPEN,
            )
        )
        resolved = {
            (int(r.item_idx), r.kind)
            for r in conn.execute(
                select(reviews.c.item_idx, reviews.c.kind).where(
                    reviews.c.project_id == project_id, reviews.c.status != OPEN
                )
            )
        }
        fresh = [
            {
                **r,
                "project_id": project_id,
                "status": OPEN,
                "created_at": now,
                "detail": json.dumps(r["detail"]),
            }
            for r in rows
            if (int(r["item_idx"]), r["kind"]) not in resolved
        ]
        for part in chunks(fresh, 5000):
            conn.execute(insert(reviews), part)
        return len(fresh)

    return run_write(store.engine, write)


def list_reviews(
    store: Store,
    project_id: int,
    kinds: Sequence[str] | None,
    status: int | None,
    limit: int | None,
) -> list[dict[str, Any]]:
    """Review entries, highest score first (the most suspicious or most disputed)."""
    q = (
        select(reviews, label_items.c.item_id)
        .join(
            label_items,
            and_(
                label_items.c.project_id == reviews.c.project_id,
                label_items.c.idx == reviews.c.item_idx,
            ),
        )
        .where(reviews.c.project_id == project_id)
        .order_by(reviews.c.score.desc(), reviews.c.id)
    )
    if kinds is not None:
        q = q.where(reviews.c.kind.in_(list(kinds)))
    if status is not None:
        q = q.where(reviews.c.status == status)
    if limit is not None:
        q = q.limit(limit)
    with read(store.engine) as conn:
        out = [dict(r._mapping) for r in conn.execute(q)]
    for r in out:
        r["detail"] = json.loads(r["detail"])
    return out


def resolve_reviews(
    store: Store,
    project_id: int,
    item_idx: int,
    reviewer_id: int,
    reviewer: str,
    label: int | None,
    version: int,
) -> int:
    """A reviewer's decision on an item: stored as a review annotation (labels stay), and every
    open review entry of the item closed. Returns the number of entries closed."""
    now = time.time()

    def write(conn: Connection) -> int:
        status = DISMISSED if label is None else RESOLVED
        if label is not None:
            conn.execute(
                delete(annotations_t).where(
                    annotations_t.c.project_id == project_id,
                    annotations_t.c.item_idx == item_idx,
                    annotations_t.c.annotator_id == reviewer_id,
                    annotations_t.c.guideline_version == version,
                    annotations_t.c.kind == REVIEW,
                )
            )
            conn.execute(
                insert(annotations_t).values(
                    project_id=project_id,
                    item_idx=item_idx,
                    annotator_id=reviewer_id,
                    label=label,
                    guideline_version=version,
                    kind=REVIEW,
                    flag=False,
                    created_at=now,
                )
            )
        return int(
            conn.execute(
                update(reviews)
                .where(
                    reviews.c.project_id == project_id,
                    reviews.c.item_idx == item_idx,
                    reviews.c.status == OPEN,
                )
                .values(status=status, resolution=label, resolved_by=reviewer, resolved_at=now)
            ).rowcount
        )

    return run_write(store.engine, write)


def delete_project(store: Store, project_id: int) -> None:
    """Delete a labeling project and everything in it."""

    def write(conn: Connection) -> None:
        for table in (reviews, annotations_t, assignments, annotators, guidelines, label_items):
            conn.execute(delete(table).where(table.c.project_id == project_id))
        conn.execute(delete(label_projects).where(label_projects.c.id == project_id))

    run_write(store.engine, write)


__all__ = [
    "DISMISSED",
    "DONE",
    "LABEL",
    "OPEN",
    "PENDING",
    "RESOLVED",
    "REVIEW",
    "SKIPPED",
    "add_annotators",
    "annotate",
    "annotation_arrays",
    "annotator_id",
    "annotator_names",
    "assign",
    "assigned_items",
    "count_items",
    "create_project",
    "delete_project",
    "flagged",
    "get_project",
    "item_annotations",
    "item_ids_of",
    "item_indices",
    "latest_guideline_version",
    "list_annotators",
    "list_guidelines",
    "list_projects",
    "list_reviews",
    "next_assignments",
    "publish_guideline",
    "queue_counts",
    "replace_open_reviews",
    "resolve_reviews",
    "skip",
    "undo",
]


def assigned_items(store: Store, project_id: int) -> np.ndarray:
    """Indices of the items that have any queue entry (sorted, unique)."""
    import numpy as np

    sql = f"SELECT DISTINCT item_idx FROM assignments WHERE project_id = {int(project_id)}"
    with read(store.engine) as conn:
        rows = conn.exec_driver_sql(sql).fetchall()
    return np.sort(np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)))
