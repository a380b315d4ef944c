"""The dashboard in real headless Chromium against a real uvicorn server.

Each test fails on any browser console error (see ``conftest.py``) and leaves a screenshot in
``test-artifacts/browser/`` when it fails.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser_tests.conftest import LiveServer
from tests.server_tests._seed import EVIL, PROJECT

pytestmark = pytest.mark.browser


def _names(page: Any) -> list[str]:
    return page.locator("#runs-table tbody td.name a").all_inner_texts()


def test_projects_page(page: Any) -> None:
    page.goto("/")
    page.get_by_role("link", name=re.compile(PROJECT)).first.wait_for()
    assert page.locator("#projects-table tbody tr").count() == 1


def test_runs_table_sort_filter_page(page: Any, live_server: LiveServer) -> None:
    page.goto(f"/runs?project={PROJECT}&per=3")
    assert page.locator("#runs-table tbody tr").count() == 3
    assert "of 17 runs" in page.inner_text("#runs-count")
    # Sort by a param column: first click sorts descending, the URL keeps it.
    page.locator('#runs-table th[data-col="params.lr"] a').click()
    page.wait_for_url(re.compile(r"order=-params.lr"))
    assert _names(page)[0].startswith("nonfinite")  # lr 0.5 is the largest
    page.locator('#runs-table th[data-col="params.lr"] a').click()
    page.wait_for_url(re.compile(r"order=params.lr"))
    assert _names(page)[0].startswith("trial-0")  # lr 1e-4 is the smallest
    # Filter with the query language.
    page.fill("#filter", "params.model = 'mlp' and metrics.acc > 0")
    page.press("#filter", "Enter")
    page.wait_for_url(re.compile(r"q=params.model"))
    assert "of 4 runs" in page.inner_text("#runs-count")
    assert _names(page) == ["run-01", "run-03", "run-05"]  # sorted by lr, 3 per page
    # Page forward: filter and sort survive.
    page.get_by_role("link", name=re.compile("Next")).click()
    page.wait_for_url(re.compile(r"page=2"))
    assert "q=params.model" in page.url and "order=params.lr" in page.url
    assert _names(page) == ["run-07"]
    assert page.inner_text("#runs-count") == "4–4 of 4 runs"
    page.goto(
        f"/runs?project={PROJECT}&q=name+like+'run-%25'&order=-metrics.acc&cols=metrics.acc&cols=metrics.loss&cols=params.lr&cols=params.model&cols=tags.team"
    )


def test_malformed_filter_shows_message(page: Any) -> None:
    page.goto("/runs")
    page.fill("#filter", "metrics.acc >> 'x")
    page.press("#filter", "Enter")
    page.locator("#filter-error").wait_for()
    assert "filter" in page.inner_text("#filter-error").lower()
    assert page.locator("#runs-table tbody tr").count() == 0


def test_choose_columns(page: Any) -> None:
    page.goto(f"/runs?project={PROJECT}")
    page.get_by_text("Columns").click()
    page.locator('input[name="cols"][value="tags.team"]').check()
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"cols=tags.team"))
    assert page.locator('#runs-table th[data-col="tags.team"]').count() == 1


def test_run_chart_draws_logged_points(page: Any, live_server: LiveServer) -> None:
    rid = live_server.seeded.runs[2]
    page.goto(f"/runs/{rid}")
    page.locator('#charts[data-ready="true"]').wait_for()
    charts = page.locator("#charts .chart")
    keys = [charts.nth(i).get_attribute("data-key") for i in range(charts.count())]
    assert keys == ["acc", "loss"]
    # The chart holds exactly the 30 logged points, with the logged values.
    ys = page.evaluate("document.querySelector('#chart-1').data[0].y")
    assert len(ys) == 30 and ys[0] == pytest.approx(1 / 3)
    assert page.locator("#chart-1 .main-svg").count() > 0
    page.check("#log-scale")
    assert page.evaluate("document.querySelector('#chart-1').layout.yaxis.type") == "log"
    page.select_option("#x-axis", "relative")
    page.locator("#smoothing").fill("0.6")
    assert page.evaluate("document.querySelector('#chart-1').data.length") == 2  # raw + smoothed


def test_nonfinite_and_escaping(page: Any, live_server: LiveServer) -> None:
    page.goto(f"/runs/{live_server.seeded.evil}")
    assert EVIL in page.inner_text("h1")  # shown as text; a dialog would fail the test
    page.goto(f"/runs/{live_server.seeded.nonfinite}")
    page.locator('#charts[data-ready="true"]').wait_for()
    summary = page.inner_text("#summary-table")
    assert "NaN" in summary and "-inf" in summary


def test_compare_two_runs(page: Any, live_server: LiveServer) -> None:
    page.goto(f"/runs?project={PROJECT}&q=name+like+'run-%25'&order=name")
    page.locator('input[name="runs"]').nth(0).check()
    page.locator('input[name="runs"]').nth(1).check()
    assert page.inner_text("#compare-button") == "Compare selected (2)"
    page.click("#compare-button")
    page.wait_for_url(re.compile(r"/compare\?runs=\w+&runs=\w+"))
    page.locator('#charts[data-ready="true"]').wait_for()
    assert page.evaluate("document.querySelector('#chart-0').data.length") == 2
    diff = page.inner_text("#params-diff")
    assert "lr" in diff and "model" in diff
    # Parcoords (WebGL) is drawn once it scrolls into view.
    page.locator("#parcoords").scroll_into_view_if_needed()
    page.locator('#parcoords[data-lines="2"]').wait_for()


def test_open_sweep(page: Any, live_server: LiveServer) -> None:
    page.goto("/sweeps")
    page.get_by_role("link", name=live_server.seeded.sweep_id).click()
    page.wait_for_url(re.compile(r"/sweeps/"))
    page.locator("#best-curve .main-svg").first.wait_for()
    assert page.get_attribute("#best-curve", "data-points") == "6"
    assert page.locator("#trials-table tbody tr").count() == 6
    page.locator("#importances .main-svg").first.wait_for()


def test_sweep_page_of_a_real_sweep(page: Any, live_server: LiveServer) -> None:
    import loopml
    from loopml.tracking import set_default_session
    from tests.server_tests._objectives import quadratic

    set_default_session(live_server.session)
    try:
        sw = loopml.sweep(
            quadratic,
            {"lr": loopml.loguniform(1e-4, 1.0), "opt": loopml.choice(["adam", "sgd"])},
            metric="loss",
            direction="min",
            n_trials=16,
            parallel=1,
            seed=0,
            project=PROJECT,
            name="lr-search",
            progress=False,
        )
    finally:
        set_default_session(None)
    page.goto(f"/sweeps?project={PROJECT}")
    page.get_by_role("link", name="lr-search").click()
    page.wait_for_url(re.compile(sw.id))
    page.locator("#importances .main-svg").first.wait_for()
    assert page.get_attribute("#best-curve", "data-points") == "16"
    assert "16 / 16 done" in page.inner_text(".cards")


def test_live_updates_while_running(page: Any, live_server: LiveServer) -> None:
    import loopml
    from loopml.tracking import set_default_session

    set_default_session(live_server.session)
    try:
        run = loopml.init(PROJECT, name="live-run")
        run.log({"loss": 1.0}, step=0)
        run.flush()
        page.goto(f"/runs/{run.id}")
        page.locator('#charts[data-ready="true"]').wait_for()
        assert page.get_attribute("#chart-0", "data-points") == "1"
        assert page.locator("#live-indicator").count() == 1
        for s in range(1, 5):
            run.log({"loss": 1.0 / (s + 1)}, step=s)
        run.flush()
        page.wait_for_function(
            "document.querySelector('#chart-0').getAttribute('data-points') === '5'"
        )
        run.finish()
        page.wait_for_function("document.querySelector('#run-status').textContent === 'finished'")
    finally:
        set_default_session(None)
