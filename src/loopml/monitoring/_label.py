"""Label what drifted: from an alert, a dataset version of that window's drifted rows (sampled by
model uncertainty), queued in a labeling project with the alert recorded as the reason.

Built on the public ``loopml.datasets.create`` and ``loopml.labeling.create_project``: the
project is new (its items are the dataset version); the reason lives in the version's note and
in the alert's recorded action.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml._errors import ConflictError, ValidationError
from loopml.monitoring._metrics import make_metric
from loopml.monitoring._monitor import _store

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from loopml.store import Store

__all__ = ["LabelingHandoff", "drifted_rows", "send_to_labeling"]


@dataclass(frozen=True, slots=True)
class LabelingHandoff:
    """What an alert was turned into: a dataset version and the labeling project queuing it."""

    alert_id: int
    dataset: str  # dataset reference, name@N
    project: str
    rows: int
    window_rows: int
    reason: str


def _bin_index(values: np.ndarray, edges: list[float]) -> np.ndarray:
    import numpy as np

    return np.searchsorted(np.asarray(edges, dtype=float), values, side="left")


def drifted_rows(rows: pd.DataFrame, kind: str, spec: dict[str, Any]) -> pd.DataFrame:
    """The rows of a window that carry the change a metric saw.

    Numeric feature: rows in the reference-quantile bins that grew (now holding more than the
    reference's share) or missing. Categorical: rows whose category grew or was never seen.
    Segment: the segment's rows. Anything else: every answered row.
    """
    import numpy as np

    ok = rows[rows["status"] < 400] if "status" in rows else rows
    if "feature" in spec:
        col = f"in.{spec['feature']}"
        if col not in ok:
            return ok
        s = ok[col]
        if kind in ("missing_rate",):
            return ok[s.isna()]
        if "edges" in spec and "cdf" in spec:
            x = s.to_numpy(dtype=float, na_value=np.nan)
            edges, cdf = spec["edges"], spec["cdf"]
            ref_share = np.diff(np.concatenate([[0.0], cdf, [1.0]]))
            bins = _bin_index(x, edges)
            counts = np.bincount(bins[~np.isnan(x)], minlength=len(ref_share))
            cur_share = counts / max(counts.sum(), 1)
            grew = cur_share > ref_share * 1.2
            mask = np.isnan(x) | grew[np.minimum(bins, len(ref_share) - 1)]
            return ok[mask]
        if "categories" in spec:
            cats = [str(c) for c in spec["categories"]]
            shares = dict(zip(cats, spec.get("shares", [0.0] * len(cats)), strict=True))
            values = s.astype(str)
            now = values.value_counts(normalize=True)
            grew = {c for c, v in now.items() if v > shares.get(str(c), 0.0) * 1.2}
            return ok[s.isna() | values.isin(grew) | ~values.isin(cats)]
    if "column" in spec and "value" in spec and spec["column"] in ok:
        return ok[ok[spec["column"]].astype(str) == str(spec["value"])]
    return ok


def _uncertainty_sample(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """``n`` rows drawn without replacement with weight 1 - confidence (the model's doubt)."""
    import numpy as np

    if len(frame) <= n:
        return frame
    conf = (
        frame["confidence"].to_numpy(dtype=float, na_value=np.nan)
        if "confidence" in frame
        else None
    )
    weight = np.ones(len(frame)) if conf is None else np.nan_to_num(1.0 - conf, nan=1.0) + 1e-3
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(frame), size=n, replace=False, p=weight / weight.sum())
    return frame.iloc[np.sort(pick)]


def send_to_labeling(
    alert_id: int,
    *,
    n: int = 200,
    project: str | None = None,
    store: Store | None = None,
) -> LabelingHandoff:
    """Make a dataset version of the alert's window (drifted rows, sampled by uncertainty) and
    queue it in a new labeling project; the alert records what was done. Sending an alert again
    returns what was done the first time."""
    import loopml.datasets
    import loopml.labeling

    store = _store(store)
    if not isinstance(n, int) or n < 1:
        raise ValidationError(f"n is how many rows to label, a whole number >= 1, got {n!r}")
    alert = store.monitors.alert(alert_id)
    if alert.action_json:
        done = json.loads(alert.action_json)
        if "dataset" in done:
            return LabelingHandoff(
                alert.id,
                done["dataset"],
                done["project"],
                done["rows"],
                done["window_rows"],
                done["reason"],
            )
    monitor = store.monitors.get_monitor(alert.model)
    defs = {d.name: d for d in store.monitors.metrics(alert.model)}
    definition = defs[alert.metric]
    metric = make_metric(definition.kind, definition.name, definition.spec)
    seconds = alert.window_seconds
    rows = store.predictions.rows(alert.model, alert.window_start, alert.window_start + seconds)
    if rows.empty:
        raise ValidationError(f"alert {alert_id}'s window has no rows left in the log to label")
    chosen = _uncertainty_sample(drifted_rows(rows, metric.kind, metric.params), n, alert.id)
    if chosen.empty:
        raise ValidationError(f"alert {alert_id}: no row of its window carries the change")
    frame = chosen.rename(columns={c: c[3:] for c in chosen.columns if c.startswith("in.")})
    features = [c[3:] for c in chosen.columns if c.startswith("in.")]
    keep = ["id", *features, "prediction", "confidence"]
    frame = frame[[c for c in keep if c in frame.columns]].copy()
    frame["time"] = chosen["time"].astype(str).to_numpy()
    reason = f"alert {alert.id} on {alert.model}: {alert.metric} ({alert.rule}) {alert.detail}"
    name = project or f"{alert.model}-alert-{alert.id}"
    version = loopml.datasets.create(
        name,
        frame,
        id_column="id",
        label_column=None,
        metadata=[c for c in ("prediction", "confidence", "time") if c in frame.columns],
        note=reason,
        store=store,
    )
    predicted: Any = frame["prediction"].dropna().unique() if "prediction" in frame else []
    classes = monitor.config.get("classes") or sorted(str(c) for c in predicted)
    if not classes:
        raise ValidationError("the model's classes are unknown; the log carries no predictions")
    try:
        loopml.labeling.create_project(name, version, classes=classes, store=store)
    except ConflictError:
        raise ConflictError(
            f"a labeling project named {name!r} already exists; pass project='another-name'"
        ) from None
    handoff = LabelingHandoff(alert.id, version.ref, name, len(frame), len(rows), reason)
    store.monitors.set_action(
        alert.id,
        {
            "dataset": handoff.dataset,
            "project": name,
            "rows": handoff.rows,
            "window_rows": handoff.window_rows,
            "reason": reason,
        },
    )
    return handoff
