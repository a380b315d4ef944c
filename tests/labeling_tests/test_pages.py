"""The labeling pages through the app (in-process): every page renders, HTML is escaped,
annotators see others' labels only where allowed, and form actions do what they say."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from loopml.datasets import create
from loopml.labeling import LabelingProject, create_project

EVIL = "<img src=x onerror=alert(1)>"


@pytest.fixture
def setup(store: object) -> Iterator[tuple[TestClient, LabelingProject]]:
    from loopml.server import create_app

    frame = pd.DataFrame({"id": ["a1", "a2", "a3"], "text": [EVIL, "<b>bold</b>", "plain"]})
    v = create("evil", frame, store=store)
    p = create_project("evil-labels", v, ["<i>x</i>", "y"], overlap=2, store=store)
    p.publish_guidelines(f"# Guide\nNever trust {EVIL}\n", note="v1")
    p.publish_guidelines(f"# Guide\nNever trust {EVIL}\nNew rule.\n", note="v2 <script>")
    p.add_annotators(["ann", "bo"])
    p.add_annotators(["rev"], role="reviewer")
    p.assign(limit=3)
    with TestClient(create_app(store)) as client:  # type: ignore[arg-type]
        yield client, p


def _post(client: TestClient, url: str, **fields: str) -> str:
    r = client.post(url, data=fields, follow_redirects=False)
    assert r.status_code == 303, r.text
    return r.headers["location"]


def test_every_page_renders_and_escapes_html(setup: tuple[TestClient, LabelingProject]) -> None:
    client, p = setup
    p.annotate("ann", "a1", "<i>x</i>", flag=True, comment=f"unclear {EVIL}")
    p.annotate("bo", "a1", "y")
    p.consensus()
    for path in (
        "",
        "?same=1",
        "/annotate",
        "/annotate?annotator=ann",
        "/problems",
        "/guidelines",
        "/review",
        "/issues",
    ):
        r = client.get(f"/labeling/evil-labels{path}")
        assert r.status_code == 200, (path, r.text[:500])
        assert EVIL not in r.text and "<i>x</i>" not in r.text and "<b>bold</b>" not in r.text
        assert "<script>" not in r.text.replace("<script>\n(function", "").replace(
            '<script type="application/json"', ""
        ).replace("<script src=", "")
    assert (
        "&lt;img src=x onerror=alert(1)&gt;"
        in client.get("/labeling/evil-labels/annotate?annotator=bo").text
    )
    assert "labeling" in client.get("/labeling").text
    assert client.get("/labeling/nope").status_code == 404
    assert client.get("/labeling/evil-labels/annotate?annotator=zed").status_code == 404


def test_keyboard_actions_label_skip_undo(setup: tuple[TestClient, LabelingProject]) -> None:
    client, p = setup
    url = "/labeling/evil-labels/annotate"
    page = client.get(f"{url}?annotator=ann").text
    first = re.search(r'id="item-id">([^<]+)<', page).group(1)  # type: ignore[union-attr]
    loc = _post(
        client,
        url,
        annotator="ann",
        action="label",
        item_id=first,
        label="y",
        seconds="2.5",
        comment="hmm",
        version="2",
    )
    assert "error" not in loc
    rows = p.item_annotations(first)
    assert (
        rows[0]["label"],
        rows[0]["seconds"],
        rows[0]["comment"],
        rows[0]["guideline_version"],
    ) == ("y", 2.5, "hmm", 2)
    second = p.next_item("ann").item_id  # type: ignore[union-attr]
    _post(client, url, annotator="ann", action="skip", item_id=second)
    assert p.queue_counts("ann")["skipped"] == 1
    _post(client, url, annotator="ann", action="undo")
    assert p.queue_counts("ann")["skipped"] == 0
    loc = _post(client, url, annotator="ann", action="label", item_id=second, label="nope")
    assert "unknown+class" in loc
    assert "unknown class" in client.get(loc).text
    loc = _post(client, url, annotator="ann", action="label", item_id=first, label="y")
    assert "already+labeled" in loc  # a double submit stores nothing twice
    assert len(p.item_annotations(first)) == 1


def test_others_labels_only_where_allowed(
    setup: tuple[TestClient, LabelingProject], store: object
) -> None:
    client, p = setup
    item = p.next_item("bo").item_id  # type: ignore[union-attr]
    p.annotate("ann", item, "y") if p.next_item("ann") else None
    page = client.get("/labeling/evil-labels/annotate?annotator=bo").text
    assert 'id="others"' not in page  # the project hides others' labels
    v = create("open", pd.DataFrame({"id": ["o1"], "text": ["t"]}), store=store)
    o = create_project("open-labels", v, ["y", "n"], overlap=2, show_others=True, store=store)
    o.publish_guidelines("g", note="v1")
    o.add_annotators(["ann", "bo"])
    o.assign(limit=1)
    o.annotate("ann", "o1", "y")
    assert 'id="others"' in client.get("/labeling/open-labels/annotate?annotator=bo").text


def test_review_and_issue_queues_decide(setup: tuple[TestClient, LabelingProject]) -> None:
    import numpy as np

    client, p = setup
    for item, (first, second) in {
        "a1": ("y", "<i>x</i>"),
        "a2": ("y", "y"),
        "a3": ("<i>x</i>", "<i>x</i>"),
    }.items():
        p.annotate("ann", item, first)
        p.annotate("bo", item, second)
    _post(client, "/labeling/evil-labels/consensus")
    assert "a1" in client.get("/labeling/evil-labels/review").text
    _post(
        client,
        "/labeling/evil-labels/adjudicate",
        item_id="a1",
        reviewer="rev",
        label="y",
        back="review",
    )
    assert p.review_queue() == []
    probs = np.array([[0.9, 0.1]] * 3)
    p.find_label_issues(probs, use_votes=False)
    page = client.get("/labeling/evil-labels/issues").text
    assert "more likely" in page
    target = p.review_queue("label_issue")[0]["item_id"]
    _post(
        client,
        "/labeling/evil-labels/adjudicate",
        item_id=target,
        reviewer="rev",
        label="",
        back="issues",
    )
    assert [r["item_id"] for r in p.review_queue("label_issue", status="dismissed")] == [target]
