"""The sweeps and datasets store surfaces of a team server, for clients with ``LOOPML_TRACKING_URI``.

``RemoteSweeps`` answers what ``store.sweeps`` (``SweepStore``) answers and ``RemoteDatasets``
what ``store.datasets`` (``DatasetStore``) answers, by calling the server's
``/api/v1/sweeps-store/{method}`` and ``/api/v1/datasets-store/{method}`` (``server/_api_stores.py``)
over the ``HttpBackend``'s connection and token. The session hands them out in place of the
local store's surfaces (``Session.sweeps``, ``Session.datasets``), so ``loopml.sweep`` and
``loopml.datasets`` work unchanged against a team server.

A dataset version's Parquet file goes up through the resumable uploads and comes back once per
digest into a local cache (versions are immutable and named by their content), so reading a
version (``to_arrow``, ``sql``, the labeling queue) reads a local file as it does without a server.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml._config import Settings
from loopml._errors import ValidationError
from loopml.store import (
    DatasetUse,
    DatasetVersion,
    RunRecord,
    SweepInfo,
    SweepRecord,
    SweepSummary,
    TrialRow,
    TrialWrite,
    record_from_wire,
)
from loopml.tracking._remote import HttpBackend, ServerUnavailable

if TYPE_CHECKING:
    import pyarrow as pa

    from loopml.store import ItemReader

__all__ = ["RemoteDatasets", "RemoteLabeling", "RemoteStore", "RemoteSweeps"]

_HEX = frozenset("0123456789abcdef")


def _call(backend: HttpBackend, path: str, args: dict[str, Any]) -> Any:
    """POST ``args`` as JSON to ``path``; retried while the server is unreachable (each call
    is safe to repeat: the server's writes are upserts or check for an earlier identical one)."""
    body = json.dumps(args).encode()
    headers = {"Content-Type": "application/json"}
    pause = 0.25
    for attempt in range(backend.retries + 1):
        try:
            status, data, _ = backend.request("POST", path, body, headers)
        except ServerUnavailable:
            if attempt >= backend.retries:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 4.0)
            continue
        return backend._result(status, data)
    raise AssertionError("unreachable")  # pragma: no cover


class _StoreShim:
    """What sweep code reads from ``sweeps.store``: the settings and the runs backend."""

    def __init__(self, settings: Settings, runs: HttpBackend) -> None:
        self.settings = settings
        self.runs = runs


class RemoteSweeps:
    """``SweepStore``'s surface on a team server (``store.sweeps`` for a remote session)."""

    def __init__(self, backend: HttpBackend, settings: Settings) -> None:
        self.backend = backend
        self.store = _StoreShim(settings, backend)

    def _call(self, method: str, **args: Any) -> Any:
        return _call(self.backend, f"/api/v1/sweeps-store/{method}", args)

    # -- sweeps --------------------------------------------------------------------------------
    def create_sweep(
        self,
        sweep_id: str,
        project: str,
        name: str,
        metric: str,
        direction: str,
        objective: str,
        config: dict[str, Any],
    ) -> None:
        """Insert a new ``running`` sweep on the server."""
        self._call(
            "create_sweep",
            sweep_id=sweep_id,
            project=project,
            name=name,
            metric=metric,
            direction=direction,
            objective=objective,
            config=config,
        )

    def set_status(self, sweep_id: str, status: str) -> None:
        """Set a sweep's status (``running``, ``finished``, ``stopped``)."""
        self._call("set_status", sweep_id=sweep_id, status=status)

    def resolve_id(self, sweep_id: str) -> str:
        """Expand a unique prefix to a full sweep id."""
        return str(self._call("resolve_id", sweep_id=sweep_id))

    def get(self, sweep_id: str) -> SweepRecord:
        """One sweep, by id or unique id prefix."""
        return SweepRecord(**self._call("get", sweep_id=sweep_id))

    def list_sweeps(
        self, project: str | None = None, ids: Sequence[str] | None = None, limit: int = 100
    ) -> list[SweepRecord]:
        """Sweeps the caller may read, newest first."""
        found = self._call(
            "list_sweeps", project=project, ids=None if ids is None else list(ids), limit=limit
        )
        return [SweepRecord(**r) for r in found]

    def trial_counts(self, sweep_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Per sweep, how many trials are in each state."""
        return dict(self._call("trial_counts", sweep_ids=list(sweep_ids)))

    # -- trials --------------------------------------------------------------------------------
    def load_trials(self, sweep_id: str) -> list[TrialRow]:
        """Every stored trial of a sweep, by number."""
        rows = self._call("load_trials", sweep_id=sweep_id)
        return [
            TrialRow(**{**r, "intermediate": {int(k): v for k, v in r["intermediate"].items()}})
            for r in rows
        ]

    def cached_results(self, objective_key: str) -> dict[str, tuple[float, str]]:
        """Finished results of an objective (runs the caller may read): cache key -> (value, run)."""
        found = self._call("cached_results", objective_key=objective_key)
        return {k: (float(v), str(run)) for k, (v, run) in found.items()}

    def write_trials(
        self, project: str, sweep_id: str, attributes: dict[str, Any], trials: Sequence[TrialWrite]
    ) -> None:
        """Write trials' runs and rows on the server (upserts there: a retry is harmless)."""
        if not trials:
            return
        self._call(
            "write_trials",
            project=project,
            sweep_id=sweep_id,
            attributes=attributes,
            trials=[dataclasses.asdict(t) for t in trials],
        )

    def mark_in_flight(self, sweep_id: str, state: str, error: str) -> list[int]:
        """Mark a sweep's ``running`` trials ``state``; returns their numbers."""
        return [
            int(n)
            for n in self._call("mark_in_flight", sweep_id=sweep_id, state=state, error=error)
        ]

    # -- what the pages show -------------------------------------------------------------------
    def summaries(self, project: str | None = None) -> list[SweepSummary]:
        """Every sweep the caller may read, newest first, with trial counts by status."""
        return [SweepSummary(**s) for s in self._call("summaries", project=project)]

    def trial_runs(self, sweep_id: str, limit: int | None = 10_000) -> list[RunRecord]:
        """The trials of a sweep (its runs), oldest first."""
        found = self._call("trial_runs", sweep_id=sweep_id, limit=limit)
        return [record_from_wire(r, self.backend._shim) for r in found]

    def infos(self, sweep_ids: Sequence[str]) -> dict[str, SweepInfo]:
        """The stored records of these sweeps; ids without one (or not readable) are left out."""
        found = self.list_sweeps(ids=list(sweep_ids), limit=max(1, len(sweep_ids)))
        return {rec.id: SweepInfo.of(rec) for rec in found}

    def info(self, sweep_id: str) -> SweepInfo | None:
        """The stored record of one sweep, or None."""
        return self.infos([sweep_id]).get(sweep_id)

    def distributions(self, sweep_id: str) -> dict[str, dict[str, str]]:
        """Per trial run id, the distributions its sampled params came from."""
        return {t.run_id: t.distributions for t in self.load_trials(sweep_id)}


class RemoteDatasets:
    """``DatasetStore``'s surface on a team server (``store.datasets`` for a remote session)."""

    def __init__(self, backend: HttpBackend, cache_dir: Path) -> None:
        self.backend = backend
        host = urllib.parse.urlsplit(backend.url).netloc.replace(":", "_")
        self._cache = cache_dir / host / "datasets"

    def _call(self, method: str, **args: Any) -> Any:
        return _call(self.backend, f"/api/v1/datasets-store/{method}", args)

    # -- files ---------------------------------------------------------------------------------
    def file(self, digest: str) -> Path:
        """The local copy of version ``digest``'s Parquet file (fetched once, then cached)."""
        if not isinstance(digest, str) or len(digest) != 64 or not set(digest) <= _HEX:
            raise ValidationError(
                f"a dataset digest is 64 lowercase hex digits, not {digest!r}; "
                "get one from loopml.datasets.get('name@N').digest"
            )
        path = self._cache / digest[:2] / f"{digest}.parquet"
        if path.is_file():
            return path
        status, data, _ = self.backend.request("GET", f"/api/v1/datasets-store/files/{digest}")
        if status != 200:
            self.backend._result(status, data)  # raises the server's error
        path.parent.mkdir(parents=True, exist_ok=True)
        # Beside the target then renamed: a reader never sees half a file.
        tmp = path.with_name(f".{digest}.{uuid.uuid4().hex}.tmp")
        try:
            tmp.write_bytes(data)
            os.chmod(tmp, 0o444)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    def _version(self, d: dict[str, Any]) -> DatasetVersion:
        return DatasetVersion(**d, path=self.file(d["digest"]))

    # -- writes --------------------------------------------------------------------------------
    def add_version(
        self,
        name: str,
        table: pa.Table,
        roles: dict[str, Any],
        source: dict[str, Any],
        note: str | None = None,
    ) -> tuple[DatasetVersion, bool]:
        """Upload ``table`` as the next version of ``name`` (the server keeps identical content
        once); returns the version and whether it is new."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not isinstance(table, pa.Table) or table.column_names[:2] != ["id", "split"]:
            raise ValidationError(
                "a dataset table is a pyarrow Table whose first columns are 'id' and 'split'; "
                "build one with loopml.datasets.create(name, data)"
            )
        with tempfile.TemporaryDirectory(prefix="loopml-dataset-") as tmp:
            path = Path(tmp) / "version.parquet"
            pq.write_table(table, path, compression="zstd")
            upload = self.backend.upload(path)
        found, new = self._call(
            "add_version", name=name, upload=upload, roles=roles, source=source, note=note
        )
        return self._version(found), bool(new)

    def record_use(self, run_id: str, ref: str | DatasetVersion) -> DatasetVersion:
        """Record that run ``run_id`` read a version."""
        key = ref.digest if isinstance(ref, DatasetVersion) else ref
        return self._version(self._call("record_use", run_id=run_id, ref=key))

    # -- reads ---------------------------------------------------------------------------------
    def rows(self, version: DatasetVersion) -> ItemReader:
        """A row reader on a version's (cached) file."""
        from loopml.store import ItemReader

        return ItemReader(self.file(version.digest))

    def get(self, ref: str | DatasetVersion) -> DatasetVersion:
        """A version by ``name``, ``name@N``, ``name@latest`` or digest prefix."""
        if isinstance(ref, DatasetVersion):
            ref = ref.digest
        return self._version(self._call("get", ref=ref))

    def latest(self) -> list[DatasetVersion]:
        """The latest version of every dataset, by name."""
        return [self._version(v) for v in self._call("latest")]

    def versions(self, name: str) -> list[DatasetVersion]:
        """Every version of ``name``, oldest first."""
        return [self._version(v) for v in self._call("versions", name=name)]

    def users(self, digest: str) -> list[DatasetUse]:
        """The runs (that the caller may read) which used version ``digest``."""
        return [DatasetUse(**u) for u in self._call("users", digest=digest)]

    def inputs_of(self, run_id: str) -> list[DatasetVersion]:
        """The versions a run used."""
        return [self._version(v) for v in self._call("inputs_of", run_id=run_id)]


class _LabelingPart:
    """One part of ``store.labeling`` (``projects``, ``queue``...) on a team server: each
    method call is one ``POST /api/v1/labeling-store/{part}.{method}``."""

    def __init__(self, owner: RemoteLabeling, part: str) -> None:
        self._owner = owner
        self._part = part

    def __getattr__(self, method: str) -> Any:
        if method.startswith("_"):
            raise AttributeError(method)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._owner.call(f"{self._part}.{method}", args, kwargs)

        call.__name__ = method
        return call


class RemoteLabeling:
    """``LabelingStore``'s surface on a team server (``store.labeling`` for a remote session).

    Calls name a project by id; the server checks roles by the project's name, so each call
    also says the name of the project with that id (learnt from the records that carry both).
    """

    _PARTS = ("projects", "annotators", "queue", "annotations", "guidelines", "reviews")

    def __init__(self, backend: HttpBackend) -> None:
        self.backend = backend
        self._names: dict[int, str] = {}
        for part in self._PARTS:
            setattr(self, part, _LabelingPart(self, part))

    def call(self, call: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run ``part.method(*args, **kwargs)`` on the server and decode its answer."""
        from loopml import _wire_values
        from loopml.store import (
            AnnotationRecord,
            AnnotatorRecord,
            AnnotatorStats,
            FlagRecord,
            GuidelineRecord,
            LabelProjectRecord,
            LabelProjectSummary,
            NewReview,
            QueueCounts,
            QueueEntry,
            ReviewRecord,
        )

        types: dict[str, type] = {
            t.__name__: t
            for t in (
                AnnotationRecord,
                AnnotatorRecord,
                AnnotatorStats,
                FlagRecord,
                GuidelineRecord,
                LabelProjectRecord,
                LabelProjectSummary,
                NewReview,
                QueueCounts,
                QueueEntry,
                ReviewRecord,
            )
        }
        body: dict[str, Any] = {
            "args": _wire_values.encode(list(args)),
            "kwargs": _wire_values.encode(kwargs),
        }
        project_id = args[0] if args else kwargs.get("project_id")
        if isinstance(project_id, int) and project_id in self._names:
            body["project"] = self._names[project_id]
        result = _wire_values.decode(
            _call(self.backend, f"/api/v1/labeling-store/{call}", body), types
        )
        for record in result if isinstance(result, list) else [result]:
            if isinstance(record, LabelProjectSummary):
                record = record.project
            if isinstance(record, LabelProjectRecord):
                self._names[record.id] = record.name
        return result


class RemoteStore:
    """What the capability APIs read from a ``Store`` (``runs``, ``sweeps``, ``datasets``,
    ``labeling``, ``settings``), each answered by a team server."""

    def __init__(
        self,
        settings: Settings,
        runs: HttpBackend,
        sweeps: RemoteSweeps,
        datasets: RemoteDatasets,
    ) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir
        self.runs = runs
        self.sweeps = sweeps
        self.datasets = datasets
        self.labeling = RemoteLabeling(runs)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(
            f"store.{name} is not served by the team server yet; this works only on a local "
            "store (unset LOOPML_TRACKING_URI)"
        )
