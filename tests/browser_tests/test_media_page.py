"""The run page's Media section: image strip with a step slider, histogram heatmap, tables."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.browser_tests.conftest import LiveServer

EVIL_CAPTION = "<img src=x onerror=alert(1)> step"


def _seed(tmp: Path) -> dict[str, str]:
    import numpy as np
    import pandas as pd

    import loopml

    run = loopml.init(project="media-demo", name="with-media", system_metrics=False)
    for step in range(4):
        shade = np.zeros((28, 28, 3), np.uint8)
        shade[:, :, step % 3] = 60 * (step + 1)
        shade[4:24, 10:18] = 255
        run.log(
            {
                "loss": 1 / (step + 1),
                "digits": loopml.Image(shade, caption=f"{EVIL_CAPTION} {step}"),
                "weights": loopml.Histogram(np.random.default_rng(step).normal(step, 1, 400)),
            }
        )
    frame = pd.DataFrame({"id": ["a", "b", "c"], "score": [0.2, 0.9, 0.5]})
    run.log({"predictions": loopml.Table(frame, caption="val set")})
    run.finish()
    other = loopml.init(project="media-demo", name="other", system_metrics=False)
    other.log({"digits": loopml.Image(np.full((28, 28), 0.8), caption="grey"), "loss": 0.3})
    other.finish()
    return {"run": run.id, "other": other.id}


@pytest.fixture(scope="module")
def seed_store() -> Callable[[Path], Any]:
    return _seed


def test_media_section(page: Any, live_server: LiveServer, doc_shot: Any) -> None:
    page.goto(f"/runs/{live_server.seeded['run']}")
    block = page.locator('.media-block[data-key="digits"] .media-body[data-ready="true"]')
    block.wait_for()
    img = block.locator("img.media-image")
    assert img.evaluate("i => i.complete && i.naturalWidth") == 28
    assert "step-00000003" in (img.get_attribute("src") or "")
    assert EVIL_CAPTION in block.locator(".media-label").inner_text()  # text, not HTML
    block.locator("input.media-step").fill("0")
    assert "step-00000000" in (img.get_attribute("src") or "")
    assert block.get_attribute("data-step") == "0"
    hist = page.locator('.media-block[data-key="weights"] .media-histogram')
    hist.wait_for()
    assert (
        page.evaluate(
            "document.querySelector('.media-block[data-key=\"weights\"] .media-histogram').data[0].x.length"
        )
        == 4
    )
    table = page.locator('.media-block[data-key="predictions"] table')
    assert table.locator("tbody tr").count() == 3
    table.locator("th", has_text="score").click()
    col = table.locator("tbody tr td:nth-child(2)").all_inner_texts()
    assert col == ["0.2", "0.5", "0.9"]
    table.locator("th", has_text="score").click()
    assert table.locator("tbody tr td:nth-child(2)").all_inner_texts() == ["0.9", "0.5", "0.2"]
    # Media files are not repeated one by one in the Artifacts list.
    assert "media/" not in page.locator("section.panel", has_text="Artifacts").inner_text()
    block.locator("input.media-step").fill("3")
    page.wait_for_function(
        "() => { const i = document.querySelector('.media-image'); return i.complete && i.src.includes('step-00000003'); }"
    )
    page.locator("#media").scroll_into_view_if_needed()
    doc_shot(page, "run-media")


def test_compare_shows_media_side_by_side(
    page: Any, live_server: LiveServer, doc_shot: Any
) -> None:
    a, b = live_server.seeded["run"], live_server.seeded["other"]
    page.goto(f"/compare?runs={a}&runs={b}")
    row = page.locator("#compare-media tr", has_text="digits")
    images = row.locator("img.media-image")
    assert images.count() == 2
    page.wait_for_function(
        "() => [...document.querySelectorAll('#compare-media img')].every(i => i.complete && i.naturalWidth === 28)"
    )
    assert "step 3" in row.inner_text() and "grey" in row.inner_text()
    weights = page.locator("#compare-media tr", has_text="weights").inner_text()
    assert "histogram at step 3: 400 values" in weights and "-" in weights
    page.locator("#compare-media").scroll_into_view_if_needed()
    doc_shot(page, "compare-media")
