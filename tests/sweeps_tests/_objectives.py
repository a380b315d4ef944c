"""Objectives the sweep tests run in worker processes (importable, so resume can find them)."""

from __future__ import annotations

import math
import os
import signal
import time
from pathlib import Path
from typing import Any

from loopml.tracking import Run


def quadratic(params: dict[str, Any], run: Run) -> dict[str, float]:
    """Best at x = 0.3; logs a short series too."""
    for step in range(3):
        run.log({"loss": params["x"] * step})
    return {"val_acc": 1 - (params["x"] - 0.3) ** 2}


def by_mode(params: dict[str, Any], run: Run) -> Any:
    """Misbehaves as ``params['mode']`` says (one fault per mode)."""
    mode = params["mode"]
    if mode == "raise":
        raise RuntimeError("boom from the objective")
    if mode == "nan":
        return math.nan
    if mode == "missing":
        return {"other": 1.0}
    if mode == "hang":
        time.sleep(60)
    if mode == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    return {"val_acc": 0.5}


def epochs(params: dict[str, Any], run: Run) -> float:
    """A learning curve that plateaus at ``params['q']``; stops when the pruner says so."""
    acc = 0.0
    for epoch in range(12):
        acc = params["q"] * (1 - 0.5 ** (epoch + 1))
        run.report(acc, epoch)
        if run.should_stop():
            break
    return acc


def slow_logged(params: dict[str, Any], run: Run) -> float:
    """Sleeps ``LOOPML_TEST_SLEEP`` s; appends 'start N' / 'end N' lines to ``LOOPML_TEST_LOG``."""
    log = Path(os.environ["LOOPML_TEST_LOG"])
    number = int(run.name.rsplit("-", 1)[1])
    with log.open("a") as f:
        f.write(f"start {number}\n")
    time.sleep(float(os.environ.get("LOOPML_TEST_SLEEP", "0.3")))
    with log.open("a") as f:
        f.write(f"end {number}\n")
    return params["x"]


def on_node(params: dict[str, Any], run: Run) -> float:
    """Tags the Ray node it ran on, then works for ``LOOPML_TEST_SLEEP`` seconds."""
    import ray

    run.set_tags({"node": ray.get_runtime_context().get_node_id()})
    time.sleep(float(os.environ.get("LOOPML_TEST_SLEEP", "0.5")))
    for step in range(3):
        run.report(params["x"] * (step + 1) / 3, step)
    return params["x"]
