"""The run page shows system metrics (``system/...``) in their own section."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.browser_tests.conftest import LiveServer


def _seed(tmp: Path) -> dict[str, str]:
    import loopml
    from loopml.tracking import _system

    run = loopml.init(project="system-demo", name="with-system", system_metrics_interval=0.05)
    for i in range(20):
        run.log({"loss": 1 / (i + 1)})
        time.sleep(0.02)
    end = time.monotonic() + 10
    while not any(w.sample >= 5 for w in _system.sampler()._watches.values()):
        assert time.monotonic() < end
        time.sleep(0.02)
    run.finish()
    plain = loopml.init(project="system-demo", name="without", system_metrics=False)
    plain.log({"loss": 1.0})
    plain.finish()
    return {"with": run.id, "without": plain.id}


@pytest.fixture(scope="module")
def seed_store() -> Callable[[Path], Any]:
    return _seed


def test_system_metrics_section(page: Any, live_server: LiveServer, doc_shot: Any) -> None:
    page.goto(f"/runs/{live_server.seeded['with']}")
    page.locator('#system-charts[data-ready="true"]').wait_for()
    user = page.locator("#charts .chart")
    assert [user.nth(i).get_attribute("data-key") for i in range(user.count())] == ["loss"]
    system = page.locator("#system-charts .chart")
    keys = [system.nth(i).get_attribute("data-key") for i in range(system.count())]
    assert "system/cpu_percent" in keys and "system/memory_percent" in keys
    assert all(k.startswith("system/") for k in keys)
    assert page.locator("#system-metrics h2").inner_text() == "System metrics"
    doc_shot(page, "run-system-metrics")


def test_no_section_without_system_metrics(page: Any, live_server: LiveServer) -> None:
    page.goto(f"/runs/{live_server.seeded['without']}")
    page.locator('#charts[data-ready="true"]').wait_for()
    assert page.locator("#system-metrics").count() == 0
