"""The team server's login page in a real browser: log in, see the runs, post a form, log out."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from loopml._config import Settings
from loopml.store import Batch, Store
from tests._team import TeamServer


@pytest.fixture
def team(tmp_path: Path) -> Iterator[TeamServer]:
    store = Store(Settings(data_dir=tmp_path / "server"))
    store.users.add("maya", "maintainer", "vision", password="maya-password")
    store.runs.create("run0000000000001", "vision", "swift-otter", {}, {}, {}, journal_id="j1")
    store.runs.ingest("j1", "run0000000000001", Batch(points=[(0, 1.0, "acc", 0.9)]), 0, 1)
    server = TeamServer(store)
    yield server
    server.stop()
    store.close()


def test_log_in_browse_and_log_out(
    browser: Any, team: TeamServer, doc_shot: Callable[[Any, str], None]
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    response = page.goto(f"{team.url}/runs?project=vision")
    assert response is not None and response.status == 401
    page.click("text=log in")
    assert page.url.startswith(f"{team.url}/login?next=")
    page.fill("input[name=name]", "maya")
    page.fill("input[name=password]", "wrong-password")
    page.click("button[type=submit]")
    assert "Wrong user name or password" in page.content()
    page.fill("input[name=password]", "maya-password")
    doc_shot(page, "server-login")
    page.click("button[type=submit]")
    page.wait_for_url(f"{team.url}/runs?project=vision")
    assert "swift-otter" in page.content()
    assert page.locator(".sidebar-foot").inner_text().strip().startswith("API")
    assert "maya" in page.locator(".sidebar-foot").inner_text()
    doc_shot(page, "server-runs-logged-in")
    # every POST form got the session's CSRF token; logging out is such a form
    assert page.locator("form[action='/logout'] input[name=csrf_token]").count() == 1
    page.click("form[action='/logout'] button")
    page.wait_for_url(f"{team.url}/login")
    assert page.goto(f"{team.url}/runs?project=vision").status == 401  # type: ignore[union-attr]
    cookies = {c["name"]: c for c in context.cookies()}
    assert "loopml_session" not in cookies or not cookies["loopml_session"]["value"]
    assert not errors
    context.close()


@pytest.fixture
def labeling_team(tmp_path: Path) -> Iterator[TeamServer]:
    import pandas as pd

    from loopml.datasets import create
    from loopml.labeling import create_project

    store = Store(Settings(data_dir=tmp_path / "server"))
    store.users.add("ann", "annotator", "pets", password="ann-password")
    frame = pd.DataFrame({"id": ["p1", "p2"], "text": ["a purring one", "a barking one"]})
    labels = create_project(
        "pets", create("pets", frame, store=store), ["cat", "dog"], overlap=2, store=store
    )
    labels.publish_guidelines("# Pets\nLabel the animal.\n", note="first version")
    labels.add_annotators(["ann", "bob"])
    labels.assign()
    server = TeamServer(store)
    yield server
    server.stop()
    store.close()


@pytest.mark.browser
def test_an_annotator_logs_in_and_labels_with_the_keyboard(
    browser: Any, labeling_team: TeamServer, doc_shot: Callable[[Any, str], None]
) -> None:
    from loopml.labeling import project

    team = labeling_team
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # the link names bob, but the annotator is whoever logs in
    response = page.goto(f"{team.url}/labeling/pets/annotate?annotator=bob")
    assert response is not None and response.status == 401
    page.click("text=log in")
    page.fill("input[name=name]", "ann")
    page.fill("input[name=password]", "ann-password")
    page.click("button[type=submit]")
    page.wait_for_url(f"{team.url}/labeling/pets/annotate?annotator=bob")
    assert page.input_value("input[name=annotator]") == "ann"
    doc_shot(page, "server-annotate-logged-in")
    first = page.inner_text("#item-id")
    with page.expect_navigation():
        page.keyboard.press("2")  # the second class: dog
    assert page.inner_text("#item-id") != first
    labels = project("pets", store=team.store)
    assert [(a["annotator"], a["label"]) for a in labels.item_annotations(first)] == [
        ("ann", "dog")
    ]
    assert labels.queue_counts("bob")["done"] == 0
    assert not errors
    context.close()
