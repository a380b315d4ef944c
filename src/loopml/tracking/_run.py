"""``Run``: the live handle a training script logs through, writing to a crash-safe journal."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from loopml._errors import LoopmlError, ValidationError
from loopml._values import check_key, check_step, to_float
from loopml.tracking._base import FINAL_STATUSES, BaseRun
from loopml.tracking._journal_records import (
    artifacts_record,
    metrics_record,
    params_record,
    tags_record,
)
from loopml.tracking._media import Media
from loopml.tracking._writer import OpenJournal, flush

if TYPE_CHECKING:
    from loopml.store import RunRecord, Store
    from loopml.tracking._session import Session

__all__ = ["FINAL_STATUSES", "Run"]

_time_ns = time.time_ns


class Run(BaseRun):
    """A run in progress. ``log()`` appends to the run's journal and returns at once.

    Thread-safe: several threads may log to one run. Use as a context manager so that an
    exception marks the run ``failed`` with its traceback::

        with loopml.init(project="digits", config={"lr": 0.1}) as run:
            run.log({"loss": 0.3})
    """

    # Set by loopml.init when this process's system-metrics thread samples for the run.
    _system_metrics: bool = False
    # Called (once each) when the run ends, before it closes: loggers that batch values (the
    # LightGBM callback) write what they hold. See ``before_finish``.
    _before_finish: tuple[Any, ...] = ()

    def __init__(
        self,
        session: Session,
        run_id: str,
        project: str,
        name: str,
        journal: OpenJournal,
        params: dict[str, str] | None = None,
        step: int = 0,
        report_metric: str | None = None,
    ) -> None:
        super().__init__(run_id, project, name, params or {}, step)
        self._session = session
        self._journal = journal
        self._append = journal.file.append
        self._file = journal.file
        self._lock = journal.append_lock
        self._report_to = report_metric or "objective"

    @property
    def store(self) -> Store:
        """The store this run writes to."""
        return self._session.store

    # -- logging -------------------------------------------------------------------------------
    def log(self, data: Mapping[str, Any], step: int | None = None) -> None:
        """Log metric values at ``step`` (default: one past the last step logged).

        Values must be numbers; NaN and infinities are kept as such. This is the hot path: one
        record formatted and copied into the journal's memory map, no system call.
        """
        if type(data) is not dict:
            data = self._as_dict(data)
        keys = self._keys
        fields = ""
        for k, v in data.items():
            if k not in keys:
                keys.add(check_key(k))
            if type(v) is not float:
                if isinstance(v, Media):  # off the number path: media are files
                    return self._log_media(data, step)
                v = to_float(k, v)
            fields += f"\t{k}\t{v!r}"
        if not fields:
            return
        with self._lock:
            if self._finished:
                raise LoopmlError(
                    f"run {self.id} has ended ({self.status}); start a new run to log more"
                )
            step = self._step if step is None else check_step(step)
            self._step = step + 1
            record = metrics_record(step, _time_ns() // 1000, fields)
            file = self._file
            end = file.position + len(record)
            if end > file.size:
                file.reserve(end)
            file.map[file.position : end] = record
            file.position = end

    def _log_media(self, data: dict[str, Any], step: int | None) -> None:
        """``log()`` with media values: numbers as usual, each media value as artifact files
        ``media/<key>/step-<step>...`` recorded by the journal's artifact record."""
        import tempfile
        from pathlib import Path

        media = {k: v for k, v in data.items() if isinstance(v, Media)}
        numbers = {k: v for k, v in data.items() if not isinstance(v, Media)}
        for k in numbers:
            check_key(k)
        checked = {k: to_float(k, v) for k, v in numbers.items()}  # fail before writing files
        with self._lock:
            self._check_open()
            step = self._step if step is None else check_step(step)
            if not checked:
                self._step = step + 1
        if checked:
            self.log(checked, step=step)
        for key, value in media.items():
            with tempfile.TemporaryDirectory(prefix="loopml-media-") as tmp:
                for name, content in value.files(step).items():
                    (Path(tmp) / name).write_bytes(content)
                self.log_artifact(tmp, f"media/{key}")

    def log_system(self, values: Mapping[str, float], sample: int) -> None:
        """Write one system-metrics sample at step ``sample``; the run's own step does not move.

        Called by the system-metrics thread (``tracking/_system.py``) with ``system/...`` keys.
        """
        fields = "".join(f"\t{k}\t{float(v)!r}" for k, v in values.items())
        if not fields:
            return
        record = metrics_record(check_step(sample), _time_ns() // 1000, fields)
        with self._lock:
            self._check_open()
            self._append(record)

    def _write_params(self, encoded: dict[str, tuple[str, float | None]]) -> None:
        with self._lock:
            self._append(params_record(encoded))

    def _write_tags(self, encoded: dict[str, str]) -> None:
        with self._lock:
            self._append(tags_record(encoded))

    def log_artifact(self, path: str, name: str | None = None) -> list[str]:
        """Copy a file or folder into the run's artifacts; returns the stored names."""
        self._check_open()
        session = self._session
        if session.backend is not session.store.runs:
            # A team server checks the run: a lazily created one gets its row first. The local
            # store copies files without reading the row (the artifact record lands with the
            # journal's next ingest, after the run's own), so no transaction is spent here.
            self.flush()
        records = session.backend.copy_artifacts(self.id, path, name)
        with self._lock:
            self._append(artifacts_record(records))
        return [r["name"] for r in records]

    def _report_metric(self) -> str:
        return self._report_to

    # -- ending --------------------------------------------------------------------------------
    def flush(self) -> None:
        """Wait until everything logged so far is in the store."""
        flush(self._session.backend, self._journal)

    def before_finish(self, hook: Any) -> None:
        """Call ``hook()`` when the run ends, just before it closes (still open for ``log``):
        for a logger that holds values back to write them in batches."""
        with self._lock:
            self._before_finish = (*self._before_finish, hook)

    def finish(self, status: str = "finished", error: str | None = None) -> None:
        """End the run: drain its journal into the store and set its final status."""
        if status not in FINAL_STATUSES:
            raise ValidationError(
                f"status {status!r} is not a final status; use one of {', '.join(FINAL_STATUSES)}"
            )
        if self._finished:
            return
        with self._lock:
            hooks, self._before_finish = self._before_finish, ()
        for hook in hooks:
            try:
                hook()
            except Exception as exc:  # a logger's failure must not keep the run from ending
                import warnings

                warnings.warn(f"loopml: {hook!r} failed at run end: {exc}", stacklevel=2)
        with self._lock:
            self._finished = True
        if self._system_metrics:
            from loopml.tracking._system import sampler

            sampler().unwatch(self)
        final: dict[str, Any] = {"status": status, "ended_at": time.time()}
        if error is not None:
            final["error"] = error
        self._session.close_run(self, final)
        self.status = status

    def record(self) -> RunRecord:
        """A snapshot of the run as stored now (flushes first)."""
        if not self._finished:
            self.flush()
        return self._session.backend.get(self.id)

    def __enter__(self) -> Run:
        return self

    # Used by the session to know what this run has already stored.
    @property
    def journal(self) -> OpenJournal:
        """The journal this handle appends to."""
        return self._journal
