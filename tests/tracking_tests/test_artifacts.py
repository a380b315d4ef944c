"""Artifacts: safe names, atomic copies, folders."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import loopml
from loopml import NotFoundError, ValidationError


@pytest.mark.parametrize(
    "name",
    [
        "../escape.txt",
        "a/../../b",
        "/etc/passwd",
        "a\\b",
        "nul\x00.txt",
        "",
        "a//b",
        "./a",
        "C:/x",
        "x" * 501,
    ],
)
def test_unsafe_artifact_names_are_rejected(session: object, tmp_path: Path, name: str) -> None:
    src = tmp_path / "model.bin"
    src.write_bytes(b"weights")
    with loopml.init(project="p") as run:
        with pytest.raises(ValidationError, match="artifact name"):
            run.log_artifact(str(src), name=name)
    assert loopml.get_run(run.id).id == run.id
    assert not (tmp_path / "escape.txt").exists()
    assert run.store.runs.list_artifacts(run.id) == []


def test_file_and_folder_artifacts(session: object, tmp_path: Path) -> None:
    src = tmp_path / "model.bin"
    src.write_bytes(b"w" * 5000)
    folder = tmp_path / "plots"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.csv").write_text("x,y\n1,2\n")
    with loopml.init(project="p") as run:
        assert run.log_artifact(str(src)) == ["model.bin"]
        assert run.log_artifact(str(folder), name="figs") == ["figs/a.txt", "figs/sub/b.csv"]
    store = run.store
    arts = {a.name: a for a in store.runs.list_artifacts(run.id)}
    assert set(arts) == {"model.bin", "figs/a.txt", "figs/sub/b.csv"}
    assert arts["model.bin"].size == 5000
    assert arts["model.bin"].sha256 == hashlib.sha256(b"w" * 5000).hexdigest()
    assert store.runs.artifact_file(run.id, "figs/sub/b.csv").read_text() == "x,y\n1,2\n"
    # no temporary file is ever left visible
    assert not [p for p in (store.artifacts_dir / run.id).rglob("*") if p.name.endswith(".partial")]
    with pytest.raises(NotFoundError):
        store.runs.artifact_file(run.id, "missing.txt")


def test_missing_source_is_a_clear_error(session: object, tmp_path: Path) -> None:
    with loopml.init(project="p") as run:
        with pytest.raises(NotFoundError, match="does not exist"):
            run.log_artifact(str(tmp_path / "nope.bin"))


def test_interrupted_copy_leaves_nothing_visible(session: object, tmp_path: Path) -> None:
    """A copy that fails half way (unreadable source) leaves no file and no record."""
    from loopml.store import _artifacts

    src = tmp_path / "big.bin"
    src.write_bytes(b"x" * (3 << 20))

    class Boom(Exception):
        pass

    real_open = open
    calls = {"n": 0}

    class FailingReader:
        def __init__(self, f: object) -> None:
            self.f = f

        def __enter__(self) -> FailingReader:
            return self

        def __exit__(self, *a: object) -> None:
            self.f.close()  # type: ignore[attr-defined]

        def read(self, n: int) -> bytes:
            calls["n"] += 1
            if calls["n"] > 1:
                raise Boom("disk went away")
            return self.f.read(n)  # type: ignore[attr-defined,no-any-return]

    def fake_open(path: object, mode: str = "r", *a: object, **k: object) -> object:
        f = real_open(path, mode, *a, **k)  # type: ignore[call-overload]
        return FailingReader(f) if mode == "rb" else f

    with loopml.init(project="p") as run:
        _artifacts.open = fake_open  # type: ignore[attr-defined]
        try:
            with pytest.raises(Boom):
                run.log_artifact(str(src))
        finally:
            del _artifacts.open  # type: ignore[attr-defined]
    folder = run.store.artifacts_dir / run.id
    assert not folder.exists() or list(folder.rglob("*")) == []
    assert run.store.runs.list_artifacts(run.id) == []


def test_artifact_of_a_run_not_yet_stored_survives_sigkill(tmp_path: Path) -> None:
    """log_artifact on the local store no longer ingests first: a process killed right after
    it returns, before any ingest, still leaves the run, its points and the artifact."""
    import os
    import subprocess
    import sys

    from loopml._config import Settings
    from loopml.store import Store
    from loopml.tracking._recovery import recover

    data_dir = tmp_path / "data"
    src = tmp_path / "model.bin"
    src.write_bytes(b"weights")
    child = (
        "import os, signal, sys, loopml\n"
        "run = loopml.init(project='p', system_metrics=False)\n"
        "run.log({'x': 1.0})\n"
        "assert run.journal.ingested == 0  # nothing in the store yet\n"
        "run.log_artifact(sys.argv[1], 'model.bin')\n"
        "assert run.journal.ingested == 0\n"
        "print(run.id, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env.update({"LOOPML_DIR": str(data_dir), "LOOPML_FLUSH_INTERVAL": "600"})
    proc = subprocess.run(
        [sys.executable, "-c", child, str(src)], env=env, capture_output=True, text=True
    )
    assert proc.returncode == -9, proc.stderr
    run_id = proc.stdout.strip()
    store = Store(Settings(data_dir=data_dir))
    try:
        report = recover(store.runs, store.journals_dir, store.settings.stale_after)
        assert report.journals == 1
        record = store.runs.get(run_id)
        assert record.status == "crashed"
        assert record.metrics["x"].last == 1.0
        [artifact] = store.runs.list_artifacts(run_id)
        assert artifact.name == "model.bin"
        assert store.runs.artifact_file(run_id, "model.bin").read_bytes() == b"weights"
    finally:
        store.close()
