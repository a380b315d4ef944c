"""``EvaluationStore``: evaluations, their per-example rows (Parquet + DuckDB), tags and requests.

Reached as ``store.evaluations``. The metadata (links, metrics, tags, labeling requests) are SQL
rows; the per-example rows are one Parquet file per evaluation, written here with pyarrow (to a
temporary name, then renamed) and read here with DuckDB. Predicates come in the filter language
(``store/_query.py``, over column names) and are compiled by ``_duck.py`` with bound parameters.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from loopml._errors import ConflictError, NotFoundError, ValidationError
from loopml.store._dialect import chunks
from loopml.store._duck import GroupKey, quote_ident
from loopml.store._engine import read, run_write
from loopml.store._eval_rows import EvaluationRows
from loopml.store._schema_evaluations import (
    eval_label_requests,
    eval_tag_items,
    eval_tags,
    evaluations,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from loopml.store._store import Store

__all__ = [
    "EvalMetric",
    "EvalTagRecord",
    "EvaluationRecord",
    "EvaluationRows",
    "EvaluationStore",
    "GroupKey",
    "LabelRequestRecord",
]

_TAG_KINDS = ("hand", "rule", "auto")
_MAX_TAG = 200


@dataclass(frozen=True, slots=True)
class EvalMetric:
    """One metric of an evaluation with its bootstrap confidence interval (None: undefined)."""

    name: str
    value: float | None
    low: float | None
    high: float | None
    note: str | None = None  # why a metric is undefined, or how its interval was computed


@dataclass(frozen=True, slots=True)
class EvaluationRecord:
    """A stored evaluation: what was scored on which dataset version, and its metrics."""

    id: str
    name: str
    dataset_digest: str
    split: str | None
    task: str
    classes: tuple[str, ...]
    run_id: str | None
    model_version: str | None
    n_rows: int
    metrics: dict[str, EvalMetric]
    columns: dict[str, str]  # every column of the rows (name -> DuckDB type)
    created_at: float


@dataclass(frozen=True, slots=True)
class EvalTagRecord:
    """An error tag of an evaluation, with how many examples it holds."""

    id: int
    evaluation_id: str
    name: str
    kind: str
    rule: str | None
    size: int
    created_at: float


@dataclass(frozen=True, slots=True)
class LabelRequestRecord:
    """Items an analysis queued for labeling, and why."""

    id: int
    evaluation_id: str
    project: str
    batch: int
    group_kind: str
    group_name: str
    reason: str
    item_ids: tuple[str, ...]
    created_at: float


def _record(r: Any) -> EvaluationRecord:
    metrics = {
        k: EvalMetric(k, v.get("value"), v.get("low"), v.get("high"), v.get("note"))
        for k, v in json.loads(r.metrics).items()
    }
    return EvaluationRecord(
        id=r.id,
        name=r.name,
        dataset_digest=r.dataset_digest,
        split=r.split,
        task=r.task,
        classes=tuple(json.loads(r.classes)),
        run_id=r.run_id,
        model_version=r.model_version,
        n_rows=int(r.n_rows),
        metrics=metrics,
        columns=json.loads(r.columns),
        created_at=r.created_at,
    )


def _write_rows(rows: pa.Table, path: Path) -> None:
    """The rows as Parquet. Dictionary encoding only where values repeat (labels, metadata,
    flags): on ids and floats it builds a hash table per page only to fall back, which was a
    third of the write. LZ4 is the cheapest codec DuckDB reads fast."""
    import pyarrow.parquet as pq

    pq.write_table(
        rows, path, compression="lz4", row_group_size=131072,
        use_dictionary=_dictionary_columns(rows),
    )  # fmt: skip


def _dictionary_columns(rows: pa.Table) -> list[str]:
    """Columns worth dictionary-encoding in Parquet: anything but the ids and the floats."""
    import pyarrow as pa

    return [
        f.name
        for f in rows.schema
        if f.name != "id"
        and not pa.types.is_floating(f.type)
        and not pa.types.is_list(f.type)
        and not pa.types.is_fixed_size_list(f.type)
    ]


def _insert_request(conn: Connection, values: dict[str, Any]) -> int:
    """Record a labeling request (inside the transaction that queued its items)."""
    exists = conn.execute(
        select(eval_label_requests.c.id).where(
            eval_label_requests.c.project == values["project"],
            eval_label_requests.c.batch == values["batch"],
        )
    ).first()
    if exists is not None:
        raise ConflictError(
            f"batch {values['batch']} of labeling project {values['project']!r} is already recorded"
        )
    return _new_id(conn.execute(insert(eval_label_requests).values(**values)))


def _new_id(result: Any) -> int:
    key = result.inserted_primary_key
    assert key is not None  # an INSERT of one row always has one
    return int(key[0])


def _check_tag_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > _MAX_TAG or "\x00" in name:
        raise ValidationError(
            f"a tag name is 1-{_MAX_TAG} characters of text, not {name!r}; e.g. 'blurry'"
        )
    return name.strip()


class EvaluationStore:
    """The evaluations surface of a ``Store`` (``store.evaluations``).

    Thread-safe as the store is: every write is one transaction; each DuckDB read opens its own
    in-process connection over the immutable Parquet file of one evaluation.
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    @property
    def folder(self) -> Path:
        """Where the per-example Parquet files live."""
        return self._store.data_dir / "evaluations"

    def _path(self, evaluation_id: str) -> Path:
        return self.folder / evaluation_id[:2] / f"{evaluation_id}.parquet"

    # -- evaluations ---------------------------------------------------------------------------
    def create(
        self,
        *,
        name: str,
        dataset_digest: str,
        split: str | None,
        task: str,
        classes: Sequence[str],
        rows: pa.Table,
        metrics: Sequence[EvalMetric] | Callable[[], Sequence[EvalMetric]],
        run_id: str | None = None,
        model_version: str | None = None,
    ) -> EvaluationRecord:
        """Store an evaluation: its rows as Parquet, then its metadata row (all or nothing).

        ``metrics`` may be a function computing them: it then runs while the file is written
        (pyarrow writes without holding the GIL), which takes the write off the critical path.
        The file is written to a temporary name and renamed; if computing the metrics or the
        metadata insert fails, the file is removed, so a failure leaves nothing behind.
        """
        import threading

        from loopml.store._duck import duck_types

        if task not in ("classification", "regression"):
            raise ValidationError(f"task must be 'classification' or 'regression', not {task!r}")
        if "id" not in rows.column_names:
            raise ValidationError("an evaluation's rows need an 'id' column")
        evaluation_id = uuid.uuid4().hex
        path = self._path(evaluation_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{evaluation_id}.{uuid.uuid4().hex}.tmp")
        failure: list[BaseException] = []

        def write_file() -> None:
            try:
                _write_rows(rows, tmp)
            except BaseException as exc:  # handed to the caller's thread below
                failure.append(exc)

        writer = threading.Thread(target=write_file, name="loopml-eval-rows", daemon=True)
        writer.start()
        try:
            metric_list = list(metrics() if callable(metrics) else metrics)
        except BaseException:
            writer.join()
            tmp.unlink(missing_ok=True)
            raise
        writer.join()
        if failure:
            tmp.unlink(missing_ok=True)
            raise failure[0]
        os.chmod(tmp, 0o444)
        os.replace(tmp, path)
        values = {
            "id": evaluation_id,
            "name": name,
            "dataset_digest": dataset_digest,
            "split": split,
            "task": task,
            "classes": json.dumps(list(classes)),
            "run_id": run_id,
            "model_version": model_version,
            "n_rows": rows.num_rows,
            "metrics": json.dumps(
                {
                    m.name: {"value": m.value, "low": m.low, "high": m.high, "note": m.note}
                    for m in metric_list
                }
            ),
            "columns": json.dumps(duck_types(rows.schema)),
            "file": str(path.relative_to(self._store.data_dir)),
            "created_at": time.time(),
        }
        try:
            run_write(self._store.engine, lambda conn: conn.execute(insert(evaluations), values))
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return self.get(evaluation_id)

    def resolve(self, ref: str) -> str:
        """The full id of an evaluation, from its id or a unique prefix of 4+ characters."""
        if not isinstance(ref, str) or not ref.strip():
            raise ValidationError(f"an evaluation id is a non-empty string, not {ref!r}")
        with read(self._store.engine) as conn:
            if conn.execute(select(evaluations.c.id).where(evaluations.c.id == ref)).first():
                return ref
            found = []
            if len(ref) >= 4 and ref.isalnum():
                found = [
                    r[0]
                    for r in conn.execute(
                        select(evaluations.c.id).where(evaluations.c.id.like(ref + "%")).limit(2)
                    )
                ]
        if not found:
            raise NotFoundError(f"no evaluation with id {ref!r}; list them with `loopml eval show`")
        if len(found) > 1:
            raise ValidationError(f"evaluation id prefix {ref!r} is ambiguous; give more of it")
        return found[0]

    def get(self, ref: str) -> EvaluationRecord:
        """One evaluation, by id or unique id prefix."""
        evaluation_id = self.resolve(ref)
        with read(self._store.engine) as conn:
            row = conn.execute(select(evaluations).where(evaluations.c.id == evaluation_id)).one()
        return _record(row)

    def search(
        self,
        *,
        dataset_digest: str | None = None,
        run_id: str | None = None,
        limit: int | None = 100,
    ) -> list[EvaluationRecord]:
        """Evaluations, newest first (of one dataset version or one run)."""
        q = select(evaluations).order_by(evaluations.c.created_at.desc())
        if dataset_digest is not None:
            q = q.where(evaluations.c.dataset_digest == dataset_digest)
        if run_id is not None:
            q = q.where(evaluations.c.run_id == run_id)
        if limit is not None:
            q = q.limit(limit)
        with read(self._store.engine) as conn:
            return [_record(r) for r in conn.execute(q)]

    def delete(self, ref: str) -> None:
        """Delete an evaluation with its tags, requests and rows file."""
        evaluation_id = self.resolve(ref)

        def write(conn: Connection) -> None:
            tag_ids = select(eval_tags.c.id).where(eval_tags.c.evaluation_id == evaluation_id)
            conn.execute(delete(eval_tag_items).where(eval_tag_items.c.tag_id.in_(tag_ids)))
            conn.execute(delete(eval_tags).where(eval_tags.c.evaluation_id == evaluation_id))
            conn.execute(
                delete(eval_label_requests).where(
                    eval_label_requests.c.evaluation_id == evaluation_id
                )
            )
            conn.execute(delete(evaluations).where(evaluations.c.id == evaluation_id))

        run_write(self._store.engine, write)
        self._path(evaluation_id).unlink(missing_ok=True)

    # -- per-example rows (DuckDB over the Parquet file) -------------------------------------------
    @contextmanager
    def rows(
        self, ref: str, pair: str | None = None, *, in_memory: bool = False
    ) -> Iterator[EvaluationRows]:
        """One DuckDB connection over an evaluation's rows (and ``pair``'s, for comparisons),
        for many queries in a row; ``in_memory`` first loads the scalar columns into DuckDB,
        which pays off over dozens of scans (slice discovery)."""
        import duckdb

        rec = self.get(ref)
        other = self.get(pair) if pair is not None else None
        con = duckdb.connect(config={"threads": 2, "memory_limit": "700MB"})
        con.execute("SET enable_progress_bar = false").fetchall()  # no bars in a server's output
        try:
            for i, r in enumerate([rec] if other is None else [rec, other]):
                path = str(self._path(r.id)).replace("'", "''")
                # The path is ours, never user text; the file is immutable.
                source = f"read_parquet('{path}')"
                if in_memory and i == 0:
                    lists = [c for c, t in r.columns.items() if t == "LIST"]
                    drop = f" EXCLUDE ({', '.join(quote_ident(c) for c in lists)})" if lists else ""
                    con.execute(
                        f"CREATE TEMP TABLE r{i} AS SELECT *{drop} FROM {source}"
                    ).fetchall()
                else:
                    con.execute(f"CREATE VIEW r{i} AS SELECT * FROM {source}").fetchall()
            yield EvaluationRows(rec, other, con, self._tag_members)
        finally:
            con.close()

    def read_rows(
        self,
        ref: str,
        where: str | None = None,
        *,
        columns: Sequence[str] | None = None,
        order_by: str | None = None,
        descending: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> pa.Table:
        """Rows matching a predicate (filter language over the columns), some columns, a page."""
        with self.rows(ref) as r:
            return r.read(
                where, columns=columns, order_by=order_by, descending=descending, limit=limit,
                offset=offset,
            )  # fmt: skip

    def grouped_counts(
        self,
        ref: str,
        group_sets: Sequence[Sequence[GroupKey]],
        where: str | None = None,
        *,
        by_tag: bool = False,
    ) -> list[pa.Table]:
        """Counts per group (see ``EvaluationRows.grouped_counts``)."""
        with self.rows(ref) as r:
            return r.grouped_counts(group_sets, where, by_tag=by_tag)

    def paired_counts(
        self,
        a: str,
        b: str,
        group_sets: Sequence[Sequence[GroupKey]],
        where: str | None = None,
        *,
        by_tag: bool = False,
    ) -> list[pa.Table]:
        """Paired counts of two evaluations (see ``EvaluationRows.paired_counts``)."""
        with self.rows(a, b) as r:
            return r.paired_counts(group_sets, where, by_tag=by_tag)

    def paired_rows(self, a: str, b: str, which: str, *, limit: int | None = 100) -> pa.Table:
        """The examples ``b`` fixed (``which="fixed"``) or broke (``"broken"``) relative to ``a``."""
        with self.rows(a, b) as r:
            return r.paired_rows(which, limit=limit)

    def quantiles(self, ref: str, column: str, qs: Sequence[float]) -> list[float]:
        """Quantiles of a numeric column (NULLs and NaN left out)."""
        with self.rows(ref) as r:
            return r.quantiles(column, qs)

    def distinct_counts(self, ref: str, columns: Sequence[str]) -> dict[str, int]:
        """How many distinct non-null values each column has (one scan)."""
        with self.rows(ref) as r:
            return r.distinct_counts(columns)

    # -- tags ------------------------------------------------------------------------------------
    def _tag_members(self, evaluation_id: str) -> list[list[str]]:
        q = (
            select(eval_tags.c.name, eval_tag_items.c.item_id)
            .join(eval_tag_items, eval_tag_items.c.tag_id == eval_tags.c.id)
            .where(eval_tags.c.evaluation_id == evaluation_id)
        )
        with read(self._store.engine) as conn:
            rows = conn.execute(q).all()
        return [[r[0] for r in rows], [r[1] for r in rows]]

    def _check_items(self, rec: EvaluationRecord, item_ids: Sequence[str]) -> list[str]:
        ids = list(dict.fromkeys(str(i) for i in item_ids))
        if not ids:
            return ids
        with self.rows(rec.id) as r:
            n_missing, missing = r.missing_ids(ids)
        if n_missing:
            raise NotFoundError(
                f"{n_missing} item ids are not in evaluation {rec.id[:8]} (e.g. {missing!r}); "
                "tag only examples of this evaluation"
            )
        return ids

    def tag(
        self,
        ref: str,
        name: str,
        item_ids: Sequence[str],
        *,
        kind: str = "hand",
        rule: str | None = None,
        replace: bool = False,
    ) -> EvalTagRecord:
        """Put tag ``name`` on examples (creating the tag); ``replace`` sets its members anew.

        ``kind`` is the new tag's kind; an existing tag keeps its own unless ``replace``. The
        examples are marked as tagged by hand when ``kind`` is ``"hand"`` (a person picked
        them, whatever the tag's kind): ``undo_last`` takes those back, and ``replace``
        (recomputing a rule or automatic tag) keeps them.
        One transaction: the tag and all its new members land together or not at all.
        """
        rec = self.get(ref)
        name = _check_tag_name(name)
        if kind not in _TAG_KINDS:
            raise ValidationError(f"tag kind must be one of {_TAG_KINDS}, not {kind!r}")
        ids = self._check_items(rec, item_ids)
        by_hand = kind == "hand"

        def write(conn: Connection) -> int:
            now = time.time()
            row = conn.execute(
                select(eval_tags.c.id, eval_tags.c.kind).where(
                    eval_tags.c.evaluation_id == rec.id, eval_tags.c.name == name
                )
            ).first()
            if row is None:
                tag_id = _new_id(
                    conn.execute(
                        insert(eval_tags).values(
                            evaluation_id=rec.id, name=name, kind=kind, rule=rule, created_at=now
                        )
                    )
                )
            else:
                tag_id = row.id
                if row.kind != kind and replace:
                    conn.execute(
                        eval_tags.update()
                        .where(eval_tags.c.id == tag_id)
                        .values(kind=kind, rule=rule)
                    )
            have: set[str] = set()
            if replace:
                conn.execute(
                    delete(eval_tag_items).where(
                        eval_tag_items.c.tag_id == tag_id, eval_tag_items.c.by_hand.is_(False)
                    )
                )
            for part in chunks(ids):
                have.update(
                    r[0]
                    for r in conn.execute(
                        select(eval_tag_items.c.item_id).where(
                            eval_tag_items.c.tag_id == tag_id,
                            eval_tag_items.c.item_id.in_(part),
                        )
                    )
                )
            new = [i for i in ids if i not in have]
            for part in chunks(new, 5000):
                conn.execute(
                    insert(eval_tag_items),
                    [
                        {"tag_id": tag_id, "item_id": i, "created_at": now, "by_hand": by_hand}
                        for i in part
                    ],
                )
            return int(tag_id)

        try:
            run_write(self._store.engine, write)
        except IntegrityError:
            # Another writer created the same tag (or member) at the same moment; the second
            # attempt sees its row and adds to it.
            run_write(self._store.engine, write)
        return next(t for t in self.tags(rec.id) if t.name == name)

    def untag(self, ref: str, name: str, item_ids: Sequence[str]) -> int:
        """Take tag ``name`` off examples; returns how many it held."""
        rec = self.get(ref)
        tag_id = self._tag_id(rec.id, name)

        def write(conn: Connection) -> int:
            n = 0
            for part in chunks([str(i) for i in item_ids]):
                n += conn.execute(
                    delete(eval_tag_items).where(
                        eval_tag_items.c.tag_id == tag_id, eval_tag_items.c.item_id.in_(part)
                    )
                ).rowcount
            return n

        return run_write(self._store.engine, write)

    def undo_last(self, ref: str) -> tuple[str, str] | None:
        """Take back the newest tagging made by hand (of a tag of any kind): (tag, item id),
        or None when there is none."""
        rec = self.get(ref)

        def write(conn: Connection) -> tuple[str, str] | None:
            row = conn.execute(
                select(eval_tag_items.c.tag_id, eval_tag_items.c.item_id, eval_tags.c.name)
                .join(eval_tags, eval_tags.c.id == eval_tag_items.c.tag_id)
                .where(eval_tags.c.evaluation_id == rec.id, eval_tag_items.c.by_hand.is_(True))
                .order_by(eval_tag_items.c.created_at.desc())
                .limit(1)
            ).first()
            if row is None:
                return None
            conn.execute(
                delete(eval_tag_items).where(
                    eval_tag_items.c.tag_id == row.tag_id, eval_tag_items.c.item_id == row.item_id
                )
            )
            return str(row.name), str(row.item_id)

        return run_write(self._store.engine, write)

    def _tag_id(self, evaluation_id: str, name: str) -> int:
        with read(self._store.engine) as conn:
            tag_id = conn.execute(
                select(eval_tags.c.id).where(
                    eval_tags.c.evaluation_id == evaluation_id, eval_tags.c.name == name
                )
            ).scalar()
        if tag_id is None:
            names = [t.name for t in self.tags(evaluation_id)]
            import difflib

            close = difflib.get_close_matches(str(name), names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise NotFoundError(
                f"evaluation {evaluation_id[:8]} has no tag {name!r}{hint} Its tags: {names}"
            )
        return int(tag_id)

    def tags(self, ref: str) -> list[EvalTagRecord]:
        """The evaluation's tags with their sizes, by name."""
        rec_id = self.resolve(ref)
        q = (
            select(eval_tags, func.count(eval_tag_items.c.item_id).label("size"))
            .select_from(
                eval_tags.outerjoin(eval_tag_items, eval_tag_items.c.tag_id == eval_tags.c.id)
            )
            .where(eval_tags.c.evaluation_id == rec_id)
            .group_by(*eval_tags.c)
            .order_by(eval_tags.c.name)
        )
        with read(self._store.engine) as conn:
            return [
                EvalTagRecord(
                    r.id, r.evaluation_id, r.name, r.kind, r.rule, int(r.size), r.created_at
                )
                for r in conn.execute(q)
            ]

    def tag_items(self, ref: str, name: str) -> list[str]:
        """The ids of the examples holding tag ``name``."""
        rec_id = self.resolve(ref)
        tag_id = self._tag_id(rec_id, name)
        with read(self._store.engine) as conn:
            return [
                r[0]
                for r in conn.execute(
                    select(eval_tag_items.c.item_id)
                    .where(eval_tag_items.c.tag_id == tag_id)
                    .order_by(eval_tag_items.c.item_id)
                )
            ]

    def item_tags(self, ref: str, item_id: str) -> list[str]:
        """The tags one example holds."""
        rec_id = self.resolve(ref)
        q = (
            select(eval_tags.c.name)
            .join(eval_tag_items, eval_tag_items.c.tag_id == eval_tags.c.id)
            .where(eval_tags.c.evaluation_id == rec_id, eval_tag_items.c.item_id == str(item_id))
            .order_by(eval_tags.c.name)
        )
        with read(self._store.engine) as conn:
            return [r[0] for r in conn.execute(q)]

    # -- labeling requests -------------------------------------------------------------------------
    def send_to_labeling(
        self,
        ref: str,
        *,
        project: str,
        project_id: int,
        annotator_ids: Sequence[int],
        item_ids: Sequence[str],
        item_idxs: Sequence[int],
        overlap: int,
        queue_reason: str,
        group_kind: str,
        group_name: str,
        reason: str,
    ) -> LabelRequestRecord:
        """Queue items in a labeling project's new batch and record why, in ONE transaction.

        The queue entries (``store.labeling.queue``'s rows, one per item and annotator) and the
        request naming the evaluation, the group and the reason land together or not at all: a
        crash between them can never leave queued items without their reason.
        ``item_idxs`` are the items' indices in the project (``store.labeling.projects
        .item_indices``), in the order of ``item_ids``.
        """
        from loopml.store._labeling_queue import assign_in, check_assign

        rec_id = self.resolve(ref)
        ids = [str(i) for i in item_ids]
        idxs = [int(i) for i in item_idxs]
        if not ids or len(ids) != len(idxs):
            raise ValidationError(
                f"send one index per item: {len(ids)} item ids, {len(idxs)} indices"
            )
        if not isinstance(reason, str) or not reason.strip():
            raise ValidationError("a labeling request needs a reason (why these items)")
        check_assign(annotator_ids, overlap, None, queue_reason)

        def write(conn: Connection) -> int:
            batch, _added = assign_in(
                conn, project_id, annotator_ids, idxs, overlap, None, queue_reason
            )
            values = {
                "evaluation_id": rec_id,
                "project": project,
                "batch": int(batch),
                "group_kind": group_kind,
                "group_name": group_name,
                "reason": reason,
                "item_ids": json.dumps(ids),
                "created_at": time.time(),
            }
            return _insert_request(conn, values)

        try:
            new_id = run_write(self._store.engine, write)
        except IntegrityError:
            raise NotFoundError(
                f"annotator ids {list(annotator_ids)!r} are not all in labeling project "
                f"{project!r}; get them from store.labeling.annotators.all({project_id})"
            ) from None
        return next(r for r in self.label_requests(rec_id) if r.id == new_id)

    def label_requests(
        self, ref: str | None = None, *, project: str | None = None
    ) -> list[LabelRequestRecord]:
        """Labeling requests made from an evaluation (or into a labeling project), oldest first."""
        q = select(eval_label_requests).order_by(eval_label_requests.c.id)
        if ref is not None:
            q = q.where(eval_label_requests.c.evaluation_id == self.resolve(ref))
        if project is not None:
            q = q.where(eval_label_requests.c.project == project)
        with read(self._store.engine) as conn:
            return [
                LabelRequestRecord(
                    r.id,
                    r.evaluation_id,
                    r.project,
                    int(r.batch),
                    r.group_kind,
                    r.group_name,
                    r.reason,
                    tuple(json.loads(r.item_ids)),
                    r.created_at,
                )
                for r in conn.execute(q)
            ]
