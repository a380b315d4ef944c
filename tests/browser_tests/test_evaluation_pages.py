"""The evaluation pages in headless Chromium: the overview (metrics, ceiling table, discovered
slices, confusion matrix with drill-down to examples and their labeling history) and a tagging
session with the keyboard alone. Metadata holds HTML that would open a dialog if not escaped."""

from __future__ import annotations

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
    from sklearn.datasets import load_digits

    import loopml
    from loopml.demo._labeling import png

    x, y = load_digits(return_X_y=True)
    n = 600
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"id": [f"d{i}" for i in range(n)], "label": y[:n]})
    frame["image"] = [png(row) for row in x[:n]]
    frame["scanner"] = rng.choice(["A", "B", EVIL], n)
    frame["ink"] = (x[:n] > 4).mean(1).round(3)
    v = loopml.datasets.create(
        "pics", frame, metadata=["scanner", "ink"], split={"train": 0.5, "test": 0.5}
    )
    test = v.to_pandas(split="test")
    hard = (test["scanner"] == "B").to_numpy() & (rng.random(len(test)) < 0.6)
    pred = np.where(hard, (test["label"] + 1) % 10, test["label"])
    probs = np.full((len(test), 10), 0.02)
    probs[np.arange(len(test)), pred] = 0.82
    ev = loopml.evaluate(
        pd.DataFrame({"id": test["id"], "prediction": pred, "probabilities": list(probs)}),
        v, classes=list(range(10)),
    )  # fmt: skip
    ev.tag("scanner-b", where="scanner = 'B'", errors_only=True)
    ev.tag(EVIL, ev.errors(limit=2)["id"].tolist())
    p = loopml.labeling.create_project("pics-labels", v, [str(c) for c in range(10)])
    p.publish_guidelines("# Digits\n", note="v1")
    p.add_annotators(["ann"])
    first = ev.errors(limit=1)["id"].iloc[0]
    p.assign(items=[first])
    p.annotate("ann", first, "3", seconds=1.0)
    return {"evaluation": ev.id, "first": first}


@pytest.fixture(scope="module")
def seed_store() -> Callable[[Path], Any]:
    """This module's store: one evaluation of digit images with planted errors on scanner B."""
    return _seed


def test_overview_and_drill_down(page: Any, live_server: LiveServer, doc_shot: Any) -> None:
    ev = live_server.seeded["evaluation"]
    page.goto("/evaluations")
    page.click(f"a[href='/evaluations/{ev}']")
    assert "accuracy" in page.inner_text("#metrics-table")
    ceiling = page.inner_text("#ceiling-tags")
    assert "scanner-b" in ceiling and EVIL in ceiling  # escaped, shown as text
    assert "scanner = 'B'" in page.inner_text("#slices-table")
    doc_shot(page, "evaluation-overview")
    page.set_viewport_size({"width": 1400, "height": 900})
    doc_shot(page, "evaluation-overview-1400")
    link = page.locator("#confusion a").nth(1)
    truth, pred = link.get_attribute("data-truth"), link.get_attribute("data-prediction")
    link.click()
    assert page.inner_text("#cell-title") == f"truth {truth} · predicted {pred}"
    page.locator("#cell-examples a").first.click()
    assert page.locator("#example-id").is_visible()


def test_example_shows_labeling_history(page: Any, live_server: LiveServer) -> None:
    seeded = live_server.seeded
    page.goto(f"/evaluations/{seeded['evaluation']}/examples/{seeded['first']}")
    history = page.inner_text("#history")
    assert "ann" in history and "v1" in history


def test_tagging_with_the_keyboard(page: Any, live_server: LiveServer, doc_shot: Any) -> None:
    from loopml.analysis import get_evaluation

    ev_id = live_server.seeded["evaluation"]
    ev = get_evaluation(ev_id, store=live_server.store)
    page.goto(f"/evaluations/{ev_id}/tag")
    first = page.inner_text("#item-id")
    assert page.locator("#item-panel img").is_visible()
    doc_shot(page, "evaluation-tagging")
    page.keyboard.press("n")  # a new tag: the box opens and takes the typing
    page.keyboard.type("smudged")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert ev.tag_items("smudged") == [first]
    second = page.inner_text("#item-id")
    assert second != first
    button = page.locator(".ev-tag", has_text="smudged")
    key = button.locator("kbd").inner_text()
    with page.expect_navigation():
        page.keyboard.press(key)
    assert set(ev.tag_items("smudged")) == {first, second}
    with page.expect_navigation():
        page.keyboard.press("u")  # undo the last tag, back to that example
    assert ev.tag_items("smudged") == [first] and page.inner_text("#item-id") == second
    with page.expect_navigation():
        page.keyboard.press("k")
    assert page.inner_text("#item-id") == first
    assert "smudged" in page.inner_text("#item-tags")
