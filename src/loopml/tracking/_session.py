"""A session: one store, its background writer, and the runs this process has open."""

from __future__ import annotations

import atexit
import os
import random
import sys
import threading
import time
import traceback
import uuid
import warnings
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

from loopml._config import Settings
from loopml._errors import LoopmlError, StoreError
from loopml._values import (
    check_key,
    check_project,
    check_run_name,
    decode_param,
    encode_param,
    encode_tag,
    flatten,
)
from loopml.store import Store
from loopml.tracking._environment import run_attributes
from loopml.tracking._journal import SPARE_SUFFIX, JournalWriter, journal_name
from loopml.tracking._journal_records import run_record
from loopml.tracking._recovery import RecoveryReport, recover
from loopml.tracking._run import Run
from loopml.tracking._writer import BackgroundWriter, OpenJournal, flush

if TYPE_CHECKING:
    from loopml.store import DatasetStore, RunBackend, SweepStore
    from loopml.tracking._remote import HttpBackend

_ADJECTIVES = [
    "amber",
    "brisk",
    "calm",
    "clever",
    "dark",
    "eager",
    "fast",
    "gentle",
    "golden",
    "keen",
    "lively",
    "lucky",
    "mellow",
    "nimble",
    "proud",
    "quiet",
    "rapid",
    "sharp",
    "silent",
    "steady",
    "swift",
    "tidy",
    "vivid",
    "warm",
    "wise",
    "bold",
    "bright",
    "cool",
    "deep",
    "fresh",
]
_NOUNS = [
    "brook",
    "cedar",
    "cloud",
    "comet",
    "delta",
    "ember",
    "falcon",
    "fern",
    "field",
    "forest",
    "glade",
    "harbor",
    "heron",
    "lake",
    "lynx",
    "maple",
    "meadow",
    "moon",
    "otter",
    "pine",
    "river",
    "rock",
    "sky",
    "spark",
    "stone",
    "storm",
    "sun",
    "tide",
    "wave",
    "willow",
    "wind",
]


_MAX_SPARES = 4
_WARNED_MOVES: set[tuple[str, str]] = set()


def new_id() -> str:
    """A new 16-hex-digit id."""
    return uuid.uuid4().hex[:16]


class Session:
    """Connects runs to a store. One per process and store, made on first use."""

    def __init__(self, settings: Settings | None = None, background_recovery: bool = True) -> None:
        self.settings = settings or Settings.from_env()
        self.store = Store(self.settings)
        # Everything a run writes and reads goes through this contract (``RunBackend``); the
        # journals stay in this machine's data folder whatever the backend.
        self.backend: RunBackend = self.store.runs
        if self.settings.tracking_uri:  # a team server: segments go there over HTTP
            from loopml.tracking._remote import HttpBackend

            self.backend = HttpBackend(self.settings.tracking_uri, self.settings.token)
        self.journals_dir: Path = self.store.journals_dir
        if self.settings.tracking_uri and background_recovery:
            # Never make loopml.init() wait on the network: old journals upload in the background.
            self.last_recovery = RecoveryReport()
            threading.Thread(target=self.recover, name="loopml-recovery", daemon=True).start()
        else:
            self.last_recovery = self.recover()
        self._writer: BackgroundWriter | None = None
        self._runs: list[Run] = []
        self._spares: list[JournalWriter] = []  # finished journals kept for the next runs
        self._lock = threading.Lock()
        self._failure: str | None = None
        self._sweeps: SweepStore | None = None
        self._datasets: DatasetStore | None = None
        self._api_store: Store | None = None

    def recover(self, strict: bool = False) -> RecoveryReport:
        """Replay the journals of dead processes into the backend (see ``_recovery``).

        With a team server that cannot be reached, this warns and returns an empty report
        (logging goes on; ``loopml sync`` uploads later) unless ``strict``.
        """
        if strict or not self.settings.tracking_uri:
            return recover(self.backend, self.journals_dir, self.settings.stale_after)
        try:
            return recover(self.backend, self.journals_dir, self.settings.stale_after)
        except StoreError as exc:  # server down: logging goes on; `loopml sync` uploads later
            warnings.warn(f"loopml: could not upload old journals yet ({exc})", stacklevel=2)
            return RecoveryReport()

    def _http(self) -> HttpBackend:
        from loopml.tracking._remote import HttpBackend

        if not isinstance(self.backend, HttpBackend):  # pragma: no cover - set together
            raise StoreError("this session logs to a team server but has no HTTP backend")
        return self.backend

    @property
    def sweeps(self) -> SweepStore:
        """Where sweeps and their trials are stored: the local store's, or the team server's."""
        if self._sweeps is None:
            if self.settings.tracking_uri:
                from loopml.tracking._remote_stores import RemoteSweeps

                # RemoteSweeps answers SweepStore's surface over HTTP (a sibling, not a subclass).
                self._sweeps = cast("SweepStore", RemoteSweeps(self._http(), self.settings))
            else:
                self._sweeps = self.store.sweeps
        return self._sweeps

    @property
    def datasets(self) -> DatasetStore:
        """Where dataset versions are stored: the local store's, or the team server's."""
        if self._datasets is None:
            if self.settings.tracking_uri:
                from loopml.tracking._remote_stores import RemoteDatasets

                remote = RemoteDatasets(self._http(), self.settings.data_dir / "server-cache")
                self._datasets = cast("DatasetStore", remote)
            else:
                self._datasets = self.store.datasets
        return self._datasets

    @property
    def api_store(self) -> Store:
        """The store the capability APIs use: the local one, or (with a team server) a
        ``RemoteStore`` whose runs, sweeps, datasets and labeling the server answers."""
        if not self.settings.tracking_uri:
            return self.store
        if self._api_store is None:
            from loopml.tracking._remote_stores import RemoteStore

            remote = RemoteStore(self.settings, self._http(), self.sweeps, self.datasets)  # type: ignore[arg-type]
            self._api_store = cast(Store, remote)
        return self._api_store

    @property
    def writer(self) -> BackgroundWriter:
        """The background writer, started on first use."""
        if self._writer is None:
            self._writer = BackgroundWriter(self.backend, self.settings)
        return self._writer

    def sync(self) -> None:
        """Ingest what this process's open runs have logged, so that queries see it."""
        for run in self.active_runs:
            run.flush()

    @property
    def active_runs(self) -> list[Run]:
        """Runs started in this process and not yet finished, oldest first."""
        return list(self._runs)

    def start_run(
        self,
        project: str,
        name: str | None = None,
        config: dict[str, Any] | None = None,
        tags: dict[str, Any] | None = None,
        run_id: str | None = None,
        sweep_id: str | None = None,
        lazy: bool = False,
    ) -> Run:
        """Create a run (or attach to an existing ``run_id``) and open its journal.

        ``lazy`` writes the new run into its journal instead of the store: its row appears with
        the first background ingest (or any query from this process), so starting a run costs
        no database round trip. Without it the row exists when this returns.
        """
        check_project(project)
        params = {
            k: encode_param(check_key(k, "param"), v) for k, v in flatten(config or {}).items()
        }
        tag_values = {check_key(k, "tag"): encode_tag(k, v) for k, v in (tags or {}).items()}
        if name is not None:
            check_run_name(name)
        journal_id = new_id()
        if run_id is not None:
            existing = self.backend.status(run_id)
            if existing is not None:
                return self._attach(run_id, journal_id, project, params, tag_values)
        run_id = run_id or new_id()
        name = name or f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{run_id[:4]}"
        attributes = run_attributes()
        if sweep_id is not None:
            attributes["sweep_id"] = sweep_id
        header = None
        if lazy:
            spec = {
                "project": project,
                "name": name,
                "created_at": time.time(),
                "attributes": attributes,
                "params": params,
                "tags": tag_values,
            }
            header = run_record(spec)
        else:
            self.backend.create(
                run_id, project, name, attributes, params, tag_values, journal_id=journal_id
            )
        return self._open(
            run_id, journal_id, project, name, {k: v[0] for k, v in params.items()}, 0, header
        )

    def _attach(
        self,
        run_id: str,
        journal_id: str,
        project: str,
        params: dict[str, tuple[str, float | None]],
        tags: dict[str, str],
    ) -> Run:
        record = self.backend.get(run_id)
        if record.project != project and (run_id, project) not in _WARNED_MOVES:
            # A sweep's command trial: its run lives in the sweep's project, whatever the
            # script asks for. Say so once, so the run is not looked for in the wrong place.
            _WARNED_MOVES.add((run_id, project))
            warnings.warn(
                f"loopml.init(project={project!r}) attaches to run {run_id}, which is in project "
                f"{record.project!r} (the sweep's); the run stays in {record.project!r}",
                stacklevel=4,
            )
        self.backend.open_journal(journal_id, run_id)
        stored = {k: encode_param(k, v)[0] for k, v in record.params.items()}
        step = max((m.last_step + 1 for m in record.metrics.values()), default=0)
        run = self._open(run_id, journal_id, record.project, record.name, stored, step)
        try:
            if params:
                run.log_params({k: decode_param(t, n) for k, (t, n) in params.items()})
            if tags:
                run.set_tags(tags)
        except Exception:
            run.finish("failed", error=traceback.format_exc())
            raise
        return run

    def _open(
        self,
        run_id: str,
        journal_id: str,
        project: str,
        name: str,
        params: dict[str, str],
        step: int,
        header: bytes | None = None,
    ) -> Run:
        path = self.journals_dir / journal_name(run_id, journal_id)
        with self._lock:
            spare = self._spares.pop() if self._spares else None
        journal = OpenJournal(run_id, journal_id, path, spare)
        if header is not None:
            journal.file.write_first(header)
        run = Run(self, run_id, project, name, journal, params, step, self.settings.sweep_metric)
        self.writer.add(journal)
        with self._lock:
            self._runs.append(run)
        return run

    def close_run(self, run: Run, final: dict[str, Any]) -> None:
        """Drain the run's journal, set its final status, then delete the journal."""
        journal = run.journal
        self.writer.remove(journal)
        try:
            flush(self.backend, journal, final=final, close=True)
        except Exception as exc:
            journal.file.close(delete=False)
            raise StoreError(
                f"run {run.id} could not be written to the store ({exc}); nothing is lost: its journal "
                f"{journal.path} will be replayed by `loopml recover` or the next loopml.init()"
            ) from exc
        finally:
            with self._lock:
                if run in self._runs:
                    self._runs.remove(run)
        self._retire(journal.file)

    def _retire(self, file: JournalWriter) -> None:
        with self._lock:
            keep = len(self._spares) < _MAX_SPARES
        spare_path = self.journals_dir / f"spare-{new_id()}{SPARE_SUFFIX}"
        if keep and file.retire(spare_path):
            with self._lock:
                self._spares.append(file)
        else:
            file.close(delete=True)

    # -- process exit ---------------------------------------------------------------------------
    def note_failure(
        self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        """Remember an uncaught exception so that exit marks the open runs failed."""
        self._failure = "".join(traceback.format_exception(exc_type, exc, tb))
        self._failure_kind = "killed" if issubclass(exc_type, KeyboardInterrupt) else "failed"

    def shutdown(self) -> None:
        """Finish every open run (``failed`` after an uncaught exception) and stop the writer."""
        for run in self.active_runs:
            try:
                if self._failure is None:
                    run.finish("finished")
                else:
                    run.finish(self._failure_kind, error=self._failure)
            except LoopmlError as exc:  # pragma: no cover - reported, journal kept for recovery
                print(f"loopml: {exc}", file=sys.stderr)
        if self._writer is not None:
            self._writer.stop()
        with self._lock:
            spares, self._spares = self._spares, []
        for spare in spares:
            spare.close(delete=True)


# -- the process-wide default session -------------------------------------------------------------
_default: Session | None = None
_default_lock = threading.Lock()
_hook_installed = False


def default_session() -> Session:
    """The session for ``LOOPML_*`` settings, made (and its store opened) on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Session()
            _install_exit_hooks()
        return _default


def set_default_session(session: Session | None) -> None:
    """Replace the default session (tests, or switching stores in one process)."""
    global _default
    with _default_lock:
        if _default is not None and _default is not session:
            _default.shutdown()
        _default = session
        if session is not None:
            _install_exit_hooks()


def _install_exit_hooks() -> None:
    global _hook_installed
    if _hook_installed:
        return
    _hook_installed = True
    previous = sys.excepthook

    def excepthook(
        exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        if _default is not None:
            _default.note_failure(exc_type, exc, tb)
        previous(exc_type, exc, tb)

    sys.excepthook = excepthook
    atexit.register(_at_exit)


def _at_exit() -> None:
    if _default is not None:
        _default.shutdown()


def _after_fork_in_child() -> None:
    # A forked child starts with no session: the parent's runs, journals and thread are not its own.
    global _default
    _default = None


os.register_at_fork(after_in_child=_after_fork_in_child)
