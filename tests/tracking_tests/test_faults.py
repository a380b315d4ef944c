"""Faults: SIGKILL at random moments, many writers at once, cut records, live journals."""

from __future__ import annotations

import os
import random
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loopml._config import Settings
from loopml.store import Store
from loopml.tracking import Session
from loopml.tracking._journal import journal_name
from loopml.tracking._recovery import recover as _recover

HERE = Path(__file__).parent


def recover(store: Store) -> object:
    """Replay the journals of dead writers into ``store`` (what a new session does first)."""
    return _recover(store.runs, store.journals_dir, store.settings.stale_after)


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env.update({"LOOPML_DIR": str(data_dir), "PYTHONUNBUFFERED": "1", **extra})
    return env


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_no_acknowledged_point(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    rng = random.Random(1234)
    kills = 20
    results = []
    for attempt in range(kills):
        ack = tmp_path / f"ack{attempt}"
        ack.write_bytes(b"\x00" * 8)
        id_file = tmp_path / f"id{attempt}"
        # A short flush interval makes the kill land during background ingests as well.
        env = _env(data_dir, LOOPML_FLUSH_INTERVAL=rng.choice(["0.01", "0.05", "1"]))
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "_crash_child.py"), str(ack), str(id_file)], env=env
        )
        deadline = time.monotonic() + 60
        while struct.unpack("<q", ack.read_bytes())[0] == 0:
            assert proc.poll() is None, "the logging child died before logging"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        acknowledged = struct.unpack("<q", ack.read_bytes())[0]
        results.append((id_file.read_text(), acknowledged))

    store = Store(Settings(data_dir=data_dir))
    report = recover(store)
    # Each child's start already replayed the journal its predecessor left; the last is ours.
    assert report.journals == 1
    for run_id, acknowledged in results:
        record = store.runs.get(run_id)
        assert record.status == "crashed", run_id
        steps, _, xs = store.runs.history(run_id, "x")
        # Every acknowledged point is there; at most the one in flight beyond it, never a gap.
        assert len(steps) in (acknowledged, acknowledged + 1)
        assert steps == list(range(len(steps)))
        assert xs == [float(s) for s in steps]
        assert store.runs.history(run_id, "y")[2] == [-float(s) for s in steps]
        assert record.metrics["x"].count == len(steps)
        assert record.params == {"kind": "sigkill"}
    assert not list(store.journals_dir.glob("*.journal"))


@pytest.mark.slow
def test_eight_processes_logging_to_one_sqlite_store(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    Store(
        Settings(data_dir=data_dir)
    ).close()  # create the schema once, as a user's first run would
    start = tmp_path / "go"
    workers, runs, points = 8, 3, 1500
    env = _env(data_dir, LOOPML_FLUSH_INTERVAL="0.005")
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(HERE / "_concurrent_child.py"),
                str(w),
                str(start),
                str(runs),
                str(points),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(workers)
    ]
    time.sleep(1.0)
    start.write_text("go")
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
        assert "locked" not in err.lower() and "ok" in out
    store = Store(Settings(data_dir=data_dir))
    records = store.runs.search("concurrent", None, "name", limit=None)
    assert len(records) == workers * runs
    for r in records:
        assert r.status == "finished"
        w, k = r.params["worker"], r.params["r"]
        steps, _, values = store.runs.history(r.id, "v")
        assert steps == list(range(points))  # nothing lost, nothing twice
        assert values == [float(w * 1_000_000 + k * 10_000 + s) for s in range(points)]
        assert r.metrics["v"].count == points
        assert len(r.params) == 2 + len(range(0, points, 250))


def _store_with_journal(tmp_path: Path) -> tuple[Store, Path]:
    store = Store(Settings(data_dir=tmp_path / "data"))
    store.runs.create("deadbeef00000000", "p", "cut", {}, {}, {}, journal_id="j0")
    path = store.journals_dir / journal_name("deadbeef00000000", "j0")
    path.parent.mkdir(parents=True, exist_ok=True)
    return store, path


def test_cut_last_record_is_set_aside_and_the_rest_ingested(tmp_path: Path) -> None:
    store, path = _store_with_journal(tmp_path)
    records = b'm0\t1000000\tx\t1.0\nm1\t2000000\tx\t2.0\nt{"a": "b"}\n'
    path.write_bytes(records + b"m2\t3000000\tx\t3." + b"\x00" * 4096)
    report = recover(store)
    assert report.journals == 1 and report.points == 2 and report.truncated == [path]
    assert store.runs.history("deadbeef00000000", "x")[2] == [1.0, 2.0]
    assert store.runs.get("deadbeef00000000").tags == {"a": "b"}
    assert store.runs.status("deadbeef00000000") == "crashed"
    assert path.with_name(path.name + ".partial").read_bytes().startswith(b"m2\t3000000\tx\t3.")
    assert not path.exists()


def test_record_with_a_hole_counts_as_cut(tmp_path: Path) -> None:
    """A copy interrupted out of order leaves zero bytes inside the record: it is not ingested."""
    store, path = _store_with_journal(tmp_path)
    path.write_bytes(b"m0\t1000000\tx\t1.0\nm1\t2000000\t\x00\x00\x00\t2.0\n" + b"\x00" * 100)
    recover(store)
    assert store.runs.history("deadbeef00000000", "x")[2] == [1.0]


def test_live_journal_is_left_alone_and_replay_is_idempotent(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", flush_interval=3600)
    session = Session(settings)
    run = session.start_run("p")
    run.log({"a": 1.0})
    report = recover(session.store)  # our own lock is held: nothing to recover
    assert report.journals == 0
    assert session.store.runs.status(run.id) == "running"
    run.flush()
    run.flush()  # a second flush of the same bytes ingests nothing twice
    run.log({"a": 2.0})
    run.finish()
    assert session.store.runs.get(run.id).metrics["a"].count == 2
    session.shutdown()


def test_stale_heartbeat_on_another_host_becomes_crashed(tmp_path: Path) -> None:
    store = Store(Settings(data_dir=tmp_path / "data", stale_after=0.01))
    store.runs.create("feedface00000000", "p", "remote", {"host": "elsewhere"}, {}, {})
    time.sleep(0.05)
    report = recover(store)
    assert "feedface00000000" in report.runs_crashed
    assert store.runs.status("feedface00000000") == "crashed"


def test_process_exit_without_finish_marks_finished_and_uncaught_error_failed(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    code = "import loopml; r = loopml.init(project='exit'); r.log({'a': 1.0}); print(r.id)"
    ok = subprocess.run(
        [sys.executable, "-c", code], env=_env(data_dir), capture_output=True, text=True, check=True
    )
    bad = subprocess.run(
        [sys.executable, "-c", code + "; raise SystemError('boom')"],
        env=_env(data_dir),
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0
    store = Store(Settings(data_dir=data_dir))
    assert store.runs.get(ok.stdout.strip()).status == "finished"
    failed = store.runs.get(bad.stdout.strip())
    assert failed.status == "failed" and "SystemError: boom" in (failed.error or "")
    assert failed.metrics["a"].last == 1.0
