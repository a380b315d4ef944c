"""The tracking client: runs, the crash-safe journal, the background writer and queries."""

from loopml.tracking._api import active_run, finish, get_run, init, log, recover, runs
from loopml.tracking._base import BaseRun
from loopml.tracking._environment import run_attributes
from loopml.tracking._import_mlflow import MlflowImportReport, import_mlflow
from loopml.tracking._recovery import RecoveryReport
from loopml.tracking._remote import HttpBackend, ServerUnavailable
from loopml.tracking._run import FINAL_STATUSES, Run
from loopml.tracking._session import Session, default_session, set_default_session

__all__ = [
    "FINAL_STATUSES",
    "BaseRun",
    "HttpBackend",
    "MlflowImportReport",
    "RecoveryReport",
    "Run",
    "ServerUnavailable",
    "Session",
    "active_run",
    "default_session",
    "finish",
    "get_run",
    "import_mlflow",
    "init",
    "log",
    "recover",
    "run_attributes",
    "runs",
    "set_default_session",
]
