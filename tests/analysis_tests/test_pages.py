"""The evaluation pages through the in-process test client: each renders, actions redirect."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from loopml.server import create_app


def test_pages_render_and_send_to_labeling(store: Any, evaluation: Any) -> None:
    evaluation.tag("dark", where="brightness < 0.3 and source = 'scan'", errors_only=True)
    client = TestClient(create_app(store))
    assert evaluation.id[:8] in client.get("/evaluations").text
    page = client.get(f"/evaluations/{evaluation.id}")
    assert page.status_code == 200 and "Ceiling table" in page.text and "dark" in page.text
    first = evaluation.errors(limit=1)["id"].iloc[0]
    for url in (
        f"/evaluations/{evaluation.id}/tag",
        f"/evaluations/{evaluation.id}/cell?truth=cat&prediction=dog",
        f"/evaluations/{evaluation.id}/examples/{first}",
    ):
        assert client.get(url).status_code == 200, url
    assert client.get("/evaluations/zzzzzzzz").status_code == 404
    # no annotators yet: the error comes back on the page, nothing is queued
    r = client.post(f"/evaluations/{evaluation.id}/send", data={"kind": "tag", "name": "dark"})
    assert r.status_code == 200 and "with annotators" in r.text
    assert evaluation.labeling_requests() == []
    import loopml

    p = loopml.labeling.create_project("pets-review", evaluation.dataset, ["cat", "dog", "bird"])
    p.add_annotators(["ann"])
    r = client.post(f"/evaluations/{evaluation.id}/send", data={"kind": "tag", "name": "dark"})
    assert "items queued in pets-review batch 1" in r.text
    r = client.post(
        f"/evaluations/{evaluation.id}/send",
        data={"kind": "cell", "truth": "cat", "prediction": "dog"},
    )
    assert [q.group_kind for q in evaluation.labeling_requests()] == ["tag", "cell"]
    # the tagging page's actions
    r = client.post(
        f"/evaluations/{evaluation.id}/tag", data={"action": "tag", "name": "x", "item_id": first}
    )
    assert r.status_code == 200 and evaluation.tag_items("x") == [first]
    r = client.post(f"/evaluations/{evaluation.id}/tag", data={"action": "undo", "i": "1"})
    assert evaluation.tag_items("x") == []
    r = client.post(f"/evaluations/{evaluation.id}/tag", data={"action": "tag", "name": ""})
    assert "tag name" in r.text  # shown as an error on the page


def test_tagging_page_offers_every_kind_of_tag(store: Any, evaluation: Any) -> None:
    evaluation.tag("dark", where="brightness < 0.3 and source = 'scan'", errors_only=True)
    evaluation.tag("blurry", evaluation.errors(limit=1)["id"].tolist())
    client = TestClient(create_app(store))
    page = client.get(f"/evaluations/{evaluation.id}/tag").text
    assert 'data-kind="rule"' in page and 'data-kind="hand"' in page
    assert "compute low-confidence" in page and "compute suspected-label-error" in page
    r = client.post(
        f"/evaluations/{evaluation.id}/tag", data={"action": "auto", "name": "low-confidence"}
    )
    assert r.status_code == 200 and 'data-kind="auto"' in r.text
    assert "compute low-confidence" not in r.text
    r = client.post(f"/evaluations/{evaluation.id}/tag", data={"action": "auto", "name": "fuzzy"})
    assert "automatic tags are" in r.text  # shown on the page, nothing stored
    r = client.post(f"/evaluations/{evaluation.id}/tag", data={"action": "drop"})
    assert "unknown action" in r.text
    assert sorted(t.name for t in evaluation.tags()) == ["blurry", "dark", "low-confidence"]


def test_tags_applied_by_hand_survive_recomputing_and_undo_in_order(evaluation: Any) -> None:
    rows = evaluation.rows()
    outside = rows[~((rows["brightness"] < 0.3) & (rows["source"] == "scan"))]["id"].iloc[0]
    rule = evaluation.tag("dark", where="brightness < 0.3 and source = 'scan'")
    evaluation.tag("dark", [outside])  # by hand, onto a rule tag
    assert outside in evaluation.tag_items("dark")
    assert next(t for t in evaluation.tags() if t.name == "dark").kind == "rule"
    again = evaluation.tag("dark", where="brightness < 0.3 and source = 'scan'")
    assert again.size == rule.size + 1 and outside in evaluation.tag_items("dark")
    # u takes back the newest hand tagging, whatever the tag's kind; never a rule's members
    evaluation.tag("blurry", [outside])
    assert evaluation.undo_tag() == ("blurry", outside)
    assert evaluation.undo_tag() == ("dark", outside)
    assert evaluation.undo_tag() is None
    assert len(evaluation.tag_items("dark")) == rule.size


def test_overview_ceiling_in_any_metric(store: Any, evaluation: Any) -> None:
    import numpy as np
    import pandas as pd

    import loopml
    from loopml.analysis import evaluate

    evaluation.tag("dark", where="brightness < 0.3 and source = 'scan'", errors_only=True)
    client = TestClient(create_app(store))
    page = client.get(f"/evaluations/{evaluation.id}?metric=log_loss").text
    assert '<option value="log_loss" selected>' in page and "how much lower" in page
    page = client.get(f"/evaluations/{evaluation.id}?metric=nope").text
    assert "no metric &#39;nope&#39;" in page and '<option value="accuracy" selected>' in page
    # a regression evaluation has a ceiling table too (RMSE, errors above a residual)
    n = 200
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"id": [f"r{i}" for i in range(n)], "label": rng.random(n), "g": rng.choice(["a", "b"], n)}
    )
    v = loopml.datasets.create("reg", frame, metadata=["g"], split={"test": 1.0}, store=store)
    test = v.to_pandas(split="test")
    reg = evaluate(
        pd.DataFrame({"id": test["id"], "prediction": test["label"] + rng.normal(0, 0.3, len(test))}),
        v, store=store,
    )  # fmt: skip
    reg.tag("group-a", where="g = 'a'")
    page = client.get(f"/evaluations/{reg.id}").text
    assert 'id="ceiling-tags"' in page and "group-a" in page and "residuals above" in page
