"""Which metrics prove their use, and which to prune (with reasons), keeping what matters.

Per metric: alerts fired, how many were marked useful or noise, lead time before a performance
drop (the first alert of ``performance.accuracy`` in the same incident), whether it is dead
(never varied) and which other metric it moves with (|correlation| >= 0.98: a redundancy
cluster). The suggestion keeps, for every incident with a useful alert, the metrics that alerted
first (a greedy cover, preferring the most precise), so every incident still alerts with the same
lead time; it prunes dead metrics, metrics whose alerts were all noise, metrics that never
alerted while others caught incidents, and useful metrics that only repeat what a kept metric
already caught as early. A pruned metric keeps its history and can be restored.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from loopml._errors import ValidationError
from loopml.monitoring._monitor import _store, _window, catalog

if TYPE_CHECKING:
    import pandas as pd

    from loopml.store import CatalogVersion, Store

__all__ = ["PrunePlan", "PruneSuggestion", "prune", "restore", "usefulness"]

_PERFORMANCE = "performance.accuracy"
_REDUNDANT_CORR = 0.98


@dataclass(frozen=True, slots=True)
class PruneSuggestion:
    """One metric to prune and why."""

    metric: str
    reason: str
    category: str  # dead, noise, silent, redundant


@dataclass
class PrunePlan:
    """The suggestion for a catalog: what to prune, what to keep, and the version if applied."""

    model: str
    prune: list[PruneSuggestion] = field(default_factory=list)
    keep: list[str] = field(default_factory=list)
    applied: CatalogVersion | None = None

    @property
    def share_pruned(self) -> float:
        """Share of the active metrics the plan prunes."""
        total = len(self.prune) + len(self.keep)
        return len(self.prune) / total if total else 0.0


def usefulness(model: str, *, store: Store | None = None) -> pd.DataFrame:
    """One row per active metric: alerts, useful, noise, useful_share, lead_hours, dead, moves_with."""
    import numpy as np
    import pandas as pd

    store = _store(store)
    seconds = _window(store, model)
    metrics = catalog(model, store=store)
    names = [m.name for m in metrics]
    long = store.monitors.values(model, seconds, names)
    wide = (
        long.pivot(index="window_start", columns="metric", values="value")
        if not long.empty
        else pd.DataFrame(columns=names)
    )
    alerts = store.monitors.alerts(model)
    perf_first: dict[int, float] = {}
    for a in alerts:
        if a.metric == _PERFORMANCE and a.incident_id is not None:
            perf_first[a.incident_id] = min(
                perf_first.get(a.incident_id, a.window_start), a.window_start
            )
    rows = []
    stds = wide.std(skipna=True) if not wide.empty else pd.Series(dtype=float)
    nunique = wide.nunique(dropna=True) if not wide.empty else pd.Series(dtype=float)
    moves_with = _clusters(wide)
    for m in metrics:
        mine = [a for a in alerts if a.metric == m.name]
        useful = sum(a.verdict == "useful" for a in mine)
        noise = sum(a.verdict == "noise" for a in mine)
        leads = []
        firsts: dict[int, float] = {}
        for a in mine:
            if a.incident_id is not None:
                firsts[a.incident_id] = min(
                    firsts.get(a.incident_id, a.window_start), a.window_start
                )
        for inc, t in firsts.items():
            if inc in perf_first and m.name != _PERFORMANCE:
                leads.append((perf_first[inc] - t) / 3600)
        sd = float(stds.get(m.name, np.nan)) if m.name in stds else np.nan
        rows.append(
            {
                "metric": m.name,
                "kind": m.kind,
                "group": m.group,
                "alerts": len(mine),
                "useful": useful,
                "noise": noise,
                "useful_share": useful / (useful + noise) if useful + noise else np.nan,
                "lead_hours": max(leads) if leads else np.nan,
                "dead": bool(m.name in nunique and nunique[m.name] <= 1) or sd == 0.0,
                "moves_with": moves_with.get(m.name, ""),
            }
        )
    return pd.DataFrame(rows)


def _clusters(wide: pd.DataFrame) -> dict[str, str]:
    """For each metric, the first (by name) metric it moves with (|r| >= 0.98), if any."""
    import numpy as np

    if wide.empty or len(wide) < 8:
        return {}
    varying = wide.loc[:, wide.std(skipna=True) > 0]
    if varying.shape[1] < 2:
        return {}
    x = varying.to_numpy(dtype=float)
    x = np.where(np.isnan(x), np.nanmean(x, axis=0), x)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    corr = np.abs(x.T @ x / len(x))
    cols = list(varying.columns)
    out: dict[str, str] = {}
    for i, name in enumerate(cols):
        mates = [cols[j] for j in np.flatnonzero(corr[i] >= _REDUNDANT_CORR) if j != i]
        if mates:
            out[name] = min(mates)
    return out


def _plan(model: str, store: Store, keep: Sequence[str]) -> PrunePlan:
    table = usefulness(model, store=store)
    plan = PrunePlan(model)
    if table.empty:  # a monitor with no metric yet: nothing to prune (no columns to read)
        return plan
    alerts = store.monitors.alerts(model)
    # The incidents with a useful alert, and for each the earliest useful alert time.
    useful = [
        (a.incident_id, a) for a in alerts if a.verdict == "useful" and a.incident_id is not None
    ]
    first: dict[int, float] = {}
    for inc, a in useful:
        first[inc] = min(first.get(inc, a.window_start), a.window_start)
    catches: dict[str, set[int]] = {}
    for inc, a in useful:
        if a.window_start == first[inc]:
            catches.setdefault(a.metric, set()).add(inc)
    share = dict(zip(table["metric"], table["useful_share"].fillna(0.0), strict=True))
    pinned = {m for m in table["metric"] if any(fnmatch.fnmatch(m, p) for p in keep)}
    cover: set[str] = set(pinned & set(catches))
    uncovered = set(first) - {i for m in cover for i in catches[m]}
    while uncovered:
        best = max(
            catches,
            key=lambda m: (len(catches[m] & uncovered), share.get(m, 0.0), -len(m), m),
        )
        if not catches[best] & uncovered:
            break
        cover.add(best)
        uncovered -= catches[best]
    if _PERFORMANCE in set(table["metric"]):
        cover.add(_PERFORMANCE)  # realized performance is what lead times are measured against
    keepers = cover | pinned
    for r in table.to_dict("records"):
        name = str(r["metric"])
        n_alerts, n_useful, n_noise = int(r["alerts"]), int(r["useful"]), int(r["noise"])
        if name in keepers:
            plan.keep.append(name)
        elif r["dead"]:
            plan.prune.append(PruneSuggestion(name, "dead: never varied over the history", "dead"))
        elif n_alerts and n_useful == 0 and n_noise == n_alerts:
            plan.prune.append(
                PruneSuggestion(name, f"noise: {n_alerts} alerts, all marked noise", "noise")
            )
        elif n_useful:
            by = sorted(
                m for m in cover if catches.get(name, set()) <= catches.get(m, set()) and m != name
            )
            plan.prune.append(
                PruneSuggestion(
                    name,
                    "redundant: its incidents were caught as early by "
                    + (", ".join(by[:2]) if by else "the kept metrics"),
                    "redundant",
                )
            )
        elif not first:
            plan.keep.append(name)  # no incident judged yet: no evidence either way
        elif n_alerts:
            plan.keep.append(name)  # alerted but not judged yet: judge it first
        else:
            mate = f" (moves with {r['moves_with']})" if r["moves_with"] else ""
            plan.prune.append(
                PruneSuggestion(
                    name,
                    f"silent: no alert while {len(first)} incidents were caught by others{mate}",
                    "silent",
                )
            )
    return plan


def prune(
    model: str,
    *,
    apply: bool = False,
    keep: Sequence[str] = (),
    store: Store | None = None,
) -> PrunePlan:
    """Suggest which metrics to prune, with reasons; ``apply=True`` prunes them (history kept)
    in a new catalog version. ``keep``: name patterns never pruned (``"latency.*"``)."""
    store = _store(store)
    if isinstance(keep, str):
        keep = [keep]
    plan = _plan(model, store, keep)
    if apply and plan.prune:
        plan.applied = store.monitors.new_catalog_version(
            model,
            f"pruned {len(plan.prune)} metrics",
            prune=[(s.metric, s.reason) for s in plan.prune],
        )
    return plan


def restore(
    model: str, metrics: str | Sequence[str], *, store: Store | None = None
) -> CatalogVersion:
    """Bring pruned metrics back (their history was kept) in a new catalog version."""
    store = _store(store)
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    if not names:
        raise ValidationError("name at least one metric to restore")
    pruned = {d.name for d in store.monitors.metrics(model, "pruned")}
    active = [n for n in names if n not in pruned]
    if active and all(d.name != active[0] for d in store.monitors.metrics(model)):
        pass  # unknown names: the store's NotFoundError (with a suggestion) says so
    elif active:
        raise ValidationError(
            f"metric {active[0]!r} is not pruned; `loopml monitor prune {model}` lists the pruned"
        )
    return store.monitors.new_catalog_version(
        model,
        f"restored {', '.join(names[:3])}" + ("..." if len(names) > 3 else ""),
        restore=[(n, "restored") for n in names],
    )
