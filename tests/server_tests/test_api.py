"""The JSON API under /api/v1, in process, on SQLite and PostgreSQL."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.server_tests._seed import EVIL, PROJECT, Seeded


def test_projects(client: TestClient, seeded: Seeded) -> None:
    body = client.get("/api/v1/projects").json()
    assert [p["name"] for p in body] == [PROJECT]
    assert body[0]["runs"] == len(seeded.runs) + 3 + len(seeded.sweep_runs)
    assert body[0]["running"] == 0


def test_runs_paging_sorting_filtering(client: TestClient, seeded: Seeded) -> None:
    r = client.get(
        "/api/v1/runs",
        params={"project": PROJECT, "q": "params.model = 'mlp'", "order": "params.lr", "limit": 2},
    )
    body = r.json()
    assert r.status_code == 200
    assert body["total"] == 4
    assert [x["name"] for x in body["runs"]] == ["run-01", "run-03"]
    page2 = client.get(
        "/api/v1/runs",
        params={
            "project": PROJECT,
            "q": "params.model = 'mlp'",
            "order": "params.lr",
            "limit": 2,
            "offset": 2,
        },
    ).json()
    assert [x["name"] for x in page2["runs"]] == ["run-05", "run-07"]
    best = client.get("/api/v1/runs", params={"order": "-metrics.acc", "limit": 1}).json()["runs"][
        0
    ]
    assert best["name"] == "run-07"


def test_bad_filter_is_a_readable_400(client: TestClient) -> None:
    r = client.get("/api/v1/runs", params={"q": "metrics.acc >"})
    assert r.status_code == 400
    assert "metrics.acc" in r.json()["error"]
    r = client.get("/api/v1/runs", params={"order": "-bogus.thing"})
    assert r.status_code == 400 and r.json()["error"]
    r = client.get("/api/v1/runs", params={"limit": 0})
    assert r.status_code == 400 and "limit" in r.json()["error"]


def test_run_detail_and_nonfinite_values(client: TestClient, seeded: Seeded) -> None:
    run = client.get(f"/api/v1/runs/{seeded.nonfinite[:8]}").json()
    assert run["id"] == seeded.nonfinite
    assert run["metrics"]["weird"]["last"] == "NaN"
    assert run["metrics"]["ninf"]["last"] == "-Infinity"
    assert client.get("/api/v1/runs/doesnotexist").status_code == 404


def test_series_keeps_nan_and_inf_visible(client: TestClient, seeded: Seeded) -> None:
    body = client.get(
        "/api/v1/series", params={"run": seeded.nonfinite, "key": ["weird", "loss"]}
    ).json()
    weird = body["series"]["weird"][seeded.nonfinite]
    assert weird["steps"] == [0, 1, 2, 3, 4]
    assert weird["values"] == [1.0, "NaN", "Infinity", "-Infinity", "NaN"]
    assert weird["downsampled"] is False
    assert body["series"]["loss"][seeded.nonfinite]["values"] == [1.0, 0.9, 0.8, 0.7]


def test_series_of_several_runs_and_unknown_key(client: TestClient, seeded: Seeded) -> None:
    ids = seeded.runs[:3]
    body = client.get("/api/v1/series", params={"run": ids, "key": ["loss", "nope"]}).json()[
        "series"
    ]
    assert list(body["loss"]) == ids
    assert all(len(s["steps"]) == 30 for s in body["loss"].values())
    assert all(s["steps"] == [] for s in body["nope"].values())
    assert (
        client.get(
            "/api/v1/series", params={"run": ids[0], "key": "loss", "max_points": 2}
        ).status_code
        == 400
    )


def test_artifacts_listing_download_and_traversal(client: TestClient, seeded: Seeded) -> None:
    rid = seeded.with_artifacts
    names = [a["name"] for a in client.get(f"/api/v1/runs/{rid}/artifacts").json()]
    assert names == ["dot.png", "notes.txt", "page.html", "preds.parquet", "table.csv"]
    png = client.get(f"/api/v1/runs/{rid}/artifacts/dot.png")
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")
    r = client.get(f"/api/v1/runs/{rid}/artifacts/notes.txt")
    assert r.status_code == 200 and r.text.startswith("hello artifact")
    assert r.headers["content-security-policy"] == "sandbox"
    html = client.get(f"/api/v1/runs/{rid}/artifacts/page.html")
    # An HTML artifact never renders as a page of the app.
    assert html.headers["content-type"] == "application/octet-stream"
    assert "attachment" in html.headers["content-disposition"]
    for bad in ("../../loopml.db", "..%2F..%2Floopml.db", "%2Fetc%2Fpasswd"):
        r = client.get(f"/api/v1/runs/{rid}/artifacts/{bad}")
        assert r.status_code in (400, 404), bad
    assert client.get(f"/api/v1/runs/{rid}/artifacts/missing.txt").status_code == 404


def test_sweeps_api(client: TestClient, seeded: Seeded) -> None:
    sweeps = client.get("/api/v1/sweeps").json()
    assert [s["id"] for s in sweeps] == [seeded.sweep_id]
    assert sweeps[0]["trials"] == len(seeded.sweep_runs)
    body = client.get(f"/api/v1/sweeps/{seeded.sweep_id}").json()
    assert body["metric"] == "val_loss" and body["direction"] == "minimize"
    values = [p["value"] for p in body["curve"]]
    bests = [p["best"] for p in body["curve"]]
    assert bests == [min(values[: i + 1]) for i in range(len(values))]
    assert set(body["importances"]) == {"lr", "opt"}
    assert client.get("/api/v1/sweeps/nosuchsweep").status_code == 404


def test_openapi_and_security_headers(client: TestClient) -> None:
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    assert "/api/v1/runs" in r.json()["paths"]
    assert r.headers["x-content-type-options"] == "nosniff"
    # The interactive docs would load scripts from a CDN: they are off.
    assert client.get("/docs").status_code == 404


def test_static_assets_are_local(client: TestClient) -> None:
    js = client.get("/static/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000
    assert client.get("/static/app.js").status_code == 200
    page = client.get("/runs").text
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page


def test_html_in_data_does_not_leak_into_json_pages(client: TestClient, seeded: Seeded) -> None:
    run = client.get(f"/api/v1/runs/{seeded.evil}").json()
    assert run["name"] == f"evil {EVIL}"  # JSON keeps the data as it is; pages escape it
