"""Monitors: catalog, one-pass windows, alerts, incidents, webhook, verdicts, prune/restore."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import loopml.monitoring as mon
from loopml._errors import NotFoundError, ValidationError
from tests.monitoring_tests.conftest import START, small_log


def test_init_generates_a_large_versioned_catalog(store: Any, monitored: Any) -> None:
    metrics = mon.catalog("m", store=store)
    kinds = {m.kind for m in metrics}
    assert len(metrics) > 60
    assert {"qps", "latency_quantile", "error_rate", "class_share", "entropy"} <= kinds
    assert {"psi", "ks", "js", "wasserstein", "feature_drift", "unseen_rate"} <= kinds
    assert {"estimated_accuracy", "accuracy", "segment_confidence"} <= kinds
    versions = mon.catalog_versions("m", store=store)
    assert [v.version for v in versions] == [1] and versions[0].n_active == len(metrics)


def test_one_pass_equals_one_query_per_metric(store: Any, monitored: Any) -> None:
    metrics = mon.catalog("m", store=store)
    reader = store.predictions
    lo, hi = START + 86_400, START + 86_400 + 6 * 3600
    together = mon.compute_windows(metrics, reader, "m", 3600, lo, hi).wide()
    sample = [m for m in metrics if m.kind not in ("accuracy", "python")][::7]
    for m in sample:
        alone = mon.compute_windows([m], reader, "m", 3600, lo, hi).wide()[m.name]
        np.testing.assert_allclose(
            together[m.name].to_numpy(dtype=float), alone.to_numpy(dtype=float), rtol=1e-9
        )
    assert len(together) == 6


def test_backfill_stores_values_and_reports_empty_windows(store: Any, monitored: Any) -> None:
    # Two hours past the end of the log have no traffic: reported empty, not skipped.
    result = mon.backfill("m", START + 86_400, START + 2 * 86_400 + 2 * 3600, store=store)
    assert result.windows == 24
    assert len(result.empty_windows) == 2
    wide = mon.values("m", store=store)
    assert len(wide) == 26
    assert wide["rows"].iloc[-1] == 0 and np.isnan(wide["latency.p95"].iloc[-1])
    assert wide["rows"].iloc[0] > 0


def test_realized_and_estimated_accuracy(store: Any, monitored: Any) -> None:
    mon.backfill("m", START + 86_400, START + 2 * 86_400, store=store)
    wide = mon.values("m", store=store)
    realized = wide["performance.accuracy"].dropna()
    estimated = wide["performance.estimated_accuracy"].dropna()
    assert len(realized) == 24
    # Calibrated confidence: the estimate is within a few points of what labels later show.
    assert abs(realized.mean() - estimated.mean()) < 0.03
    check = mon.estimate_vs_realized("m", store=store)
    assert set(check.columns) == {"realized", "estimated", "error"}
    assert check["error"].abs().mean() < 0.1


def test_drift_raises_alerts_grouped_in_incidents(store: Any) -> None:
    inc = mon.Incident("drift", START + 30 * 3600, START + 36 * 3600, "x1", size=1.5)
    small_log(store, incidents=[inc])
    mon.init("m", reference_since=START, reference_until=START + 86_400, store=store)
    result = mon.backfill("m", START + 86_400, START + 2 * 86_400, store=store)
    drift_alerts = [a for a in result.alerts if a.metric == "feature.x1.drift"]
    assert drift_alerts and min(a.window_start for a in drift_alerts) == inc.start
    assert all(inc.start <= a.window_start < inc.end for a in drift_alerts)
    incidents = mon.incidents("m", store=store)
    grouped = {a.incident_id for a in drift_alerts}
    assert len(grouped) == 1
    assert any(i.id in grouped and i.n_alerts >= len(drift_alerts) for i in incidents)


def test_null_feature_and_unseen_categories_never_crash(store: Any) -> None:
    inc = mon.Incident("null", START + 30 * 3600, START + 33 * 3600, "x2")
    small_log(store, incidents=[inc])
    mon.init("m", reference_since=START, reference_until=START + 86_400, store=store)
    result = mon.backfill("m", START + 86_400, START + 2 * 86_400, store=store)
    wide = mon.values("m", store=store)
    hit = wide.index[
        (wide.index.astype("int64") // 10**9 >= inc.start)
        & (wide.index.astype("int64") // 10**9 < inc.end)
    ]
    assert (wide.loc[hit, "feature.x2.missing"] == 1.0).all()
    assert wide.loc[hit, "feature.x2.mean"].isna().all()
    assert any(a.metric in ("feature.x2.drift", "feature.x2.missing") for a in result.alerts)


def test_schema_change_is_reported(store: Any) -> None:
    from loopml.monitoring._simulate import _to_arrow, simulate_frame

    small_log(store, days=1)
    frame = simulate_frame(START + 86_400, 2, rows_per_hour=100, numeric=4, categorical=2)
    table = _to_arrow(frame, "m").drop_columns(["in.x3"])
    table = table.append_column("in.new_feature", pa.array(np.ones(table.num_rows)))
    store.predictions.write("m", table, classes=["a", "b", "c", "d"])
    mon.init("m", reference_since=START, reference_until=START + 86_400, store=store)
    result = mon.backfill("m", START, START + 86_400 + 2 * 3600, store=store)
    changes = {(c.column, c.change) for c in result.schema_changes}
    assert ("in.x3", "removed") in changes and ("in.new_feature", "added") in changes
    wide = mon.values("m", store=store)
    assert wide["feature.x3.missing"].iloc[-1] == 1.0


def test_verdicts_prune_apply_restore(store: Any) -> None:
    inc = mon.Incident("latency", START + 40 * 3600, START + 44 * 3600, size=3.0)
    small_log(store, incidents=[inc])
    mon.init("m", reference_since=START, reference_until=START + 86_400, store=store)
    result = mon.backfill("m", START + 86_400, START + 2 * 86_400, store=store)
    assert result.alerts
    useful = [a.id for a in result.alerts if inc.start <= a.window_start < inc.end]
    noise = [a.id for a in result.alerts if a.id not in useful]
    assert useful
    mon.mark(useful, "useful", by="ana", store=store)
    if noise:
        mon.mark(noise, "noise", store=store)
    table = mon.usefulness("m", store=store)
    assert table["useful"].sum() == len(useful)
    plan = mon.prune("m", store=store)
    assert plan.prune and plan.share_pruned > 0.5
    assert {s.category for s in plan.prune} <= {"dead", "noise", "silent", "redundant"}
    kept_first = min(
        a.window_start for a in result.alerts if a.metric in plan.keep and a.id in useful
    )
    assert kept_first == min(a.window_start for a in result.alerts if a.id in useful)
    before = len(mon.catalog("m", store=store))
    applied = mon.prune("m", apply=True, store=store)
    assert applied.applied is not None and applied.applied.version == 2
    assert len(mon.catalog("m", store=store)) == before - len(applied.prune)
    gone = applied.prune[0].metric
    # History is kept for a pruned metric, and it comes back on restore.
    assert gone in mon.values("m", store=store).columns
    version = mon.restore("m", [gone], store=store)
    assert version.version == 3 and gone in {m.name for m in mon.catalog("m", store=store)}
    with pytest.raises(ValidationError, match="not pruned"):
        mon.restore("m", [gone], store=store)
    with pytest.raises(NotFoundError, match="did you mean"):
        mon.restore("m", [gone + "x"], store=store)
    notes = [v.note for v in mon.catalog_versions("m", store=store)]
    assert notes[1].startswith("pruned") and notes[2].startswith("restored")


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_webhook_notifies_each_new_incident_once(store: Any) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        _Receiver.received = []
        inc = mon.Incident("qps", START + 40 * 3600, START + 41 * 3600, size=6.0)
        small_log(store, incidents=[inc])
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        mon.init(
            "m", reference_since=START, reference_until=START + 86_400, webhook=url, store=store
        )
        result = mon.backfill("m", START + 86_400, START + 2 * 86_400, store=store)
        assert result.notified and len(_Receiver.received) == len(result.notified)
        payload = _Receiver.received[0]
        assert payload["model"] == "m" and payload["alerts"]
        # A second run over the same history notifies nothing new.
        mon.backfill("m", START + 86_400, START + 2 * 86_400, store=store)
        assert len(_Receiver.received) == len(result.notified)
    finally:
        server.shutdown()
        server.server_close()


def test_unreachable_webhook_does_not_break_monitoring(store: Any) -> None:
    inc = mon.Incident("qps", START + 40 * 3600, START + 41 * 3600, size=6.0)
    small_log(store, incidents=[inc])
    mon.init(
        "m",
        reference_since=START,
        reference_until=START + 86_400,
        webhook="http://127.0.0.1:9/nothing",
        store=store,
    )
    result = mon.backfill("m", START + 86_400, START + 2 * 86_400, store=store)
    assert result.alerts and not result.notified
    assert all(i.notified_at is None for i in mon.incidents("m", store=store))


def test_run_computes_only_closed_new_windows(store: Any, monitored: Any) -> None:
    first = mon.run("m", now=START + 30 * 3600 + 600, store=store)
    assert first.until == START + 30 * 3600 and first.windows == 24
    again = mon.run("m", now=START + 30 * 3600 + 1200, store=store)
    assert again.windows == 0
    later = mon.run("m", now=START + 33 * 3600, store=store)
    assert later.windows == 3


def test_custom_sql_metric(store: Any, monitored: Any) -> None:
    mon.add_metric(
        "m",
        "custom.big_x0",
        "sql",
        sql="avg(CASE WHEN \"in.c0\" = 'v0' THEN 1.0 ELSE 0.0 END)",
        store=store,
    )
    mon.backfill("m", START + 86_400, START + 86_400 + 3 * 3600, store=store)
    wide = mon.values("m", metrics=["custom.big_x0", "feature.c0.share.v0"], store=store)
    assert len(wide) == 3
    np.testing.assert_allclose(wide["custom.big_x0"], wide["feature.c0.share.v0"])


def test_bad_input(store: Any, monitored: Any) -> None:
    with pytest.raises(ValidationError, match="window"):
        mon.parse_window("7m")
    with pytest.raises(ValidationError, match="window"):
        mon.parse_window("10s")
    assert mon.parse_window("1h") == 3600 and mon.parse_window("1d") == 86_400
    with pytest.raises(NotFoundError, match="did you mean 'm'"):
        mon.alerts("n", store=store) if False else mon.catalog("mm", store=store)
    with pytest.raises(ValidationError, match="verdict"):
        mon.mark([1], "great", store=store)
    with pytest.raises(NotFoundError):
        mon.mark([987654], "useful", store=store)
    with pytest.raises(ValidationError, match="since < until"):
        mon.backfill("m", START + 10, START, store=store)
    with pytest.raises(ValidationError, match="not allowed"):
        mon.init("../evil", reference_since=START, reference_until=START + 3600, store=store)
    with pytest.raises(ValidationError, match="webhook"):
        mon.init(
            "m",
            reference_since=START,
            reference_until=START + 3600,
            webhook="file:///x",
            store=store,
        )
    with pytest.raises(ValidationError, match="no metric class"):
        mon.add_metric("m", "x", "psii", store=store)
    # Nothing above changed the catalog.
    assert [v.version for v in mon.catalog_versions("m", store=store)] == [1]


def test_scheduler_runs_in_a_thread_and_survives_errors(store: Any, monitored: Any) -> None:
    import time

    errors: list[str] = []
    runs: list[Any] = []
    sched = mon.MonitorScheduler(
        ["m", "missing-model"],
        every=0.05,
        store=store,
        on_run=runs.append,
        on_error=lambda model, exc: errors.append(model),
    )
    sched.start()
    deadline = time.monotonic() + 30
    while sched.ticks < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    sched.stop()
    assert sched.ticks >= 2 and runs and runs[0].model == "m"
    assert "missing-model" in errors
    with pytest.raises(ValidationError):
        mon.MonitorScheduler([], store=store)
