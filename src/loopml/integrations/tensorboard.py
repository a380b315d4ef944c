"""Import TensorBoard event files: ``loopml import tensorboard LOGDIR`` and :func:`import_logdir`.

Every folder under ``LOGDIR`` that holds event files (``events.out.tfevents.*``) becomes one
run, named by its path under ``LOGDIR``: scalars become metrics, histograms and images become
media (``loopml.Histogram`` / ``loopml.Image`` per step, shown on the run page), hparams become
params. A sub-folder named by a number (``1712345678.123``) is where PyTorch's and
tensorboardX's ``add_hparams`` write; it is merged into its parent folder's run.

Event files are read with the ``tensorboard`` package (its record reader and its converters of
old summary formats), which is an optional dependency: ``pip install 'loopml[tensorboard]'``.

Importing again is safe: a run's id is derived from the project and the folder's absolute
path, so a second import finds the run and adds only what is new (points at steps it does not
have yet, media steps it has no file for, hparams it has not); an event file that grew since
adds only its new points. An event file that cannot be read is skipped with a warning naming it;
one damaged part-way is imported up to the damage, with a warning.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml._errors import MissingDependencyError, NotFoundError, ValidationError
from loopml._values import MAX_KEY_LENGTH, check_project, encode_param
from loopml.integrations._common import check_version
from loopml.store import Batch
from loopml.tracking import Histogram, Image, Media

if TYPE_CHECKING:
    from loopml.store import RunBackend

__all__ = ["TensorboardImportReport", "TensorboardRunImport", "find_run_folders", "import_logdir"]

MINIMUM, BELOW = "2.12", "3"
_EVENT_FILE = "tfevents"  # TensorBoard's own test: the name contains it
_HPARAMS_FOLDER = re.compile(r"\d+(\.\d+)?")  # add_hparams' run folder: str(time.time())
_BAD_KEY_CHAR = re.compile(r"[^\w\-./: ]")
_HISTOGRAM_BINS = 64  # TensorBoard keeps up to ~1,500 buckets; a page shows far fewer
_RECORD_OVERHEAD = 16  # a TFRecord: 8-byte length, 4-byte CRC, data, 4-byte CRC

Progress = Callable[[int, int, str], None]


@dataclass
class TensorboardRunImport:
    """What an import did with one run folder."""

    folder: str  # the folder under LOGDIR ("." for LOGDIR itself)
    run_id: str
    name: str
    # imported (a new run), updated (new points, media or params added), unchanged, skipped
    state: str = "unchanged"
    points: int = 0
    media: int = 0
    params: int = 0


@dataclass
class TensorboardImportReport:
    """The runs an import created, updated or left as they were, and its warnings."""

    project: str
    runs: list[TensorboardRunImport] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def count(self, state: str) -> int:
        """How many runs ended in ``state``."""
        return sum(r.state == state for r in self.runs)

    @property
    def points(self) -> int:
        """Metric points added, all runs together."""
        return sum(r.points for r in self.runs)

    @property
    def media(self) -> int:
        """Media steps (images, histograms) added, all runs together."""
        return sum(r.media for r in self.runs)


@dataclass
class _Content:
    """What a run folder's event files hold, deduplicated by (key, step): the last one wins,
    as TensorBoard shows it."""

    points: dict[tuple[str, int], tuple[float, float]] = field(default_factory=dict)
    media: dict[tuple[str, int], Media] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    first: float | None = None
    last: float | None = None
    unsupported: set[str] = field(default_factory=set)


def _reader() -> Any:
    try:
        import tensorboard
    except ImportError as exc:
        raise MissingDependencyError(
            f"reading TensorBoard event files needs the tensorboard package ({exc}); "
            f"run: pip install 'loopml[tensorboard]' (or 'tensorboard>={MINIMUM},<{BELOW}')"
        ) from exc
    check_version("tensorboard", str(getattr(tensorboard, "__version__", "0")), MINIMUM, BELOW)
    return tensorboard


def find_run_folders(logdir: str | os.PathLike[str]) -> dict[Path, list[Path]]:
    """The run folders under ``logdir`` (each folder holding event files, with the numbered
    ``add_hparams`` sub-folders merged into their parent), each with its folders to read."""
    root = Path(logdir).expanduser()
    if not root.exists():
        raise NotFoundError(
            f"there is no folder {str(logdir)!r}; pass the folder you give tensorboard --logdir"
        )
    if not root.is_dir():
        raise ValidationError(
            f"{str(logdir)!r} is a file, not a folder; pass the folder that holds the run "
            "folders (the one you give tensorboard --logdir)"
        )
    folders = sorted(
        Path(dirpath) for dirpath, _, files in os.walk(root) if any(_EVENT_FILE in f for f in files)
    )
    if not folders:
        raise NotFoundError(
            f"no TensorBoard event files (events.out.tfevents.*) under {str(logdir)!r}; "
            "pass the folder you give tensorboard --logdir"
        )
    runs: dict[Path, list[Path]] = {}
    known = set(folders)
    for folder in folders:
        parent = folder.parent
        if _HPARAMS_FOLDER.fullmatch(folder.name) and parent in known and folder != root:
            runs.setdefault(parent, [parent]).append(folder)
        else:
            runs.setdefault(folder, [folder])
    return runs


def import_logdir(
    logdir: str | os.PathLike[str],
    project: str | None = None,
    backend: RunBackend | None = None,
    progress: Progress | None = None,
) -> TensorboardImportReport:
    """Import every run folder under ``logdir`` into ``project`` (default: the logdir's folder
    name); safe to run again. ``progress(done, total, name)`` is called after each run."""
    runs = find_run_folders(logdir)
    root = Path(logdir).expanduser().resolve()
    project = check_project(project if project is not None else _project_name(root))
    tb = _reader()
    if backend is None:
        from loopml.tracking import default_session

        backend = default_session().backend
    report = TensorboardImportReport(project)
    for done, (run_folder, folders) in enumerate(runs.items(), start=1):
        rel = run_folder.resolve().relative_to(root).as_posix()
        content = _Content()
        readable = False
        for folder in folders:
            readable |= _read_folder(tb, folder, content, report.warnings)
        name = rel if rel != "." else root.name or "tensorboard"
        run_id = hashlib.sha256(f"tensorboard\0{project}\0{run_folder.resolve()}".encode())
        row = TensorboardRunImport(rel, run_id.hexdigest()[:16], name[:200])
        if not readable:
            row.state = "skipped"
        else:
            if content.unsupported:
                report.warnings.append(
                    f"{rel}: left out values of kinds loopml does not import: "
                    + ", ".join(sorted(content.unsupported))
                )
            _write_run(backend, project, row, content, str(run_folder.resolve()))
        report.runs.append(row)
        if progress is not None:
            progress(done, len(runs), rel)
    return report


def _project_name(root: Path) -> str:
    name = re.sub(r"[^\w\-. ]", "_", root.name).strip(" .") or "tensorboard"
    return name[:200]


def _key(tag: str) -> str:
    """A TensorBoard tag as a loopml key: characters keys may not hold become '_'."""
    key = _BAD_KEY_CHAR.sub("_", tag)
    # Media keys name artifact folders: no empty, '.' or '..' parts.
    key = "/".join(p.strip() for p in key.split("/") if p.strip() not in ("", ".", ".."))
    return key[:MAX_KEY_LENGTH].strip(" /") or "value"


# -- reading ---------------------------------------------------------------------------------


def _read_folder(tb: Any, folder: Path, content: _Content, warnings: list[str]) -> bool:
    """Read the event files of one folder into ``content``; False when none was readable."""
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from tensorboard.compat.proto import event_pb2

    readable = False
    for path in sorted(p for p in folder.iterdir() if _EVENT_FILE in p.name and p.is_file()):
        try:
            size = path.stat().st_size
            records = list(RawEventFileLoader(str(path)).Load())
        except Exception as exc:  # removed meanwhile, no permission, a reader's own error
            warnings.append(f"{path}: skipped, it cannot be read ({exc})")
            continue
        events = []
        try:
            events = [event_pb2.Event.FromString(r) for r in records]
        except Exception as exc:  # protobuf's DecodeError: the records hold no Event
            warnings.append(f"{path}: skipped, it is not a TensorBoard event file ({exc})")
            continue
        if size and not events:
            warnings.append(
                f"{path}: skipped, no event could be read from it (damaged, or not an event file)"
            )
            continue
        read = sum(len(r) + _RECORD_OVERHEAD for r in records)
        if read < size:
            warnings.append(
                f"{path}: damaged or cut short after byte {read:,} of {size:,}; imported the "
                f"{len(events):,} events before that"
            )
        readable = True
        for event in events:
            _add_event(event, content)
    return readable


def _add_event(event: Any, content: _Content) -> None:
    from tensorboard import data_compat
    from tensorboard.util import tensor_util

    if not event.HasField("summary"):
        return
    wall, step = float(event.wall_time), int(event.step)
    content.first = wall if content.first is None else min(content.first, wall)
    content.last = wall if content.last is None else max(content.last, wall)
    for value in event.summary.value:
        value = data_compat.migrate_value(value)
        plugin = value.metadata.plugin_data.plugin_name
        key = _key(value.tag)
        try:
            if plugin == "scalars":
                number = float(tensor_util.make_ndarray(value.tensor).item())
                content.points[(key, step)] = (wall, number)
            elif plugin == "histograms":
                hist = _histogram(tensor_util.make_ndarray(value.tensor))
                if hist is not None:
                    content.media[(key, step)] = hist
            elif plugin == "images":
                encoded = tensor_util.make_ndarray(value.tensor).ravel()[2:]
                for i, data in enumerate(encoded):
                    content.media[(key if i == 0 else f"{key}/{i}", step)] = Image.from_encoded(
                        bytes(data)
                    )
            elif plugin == "hparams":
                _hparams(value.metadata.plugin_data.content, content.params)
            else:
                content.unsupported.add(plugin or "tensor")
        except (ValueError, TypeError) as exc:  # one odd value: keep the rest of the run
            content.unsupported.add(f"{plugin} ({value.tag}: {exc})")


def _histogram(buckets: Any) -> Histogram | None:
    """TensorBoard's (left, right, count) buckets as a Histogram of at most 64 bins: empty
    buckets at both ends dropped, neighbours summed."""
    import numpy as np

    arr = np.asarray(buckets, dtype=float).reshape(-1, 3)
    arr = arr[np.isfinite(arr).all(axis=1)]
    nonzero = np.flatnonzero(arr[:, 2] > 0)
    if nonzero.size == 0:
        return None
    arr = arr[nonzero[0] : nonzero[-1] + 1]
    if len(arr) > _HISTOGRAM_BINS:
        groups = np.array_split(np.arange(len(arr)), _HISTOGRAM_BINS)
        arr = np.array([[arr[g[0], 0], arr[g[-1], 1], arr[g, 2].sum()] for g in groups])
    edges = np.append(arr[:, 0], arr[-1, 1])
    return Histogram.from_counts(np.maximum.accumulate(edges), arr[:, 2])


def _hparams(raw: bytes, params: dict[str, Any]) -> None:
    from tensorboard.plugins.hparams import plugin_data_pb2

    data = plugin_data_pb2.HParamsPluginData.FromString(raw)
    if not data.HasField("session_start_info"):
        return  # the experiment's declared domains, or a session end: no values
    for name, value in data.session_start_info.hparams.items():
        kind = value.WhichOneof("kind")
        if kind == "number_value":
            number = value.number_value
            params[name] = int(number) if number.is_integer() else number
        elif kind in ("string_value", "bool_value"):
            params[name] = getattr(value, kind)


# -- writing ---------------------------------------------------------------------------------


def _write_run(
    backend: RunBackend, project: str, row: TensorboardRunImport, content: _Content, path: str
) -> None:
    """Create the run (first import) or add what it lacks (later imports).

    The first import is two segments of one journal, as ``import_mlflow`` writes: the run with
    its params and points, then its media files and final status; a later import (or one that
    finishes a killed first import) is one segment after the media files are copied."""
    run_id = row.run_id
    first_journal = "tb" + run_id
    params = {k: encode_param(k, v) for k, v in content.params.items()}
    points = [(step, ts, key, v) for (key, step), (ts, v) in sorted(content.points.items())]
    media = content.media
    exists = backend.status(run_id) is not None
    if not exists:
        spec = {
            "project": project,
            "name": row.name,
            "created_at": content.first if content.first is not None else time.time(),
            "attributes": {"command": "loopml import tensorboard"},
            "params": params,
            "tags": {"tensorboard.folder": path},
        }
        if backend.ingest(first_journal, run_id, Batch(points=points, create=spec), 0, 1):
            row.state, row.points, row.params = "imported", len(points), len(params)
            journal, start = first_journal, 1
        else:  # another import created it between the check and now
            exists = True
    if exists:
        points, media, params = _missing(backend, run_id, points, media, params)
        half_done = backend.journal_offset(first_journal) == 1  # a killed first import
        if not (points or media or params or half_done):
            row.state = "unchanged"
            return
        if half_done:
            journal, start = first_journal, 1
        else:
            journal, start = "tb" + os.urandom(8).hex(), 0
            backend.open_journal(journal, run_id)
        row.state, row.points, row.params = "updated", len(points), len(params)
    artifacts = _copy_media(backend, run_id, media)
    row.media = len(media)
    final = {
        "status": "finished",
        "ended_at": content.last if content.last is not None else time.time(),
    }
    batch = Batch(artifacts=artifacts)
    if exists:
        batch.points, batch.params = points, params
    backend.ingest(journal, run_id, batch, start, start + 1, final=final, close=True)


def _missing(
    backend: RunBackend,
    run_id: str,
    points: list[tuple[int, float, str, float]],
    media: dict[tuple[str, int], Media],
    params: dict[str, tuple[str, float | None]],
) -> tuple[
    list[tuple[int, float, str, float]],
    dict[tuple[str, int], Media],
    dict[str, tuple[str, float | None]],
]:
    """What the stored run lacks: points at (key, step)s it has not, media without a file,
    params it has not."""
    stored_keys = set(backend.metric_keys(run_id))
    steps: dict[str, set[int]] = {}
    for key in {p[2] for p in points} & stored_keys:
        steps[key] = set(backend.history(run_id, key)[0])
    new_points = [p for p in points if p[0] not in steps.get(p[2], ())]
    names = {a.name for a in backend.list_artifacts(run_id)}
    new_media = {
        (key, step): m
        for (key, step), m in media.items()
        if not all(f"media/{key}/{n}" in names for n in _file_names(m, step))
    }
    stored = backend.get(run_id).params  # a stored param is fixed: only new keys are added
    new_params = {k: v for k, v in params.items() if k not in stored}
    return new_points, new_media, new_params


def _file_names(media: Media, step: int) -> list[str]:
    return list(media.files(step))


def _copy_media(
    backend: RunBackend, run_id: str, media: dict[tuple[str, int], Media]
) -> list[dict[str, Any]]:
    """Store each media value's files under ``media/<key>/`` (the layout ``run.log`` uses)."""
    by_key: dict[str, list[tuple[int, Media]]] = {}
    for (key, step), value in media.items():
        by_key.setdefault(key, []).append((step, value))
    records: list[dict[str, Any]] = []
    for key, values in sorted(by_key.items()):
        with tempfile.TemporaryDirectory(prefix="loopml-tb-") as tmp:
            for step, value in values:
                for name, data in value.files(step).items():
                    (Path(tmp) / name).write_bytes(data)
            records += backend.copy_artifacts(run_id, tmp, f"media/{key}")
    return records
