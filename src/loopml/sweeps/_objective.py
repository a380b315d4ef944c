"""Objectives: a Python function ``objective(params, run)``, or a command run per trial.

An objective's identity (its code, or its command line) plus the inputs it declares make its
``objective_key``; with the params this is a trial's cache key, so an identical trial reuses a
stored result instead of running again.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import inspect
import json
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml._config import Settings
from loopml._errors import LoopmlError, ValidationError
from loopml.sweeps._executor import thread_env
from loopml.sweeps._space import function_ref
from loopml.tracking import BaseRun

if TYPE_CHECKING:
    from loopml.store import Store

__all__ = [
    "CommandObjective",
    "CommandTrialError",
    "cache_key",
    "objective_identity",
    "objective_key",
]


class CommandTrialError(LoopmlError, RuntimeError):
    """A command trial's process failed or never logged the sweep's metric (the trial fails)."""


class CommandObjective:
    """Runs ``template`` (e.g. ``python train.py --lr {lr}``) as a process per trial.

    The process gets the trial's run id in ``LOOPML_RUN_ID`` so that ``loopml.init()`` attaches
    to the trial's run, and the sweep's store in ``LOOPML_DIR``/``LOOPML_STORE``. The trial's
    value is the last value the process logged for the sweep's metric.
    """

    logs_to_run = True  # the process logs its metrics to the trial's run through its journal

    def __init__(
        self,
        template: str,
        metric: str,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> None:
        if not isinstance(template, str) or not template.strip():
            raise ValidationError(
                "a command objective needs a command line, e.g. 'python train.py --lr {lr}'"
            )
        self.template = template
        self.metric = metric
        self.env = {str(k): str(v) for k, v in (env or {}).items()}
        self.cwd = cwd
        self.threads: int | None = None
        self.settings: Settings | None = None  # the sweep's store, set before workers start
        self._store: Store | None = None

    def __repr__(self) -> str:
        return f"CommandObjective({self.template!r})"

    def argv(self, params: Mapping[str, Any]) -> list[str]:
        """The command line for ``params`` (each value quoted as one argument)."""
        quoted = {k: shlex.quote(str(v)) for k, v in params.items()}
        try:
            line = self.template.format(**quoted)
        except (KeyError, IndexError) as exc:
            raise ValidationError(
                f"command {self.template!r} uses {{{exc.args[0]}}}, which is not a param of the space; "
                f"params are {sorted(params)}"
            ) from None
        return shlex.split(line)

    def __call__(self, params: dict[str, Any], run: BaseRun) -> float:
        """Run the command for one trial and read the metric it logged from the store."""
        from loopml.store import Store

        env = {
            **os.environ,
            **self.env,
            "LOOPML_RUN_ID": run.id,
            "LOOPML_SWEEP_METRIC": self.metric,
        }
        settings = self.settings or Settings.from_env()
        env["LOOPML_DIR"] = str(settings.data_dir)
        if settings.store_url:
            env["LOOPML_STORE"] = settings.store_url
        if settings.tracking_uri:  # a team server: the command logs its run there too
            env["LOOPML_TRACKING_URI"] = settings.tracking_uri
            if settings.token:
                env["LOOPML_TOKEN"] = settings.token
        if self.threads is not None:
            env.update(thread_env(self.threads))
        proc = subprocess.run(
            self.argv(params),
            env=env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            preexec_fn=_die_with_parent,
            check=False,
        )
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout or "").strip()[-2000:]
            raise CommandTrialError(
                f"command exited with code {proc.returncode}: {shlex.join(self.argv(params))}\n{tail}"
            )
        reader: Any
        if settings.tracking_uri:  # the run was logged to the team server
            from loopml.tracking import HttpBackend

            reader = HttpBackend(settings.tracking_uri, settings.token)
        else:
            if self._store is None:
                self._store = Store(settings)
            reader = self._store.runs
        record = reader.get_many([run.id])
        summary = record[0].metrics.get(self.metric) if record else None
        if summary is None:
            raise CommandTrialError(
                f"command finished but never logged {self.metric!r} to its run; in the script, call "
                f"run = loopml.init(project=...) and run.log({{{self.metric!r}: value}})"
            )
        return summary.last


def _die_with_parent() -> None:
    # A worker killed for a timeout must not leave its command running: ask Linux to SIGKILL
    # the command when the worker dies (PR_SET_PDEATHSIG = 1).
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):  # no libc: nothing to ask
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


def objective_identity(objective: Callable[..., Any]) -> str:
    """How to find the objective again: ``module:qualname``, ``command:...``, or '' if neither."""
    if isinstance(objective, CommandObjective):
        return "command:" + objective.template
    return function_ref(objective)


def _code_hash(objective: Callable[..., Any]) -> str:
    if isinstance(objective, CommandObjective):
        return ""
    try:
        source = inspect.getsource(objective)
    except (OSError, TypeError):
        code = getattr(objective, "__code__", None)
        source = repr(code.co_code) if code is not None else repr(objective)
    return hashlib.sha256(source.encode()).hexdigest()


def objective_key(
    objective: Callable[..., Any], inputs: Mapping[str, Any] | Sequence[str] | None
) -> str:
    """Hash of the objective's identity and code plus its declared inputs (files by content)."""
    identity = objective_identity(objective) or getattr(
        objective, "__qualname__", repr(type(objective))
    )
    parts: list[Any] = [identity, _code_hash(objective)]
    items = (
        sorted(inputs.items())
        if isinstance(inputs, Mapping)
        else [(str(i), None) for i in (inputs or [])]
    )
    for name, value in items:
        path = Path(str(value if value is not None else name))
        digest = _file_hash(path) if path.is_file() else None
        parts.append([str(name), None if value is None else str(value), digest])
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cache_key(objective_key_: str, params: Mapping[str, Any]) -> str:
    """A trial's cache key: its objective's key plus its params."""
    text = objective_key_ + json.dumps(params, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]
