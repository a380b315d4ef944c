"""The tracking client: runs, the crash-safe journal, the background writer and queries."""

import sys
from typing import TYPE_CHECKING

from loopml._lazy import lazy_exports

# Public name -> the module that defines it, imported on first access (PEP 562): importing
# the package stays cheap (no SQLAlchemy, pandas or Optuna until a name that needs them is used).
_EXPORTS = {
    "loopml.tracking._api": (
        "active_run",
        "finish",
        "get_run",
        "init",
        "log",
        "recover",
        "runs",
    ),
    "loopml.tracking._base": ("BaseRun",),
    "loopml.tracking._environment": ("run_attributes",),
    "loopml.tracking._import_mlflow": (
        "MlflowImportReport",
        "import_mlflow",
    ),
    "loopml.tracking._media": (
        "Histogram",
        "Image",
        "Media",
        "MediaItem",
        "Table",
        "read_media",
    ),
    "loopml.tracking._journal_records": ("parse_records_packed",),
    "loopml.tracking._recovery": ("RecoveryReport",),
    "loopml.tracking._remote": (
        "HttpBackend",
        "ServerUnavailable",
    ),
    "loopml.tracking._run": (
        "FINAL_STATUSES",
        "Run",
    ),
    "loopml.tracking._session": (
        "Session",
        "default_session",
        "default_session_open",
        "set_default_session",
    ),
    "loopml.tracking._system": ("SYSTEM_METRICS_PREFIX",),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


def default_session_open() -> bool:
    """Whether this process has opened its default session (asking does not open it)."""
    session_module = sys.modules.get("loopml.tracking._session")
    return session_module is not None and session_module._default is not None


if TYPE_CHECKING:
    from loopml.tracking._api import active_run, finish, get_run, init, log, recover, runs
    from loopml.tracking._base import BaseRun
    from loopml.tracking._environment import run_attributes
    from loopml.tracking._import_mlflow import MlflowImportReport, import_mlflow
    from loopml.tracking._journal_records import parse_records_packed
    from loopml.tracking._media import Histogram, Image, Media, MediaItem, Table, read_media
    from loopml.tracking._recovery import RecoveryReport
    from loopml.tracking._remote import HttpBackend, ServerUnavailable
    from loopml.tracking._run import FINAL_STATUSES, Run
    from loopml.tracking._session import Session, default_session, set_default_session
    from loopml.tracking._system import SYSTEM_METRICS_PREFIX

__all__ = [
    "FINAL_STATUSES",
    "SYSTEM_METRICS_PREFIX",
    "BaseRun",
    "Histogram",
    "HttpBackend",
    "Image",
    "Media",
    "MediaItem",
    "MlflowImportReport",
    "RecoveryReport",
    "Run",
    "ServerUnavailable",
    "Session",
    "Table",
    "active_run",
    "default_session",
    "default_session_open",
    "finish",
    "get_run",
    "import_mlflow",
    "init",
    "log",
    "parse_records_packed",
    "read_media",
    "recover",
    "run_attributes",
    "runs",
    "set_default_session",
]
