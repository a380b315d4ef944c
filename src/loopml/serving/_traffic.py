"""Live traffic of a model from its prediction log: requests per second, latency percentiles,
class mix and versions, overall and per minute (what the deployments page shows)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from loopml._errors import ValidationError

if TYPE_CHECKING:
    from loopml.store import Store

__all__ = ["MinuteTraffic", "TrafficSummary", "deployed_models", "traffic"]


@dataclass(frozen=True)
class MinuteTraffic:
    """One minute of traffic."""

    minute: dt.datetime
    requests: int
    rows: int
    errors: int
    p50_ms: float | None
    p99_ms: float | None


@dataclass(frozen=True)
class TrafficSummary:
    """Traffic of ``model`` over the last ``minutes`` minutes (requests, not rows, for latency)."""

    model: str
    minutes: int
    requests: int
    rows: int
    errors: int
    qps: float  # over the last full minute with traffic in the window
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    classes: dict[str, int]
    versions: dict[int, int]
    last_seen: dt.datetime | None
    series: tuple[MinuteTraffic, ...]


def deployed_models(*, store: Store | None = None) -> list[str]:
    """Models that have a prediction log."""
    from loopml.serving._read import _store

    return _store(store).predictions.models()


def traffic(name: str, *, minutes: int = 60, store: Store | None = None) -> TrafficSummary:
    """Summarise the last ``minutes`` minutes of ``name``'s prediction log."""
    import duckdb

    from loopml.serving._read import _store

    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= 10_080:
        raise ValidationError(f"minutes must be an integer from 1 to 10080, not {minutes!r}")
    store = _store(store)
    now = dt.datetime.now(dt.UTC)
    since = now - dt.timedelta(minutes=minutes)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        rel = store.predictions.relation(con, name, since=since)
        if rel is None:
            return TrafficSummary(name, minutes, 0, 0, 0, 0.0, None, None, None, {}, {}, None, ())
        rel.create_view("log")
        con.execute(
            "CREATE TEMP VIEW req AS SELECT request_id, min(time) AS t, "
            "any_value(latency_ms) AS l, any_value(status) AS s, count(*) AS n "
            "FROM log GROUP BY request_id"
        )
        total = con.execute(
            "SELECT count(*), coalesce(sum(n) FILTER (WHERE s = 200), 0), count(*) FILTER (WHERE s <> 200), "
            "quantile_cont(l, 0.5), quantile_cont(l, 0.95), quantile_cont(l, 0.99), max(t) "
            "FROM req"
        ).fetchall()[0]
        series = con.execute(
            "SELECT date_trunc('minute', t) AS m, count(*), sum(n), "
            "count(*) FILTER (WHERE s <> 200), quantile_cont(l, 0.5), quantile_cont(l, 0.99) "
            "FROM req GROUP BY 1 ORDER BY 1"
        ).fetchall()
        classes = con.execute(
            "SELECT prediction::VARCHAR, count(*) FROM log WHERE status = 200 "
            "AND prediction IS NOT NULL GROUP BY 1 ORDER BY 2 DESC"
        ).fetchall()
        versions = con.execute(
            "SELECT model_version, count(*) FROM log WHERE model_version IS NOT NULL "
            "GROUP BY 1 ORDER BY 1"
        ).fetchall()
    finally:
        con.close()
    minutes_list = tuple(
        MinuteTraffic(_utc(m), int(r), int(n), int(e), _f(p50), _f(p99))
        for m, r, n, e, p50, p99 in series
    )
    # The last minute is still filling; the one before it gives a steady rate.
    current_minute = now.replace(second=0, microsecond=0)
    full = [m for m in minutes_list if m.minute < current_minute]
    qps = (
        full[-1].requests / 60 if full else (minutes_list[-1].requests / 60 if minutes_list else 0)
    )
    return TrafficSummary(
        model=name,
        minutes=minutes,
        requests=int(total[0]),
        rows=int(total[1]),
        errors=int(total[2]),
        qps=float(qps),
        p50_ms=_f(total[3]),
        p95_ms=_f(total[4]),
        p99_ms=_f(total[5]),
        classes={str(k): int(v) for k, v in classes},
        versions={int(k): int(v) for k, v in versions},
        last_seen=_utc(total[6]) if total[6] is not None else None,
        series=minutes_list,
    )


def _f(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value
