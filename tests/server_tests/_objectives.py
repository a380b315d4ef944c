"""Sweep objectives importable by sweep worker processes."""

from __future__ import annotations

from typing import Any


def quadratic(params: dict[str, Any], run: Any) -> dict[str, float]:
    """Loss is smallest at lr = 0.01 with adam."""
    import math

    loss = (math.log10(params["lr"]) + 2) ** 2 + (0.0 if params["opt"] == "adam" else 0.5)
    return {"loss": loss}


def slow_quadratic(params: dict[str, Any], run: Any) -> dict[str, float]:
    """``quadratic``, a little slower, so that the sweep's heartbeats run while trials do."""
    import time

    time.sleep(0.3)
    return quadratic(params, run)
