"""What a run records about where it ran: code version, command, interpreter, host, packages."""

from __future__ import annotations

import functools
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
from typing import Any

# Packages whose versions are recorded when the run's process has imported them.
_KEY_PACKAGES = (
    "numpy",
    "pandas",
    "sklearn",
    "scipy",
    "torch",
    "tensorflow",
    "jax",
    "xgboost",
    "lightgbm",
    "transformers",
    "optuna",
    "ray",
)


def _maybe_in_git(cwd: str) -> bool:
    """False only when no folder from ``cwd`` up holds a ``.git`` entry or is a bare
    repository, and no ``GIT_DIR`` points elsewhere: then git would find no repository either,
    and starting it (milliseconds of a run's start) is skipped."""
    if os.environ.get("GIT_DIR"):
        return True
    path = os.path.abspath(cwd)
    while True:
        if os.path.exists(os.path.join(path, ".git")) or (
            os.path.isfile(os.path.join(path, "HEAD"))
            and os.path.isdir(os.path.join(path, "objects"))
        ):
            return True
        parent = os.path.dirname(path)
        if parent == path:
            return False
        path = parent


@functools.lru_cache(maxsize=8)
def git_state(cwd: str) -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the git checkout containing ``cwd``, or ``(None, None)``."""
    if not _maybe_in_git(cwd):
        return None, None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5
        )
        if commit.returncode != 0:
            return None, None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return commit.stdout.strip(), bool(
            status.stdout.strip()
        ) if status.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None, None


def platform_text() -> str:
    """``platform.platform()``'s text, without the ``uname -p`` process it starts on Linux.

    That process costs a run's start milliseconds of waiting (more on a busy machine), and what
    it asks for, the processor, ``platform.platform()`` drops anyway when it is unknown or the
    same as the machine: what Linux's ``uname -p`` answers. Elsewhere: ``platform.platform()``.
    """
    if not sys.platform.startswith("linux"):
        return platform.platform()
    u = os.uname()
    lib, version = platform.libc_ver()  # glibc: one confstr call, no file read
    parts = (u.sysname, u.release, u.machine, "with", lib + version)
    # The clean-up platform.platform() applies to the same parts.
    text = "-".join(p.strip() for p in parts if p).replace(" ", "_")
    for c in '/\\:;"()':
        text = text.replace(c, "-")
    text = text.replace("unknown", "")
    while "--" in text:
        text = text.replace("--", "-")
    return text.rstrip("-")


def environment() -> dict[str, Any]:
    """Interpreter, platform, loopml and imported key package versions."""
    from loopml._version import __version__

    packages = {"loopml": __version__}
    for name in _KEY_PACKAGES:
        module = sys.modules.get(name)
        version = getattr(module, "__version__", None) if module is not None else None
        if isinstance(version, str):
            packages[name] = version
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform_text(),
        "executable": sys.executable,
        "cwd": os.getcwd(),
        "packages": packages,
    }


def run_attributes() -> dict[str, Any]:
    """The run columns filled in at start: git commit and dirty flag, command, host, pid."""
    commit, dirty = git_state(os.getcwd())
    return {
        "git_commit": commit,
        "git_dirty": dirty,
        "command": shlex.join([sys.executable, *sys.argv])
        if sys.argv and sys.argv[0]
        else sys.executable,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "environment": _environment_json(
            os.getcwd(), tuple(m for m in _KEY_PACKAGES if m in sys.modules)
        ),
    }


@functools.lru_cache(maxsize=8)
def _environment_json(cwd: str, imported: tuple[str, ...]) -> str:
    # Keyed by what can change within a process: the folder, and which key packages are loaded.
    return json.dumps(environment())
