"""Monitoring pages in headless Chromium: the sparkline grid and heatmap, alerts with verdict
buttons, the prune page; at 1280x800 and 1400x900."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.browser_tests.conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

START = 1_700_006_400.0


def _seed(_tmp: Path) -> dict[str, Any]:
    import loopml.monitoring as mon

    incidents = [
        mon.Incident("drift", START + 40 * 3600, START + 52 * 3600, "x1", size=1.2),
        mon.Incident("latency", START + 60 * 3600, START + 64 * 3600, size=2.5),
    ]
    mon.simulate_log(
        "shop",
        start=START,
        days=3,
        rows_per_hour=150,
        numeric=6,
        categorical=2,
        incidents=incidents,
    )
    mon.init("shop", reference_since=START, reference_until=START + 86_400)
    result = mon.backfill("shop", START + 86_400, START + 3 * 86_400)
    useful = [
        a.id for a in result.alerts if any(i.start <= a.window_start < i.end for i in incidents)
    ]
    mon.mark(useful, "useful")
    return {"alert": useful[0]}


@pytest.fixture(scope="module")
def seed_store() -> Callable[[Path], Any]:
    """Three days of a small log with a drift and a latency incident, backfilled."""
    return _seed


def test_grid_heatmap_alerts_prune(page: Any, live_server: LiveServer, doc_shot: Any) -> None:
    page.goto("/monitoring/shop")
    page.wait_for_selector("#heatmap .main-svg")
    first = page.locator(".card.spark").first.get_attribute("data-metric")
    assert first is not None
    doc_shot(page, "monitoring-grid")
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto("/monitoring/shop/alerts")
    row = page.locator("#alerts-table tbody tr").first
    alert_id = row.get_attribute("data-alert")
    with page.expect_navigation():
        row.locator("button.btn-noise").click()
    assert "noise" in page.locator(f"tr[data-alert='{alert_id}']").inner_text()
    page.evaluate("window.scrollTo(0, 0)")
    doc_shot(page, "monitoring-alerts")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto("/monitoring/shop/prune")
    assert "Suggestion: prune" in page.inner_text("#prune-summary")
    doc_shot(page, "monitoring-prune")
    with page.expect_navigation():
        page.click("#apply-prune")
    assert "Catalog versions" in page.content()
