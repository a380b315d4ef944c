"""The models and deployments pages in headless Chromium: lineage, aliases and their history,
signature; live traffic charts from the prediction log. Text that would run as HTML is shown."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.browser_tests.conftest import LiveServer

pytestmark = pytest.mark.browser

EVIL = "<img src=x onerror=alert(1)>"


def _seed(_tmp: Path) -> dict[str, Any]:
    import numpy as np
    import pandas as pd
    from fastapi.testclient import TestClient
    from sklearn.linear_model import LogisticRegression

    import loopml
    import loopml.analysis
    import loopml.registry as reg
    from loopml.serving import ServeConfig, create_app
    from loopml.tracking import default_session

    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.random((200, 6)), columns=[f"px{i}" for i in range(6)])
    y = np.array(["cat", "dog", "bird"])[(x["px0"] * 3).astype(int).clip(0, 2)]
    data = x.assign(id=[f"i{i}" for i in range(200)], label=y)
    ds = loopml.datasets.create("pets", data, split={"train": 0.8, "test": 0.2})
    with loopml.init(project="pets", name="logreg-trainer") as run:
        run.use_dataset(ds.ref)
        model = LogisticRegression(max_iter=200).fit(x, y)
        run.log({"val_acc": 0.93})
    reg.register("pets-clf", model, run=run, example=x[:3], description="first cut")
    reg.register("pets-clf", model, run=run, example=x[:3])
    reg.set_alias("pets-clf", "champion", 1, reason="baseline")
    reg.set_alias("pets-clf", "champion", 2, reason="retrained on more data")
    reg.set_alias("pets-clf", "challenger", 1, reason="keep comparing")
    test = ds.to_pandas(split="test")
    guess = model.predict(test[[f"px{i}" for i in range(6)]])
    preds = pd.DataFrame({"id": test["id"], "prediction": guess})
    loopml.analysis.evaluate(preds, ds.ref, model_version="pets-clf/2", name="holdout")
    # Markup in every user-written field, on a model of its own (the docs' screenshots show
    # pets-clf): the pages must show it as text.
    reg.register("escape-check", model, run=run, example=x[:3], description=f"first {EVIL}")
    reg.set_alias("escape-check", "champion", 1, reason=f"baseline {EVIL}")
    loopml.analysis.evaluate(preds, ds.ref, model_version="escape-check/1", name=f"holdout {EVIL}")
    store = default_session().store
    app = create_app(ServeConfig("pets-clf@champion"), store)
    with TestClient(app) as client:
        for i in range(0, 200, 4):
            client.post("/predict", json={"records": x[i : i + 4].to_dict("records")})
        client.post("/predict", json={"records": [{"px0": "oops"}]})
        time.sleep(0.2)
    return {"model": "pets-clf"}


@pytest.fixture(scope="module")
def seed_store() -> Callable[[Path], Any]:
    """A model with two versions, moved aliases, a run with a dataset, and logged traffic."""
    return _seed


def test_models_list_and_model_page(page: Any, live_server: LiveServer, doc_shot: Any) -> None:
    page.goto("/models")
    row = page.inner_text("#models-table")
    assert "pets-clf" in row and "@champion → 2" in row
    page.click("text=pets-clf")
    page.wait_for_selector("#lineage")
    lineage = page.inner_text("#lineage")
    assert "logreg-trainer" in lineage and "pets@1" in lineage
    evals = page.inner_text("#lineage-evaluations")
    assert "holdout" in evals and "accuracy" in evals and "of pets@1" in evals
    history = page.inner_text("#alias-history")
    assert "baseline" in history and "retrained on more data" in history
    assert "px5" in page.inner_text("#signature-table")
    doc_shot(page, "model")
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto("/models/pets-clf?version=1")
    assert "first cut" in page.inner_text("#lineage")
    # Version 1 came from the same run, and the run was not evaluated: version 2 was, by name.
    assert "holdout" not in page.inner_text("#lineage-evaluations")
    doc_shot(page, "model-1400")


def test_user_text_on_the_model_page_is_shown_as_text(page: Any, live_server: LiveServer) -> None:
    page.goto("/models/escape-check")
    page.wait_for_selector("#lineage")
    assert f"holdout {EVIL}" in page.inner_text("#lineage-evaluations")
    assert f"baseline {EVIL}" in page.inner_text("#alias-history")
    assert f"first {EVIL}" in page.inner_text("#lineage")
    assert page.locator("img[src=x]").count() == 0  # no element was made from the text


def test_deployments_page_shows_traffic(page: Any, live_server: LiveServer, doc_shot: Any) -> None:
    page.goto("/deployments")
    page.wait_for_selector("#qps-1 .main-svg")
    page.wait_for_selector("#latency-1 .main-svg")
    page.wait_for_selector("#classes-1 .main-svg")
    text = page.inner_text("#deployment-1")
    assert "pets-clf" in text and "51 requests" in text and "200 rows" in text
    doc_shot(page, "deployments")
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto("/deployments")
    page.wait_for_selector("#classes-1 .main-svg")
    doc_shot(page, "deployments-1400")


def test_unknown_model_page_is_a_404(live_server: LiveServer) -> None:
    import httpx

    response = httpx.get(f"{live_server.url}/models/pets-clff")
    assert response.status_code == 404
    assert "did you mean &#39;pets-clf&#39;" in response.text
