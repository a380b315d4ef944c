"""``BaseRun``: what every live run handle offers, whatever carries its records to the store.

Two siblings implement it: :class:`loopml.Run` appends to a crash-safe journal that a background
writer ingests, and the sweeps' ``TrialRun`` keeps a short trial's records in memory and sends
them back with the trial's result, to be written in a batch with other trials. Code written
against a run (an objective, a callback) takes a ``BaseRun`` and works with either.

The base owns the rules every handle must apply the same way: key and value checks, the
params-are-fixed rule, the tag encoding, the step counter and how a ``with`` block ends a run.
Subclasses only say where the checked records go (``_write_*``).
"""

from __future__ import annotations

import traceback
from abc import ABC, abstractmethod
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from loopml._errors import ConflictError, LoopmlError, ValidationError
from loopml._values import check_key, encode_param, encode_tag, flatten

if TYPE_CHECKING:
    from loopml.store import Store

__all__ = ["FINAL_STATUSES", "BaseRun"]

FINAL_STATUSES = ("finished", "failed", "killed", "pruned")


class BaseRun(ABC):
    """A run in progress: log metrics, params, tags and artifacts; end it.

    Thread-safety is the implementation's (``Run`` is thread-safe; a trial's handle belongs to
    the one thread running its objective).
    """

    def __init__(
        self, run_id: str, project: str, name: str, params: Mapping[str, str], step: int
    ) -> None:
        self.id = run_id
        self.project = project
        self.name = name
        self.status = "running"
        self._step = step
        self._keys: set[str] = set()
        self._params: dict[str, str] = dict(params)  # stored text of each param logged so far
        self._finished = False

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(id={self.id!r}, project={self.project!r}, "
            f"name={self.name!r}, status={self.status!r})"
        )

    @property
    def step(self) -> int:
        """The step the next ``log()`` without an explicit step will use."""
        return self._step

    # -- what a run writes (the implementations say where it goes) ---------------------------
    @property
    @abstractmethod
    def store(self) -> Store:
        """The store this run's records reach."""

    @abstractmethod
    def log(self, data: Mapping[str, Any], step: int | None = None) -> None:
        """Log metric values at ``step`` (default: one past the last step logged)."""

    @abstractmethod
    def log_artifact(self, path: str, name: str | None = None) -> list[str]:
        """Copy a file or folder into the run's artifacts; returns the stored names."""

    @abstractmethod
    def flush(self) -> None:
        """Wait until everything logged so far is in the store (where that applies)."""

    @abstractmethod
    def finish(self, status: str = "finished", error: str | None = None) -> None:
        """End the run with a final status."""

    @abstractmethod
    def _write_params(self, encoded: dict[str, tuple[str, float | None]]) -> None:
        """Record checked params (stored form); called with the handle's checks done."""

    @abstractmethod
    def _write_tags(self, encoded: dict[str, str]) -> None:
        """Record checked tags (stored form)."""

    # -- the rules every handle applies -----------------------------------------------------------
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
        self._params.update({k: t for k, (t, _) in encoded.items()})
        self._write_params(encoded)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags (mutable labels such as ``team`` or ``stage``); a new value replaces the old."""
        if not isinstance(tags, Mapping):
            raise ValidationError(
                f"set_tags() takes a dict of name -> text, not {type(tags).__name__}"
            )
        encoded = {check_key(k, "tag"): encode_tag(k, v) for k, v in tags.items()}
        if encoded:
            self._check_open()
            self._write_tags(encoded)

    def report(self, value: float, step: int) -> None:
        """Report an intermediate objective value at ``step``, for a sweep's pruner.

        Outside a sweep trial that a pruner watches, the value is only logged, under the
        sweep's metric when this process runs a command trial, else under ``objective``.
        """
        self.log({self._report_metric(): value}, step=step)

    def should_stop(self) -> bool:
        """True when a sweep's pruner has decided, on the last report, that this run should stop."""
        return False

    def _report_metric(self) -> str:
        return "objective"

    def use_dataset(self, version: Any) -> Any:
        """Record that this run reads a dataset version (``"digits@2"`` or a DatasetVersion); returns it."""
        # Through the store, not loopml.datasets: datasets builds on tracking, not the reverse.
        self.flush()  # a lazily started run has its row written by the first ingest
        return self.store.datasets.record_use(self.id, version)

    @staticmethod
    def _as_dict(data: object) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise ValidationError(
                f"log() takes a dict of metric name -> number, e.g. {{'loss': 0.3}}, not {type(data).__name__}"
            )
        return dict(data)

    def _check_open(self) -> None:
        if self._finished:
            raise LoopmlError(
                f"run {self.id} has ended ({self.status}); start a new run to log more"
            )

    # -- a ``with`` block ends the run -------------------------------------------------------------
    def __enter__(self) -> BaseRun:
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
