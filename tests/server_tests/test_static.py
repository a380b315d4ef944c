"""Static files: content-hashed URLs, gzip, year-long caching, revalidation, no path escapes."""

from __future__ import annotations

import gzip
import re

from fastapi.testclient import TestClient

from loopml.server._static import IMMUTABLE, asset_url, load, plotly_js_path


def test_pages_link_hashed_urls_that_are_cached_for_a_year(client: TestClient) -> None:
    page = client.get("/runs").text
    css = re.search(r'href="(/static/[0-9a-f]{12}/app\.css)"', page)
    js = re.search(r'src="(/static/[0-9a-f]{12}/app\.js)"', page)
    assert css and js
    for url in (css.group(1), js.group(1), asset_url("plotly.min.js")):
        r = client.get(url, headers={"Accept-Encoding": "gzip"})
        assert r.status_code == 200
        assert r.headers["cache-control"] == IMMUTABLE
        assert r.headers["content-encoding"] == "gzip"
        assert r.headers["etag"].strip('"') in url


def test_plotly_is_the_partial_bundle_and_goes_out_compressed(client: TestClient) -> None:
    assert plotly_js_path().name == "plotly-loopml.min.js"
    asset = load("plotly.min.js")
    assert len(asset.body) < 2_000_000 and len(asset.gzipped) < 600_000
    assert gzip.decompress(asset.gzipped) == asset.body
    r = client.get(asset_url("plotly.min.js"), headers={"Accept-Encoding": "gzip"})
    assert int(r.headers["content-length"]) == len(asset.gzipped)
    # A client that does not take gzip gets the plain file.
    plain = client.get(asset_url("plotly.min.js"), headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == asset.body


def test_stale_hash_and_plain_names_revalidate(client: TestClient) -> None:
    current = load("app.js")
    stale = client.get("/static/000000000000/app.js")
    assert stale.status_code == 200 and stale.headers["cache-control"] == "no-cache"
    plain = client.get("/static/app.js")
    assert plain.headers["cache-control"] == "no-cache"
    again = client.get("/static/app.js", headers={"If-None-Match": f'"{current.digest}"'})
    assert again.status_code == 304 and again.content == b""


def test_only_known_files_are_served(client: TestClient) -> None:
    for bad in (
        "/static/..%2F_app.py",
        "/static/abc/..%2F..%2F_app.py",
        "/static/_static.py",
        "/static/plotly.LICENSE.txt",
        "/static/nope.js",
        "/static/.hidden.js",
    ):
        assert client.get(bad).status_code == 404, bad


def test_pages_and_json_are_gzipped(client: TestClient) -> None:
    r = client.get("/runs", headers={"Accept-Encoding": "gzip"})
    assert r.headers.get("content-encoding") == "gzip"
    r = client.get("/api/v1/runs", headers={"Accept-Encoding": "gzip"})
    assert r.headers.get("content-encoding") == "gzip"
