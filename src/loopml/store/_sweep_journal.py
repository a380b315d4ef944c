"""A sweep's journal: what its store process received and has not stored yet, kept on disk.

A sweep's store process (``sweeps/_writer.py``) appends every message it receives (the sweep to
create, trial batches, the final status) to the sweep's journal before it acknowledges it as
*kept*, and deletes the journal once it has stored them. A fresh process's short first sweep can
then return before the store process has imported SQLAlchemy and stored its trials: they are
already on disk. Readers in that process wait for the store process (``loopml._store_waits``);
opening the store anywhere replays the journals whose store process died (:func:`replay`).

The file is a :class:`~loopml._journal.JournalWriter` (an append survives the process being
killed; the writer holds its ``flock`` for life). A record is one pickled message, base64 on one
line: the trial batches are the very bytes the driver sent (``TrialWrite``s), and the sweep to
create is rewritten as the plain arguments of ``SweepStore.create_sweep``. Replay reads them with
an unpickler that resolves no global but ``TrialWrite`` and numpy's scalars, so a journal file
planted in a data folder cannot run code in the next process that opens the store.

This module imports no SQLAlchemy: the store process journals while it is still importing it.
"""

from __future__ import annotations

import base64
import io
import os
import pickle
import sqlite3
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from loopml._errors import LoopmlError
from loopml._journal import JournalWriter, complete_records, try_lock
from loopml.store._revisions import KNOWN_REVISIONS

if TYPE_CHECKING:
    from loopml.store._store import Store

__all__ = ["SweepJournal", "replay_sweep_journals", "sweep_journals_dir"]

_SUFFIX = ".journal"
_FAILED = ".failed"


def sweep_journals_dir(data_dir: Path) -> Path:
    """Where sweep journals live in a data folder."""
    return data_dir / "sweep-journals"


class SweepJournal:
    """One sweep's journal, written by its store process. Not thread-safe: callers lock."""

    def __init__(self, data_dir: Path, sweep_id: str) -> None:
        self.path = sweep_journals_dir(data_dir) / f"{sweep_id}{_SUFFIX}"
        self._writer = JournalWriter(self.path)  # FileExistsError if one is left over

    @staticmethod
    def usable(store_url: str) -> bool:
        """Whether trials may be kept in a journal before the store at ``store_url`` is open.

        Only a SQLite store this loopml can read: its revision is checked here (stdlib
        ``sqlite3``, reading only), so that a store written by a newer loopml still fails the
        sweep itself instead of leaving its trials in a journal nothing can replay.
        """
        for prefix in ("sqlite:///", "sqlite+pysqlite:///"):
            if store_url.startswith(prefix):
                path = store_url[len(prefix) :]
                break
        else:
            return False
        if not path or path == ":memory:" or "?" in path:
            return False
        if not Path(path).exists():
            return True  # a new store: created at this loopml's revision
        try:
            db = sqlite3.connect(f"file:{quote(path)}?mode=rw", uri=True, timeout=1.0)
            try:
                row = db.execute("SELECT version_num FROM alembic_version").fetchone()
            finally:
                db.close()
        except sqlite3.OperationalError as exc:
            return "no such table" in str(exc)  # created, not yet migrated
        return row is None or row[0] in KNOWN_REVISIONS

    def keep_create(
        self,
        sweep_id: str,
        project: str,
        name: str,
        metric: str,
        direction: str,
        objective: str,
        config: dict[str, Any],
        pid: int,
    ) -> None:
        """Keep the sweep to create (``create_sweep``'s arguments) and the driver's pid."""
        record = ("create", sweep_id, project, name, metric, direction, objective, config, pid)
        self.keep_message(pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL))

    def keep_message(self, pickled: bytes) -> None:
        """Keep one pickled message: ``("write", sweep_id, seq, project, [TrialWrite, ...])`` or
        ``("close", sweep_id, status)``, as the driver sent it."""
        self._writer.append(base64.b64encode(pickled) + b"\n")

    def close(self, delete: bool) -> None:
        """Release the journal; ``delete`` once everything in it is stored."""
        self._writer.close(delete=delete)


def replay_sweep_journals(store: Store) -> int:
    """Store what dead store processes kept in their journals; the number of journals replayed.

    A journal whose lock is held belongs to a live store process and is left alone. Replaying
    is idempotent (the sweep is created once, trial writes are upserts), so a journal replayed
    twice (its process died after storing, before deleting it) changes nothing. A journal that
    cannot be stored is renamed ``*.failed`` with a warning, and never blocks opening the store.
    """
    folder = sweep_journals_dir(store.data_dir)
    try:
        paths = sorted(p for p in folder.iterdir() if p.name.endswith(_SUFFIX))
    except FileNotFoundError:
        return 0
    replayed = 0
    for path in paths:
        fd = try_lock(path)
        if fd is None:
            continue
        try:
            if os.fstat(fd).st_nlink == 0:
                continue  # stored and deleted by its process while this one waited
            with open(path, "rb") as f:
                data = complete_records(f.read())
            records = [_load(base64.b64decode(line)) for line in data.splitlines()]
            _apply(store, records)
            path.unlink(missing_ok=True)
            replayed += 1
        except Exception as exc:
            failed = path.with_name(path.name + _FAILED)
            path.rename(failed)
            print(
                f"loopml: could not store the sweep journal {path.name} ({exc!r}); "
                f"kept as {failed}",
                file=sys.stderr,
            )
        finally:
            os.close(fd)
    return replayed


# The only globals a kept message refers to: trial writes, and numpy scalars a trial's
# params or values may hold. Anything else is refused, not imported.
_ALLOWED = {
    ("loopml.store._sweep_records", "TrialWrite"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(
                f"a sweep journal may not refer to {module}.{name}; refusing to load it"
            )
        return super().find_class(module, name)


def _load(data: bytes) -> Any:
    return _Unpickler(io.BytesIO(data)).load()


def _apply(store: Store, records: list[tuple[Any, ...]]) -> None:
    sweeps = store.sweeps
    attributes: dict[str, dict[str, Any]] = {}
    for record in records:
        kind, sweep_id = record[0], record[1]
        if kind == "create":
            # The run columns the store process would have filled (git state, host) are not
            # kept; the driver's pid is.
            attributes[sweep_id] = {"pid": record[8]}
            try:
                sweeps.get(sweep_id)
            except LoopmlError:
                sweeps.create_sweep(*record[1:8])
        elif kind == "write":
            _, _, _, project, trials = record
            sweeps.write_trials(project, sweep_id, attributes.get(sweep_id, {}), trials)
        elif kind == "close":
            sweeps.set_status(sweep_id, record[2])
