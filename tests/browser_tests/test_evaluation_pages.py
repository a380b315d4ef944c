"""The evaluation pages in headless Chromium: the overview (metrics, ceiling table, discovered
slices, confusion matrix with drill-down to examples and their labeling history) and a tagging
session with the keyboard alone.

The screenshots for the docs come from a realistic evaluation (digit scans from three scanners,
errors planted on faxed scans, tags of every kind); a second evaluation whose metadata and tag
names hold HTML that would open a dialog if not escaped checks the escaping, never shot."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.browser_tests.conftest import LiveServer

pytestmark = pytest.mark.browser

EVIL = "<img src=x onerror=alert(1)>"


def _digits(name: str, scanners: list[str], seed: int) -> Any:
    import numpy as np
    import pandas as pd
    from sklearn.datasets import load_digits

    import loopml
    from loopml.demo._labeling import png

    x, y = load_digits(return_X_y=True)
    n = 600
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"id": [f"d{i}" for i in range(n)], "label": y[:n]})
    frame["image"] = [png(row) for row in x[:n]]
    frame["scanner"] = rng.choice(scanners, n, p=[0.5, 0.3, 0.2])
    frame["ink"] = (x[:n] > 4).mean(1).round(3)
    v = loopml.datasets.create(
        name, frame, metadata=["scanner", "ink"], split={"train": 0.5, "test": 0.5}
    )
    test = v.to_pandas(split="test")
    faxed = (test["scanner"] == scanners[2]).to_numpy()
    wrong = np.where(faxed, rng.random(len(test)) < 0.55, rng.random(len(test)) < 0.04)
    truth = test["label"].to_numpy()
    pred = np.where(wrong, (truth + 1 + rng.integers(0, 8, len(test))) % 10, truth)
    # Confident when right, less so when wrong, with some spread (as a real model is).
    top = np.where(wrong, rng.uniform(0.35, 0.9, len(test)), rng.uniform(0.7, 0.99, len(test)))
    probs = np.repeat(((1 - top) / 9)[:, None], 10, axis=1)
    probs[np.arange(len(test)), pred] = top
    ev = loopml.evaluate(
        pd.DataFrame({"id": test["id"], "prediction": pred, "probabilities": list(probs)}),
        v, classes=list(range(10)),
    )  # fmt: skip
    return v, ev


def _seed(_tmp: Path) -> dict[str, Any]:
    import loopml

    v, ev = _digits("digit-scans", ["flatbed", "phone", "fax"], 0)
    ev.tag("faxed", where="scanner = 'fax'", errors_only=True)
    ev.tag("faint-ink", where="ink < 0.34", errors_only=True)
    ev.tag("smudged", ev.errors(limit=6)["id"].tolist()[::2])
    ev.auto_tag("low-confidence", threshold=0.5)
    p = loopml.labeling.create_project("digit-labels", v, [str(c) for c in range(10)])
    p.publish_guidelines("# Digits\n", note="v1")
    p.add_annotators(["ann"])
    first = ev.errors(limit=1)["id"].iloc[0]
    p.assign(items=[first])
    p.annotate("ann", first, "3", seconds=1.0)

    _v, evil = _digits("pics", ["A", "B", EVIL], 1)
    evil.tag("scanner-evil", where=f"scanner = '{EVIL}'", errors_only=True)
    evil.tag(EVIL, evil.errors(limit=2)["id"].tolist())
    return {"evaluation": ev.id, "first": first, "evil": evil.id}


@pytest.fixture(scope="module")
def seed_store() -> Callable[[Path], Any]:
    """This module's store: a realistic evaluation of digit scans, and one full of HTML."""
    return _seed


def test_overview_and_drill_down(page: Any, live_server: LiveServer, doc_shot: Any) -> None:
    ev = live_server.seeded["evaluation"]
    page.goto("/evaluations")
    page.click(f"a[href='/evaluations/{ev}']")
    assert "accuracy" in page.inner_text("#metrics-table")
    ceiling = page.inner_text("#ceiling-tags")
    assert "faxed" in ceiling and "low-confidence" in ceiling and "smudged" in ceiling
    assert "scanner = 'fax'" in page.inner_text("#slices-table")
    doc_shot(page, "evaluation-overview")
    page.set_viewport_size({"width": 1400, "height": 900})
    doc_shot(page, "evaluation-overview-1400")
    link = page.locator("#confusion a").nth(1)
    truth, pred = link.get_attribute("data-truth"), link.get_attribute("data-prediction")
    link.click()
    assert page.inner_text("#cell-title") == f"truth {truth} · predicted {pred}"
    page.locator("#cell-examples a").first.click()
    assert page.locator("#example-id").is_visible()


def test_html_in_metadata_and_tag_names_is_shown_as_text(
    page: Any, live_server: LiveServer
) -> None:
    evil = live_server.seeded["evil"]
    page.goto(f"/evaluations/{evil}")
    assert EVIL in page.inner_text("#ceiling-tags")  # escaped, shown as text
    assert EVIL in page.inner_text("#slices-table")
    page.goto(f"/evaluations/{evil}/tag")
    assert EVIL in page.inner_text("#tag-buttons")
    # the page fixture fails the test on any dialog or console error


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
    # every kind of tag is offered: hand, rule and automatic, each with its key
    buttons = page.locator("#tag-buttons .ev-tag")
    kinds = {buttons.nth(j).get_attribute("data-kind") for j in range(buttons.count())}
    assert kinds == {"hand", "rule", "auto"}
    assert "compute suspected-label-error" in page.inner_text("#auto-tags")
    doc_shot(page, "evaluation-tagging")
    page.set_viewport_size({"width": 1400, "height": 900})
    doc_shot(page, "evaluation-tagging-1400")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.keyboard.press("n")  # a new tag: the box opens and takes the typing
    page.keyboard.type("cut-off")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert ev.tag_items("cut-off") == [first]
    second = page.inner_text("#item-id")
    assert second != first
    button = page.locator(".ev-tag", has_text="cut-off")
    key = button.locator("kbd").inner_text()
    with page.expect_navigation():
        page.keyboard.press(key)
    assert set(ev.tag_items("cut-off")) == {first, second}
    with page.expect_navigation():
        page.keyboard.press("u")  # undo the last tag, back to that example
    assert ev.tag_items("cut-off") == [first] and page.inner_text("#item-id") == second
    # a rule tag applied by hand: its key adds this example, and u takes it back
    rule = page.locator(".ev-tag[data-kind='rule']", has_text="faint-ink")
    rule_key = rule.locator("kbd").inner_text()
    before = set(ev.tag_items("faint-ink"))
    assert second not in before
    with page.expect_navigation():
        page.keyboard.press(rule_key)
    assert set(ev.tag_items("faint-ink")) == before | {second}
    with page.expect_navigation():
        page.keyboard.press("u")
    assert set(ev.tag_items("faint-ink")) == before
    # an automatic tag applied by hand, which survives recomputing it
    auto = page.locator(".ev-tag[data-kind='auto']", has_text="low-confidence")
    with page.expect_navigation():
        page.keyboard.press(auto.locator("kbd").inner_text())
    assert second in ev.tag_items("low-confidence")
    ev.auto_tag("low-confidence", threshold=0.5)
    assert second in ev.tag_items("low-confidence")
    with page.expect_navigation():
        page.keyboard.press("k")
    assert page.inner_text("#item-id") == second
    assert "low-confidence" in page.inner_text("#item-tags")
    # the automatic tag not computed yet, from its button
    with page.expect_navigation():
        page.click(".ev-auto-btn[data-name='suspected-label-error']")
    assert page.locator(".ev-tag[data-kind='auto']", has_text="suspected-label-error").count() == 1
    with page.expect_navigation():
        page.keyboard.press("k")
    assert page.inner_text("#item-id") == first
    assert "cut-off" in page.inner_text("#item-tags")
