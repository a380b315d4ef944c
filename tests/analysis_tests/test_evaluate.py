"""evaluate(): metrics with intervals, per-example rows, links to runs, and bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, log_loss

import loopml
from loopml import NotFoundError, QueryError, ValidationError
from loopml.analysis import evaluate, get_evaluation, list_evaluations

from .conftest import CLASSES, planted_predictions


def _stored(store: Any) -> tuple[int, list[Path]]:
    folder = Path(store.evaluations.folder)
    files = list(folder.rglob("*")) if folder.exists() else []
    return len(store.evaluations.search()), [f for f in files if f.is_file()]


def test_metrics_match_sklearn_and_have_intervals(evaluation: Any, version: Any) -> None:
    preds = planted_predictions(version)
    test = version.to_pandas(split="test").set_index("id").loc[preds["id"]]
    truth, pred = test["label"].to_numpy(), preds["prediction"].to_numpy()
    m = evaluation.metrics
    assert m["accuracy"].value == pytest.approx(accuracy_score(truth, pred))
    assert m["balanced_accuracy"].value == pytest.approx(balanced_accuracy_score(truth, pred))
    assert m["macro_f1"].value == pytest.approx(f1_score(truth, pred, average="macro"))
    assert m["micro_f1"].value == pytest.approx(f1_score(truth, pred, average="micro"))
    probs = np.stack(preds["probabilities"].to_numpy())
    # sklearn orders labels alphabetically; the evaluation keeps the order of ``classes``.
    order = np.argsort(CLASSES)
    assert m["log_loss"].value == pytest.approx(
        log_loss(truth, probs[:, order], labels=sorted(CLASSES))
    )
    for name in ("accuracy", "macro_f1", "log_loss", "roc_auc", "ece"):
        assert m[name].low is not None and m[name].low <= m[name].value <= m[name].high
    assert m["accuracy"].high - m["accuracy"].low < 0.2


def test_rows_are_stored_one_per_example(evaluation: Any, version: Any) -> None:
    rows = evaluation.rows()
    assert len(rows) == version.splits["test"] == evaluation.record.n_rows
    assert {"id", "truth", "prediction", "probabilities", "loss", "correct", "confidence"} <= set(
        rows.columns
    )
    assert {"brightness", "source", "camera"} <= set(rows.columns)
    assert (rows["correct"] == (rows["truth"] == rows["prediction"])).all()
    again = get_evaluation(evaluation.id[:8])
    assert again.id == evaluation.id
    assert [e.id for e in list_evaluations("pets@1")] == [evaluation.id]


def test_metrics_land_on_the_run(store: Any, version: Any) -> None:
    with loopml.init(project="pets") as run:
        run.log({"loss": 1.0})
    ev_good = evaluate(
        planted_predictions(version, rate_in=0.1), version, classes=CLASSES, run=run.id
    )
    with loopml.init(project="pets") as run2:
        run2.log({"loss": 2.0})
    evaluate(planted_predictions(version, rate_in=0.9), version, classes=CLASSES, run=run2.id)
    frame = loopml.runs("pets", order_by="-metrics.eval.test.accuracy")
    assert list(frame["id"]) == [run.id, run2.id]
    assert frame["metrics.eval.test.accuracy"].iloc[0] == pytest.approx(
        ev_good.metrics["accuracy"].value
    )
    assert loopml.get_run(run.id).status == "finished"
    assert [e.id for e in list_evaluations(run=run.id)] == [ev_good.id]


def test_live_run_gets_metrics(store: Any, version: Any) -> None:
    with loopml.init(project="pets") as run:
        ev = evaluate(planted_predictions(version), version, classes=CLASSES, run=run)
    assert loopml.get_run(run.id).metrics["eval.test.accuracy"].last == pytest.approx(
        ev.metrics["accuracy"].value
    )


def test_model_and_run_artifact_inputs(store: Any, tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = (x[:, 0] > 0).astype(int)
    frame = pd.DataFrame(
        {"id": range(400), "label": y, "f0": x[:, 0], "f1": x[:, 1], "f2": x[:, 2]}
    )
    v = loopml.datasets.create("feat", frame, split={"train": 0.5, "test": 0.5}, store=store)
    train = v.to_pandas(split="train")
    model = LogisticRegression().fit(train[["f0", "f1", "f2"]], train["label"])
    ev = evaluate(model, "feat@1", model_version="feat-model/1")
    assert ev.metrics["accuracy"].value > 0.9
    assert ev.record.model_version == "feat-model/1"
    assert ev.record.classes == ("0", "1")
    # a run whose predictions artifact holds them
    path = tmp_path / "predictions.parquet"
    ev.rows(columns=["id", "prediction", "probabilities"]).to_parquet(path)
    with loopml.init(project="feat") as run:
        run.log_artifact(path)
    ev2 = evaluate(run.id, "feat@1", classes=["0", "1"])
    assert ev2.record.run_id == run.id
    assert ev2.metrics["accuracy"].value == pytest.approx(ev.metrics["accuracy"].value)


def test_regression_metrics(store: Any) -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=300)
    frame = pd.DataFrame({"id": range(300), "label": y, "group": rng.choice(["a", "b"], 300)})
    v = loopml.datasets.create("reg", frame, metadata=["group"], split={"a": 0.5, "b": 0.5})
    pred = v.to_pandas(split="a")
    ev = evaluate(pd.DataFrame({"id": pred["id"], "prediction": pred["label"] + 0.5}), v, split="a")
    assert ev.slice("group = 'a'").value is not None
    assert ev.record.task == "regression"
    assert ev.metrics["rmse"].value == pytest.approx(0.5)
    assert ev.metrics["mae"].value == pytest.approx(0.5)
    assert ev.metrics["r2"].low <= ev.metrics["r2"].value <= ev.metrics["r2"].high
    with pytest.raises(ValidationError, match="classification"):
        ev.discover_slices()


# -- bad input: each a clear error, nothing stored -------------------------------------------


def test_ids_not_in_the_split(store: Any, version: Any) -> None:
    preds = planted_predictions(version)
    preds.loc[:2, "id"] = ["nope1", "nope2", "nope3"]
    with pytest.raises(
        ValidationError, match=r"3 of \d+ prediction ids are not in pets@1 split 'test'.*nope1"
    ):
        evaluate(preds, version, classes=CLASSES)
    assert _stored(store) == (0, [])


def test_missing_and_duplicate_ids(store: Any, version: Any) -> None:
    preds = planted_predictions(version)
    with pytest.raises(ValidationError, match=r"5 labeled items .* have no prediction"):
        evaluate(preds.iloc[5:], version, classes=CLASSES)
    with pytest.raises(ValidationError, match="unique; 1 repeat"):
        evaluate(pd.concat([preds, preds.iloc[:1]]), version, classes=CLASSES)
    assert _stored(store) == (0, [])


def test_probabilities_must_sum_to_one_and_match_classes(store: Any, version: Any) -> None:
    preds = planted_predictions(version)
    bad = preds.copy()
    bad.loc[0, "probabilities"] = np.array([0.5, 0.5, 0.5])
    with pytest.raises(
        ValidationError, match=r"sum to 1; 1 rows do not \(e.g. id '\w+' sums to 1.5"
    ):
        evaluate(bad, version, classes=CLASSES)
    two = preds.copy()
    two["probabilities"] = [p[:2] / p[:2].sum() for p in two["probabilities"]]
    with pytest.raises(ValidationError, match="one value per class"):
        evaluate(two, version, classes=CLASSES)
    with pytest.raises(ValidationError, match="classes"):
        evaluate(preds, version)  # probabilities without classes
    assert _stored(store) == (0, [])


def test_dataset_without_labels(store: Any) -> None:
    frame = pd.DataFrame({"id": ["a", "b"], "text": ["x", "y"]})
    v = loopml.datasets.create("unlabeled", frame, split="text", store=store)
    with pytest.raises(ValidationError, match="has no labels"):
        evaluate(pd.DataFrame({"id": ["a"], "prediction": ["x"]}), v, split="x")
    with pytest.raises(NotFoundError):
        evaluate(pd.DataFrame({"id": ["a"], "prediction": ["x"]}), "nosuch@1")
    assert _stored(store) == (0, [])


def test_wrong_split_and_inputs(store: Any, version: Any) -> None:
    with pytest.raises(ValidationError, match="no split 'valid'"):
        evaluate(planted_predictions(version), version, split="valid", classes=CLASSES)
    with pytest.raises(ValidationError, match="'id' and 'prediction'"):
        evaluate(pd.DataFrame({"id": ["it1"]}), version)
    with pytest.raises(ValidationError, match="DataFrame"):
        evaluate(42, version)
    with pytest.raises(ValidationError, match="not among the classes"):
        evaluate(
            planted_predictions(version).drop(columns="probabilities"), version, classes=["cat"]
        )


def test_failed_metadata_write_leaves_no_file(
    store: Any, version: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopml.store import _evaluations

    def boom(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(_evaluations, "run_write", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        evaluate(planted_predictions(version), version, classes=CLASSES)
    monkeypatch.undo()
    assert _stored(store) == (0, [])


def test_slice_predicates(evaluation: Any) -> None:
    dark = evaluation.slice("brightness < 0.3 and source = 'scan'")
    rows = evaluation.rows()
    want = rows[(rows["brightness"] < 0.3) & (rows["source"] == "scan")]
    assert dark.size == len(want)
    assert dark.value == pytest.approx(want["correct"].mean())
    assert dark.low <= dark.value <= dark.high
    assert dark.value < evaluation.metrics["accuracy"].value
    assert evaluation.slice("camera in (0, 1) and not source = 'photo'").size == len(
        rows[rows["camera"].isin([0, 1]) & (rows["source"] != "photo")]
    )
    assert evaluation.slice("truth = 'cat'").size == (rows["truth"] == "cat").sum()


def test_empty_slice_is_explicit(evaluation: Any) -> None:
    empty = evaluation.slice("brightness > 5")
    assert empty.empty and empty.size == 0
    assert empty.value is None and empty.low is None and empty.error_rate is None


def test_unknown_column_names_the_columns(evaluation: Any) -> None:
    with pytest.raises(
        QueryError, match=r"unknown column 'brightnes'.*did you mean 'brightness'.*camera"
    ):
        evaluation.slice("brightnes < 0.3")
    with pytest.raises(QueryError, match="holds numbers"):
        evaluation.slice("brightness = 'dark'")
    with pytest.raises(QueryError):
        evaluation.slice("brightness < ")


def test_predicate_values_are_bound_not_pasted(evaluation: Any) -> None:
    # A value that would break SQL if pasted into it is just a string that matches nothing.
    assert evaluation.slice("source = 'x'' OR 1=1 --'").size == 0


def test_auto_slices_bin_numeric_columns(evaluation: Any) -> None:
    frame = evaluation.slices()
    bright = frame[frame["column"] == "brightness"]
    assert len(bright) == 4  # quartile bins
    assert bright["size"].sum() == evaluation.record.n_rows
    assert set(frame[frame["column"] == "source"]["slice"]) == {
        "source = 'photo'",
        "source = 'scan'",
    }
    for s in bright["slice"]:
        assert evaluation.slice(s).size == int(bright[bright["slice"] == s]["size"].iloc[0])


def test_confusion_and_cell_drill_down(evaluation: Any) -> None:
    cm = evaluation.confusion()
    rows = evaluation.rows()
    assert cm.to_numpy().sum() == len(rows)
    assert cm.loc["cat", "dog"] == ((rows["truth"] == "cat") & (rows["prediction"] == "dog")).sum()
    cell = evaluation.cell("cat", "dog")
    assert len(cell) == cm.loc["cat", "dog"]
    assert set(cell["truth"]) <= {"cat"} and set(cell["prediction"]) <= {"dog"}
