"""The monitoring surface: monitors, versioned metric catalogs, values per window, alerts,
incidents and verdicts (``store.monitors``). The prediction log itself is read through
``store.predictions`` (:class:`PredictionStore`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, delete, func, insert, select, update

from loopml._errors import NotFoundError, ValidationError
from loopml.store._dialect import bulk_upsert, chunks
from loopml.store._engine import read, run_write
from loopml.store._models import check_model_name
from loopml.store._schema_monitors import (
    monitor_alerts,
    monitor_catalogs,
    monitor_incidents,
    monitor_metrics,
    monitor_values,
    monitors,
)

if TYPE_CHECKING:
    import pandas as pd

    from loopml.store._store import Store

__all__ = [
    "AlertDraft",
    "AlertRecord",
    "CatalogVersion",
    "IncidentRecord",
    "MetricDef",
    "MonitorRecord",
    "MonitorStore",
]

VERDICTS = ("useful", "noise")


@dataclass(frozen=True, slots=True)
class MonitorRecord:
    """A model's monitor: its window, reference and notification settings (JSON config)."""

    model: str
    config_json: str
    created_at: float
    updated_at: float

    @property
    def config(self) -> dict[str, Any]:
        """The decoded configuration."""
        return dict(json.loads(self.config_json))


@dataclass(frozen=True, slots=True)
class CatalogVersion:
    """One version of a model's metric catalog."""

    model: str
    version: int
    note: str
    n_active: int
    created_at: float


@dataclass(frozen=True, slots=True)
class MetricDef:
    """A metric of the catalog: its registered class (``kind``) and parameters (JSON spec)."""

    model: str
    name: str
    kind: str
    spec_json: str
    state: str  # active, pruned
    added_in: int
    pruned_in: int | None
    reason: str | None

    @property
    def spec(self) -> dict[str, Any]:
        """The decoded parameters."""
        return dict(json.loads(self.spec_json))


@dataclass(frozen=True, slots=True)
class AlertDraft:
    """An alert to record (the store assigns its id and incident)."""

    metric: str
    rule: str
    window_seconds: int
    window_start: float
    value: float | None
    detail: str


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """A stored alert with its incident and verdict."""

    id: int
    model: str
    metric: str
    rule: str
    window_seconds: int
    window_start: float
    value: float | None
    detail: str
    incident_id: int | None
    verdict: str | None
    verdict_by: str | None
    verdict_at: float | None
    action_json: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    """Alerts of neighbouring windows grouped into one incident."""

    id: int
    model: str
    opened_at: float
    last_at: float
    title: str
    notified_at: float | None
    n_alerts: int
    n_useful: int
    n_noise: int


def _alert(r: Any) -> AlertRecord:
    return AlertRecord(
        id=int(r.id),
        model=r.model,
        metric=r.metric,
        rule=r.rule,
        window_seconds=int(r.window_seconds),
        window_start=float(r.window_start),
        value=None if r.value is None else float(r.value),
        detail=r.detail,
        incident_id=None if r.incident_id is None else int(r.incident_id),
        verdict=r.verdict,
        verdict_by=r.verdict_by,
        verdict_at=r.verdict_at,
        action_json=r.action,
        created_at=float(r.created_at),
    )


def _metric(r: Any) -> MetricDef:
    return MetricDef(
        model=r.model,
        name=r.name,
        kind=r.kind,
        spec_json=r.spec,
        state=r.state,
        added_in=int(r.added_in),
        pruned_in=None if r.pruned_in is None else int(r.pruned_in),
        reason=r.reason,
    )


class MonitorStore:
    """Monitoring operations on a :class:`Store` (thread-safe like the store itself)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    # -- monitors and catalog versions --------------------------------------------------------
    def save_monitor(self, model: str, config: dict[str, Any]) -> MonitorRecord:
        """Create or update ``model``'s monitor configuration."""
        check_model_name(model)  # it names the log's folder too
        now = time.time()
        text = json.dumps(config, sort_keys=True)

        def write(conn: Connection) -> None:
            found = conn.execute(select(monitors.c.model).where(monitors.c.model == model)).first()
            if found:
                conn.execute(
                    update(monitors)
                    .where(monitors.c.model == model)
                    .values(config=text, updated_at=now)
                )
            else:
                conn.execute(
                    insert(monitors).values(
                        model=model, config=text, created_at=now, updated_at=now
                    )
                )

        run_write(self.engine, write)
        return self.get_monitor(model)

    def get_monitor(self, model: str) -> MonitorRecord:
        """``model``'s monitor; NotFoundError names the command that creates one."""
        with read(self.engine) as conn:
            r = conn.execute(select(monitors).where(monitors.c.model == model)).first()
            names = [] if r else list(conn.execute(select(monitors.c.model)).scalars())
        if r is None:
            import difflib

            hint = difflib.get_close_matches(model, names, n=1)
            raise NotFoundError(
                f"no monitor for model {model!r}"
                + (f"; did you mean {hint[0]!r}?" if hint else "")
                + f" Create one with `loopml monitor init {model} --reference-since ...`"
            )
        return MonitorRecord(r.model, r.config, float(r.created_at), float(r.updated_at))

    def list_monitors(self) -> list[MonitorRecord]:
        """Every monitor, by model name."""
        with read(self.engine) as conn:
            rows = conn.execute(select(monitors).order_by(monitors.c.model)).all()
        return [MonitorRecord(r.model, r.config, r.created_at, r.updated_at) for r in rows]

    def new_catalog_version(
        self,
        model: str,
        note: str,
        add: Sequence[tuple[str, str, str]] = (),
        prune: Sequence[tuple[str, str]] = (),
        restore: Sequence[tuple[str, str]] = (),
    ) -> CatalogVersion:
        """One transaction: a new catalog version that adds, prunes and restores metrics.

        ``add``: (name, kind, spec JSON); a name already in the catalog keeps its history and
        gets the new spec. ``prune`` and ``restore``: (name, reason). Values are never deleted.
        """
        self.get_monitor(model)
        now = time.time()

        def write(conn: Connection) -> CatalogVersion:
            current = conn.execute(
                select(func.max(monitor_catalogs.c.version)).where(
                    monitor_catalogs.c.model == model
                )
            ).scalar()
            version = int(current or 0) + 1
            known = {
                r.name: r.state
                for r in conn.execute(
                    select(monitor_metrics.c.name, monitor_metrics.c.state).where(
                        monitor_metrics.c.model == model
                    )
                )
            }
            bad = [n for n, _ in [*prune, *restore] if n not in known]
            if bad:
                import difflib

                hint = difflib.get_close_matches(bad[0], list(known), n=1)
                raise NotFoundError(
                    f"no metric {bad[0]!r} in {model}'s catalog"
                    + (f"; did you mean {hint[0]!r}?" if hint else "")
                    + f" (list them with `loopml monitor catalog {model}`)"
                )
            new_rows = []
            for name, kind, spec in add:
                if name in known:
                    conn.execute(
                        update(monitor_metrics)
                        .where(
                            and_(monitor_metrics.c.model == model, monitor_metrics.c.name == name)
                        )
                        .values(kind=kind, spec=spec)
                    )
                else:
                    new_rows.append(
                        {
                            "model": model,
                            "name": name,
                            "kind": kind,
                            "spec": spec,
                            "state": "active",
                            "added_in": version,
                            "pruned_in": None,
                            "reason": None,
                        }
                    )
                    known[name] = "active"
            for batch in chunks(new_rows, 500):
                conn.execute(insert(monitor_metrics), batch)
            for name, reason in prune:
                conn.execute(
                    update(monitor_metrics)
                    .where(and_(monitor_metrics.c.model == model, monitor_metrics.c.name == name))
                    .values(state="pruned", pruned_in=version, reason=reason)
                )
            for name, reason in restore:
                conn.execute(
                    update(monitor_metrics)
                    .where(and_(monitor_metrics.c.model == model, monitor_metrics.c.name == name))
                    .values(state="active", pruned_in=None, reason=reason)
                )
            n_active = conn.execute(
                select(func.count())
                .select_from(monitor_metrics)
                .where(and_(monitor_metrics.c.model == model, monitor_metrics.c.state == "active"))
            ).scalar_one()
            conn.execute(
                insert(monitor_catalogs).values(
                    model=model, version=version, note=note, n_active=n_active, created_at=now
                )
            )
            return CatalogVersion(model, version, note, int(n_active), now)

        return run_write(self.engine, write)

    def catalog_versions(self, model: str) -> list[CatalogVersion]:
        """The catalog's versions, oldest first."""
        with read(self.engine) as conn:
            rows = conn.execute(
                select(monitor_catalogs)
                .where(monitor_catalogs.c.model == model)
                .order_by(monitor_catalogs.c.version)
            ).all()
        return [CatalogVersion(r.model, r.version, r.note, r.n_active, r.created_at) for r in rows]

    def metrics(self, model: str, state: str | None = None) -> list[MetricDef]:
        """The catalog's metrics (``state``: active or pruned; default both), by name."""
        q = select(monitor_metrics).where(monitor_metrics.c.model == model)
        if state is not None:
            q = q.where(monitor_metrics.c.state == state)
        with read(self.engine) as conn:
            return [_metric(r) for r in conn.execute(q.order_by(monitor_metrics.c.name))]

    # -- values ------------------------------------------------------------------------------
    def write_values(
        self,
        model: str,
        window_seconds: int,
        rows: Sequence[tuple[float, str, float | None, int]],
    ) -> int:
        """Store (window_start, metric, value, n) rows; a recomputed window replaces its values."""
        cols = ("model", "window_seconds", "window_start", "metric", "value", "n")
        full = [(model, int(window_seconds), float(w), m, v, int(n)) for w, m, v, n in rows]

        def write(conn: Connection) -> int:
            for batch in chunks(full, 5000):
                bulk_upsert(
                    conn,
                    monitor_values,
                    ["model", "window_seconds", "window_start", "metric"],
                    ["value", "n"],
                    cols,
                    batch,
                )
            return len(full)

        return run_write(self.engine, write)

    def values(
        self,
        model: str,
        window_seconds: int,
        metrics: Sequence[str] | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> pd.DataFrame:
        """Stored values as a long frame: ``metric``, ``window_start``, ``value``, ``n``."""
        import pandas as pd

        q = select(
            monitor_values.c.metric,
            monitor_values.c.window_start,
            monitor_values.c.value,
            monitor_values.c.n,
        ).where(
            and_(monitor_values.c.model == model, monitor_values.c.window_seconds == window_seconds)
        )
        if since is not None:
            q = q.where(monitor_values.c.window_start >= since)
        if until is not None:
            q = q.where(monitor_values.c.window_start < until)
        frames = []
        with read(self.engine) as conn:
            if metrics is None:
                frames.append(
                    pd.DataFrame(
                        conn.execute(q).all(), columns=["metric", "window_start", "value", "n"]
                    )
                )
            else:
                for batch in chunks(list(metrics)):
                    rows = conn.execute(q.where(monitor_values.c.metric.in_(batch))).all()
                    frames.append(
                        pd.DataFrame(rows, columns=["metric", "window_start", "value", "n"])
                    )
        out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if out.empty:
            return pd.DataFrame({"metric": [], "window_start": [], "value": [], "n": []})
        out["value"] = pd.to_numeric(out["value"], errors="coerce").astype(float)
        return out.sort_values(["metric", "window_start"], ignore_index=True)

    def last_window(self, model: str, window_seconds: int) -> float | None:
        """Start of the latest window with stored values."""
        with read(self.engine) as conn:
            v = conn.execute(
                select(func.max(monitor_values.c.window_start)).where(
                    and_(
                        monitor_values.c.model == model,
                        monitor_values.c.window_seconds == window_seconds,
                    )
                )
            ).scalar()
        return None if v is None else float(v)

    # -- alerts and incidents ----------------------------------------------------------------
    def add_alerts(
        self, model: str, drafts: Sequence[AlertDraft], incident_gap: float
    ) -> list[AlertRecord]:
        """Record new alerts (an alert already stored is skipped) and group them in incidents.

        An alert joins the model's latest incident when its window starts within
        ``incident_gap`` seconds of that incident's last alert; otherwise it opens a new one.
        Returns the alerts that were new.
        """
        now = time.time()

        def write(conn: Connection) -> list[int]:
            new_ids: list[int] = []
            for d in sorted(drafts, key=lambda d: (d.window_start, d.metric)):
                exists = conn.execute(
                    select(monitor_alerts.c.id).where(
                        and_(
                            monitor_alerts.c.model == model,
                            monitor_alerts.c.metric == d.metric,
                            monitor_alerts.c.rule == d.rule,
                            monitor_alerts.c.window_seconds == d.window_seconds,
                            monitor_alerts.c.window_start == d.window_start,
                        )
                    )
                ).first()
                if exists:
                    continue
                inc = conn.execute(
                    select(monitor_incidents)
                    .where(monitor_incidents.c.model == model)
                    .where(monitor_incidents.c.opened_at <= d.window_start + incident_gap)
                    .where(monitor_incidents.c.last_at >= d.window_start - incident_gap)
                    .order_by(monitor_incidents.c.last_at.desc())
                    .limit(1)
                ).first()
                if inc is None:
                    key = conn.execute(
                        insert(monitor_incidents).values(
                            model=model,
                            opened_at=d.window_start,
                            last_at=d.window_start,
                            title=f"{d.metric}: {d.detail}",
                        )
                    ).inserted_primary_key
                    assert key is not None
                    inc_id = key[0]
                else:
                    inc_id = inc.id
                    conn.execute(
                        update(monitor_incidents)
                        .where(monitor_incidents.c.id == inc_id)
                        .values(
                            opened_at=min(inc.opened_at, d.window_start),
                            last_at=max(inc.last_at, d.window_start),
                        )
                    )
                alert_key = conn.execute(
                    insert(monitor_alerts).values(
                        model=model,
                        metric=d.metric,
                        rule=d.rule,
                        window_seconds=d.window_seconds,
                        window_start=d.window_start,
                        value=d.value,
                        detail=d.detail,
                        incident_id=inc_id,
                        created_at=now,
                    )
                ).inserted_primary_key
                assert alert_key is not None
                new_ids.append(alert_key[0])
            return new_ids

        ids = run_write(self.engine, write)
        return self._alerts_by_id(ids)

    def _alerts_by_id(self, ids: Sequence[int]) -> list[AlertRecord]:
        out: list[AlertRecord] = []
        with read(self.engine) as conn:
            for batch in chunks(list(ids)):
                out += [
                    _alert(r)
                    for r in conn.execute(
                        select(monitor_alerts).where(monitor_alerts.c.id.in_(batch))
                    )
                ]
        return sorted(out, key=lambda a: a.id)

    def alert(self, alert_id: int) -> AlertRecord:
        """One alert by id."""
        found = self._alerts_by_id([int(alert_id)])
        if not found:
            raise NotFoundError(
                f"no alert {alert_id}; list them with `loopml monitor alerts MODEL`"
            )
        return found[0]

    def alerts(
        self,
        model: str,
        *,
        metric: str | None = None,
        incident: int | None = None,
        verdict: str | None = None,
        since: float | None = None,
        limit: int | None = None,
    ) -> list[AlertRecord]:
        """Alerts of ``model``, newest window first, filtered as asked."""
        q = select(monitor_alerts).where(monitor_alerts.c.model == model)
        if metric is not None:
            q = q.where(monitor_alerts.c.metric == metric)
        if incident is not None:
            q = q.where(monitor_alerts.c.incident_id == incident)
        if verdict == "none":
            q = q.where(monitor_alerts.c.verdict.is_(None))
        elif verdict is not None:
            q = q.where(monitor_alerts.c.verdict == verdict)
        if since is not None:
            q = q.where(monitor_alerts.c.window_start >= since)
        q = q.order_by(monitor_alerts.c.window_start.desc(), monitor_alerts.c.id.desc())
        if limit is not None:
            q = q.limit(limit)
        with read(self.engine) as conn:
            return [_alert(r) for r in conn.execute(q)]

    def incidents(self, model: str) -> list[IncidentRecord]:
        """Incidents of ``model``, newest first, with their alert and verdict counts."""
        counts = (
            select(
                monitor_alerts.c.incident_id,
                func.count().label("n"),
                func.sum(
                    func.coalesce((monitor_alerts.c.verdict == "useful").cast(type_=_int()), 0)
                ).label("u"),
                func.sum(
                    func.coalesce((monitor_alerts.c.verdict == "noise").cast(type_=_int()), 0)
                ).label("x"),
            )
            .where(monitor_alerts.c.model == model)
            .group_by(monitor_alerts.c.incident_id)
            .subquery()
        )
        q = (
            select(monitor_incidents, counts.c.n, counts.c.u, counts.c.x)
            .join(counts, counts.c.incident_id == monitor_incidents.c.id)
            .where(monitor_incidents.c.model == model)
            .order_by(monitor_incidents.c.opened_at.desc())
        )
        with read(self.engine) as conn:
            return [
                IncidentRecord(
                    r.id,
                    r.model,
                    r.opened_at,
                    r.last_at,
                    r.title,
                    r.notified_at,
                    int(r.n),
                    int(r.u or 0),
                    int(r.x or 0),
                )
                for r in conn.execute(q)
            ]

    def set_verdict(
        self, alert_ids: Sequence[int], verdict: str | None, by: str | None = None
    ) -> int:
        """Mark alerts useful or noise (None clears the verdict); returns how many changed."""
        if verdict not in (*VERDICTS, None):
            raise ValidationError(f"verdict must be 'useful' or 'noise', got {verdict!r}")
        ids = [int(i) for i in alert_ids]

        def write(conn: Connection) -> int:
            n = 0
            for batch in chunks(ids):
                n += conn.execute(
                    update(monitor_alerts)
                    .where(monitor_alerts.c.id.in_(batch))
                    .values(
                        verdict=verdict, verdict_by=by, verdict_at=time.time() if verdict else None
                    )
                ).rowcount
            return n

        changed = run_write(self.engine, write)
        if changed < len(set(ids)):
            raise NotFoundError(
                f"{len(set(ids)) - changed} of the alerts {ids[:5]} do not exist; "
                "list them with `loopml monitor alerts MODEL`"
            )
        return changed

    def set_action(self, alert_id: int, action: dict[str, Any]) -> None:
        """Record what was done about an alert (e.g. the dataset version sent to labeling)."""
        text = json.dumps(action, sort_keys=True)

        def write(conn: Connection) -> int:
            return conn.execute(
                update(monitor_alerts).where(monitor_alerts.c.id == alert_id).values(action=text)
            ).rowcount

        if not run_write(self.engine, write):
            raise NotFoundError(f"no alert {alert_id}")

    def mark_notified(self, incident_id: int) -> None:
        """Record that the incident's notification went out."""
        run_write(
            self.engine,
            lambda conn: conn.execute(
                update(monitor_incidents)
                .where(monitor_incidents.c.id == incident_id)
                .values(notified_at=time.time())
            ),
        )

    def delete_monitor(self, model: str) -> None:
        """Remove a monitor with its catalog, values, alerts and incidents (not the log)."""

        def write(conn: Connection) -> None:
            for table in (
                monitor_alerts,
                monitor_incidents,
                monitor_values,
                monitor_metrics,
                monitor_catalogs,
                monitors,
            ):
                conn.execute(delete(table).where(table.c.model == model))

        run_write(self.engine, write)


def _int() -> Any:
    from sqlalchemy import Integer

    return Integer()
