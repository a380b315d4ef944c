"""``evaluate``: score predictions (a DataFrame, a fitted model or a run's artifact) on a dataset
version, store one row per example, and put the metrics on the run.

Everything is checked before anything is written: ids that do not match the split, probabilities
that do not sum to one or have the wrong number of classes, a dataset version without labels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from loopml._errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from loopml.analysis._evaluation import Evaluation
    from loopml.datasets import DatasetVersion
    from loopml.store import Store

__all__ = ["PREDICTIONS_ARTIFACT", "evaluate", "store_of"]

PREDICTIONS_ARTIFACT = "predictions.parquet"
# Evaluation columns; a dataset column with one of these names is kept as ``item.<name>``.
_OWN = ("id", "truth", "prediction", "correct", "confidence", "loss", "error", "probabilities")


def store_of(store: Store | None) -> Store:
    """The given store, or the default session's."""
    if store is not None:
        return store
    from loopml.tracking import default_session

    return default_session().store


def _label_text(v: Any) -> str:
    # 3, 3.0, np.int64(3) and "3" are one class: labels compare as text.
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, (int, float)) or type(v).__module__ == "numpy":
        f = float(v)
        if math.isfinite(f) and f == int(f):
            return str(int(f))
        return repr(f)
    return str(v)


def _some(values: Any, n: int = 5) -> str:
    return repr([str(v) for v in list(values)[:n]])


def _from_run(run: Any, store: Store) -> tuple[pd.DataFrame, str]:
    import pandas as pd

    run_id = run if isinstance(run, str) else getattr(run, "id", None)
    if not isinstance(run_id, str):
        raise ValidationError(f"expected a run or run id, got {type(run).__name__}")
    if hasattr(run, "flush"):
        run.flush()
    run_id = store.resolve_run_id(run_id)
    try:
        path = store.artifact_file(run_id, PREDICTIONS_ARTIFACT)
    except NotFoundError:
        raise NotFoundError(
            f"run {run_id[:8]} has no artifact {PREDICTIONS_ARTIFACT!r}; log one with "
            f"run.log_artifact('{PREDICTIONS_ARTIFACT}') (columns id, prediction and optionally "
            "probabilities), or pass the predictions DataFrame to loopml.evaluate"
        ) from None
    return pd.read_parquet(path), run_id


def _from_model(
    model: Any, version: DatasetVersion, split: str | None
) -> tuple[pd.DataFrame, list[str] | None]:
    import numpy as np
    import pandas as pd

    features = [c for c in version.inputs if _is_number(version.types.get(c, ""))]
    if not features:
        raise ValidationError(
            f"{version.ref} has no numeric input columns to feed the model; "
            "evaluate its predictions instead: loopml.evaluate(frame_with_id_and_prediction, ...)"
        )
    frame = version.to_pandas(split=split, columns=["id", *features])
    # A model fitted on a DataFrame wants the same named columns; one fitted on an array, an array.
    x = (
        frame[features]
        if hasattr(model, "feature_names_in_")
        else frame[features].to_numpy(np.float64)
    )
    out = pd.DataFrame({"id": frame["id"].astype(str)})
    classes = None
    if hasattr(model, "predict_proba") and hasattr(model, "classes_"):
        probs = np.asarray(model.predict_proba(x), dtype=np.float64)
        classes = [_label_text(c) for c in model.classes_]
        out["prediction"] = [classes[i] for i in probs.argmax(1)]
        out["probabilities"] = list(probs)
    elif hasattr(model, "predict"):
        out["prediction"] = model.predict(x)
    else:
        raise ValidationError(
            f"a model needs predict() (and predict_proba() for probabilities); "
            f"{type(model).__name__} has neither"
        )
    return out, classes


def _is_number(arrow_type: str) -> bool:
    return arrow_type.startswith(("int", "uint", "float", "double", "halffloat"))


def _probabilities(frame: pd.DataFrame, k: int, classes: list[str]) -> np.ndarray:
    import numpy as np

    col = frame["probabilities"]
    lengths = col.map(lambda p: -1 if p is None else len(p)).to_numpy()
    bad = np.flatnonzero(lengths != k)
    if len(bad):
        raise ValidationError(
            f"probabilities must list one value per class ({k}: {classes[:10]}); "
            f"{len(bad)} rows do not (e.g. id {frame['id'].iloc[bad[0]]!r} has {lengths[bad[0]]}). "
            "Pass classes=[...] in the order of the probabilities"
        )
    probs = np.asarray(np.stack(list(col)), dtype=np.float64)
    sums = probs.sum(1)
    bad = np.flatnonzero(~np.isfinite(sums) | (probs < 0).any(1) | (np.abs(sums - 1) > 1e-3))
    if len(bad):
        raise ValidationError(
            f"each row of probabilities must be non-negative and sum to 1; {len(bad)} rows do not "
            f"(e.g. id {frame['id'].iloc[bad[0]]!r} sums to {sums[bad[0]]:.4g}). Normalize them "
            "(p / p.sum(axis=1)) or pass the model's predict_proba output"
        )
    return probs


def _dataset_columns(version: DatasetVersion, frame: pa.Table) -> dict[str, str]:
    """Dataset columns copied into the rows (metadata, numeric and true/false inputs): name ->
    name in the rows."""
    import pyarrow as pa

    keep: dict[str, str] = {}
    for f in frame.schema:
        if f.name in ("id", "split", "label"):
            continue
        t = f.type
        scalar = pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
        text = pa.types.is_string(t) or pa.types.is_large_string(t)
        if scalar or (text and f.name in version.metadata):
            keep[f.name] = f"item.{f.name}" if f.name in _OWN else f.name
    return keep


def evaluate(
    predictions: Any,
    dataset: str | DatasetVersion,
    split: str | None = "test",
    classes: Sequence[Any] | None = None,
    *,
    run: Any = None,
    model_version: str | None = None,
    name: str | None = None,
    task: str = "auto",
    log_to_run: bool = True,
    store: Store | None = None,
) -> Evaluation:
    """Score predictions on a dataset version's split and store one row per example.

    ``predictions``: a DataFrame with ``id`` and ``prediction`` (optionally ``probabilities``, a
    list per row in the order of ``classes``), a fitted model (``predict``/``predict_proba`` on
    the dataset's numeric inputs), or a run (or run id) whose ``predictions.parquet`` artifact
    holds them. ``run`` links the evaluation to a run and logs the metrics on it as
    ``eval.<split>.<metric>``; ``model_version`` is the registry's id of the model, once it exists.
    Returns an ``Evaluation``.
    """
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from loopml.analysis._evaluation import Evaluation
    from loopml.analysis._metrics import classification_metrics, regression_metrics
    from loopml.datasets import get
    from loopml.store import EvalMetric

    if split is not None and not isinstance(split, str):
        raise ValidationError(
            f"split is the name of a split such as 'test' (or None for all items), not {split!r}; "
            "pass the classes by name: classes=[...]"
        )
    store = store_of(store)
    version = get(dataset, store=store)
    if version.label is None:
        raise ValidationError(
            f"{version.ref} has no labels, so there is no truth to score against; evaluate on a "
            "labeled version (create it with label_column=..., or snapshot a labeling project)"
        )
    if task not in ("auto", "classification", "regression"):
        raise ValidationError(
            f"task must be 'auto', 'classification' or 'regression', not {task!r}"
        )
    if model_version is not None and (not isinstance(model_version, str) or not model_version):
        raise ValidationError(
            f"model_version is the registry's id, a string; got {model_version!r}"
        )
    run_id: str | None = None
    model_classes: list[str] | None = None
    if isinstance(predictions, pd.DataFrame):
        frame = predictions
    elif isinstance(predictions, str) or type(predictions).__name__ in ("Run", "RunRecord"):
        frame, run_id = _from_run(predictions, store)
    elif hasattr(predictions, "predict"):
        frame, model_classes = _from_model(predictions, version, split)
    else:
        raise ValidationError(
            "predictions must be a DataFrame with 'id' and 'prediction' columns, a fitted model "
            f"or a run; got {type(predictions).__name__}"
        )
    if run is not None:
        if hasattr(run, "flush"):
            run.flush()
        run_id = store.resolve_run_id(run if isinstance(run, str) else run.id)
    missing_cols = [c for c in ("id", "prediction") if c not in frame.columns]
    if missing_cols:
        raise ValidationError(
            f"predictions need columns 'id' and 'prediction'; missing {missing_cols} "
            f"(columns given: {list(frame.columns)})"
        )
    if len(frame) == 0:
        raise ValidationError("the predictions are empty; there is nothing to evaluate")
    frame = frame.reset_index(drop=True)
    ids = frame["id"].astype(str)
    dup = ids[ids.duplicated()].unique()
    if len(dup):
        raise ValidationError(
            f"prediction ids must be unique; {len(dup)} repeat (e.g. {_some(dup)})"
        )

    items = version.to_arrow(split=split)
    labels = items["label"].to_pandas()
    item_ids = items["id"].to_pandas().astype(str)
    where = f"{version.ref}" + (f" split {split!r}" if split else "")
    known = pd.Index(item_ids)
    pos = known.get_indexer(ids)
    extra = ids[pos < 0]
    if len(extra):
        raise ValidationError(
            f"{len(extra)} of {len(ids)} prediction ids are not in {where} "
            f"(e.g. {_some(extra)}); predict on that split's items (version.to_pandas(split=...))"
        )
    labeled = labels.notna().to_numpy()
    if not labeled.any():
        raise ValidationError(
            f"no item of {where} has a label, so there is no truth to score against"
        )
    covered = np.zeros(len(known), dtype=bool)
    covered[pos] = True
    lacking = item_ids[labeled & ~covered]
    if len(lacking):
        raise ValidationError(
            f"{len(lacking)} labeled items of {where} have no prediction (e.g. {_some(lacking)}); "
            "predict every item of the split"
        )
    # Align everything to the dataset's order; unlabeled items are left out.
    order = np.full(len(known), -1)
    order[pos] = np.arange(len(frame))
    keep_idx = np.flatnonzero(labeled)
    frame = frame.iloc[order[keep_idx]].reset_index(drop=True)
    items = items.take(pa.array(keep_idx))
    truth_raw = labels.iloc[keep_idx].reset_index(drop=True)

    if task == "auto":
        float_label = pd.api.types.is_float_dtype(truth_raw)
        integral = float_label and bool((truth_raw == truth_raw.round()).all())
        task = "regression" if float_label and not integral else "classification"

    columns: dict[str, Any] = {"id": pa.array(item_ids.iloc[keep_idx].tolist(), pa.string())}
    metrics: list[Any]
    class_list: list[str] = []
    if task == "regression":
        try:
            truth = truth_raw.to_numpy(dtype=np.float64)
            pred = pd.to_numeric(frame["prediction"]).to_numpy(dtype=np.float64)
        except (TypeError, ValueError):
            raise ValidationError(
                "a regression evaluation needs numeric predictions and labels"
            ) from None
        if not np.isfinite(pred).all():
            bad = int((~np.isfinite(pred)).sum())
            raise ValidationError(f"{bad} predictions are NaN or infinite; predict a number")
        err = pred - truth
        columns |= {"truth": truth, "prediction": pred, "error": err, "loss": err**2}
        metrics = regression_metrics(truth, pred)
    else:
        truth_text = [_label_text(v) for v in truth_raw]
        pred_text = [_label_text(v) if v is not None else "" for v in frame["prediction"]]
        if classes is not None:
            class_list = [_label_text(c) for c in classes]
            if len(set(class_list)) != len(class_list):
                raise ValidationError(f"classes must be distinct, got {list(classes)!r}")
        elif model_classes is not None:
            class_list = model_classes
        elif "probabilities" in frame.columns:
            raise ValidationError(
                "probabilities need classes=[...] naming the class of each position"
            )
        else:
            class_list = sorted(set(truth_text) | set(pred_text))
        index = {c: i for i, c in enumerate(class_list)}
        unknown = sorted({v for v in [*truth_text, *pred_text] if v not in index})
        if unknown:
            raise ValidationError(
                f"{len(unknown)} labels or predictions are not among the classes {class_list[:20]} "
                f"(e.g. {unknown[:5]}); pass every class in classes=[...]"
            )
        t_idx = np.array([index[v] for v in truth_text], dtype=np.int64)
        p_idx = np.array([index[v] for v in pred_text], dtype=np.int64)
        probs = None
        if "probabilities" in frame.columns:
            probs = _probabilities(frame, len(class_list), class_list)
        correct = t_idx == p_idx
        columns |= {
            "truth": pa.array(truth_text, pa.string()),
            "prediction": pa.array(pred_text, pa.string()),
            "correct": correct,
        }
        if probs is not None:
            columns["confidence"] = probs[np.arange(len(p_idx)), p_idx]
            columns["loss"] = -np.log(np.clip(probs[np.arange(len(t_idx)), t_idx], 1e-15, 1))
            columns["probabilities"] = pa.FixedSizeListArray.from_arrays(
                pa.array(probs.ravel()), len(class_list)
            )
        else:
            columns["confidence"] = pa.nulls(len(t_idx), pa.float64())
            columns["loss"] = (~correct).astype(np.float64)
        metrics = classification_metrics(t_idx, p_idx, len(class_list), probs)
    for src, dst in _dataset_columns(version, items).items():
        columns[dst] = items[src]
    rows = pa.table(columns)
    split_name = split if split is not None else "all"
    rec = store.evaluations.create(
        name=name or f"{version.ref}:{split_name}",
        dataset_digest=version.digest,
        split=split,
        task=task,
        classes=class_list,
        rows=rows,
        metrics=[EvalMetric(m.name, m.value, m.low, m.high, m.note) for m in metrics],
        run_id=run_id,
        model_version=model_version,
    )
    evaluation = Evaluation(rec, store)
    if log_to_run and run_id is not None:
        evaluation.log_to_run(run if run is not None and not isinstance(run, str) else None)
    return evaluation
