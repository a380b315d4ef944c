"""Monitors: init a catalog from a reference, compute windows (run, backfill), raise alerts.

import loopml
loopml.monitoring.init("fraud", reference="fraud-train@3", window="1h")
loopml.monitoring.backfill("fraud", since=t0, until=t1)      # one pass over the history
loopml.monitoring.run("fraud")                                # the windows closed since

``run`` computes a window only once the log holds all its rows: once its end is behind the log's
watermark (every live server has written out its rows up to there). Rows that still land after
their window was computed are late rows: the window is recomputed (see ``_late.py``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopml._errors import NotFoundError, ValidationError
from loopml.monitoring._alerts import evaluate_rules, notify_webhook
from loopml.monitoring._catalog import generate_catalog, profile_reference
from loopml.monitoring._compute import WindowValues, compute_windows, parse_window
from loopml.monitoring._metrics import Metric, make_metric

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

    from loopml.store import (
        AlertRecord,
        CatalogVersion,
        CompactionResult,
        IncidentRecord,
        SchemaChange,
        Store,
    )

__all__ = [
    "MonitorRun",
    "active_metrics",
    "add_metric",
    "alerts",
    "backfill",
    "catalog",
    "catalog_versions",
    "compact_log",
    "incidents",
    "init",
    "mark",
    "run",
    "values",
]

_HISTORY_WINDOWS = 24


def _store(store: Store | None) -> Store:
    if store is not None:
        return store
    from loopml.tracking import default_session

    return default_session().store


def _epoch(value: float | dt.datetime | str | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp()
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError(
                f"time {value!r} is not understood; write ISO 8601 such as 2026-11-30T14:00"
            ) from None
        return _epoch(parsed)
    return float(value)


@dataclass
class MonitorRun:
    """What one run or backfill did."""

    model: str
    window_seconds: int
    since: float
    until: float
    windows: int = 0
    empty_windows: list[float] = field(default_factory=list)
    values_written: int = 0
    alerts: list[AlertRecord] = field(default_factory=list)
    incidents: list[IncidentRecord] = field(default_factory=list)
    notified: list[int] = field(default_factory=list)
    schema_changes: list[SchemaChange] = field(default_factory=list)
    seconds: float = 0.0
    nodes: list[str] = field(default_factory=list)  # Ray nodes that computed windows
    # run() only: the log's watermark (None: no live writer), live writers left out as stuck,
    # and the windows computed before that were recomputed for rows that landed late.
    watermark: float | None = None
    stale_writers: list[str] = field(default_factory=list)
    recomputed: list[float] = field(default_factory=list)
    late_rows: int = 0


def init(
    model: str,
    reference: Any = None,
    *,
    reference_since: float | dt.datetime | str | None = None,
    reference_until: float | dt.datetime | str | None = None,
    window: str | int = "1h",
    webhook: str | None = None,
    segments: int = 3,
    store: Store | None = None,
) -> CatalogVersion:
    """Generate every applicable metric for ``model`` and store them as a new catalog version.

    ``reference``: a DataFrame or a dataset version reference (``"name@3"``: the training
    data); or give ``reference_since``/``reference_until`` to use a window of the log. Its
    features are the log's ``in.<feature>`` columns. ``window``: 1m to 1d. ``webhook``: a URL that
    receives a JSON POST for each new incident.
    """
    store = _store(store)
    seconds = parse_window(window)
    if webhook is not None and not str(webhook).startswith(("http://", "https://")):
        raise ValidationError(f"webhook must be an http(s) URL, got {webhook!r}")
    reader = store.predictions
    reader.model_dir(model)  # checks the name
    classes = [str(c) for c in reader.classes(model) or []]
    description, frame = _reference_frame(store, model, reference, reference_since, reference_until)
    log_files = reader.files(model)
    features = None
    if log_files:
        present, _ = reader.columns(log_files[-50:])
        log_features = [c[3:] for c in present if c.startswith("in.")]
        cols = {c[3:] if c.startswith("in.") else c for c in frame.columns}
        features = [f for f in log_features if f in cols]
        if not features:
            raise ValidationError(
                f"the reference shares no feature with {model}'s log (log features: "
                f"{log_features[:8]}); name its columns like the log's in.<feature> columns"
            )
    profile = profile_reference(frame, features=features, classes=classes, description=description)
    metrics = generate_catalog(profile, segments=segments)
    config = {
        "window_seconds": seconds,
        "reference": description,
        "webhook": webhook,
        "classes": profile.classes,
    }
    surface = store.monitors
    surface.save_monitor(model, config)
    return surface.new_catalog_version(
        model,
        f"generated {len(metrics)} metrics from {description}",
        add=[(m.name, m.kind, json.dumps(m.spec())) for m in metrics],
    )


def _reference_frame(
    store: Store, model: str, reference: Any, since: Any, until: Any
) -> tuple[str, pd.DataFrame]:
    import pandas as pd

    if isinstance(reference, pd.DataFrame):
        return "a DataFrame", reference
    if isinstance(reference, str):
        from loopml.datasets import get

        version = get(reference, store=store)
        return f"dataset {version.ref}", version.to_pandas()
    if reference is not None:
        raise ValidationError(
            f"reference must be a DataFrame or a dataset reference such as 'train@1', got "
            f"{type(reference).__name__}"
        )
    lo, hi = _epoch(since), _epoch(until)
    if lo is None or hi is None or hi <= lo:
        raise ValidationError(
            "give a reference: a dataset version (reference='train@1') or a window of the log "
            "(reference_since='2026-11-01', reference_until='2026-11-08')"
        )
    frame = store.predictions.rows(model, lo, hi)
    if frame.empty:
        raise NotFoundError(
            f"{model}'s log has no rows between {dt.datetime.fromtimestamp(lo, dt.UTC):%Y-%m-%d %H:%M}"
            f" and {dt.datetime.fromtimestamp(hi, dt.UTC):%Y-%m-%d %H:%M}; pick a window with traffic"
        )
    ok = frame["status"] < 400 if "status" in frame else slice(None)
    frame = frame[ok]
    return (
        f"log {dt.datetime.fromtimestamp(lo, dt.UTC):%Y-%m-%d %H:%M}.."
        f"{dt.datetime.fromtimestamp(hi, dt.UTC):%Y-%m-%d %H:%M}",
        frame,
    )


def add_metric(
    model: str, name: str, kind: str, *, store: Store | None = None, **params: Any
) -> CatalogVersion:
    """Add one metric (e.g. ``kind="sql", sql="avg(...)"`` or ``kind="python",
    function="pkg.mod:fn"``) as a new catalog version."""
    store = _store(store)
    metric = make_metric(kind, name, params)
    metric.aggregates()  # validates the parameters before anything is stored
    return store.monitors.new_catalog_version(
        model, f"added {name} ({kind})", add=[(name, kind, json.dumps(metric.spec()))]
    )


def catalog(
    model: str, *, state: str | None = "active", store: Store | None = None
) -> list[Metric]:
    """The catalog's metrics as metric objects (``state``: active, pruned or None for all)."""
    store = _store(store)
    store.monitors.get_monitor(model)
    return [make_metric(d.kind, d.name, d.spec) for d in store.monitors.metrics(model, state)]


active_metrics = catalog


def catalog_versions(model: str, *, store: Store | None = None) -> list[CatalogVersion]:
    """How the catalog evolved: each version with its note and active metric count."""
    return _store(store).monitors.catalog_versions(model)


def _window(store: Store, model: str) -> int:
    return int(store.monitors.get_monitor(model).config["window_seconds"])


def _write(store: Store, model: str, wv: WindowValues) -> int:
    rows = [
        (w, m, None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v), n)
        for w, m, v, n in wv.frame.itertuples(index=False)
    ]
    return store.monitors.write_values(model, wv.window_seconds, rows)


def _alert_and_notify(
    store: Store, model: str, metrics: Sequence[Metric], seconds: int, since: float, until: float
) -> tuple[list[AlertRecord], list[IncidentRecord], list[int]]:
    surface = store.monitors
    history = surface.values(
        model, seconds, [m.name for m in metrics], since - _HISTORY_WINDOWS * seconds, until
    )
    if history.empty:
        return [], [], []
    wide = history.pivot(index="window_start", columns="metric", values="value")
    drafts = evaluate_rules(metrics, wide, seconds, only_after=since)
    new = surface.add_alerts(model, drafts, incident_gap=2.0 * seconds)
    touched = {a.incident_id for a in new}
    incidents = [i for i in surface.incidents(model) if i.id in touched]
    notified: list[int] = []
    webhook = surface.get_monitor(model).config.get("webhook")
    if webhook:
        for inc in surface.incidents(model):
            if inc.notified_at is None and notify_webhook(
                webhook, model, inc, surface.alerts(model, incident=inc.id)
            ):
                surface.mark_notified(inc.id)
                notified.append(inc.id)
    return new, incidents, notified


def backfill(
    model: str,
    since: float | dt.datetime | str,
    until: float | dt.datetime | str,
    *,
    ray_address: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    store: Store | None = None,
) -> MonitorRun:
    """Compute every active metric over each window of [since, until) and raise their alerts.

    Locally the whole range is one DuckDB pass; with ``ray_address`` the range is split in
    days, each computed by a Ray task on the cluster (the tasks read the same Parquet files, so
    the data folder must be shared), and the values are written here.
    """
    store = _store(store)
    lo, hi = _epoch(since), _epoch(until)
    if lo is None or hi is None or hi <= lo:
        raise ValidationError(f"backfill needs since < until, got {since!r} and {until!r}")
    seconds = _window(store, model)
    lo = math.floor(lo / seconds) * seconds
    metrics = catalog(model, store=store)
    started = time.monotonic()
    if ray_address:
        from loopml.monitoring._ray import backfill_on_ray

        parts = backfill_on_ray(ray_address, store, model, metrics, seconds, lo, hi, progress)
    else:
        parts = [compute_windows(metrics, store.predictions, model, seconds, lo, hi)]
    result = MonitorRun(model, seconds, lo, hi)
    starts: set[float] = set()
    for wv in parts:
        result.values_written += _write(store, model, wv)
        starts.update(float(w) for w in wv.frame["window_start"].unique())
        result.empty_windows += wv.empty_windows
        result.schema_changes += [c for c in wv.schema_changes if c not in result.schema_changes]
        if wv.node and wv.node not in result.nodes:
            result.nodes.append(wv.node)
    result.empty_windows.sort()
    result.windows = len(starts - set(result.empty_windows))
    result.alerts, result.incidents, result.notified = _alert_and_notify(
        store, model, metrics, seconds, lo, hi
    )
    result.seconds = time.monotonic() - started
    return result


def run(
    model: str, *, now: float | dt.datetime | None = None, store: Store | None = None
) -> MonitorRun:
    """Compute the windows that closed since the last run (the last day on the first run),
    raise their alerts and notify new incidents.

    A window closes once its end is behind both ``now`` and the log's watermark (every live
    server wrote out its rows up to there; servers that died or are stuck are left out). A
    window computed before whose row count in the log has changed since (rows that landed late)
    is recomputed: its values replaced, its alerts evaluated again (``recomputed``,
    ``late_rows``).
    """
    from loopml.monitoring._late import late_parts
    from loopml.serving import log_watermark

    store = _store(store)
    seconds = _window(store, model)
    now_s = _epoch(now) if now is not None else time.time()
    assert now_s is not None
    # The watermark first, the listing of the log's parts next: a part written in time for a
    # window is written before its writer's mark moves past the window, so it is listed here.
    mark = log_watermark(store, model, now_s)
    watch = late_parts(store, model)
    new_files = watch.new_files(store, model)
    try:
        limit = now_s if mark.until is None else min(now_s, mark.until)
        until = math.floor(limit / seconds) * seconds
        last = store.monitors.last_window(model, seconds)
        computed = last + seconds if last is not None else None  # end of the computed windows
        since = computed if computed is not None else until - _HISTORY_WINDOWS * seconds
        if since >= until:
            result = MonitorRun(model, seconds, since, until)
        else:
            result = backfill(model, since, until, store=store)
        result.watermark = mark.until
        result.stale_writers = list(mark.stale)
        if computed is not None:
            _recompute_late(store, model, seconds, computed, new_files, result)
    except BaseException:
        watch.forget()  # the new files were not dealt with: the next run checks the counts
        raise
    return result


def _recompute_late(
    store: Store,
    model: str,
    seconds: int,
    computed: float,
    new_files: list[Path] | None,
    result: MonitorRun,
) -> None:
    """Recompute the windows before ``computed`` whose rows changed (new parts reach them, or,
    on a process's first run, any of the last day's windows)."""
    from loopml.monitoring._late import RECHECK_ON_START, changed_windows, windows_reached

    # The row count stored with a one-pass metric's value is the window's row count.
    counted = next(
        (m.name for m in catalog(model, store=store) if m.kind not in ("accuracy", "python")),
        None,
    )
    if counted is None:
        return
    if new_files is None:
        since = computed - max(RECHECK_ON_START, 2.0 * seconds)
        changed = changed_windows(store, model, seconds, counted, since, computed)
    else:
        reached = windows_reached(store, new_files, seconds, computed)
        if not reached:
            return
        changed = changed_windows(
            store, model, seconds, counted, reached[0], reached[-1] + seconds, reached
        )
    if not changed:
        return
    starts = sorted(changed)
    runs: list[list[float]] = [[starts[0]]]
    for w in starts[1:]:
        if w - runs[-1][-1] == seconds:
            runs[-1].append(w)
        else:
            runs.append([w])
    for group in runs:
        redo = backfill(model, group[0], group[-1] + seconds, store=store)
        result.values_written += redo.values_written
        result.alerts += redo.alerts
        result.incidents += [i for i in redo.incidents if i not in result.incidents]
        result.notified += redo.notified
        result.schema_changes += [c for c in redo.schema_changes if c not in result.schema_changes]
    result.recomputed = starts
    result.late_rows = sum(max(0, now - then) for then, now in changed.values())


def values(
    model: str,
    *,
    metrics: Sequence[str] | None = None,
    since: float | dt.datetime | str | None = None,
    until: float | dt.datetime | str | None = None,
    store: Store | None = None,
) -> pd.DataFrame:
    """Stored metric values: windows as rows (UTC times), metrics as columns."""
    import pandas as pd

    store = _store(store)
    seconds = _window(store, model)
    long = store.monitors.values(model, seconds, metrics, _epoch(since), _epoch(until))
    if long.empty:
        return pd.DataFrame()
    wide = long.pivot(index="window_start", columns="metric", values="value")
    wide.index = pd.to_datetime(wide.index, unit="s", utc=True)
    return wide


def alerts(
    model: str,
    *,
    metric: str | None = None,
    incident: int | None = None,
    verdict: str | None = None,
    limit: int | None = None,
    store: Store | None = None,
) -> list[AlertRecord]:
    """The model's alerts, newest first (``verdict``: useful, noise or 'none' for unjudged)."""
    store = _store(store)
    store.monitors.get_monitor(model)
    return store.monitors.alerts(
        model, metric=metric, incident=incident, verdict=verdict, limit=limit
    )


def incidents(model: str, *, store: Store | None = None) -> list[IncidentRecord]:
    """The model's incidents (alerts of neighbouring windows grouped), newest first."""
    store = _store(store)
    store.monitors.get_monitor(model)
    return store.monitors.incidents(model)


def mark(
    alert_ids: int | Sequence[int],
    verdict: str | None,
    *,
    by: str | None = None,
    store: Store | None = None,
) -> int:
    """Mark alerts ``useful`` or ``noise`` (None clears); returns how many were marked."""
    ids = [alert_ids] if isinstance(alert_ids, int) else list(alert_ids)
    if not ids:
        raise ValidationError("give at least one alert id to mark")
    return _store(store).monitors.set_verdict(ids, verdict, by)


def compact_log(
    model: str, *, closed_after: float = 600.0, store: Store | None = None
) -> CompactionResult:
    """Merge each closed hour of ``model``'s prediction log into one file (an hour closes
    ``closed_after`` seconds after its end); safe while servers write and readers read."""
    return _store(store).predictions.compact(model, closed_after=closed_after)
