"""``Evaluation``: the handle on one stored evaluation and every analysis of it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from loopml._errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd

    from loopml.analysis._compare import Comparison
    from loopml.analysis._slices import SliceResult
    from loopml.datasets import DatasetVersion
    from loopml.store import (
        EvalMetric,
        EvalTagRecord,
        EvaluationRecord,
        LabelRequestRecord,
        Store,
    )

__all__ = ["Evaluation", "get_evaluation", "list_evaluations"]


class Evaluation:
    """One evaluation: a run or model scored on a dataset version's split, one row per example.

    ``metrics`` holds each metric with its 95% bootstrap interval. The analyses (slices, tags,
    the ceiling table, slice discovery, comparison, send to labeling) read the stored rows.
    """

    def __init__(self, record: EvaluationRecord, store: Store) -> None:
        self.record = record
        self.store = store

    def __repr__(self) -> str:
        acc = self.record.metrics.get("accuracy") or self.record.metrics.get("rmse")
        shown = f", {acc.name}={acc.value:.4g}" if acc and acc.value is not None else ""
        return f"<Evaluation {self.id[:8]} {self.record.name!r}, {self.record.n_rows} rows{shown}>"

    @property
    def id(self) -> str:
        """The evaluation's id."""
        return self.record.id

    @property
    def metrics(self) -> dict[str, EvalMetric]:
        """Metric name -> value with ``low``/``high`` (95% bootstrap interval)."""
        return dict(self.record.metrics)

    @property
    def dataset(self) -> DatasetVersion:
        """The dataset version the evaluation scored."""
        from loopml.datasets import get

        return get(self.record.dataset_digest, store=self.store)

    def metrics_frame(self) -> pd.DataFrame:
        """The metrics as a DataFrame: metric, value, low, high, note."""
        import pandas as pd

        return pd.DataFrame(
            [
                {"metric": m.name, "value": m.value, "low": m.low, "high": m.high, "note": m.note}
                for m in self.record.metrics.values()
            ]
        )

    def rows(
        self,
        where: str | None = None,
        *,
        columns: Sequence[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
        order_by: str | None = None,
        descending: bool = False,
    ) -> pd.DataFrame:
        """The per-example rows matching a predicate (filter language over the columns)."""
        return self.store.evaluations.read_rows(
            self.id, where, columns=columns, limit=limit, offset=offset, order_by=order_by,
            descending=descending,
        ).to_pandas()  # fmt: skip

    @property
    def columns(self) -> list[str]:
        """The columns predicates may name."""
        return list(self.record.columns)

    # -- slices ----------------------------------------------------------------------------------
    def slice(self, predicate: str) -> SliceResult:
        """One slice's size and metric with its interval (an empty slice says so: ``.empty``)."""
        from loopml.analysis._slices import slice_result

        if not isinstance(predicate, str) or not predicate.strip():
            raise ValidationError(
                "a slice is a predicate such as \"brightness < 0.3 and source = 'scan'\""
            )
        counts = self.store.evaluations.grouped_counts(self.id, [[]], where=predicate)[0]
        row = counts.to_pylist()[0]
        return slice_result(self.record, self.store, predicate, row)

    def slices(self, bins: int = 4) -> pd.DataFrame:
        """Every single-predicate slice (each value; numeric columns in ``bins`` quantile bins)."""
        from loopml.analysis._slices import auto_slices

        if not isinstance(bins, int) or not 2 <= bins <= 20:
            raise ValidationError(f"bins must be a whole number from 2 to 20, got {bins!r}")
        return auto_slices(self.record, self.store, bins)

    def discover_slices(
        self,
        k: int = 5,
        max_predicates: int = 3,
        min_size: int | None = None,
        *,
        alpha: float = 0.05,
        columns: list[str] | None = None,
    ) -> pd.DataFrame:
        """The top-``k`` slices whose error rate is significantly above the overall one."""
        from loopml.analysis._discovery import discover_slices

        if columns is not None:
            unknown = [c for c in columns if c not in self.record.columns]
            if unknown:
                raise ValidationError(
                    f"unknown columns {unknown}; the columns are: {', '.join(self.columns)}"
                )
        return discover_slices(self.record, self.store, k, max_predicates, min_size, alpha, columns)

    def confusion(self) -> pd.DataFrame:
        """The confusion matrix: one row per true class, one column per predicted class."""
        import pandas as pd

        from loopml.store import GroupKey

        if self.record.task != "classification":
            raise ValidationError("a confusion matrix needs a classification evaluation")
        table = self.store.evaluations.grouped_counts(
            self.id, [[GroupKey("truth"), GroupKey("prediction")]]
        )[0]
        classes = list(self.record.classes)
        frame = pd.DataFrame(0, index=pd.Index(classes, name="truth"), columns=classes)
        for r in table.to_pylist():
            frame.loc[r["k0"], r["k1"]] = int(r["n"])
        frame.columns.name = "prediction"
        return frame

    def cell(self, truth: Any, prediction: Any, limit: int | None = 100) -> pd.DataFrame:
        """The examples of one confusion cell (drill-down)."""
        from loopml.analysis._slices import render_value

        where = (
            f"truth = {render_value(str(truth))} and prediction = {render_value(str(prediction))}"
        )
        return self.rows(where, limit=limit, order_by="id")

    def example(self, item_id: str) -> dict[str, Any]:
        """One example as the pages show it: its evaluation row (truth, prediction, confidence,
        columns), its tags, and the dataset item's inputs (an image's bytes, a text...)."""
        from loopml.analysis._slices import render_value

        found = self.rows(f"id = {render_value(str(item_id))}", limit=1)
        if found.empty:
            from loopml._errors import NotFoundError

            raise NotFoundError(f"evaluation {self.id[:8]} has no example {item_id!r}")
        row = found.iloc[0].to_dict()
        row.pop("probabilities", None)
        from loopml._errors import NotFoundError

        # The item's own inputs (images, texts) from its dataset version, read by id.
        try:
            item = self.dataset.item(str(item_id))
        except NotFoundError:
            item = {}
        return {
            "row": row,
            "item": item,
            "tags": self.store.evaluations.item_tags(self.id, item_id),
        }

    @property
    def n_errors(self) -> int:
        """How many examples the model got wrong (classification)."""
        row = self.store.evaluations.grouped_counts(self.id, [[]])[0].to_pylist()[0]
        return int(row["errors"] or 0)

    def errors(self, limit: int | None = None, offset: int = 0) -> pd.DataFrame:
        """The misclassified examples, most confident first (the tagging page's order)."""
        order = "confidence" if "confidence" in self.record.columns else "id"
        return self.rows(
            "correct = false", limit=limit, offset=offset, order_by=order, descending=True
        )

    # -- tags ------------------------------------------------------------------------------------
    def tag(
        self,
        name: str,
        items: Sequence[str] | None = None,
        *,
        where: str | None = None,
        errors_only: bool = False,
    ) -> EvalTagRecord:
        """Tag examples by hand (``items``) or by rule (``where``); returns the tag with its size."""
        from loopml.analysis._tags import tag

        return tag(self.record, self.store, name, items, where, errors_only)

    def auto_tag(self, kind: str, threshold: float = 0.5) -> EvalTagRecord:
        """An automatic tag: ``"low-confidence"`` or ``"suspected-label-error"``."""
        from loopml.analysis._tags import auto_tag

        return auto_tag(self.record, self.store, kind, threshold)

    def untag(self, name: str, items: Sequence[str]) -> int:
        """Take a tag off examples; returns how many held it."""
        return self.store.evaluations.untag(self.id, name, items)

    def undo_tag(self) -> tuple[str, str] | None:
        """Take back the newest hand-made tag: (tag, item id), or None."""
        return self.store.evaluations.undo_last(self.id)

    def tags(self) -> list[EvalTagRecord]:
        """The evaluation's tags with their sizes."""
        return self.store.evaluations.tags(self.id)

    def tag_items(self, name: str) -> list[str]:
        """The ids of the examples holding a tag."""
        return self.store.evaluations.tag_items(self.id, name)

    # -- the decision tables --------------------------------------------------------------------
    @property
    def ceiling_metrics(self) -> tuple[str, ...]:
        """The metrics a ceiling table of this evaluation can use (the first is the default)."""
        from loopml.analysis._ceiling import ceiling_metrics

        return ceiling_metrics(self.record)

    def ceiling(
        self,
        by: str = "tags",
        *,
        slices: list[str] | None = None,
        metric: str | None = None,
        k: int = 10,
        error_threshold: float | None = None,
    ) -> pd.DataFrame:
        """The ceiling table by ``"tags"`` or ``"slices"`` (default: the top ``k`` discovered).

        ``metric``: accuracy (RMSE for regression) unless named; any of the evaluation's metrics.
        ``gain`` is how much better it gets if a group's errors were fixed: a fixed error takes
        its true class with the prediction's confidence (the two classes' probabilities swap);
        in regression an error is an absolute residual above ``error_threshold`` (default: the
        largest 10%) and fixing it makes it 0. See docs/analysis.md.
        """
        from loopml.analysis._ceiling import ceiling

        if by == "slices" and slices is None:
            slices = self.discover_slices(k=k)["slice"].tolist()
        return ceiling(self.record, self.store, by, slices, metric, error_threshold=error_threshold)

    def compare(
        self, other: Evaluation | str, *, slices: list[str] | None = None, alpha: float = 0.05
    ) -> Comparison:
        """Compare ``other`` (the challenger) with this evaluation on the same rows."""
        from loopml.analysis._compare import compare

        if isinstance(other, str):
            other = get_evaluation(other, store=self.store)
        if not isinstance(other, Evaluation):
            raise ValidationError(
                f"compare with an Evaluation or its id, not {type(other).__name__}"
            )
        return compare(self.record, other.record, self.store, slices, alpha)

    # -- the loop's edges -----------------------------------------------------------------------
    def send_to_labeling(
        self,
        *,
        tag: str | None = None,
        slice: str | None = None,
        cell: tuple[Any, Any] | None = None,
        items: Sequence[str] | None = None,
        label_issues: bool = False,
        project: str | None = None,
        annotators: Sequence[str] | None = None,
        overlap: int | None = None,
        limit: int | None = None,
        reason: str | None = None,
    ) -> LabelRequestRecord:
        """Queue one group (a tag, a slice, a confusion cell, items, or the suspected label
        errors) in a labeling project over the dataset version, with the reason recorded."""
        from loopml.analysis._labeling import send_to_labeling

        return send_to_labeling(
            self.record, self.store, tag=tag, slice=slice, cell=cell, items=items,
            label_issues=label_issues, project=project, annotators=annotators, overlap=overlap,
            limit=limit, reason=reason,
        )  # fmt: skip

    def labeling_requests(self) -> list[LabelRequestRecord]:
        """What this evaluation sent to labeling, oldest first."""
        return self.store.evaluations.label_requests(self.id)

    def labeling_history(self, item_id: str) -> list[dict[str, Any]]:
        """An example's labels (annotator, guideline version, votes) across labeling projects."""
        from loopml.analysis._labeling import labeling_history

        return labeling_history(self.record, self.store, item_id)

    def log_to_run(self, run: Any = None) -> dict[str, float]:
        """Log the metrics on the evaluation's run as ``eval.<split>.<metric>`` (so the runs
        table sorts by them); returns what was logged. ``run``: the live Run, when there is one."""
        from loopml.tracking import FINAL_STATUSES, default_session, init

        if self.record.run_id is None:
            raise ValidationError(
                "this evaluation is not linked to a run; pass run=... to evaluate"
            )
        split = self.record.split or "all"
        values = {
            f"eval.{split}.{m.name}": float(m.value)
            for m in self.record.metrics.values()
            if m.value is not None
        }
        if run is not None and getattr(run, "id", None) == self.record.run_id:
            run.log(values)
            return values
        session = default_session()
        if session.store is not self.store and session.store.url != self.store.url:
            return {}  # the run lives in another store than the tracking session's
        status = session.store.runs.status(self.record.run_id)
        if status not in FINAL_STATUSES:
            raise ValidationError(
                f"run {self.record.run_id[:8]} is {status}; pass its live Run as run=... "
                "so the metrics are logged through it"
            )
        record = session.store.runs.get(self.record.run_id)
        live = init(record.project, id=record.id)
        live.log(values)
        live.finish(status)
        return values


def get_evaluation(ref: str, *, store: Store | None = None) -> Evaluation:
    """A stored evaluation by id (or unique prefix)."""
    store = store_of(store)
    return Evaluation(store.evaluations.get(ref), store)


def list_evaluations(
    dataset: str | None = None, *, run: str | None = None, store: Store | None = None
) -> list[Evaluation]:
    """Evaluations, newest first (of one dataset version, or of one run)."""
    from loopml.datasets import get

    store = store_of(store)
    digest = get(dataset, store=store).digest if dataset is not None else None
    run_id = store.runs.resolve_id(run) if run is not None else None
    return [
        Evaluation(r, store) for r in store.evaluations.search(dataset_digest=digest, run_id=run_id)
    ]


def store_of(store: Store | None) -> Store:
    """The given store, or the default session's."""
    if store is not None:
        return store
    from loopml.tracking import default_session

    return default_session().store
