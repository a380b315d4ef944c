"""``evaluate``: score predictions (a DataFrame, a fitted model or a run's artifact) on a dataset
version, store one row per example, and put the metrics on the run.

Everything is checked before anything is written: ids that do not match the split, probabilities
that do not sum to one or have the wrong number of classes, a dataset version without labels.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from loopml._errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from loopml.analysis._evaluation import Evaluation
    from loopml.datasets import DatasetVersion
    from loopml.store import Store

__all__ = ["PREDICTIONS_ARTIFACT", "evaluate"]

PREDICTIONS_ARTIFACT = "predictions.parquet"
# Evaluation columns; a dataset column with one of these names is kept as ``item.<name>``.
_OWN = ("id", "truth", "prediction", "correct", "confidence", "loss", "error", "probabilities")


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


def _integral(arr: pa.Array) -> bool:
    import numpy as np

    values = arr.to_numpy(zero_copy_only=False)
    finite = values[np.isfinite(values)]
    return bool((finite == np.round(finite)).all())


def _texts(arr: pa.Array) -> pa.Array:
    """Labels (or ids) as text, vectorized: 3, 3.0 and "3" are one class."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    if pa.types.is_floating(t) and _integral(arr):
        return pc.cast(pc.cast(arr, pa.int64()), pa.string())
    if pa.types.is_boolean(t):
        return pc.if_else(arr, "True", "False")
    if (
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
    ):
        return pc.cast(arr, pa.string())
    return pa.array([None if v is None else _label_text(v) for v in arr.to_pylist()], pa.string())


def _some(values: Any, n: int = 5) -> str:
    return repr([str(v) for v in list(values)[:n]])


def _from_run(run: Any, store: Store) -> tuple[pd.DataFrame, str]:
    import pandas as pd

    run_id = run if isinstance(run, str) else getattr(run, "id", None)
    if not isinstance(run_id, str):
        raise ValidationError(f"expected a run or run id, got {type(run).__name__}")
    if hasattr(run, "flush"):
        run.flush()
    run_id = store.runs.resolve_id(run_id)
    try:
        path = store.runs.artifact_file(run_id, PREDICTIONS_ARTIFACT)
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
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        arr = pa.array(frame["probabilities"], from_pandas=True)
        if not (pa.types.is_list(arr.type) or pa.types.is_fixed_size_list(arr.type)):
            raise TypeError(arr.type)
        arr = arr.cast(pa.list_(pa.float64()))
    except (pa.ArrowException, TypeError, ValueError):
        raise ValidationError(
            "probabilities must hold one list of numbers per row (in the order of classes)"
        ) from None
    lengths = pc.fill_null(pc.list_value_length(arr), -1).to_numpy(zero_copy_only=False)
    bad = np.flatnonzero(lengths != k)
    if len(bad):
        raise ValidationError(
            f"probabilities must list one value per class ({k}: {classes[:10]}); "
            f"{len(bad)} rows do not (e.g. id {frame['id'].iloc[bad[0]]!r} has {lengths[bad[0]]}). "
            "Pass classes=[...] in the order of the probabilities"
        )
    probs = pc.fill_null(arr.flatten(), np.nan).to_numpy(zero_copy_only=False).reshape(-1, k)
    # Column by column: numpy's reductions over a short inner axis are several times slower.
    sums = np.zeros(len(probs))
    for j in range(k):
        sums += probs[:, j]
    bad_rows = ~np.isfinite(sums) | (np.abs(sums - 1) > 1e-3)
    if probs.min(initial=0.0) < 0:
        bad_rows |= (probs < 0).any(1)
    bad = np.flatnonzero(bad_rows)
    if len(bad):
        raise ValidationError(
            f"each row of probabilities must be non-negative and sum to 1; {len(bad)} rows do not "
            f"(e.g. id {frame['id'].iloc[bad[0]]!r} sums to {sums[bad[0]]:.4g}). Normalize them "
            "(p / p.sum(axis=1)) or pass the model's predict_proba output"
        )
    return np.asarray(probs, dtype=np.float64)


def _dataset_columns(version: DatasetVersion) -> dict[str, str]:
    """Dataset columns copied into the rows (metadata, numeric and true/false inputs): name ->
    name in the rows. Decided from the version's column types, so that inputs left out (image
    bytes, long texts) are never read."""
    keep: dict[str, str] = {}
    for name, arrow_type in version.types.items():
        if name in ("id", "split", "label"):
            continue
        scalar = _is_number(arrow_type) or arrow_type in ("bool", "boolean")
        text = arrow_type in ("string", "large_string", "utf8", "large_utf8")
        if scalar or (text and name in version.metadata):
            keep[name] = f"item.{name}" if name in _OWN else name
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
    import pyarrow.compute as pc

    from loopml.analysis._evaluation import Evaluation
    from loopml.analysis._metrics import classification_metrics, regression_metrics
    from loopml.datasets import get

    if split is not None and not isinstance(split, str):
        raise ValidationError(
            f"split is the name of a split such as 'test' (or None for all items), not {split!r}; "
            "pass the classes by name: classes=[...]"
        )
    store = _store_of(store)
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
        run_id = store.runs.resolve_id(run if isinstance(run, str) else run.id)
    missing_cols = [c for c in ("id", "prediction") if c not in frame.columns]
    if missing_cols:
        raise ValidationError(
            f"predictions need columns 'id' and 'prediction'; missing {missing_cols} "
            f"(columns given: {list(frame.columns)})"
        )
    if len(frame) == 0:
        raise ValidationError("the predictions are empty; there is nothing to evaluate")
    frame = frame.reset_index(drop=True)
    ids = _texts(pa.array(frame["id"], from_pandas=True))

    kept = _dataset_columns(version)
    items = version.to_arrow(split=split, columns=["id", "label", *kept])
    item_ids = items["id"].combine_chunks().cast(pa.string())
    where = f"{version.ref}" + (f" split {split!r}" if split else "")
    # Hash joins in Arrow: where each prediction's id sits among the split's items (predictions
    # made from version.to_pandas(split=...) come in the items' order: no hashing needed).
    if len(ids) == len(item_ids) and ids.equals(item_ids):
        pos_arr = pa.array(np.arange(len(ids), dtype=np.int64))
    else:
        pos_arr = pc.index_in(ids, value_set=item_ids)
    n_extra = pos_arr.null_count
    if n_extra:
        extra = pc.filter(ids, pc.is_null(pos_arr)).to_pylist()
        raise ValidationError(
            f"{n_extra} of {len(ids)} prediction ids are not in {where} "
            f"(e.g. {_some(extra)}); predict on that split's items (version.to_pandas(split=...))"
        )
    pos = pos_arr.to_numpy(zero_copy_only=False).astype(np.int64)
    if np.bincount(pos, minlength=len(item_ids)).max() > 1:  # two predictions, one item
        as_text = frame["id"].astype(str)
        dup = list(as_text[as_text.duplicated()].unique())
        raise ValidationError(
            f"prediction ids must be unique; {len(dup)} repeat (e.g. {_some(dup)})"
        )
    labeled = pc.is_valid(items["label"]).to_numpy(zero_copy_only=False)
    if not labeled.any():
        raise ValidationError(
            f"no item of {where} has a label, so there is no truth to score against"
        )
    covered = np.zeros(len(item_ids), dtype=bool)
    covered[pos] = True
    lacking_mask = labeled & ~covered
    if lacking_mask.any():
        lacking = pc.filter(item_ids, pa.array(lacking_mask)).to_pylist()
        raise ValidationError(
            f"{len(lacking)} labeled items of {where} have no prediction (e.g. {_some(lacking)}); "
            "predict every item of the split"
        )
    # Align everything to the dataset's order; unlabeled items are left out.
    order = np.full(len(item_ids), -1)
    order[pos] = np.arange(len(frame))
    keep_idx = np.flatnonzero(labeled)
    take = order[keep_idx]
    # Copies (of every column) only when the order or the set of rows changes.
    if len(take) != len(frame) or (take != np.arange(len(take))).any():
        frame = frame.iloc[take].reset_index(drop=True)
    if len(keep_idx) != items.num_rows:
        items = items.take(pa.array(keep_idx))
    truth_arr = items["label"].combine_chunks()

    if task == "auto":
        float_label = pa.types.is_floating(truth_arr.type)
        integral = float_label and _integral(truth_arr)
        task = "regression" if float_label and not integral else "classification"

    columns: dict[str, Any] = {"id": items["id"].combine_chunks().cast(pa.string())}
    metrics: Callable[[], list[Any]]
    class_list: list[str] = []
    if task == "regression":
        try:
            truth = truth_arr.to_numpy(zero_copy_only=False).astype(np.float64)
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
        metrics = partial(regression_metrics, truth, pred)
    else:
        truth_text = _texts(truth_arr)
        pred_text = pc.fill_null(_texts(pa.array(frame["prediction"], from_pandas=True)), "")
        if classes is not None:
            class_list = _texts(pa.array(list(classes), from_pandas=True)).to_pylist()
            if len(set(class_list)) != len(class_list):
                raise ValidationError(f"classes must be distinct, got {list(classes)!r}")
        elif model_classes is not None:
            class_list = model_classes
        elif "probabilities" in frame.columns:
            raise ValidationError(
                "probabilities need classes=[...] naming the class of each position"
            )
        else:
            class_list = sorted(
                set(pc.unique(truth_text).to_pylist()) | set(pc.unique(pred_text).to_pylist())
            )
        value_set = pa.array(class_list, pa.string())
        t_pos = pc.index_in(truth_text, value_set=value_set)
        p_pos = pc.index_in(pred_text, value_set=value_set)
        if t_pos.null_count or p_pos.null_count:
            unknown = sorted(
                set(pc.filter(truth_text, pc.is_null(t_pos)).to_pylist())
                | set(pc.filter(pred_text, pc.is_null(p_pos)).to_pylist())
            )
            raise ValidationError(
                f"{len(unknown)} labels or predictions are not among the classes {class_list[:20]} "
                f"(e.g. {unknown[:5]}); pass every class in classes=[...]"
            )
        t_idx = t_pos.to_numpy(zero_copy_only=False).astype(np.int64)
        p_idx = p_pos.to_numpy(zero_copy_only=False).astype(np.int64)
        probs = None
        if "probabilities" in frame.columns:
            probs = _probabilities(frame, len(class_list), class_list)
        correct = t_idx == p_idx
        columns |= {"truth": truth_text, "prediction": pred_text, "correct": correct}
        if probs is not None:
            columns["confidence"] = probs[np.arange(len(p_idx)), p_idx]
            columns["loss"] = -np.log(np.clip(probs[np.arange(len(t_idx)), t_idx], 1e-15, 1))
            columns["probabilities"] = pa.FixedSizeListArray.from_arrays(
                pa.array(probs.ravel()), len(class_list)
            )
        else:
            columns["confidence"] = pa.nulls(len(t_idx), pa.float64())
            columns["loss"] = (~correct).astype(np.float64)
        metrics = partial(classification_metrics, t_idx, p_idx, len(class_list), probs)
    for src, dst in kept.items():
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
        # Computed while the store writes the rows file.
        metrics=partial(_as_stored, metrics),
        run_id=run_id,
        model_version=model_version,
    )
    evaluation = Evaluation(rec, store)
    if log_to_run and run_id is not None:
        evaluation.log_to_run(run if run is not None and not isinstance(run, str) else None)
    return evaluation


def _as_stored(compute: Callable[[], list[Any]]) -> list[Any]:
    from loopml.store import EvalMetric

    return [EvalMetric(m.name, m.value, m.low, m.high, m.note) for m in compute()]


def _store_of(store: Store | None) -> Store:
    from loopml.analysis._evaluation import store_of

    return store_of(store)
