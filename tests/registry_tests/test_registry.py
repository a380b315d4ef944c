"""The registry on each store backend: versions, aliases and their audit log, safe loading."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

import loopml
import loopml.registry as reg
from loopml import NotFoundError, UnsafeModelError, ValidationError


class HomeMadeClassifier(ClassifierMixin, BaseEstimator):
    """A class skops does not know: its file needs the type vouched for."""

    def fit(self, x: object, y: np.ndarray) -> HomeMadeClassifier:
        self.classes_ = np.unique(y)
        return self

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return np.full(len(x), self.classes_[0])


class PlainModel:
    """Not scikit-learn: stored with cloudpickle."""

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return np.asarray(x["a"]) * 2


def test_register_and_load_round_trip(session: object, frame: tuple, clf: object) -> None:
    x, _ = frame
    mv = reg.register("clf", clf, example=x[:3], description="first try")
    assert (mv.name, mv.version, mv.flavor, mv.task) == ("clf", 1, "sklearn", "classifier")
    assert mv.classes == (0, 1, 2)
    assert mv.signature is not None and mv.signature.names == ["a", "b", "c", "d"]
    assert mv.path.is_file() and mv.path.suffix == ".skops"
    loaded = reg.load("clf/1")
    np.testing.assert_array_equal(loaded.predict(x), clf.predict(x))  # type: ignore[attr-defined]
    assert reg.register("clf", clf, example=x[:3]).version == 2
    assert [v.version for v in reg.versions("clf")] == [1, 2]
    assert reg.get("clf").version == 2  # a bare name is the latest
    (m,) = reg.list_models()
    assert (m.name, m.n_versions, m.latest) == ("clf", 2, 2)


def test_aliases_move_with_an_audit_log(session: object, frame: tuple, clf: object) -> None:
    x, _ = frame
    for _ in range(2):
        reg.register("clf", clf, example=x[:3])
    reg.set_alias("clf", "champion", 1, reason="baseline")
    assert reg.get("clf@champion").version == 1
    reg.set_alias("clf", "champion", 2, reason="better F1", user="ana")
    reg.set_alias("clf", "challenger", 1)
    assert reg.get("clf@champion").version == 2
    reg.remove_alias("clf", "challenger", reason="retired")
    history = reg.alias_history("clf")
    assert [(e.alias, e.from_version, e.to_version) for e in history] == [
        ("challenger", 1, None),
        ("challenger", None, 1),
        ("champion", 1, 2),
        ("champion", None, 1),
    ]
    assert history[2].reason == "better F1" and history[2].user == "ana"
    assert [e.to_version for e in reg.alias_history("clf", "champion")] == [2, 1]
    assert reg.list_models()[0].aliases == {"champion": 2}


def test_unknown_names_list_what_exists(session: object, frame: tuple, clf: object) -> None:
    x, _ = frame
    reg.register("digits-clf", clf, example=x[:3])
    reg.set_alias("digits-clf", "champion", 1)
    with pytest.raises(NotFoundError, match=r"did you mean 'digits-clf'"):
        reg.get("digits-clff@champion")
    with pytest.raises(NotFoundError, match=r"no alias 'prod'.*versions are \[1\].*@champion -> 1"):
        reg.load("digits-clf@prod")
    with pytest.raises(NotFoundError, match=r"no version 7.*versions are \[1\]"):
        reg.get("digits-clf/7")
    with pytest.raises(NotFoundError, match="no version 3"):
        reg.set_alias("digits-clf", "champion", 3)
    assert reg.get("digits-clf@champion").version == 1  # the failed move changed nothing


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: reg.register("bad name!", m), "model name"),
        (lambda m: reg.register("../escape", m), "model name"),
        (lambda m: reg.set_alias("clf", "1st", 1), "alias"),
        (lambda m: reg.set_alias("clf", "champion", 0), "positive integer"),
        (lambda m: reg.set_alias("clf", "champion", True), "positive integer"),
        (lambda m: reg.get("clf/two"), "must be a number"),
        (lambda m: reg.get("clf@a@b"), "not understood"),
        (lambda m: reg.register("clf", m, run=3.5), "run must be"),
        (lambda m: reg.register("clf", m, example=np.zeros(3)), "2-D"),
    ],
)
def test_bad_input_is_refused(session: object, clf: object, call: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        call(clf)  # type: ignore[operator]


def test_skops_file_with_unknown_types_is_refused(session: object, frame: tuple) -> None:
    x, y = frame
    model = HomeMadeClassifier().fit(x, y)
    with pytest.raises(UnsafeModelError, match="HomeMadeClassifier"):
        reg.register("home", model, example=x[:3])
    assert reg.list_models() == []  # nothing half-written
    name = f"{__name__}.HomeMadeClassifier"
    mv = reg.register("home", model, example=x[:3], trusted_types=[name])
    assert name in mv.trusted_types
    assert isinstance(reg.load("home/1"), HomeMadeClassifier)


def test_a_tampered_file_is_refused_on_load(
    session: object, frame: tuple, clf: object, tmp_path: Path
) -> None:
    import skops.io as sio

    x, y = frame
    mv = reg.register("clf", clf, example=x[:3])
    # Someone swaps the stored file for one holding a type nobody vouched for.
    evil = tmp_path / "evil.skops"
    sio.dump(HomeMadeClassifier().fit(x, y), evil)
    mv.path.write_bytes(evil.read_bytes())
    with pytest.raises(UnsafeModelError, match="HomeMadeClassifier"):
        reg.load("clf/1")


def test_pickled_models_need_trust(session: object, frame: tuple) -> None:
    x, _ = frame
    mv = reg.register("plain", PlainModel(), example=x[:3])
    assert (mv.flavor, mv.task) == ("python", "regressor")
    with pytest.raises(UnsafeModelError, match="trust=True"):
        reg.load("plain/1")
    model = reg.load("plain/1", trust=True)
    np.testing.assert_allclose(model.predict(x), x["a"] * 2)


def test_onnx_models_run_with_onnxruntime(session: object, frame: tuple) -> None:
    pytest.importorskip("onnxruntime")
    skl2onnx = pytest.importorskip("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression

    x, y = frame
    lr = LogisticRegression().fit(x.to_numpy(), y)
    onx = skl2onnx.convert_sklearn(lr, initial_types=[("X", FloatTensorType([None, 4]))])
    mv = reg.register(
        "onnx-clf", onx.SerializeToString(), example=x.to_numpy()[:3], classes=[0, 1, 2]
    )
    assert (mv.flavor, mv.task) == ("onnx", "classifier")
    model = reg.load("onnx-clf/1")
    proba = model.predict_proba(x.to_numpy())
    np.testing.assert_allclose(proba, lr.predict_proba(x.to_numpy()), atol=1e-4)


def test_concurrent_registrations_get_distinct_versions(
    session: object, frame: tuple, clf: object
) -> None:
    x, _ = frame
    reg.register("clf", clf, example=x[:3])  # creates the model row first
    got: list[int] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            got.append(reg.register("clf", clf, example=x[:3]).version)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(got) == [2, 3, 4, 5]


def test_lineage_reaches_datasets_and_guidelines(
    session: object, frame: tuple, clf: object
) -> None:
    import pyarrow as pa

    x, y = frame
    data = x.assign(id=[f"i{i}" for i in range(len(x))], label=[str(v) for v in y])
    base = loopml.datasets.create("points", data, split={"train": 0.8, "test": 0.2})
    project = loopml.labeling.create_project("point-labels", base.ref, classes=["0", "1", "2"])
    project.publish_guidelines("Label by the sum of a and b.", note="first")
    project.publish_guidelines("Label by the sum; c above 0.8 adds one.", note="c matters")
    # A label snapshot as labeling writes it: its source names the guideline versions used.
    labeled = data.assign(split="train")
    labeled = labeled[["id", "split", *(c for c in labeled.columns if c not in ("id", "split"))]]
    table = pa.Table.from_pandas(labeled, preserve_index=False)
    roles = {"id": "id", "label": "label", "inputs": ["a", "b", "c", "d"], "metadata": []}
    source = {
        "kind": "label_snapshot",
        "project": "point-labels",
        "from": base.digest,
        "guideline_versions": {"1": 70, "2": 50},
    }
    snap = loopml.datasets.create_from_table("points-labeled", table, roles, source)
    with loopml.init(project="lineage") as run:
        run.use_dataset(snap.ref)
    mv = reg.register("clf", clf, run=run, example=x[:3])
    lin = mv.lineage()
    assert lin.run is not None and lin.run.id == run.id
    assert [d.name for d in lin.datasets] == ["points-labeled"]
    assert [(g.version, g.labels, g.note) for g in lin.guidelines] == [
        (1, 70, "first"),
        (2, 50, "c matters"),
    ]
    assert reg.register("solo", clf, example=x[:3]).lineage().run is None


def test_lineage_lists_the_evaluations_of_the_version(
    session: object, frame: tuple, clf: object
) -> None:
    import pandas as pd

    import loopml.analysis

    x, y = frame
    data = x.assign(id=[f"i{i}" for i in range(len(x))], label=[str(v) for v in y])
    ds = loopml.datasets.create("eval-points", data, split={"train": 0.5, "test": 0.5})
    with loopml.init(project="lineage-evals") as run:
        run.use_dataset(ds.ref)
    v1 = reg.register("judged", clf, run=run, example=x[:3])
    v2 = reg.register("judged", clf, example=x[:3])
    test = ds.to_pandas(split="test")
    guess = clf.predict(test[["a", "b", "c", "d"]])  # type: ignore[attr-defined]
    preds = pd.DataFrame({"id": test["id"], "prediction": [str(v) for v in guess]})
    by_ref = loopml.analysis.evaluate(preds, ds.ref, model_version="judged/2", name="by ref")
    by_run = loopml.analysis.evaluate(preds, ds.ref, run=run.id, name="by run")
    loopml.analysis.evaluate(preds, ds.ref, model_version="judged/7", name="another version")
    lin1, lin2 = v1.lineage(), v2.lineage()
    # Version 1 came from the run: the run's evaluation is its evaluation.
    assert [e.name for e in lin1.evaluations] == ["by run"]
    assert lin1.evaluations[0].id == by_run.id
    assert lin1.dataset_of(lin1.evaluations[0]) == ds.ref
    # Version 2 has no run: only the evaluation that names it.
    assert [e.id for e in lin2.evaluations] == [by_ref.id]
    assert lin2.dataset_of(lin2.evaluations[0]) is None  # not among its (no) datasets
    assert reg.register("unjudged", clf, example=x[:3]).lineage().evaluations == ()
