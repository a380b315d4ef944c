"""scikit-learn autolog: a real fit of real estimators, pipelines and searches."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import loopml
from loopml.integrations import sklearn as loopml_sklearn


@pytest.fixture(autouse=True)
def _autolog_off_after() -> Iterator[None]:
    yield
    loopml_sklearn.autolog(disable=True)


@pytest.fixture
def digits() -> tuple[Any, Any, Any, Any]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    return tuple(train_test_split(x[:600], y[:600], random_state=0))  # type: ignore[return-value]


def _runs(project: str) -> Any:
    return loopml.runs(project, order_by="created_at")


def test_fit_records_params_scores_and_model(digits: Any) -> None:
    from sklearn.linear_model import LogisticRegression

    x_train, x_val, y_train, y_val = digits
    loopml_sklearn.autolog(project="sk", validation_data=(x_val, y_val))
    model = LogisticRegression(C=0.5, max_iter=200).fit(x_train, y_train)
    frame = _runs("sk")
    assert len(frame) == 1
    rec = loopml.get_run(frame["id"][0])
    assert rec.status == "finished"
    assert rec.name == "LogisticRegression"
    assert rec.params["C"] == 0.5 and rec.params["max_iter"] == 200
    assert rec.tags["estimator_class"] == "LogisticRegression"
    assert rec.metrics["fit_time_s"].last > 0
    assert rec.metrics["training_accuracy"].last == pytest.approx(model.score(x_train, y_train))
    assert rec.metrics["validation_accuracy"].last == pytest.approx(model.score(x_val, y_val))
    assert "validation_f1" in rec.metrics
    # The fitted model round-trips through skops without trusting unknown types blindly.
    import skops.io

    store = loopml.tracking.default_session().store
    assert [a.name for a in store.runs.list_artifacts(rec.id)] == ["model.skops"]
    path = store.runs.artifact_file(rec.id, "model.skops")
    loaded = skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))
    assert np.array_equal(loaded.predict(x_val), model.predict(x_val))


def test_regressor_and_pipeline_log_one_run_with_nested_params(digits: Any) -> None:
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_train, _, y_train, _ = digits
    loopml_sklearn.autolog(project="pipe", log_models=False)
    make_pipeline(StandardScaler(), Ridge(alpha=2.0)).fit(x_train, y_train.astype(float))
    frame = _runs("pipe")
    assert len(frame) == 1  # the inner fits of the steps are not runs of their own
    rec = loopml.get_run(frame["id"][0])
    assert rec.params["ridge__alpha"] == 2.0
    assert rec.params["ridge"] == "Ridge"
    assert {"training_r2", "training_mse", "training_mae"} <= set(rec.metrics)


def test_grid_search_candidates_are_child_runs(digits: Any) -> None:
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
    from sklearn.svm import SVC

    x_train, _, y_train, _ = digits
    loopml_sklearn.autolog(project="grid", log_models=False)
    search = GridSearchCV(SVC(), {"C": [0.1, 1.0, 10.0], "kernel": ["linear", "rbf"]}, cv=3)
    search.fit(x_train, y_train)
    frame = _runs("grid")
    assert len(frame) == 7
    parent = frame[frame["name"] == "GridSearchCV"].iloc[0]
    children = frame[frame["tags.parent_run"] == parent["id"]]
    assert len(children) == 6
    assert parent["tags.child_runs"] == "6"
    assert parent["params.best.C"] == search.best_params_["C"]
    best = loopml.get_run(children.iloc[0]["id"])  # children are made best first
    assert best.metrics["mean_test_score"].last == pytest.approx(search.best_score_)
    assert best.metrics["rank_test_score"].last == 1
    assert set(best.params) == {"C", "kernel"}

    RandomizedSearchCV(SVC(), {"C": [0.1, 1.0, 10.0]}, n_iter=2, cv=2, random_state=0).fit(
        x_train, y_train
    )
    frame = _runs("grid")
    rand = frame[frame["name"] == "RandomizedSearchCV"].iloc[0]
    assert (frame["tags.parent_run"] == rand["id"]).sum() == 2


def test_fit_inside_an_open_run_logs_to_it(digits: Any) -> None:
    from sklearn.tree import DecisionTreeClassifier

    x_train, _, y_train, _ = digits
    loopml_sklearn.autolog(log_models=False)
    with loopml.init(project="mine", name="by-hand") as run:
        DecisionTreeClassifier(max_depth=3).fit(x_train, y_train)
    frame = _runs("mine")
    assert list(frame["name"]) == ["by-hand"]
    assert loopml.get_run(run.id).params["max_depth"] == 3


def test_failed_fit_marks_the_run_failed(digits: Any) -> None:
    from sklearn.linear_model import LogisticRegression

    loopml_sklearn.autolog(project="bad", log_models=False)
    with pytest.raises(ValueError):
        LogisticRegression().fit(np.zeros((4, 2)), np.array([0, 0, 0, 0]))  # one class only
    rec = loopml.get_run(_runs("bad")["id"][0])
    assert rec.status == "failed" and "ValueError" in (rec.error or "")


def test_disable_restores_plain_fit(digits: Any) -> None:
    from sklearn.linear_model import LogisticRegression

    x_train, _, y_train, _ = digits
    loopml_sklearn.autolog(project="off")
    loopml_sklearn.autolog(disable=True)
    assert not getattr(LogisticRegression.fit, "_loopml_patched", False)
    LogisticRegression(max_iter=1000).fit(x_train, y_train)
    with pytest.raises(loopml.NotFoundError, match="no project named 'off'"):
        _runs("off")  # no run was logged, so the project was never made


def test_bad_arguments() -> None:
    with pytest.raises(loopml.ValidationError, match="validation_data must be a tuple"):
        loopml_sklearn.autolog(validation_data=[1, 2, 3])  # type: ignore[arg-type]
    with pytest.raises(loopml.ValidationError, match="project name"):
        loopml_sklearn.autolog(project="bad/name")
    with pytest.raises(loopml.ValidationError, match="max_child_runs"):
        loopml_sklearn.autolog(max_child_runs=-1)


def test_validation_data_of_the_wrong_shape_warns_and_keeps_the_fit(digits: Any) -> None:
    from sklearn.linear_model import LogisticRegression

    x_train, _, y_train, _ = digits
    loopml_sklearn.autolog(project="shape", validation_data=(np.zeros((3, 2)), [0, 1, 2]))
    with pytest.warns(RuntimeWarning, match="could not be scored"):
        model = LogisticRegression(max_iter=1000).fit(x_train, y_train)
    assert hasattr(model, "coef_")
    rec = loopml.get_run(_runs("shape")["id"][0])
    assert "training_accuracy" in rec.metrics and "validation_accuracy" not in rec.metrics
