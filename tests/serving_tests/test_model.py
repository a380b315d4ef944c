"""How a served model is called: one 2-D array when that is proven to give the DataFrame's
answers, the DataFrame otherwise."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import loopml.registry as reg
from loopml.serving._model import load_served


def _served(store: object, name: str, model: object, example: pd.DataFrame) -> object:
    reg.register(name, model, example=example)
    return load_served(f"{name}/1", store)  # type: ignore[arg-type]


def test_a_numeric_model_takes_an_array_and_answers_as_with_the_frame(
    store: object, data: tuple
) -> None:
    x, y = data
    model = HistGradientBoostingClassifier(max_iter=10).fit(x, y)
    served = _served(store, "numeric", model, x[:3])
    assert served.as_array  # type: ignore[attr-defined]
    cols = {c: x[c].to_numpy() for c in x.columns}
    out = served.predict(cols)  # type: ignore[attr-defined]
    assert out.probabilities == model.predict_proba(x).tolist()
    assert out.predictions == model.predict(x).tolist()


def test_a_pipeline_that_picks_columns_by_name_keeps_the_frame(store: object, data: tuple) -> None:
    x, y = data
    # Columns picked by name, in another order than the frame's: an array would be refused.
    pick = ColumnTransformer([("scaled", StandardScaler(), ["e", "a", "b"])])
    model = make_pipeline(pick, LogisticRegression(max_iter=200)).fit(x, y)
    served = _served(store, "by-name", model, x[:3])
    assert not served.as_array  # type: ignore[attr-defined]
    out = served.predict({c: x[c].to_numpy() for c in x.columns})  # type: ignore[attr-defined]
    assert out.predictions == model.predict(x).tolist()


def test_a_model_with_a_text_column_keeps_the_frame(store: object, data: tuple) -> None:
    x, y = data
    frame = x.assign(kind=np.where(x["b"] > 0.5, "big", "small"))
    pick = ColumnTransformer(
        [("num", "passthrough", list(x.columns)), ("cat", OneHotEncoder(), ["kind"])]
    )
    model = make_pipeline(pick, LogisticRegression(max_iter=200)).fit(frame, y)
    served = _served(store, "texty", model, frame[:3])
    assert not served.as_array  # type: ignore[attr-defined]
    cols = {c: frame[c].to_numpy() for c in x.columns}
    cols["kind"] = frame["kind"].to_numpy(dtype=object)
    out = served.predict(cols)  # type: ignore[attr-defined]
    assert out.predictions == model.predict(frame).tolist()
