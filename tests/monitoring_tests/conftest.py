"""A small simulated prediction log on the test store."""

from __future__ import annotations

from typing import Any

import pytest

START = 1_700_006_400.0  # a midnight UTC


def small_log(store: Any, model: str = "m", days: float = 2, **kw: Any) -> Any:
    """Write ``days`` of a small log (4 numeric, 2 categorical features)."""
    from loopml.monitoring import simulate_log

    kw.setdefault("rows_per_hour", 150)
    return simulate_log(model, start=START, days=days, numeric=4, categorical=2, store=store, **kw)


@pytest.fixture
def monitored(store: Any) -> Any:
    """A two-day log whose first day is the reference, monitored hourly."""
    import loopml.monitoring as mon

    log = small_log(store)
    mon.init("m", reference_since=START, reference_until=START + 86_400, store=store)
    return log
