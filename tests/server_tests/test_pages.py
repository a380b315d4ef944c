"""The HTML pages, in process: content, escaping, bad input."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.server_tests._seed import EVIL, PROJECT, Seeded


def test_projects_page(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert PROJECT in r.text and 'class="nav-item active"' in r.text


def test_runs_page_state_in_url(client: TestClient, seeded: Seeded) -> None:
    r = client.get(
        "/runs",
        params={
            "project": PROJECT,
            "q": "tags.team = 'a'",
            "order": "-params.lr",
            "cols": ["params.lr", "metrics.acc"],
            "per": 2,
        },
    )
    assert r.status_code == 200
    names = re.findall(r'<a href="/runs/\w+">(run-\d+)</a>', r.text)
    assert names == ["run-03", "run-02"]
    assert "1–2 of 4 runs" in r.text
    # The next-page link keeps filter, sort, columns and page size.
    nxt = re.search(r'href="(\?[^"]+)" rel="next"', r.text)
    assert nxt is not None
    link = nxt.group(1).replace("&amp;", "&")
    for part in (
        "q=tags.team",
        "order=-params.lr",
        "cols=params.lr",
        "cols=metrics.acc",
        "per=2",
        "page=2",
    ):
        assert part in link, part


def test_malformed_filter_shows_message_not_500(client: TestClient) -> None:
    for bad in (
        "metrics.acc >",
        "params.lr = = 3",
        "(status = 'x'",
        "metrics.acc like 'a%'",
        "nosuch.col = 1",
    ):
        r = client.get("/runs", params={"q": bad})
        assert r.status_code == 200, bad
        assert 'id="filter-error"' in r.text, bad
    r = client.get("/runs", params={"order": "-metrics."})
    assert r.status_code == 200 and 'id="filter-error"' in r.text
    r = client.get("/runs", params={"cols": "bogus"})
    assert "unknown column" in r.text
    past = client.get("/runs", params={"page": 999})
    assert past.status_code == 200 and "past the last page" in past.text
    r = client.get("/runs", params={"page": "x"})
    assert r.status_code == 400 and "page" in r.text


def test_html_is_escaped_everywhere(client: TestClient, seeded: Seeded) -> None:
    pages = [
        "/runs",
        "/runs?q=name+like+'evil%25'&cols=params.note&cols=tags.html",
        f"/runs/{seeded.evil}",
        f"/compare?runs={seeded.evil}&runs={seeded.runs[0]}",
        f"/runs/{seeded.with_artifacts}",
        f"/runs?q={EVIL}",
        f"/runs/{EVIL}",
    ]
    for url in pages:
        r = client.get(url)
        assert r.status_code in (200, 404), url
        assert "<script>alert" not in r.text, url
        assert EVIL not in r.text, url
    assert "&lt;script&gt;alert" in client.get(f"/runs/{seeded.evil}").text
    # Data embedded for charts cannot close its <script> element either.
    compare = client.get(f"/compare?runs={seeded.evil}&runs={seeded.runs[0]}").text
    assert "</script>alert" not in compare and "\\u003c/script\\u003e" in compare


def test_nonfinite_values_shown_as_such(client: TestClient, seeded: Seeded) -> None:
    text = client.get(f"/runs/{seeded.nonfinite}").text
    assert ">NaN<" in text and ">-inf<" in text
    table = client.get(
        "/runs", params={"q": "name = 'nonfinite'", "cols": ["metrics.weird", "metrics.ninf"]}
    ).text
    assert ">NaN<" in table and ">-inf<" in table


def test_run_page_sections(client: TestClient, seeded: Seeded) -> None:
    text = client.get(f"/runs/{seeded.with_artifacts}").text
    for section in ("Metrics", "Summary", "Params", "Tags", "System", "Artifacts"):
        assert f"<h2>{section}</h2>" in text or f"<h2>{section}" in text
    assert "hello artifact" in text  # text preview
    assert "<th>a</th>" in text and "<th>b</th>" in text  # CSV head
    assert f'src="/api/v1/runs/{seeded.with_artifacts}/artifacts/dot.png"' in text  # image inline
    assert "<th>label</th>" in text and "first 3 of 3 rows" in text  # Parquet head
    assert client.get("/runs/nosuchrun").status_code == 404


def test_compare_page(client: TestClient, seeded: Seeded) -> None:
    a, b = seeded.runs[0], seeded.runs[1]
    text = client.get("/compare", params={"runs": f"{a},{b}"}).text
    params_table = text[text.index('id="params-diff"') :]
    params_table = params_table[: params_table.index("</table>")]
    # Only params that differ: lr, model and layers all differ between run-00 and run-01.
    assert "<th>lr</th>" in params_table and "<th>model</th>" in params_table
    same = client.get("/compare", params={"runs": [seeded.runs[0], seeded.runs[3]]}).text
    table = same[same.index('id="params-diff"') :]
    assert "<th>layers</th>" not in table[: table.index("</table>")]  # 2 + 0 % 3 == 2 + 3 % 3
    assert "Choose runs" in client.get("/compare").text
    assert "no run" in client.get("/compare", params={"runs": "zzzzzzzz"}).text


def test_sweep_pages(client: TestClient, seeded: Seeded) -> None:
    listing = client.get("/sweeps").text
    assert seeded.sweep_id in listing
    text = client.get(f"/sweeps/{seeded.sweep_id}").text
    assert "Best so far" in text and 'id="trials-table"' in text
    assert text.count('name="runs"') == len(seeded.sweep_runs)
    other = client.get(
        f"/sweeps/{seeded.sweep_id}", params={"metric": "nope", "direction": "sideways"}
    )
    assert other.status_code == 200
    assert client.get("/sweeps/nosuch").status_code == 404
