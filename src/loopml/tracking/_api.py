"""The module-level API: ``loopml.init``, ``loopml.log``, ``loopml.runs``, ``loopml.get_run``..."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from loopml._errors import LoopmlError, ValidationError
from loopml.tracking._recovery import RecoveryReport
from loopml.tracking._run import Run
from loopml.tracking._session import default_session

if TYPE_CHECKING:
    import pandas as pd

    from loopml.store import RunRecord


def init(
    project: str,
    name: str | None = None,
    config: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    *,
    id: str | None = None,
    system_metrics: bool | None = None,
    system_metrics_interval: float | None = None,
    server: str | None = None,
) -> Run:
    """Start a run in ``project`` and return its live handle.

    ``config`` becomes the run's params (nested dicts flattened with dots); ``tags`` are
    mutable labels. ``id`` (or the ``LOOPML_RUN_ID`` environment variable, which sweeps set for
    the scripts they launch) attaches to an existing run instead of creating one.

    ``system_metrics`` (default on, ``LOOPML_SYSTEM_METRICS``) records CPU, memory, disk, network
    and GPU figures as ``system/...`` metrics every ``system_metrics_interval`` seconds
    (default 10, ``LOOPML_SYSTEM_METRICS_INTERVAL``), from one background thread per process.
    ``server`` logs to a team server (like ``LOOPML_TRACKING_URI``), with ``LOOPML_TOKEN`` or
    the token ``loopml login`` saved for it.
    """
    session = default_session() if server is None else _server_session(server)
    enabled = session.settings.system_metrics if system_metrics is None else system_metrics
    if not isinstance(enabled, bool):
        raise ValidationError(f"system_metrics={system_metrics!r} must be True or False")
    interval = session.settings.system_metrics_interval
    if system_metrics_interval is not None:
        interval = _check_interval(system_metrics_interval)
    run_id = id if id is not None else session.settings.run_id
    run = session.start_run(
        project, name, dict(config or {}), dict(tags or {}), run_id=run_id, lazy=True
    )
    if enabled:
        from loopml.tracking._system import watch

        run._system_metrics = True
        watch(run, interval)
    return run


def _check_interval(value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValidationError(
            f"system_metrics_interval={value!r} must be a positive number of seconds, e.g. 10"
        )
    return float(value)


def _server_session(url: str) -> Any:
    """The default session, switched to the team server at ``url`` if it logs elsewhere."""
    import dataclasses
    import os

    from loopml._config import saved_token
    from loopml.tracking._session import Session, set_default_session

    url = url.rstrip("/")
    session = default_session()
    if session.settings.tracking_uri == url:
        return session
    token = os.environ.get("LOOPML_TOKEN") or saved_token(url)
    switched = Session(dataclasses.replace(session.settings, tracking_uri=url, token=token))
    set_default_session(switched)
    return switched


def active_run() -> Run:
    """The most recently started run of this process that has not finished."""
    runs_ = default_session().active_runs
    if not runs_:
        raise LoopmlError("no active run: call run = loopml.init(project='...') first")
    return runs_[-1]


def log(data: Mapping[str, Any], step: int | None = None) -> None:
    """Log metrics to the active run (see :meth:`Run.log`)."""
    active_run().log(data, step=step)


def finish(status: str = "finished") -> None:
    """Finish the active run."""
    active_run().finish(status)


def runs(
    project: str | Sequence[str] | None = None,
    where: str | None = None,
    order_by: str | Sequence[str] | None = None,
    limit: int | None = 100,
) -> pd.DataFrame:
    """Runs as a DataFrame, one row each: attributes, ``params.*``, ``metrics.*`` (last), ``tags.*``.

    ``where`` is a filter such as ``"metrics.acc > 0.9 and params.model = 'svc'"``;
    ``order_by`` a list such as ``"-metrics.acc"`` (``-`` for descending). An unknown project,
    or a filter key no run has, raises an error naming the closest match instead of returning
    an empty frame.
    """
    import pandas as pd

    session = default_session()
    session.sync()  # read your own writes: this process's runs are in the store first
    session.backend.check_query(project, where)
    records = session.backend.search(project, where, order_by, limit)
    columns = [
        "id",
        "project",
        "name",
        "status",
        "created_at",
        "ended_at",
        "duration",
        "git_commit",
        "host",
        "sweep_id",
    ]
    frame = pd.DataFrame.from_records([r.to_flat_dict() for r in records])
    if frame.empty:
        return pd.DataFrame(columns=columns)
    extra = sorted(c for c in frame.columns if c not in columns)
    order = {"params": 0, "metrics": 1, "tags": 2}
    extra.sort(key=lambda c: (order.get(c.split(".", 1)[0], 3), c))
    return frame[columns + extra]


def get_run(run_id: str) -> RunRecord:
    """A stored run's snapshot, by id or unique id prefix; ``.history(keys)`` gives its series."""
    session = default_session()
    session.sync()
    return session.backend.get(run_id)


def recover() -> RecoveryReport:
    """Replay journals of dead processes now (also done when a store is first opened)."""
    return default_session().recover()
