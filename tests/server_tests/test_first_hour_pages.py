"""Pages a new user meets first (in process): the runs table's columns and blanks, labeling
counts that match the queues they link to, and feedback after consensus and undo."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

import loopml
from tests.server_tests._seed import PROJECT, Seeded


def _cells(page: str, run_name: str) -> str:
    row = re.search(
        rf'<tr data-run="\w+">(?:(?!</tr>).)*?>{re.escape(run_name)}</a>.*?</tr>', page, re.S
    )
    assert row, f"no row for {run_name}"
    return row.group(0)


def test_runs_table_project_column_only_across_projects(client: TestClient, seeded: Seeded) -> None:
    with loopml.init(project="other", name="elsewhere") as run:
        run.log({"loss": 0.5})
    everything = client.get("/runs").text
    assert 'data-col="project"' in everything
    assert 'class="project"' in _cells(everything, "elsewhere")
    one = client.get(f"/runs?project={PROJECT}").text
    assert 'data-col="project"' not in one


def test_runs_table_dates_are_relative_with_the_full_date_on_hover(client: TestClient) -> None:
    page = client.get(f"/runs?project={PROJECT}").text
    cell = re.search(r'<td class="date" title="([^"]+)">([^<]+)</td>', page)
    assert cell and re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", cell.group(1))
    assert cell.group(2).endswith(" ago")


def test_never_logged_metric_is_a_dash_and_a_logged_nan_is_nan(client: TestClient) -> None:
    page = client.get(f"/runs?project={PROJECT}&cols=metrics.weird").text
    assert ">NaN</td>" in _cells(page, "nonfinite")
    other = _cells(page, "with-artifacts")
    assert 'title="never logged">–</td>' in other and "NaN" not in other


def test_run_page_formats_package_versions(client: TestClient, seeded: Seeded) -> None:
    page = client.get(f"/runs/{seeded.nonfinite}").text
    row = re.search(r"<th>packages</th><td[^>]*>([^<]*)</td>", page)
    assert row, "no packages row"
    assert "{" not in row.group(1) and re.search(r"loopml=\S+", row.group(1))


@pytest.fixture
def labeling(store: Any) -> Iterator[tuple[TestClient, Any]]:
    from loopml.datasets import create
    from loopml.labeling import create_project
    from loopml.server import create_app

    frame = pd.DataFrame({"id": ["a1", "a2", "a3", "a4"], "x": [0.0, 1.0, 2.0, 3.0]})
    p = create_project(
        "pets", create("pets", frame, store=store), ["cat", "dog"], overlap=2, store=store
    )
    p.publish_guidelines("# Pets\n", note="first")
    p.add_annotators(["ann", "bo"])
    p.add_annotators(["rev"], role="reviewer")
    p.assign(limit=4)
    with TestClient(create_app(store)) as client:
        yield client, p


def test_overview_counts_match_the_pages_they_link_to(labeling: tuple[TestClient, Any]) -> None:
    import numpy as np

    client, p = labeling
    for item, (a, b) in {"a1": ("cat", "dog"), "a2": ("dog", "dog"), "a3": ("cat", "cat")}.items():
        p.annotate("ann", item, a)
        p.annotate("bo", item, b)
    p.consensus()  # a1 is a tie: 1 to review
    p.find_label_issues(np.array([[0.05, 0.95]] * 4), use_votes=False)  # label issues: apart
    page = client.get("/labeling/pets").text
    to_review = re.search(r'href="/labeling/pets/review" id="to-review">(\d+) to review', page)
    to_check = re.search(r'href="/labeling/pets/issues" id="to-check">(\d+) suspected', page)
    assert to_review and to_check
    review = client.get("/labeling/pets/review").text
    issues = client.get("/labeling/pets/issues").text
    assert int(to_review.group(1)) == review.count('<tr><td class="mono">') == 1
    assert int(to_check.group(1)) == issues.count('<tr><td class="mono">') >= 1


def test_recompute_consensus_says_on_how_many_items(labeling: tuple[TestClient, Any]) -> None:
    client, p = labeling
    p.annotate("ann", "a1", "cat")
    p.annotate("bo", "a1", "dog")
    r = client.post("/labeling/pets/consensus", follow_redirects=False)
    assert r.headers["location"] == "/labeling/pets/review?consensus=1"
    page = client.get(r.headers["location"]).text
    assert "Consensus recomputed on 1 labeled items: 1 open for review." in page


def test_undo_says_what_it_took_back(labeling: tuple[TestClient, Any]) -> None:
    client, p = labeling
    url = "/labeling/pets/annotate"
    r = client.post(url, data={"annotator": "ann", "action": "undo"}, follow_redirects=False)
    assert "Nothing to undo." in client.get(r.headers["location"]).text
    item = p.next_item("ann").item_id
    client.post(url, data={"annotator": "ann", "action": "label", "item_id": item, "label": "cat"})
    r = client.post(url, data={"annotator": "ann", "action": "undo"}, follow_redirects=False)
    assert f"undone={item}" in r.headers["location"]
    page = client.get(r.headers["location"]).text
    assert f'Undone: your last answer on <span class="mono">{item}</span>' in page
    assert p.item_annotations(item) == []
