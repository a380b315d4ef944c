"""Alert rules over metric values, and the webhook that tells a person about an incident.

Rules (a metric's ``rule`` in its spec):

- ``{"type": "threshold", "above": x}`` / ``"below": x``: the value crosses a fixed line.
- ``{"type": "zscore", "z": 5, "history": 24, "direction": "both"|"up"|"down",
  "min_change": d}``: the value is more than ``z`` trailing standard deviations from the trailing
  mean of the previous ``history`` windows (at least ``min_history`` of them) AND moved by at least
  ``min_change`` (so a metric that is nearly constant does not alarm on a rounding).
- ``{"type": "drift", "alpha": 0.01}``: the metric is a guarded drift p-value; within each
  window Holm's procedure runs across all drift metrics, and those still significant alert.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from loopml.monitoring._drift import holm
from loopml.store import AlertDraft

if TYPE_CHECKING:
    import pandas as pd

    from loopml.monitoring._metrics import Metric
    from loopml.store import AlertRecord, IncidentRecord

__all__ = ["evaluate_rules", "notify_webhook"]

_HISTORY = 24
_MIN_HISTORY = 12


def evaluate_rules(
    metrics: Sequence[Metric],
    wide: pd.DataFrame,
    window_seconds: int,
    only_after: float | None = None,
) -> list[AlertDraft]:
    """Alerts for each metric and window of ``wide`` (windows as rows, metrics as columns).

    ``wide`` should include the trailing history the z-score rules need; only windows starting at
    or after ``only_after`` produce alerts.
    """
    import numpy as np

    out: list[AlertDraft] = []
    if wide.empty:
        return out
    wide = wide.sort_index()
    starts = wide.index.to_numpy(dtype=float)
    eligible = starts >= only_after if only_after is not None else np.ones(len(starts), bool)
    drift_cols: list[tuple[Metric, float]] = []
    for m in metrics:
        if m.name not in wide.columns:
            continue
        rule = m.rule
        kind = rule.get("type")
        series = wide[m.name].astype(float)
        values = series.to_numpy()
        if kind == "drift":
            drift_cols.append((m, float(rule.get("alpha", 0.01))))
            continue
        if kind == "threshold":
            above, below = rule.get("above"), rule.get("below")
            for i in np.flatnonzero(eligible):
                v = values[i]
                if math.isnan(v):
                    continue
                if above is not None and v > float(above):
                    out.append(
                        AlertDraft(
                            m.name, "threshold", window_seconds, starts[i], v, f"{v:.4g} > {above}"
                        )
                    )
                elif below is not None and v < float(below):
                    out.append(
                        AlertDraft(
                            m.name, "threshold", window_seconds, starts[i], v, f"{v:.4g} < {below}"
                        )
                    )
        elif kind == "zscore":
            hist = int(rule.get("history", _HISTORY))
            need = int(rule.get("min_history", _MIN_HISTORY))
            zmax = float(rule.get("z", 5.0))
            min_change = float(rule.get("min_change", 0.0))
            direction = rule.get("direction", "both")
            prior = series.shift(1).rolling(hist, min_periods=need)
            mean = prior.mean().to_numpy()
            std = prior.std().to_numpy()
            for i in np.flatnonzero(eligible):
                v, mu, sd = values[i], mean[i], std[i]
                if math.isnan(v) or math.isnan(mu):
                    continue
                change = v - mu
                if abs(change) < max(min_change, 1e-12):
                    continue
                z = change / sd if sd > 0 else math.copysign(math.inf, change)
                if (direction in ("both", "up") and z > zmax) or (
                    direction in ("both", "down") and z < -zmax
                ):
                    out.append(
                        AlertDraft(
                            m.name,
                            "zscore",
                            window_seconds,
                            starts[i],
                            v,
                            f"{v:.4g} is {z:+.1f} sd from the trailing mean {mu:.4g}",
                        )
                    )
    if drift_cols:
        pvals = wide[[m.name for m, _ in drift_cols]].to_numpy(dtype=float)
        for i in np.flatnonzero(eligible):
            row = pvals[i]
            ok = ~np.isnan(row)
            if not ok.any():
                continue
            adjusted = holm([float(p) for p in row[ok]])
            for (m, alpha), p_raw, p_adj in zip(
                [d for d, good in zip(drift_cols, ok, strict=True) if good],
                row[ok],
                adjusted,
                strict=True,
            ):
                if p_adj <= alpha:
                    out.append(
                        AlertDraft(
                            m.name,
                            "drift",
                            window_seconds,
                            starts[i],
                            float(p_raw),
                            f"drift: p = {p_raw:.2g} (Holm-adjusted {p_adj:.2g} <= {alpha})",
                        )
                    )
    return out


def notify_webhook(
    url: str,
    model: str,
    incident: IncidentRecord,
    alerts: Sequence[AlertRecord],
    timeout: float = 5.0,
) -> bool:
    """POST a JSON summary of a new incident to ``url``; True when it was accepted (2xx).

    A receiver that is down or slow never breaks monitoring: the failure is returned, and the
    incident stays un-notified so the next run tries again.
    """
    body: dict[str, Any] = {
        "model": model,
        "incident": incident.id,
        "title": incident.title,
        "opened_at": incident.opened_at,
        "alerts": [
            {
                "id": a.id,
                "metric": a.metric,
                "rule": a.rule,
                "window_start": a.window_start,
                "value": a.value,
                "detail": a.detail,
            }
            for a in alerts
        ],
    }
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return 200 <= resp.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False
