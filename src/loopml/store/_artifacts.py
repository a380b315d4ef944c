"""Artifact files: safe names and atomic copies under ``<data_dir>/artifacts/<run id>/``."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from pathlib import Path, PurePosixPath
from typing import Any

from loopml._errors import NotFoundError, ValidationError

MAX_NAME_LENGTH = 500
_CHUNK = 1 << 20


def check_artifact_name(name: object) -> str:
    """Return ``name`` if it is a safe relative POSIX path, else raise ValidationError."""
    if not isinstance(name, str):
        raise ValidationError(f"an artifact name must be a string, not {type(name).__name__}")
    rule = (
        "artifact names are relative paths of 1-500 characters with '/' between parts, "
        "and no '..', no leading '/', no backslash, no NUL"
    )
    if not name or len(name) > MAX_NAME_LENGTH:
        raise ValidationError(f"artifact name of {len(name)} characters is not allowed: {rule}")
    if "\x00" in name:
        raise ValidationError(f"artifact name {name!r} contains a NUL character: {rule}")
    if "\\" in name:
        raise ValidationError(f"artifact name {name!r} contains a backslash; use '/': {rule}")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ValidationError(f"artifact name {name!r} is an absolute path: {rule}")
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ValidationError(f"artifact name {name!r} has an empty, '.' or '..' part: {rule}")
    return name


def artifact_path(root: Path, run_id: str, name: str) -> Path:
    """Where artifact ``name`` of ``run_id`` lives (the name is checked first)."""
    base = (root / run_id).resolve()
    path = (base / check_artifact_name(name)).resolve()
    if base not in path.parents:
        raise ValidationError(f"artifact name {name!r} leaves the run's artifact folder")
    return path


def save_artifacts(
    root: Path, run_id: str, source: str | os.PathLike[str], name: str | None
) -> list[dict[str, Any]]:
    """Copy a file (or every file under a folder) in as artifacts; returns their records.

    Each file is written to a temporary name and renamed into place, so an interrupted copy
    never shows up as an artifact.
    """
    src = Path(source)
    if not src.exists():
        raise NotFoundError(f"cannot log artifact: {str(src)!r} does not exist")
    base = name if name is not None else src.name
    check_artifact_name(base)
    if src.is_dir():
        files = sorted(p for p in src.rglob("*") if p.is_file())
        pairs = [(p, f"{base}/{p.relative_to(src).as_posix()}") for p in files]
    else:
        pairs = [(src, base)]
    records = []
    for path, art_name in pairs:
        records.append(_copy_one(root, run_id, path, art_name))
    return records


def save_artifact_bytes(root: Path, run_id: str, name: str, data: bytes) -> dict[str, Any]:
    """Store ``data`` as artifact ``name`` of ``run_id`` (atomically); returns its record."""
    dest = artifact_path(root, run_id, name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.partial")
    try:
        with open(tmp, "wb") as fout:
            fout.write(data)
            fout.flush()
            os.fsync(fout.fileno())
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()
    return {
        "name": str(PurePosixPath(name)),
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "created_at": time.time(),
    }


def _copy_one(root: Path, run_id: str, src: Path, name: str) -> dict[str, Any]:
    dest = artifact_path(root, run_id, name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.partial")
    digest = hashlib.sha256()
    size = 0
    try:
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            while chunk := fin.read(_CHUNK):
                digest.update(chunk)
                fout.write(chunk)
                size += len(chunk)
            fout.flush()
            os.fsync(fout.fileno())
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()
    return {
        "name": str(PurePosixPath(name)),
        "size": size,
        "sha256": digest.hexdigest(),
        "created_at": time.time(),
    }
