"""A new user's first hour, on the demo's own data, at 1280x800 and 1400x900.

The store is seeded by the demo's stages (fewer epochs and trials), so these pages look as they
do after ``make demo``: the docs' screenshots are taken here (``LOOPML_SCREENSHOTS``).
"""

from __future__ import annotations

import io
import itertools
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser_tests.conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SIZES = [(1280, 800), (1400, 900)]
LABELS = "/labeling/digits-labels"


def _seed(_tmp: Path) -> dict[str, Any]:
    from rich.console import Console

    from loopml.demo._labeling import label_digits
    from loopml.demo._sweeps import sweep_digits
    from loopml.demo._tracking import train_models

    console = Console(file=io.StringIO(), width=120)
    ids = train_models(console, epochs=6)
    sweep_id = sweep_digits(console, n_trials=8)
    label_digits(console)
    return {"runs": ids, "sweep": sweep_id, "output": console.file.getvalue()}  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def seed_store() -> Callable[[Path], Any]:
    return _seed


@pytest.fixture(params=SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def sized(page: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """The checked page at each of the two viewport sizes."""
    width, height = request.param
    page.set_viewport_size({"width": width, "height": height})
    yield page


def _no_sideways_scroll(page: Any, selector: str) -> None:
    wrap = page.evaluate(
        f"(() => {{ const t = document.querySelector('{selector}'); const w = t.parentElement;"
        " return [t.scrollWidth, w.clientWidth]; })()"
    )
    assert wrap[0] <= wrap[1] + 1, f"{selector} is {wrap[0]} px wide in a {wrap[1]} px box"


# -- 1. agreement heatmaps -----------------------------------------------------------------------
def test_agreement_heatmaps_side_by_side_on_first_load(sized: Any, doc_shot: Any) -> None:
    page = sized
    page.goto(LABELS)
    page.locator('#heatmaps[data-ready="true"]').wait_for()
    box = page.locator("#heatmaps").bounding_box()
    figure = page.locator("#heatmap .main-svg").first.bounding_box()
    assert (
        figure["x"] >= box["x"] - 1 and figure["x"] + figure["width"] <= box["x"] + box["width"] + 1
    )
    # One subplot per guideline version, side by side, one colour bar for both.
    assert page.locator("#heatmap .colorbar").count() == 1
    subplots = page.locator("#heatmap .cartesianlayer .subplot").count()
    assert subplots == 2
    # Every class labels every axis, and the tick labels do not overlap.
    for axis in ("xtick", "x2tick"):
        ticks = page.locator(f"#heatmap g.{axis} text")
        assert ticks.all_text_contents() == [str(d) for d in range(10)]
        boxes = [ticks.nth(i).bounding_box() for i in range(10)]
        for a, b in itertools.pairwise(boxes):
            assert a["x"] + a["width"] <= b["x"], f"{axis} tick labels overlap"
    if page.viewport_size["width"] == 1280:
        page.locator("#heatmaps").scroll_into_view_if_needed()
        doc_shot(page, "labeling-overview")


# -- 2. runs table -------------------------------------------------------------------------------
def _row_heights(page: Any) -> list[float]:
    rows = page.locator("#runs-table tbody tr")
    return [rows.nth(i).bounding_box()["height"] for i in range(rows.count())]


def test_runs_table_one_line_per_run(sized: Any, doc_shot: Any) -> None:
    page = sized
    page.goto("/runs?project=digits")
    assert page.locator('#runs-table th[data-col="project"]').count() == 0
    assert max(_row_heights(page)) < 40  # one line of text (a badge is the tallest cell)
    _no_sideways_scroll(page, "#runs-table")
    name = page.locator("#runs-table td.name").first
    assert re.fullmatch(r"[\w-]+", name.inner_text())
    assert "run " in (name.get_attribute("title") or "")  # the id is in the tooltip
    created = page.locator("#runs-table td.date").first
    assert created.inner_text().endswith("ago")
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d", created.get_attribute("title") or "")
    if page.viewport_size["width"] == 1280:
        doc_shot(page, "runs")


def test_runs_of_every_project_have_a_project_column(sized: Any) -> None:
    page = sized
    page.goto("/runs")
    assert page.locator('#runs-table th[data-col="project"]').count() == 1
    projects = set(page.locator("#runs-table td.project").all_inner_texts())
    assert projects == {"digits", "digits-sweeps"}
    assert max(_row_heights(page)) < 40
    if page.viewport_size["width"] == 1280:  # 1400 fits more than the default columns need
        _no_sideways_scroll(page, "#runs-table")


def test_never_logged_metric_is_a_dash_not_nan(page: Any) -> None:
    page.goto("/runs?project=digits&cols=metrics.val_loss")
    row = page.locator("#runs-table tbody tr", has_text="sgd-hinge")
    cell = row.locator("td.num").last
    assert cell.inner_text() == "–" and cell.get_attribute("title") == "never logged"


# -- 3. compare: parallel coordinates --------------------------------------------------------------
def test_compare_draws_a_line_per_run_with_categorical_axes(
    sized: Any, live_server: LiveServer, doc_shot: Any
) -> None:
    page = sized
    ids = live_server.seeded["runs"]
    page.goto("/compare?" + "&".join(f"runs={i}" for i in ids) + "&metric=val_acc")
    page.locator('#charts[data-ready="true"]').wait_for()
    page.locator("#parcoords").scroll_into_view_if_needed()
    page.locator('#parcoords[data-lines="4"]').wait_for()
    dims = page.evaluate("document.querySelector('#parcoords').data[0].dimensions")
    labels = [d["label"] for d in dims]
    assert "null" not in labels and labels[-1] == "val_acc"
    loss = next(d for d in dims if d["label"] == "loss")
    assert loss["ticktext"] == ["hinge", "log_loss", "(none)"]  # the MLPs have no loss param
    hidden = next(d for d in dims if d["label"] == "hidden")
    assert hidden["ticktext"] == ["64", "128", "(none)"]
    for d in dims:
        assert len(d["values"]) == 4 and all(v is not None for v in d["values"])
    if page.viewport_size["width"] == 1280:
        page.evaluate("window.scrollTo(0, 0)")
        doc_shot(page, "compare")


# -- 5. counts that agree with their pages, feedback after actions ----------------------------------
def test_overview_counts_match_the_queues_they_link_to(page: Any, doc_shot: Any) -> None:
    page.goto(LABELS)
    to_review = int(page.inner_text("#to-review").split()[0])
    to_check = int(page.inner_text("#to-check").split()[0])
    page.click("#to-review")
    page.wait_for_url(re.compile(r"/review$"))
    shown = page.locator("#review-table tbody tr").count()
    assert shown == to_review
    page.goto(LABELS)
    page.click("#to-check")
    page.wait_for_url(re.compile(r"/issues$"))
    assert page.locator("#review-table tbody tr").count() == to_check > 0
    doc_shot(page, "labeling-issues")


def test_recompute_consensus_says_what_happened(page: Any) -> None:
    page.goto(f"{LABELS}/review")
    page.get_by_role("button", name="Recompute consensus").click()
    page.wait_for_url(re.compile(r"consensus=\d+"))
    notice = page.inner_text("#notice")
    assert re.search(r"Consensus recomputed on \d+ labeled items: \d+ open for review", notice)


# -- 7. the demo leaves work to do; undo says what it took back -------------------------------------
def test_annotate_after_the_demo_has_items_and_undo_reports(page: Any, doc_shot: Any) -> None:
    page.goto(f"{LABELS}/annotate")
    pending = page.locator("#annotator-list li").all_inner_texts()
    assert any(re.search(r"\b[1-9]\d* pending", t) for t in pending), pending
    name = next(t.split()[0] for t in pending if not t.endswith(" 0 pending"))
    page.goto(f"{LABELS}/annotate?annotator={name}")
    assert page.locator("#queue-empty").count() == 0
    page.locator("#item-image").wait_for()
    doc_shot(page, "labeling-annotate")
    item = page.inner_text("#item-id")
    page.keyboard.press("3")
    page.wait_for_function(f"document.querySelector('#item-id')?.textContent !== '{item}'")
    page.wait_for_load_state("load")  # the key handlers are attached at the end of the page
    page.keyboard.press("u")
    page.locator("#notice").wait_for()
    assert item in page.inner_text("#notice")
    assert page.inner_text("#item-id") == item  # back at the front of the queue


_PARCOORDS_SETTLED = """(() => { const el = document.querySelector('#parcoords');
  if (!el || el.hasAttribute('data-lines')) { return true; }
  const r = el.getBoundingClientRect(); return r.top > innerHeight || r.bottom < 0; })()"""


# -- 4. load times: gzip, long-lived cache, first and repeat visit ----------------------------------
def test_pages_load_from_cache_on_repeat_visits(
    browser: Any, live_server: LiveServer, doc_shot: Any
) -> None:
    """First and repeat visit of every chart page, printed (no timing assertions: machines
    differ). The repeat visit must take the scripts from the browser cache."""
    from tests.browser_tests.conftest import VIEWPORT

    ids = live_server.seeded["runs"]
    pages = {
        "projects": "/",
        "runs": "/runs?project=digits",
        "run": f"/runs/{ids[0]}",
        "compare": "/compare?" + "&".join(f"runs={i}" for i in ids),
        "sweep": f"/sweeps/{live_server.seeded['sweep']}",
        "labeling": LABELS,
    }
    # A context of its own: request interception (the ``page`` fixture) turns the cache off.
    context = browser.new_context(viewport=VIEWPORT, base_url=live_server.url)
    page = context.new_page()
    timing = (
        "(() => { const n = performance.getEntriesByType('navigation')[0];"
        " const s = performance.getEntriesByType('resource').filter(r => r.name.includes('/static/'));"
        " return [n.domContentLoadedEventEnd, s.reduce((a, r) => a + r.transferSize, 0)]; })()"
    )
    try:
        print()
        for name, url in pages.items():
            seen = []
            for _visit in ("first", "repeat"):
                start = time.perf_counter()
                page.goto(url, wait_until="load")
                wall = time.perf_counter() - start
                ready, static_bytes = page.evaluate(timing)
                seen.append((ready, wall, static_bytes))
                # A parcoords in view draws right after the page is usable (WebGL: seconds in a
                # browser without a GPU); let it finish so it does not delay the next visit.
                page.wait_for_function(_PARCOORDS_SETTLED)
            (r1, w1, b1), (r2, w2, b2) = seen
            print(
                f"{name:>9}: first visit interactive {r1:5.0f} ms (load {w1 * 1000:5.0f} ms, "
                f"static {b1 / 1024:6.0f} KB), repeat {r2:5.0f} ms (load {w2 * 1000:5.0f} ms, "
                f"static {b2 / 1024:4.0f} KB)"
            )
            assert b2 == 0, f"{name}: the repeat visit downloaded static files again"
            if name == "sweep":
                page.locator("#parcoords").scroll_into_view_if_needed()
                page.locator("#parcoords[data-lines]").wait_for()
                page.evaluate("window.scrollTo(0, 0)")
            if name in ("projects", "run", "sweep"):
                doc_shot(page, name)
    finally:
        context.close()


def test_static_files_are_hashed_gzipped_and_immutable(page: Any, live_server: LiveServer) -> None:
    import httpx

    page.goto(LABELS)
    src = page.get_attribute("script[src*='plotly']", "src")
    assert re.fullmatch(r"/static/[0-9a-f]{12}/plotly\.min\.js", src or "")
    r = httpx.get(live_server.url + src, headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert int(r.headers["content-length"]) < 600_000  # the partial bundle, compressed
