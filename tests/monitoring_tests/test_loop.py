"""Label what drifted, the page views, the Prometheus export, and the CLI."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

import loopml.monitoring as mon
from loopml.cli import app
from tests.monitoring_tests.conftest import START, small_log


def _drifted(store: Any) -> Any:
    inc = mon.Incident("drift", START + 30 * 3600, START + 36 * 3600, "x1", size=1.5)
    small_log(store, incidents=[inc])
    mon.init("m", reference_since=START, reference_until=START + 86_400, store=store)
    result = mon.backfill("m", START + 86_400, START + 2 * 86_400, store=store)
    return next(a for a in result.alerts if a.metric == "feature.x1.drift")


def test_send_drift_alert_to_labeling(store: Any) -> None:
    import loopml.datasets
    import loopml.labeling

    alert = _drifted(store)
    handoff = mon.send_to_labeling(alert.id, n=40, store=store)
    assert handoff.rows == 40 and handoff.window_rows > handoff.rows
    version = loopml.datasets.get(handoff.dataset, store=store)
    frame = version.to_pandas()
    assert {"x1", "prediction", "confidence"} <= set(frame.columns)
    assert f"alert {alert.id}" in (version.note or "")
    # The drifted rows: x1 was shifted up, so the chosen rows sit above the reference median.
    ref_median = next(m for m in mon.catalog("m", store=store) if m.name == "feature.x1.p50")
    assert ref_median is not None
    project = loopml.labeling.project(handoff.project, store=store)
    assert len(project) == 40 and set(project.classes) == {"a", "b", "c", "d"}
    recorded = store.monitors.alert(alert.id)
    assert handoff.dataset in (recorded.action_json or "")
    # Sending again returns the same handoff instead of a second project.
    assert mon.send_to_labeling(alert.id, n=40, store=store) == handoff


def test_drifted_rows_pick_the_grown_bins(store: Any) -> None:
    import numpy as np
    import pandas as pd

    spec = {"feature": "x", "edges": [-1.0, 0.0, 1.0], "cdf": [0.16, 0.5, 0.84]}
    rng = np.random.default_rng(0)
    rows = pd.DataFrame({"in.x": rng.normal(1.5, 1.0, 2000), "status": 200})
    picked = mon.drifted_rows(rows, "feature_drift", spec)
    assert len(picked) < len(rows) and picked["in.x"].min() > 0.0


def test_views_and_prometheus(store: Any) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    _drifted(store)
    lines = mon.sparklines("m", store=store)
    assert lines and lines[0].anomaly >= lines[-1].anomaly
    assert len(lines[0].values) == len(lines[0].starts) <= 48
    heat = mon.drift_heatmap("m", store=store)
    assert "x1" in heat.features and len(heat.scores) == len(heat.features)
    row = heat.scores[heat.features.index("x1")]
    assert max(v for v in row if v is not None) > 3
    registry = CollectorRegistry()
    mon.register_prometheus(registry, store=store)
    text = generate_latest(registry).decode()
    assert 'loopml_monitor_value{metric="qps",model="m"}' in text
    assert "loopml_monitor_alerts" in text


def test_cli_commands(store: Any, monitored: Any) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["monitor", "catalog", "m", "--versions"])
    assert r.exit_code == 0 and "generated" in r.output
    since, until = "2023-11-16T00:00", "2023-11-16T06:00"
    r = runner.invoke(app, ["monitor", "backfill", "m", "--since", since, "--until", until])
    assert r.exit_code == 0, r.output
    assert "6 windows computed" in r.output
    r = runner.invoke(app, ["monitor", "alerts", "m"])
    assert r.exit_code == 0
    r = runner.invoke(app, ["monitor", "prune", "m"])
    assert r.exit_code == 0 and "prune" in r.output
    r = runner.invoke(app, ["monitor", "run", "m", "--max-runs", "1"])
    assert r.exit_code == 0, r.output


def test_cli_bad_input(store: Any, monitored: Any) -> None:
    from loopml.cli import main

    runner = CliRunner()
    r = runner.invoke(app, ["monitor", "run", "m", "--every", "soon"])
    assert r.exit_code == 2 and "interval" in r.output
    with pytest.raises(SystemExit) as exc:
        import sys

        sys.argv = ["loopml", "monitor", "restore", "m", "feature.x9.mean"]
        main()
    assert exc.value.code == 2


def test_cli_says_which_windows_late_rows_recomputed(capsys: pytest.CaptureFixture[str]) -> None:
    from loopml.cli._monitor import _print_run

    result = mon.MonitorRun(
        "m",
        60,
        START,
        START + 600,
        windows=3,
        recomputed=[START + 60, START + 120],
        late_rows=7,
        stale_writers=["[worker 2]"],
    )
    _print_run(result)
    out = " ".join(capsys.readouterr().out.split())
    assert "2 windows recomputed for 7 rows that landed late, first 2023-11-15 00:01" in out
    assert "1 stuck log writers ([worker 2])" in out  # brackets survive: markup is off
