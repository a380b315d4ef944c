"""The sweep page reads a real sweep's record: name, objective, direction, budget, importances."""

from __future__ import annotations

from fastapi.testclient import TestClient

import loopml
from loopml.server import create_app
from tests.server_tests._objectives import quadratic


def test_sweep_page_of_a_real_sweep(session: object) -> None:
    sw = loopml.sweep(
        quadratic,
        {"lr": loopml.loguniform(1e-4, 1.0), "opt": loopml.choice(["adam", "sgd"])},
        metric="loss",
        direction="min",
        n_trials=8,
        parallel=1,
        seed=0,
        project="sweepy",
        name="lr <search>",
        progress=False,
    )
    client = TestClient(create_app(session.store))  # type: ignore[attr-defined]
    body = client.get(f"/api/v1/sweeps/{sw.id}").json()
    assert body["metric"] == "loss" and body["direction"] == "minimize" and body["budget"] == 8
    assert len(body["trials"]) == 8 and set(body["importances"]) == {"lr", "opt"}
    page = client.get(f"/sweeps/{sw.id}").text
    assert "lr &lt;search&gt;" in page and "lr <search>" not in page
    listing = client.get("/sweeps").text
    assert "lr &lt;search&gt;" in listing and "minimize" in listing
