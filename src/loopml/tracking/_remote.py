"""``HttpBackend``: the team server's client, one more implementation of ``RunBackend``.

The tracking client is unchanged above it: ``log()`` still appends to the local journal and the
background writer ships journal segments, here as the journal's own bytes, gzip-compressed, over
HTTP (``ingest_records``): the server parses them with the journal's parser, so the client spends
nothing but a file read and the compression per point. A segment is identified by its journal
offsets, which the server treats as the idempotency key: a retry after a lost answer stores
nothing twice (the server answers "stored before" or "I hold up to N").

While the server is unreachable the backend fails fast for a growing pause (exponential backoff,
up to ``_MAX_BACKOFF`` seconds), so the writer keeps journaling and retries without hammering it.
Only the standard library is used (``http.client``), one keep-alive connection per thread.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml import _errors
from loopml._errors import LoopmlError, OffsetMismatch, StoreError, ValidationError
from loopml.store import (
    RunBackend,
    artifact_from_wire,
    batch_to_wire,
    record_from_wire,
)

if TYPE_CHECKING:
    from loopml.store import ArtifactRecord, Batch, RunRecord
    from loopml.store._query import Node

__all__ = ["RECORDS_TYPE", "HttpBackend", "ServerUnavailable"]

_MAX_BACKOFF = 30.0
# An ``ingest_records`` body: a line of JSON arguments, then the journal bytes.
RECORDS_TYPE = "application/x-loopml-records"
_CHUNK = 4 << 20  # artifact upload chunk (bytes)
_COMPRESS_ABOVE = 1024
# Errors the server may name, rebuilt as the same class on this side.
_ERRORS: dict[str, type[Exception]] = {
    name: getattr(_errors, name)
    for name in (
        "LoopmlError",
        "ValidationError",
        "InvalidValueTypeError",
        "QueryError",
        "ConflictError",
        "NotFoundError",
        "StoreError",
        "SchemaVersionError",
    )
}


class ServerUnavailable(StoreError):
    """The team server could not be reached (the caller keeps its journal and retries)."""


class _Shim:
    """What a remote ``RunRecord.history()`` reads through (``record._store.runs``)."""

    def __init__(self, runs: HttpBackend) -> None:
        self.runs = runs


class HttpBackend(RunBackend):
    """``RunBackend`` over HTTP to a ``loopml server`` (``LOOPML_TRACKING_URI``)."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        timeout: float = 60.0,
        cache_dir: Path | None = None,
        retries: int = 5,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValidationError(
                f"LOOPML_TRACKING_URI must be an http(s) URL such as http://127.0.0.1:8765, "
                f"not {url!r}"
            )
        self.url = url.rstrip("/")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._base = parts.path.rstrip("/")
        self._token = token
        self._timeout = timeout
        self.retries = retries
        self._local = threading.local()
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._backoff = 0.0
        self._cache_dir = cache_dir or Path(tempfile.gettempdir()) / "loopml-artifacts"
        self._shim = _Shim(self)
        self._server_parses = True  # False once a server without ``ingest_records`` says so

    # -- transport -----------------------------------------------------------------------------
    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            cls = (
                http.client.HTTPSConnection
                if self._scheme == "https"
                else http.client.HTTPConnection
            )
            conn = cls(self._host, self._port, timeout=self._timeout)
            self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.conn = None

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes, dict[str, str]]:
        """One HTTP exchange (reconnecting once on a dropped keep-alive connection)."""
        now = time.monotonic()
        # The background writer fails fast while the server is known down (it retries next
        # pass); a caller's own thread (finish, queries) always tries.
        if now < self._down_until and threading.current_thread().name == "loopml-writer":
            raise ServerUnavailable(
                f"the loopml server at {self.url} was unreachable; retrying in "
                f"{self._down_until - now:.1f} s (records stay in the local journal)"
            )
        sent = {"Accept-Encoding": "identity", **(headers or {})}
        if self._token:
            sent["Authorization"] = f"Bearer {self._token}"
        last: Exception | None = None
        for attempt in range(2):
            conn = self._conn()
            try:
                conn.request(method, self._base + path, body=body, headers=sent)
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                last = exc
                if attempt == 0 and isinstance(
                    exc, (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)
                ):
                    continue  # a keep-alive connection the server closed: one fresh try
                break
            with self._lock:
                self._backoff = 0.0
                self._down_until = 0.0
            return resp.status, data, {k.lower(): v for k, v in resp.getheaders()}
        with self._lock:
            self._backoff = min(_MAX_BACKOFF, max(0.5, self._backoff * 2))
            self._down_until = time.monotonic() + self._backoff
        raise ServerUnavailable(
            f"cannot reach the loopml server at {self.url} ({last}); records stay in the local "
            "journal and are uploaded when it is back (or by `loopml sync`)"
        )

    def call(self, method: str, *, _records: bytes | None = None, **args: Any) -> Any:
        """Call one ``RunBackend`` method on the server; its errors come back as the same class.

        Every call is safe to repeat (segments are idempotent on their offsets), so a caller's
        thread retries an unreachable server a few times before giving up; the background
        writer does not wait (its next pass retries). ``_records`` (journal bytes) travel
        after the arguments' JSON line, as they are.
        """
        body = json.dumps(args).encode()
        headers = {"Content-Type": "application/json"}
        if _records is not None:
            body = b"".join((body, b"\n", _records))
            headers["Content-Type"] = RECORDS_TYPE
        if len(body) > _COMPRESS_ABOVE:
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        writer = threading.current_thread().name == "loopml-writer"
        pause = 0.25
        for attempt in range(1 if writer else self.retries + 1):
            try:
                status, data, _ = self.request("POST", f"/api/v1/backend/{method}", body, headers)
            except ServerUnavailable:
                if attempt >= self.retries or writer:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 4.0)
                continue
            if status in (502, 503, 504) and not writer and attempt < self.retries:
                time.sleep(pause)  # a proxy in front of a restarting server
                pause = min(pause * 2, 4.0)
                continue
            return self._result(status, data)
        raise AssertionError("unreachable")  # pragma: no cover

    def _result(self, status: int, data: bytes) -> Any:
        try:
            payload = json.loads(data) if data else None
        except ValueError:
            payload = None
        if status == 200:
            return payload["result"] if isinstance(payload, dict) else None
        if not isinstance(payload, dict):
            raise StoreError(f"the loopml server at {self.url} answered HTTP {status}")
        message = str(payload.get("error", f"HTTP {status}"))
        kind = payload.get("type")
        if kind == "OffsetMismatch":
            raise OffsetMismatch(int(payload["stored"]))
        if status == 401:
            raise StoreError(
                f"the loopml server at {self.url} refused the request ({message}); log in with "
                f"`loopml login {self.url}` or set LOOPML_TOKEN"
            )
        if status == 403:
            raise StoreError(f"the loopml server at {self.url} forbids this: {message}")
        cls = _ERRORS.get(str(kind), StoreError)
        raise cls(message)

    # -- writes --------------------------------------------------------------------------------
    def create(
        self,
        run_id: str,
        project: str,
        name: str,
        attributes: dict[str, Any],
        params: dict[str, tuple[str, float | None]],
        tags: dict[str, str],
        journal_id: str | None = None,
    ) -> None:
        """Create a ``running`` run on the server."""
        self.call(
            "create",
            run_id=run_id,
            project=project,
            name=name,
            attributes=attributes,
            params={k: list(v) for k, v in params.items()},
            tags=tags,
            journal_id=journal_id,
        )

    def open_journal(self, journal_id: str, run_id: str) -> None:
        """Register a new journal for an existing run."""
        self.call("open_journal", journal_id=journal_id, run_id=run_id)

    def ingest(
        self,
        journal_id: str,
        run_id: str,
        batch: Batch,
        start: int,
        end: int,
        final: dict[str, Any] | None = None,
        close: bool = False,
    ) -> bool:
        """Ship journal bytes ``start:end`` (idempotent on the offsets)."""
        return bool(
            self.call(
                "ingest",
                journal_id=journal_id,
                run_id=run_id,
                batch=batch_to_wire(batch),
                start=start,
                end=end,
                final=final,
                close=close,
            )
        )

    def ingest_records(
        self,
        journal_id: str,
        run_id: str,
        records: bytes,
        start: int,
        end: int,
        final: dict[str, Any] | None = None,
        close: bool = False,
    ) -> bool:
        """Ship journal bytes ``start:end`` as they are (complete records), for the server to
        parse: what the background writer sends (``ingest`` with its parse, to older servers)."""
        args: dict[str, Any] = {
            "journal_id": journal_id,
            "run_id": run_id,
            "start": start,
            "end": end,
            "final": final,
            "close": close,
        }
        if self._server_parses:
            try:
                return bool(self.call("ingest_records", _records=records, **args))
            except LoopmlError as exc:  # answered 404, as any unknown method is
                if "no backend method 'ingest_records'" not in str(exc):
                    raise
                self._server_parses = False  # a server from before ``ingest_records``
        from loopml.tracking._journal_records import parse_records

        return self.ingest(batch=parse_records(records), **args)

    def journal_offset(self, journal_id: str) -> int | None:
        """How far the server holds a journal."""
        result = self.call("journal_offset", journal_id=journal_id)
        return None if result is None else int(result)

    def set_status(
        self,
        run_id: str,
        status: str,
        *,
        error: str | None = None,
        only_if: Sequence[str] | None = None,
    ) -> bool:
        """Set a run's status on the server."""
        return bool(
            self.call(
                "set_status",
                run_id=run_id,
                status=status,
                error=error,
                only_if=None if only_if is None else list(only_if),
            )
        )

    def heartbeat(self, run_ids: Sequence[str]) -> None:
        """Mark runs alive."""
        self.call("heartbeat", run_ids=list(run_ids))

    def mark_stale_crashed(self, older_than: float, exclude: Sequence[str] = ()) -> list[str]:
        """Ask the server to mark silent runs crashed (a no-op for project-scoped users)."""
        return list(self.call("mark_stale_crashed", older_than=older_than, exclude=list(exclude)))

    def copy_artifacts(
        self, run_id: str, source: str | os.PathLike[str], name: str | None
    ) -> list[dict[str, Any]]:
        """Upload a file or folder in resumable chunks, then store it as the run's artifacts."""
        src = Path(source)
        if not src.exists():
            raise _errors.NotFoundError(f"cannot log artifact: {str(src)!r} does not exist")
        base = name if name is not None else src.name
        if src.is_dir():
            files = [
                (p, p.relative_to(src).as_posix()) for p in sorted(src.rglob("*")) if p.is_file()
            ]
        else:
            files = [(src, "")]
        uploads = [{"upload": self.upload(path), "path": rel} for path, rel in files]
        result = self.call(
            "copy_artifacts", run_id=run_id, name=base, is_dir=src.is_dir(), files=uploads
        )
        return list(result)

    def upload(self, path: Path) -> str:
        """Send one file in chunks; an interrupted upload resumes where the server stopped."""
        upload_id = uuid.uuid4().hex
        size = path.stat().st_size
        offset = failures = 0
        with open(path, "rb") as f:
            while True:
                f.seek(offset)
                chunk = f.read(_CHUNK)
                try:
                    status, data, _ = self.request(
                        "PUT",
                        f"/api/v1/uploads/{upload_id}?offset={offset}",
                        chunk,
                        {"Content-Type": "application/octet-stream"},
                    )
                except ServerUnavailable:
                    failures += 1
                    if failures > self.retries:
                        raise
                    time.sleep(min(0.25 * 2**failures, 4.0))
                    status, data = 200, json.dumps({"result": {"size": offset}}).encode()
                    # the next PUT at this offset is answered with what the server holds
                result = self._result(status, data)
                offset = int(result["size"])
                if offset >= size:
                    return upload_id

    def delete(self, ids: Sequence[str]) -> int:
        """Delete runs on the server."""
        return int(self.call("delete", ids=list(ids)))

    # -- reads ---------------------------------------------------------------------------------
    def status(self, run_id: str) -> str | None:
        """A run's status, or None."""
        result = self.call("status", run_id=run_id)
        return None if result is None else str(result)

    def resolve_id(self, run_id: str) -> str:
        """Expand a unique id prefix."""
        return str(self.call("resolve_id", run_id=run_id))

    def get(self, run_id: str) -> RunRecord:
        """One run's snapshot."""
        return record_from_wire(self.call("get", run_id=run_id), self._shim)

    def get_many(self, ids: Sequence[str]) -> list[RunRecord]:
        """Snapshots of runs, in order (unknown or unreadable ids skipped)."""
        return [record_from_wire(r, self._shim) for r in self.call("get_many", ids=list(ids))]

    def search(
        self,
        project: str | Sequence[str] | None = None,
        where: str | Node | None = None,
        order_by: str | Sequence[str] | None = None,
        limit: int | None = 100,
        offset: int = 0,
    ) -> list[RunRecord]:
        """Runs matching a filter, sorted, one page."""
        rows = self.call(
            "search",
            project=_projects(project),
            where=_where(where),
            order_by=order_by if isinstance(order_by, str) or order_by is None else list(order_by),
            limit=limit,
            offset=offset,
        )
        return [record_from_wire(r, self._shim) for r in rows]

    def count(
        self, project: str | Sequence[str] | None = None, where: str | Node | None = None
    ) -> int:
        """How many runs match."""
        return int(self.call("count", project=_projects(project), where=_where(where)))

    def check_query(
        self, project: str | Sequence[str] | None = None, where: str | Node | None = None
    ) -> None:
        """Raise for an unknown project or a key no run has."""
        self.call("check_query", project=_projects(project), where=_where(where))

    def metric_keys(self, run_id: str) -> list[str]:
        """A run's metric keys."""
        return list(self.call("metric_keys", run_id=run_id))

    def history(self, run_id: str, key: str) -> tuple[list[int], list[float], list[float]]:
        """One metric series: (steps, times, values)."""
        steps, times, values = self.call("history", run_id=run_id, key=key)
        return steps, times, values

    def list_artifacts(self, run_id: str) -> list[ArtifactRecord]:
        """A run's artifacts."""
        return [artifact_from_wire(a) for a in self.call("list_artifacts", run_id=run_id)]

    def artifact_file(self, run_id: str, name: str) -> Path:
        """Download an artifact into the local cache and return its path."""
        from loopml.store import check_artifact_name

        check_artifact_name(name)
        quoted = urllib.parse.quote(name)
        status, data, _ = self.request(
            "GET", f"/api/v1/runs/{urllib.parse.quote(run_id)}/artifacts/{quoted}"
        )
        if status != 200:
            self._result(status, data)
        dest = self._cache_dir / run_id / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.partial")
        tmp.write_bytes(data)
        os.replace(tmp, dest)
        return dest


def _projects(project: str | Sequence[str] | None) -> str | list[str] | None:
    return project if isinstance(project, str) or project is None else list(project)


def _where(where: str | Node | None) -> str | None:
    if where is None or isinstance(where, str):
        return where
    raise LoopmlError(
        'a remote backend takes filters as text (e.g. "metrics.acc > 0.9"), not parsed trees'
    )
