"""Demo stage: a simulated week of traffic on the digits model, a drift injected on day 5 (a new
scanner writes darker strokes, and the model gets worse), the alerts it raises, and the drifted
window sent to labeling.

The log is written in the serving contract's layout (what ``loopml serve`` writes), so the
monitor reads it exactly as it would read real traffic.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["MODEL", "monitor_digits"]

MODEL = "digits-classifier"
_DAY = 86_400.0


def _week_of_traffic(store: Any, start: float, rows_per_hour: int = 120) -> int:
    """Write 7 days of predictions of a logistic regression on digits; drift from day 5."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    from sklearn.linear_model import LogisticRegression

    from loopml.demo._tracking import load_digits_split

    x_tr, x_te, y_tr, y_te = load_digits_split(0)
    model = LogisticRegression(max_iter=400).fit(x_tr, y_tr)
    classes = [str(c) for c in model.classes_]
    rng = np.random.default_rng(5)
    total = 0
    for day in range(7):
        hours = np.arange(24)
        per_hour = rng.poisson(rows_per_hour * (1 + 0.5 * np.sin(2 * np.pi * (hours - 9) / 24)))
        n = int(per_hour.sum())
        t = start + day * _DAY + np.repeat(hours * 3600.0, per_hour) + rng.uniform(0, 3600, n)
        pick = rng.integers(0, len(x_te), n)
        x = x_te[pick].astype(float)
        truth = y_te[pick]
        drifted = t >= start + 4.5 * _DAY
        # The new scanner: darker strokes and some speckle on the drifted rows.
        x[drifted] = np.clip(x[drifted] * 1.6 + rng.integers(0, 5, x[drifted].shape), 0, 16)
        probs = model.predict_proba(x)
        pred = model.classes_[probs.argmax(axis=1)]
        frame = pd.DataFrame({f"in.p{i}": x[:, i] for i in range(x.shape[1])})
        table = pa.table(
            {
                "id": [uuid.uuid4().hex for _ in range(n)],
                "request_id": [uuid.uuid4().hex for _ in range(n)],
                "time": pa.array((t * 1e6).astype(np.int64), pa.timestamp("us", tz="UTC")),
                "model": [MODEL] * n,
                "model_version": pa.array(np.ones(n, dtype=np.int32)),
                "status": pa.array(np.full(n, 200, dtype=np.int16)),
                "latency_ms": rng.lognormal(np.log(8), 0.3, n),
                "payload_bytes": pa.array(np.full(n, 700, dtype=np.int32)),
                **{c: frame[c].to_numpy() for c in frame.columns},
                "prediction": [str(p) for p in pred],
                "confidence": probs.max(axis=1),
                "probabilities": pa.array(list(probs), pa.list_(pa.float64())),
            }
        )
        order = np.argsort(t)
        table = table.take(pa.array(order))
        store.predictions.write(MODEL, table, classes=classes)
        labeled = rng.random(n) < 0.3
        store.predictions.write_feedback(
            MODEL,
            pa.table(
                {
                    "id": pa.array(
                        [table["id"][int(i)].as_py() for i in np.flatnonzero(labeled[order])]
                    ),
                    "time": table["time"].filter(pa.array(labeled[order])),
                    "truth": pa.array([str(v) for v in truth[order][labeled[order]]]),
                }
            ),
        )
        total += n
    return total


def monitor_digits(console: Console) -> dict[str, Any]:
    """Run the stage; returns what it made (for tests)."""
    import loopml.monitoring as mon
    from loopml.tracking import default_session

    store = default_session().store
    console.print(
        "7. monitoring: a week of traffic on the digits model, a drift on day 5, "
        "the alerts it raises, and its window sent to labeling"
    )
    start = 1_764_547_200.0  # 2025-12-01 00:00 UTC: a fixed week, so reruns are identical
    if not store.predictions.files(MODEL):
        rows = _week_of_traffic(store, start)
        console.print(f"   logged {rows:,} predictions over 7 days")
    version = mon.init(
        MODEL, reference_since=start, reference_until=start + 2 * _DAY, window="1h", store=store
    )
    console.print(f"   generated {version.n_active} metrics (catalog version {version.version})")
    run = mon.backfill(MODEL, start + 2 * _DAY, start + 7 * _DAY, store=store)
    console.print(
        f"   computed {run.windows} hourly windows in one pass each: "
        f"{len(run.alerts)} alerts in {len(run.incidents)} incidents"
    )
    # The incident the scanner change raised: the one with the most drift alerts.
    drift_alerts = [a for a in mon.alerts(MODEL, store=store) if a.rule == "drift"]
    by_incident: dict[int, list[Any]] = {}
    for a in drift_alerts:
        by_incident.setdefault(a.incident_id or 0, []).append(a)
    out: dict[str, Any] = {"alerts": len(run.alerts), "drift_alerts": len(drift_alerts)}
    if by_incident:
        biggest = max(by_incident.values(), key=len)
        opened = min(a.window_start for a in biggest)
        first = min(
            (a for a in biggest if a.window_start == opened),
            key=lambda a: a.value if a.value is not None else 1.0,
        )
        hours = (opened - (start + 4.5 * _DAY)) / 3600
        features = len({a.metric for a in biggest})
        console.print(
            f"   drift incident #{first.incident_id} opened {hours:+.0f} h after the scanner "
            f"change: {features} drift metrics, strongest first {first.metric} ({first.detail})",
            markup=False,
        )
        mon.mark([a.id for a in biggest], "useful", by="demo", store=store)
        handoff = mon.send_to_labeling(first.id, n=60, store=store)
        console.print(
            f"   sent {handoff.rows} of the window's {handoff.window_rows} rows (most uncertain "
            f"first) to labeling project '{handoff.project}' as {handoff.dataset}",
            markup=False,
        )
        out["handoff"] = handoff
        out["incident_opened_hours"] = hours
    return out
