"""Monitoring pages in-process: grid, heatmap, alerts with verdict buttons, prune page."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

import loopml.monitoring as mon
from loopml.server import create_app
from tests.monitoring_tests.conftest import START, small_log


def test_pages_and_actions(store: Any) -> None:
    inc = mon.Incident("drift", START + 30 * 3600, START + 36 * 3600, "x1", size=1.5)
    small_log(store, incidents=[inc])
    mon.init("m", reference_since=START, reference_until=START + 86_400, store=store)
    result = mon.backfill("m", START + 86_400, START + 2 * 86_400, store=store)
    alert = next(a for a in result.alerts if a.metric == "feature.x1.drift")
    with TestClient(create_app(store)) as client:
        page = client.get("/monitoring")
        assert page.status_code == 200 and 'href="/monitoring/m"' in page.text
        grid = client.get("/monitoring/m")
        assert grid.status_code == 200
        assert grid.text.count('class="card spark"') == len(mon.catalog("m", store=store))
        assert "heatmap" in grid.text and "feature.x1.drift" in grid.text
        assert client.get("/monitoring/m?group=drift").text.count('class="card spark"') < 60
        alerts = client.get("/monitoring/m/alerts")
        assert f'data-alert="{alert.id}"' in alerts.text
        r = client.post(
            f"/monitoring/m/alerts/{alert.id}/verdict",
            content="verdict=useful&scope=incident",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            follow_redirects=False,
        )
        assert r.status_code == 303
        judged = mon.alerts("m", incident=alert.incident_id, store=store)
        assert {a.verdict for a in judged} == {"useful"}
        prune = client.get("/monitoring/m/prune")
        assert prune.status_code == 200 and "Suggestion: prune" in prune.text
        r = client.post("/monitoring/m/prune", follow_redirects=False)
        assert r.status_code == 303
        assert [v.version for v in mon.catalog_versions("m", store=store)] == [1, 2]
        pruned = mon.catalog("m", state="pruned", store=store)[0].name
        r = client.post(
            "/monitoring/m/restore",
            content=f"metric={pruned}",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            follow_redirects=False,
        )
        assert r.status_code == 303 and pruned in {m.name for m in mon.catalog("m", store=store)}
        r = client.post(f"/monitoring/m/alerts/{alert.id}/label", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/labeling/")
        assert client.get("/monitoring/nope").status_code == 404
        api = client.post(
            f"/api/v1/monitoring/m/alerts/{alert.id}/verdict", json={"verdict": "noise", "by": "bo"}
        )
        assert api.status_code == 200 and api.json()["verdict"] == "noise"
        listed = client.get("/api/v1/monitoring/m/alerts", params={"verdict": "noise"}).json()
        assert [a["id"] for a in listed] == [alert.id]
        bad = client.post(f"/api/v1/monitoring/m/alerts/{alert.id}/verdict", json={"verdict": "x"})
        assert bad.status_code in (400, 422)
        series = client.get("/api/v1/monitoring/m/values", params={"metric": "qps"}).json()
        assert len(series["values"]) == 24
