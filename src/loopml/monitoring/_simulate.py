"""Realistic prediction logs with injected incidents, in the serving contract's layout.

For the demo, the benchmarks and the tests until the serving capability writes real logs:
traffic with a daily cycle, 20 numeric and 5 categorical features (by default), a classifier
whose confidence is calibrated (a row is right with probability = its confidence), latency,
payload, errors, feedback for a share of the rows, and incidents with known start and end::

    log = simulate_log("fraud", days=30, incidents=default_incidents(start), store=store)
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopml._errors import ValidationError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from loopml.store import Store

__all__ = ["Incident", "SimulatedLog", "default_incidents", "simulate_frame", "simulate_log"]


@dataclass(frozen=True)
class Incident:
    """An injected incident. ``kind``: drift (``feature`` shifted by ``size`` sd; accuracy falls
    ``lag_hours`` later), null (``feature`` becomes missing: a pipeline bug), class_mix
    (predictions of the first class ``size`` times as often), qps (traffic ``size`` times),
    latency (latency ``size`` times)."""

    kind: str
    start: float
    end: float
    feature: str | None = None
    size: float = 1.0
    lag_hours: float = 6.0

    @property
    def name(self) -> str:
        """A short label."""
        return f"{self.kind}" + (f":{self.feature}" if self.feature else "")

    @property
    def harm_start(self) -> float:
        """When the incident starts to cost accuracy (a drift's lag), else its start."""
        return self.start + self.lag_hours * 3600 if self.kind == "drift" else self.start


@dataclass
class SimulatedLog:
    """What was written: rows, time range, features, classes and the incidents' ground truth."""

    model: str
    start: float
    end: float
    rows: int
    numeric: list[str]
    categorical: list[str]
    classes: list[str]
    incidents: list[Incident] = field(default_factory=list)


def default_incidents(start: float, days: int = 30) -> list[Incident]:
    """The five incidents of the pruning benchmark, spread over ``days`` from ``start``."""
    day = 86_400.0
    f = days / 30
    return [
        Incident("drift", start + 5.5 * day * f, start + 8 * day * f, "x3", size=1.0),
        Incident("null", start + 12.25 * day * f, start + 12.75 * day * f, "x7"),
        Incident("class_mix", start + 17 * day * f, start + 18 * day * f, size=2.0),
        Incident("qps", start + 21.6 * day * f, start + 21.7 * day * f, size=5.0),
        Incident("latency", start + 25.4 * day * f, start + 26 * day * f, size=2.5),
    ]


def _active(incidents: Sequence[Incident], kind: str, t: np.ndarray) -> list[tuple[Incident, Any]]:
    return [(i, (t >= i.start) & (t < i.end)) for i in incidents if i.kind == kind]


def simulate_frame(
    start: float,
    hours: int,
    *,
    rows_per_hour: int = 1000,
    numeric: int = 20,
    categorical: int = 5,
    classes: Sequence[str] = ("a", "b", "c", "d"),
    incidents: Sequence[Incident] = (),
    seed: int = 0,
) -> pd.DataFrame:
    """The log's rows (``in.<feature>`` columns and the contract's others) plus ``truth``."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    base = np.random.default_rng(12345)  # the population itself does not depend on the seed
    hour_starts = start + 3600.0 * np.arange(hours)
    cycle = 1 + 0.5 * np.sin(2 * np.pi * ((hour_starts / 3600) % 24 - 9) / 24)
    per_hour = rng.poisson(rows_per_hour * cycle)
    for inc, _ in _active(incidents, "qps", hour_starts):
        hit = (hour_starts + 3600 > inc.start) & (hour_starts < inc.end)
        per_hour[hit] = (per_hour[hit] * inc.size).astype(int)
    n = int(per_hour.sum())
    t = np.repeat(hour_starts, per_hour) + rng.uniform(0, 3600, n)
    t.sort()
    frame: dict[str, Any] = {}
    means = base.normal(0, 3, numeric)
    sds = base.uniform(0.5, 2.0, numeric)
    for j in range(numeric):
        x = rng.normal(means[j], sds[j], n)
        frame[f"in.x{j}"] = x
    for j in range(categorical):
        k = 3 + j % 4
        p = base.dirichlet(np.ones(k) * 3)
        frame[f"in.c{j}"] = np.array([f"v{i}" for i in range(k)], dtype=object)[
            rng.choice(k, n, p=p)
        ]
    harm = np.zeros(n)
    for inc, _ in _active(incidents, "drift", t):
        j = int(str(inc.feature)[1:])
        active = (t >= inc.start) & (t < inc.end)
        frame[f"in.x{j}"] = np.where(
            active, frame[f"in.x{j}"] + inc.size * sds[j], frame[f"in.x{j}"]
        )
        harm = np.where((t >= inc.harm_start) & (t < inc.end), 0.25, harm)
    for inc, active in _active(incidents, "null", t):
        col = f"in.{inc.feature}"
        frame[col] = (
            np.where(active, np.nan, frame[col])
            if col.startswith("in.x")
            else np.where(active, None, frame[col])
        )
    k = len(classes)
    mix = base.dirichlet(np.ones(k) * 5)
    pred_idx = rng.choice(k, n, p=mix)
    for inc, active in _active(incidents, "class_mix", t):
        flip = active & (rng.random(n) < min(1.0, mix[0] * (inc.size - 1)))
        pred_idx = np.where(flip, 0, pred_idx)
    conf = np.clip(rng.beta(8, 1.6, n) - harm * 0.6, 1.0 / k + 1e-3, 1.0)
    correct = rng.random(n) < conf
    other = (pred_idx + rng.integers(1, k, n)) % k
    truth_idx = np.where(correct, pred_idx, other)
    cls = np.array(list(classes), dtype=object)
    latency = rng.lognormal(np.log(20), 0.35, n)
    for _inc, active in _active(incidents, "latency", t):
        latency = np.where(active, latency * _inc.size, latency)
    status = np.where(rng.random(n) < 0.002, 500, 200).astype(np.int16)
    probs_rest = (1 - conf) / (k - 1)
    probs = np.repeat(probs_rest[:, None], k, axis=1)
    probs[np.arange(n), pred_idx] = conf
    out = pd.DataFrame(
        {
            "id": [uuid.UUID(int=int(v)).hex for v in rng.integers(0, 2**62, n)],
            "request_id": (np.arange(n) // 3).astype(str),
            "time": pd.to_datetime(t, unit="s", utc=True).astype("datetime64[us, UTC]"),
            "model": "sim",
            "model_version": np.int32(1),
            "status": status,
            "latency_ms": latency,
            "payload_bytes": (180 + numeric * 9 + rng.integers(0, 40, n)).astype(np.int32),
            **frame,
            "prediction": cls[pred_idx],
            "confidence": conf,
            "probabilities": list(probs),
            "truth": cls[truth_idx],
        }
    )
    err = status >= 400
    out.loc[err, ["prediction", "confidence"]] = None
    return out


def _to_arrow(frame: pd.DataFrame, model: str) -> pa.Table:
    import pandas as pd
    import pyarrow as pa

    frame = frame.assign(model=model)
    if isinstance(frame["time"].dtype, pd.DatetimeTZDtype):
        # Naive UTC here, UTC again in the cast below: pyarrow reads tz-aware columns through
        # ``Series.values``, which pandas deprecates (a warning on every simulated log).
        frame = frame.assign(time=frame["time"].dt.tz_convert("UTC").dt.tz_localize(None))
    table = pa.Table.from_pandas(frame.drop(columns=["truth"]), preserve_index=False)
    schema = table.schema
    for name, typ in (
        ("model_version", pa.int32()),
        ("status", pa.int16()),
        ("payload_bytes", pa.int32()),
        ("time", pa.timestamp("us", tz="UTC")),
        ("probabilities", pa.list_(pa.float64())),
    ):
        i = schema.get_field_index(name)
        table = table.set_column(i, name, table.column(name).cast(typ))
    for name in ("shadow_model_version", "shadow_prediction", "shadow_confidence"):
        typ = (
            pa.int32()
            if name.endswith("version")
            else pa.string()
            if "prediction" in name
            else pa.float64()
        )
        table = table.append_column(name, pa.nulls(table.num_rows, typ))
    return table


def simulate_log(
    model: str,
    *,
    start: float | dt.datetime | None = None,
    days: float = 7,
    rows_per_hour: int = 1000,
    numeric: int = 20,
    categorical: int = 5,
    classes: Sequence[str] = ("a", "b", "c", "d"),
    incidents: Sequence[Incident] = (),
    feedback_share: float = 0.3,
    seed: int = 0,
    store: Store | None = None,
) -> SimulatedLog:
    """Write ``days`` of simulated traffic for ``model`` into the store's prediction log."""
    import numpy as np
    import pyarrow as pa

    if days <= 0 or rows_per_hour <= 0:
        raise ValidationError(
            f"days and rows_per_hour must be > 0, got {days!r}, {rows_per_hour!r}"
        )
    if store is None:
        from loopml.tracking import default_session

        store = default_session().store
    if start is None:
        now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
        start = (now - dt.timedelta(days=days)).timestamp()
    elif isinstance(start, dt.datetime):
        start = start.timestamp()
    start = float(start) - float(start) % 3600
    hours = round(days * 24)
    log = store.predictions
    total = 0
    rng = np.random.default_rng(seed + 7)
    for day0 in range(0, hours, 24):
        frame = simulate_frame(
            start + day0 * 3600,
            min(24, hours - day0),
            rows_per_hour=rows_per_hour,
            numeric=numeric,
            categorical=categorical,
            classes=classes,
            incidents=incidents,
            seed=seed * 1000 + day0,
        )
        total += len(frame)
        log.write(model, _to_arrow(frame, model), classes=classes)
        if feedback_share > 0:
            ok = frame["status"] < 400
            pick = frame[ok & (rng.random(len(frame)) < feedback_share)]
            if len(pick):
                log.write_feedback(
                    model,
                    pa.table(
                        {
                            "id": pa.array(pick["id"].tolist(), pa.string()),
                            "time": pa.array(
                                pick["time"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
                            ).cast(pa.timestamp("us", tz="UTC")),
                            "truth": pa.array(pick["truth"].astype(str).tolist(), pa.string()),
                        }
                    ),
                )
    return SimulatedLog(
        model,
        start,
        start + hours * 3600,
        total,
        [f"x{j}" for j in range(numeric)],
        [f"c{j}" for j in range(categorical)],
        list(classes),
        list(incidents),
    )
