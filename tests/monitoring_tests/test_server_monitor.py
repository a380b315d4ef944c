"""The monitor inside ``loopml serve``: one scheduler per model however many workers, windows
computed from the server's own traffic, values on ``/metrics``, the log compacted, clean stop."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import loopml.monitoring as mon

COLUMNS = ["a", "b", "c", "d", "e"]
HOOK = "loopml.monitoring:serve_hook"


def _wait(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.1)


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Any]:
    from loopml._config import Settings
    from loopml.tracking import Session, set_default_session

    s = Session(Settings(data_dir=tmp_path / "loopml-data", flush_interval=0.05))
    set_default_session(s)
    yield s
    set_default_session(None)
    s.store.close()


@pytest.fixture
def data() -> pd.DataFrame:
    return pd.DataFrame(np.random.default_rng(1).random((300, 5)), columns=COLUMNS)


@pytest.fixture
def served(session: Any, data: pd.DataFrame) -> Any:
    """``m`` (a classifier of a, b, c, d, e) registered with alias champion."""
    from sklearn.linear_model import LogisticRegression

    import loopml.registry as reg

    y = np.where(data["a"] > 0.5, "high", "low")
    reg.register("m", LogisticRegression().fit(data, y), example=data[:3])
    reg.set_alias("m", "champion", 1, reason="first")
    return session.store


def _past_log(store: Any, data: pd.DataFrame, start: float, parts: int = 3) -> int:
    """Yesterday's traffic of ``m`` in the serving log's columns, as several parts of one hour."""
    n = len(data)
    t = (start + np.linspace(0, 3000, n)) * 1e6
    conf = 0.5 + data["a"].to_numpy() / 2
    table = pa.table(
        {
            "id": [f"old{i}-0" for i in range(n)],
            "time": pa.array(t.astype(np.int64), pa.timestamp("us", tz="UTC")),
            "model": ["m"] * n,
            "model_version": pa.array(np.ones(n, dtype=np.int32)),
            "status": pa.array(np.full(n, 200, dtype=np.int16)),
            "latency_ms": np.full(n, 2.0),
            "payload_bytes": pa.array(np.full(n, 90, dtype=np.int32)),
            **{f"in.{c}": data[c].to_numpy() for c in COLUMNS},
            "prediction": np.where(data["a"] > 0.5, "high", "low").tolist(),
            "confidence": conf,
            "probabilities": pa.array([[p, 1 - p] for p in conf], pa.list_(pa.float64())),
        }
    )
    for k in range(parts):
        store.predictions.write(
            "m", table.slice(k * n // parts, n // parts), f"old-{k}", ["high", "low"]
        )
    return parts * (n // parts)


def test_the_app_runs_the_monitor_exports_it_and_compacts_the_log(
    served: Any, data: pd.DataFrame
) -> None:
    from fastapi.testclient import TestClient

    from loopml.serving import ServeConfig, create_app

    store = served
    hour = (time.time() // 3600 - 5) * 3600  # a closed hour of yesterday's traffic
    rows = _past_log(store, data, hour)
    mon.init("m", reference=data, window="1h", store=store)
    config = ServeConfig("m@champion", hooks={HOOK: {"every": 0.1}})
    with TestClient(create_app(config, store)) as client:
        r = client.post("/predict", json={"records": data[:4].to_dict("records")})
        assert r.status_code == 200
        _wait("the in-server monitor's first window", lambda: store.monitors.last_window("m", 3600))
        stored = store.monitors.values("m", 3600, ["rows"], hour, hour + 1)
        assert stored["value"].tolist() == [rows]

        def scrape() -> str | None:
            text = str(client.get("/metrics").text)
            return text if "loopml_monitor_value" in text else None

        text = _wait("the monitor's values on /metrics", scrape)
        latest = store.monitors.last_window("m", 3600)  # the last closed hour (no traffic)
        value = store.monitors.values("m", 3600, ["rows"], latest, latest + 1)["value"].iloc[0]
        # Parsed, not matched as text: how a float is printed varies with prometheus_client.
        from prometheus_client.parser import text_string_to_metric_families

        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }
        assert samples[("loopml_monitor_value", (("metric", "rows"), ("model", "m")))] == float(
            value
        )
        assert samples[("loopml_monitor_window_start_seconds", (("model", "m"),))] == float(latest)
        assert "loopml_requests_total" in text  # the server's own metrics are still there
        _wait(
            "the closed hour compacted",
            lambda: len(store.predictions.files("m", hour, hour + 1)) == 1,
        )
        assert len(store.predictions.frame("m", hour, hour + 3600)) == rows
    # Stopped with the app: the lock is free for the next server.
    lock = store.predictions.service_lock("m", "monitor")
    assert lock.acquire()
    lock.release()


def test_one_monitor_runs_per_model_and_another_takes_over(served: Any, data: pd.DataFrame) -> None:
    store = served
    _past_log(store, data, (time.time() // 3600 - 5) * 3600)
    mon.init("m", reference=data, window="1h", store=store)
    first = mon.serve_hook(store=store, model="m", every=0.05)
    second = mon.serve_hook(store=store, model="m", every=0.05)
    try:
        _wait("a tick", lambda: first.ticks + second.ticks >= 3)
        running, waiting = (first, second) if first.ticks else (second, first)
        assert waiting.ticks == 0 and running.lock.held and not waiting.lock.held
        running.stop()
        _wait("the other worker takes over", lambda: waiting.ticks >= 1)
        assert waiting.lock.held
    finally:
        first.stop()
        second.stop()


def test_a_model_without_a_monitor_is_compacted_and_exports_nothing(
    served: Any, data: pd.DataFrame
) -> None:
    store = served
    hour = (time.time() // 3600 - 5) * 3600
    _past_log(store, data, hour)
    hook = mon.serve_hook(store=store, model="m", every=0.05)
    try:
        _wait("a tick", lambda: hook.ticks >= 1)
        assert hook.last_error is None
        assert len(store.predictions.files("m")) == 1
        assert b"loopml_monitor_value{" not in hook.exposition()
    finally:
        hook.stop()


def test_bad_hook_settings_are_refused(served: Any) -> None:
    from loopml import ValidationError
    from loopml.serving import ServeConfig

    with pytest.raises(ValidationError, match="every"):
        mon.serve_hook(store=served, model="m", every=0)
    with pytest.raises(ValidationError, match="module:function"):
        ServeConfig("m@champion", hooks={"no-colon": {}})
    with pytest.raises(ValidationError, match="mapping"):
        ServeConfig("m@champion", hooks={HOOK: 3})  # type: ignore[dict-item]


def test_serve_monitor_without_a_monitor_says_how_to_make_one(served: Any) -> None:
    from typer.testing import CliRunner

    from loopml.cli import app

    result = CliRunner().invoke(app, ["serve", "m@champion", "--monitor", "--port", "0"])
    assert result.exit_code != 0
    assert "loopml monitor init m" in (result.output + str(result.exception))
    result = CliRunner().invoke(app, ["serve", "m@champion", "--monitor-every", "soon"])
    assert result.exit_code != 0 and "--monitor-every" in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_loopml_serve_with_two_workers_computes_its_traffic_window_once(
    served: Any, data: pd.DataFrame, session: Any
) -> None:
    import httpx

    store = served
    mon.init("m", reference=data, window="1m", store=store)
    port = _free_port()
    env = {
        **os.environ,
        "LOOPML_DIR": str(session.settings.data_dir),
        "LOOPML_FLUSH_INTERVAL": "0.2",
    }
    cmd = [sys.executable, "-c", "from loopml.cli import main; main()", "serve", "m@champion"]
    args = ["--port", str(port), "--workers", "2", "--monitor", "--monitor-every", "1s"]
    proc = subprocess.Popen(
        cmd + args,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(proc.stdout.read().decode())  # type: ignore[union-attr]
            try:
                return httpx.get(f"{url}/ready", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        _wait("the server", ready, timeout=120)
        sent = 0
        for i in range(20):
            records = data[i * 5 : i * 5 + 5].to_dict("records")
            assert httpx.post(f"{url}/predict", json={"records": records}).status_code == 200
            sent += 5

        def logged_rows() -> pd.DataFrame | None:
            df = store.predictions.frame("m")
            return df if len(df) >= sent else None

        logged = _wait("the log", logged_rows)
        minutes = sorted({t.timestamp() // 60 * 60 for t in logged["time"]})
        # The windows close at the next minute; the server's monitor computes them.
        _wait(
            "the server's monitor computes the traffic's windows",
            lambda: (store.monitors.last_window("m", 60) or 0) >= minutes[-1],
            timeout=150,
        )
        per_window = store.monitors.values("m", 60, ["rows"], minutes[0], minutes[-1] + 1)
        assert per_window["value"].sum() == sent
        latest = store.monitors.last_window("m", 60)
        expected = store.monitors.values("m", 60, ["rows"], latest, latest + 1)["value"].iloc[0]
        # Whichever worker answers (new connections spread over both), the same numbers.
        for _ in range(8):
            text = httpx.get(f"{url}/metrics", headers={"Connection": "close"}).text
            if store.monitors.last_window("m", 60) != latest:
                break  # a new minute was computed meanwhile: the numbers moved on
            found = re.search(r'loopml_monitor_value\{metric="rows",model="m"\} (\S+)', text)
            assert found is not None and float(found.group(1)) == expected
            assert re.search(r"loopml_requests_total\{[^}]*\} ", text)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        out = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode == 0, out
    # One scheduler for the two workers: each traffic window was computed (and reported) once.
    reported = sum(int(n) for n in re.findall(r"monitor m: (\d+) window", out))
    assert reported == len(minutes), out


def test_by_default_each_worker_finds_out_whether_the_model_has_a_monitor(
    served: Any, data: pd.DataFrame
) -> None:
    # `loopml serve` hands monitor=None to its workers (no SQL in the parent before they start).
    store = served
    assert mon.serve_hook(store=store, model="m", every=0.05, monitor=None, log=False) is None
    hook = mon.serve_hook(store=store, model="m", every=0.05, monitor=None)
    try:
        assert hook is not None and hook.monitor is False and hook.compact is True
    finally:
        hook.stop()
    mon.init("m", reference=data, window="1h", store=store)
    hook = mon.serve_hook(store=store, model="m", every=0.05, monitor=None, log=False)
    try:
        assert hook is not None and hook.monitor is True and hook.compact is False
    finally:
        hook.stop()


def test_a_server_stopped_before_its_hooks_start_never_starts_them(served: Any) -> None:
    from starlette.testclient import TestClient

    from loopml.serving import ServeConfig, create_app
    from loopml.serving._app import HOOKS_DELAY_SECONDS

    assert HOOKS_DELAY_SECONDS > 0  # the hooks start a moment after ready, not with it
    app = create_app(ServeConfig("m@champion", hooks={HOOK: {"every": 0.1}}), served)
    with TestClient(app) as client:
        assert client.get("/ready").status_code == 200
        assert app.state.server.hooks == []  # not yet
    assert app.state.server.hooks == []  # and never, once stopped
    lock = served.predictions.service_lock("m", "monitor")
    assert lock.acquire()
    lock.release()
