"""``import_mlflow``: copy MLflow experiments and runs (whole metric histories, params, tags,
artifacts) into loopml, through the session's ``RunBackend`` (local store or team server).

Each MLflow run lands in one ingest of a journal named after it, which creates the run with all
its content in one transaction: a second import finds the run created and stores nothing twice,
and an import killed half-way leaves whole runs only. Run ids are kept (MLflow's 32 hex digits).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml._errors import MissingDependencyError, NotFoundError
from loopml._values import encode_param
from loopml.store import Batch

if TYPE_CHECKING:
    from loopml.store import RunBackend

__all__ = ["MlflowImportReport", "import_mlflow"]

_STATUS = {
    "RUNNING": "crashed",  # still running in MLflow: nothing will end it in loopml
    "SCHEDULED": "crashed",
    "FINISHED": "finished",
    "FAILED": "failed",
    "KILLED": "killed",
}


@dataclass
class MlflowImportReport:
    """What an import did: runs created, runs already there, points and artifacts copied."""

    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    points: int = 0
    artifacts: int = 0


def _tracking_uri(source: str) -> str:
    if "://" in source or source.startswith(("file:", "databricks")):
        return source
    path = Path(source).expanduser()
    if not path.is_dir():
        raise NotFoundError(
            f"{source!r} is neither a tracking URI (http://host:port) nor an mlruns folder; "
            "pass e.g. ./mlruns or http://127.0.0.1:5000"
        )
    # MLflow 3 refuses its file store unless told: reading an old mlruns folder is the point.
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return path.resolve().as_uri()


def import_mlflow(
    source: str, backend: RunBackend | None = None, project: str | None = None
) -> MlflowImportReport:
    """Import every experiment (or only the one named ``project``) of an MLflow tracking URI
    or ``mlruns`` folder; experiments become projects of the same name."""
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise MissingDependencyError(
            "importing from MLflow needs the mlflow package: pip install 'mlflow>=2.16,<4'"
        ) from exc
    if backend is None:
        from loopml.tracking._session import default_session

        backend = default_session().backend
    client = MlflowClient(tracking_uri=_tracking_uri(source))
    report = MlflowImportReport()
    experiments = list(client.search_experiments())
    if project is not None:
        experiments = [e for e in experiments if e.name == project]
        if not experiments:
            raise NotFoundError(f"the MLflow source has no experiment named {project!r}")
    for exp in experiments:
        token = None
        while True:
            page = client.search_runs([exp.experiment_id], max_results=500, page_token=token)
            for run in page:
                _import_run(client, backend, exp.name, run, report)
            token = page.token
            if not token:
                break
    return report


def _import_run(
    client: Any, backend: RunBackend, project: str, run: Any, report: MlflowImportReport
) -> None:
    """Two segments of one journal: the run with params, tags and points (offsets 0-1), then
    its artifacts and final status (1-2, closing the journal). A run whose journal is closed
    was imported whole; one stopped between the two (a killed import) gets its second half."""
    from loopml._values import check_project

    run_id = run.info.run_id
    journal = ("ml" + run_id)[:32]
    exists = backend.status(run_id) is not None
    if exists and backend.journal_offset(journal) != 1:
        report.skipped.append(run_id)
        return
    check_project(project)
    points = []
    if not exists:
        for key in run.data.metrics:
            for m in client.get_metric_history(run_id, key):
                points.append((int(m.step), m.timestamp / 1000.0, key, float(m.value)))
        tags = {k: str(v) for k, v in run.data.tags.items()}
        spec = {
            "project": project,
            "name": run.info.run_name or tags.get("mlflow.runName") or run_id[:8],
            "created_at": run.info.start_time / 1000.0,
            "attributes": {"command": "mlflow import"},
            "params": {k: encode_param(k, str(v)) for k, v in run.data.params.items()},
            "tags": tags,
        }
        if not backend.ingest(journal, run_id, Batch(points=points, create=spec), 0, 1):
            report.skipped.append(run_id)  # another import got there first
            return
    artifacts = []
    with tempfile.TemporaryDirectory() as tmp:
        if client.list_artifacts(run_id):
            folder = Path(client.download_artifacts(run_id, "", tmp))
            for child in sorted(folder.iterdir()):
                artifacts += backend.copy_artifacts(run_id, child, child.name)
    start = run.info.start_time / 1000.0
    ended = run.info.end_time / 1000.0 if run.info.end_time else start
    final = {"status": _STATUS.get(run.info.status, "finished"), "ended_at": ended}
    backend.ingest(journal, run_id, Batch(artifacts=artifacts), 1, 2, final=final, close=True)
    report.imported.append(run_id)
    report.points += len(points)
    report.artifacts += len(artifacts)
