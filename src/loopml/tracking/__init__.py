"""The tracking client: runs, the crash-safe journal, the background writer and queries."""

from loopml.tracking._api import active_run, finish, get_run, init, log, recover, runs
from loopml.tracking._base import BaseRun
from loopml.tracking._environment import run_attributes
from loopml.tracking._import_mlflow import MlflowImportReport, import_mlflow
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
    "finish",
    "get_run",
    "import_mlflow",
    "init",
    "log",
    "read_media",
    "recover",
    "run_attributes",
    "runs",
    "set_default_session",
]
