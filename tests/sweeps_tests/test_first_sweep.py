"""A fresh process's first sweep: the stdlib random search, and the forked store process.

The random search must draw what Optuna's distributions allow and store their JSON exactly as
Optuna writes it (resume and the analysis read it back through Optuna). The store process must
lose no trial whichever side dies: the driver keeps every batch until it is acknowledged and
writes it itself if the store process dies; the store process writes every batch it received
before it sees the driver gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from optuna.distributions import distribution_to_json, json_to_distribution

import loopml
from loopml._config import Settings
from loopml._errors import LoopmlError
from loopml.store import Store, TrialWrite
from loopml.sweeps import _writer
from loopml.sweeps._random import RandomSearch, distribution_json, uses_stdlib_random
from loopml.sweeps._space import SpaceSpec
from loopml.sweeps._writer import NewSweep, ProcessWriter
from tests.sweeps_tests._objectives import quadratic

ROOT = Path(__file__).resolve().parents[2]

PARAMS = {
    "u": loopml.uniform(-2.5, 3.0),
    "us": loopml.uniform(0.0, 1.0, step=0.3),  # Optuna moves high down to 0.9
    "lu": loopml.loguniform(1e-5, 1e-1),
    "i": loopml.intrange(2, 10),
    "istep": loopml.intrange(0, 11, step=2),  # high becomes 10
    "ilog": loopml.intrange(1, 1000, log=True),
    "c": loopml.choice(["adam", 3, None, True, 2.5]),
}


@pytest.mark.filterwarnings("ignore:The distribution is specified by")  # Optuna moves high
@pytest.mark.parametrize("name", sorted(PARAMS))
def test_distribution_json_is_optunas(name: str) -> None:
    param = PARAMS[name]
    assert json.loads(distribution_json(param)) == json.loads(
        distribution_to_json(param.to_optuna())
    )


def test_random_draws_lie_in_their_distributions_and_cover_them() -> None:
    search = RandomSearch(SpaceSpec({**PARAMS, "fixed": "yes"}), seed=3)
    dists = {k: json_to_distribution(v) for k, v in search.dists_json.items()}
    seen: dict[str, set[Any]] = {k: set() for k in PARAMS}
    for _ in range(2000):
        _, params, _ = search.ask()
        assert params["fixed"] == "yes"
        for k in PARAMS:
            assert dists[k]._contains(dists[k].to_internal_repr(params[k])), (k, params[k])
            seen[k].add(params[k])
    assert seen["i"] == set(range(2, 11))
    assert seen["istep"] == {0, 2, 4, 6, 8, 10}
    assert {round(v, 9) for v in seen["us"]} == {0.0, 0.3, 0.6, 0.9}
    assert seen["c"] == {"adam", 3, None, True, 2.5}
    assert min(seen["ilog"]) < 10 and max(seen["ilog"]) > 100  # log-spaced over the range
    lus = sorted(seen["lu"])
    assert lus[len(lus) // 2] < 1e-2  # log-uniform: the median is near the geometric middle


def test_random_search_is_seeded_and_replays_enqueued_params() -> None:
    def draws(seed: int | None) -> list[dict[str, Any]]:
        search = RandomSearch(SpaceSpec(PARAMS), seed)
        return [search.ask()[1] for _ in range(20)]

    assert draws(7) == draws(7)
    assert draws(7) != draws(8)
    search = RandomSearch(SpaceSpec({"x": loopml.uniform(0, 1), "k": 3}), seed=0)
    search.enqueue({"x": 0.25})
    assert search.ask()[1] == {"k": 3, "x": 0.25}
    assert search.ask()[1]["x"] != 0.25
    assert search.report(None, 1.0, 0) is False  # never prunes


def test_only_plain_random_sampling_skips_optuna() -> None:
    space = SpaceSpec({"x": loopml.uniform(0, 1)})
    assert uses_stdlib_random("random", None, space)
    assert not uses_stdlib_random("tpe", None, space)
    assert not uses_stdlib_random("random", "median", space)
    assert not uses_stdlib_random("random", None, SpaceSpec(lambda t: {"x": 1}))


def test_seeded_random_sweeps_repeat_and_resume(session: Any) -> None:
    space = {"x": loopml.uniform(0, 1), "n": loopml.intrange(1, 4)}
    kwargs: dict[str, Any] = {"sampler": "random", "seed": 11, "cache": False, "progress": False}
    first = loopml.sweep(quadratic, space, n_trials=6, **kwargs)
    again = loopml.sweep(quadratic, space, n_trials=6, **kwargs)
    params = [dict(t.params) for t in first.trial_rows()]
    assert params == [dict(t.params) for t in again.trial_rows()]
    resumed = first.resume(n_trials=9)
    rows = resumed.trial_rows()
    assert [t.number for t in rows] == list(range(9)) and {t.state for t in rows} == {"finished"}
    assert all(0 <= t.params["x"] <= 1 and t.params["n"] in range(1, 5) for t in rows)
    assert resumed.best_value == max(t.value for t in rows if t.value is not None)


_FRESH = """
import sys
import loopml
from tests.sweeps_tests._objectives import quadratic
sweep = loopml.sweep(quadratic, {"x": loopml.uniform(0, 1)}, n_trials=40, parallel=2,
                     sampler="random", seed=0, cache=False, progress=False, project="fresh")
heavy = sorted(m for m in ("sqlalchemy", "optuna", "pandas", "numpy") if m in sys.modules)
print("HEAVY", ",".join(heavy))
print("STATUS", sweep.status, len(sweep.trial_rows()))
"""


def test_a_fresh_process_sweeps_without_loading_the_store_or_optuna(tmp_path: Path) -> None:
    env = {**os.environ, "LOOPML_DIR": str(tmp_path / "data")}
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}"
    done = subprocess.run(
        [sys.executable, "-c", _FRESH], env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    # The sweep itself loaded none of them; reading the result back opened the store.
    assert lines["HEAVY"].strip() in ("sqlalchemy", "")
    assert lines["STATUS"] == "finished 40"
    store = Store(Settings.from_env({"LOOPML_DIR": str(tmp_path / "data")}))
    runs = store.runs.count("fresh", None)
    assert runs == 40


# -- the store process ----------------------------------------------------------------------------
def _new(sweep_id: str = "s1") -> NewSweep:
    config = {"n_trials": 30, "cache": False, "objective_key": "k"}
    return NewSweep(sweep_id, "p", "sw", "val_acc", "max", "", config)


def _trial(n: int, state: str = "finished") -> TrialWrite:
    return TrialWrite(
        number=n, run_id=f"{n:016x}", name=f"sw-{n}", state=state, params={"x": n / 10},
        encoded_params={"x": ("float", n / 10)}, distributions={}, started_at=time.time(),
        value=float(n) if state == "finished" else None, ended_at=time.time(),
        points=[(0, time.time(), "val_acc", float(n))] if state == "finished" else [],
    )  # fmt: skip


def _open(settings: Settings) -> Any:
    return Store(settings).sweeps


def test_store_process_writes_the_sweep_and_its_trials(tmp_path: Path) -> None:
    settings = Settings.from_env({"LOOPML_DIR": str(tmp_path / "data")})
    writer = ProcessWriter(settings, _new(), lambda: _open(settings), dict)
    assert writer.cached() == {}
    writer.submit([_trial(n, "running") for n in range(10)])
    writer.submit([_trial(n) for n in range(10)])
    writer.heartbeat([])
    record = writer.close("finished")
    assert record.status == "finished" and record.id == "s1"
    rows = _open(settings).load_trials("s1")
    assert [t.number for t in rows] == list(range(10)) and {t.state for t in rows} == {"finished"}
    # The store process ended with its sweep (a fork left running would hold this process's
    # files and sockets open); the next sweep forks its own.
    assert _writer._PROCESS is None
    writer = ProcessWriter(settings, _new("s2"), lambda: _open(settings), dict)
    proc = _writer._PROCESS
    assert proc is not None and proc.alive()
    writer.close("finished")
    # Closed before its store was open, the sweep returned once the store process had kept its
    # messages in the sweep's journal; opening the store here waits until they are stored.
    assert _writer._PROCESS is None
    assert _open(settings).get("s2").status == "finished"
    assert not proc.alive()


def test_a_killed_store_process_loses_no_trial(tmp_path: Path) -> None:
    settings = Settings.from_env({"LOOPML_DIR": str(tmp_path / "data")})
    writer = ProcessWriter(settings, _new(), lambda: _open(settings), dict)
    writer.submit([_trial(n) for n in range(5)])
    assert _writer._PROCESS is not None
    os.kill(_writer._PROCESS.process.pid, signal.SIGKILL)  # maybe before it wrote anything
    writer.submit([_trial(n) for n in range(5, 12)])
    writer.heartbeat([_trial(0).run_id])
    record = writer.close("finished")
    assert record.status == "finished"
    rows = _open(settings).load_trials("s1")
    assert [t.number for t in rows] == list(range(12))
    assert all(t.state == "finished" and t.value == t.number for t in rows)


def test_a_sweep_goes_on_when_its_store_process_dies(tmp_path: Path) -> None:
    # ``setup`` runs in the driver after the store process started: it hands its pid to trials.
    def setup() -> int:
        assert _writer._PROCESS is not None
        return _writer._PROCESS.process.pid

    def objective(params: dict[str, Any], run: Any) -> float:
        if params["x"] == 7:
            os.kill(loopml.sweeps.worker_data(), signal.SIGKILL)
        return float(params["x"])

    sweep = loopml.sweep(
        objective, {"x": loopml.intrange(0, 1000)}, n_trials=300, sampler="random", seed=1,
        cache=False, progress=False, setup=setup, project="killed-store",
    )  # fmt: skip
    rows = sweep.trial_rows()
    assert [t.number for t in rows] == list(range(300))
    assert {t.state for t in rows} == {"finished"} and sweep.status == "finished"
    assert loopml.runs("killed-store", limit=None).shape[0] == 300


_DRIVER = """
import os, signal, sys, time
sys.path.insert(0, sys.argv[2])
from loopml._config import Settings
from loopml.store import Store
from loopml.sweeps._writer import ProcessWriter
from tests.sweeps_tests.test_first_sweep import _new, _trial
settings = Settings.from_env()
writer = ProcessWriter(settings, _new(), lambda: Store(settings).sweeps, dict)
for n in range(int(sys.argv[1])):
    writer.submit([_trial(n)])
print("SENT", flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # the driver dies with nothing drained
"""


def test_a_killed_driver_loses_no_trial_it_sent(tmp_path: Path) -> None:
    env = {**os.environ, "LOOPML_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-c", _DRIVER, "25", str(ROOT)], env=env, cwd=tmp_path,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert "SENT" in done.stdout, done.stderr
    assert done.returncode == -signal.SIGKILL
    settings = Settings.from_env({"LOOPML_DIR": str(tmp_path / "data")})
    deadline = time.monotonic() + 60
    while True:  # the orphaned store process finishes on its own
        try:
            rows = _open(settings).load_trials("s1")
        except LoopmlError:
            rows = []
        if len(rows) == 25 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [t.number for t in rows] == list(range(25))


def test_a_failed_write_is_raised_in_the_driver(tmp_path: Path) -> None:
    settings = Settings.from_env({"LOOPML_DIR": str(tmp_path / "data")})
    writer = ProcessWriter(settings, _new(), lambda: _open(settings), dict)
    assert writer.cached() == {}  # once the store is open, a sweep waits for its writes
    bad = _trial(1)
    bad.state = "no-such-state"  # the store rejects it (unknown run status)
    writer.submit([bad])
    with pytest.raises(Exception) as caught:
        writer.drain()
    assert "no-such-state" in str(caught.value)
    writer.close("stopped")
    assert _open(settings).get("s1").status == "stopped"


def test_replies_left_by_an_interrupted_sweep_are_ignored(tmp_path: Path) -> None:
    settings = Settings.from_env({"LOOPML_DIR": str(tmp_path / "data")})
    first = ProcessWriter(settings, _new("a"), lambda: _open(settings), dict)
    first.submit([_trial(n) for n in range(3)])  # never drained: its replies stay in the pipe
    second = ProcessWriter(settings, _new("b"), lambda: _open(settings), dict)
    second.submit([_trial(n) for n in range(2)])
    second.submit([_trial(n) for n in range(2, 4)])
    record = second.close("finished")
    assert record.id == "b" and record.status == "finished"
    assert [t.number for t in _open(settings).load_trials("b")] == [0, 1, 2, 3]
    assert [t.number for t in _open(settings).load_trials("a")] == [0, 1, 2]


# -- returning before the store is open -----------------------------------------------------------
_LOCKER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")  # as loopml's: connecting needs no lock then
db.execute("BEGIN IMMEDIATE")
print("LOCKED", flush=True)
sys.stdin.readline()  # until the test lets go (forks hold the pipe: no EOF)
db.execute("ROLLBACK")
"""


@contextlib.contextmanager
def _store_locked(data: Path) -> Iterator[None]:
    """Hold a new SQLite store's write lock (from another process: a SQLite connection must not
    be open across a fork): a store process cannot create the store's tables meanwhile."""
    data.mkdir(parents=True, exist_ok=True)
    locker = subprocess.Popen(
        [sys.executable, "-c", _LOCKER, str(data / "loopml.db")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert locker.stdout is not None and locker.stdout.readline().strip() == "LOCKED"
        yield
    finally:
        locker.communicate("go\n", timeout=60)


def test_a_write_failing_after_the_sweep_returned_stays_in_its_journal(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    settings = Settings.from_env({"LOOPML_DIR": str(tmp_path / "data")})
    with _store_locked(tmp_path / "data"):
        writer = ProcessWriter(settings, _new(), lambda: _open(settings), dict)
        bad = _trial(1)
        bad.state = "no-such-state"
        writer.submit([_trial(0), bad])
        record = writer.close("finished")  # kept in the journal: the store is not open yet
        assert record.status == "finished" and _writer._PROCESS is None
    store = Store(settings)  # waits for the store process, then replays what it kept
    assert store.sweeps.get("s1").status == "finished"
    assert store.sweeps.load_trials("s1") == []  # the failed transaction held both trials
    journals = tmp_path / "data" / "sweep-journals"
    assert [p.name for p in journals.iterdir()] == ["s1.journal.failed"]
    err = capfd.readouterr().err
    assert "could not store sweep s1" in err and "no-such-state" in err
    assert "could not store the sweep journal s1.journal" in err
    Store(settings).close()  # a failed journal is set aside, not retried at every opening


_KILLED_STORE = """
import multiprocessing, os, signal, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import loopml
from tests.sweeps_tests._objectives import quadratic
from tests.sweeps_tests.test_first_sweep import _store_locked
data = os.environ["LOOPML_DIR"]
with _store_locked(Path(data)):
    sweep = loopml.sweep(quadratic, {"x": loopml.uniform(0, 1)}, n_trials=60, sampler="random",
                         seed=0, cache=False, progress=False, project="kept")
    (store,) = [p for p in multiprocessing.active_children() if p.name == "loopml-sweep-store"]
    assert sorted(os.listdir(os.path.join(data, "sweep-journals"))) == [sweep.id + ".journal"]
    os.kill(store.pid, signal.SIGKILL)  # nothing it kept is stored yet
    store.join()
print("SWEEP", sweep.id, flush=True)
os._exit(0)
"""


def test_trials_kept_by_a_killed_store_process_are_stored_at_the_next_opening(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "LOOPML_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-c", _KILLED_STORE, str(ROOT)], env=env, cwd=tmp_path,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    sweep_id = done.stdout.split("SWEEP ", 1)[1].split()[0]
    settings = Settings.from_env({"LOOPML_DIR": str(tmp_path / "data")})
    sweeps = Store(settings).sweeps  # opening the store replays the dead process's journal
    assert sweeps.get(sweep_id).status == "finished"
    rows = sweeps.load_trials(sweep_id)
    assert [t.number for t in rows] == list(range(60))
    assert {t.state for t in rows} == {"finished"} and all(t.value is not None for t in rows)
    assert sweeps.store.runs.count("kept", None) == 60
    assert list((tmp_path / "data" / "sweep-journals").iterdir()) == []


def test_a_reader_in_the_sweeping_process_sees_every_trial(tmp_path: Path) -> None:
    settings = Settings.from_env({"LOOPML_DIR": str(tmp_path / "data")})
    with _store_locked(tmp_path / "data"):
        writer = ProcessWriter(settings, _new(), lambda: _open(settings), dict)
        writer.submit([_trial(n) for n in range(20)])
        writer.close("finished")
    # Not stored yet when close returned; a store opened in this process waits for them.
    assert [t.number for t in _open(settings).load_trials("s1")] == list(range(20))


class _Planted:
    """Stands for any global a planted journal might name (os.system, say)."""


def test_a_journal_naming_any_other_global_is_refused_not_imported(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    import base64
    import pickle

    settings = Settings.from_env({"LOOPML_DIR": str(tmp_path / "data")})
    Store(settings).close()
    journals = tmp_path / "data" / "sweep-journals"
    journals.mkdir()
    planted = pickle.dumps(("close", "s9", _Planted()))
    (journals / "s9.journal").write_bytes(base64.b64encode(planted) + b"\n")
    store = Store(settings)  # opening replays the journal: refused, set aside, store opens
    try:
        assert [p.name for p in journals.iterdir()] == ["s9.journal.failed"]
        err = capfd.readouterr().err
        assert "may not refer to" in err and "_Planted" in err
    finally:
        store.close()
