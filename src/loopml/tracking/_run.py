"""``Run``: the live handle a training script logs through."""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from loopml._errors import ConflictError, LoopmlError, ValidationError
from loopml.tracking._media import Media
from loopml.tracking._validate import (
    check_key,
    check_step,
    encode_param,
    encode_tag,
    flatten,
    to_float,
)
from loopml.tracking._writer import OpenJournal, flush

if TYPE_CHECKING:
    from loopml.store import RunRecord, Store
    from loopml.tracking._session import Session

__all__ = ["FINAL_STATUSES", "Run"]

FINAL_STATUSES = ("finished", "failed", "killed", "pruned")
_time_ns = time.time_ns


class Run:
    """A run in progress. ``log()`` appends to the run's journal and returns at once.

    Thread-safe: several threads may log to one run. Use as a context manager so that an
    exception marks the run ``failed`` with its traceback::

        with loopml.init(project="digits", config={"lr": 0.1}) as run:
            run.log({"loss": 0.3})
    """

    # Set by loopml.init when this process's system-metrics thread samples for the run.
    _system_metrics: bool = False

    def __init__(
        self,
        session: Session,
        run_id: str,
        project: str,
        name: str,
        journal: OpenJournal,
        params: dict[str, str] | None = None,
        step: int = 0,
    ) -> None:
        self._session = session
        self.id = run_id
        self.project = project
        self.name = name
        self._journal = journal
        self._append = journal.file.append
        self._file = journal.file
        self._lock = journal.append_lock
        self._step = step
        self._keys: set[str] = set()
        self._params: dict[str, str] = dict(params or {})
        self._finished = False
        self.status = "running"

    def __repr__(self) -> str:
        return f"Run(id={self.id!r}, project={self.project!r}, name={self.name!r}, status={self.status!r})"

    @property
    def store(self) -> Store:
        """The store this run writes to."""
        return self._session.store

    @property
    def step(self) -> int:
        """The step the next ``log()`` without an explicit step will use."""
        return self._step

    # -- logging -------------------------------------------------------------------------------
    def log(self, data: Mapping[str, Any], step: int | None = None) -> None:
        """Log metric values at ``step`` (default: one past the last step logged).

        Values must be numbers; NaN and infinities are kept as such. This is the hot path: one
        record formatted and copied into the journal's memory map, no system call.
        """
        if type(data) is not dict:
            data = self._as_dict(data)
        keys = self._keys
        body = ""
        for k, v in data.items():
            if k not in keys:
                keys.add(check_key(k))
            if type(v) is not float:
                if isinstance(v, Media):  # off the number path: media are files
                    return self._log_media(data, step)
                v = to_float(k, v)
            body += f"\t{k}\t{v!r}"
        if not body:
            return
        with self._lock:
            if self._finished:
                raise LoopmlError(
                    f"run {self.id} has ended ({self.status}); start a new run to log more"
                )
            step = self._step if step is None else check_step(step)
            self._step = step + 1
            record = f"m{step}\t{_time_ns() // 1000}{body}\n".encode()
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

    @staticmethod
    def _as_dict(data: object) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise ValidationError(
                f"log() takes a dict of metric name -> number, e.g. {{'loss': 0.3}}, not {type(data).__name__}"
            )
        return dict(data)

    def log_system(self, values: Mapping[str, float], sample: int) -> None:
        """Write one system-metrics sample at step ``sample``; the run's own step does not move.

        Called by the system-metrics thread (``tracking/_system.py``) with ``system/...`` keys.
        """
        body = "".join(f"\t{k}\t{float(v)!r}" for k, v in values.items())
        if not body:
            return
        record = f"m{check_step(sample)}\t{_time_ns() // 1000}{body}\n".encode()
        with self._lock:
            self._check_open()
            self._append(record)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record the run's inputs (nested dicts are flattened with dots).

        A param is fixed once logged: logging it again with another value raises ConflictError.
        """
        encoded: dict[str, tuple[str, float | None]] = {}
        for k, v in flatten(params).items():
            check_key(k, "param")
            text, num = encode_param(k, v)
            old = self._params.get(k)
            if old is not None and old != text:
                raise ConflictError(
                    f"param {k!r} is already {old!r} in run {self.id}; it cannot become {text!r}. "
                    "Params are a run's fixed inputs: log changing values with run.log(), or start a new run"
                )
            encoded[k] = (text, num)
        if not encoded:
            return
        self._check_open()
        with self._lock:
            self._params.update({k: t for k, (t, _) in encoded.items()})
            self._append(
                b"p" + json.dumps({k: list(v) for k, v in encoded.items()}).encode() + b"\n"
            )

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags (mutable labels such as ``team`` or ``stage``); a new value replaces the old."""
        if not isinstance(tags, Mapping):
            raise ValidationError(
                f"set_tags() takes a dict of name -> text, not {type(tags).__name__}"
            )
        encoded = {check_key(k, "tag"): encode_tag(k, v) for k, v in tags.items()}
        if not encoded:
            return
        self._check_open()
        with self._lock:
            self._append(b"t" + json.dumps(encoded).encode() + b"\n")

    def log_artifact(self, path: str, name: str | None = None) -> list[str]:
        """Copy a file or folder into the run's artifacts; returns the stored names."""
        self._check_open()
        records = self.store.copy_artifacts(self.id, path, name)
        with self._lock:
            self._append(b"a" + json.dumps(records).encode() + b"\n")
        return [r["name"] for r in records]

    def _check_open(self) -> None:
        if self._finished:
            raise LoopmlError(
                f"run {self.id} has ended ({self.status}); start a new run to log more"
            )

    # -- ending --------------------------------------------------------------------------------
    def flush(self) -> None:
        """Wait until everything logged so far is in the store."""
        flush(self.store, self._journal)

    def finish(self, status: str = "finished", error: str | None = None) -> None:
        """End the run: drain its journal into the store and set its final status."""
        if status not in FINAL_STATUSES:
            raise ValidationError(
                f"status {status!r} is not a final status; use one of {', '.join(FINAL_STATUSES)}"
            )
        if self._finished:
            return
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
        return self.store.get_run(self.id)

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.finish("finished")
        elif issubclass(exc_type, KeyboardInterrupt):
            self.finish("killed", error="KeyboardInterrupt")
        else:
            self.finish("failed", error="".join(traceback.format_exception(exc_type, exc, tb)))

    # Used by the session to know what this run has already stored.
    @property
    def journal(self) -> OpenJournal:
        """The journal this handle appends to."""
        return self._journal

    # -- sweeps (the sweep's executor sets ``_sweep_trial`` on a trial's run) ---------------------
    def report(self, value: float, step: int) -> None:
        """Report an intermediate objective value at ``step``, for the sweep's pruner.

        The value is logged under the sweep's metric; outside a sweep (or in a command trial)
        it is only logged, under ``LOOPML_SWEEP_METRIC`` or ``objective``.
        """
        channel = getattr(self, "_sweep_trial", None)
        if channel is not None:
            channel.report(self, value, step)
        else:
            import os

            self.log({os.environ.get("LOOPML_SWEEP_METRIC") or "objective": value}, step=step)

    def should_stop(self) -> bool:
        """True when the sweep's pruner has decided, on the last report, that this trial should stop."""
        channel = getattr(self, "_sweep_trial", None)
        return bool(channel is not None and channel.stop)

    def use_dataset(self, version: Any) -> Any:
        """Record that this run reads a dataset version (``"digits@2"`` or a DatasetVersion); returns it."""
        from loopml.datasets import use_dataset

        return use_dataset(self, version)
