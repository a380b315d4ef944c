"""A whole labeling session with the keyboard alone, in headless Chromium against uvicorn.

Items hold HTML that would open a dialog if it were not escaped; the ``page`` fixture fails the
test on any dialog or console error.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.browser_tests.conftest import LiveServer

pytestmark = pytest.mark.browser

EVIL = "<img src=x onerror=alert(1)>"
URL = "/labeling/kb-labels/annotate?annotator=ann"


def _seed(_tmp: Path) -> dict[str, Any]:
    import pandas as pd

    import loopml

    frame = pd.DataFrame(
        {"id": [f"it{i}" for i in range(4)], "text": [f"animal {i} {EVIL}" for i in range(4)]}
    )
    v = loopml.datasets.create("kb", frame)
    p = loopml.labeling.create_project("kb-labels", v, ["cat", "dog", "bird"], overlap=1)
    p.publish_guidelines("# Animals\nLabel the animal.\n", note="first version")
    p.publish_guidelines("# Animals\nLabel the animal.\n- A fox is a **dog**.\n", note="foxes")
    p.add_annotators(["ann"])
    p.assign(limit=4)
    return {"project": "kb-labels"}


@pytest.fixture(scope="module")
def seed_store() -> Callable[[Path], Any]:
    """This module's store: one labeling project with four items queued for ``ann``."""
    return _seed


def _press(page: Any, key: str) -> None:
    with page.expect_navigation():
        page.keyboard.press(key)


def _item(page: Any) -> str:
    return str(page.inner_text("#item-id"))


def test_whole_session_with_the_keyboard(page: Any, live_server: LiveServer) -> None:
    page.goto(URL)
    assert _item(page) == "it0"
    assert EVIL in page.inner_text("#item-text")  # shown as text, not run
    assert "A fox is a dog." in page.inner_text(
        "#guideline .line.changed"
    )  # new in v2, highlighted
    _press(page, "1")  # cat
    assert _item(page) == "it1"
    page.keyboard.press("f")  # flag: the comment box opens and takes the typing
    page.keyboard.type("fox or dog? unclear")
    page.keyboard.press("Enter")
    assert "flagged" in page.inner_text("#flag-state")
    _press(page, "2")  # dog, flagged with the comment
    assert _item(page) == "it2"
    _press(page, "s")  # skip
    assert _item(page) == "it3"
    _press(page, "u")  # undo the skip
    assert _item(page) == "it2"
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert page.inner_text(".lb-class.cursor").endswith("bird")
    _press(page, "Enter")  # bird, chosen with the arrows
    _press(page, "3")  # bird
    assert page.inner_text("#queue-empty") == "Queue empty"
    _press(page, "u")  # undo the last label: it3 comes back
    assert _item(page) == "it3"
    _press(page, "1")  # cat
    assert page.inner_text("#queue-empty") == "Queue empty"

    from loopml.labeling import project

    p = project("kb-labels", store=live_server.store)
    got = {i: p.item_annotations(i) for i in ("it0", "it1", "it2", "it3")}
    assert {i: [r["label"] for r in rows] for i, rows in got.items()} == {
        "it0": ["cat"],
        "it1": ["dog"],
        "it2": ["bird"],
        "it3": ["cat"],
    }
    flagged = got["it1"][0]
    assert flagged["flag"] and flagged["comment"] == "fox or dog? unclear"
    assert all(
        rows[0]["guideline_version"] == 2 and rows[0]["seconds"] > 0 for rows in got.values()
    )
    assert p.queue_counts("ann") == {"pending": 0, "done": 4, "skipped": 0}


def test_manager_pages_render_in_the_browser(page: Any) -> None:
    page.goto("/labeling")
    page.get_by_role("link", name="kb-labels").click()
    page.wait_for_selector("#agreement-table, .panel")
    page.goto("/labeling/kb-labels/guidelines")
    assert "+- A fox is a **dog**." in page.inner_text("#guideline-v2")
    page.goto("/labeling/kb-labels/problems")
    page.goto("/labeling/kb-labels/review")
