"""Faults: each bad objective gives a clear message and a failed trial, and the sweep goes on.

Also: Ctrl-C marks unfinished trials killed; a sweep killed with SIGKILL resumes with no trial
lost or run twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import loopml
from loopml.store import SweepStore
from loopml.tracking import default_session
from tests.sweeps_tests._objectives import by_mode

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def python_sigint() -> Iterator[None]:
    """Python's SIGINT handler, as in a terminal (a suite run in the background ignores SIGINT)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def _errors(sweep: loopml.Sweep) -> dict[str, str]:
    out = {}
    for _, row in sweep.trials.iterrows():
        record = loopml.get_run(row["run_id"])
        out[row["params.mode"]] = (row["state"], record.status, record.error or "")
    return out  # type: ignore[return-value]


def test_each_fault_fails_its_trial_and_the_sweep_goes_on(session: Any) -> None:
    modes = ["ok", "raise", "nan", "missing", "hang", "die"]
    sweep = loopml.sweep(
        by_mode,
        {"mode": loopml.choice(modes)},
        n_trials=len(modes),
        sampler="grid",
        parallel=2,
        timeout_per_trial=1.5,
        retries=1,
        progress=False,
    )
    seen = _errors(sweep)
    assert set(seen) == set(modes)
    assert seen["ok"][:2] == ("finished", "finished")
    for mode in modes[1:]:
        assert seen[mode][:2] == ("failed", "failed"), mode
    assert "boom from the objective" in seen["raise"][2]
    assert "returned NaN for 'val_acc'" in seen["nan"][2]
    assert "without the sweep's metric 'val_acc'" in seen["missing"][2]
    assert "ran past its timeout of 1.5 s" in seen["hang"][2]
    assert "died (exit code -9)" in seen["die"][2] and "after 2 attempts" in seen["die"][2]
    attempts = dict(zip(sweep.trials["params.mode"], sweep.trials["attempts"], strict=True))
    assert attempts["die"] == 2 and attempts["raise"] == 1  # only a dead worker is retried
    assert sweep.best_value == 0.5


def test_a_dead_worker_is_retried_and_can_succeed(tmp_path: Path) -> None:
    marker = tmp_path / "died-once"

    def flaky(params: dict[str, Any], run: Any) -> float:
        if not marker.exists():
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return 1.0

    sweep = loopml.sweep(
        flaky, {"x": loopml.uniform(0, 1)}, n_trials=1, parallel=1, retries=1, progress=False
    )
    row = sweep.trials.iloc[0]
    assert row["state"] == "finished" and row["attempts"] == 2


_CHILD = """
import os, signal, sys
# As a terminal's foreground job: Python's own SIGINT handler (see ``_child``).
signal.signal(signal.SIGINT, signal.default_int_handler)
import loopml
from tests.sweeps_tests._objectives import slow_logged
sweep_id = sys.argv[1] if len(sys.argv) > 1 else None
if sweep_id:
    loopml.resume_sweep(sweep_id, progress=False)
else:
    loopml.sweep(slow_logged, {"x": loopml.uniform(0, 1)}, n_trials=int(os.environ["N"]), parallel=2,
                 sampler="random", project="crash", progress=False,
                 cache=os.environ.get("CACHE", "1") == "1")
"""


def _child(tmp_path: Path, *args: str, n: int = 8, script: str = _CHILD) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "LOOPML_TEST_LOG": str(tmp_path / "calls.log"),
        "LOOPML_TEST_SLEEP": "0.4",
        "N": str(n),
    }
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}"
    # Started with SIGINT ignored, as every process of a test suite run in the background by a
    # non-interactive shell (`make test &`) is: Python then keeps ignoring it, and a Ctrl-C test
    # would see the sweep run to its end. The child script sets Python's handler back, as a
    # terminal's foreground job has it; starting it so here makes that condition the same in
    # every run, wherever the suite runs.
    ignoring = ["sh", "-c", 'trap "" INT; exec "$0" "$@"', sys.executable]
    return subprocess.Popen(
        [*ignoring, "-c", script, *args], env=env, cwd=tmp_path, start_new_session=True
    )


def _wait_for(predicate: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def _states(sweeps: SweepStore) -> dict[int, str]:
    found = sweeps.list_sweeps(project="crash")
    return {t.number: t.state for t in sweeps.load_trials(found[0].id)} if found else {}


def test_sigkill_then_resume_loses_no_trial_and_runs_none_twice(tmp_path: Path) -> None:
    sweeps = default_session().store.sweeps
    child = _child(tmp_path)
    _wait_for(lambda: list(_states(sweeps).values()).count("finished") >= 2)
    os.killpg(child.pid, signal.SIGKILL)  # the sweep and its workers, at once
    child.wait()
    states = _states(sweeps)
    assert "running" in states.values()  # trials were in flight
    sweep_id = sweeps.list_sweeps(project="crash")[0].id
    resumed = _child(tmp_path, sweep_id)
    assert resumed.wait(timeout=120) == 0
    trials = sweeps.load_trials(sweep_id)
    assert [t.number for t in trials] == list(range(8))
    assert all(t.state == "finished" for t in trials)
    ends = (tmp_path / "calls.log").read_text().split()
    ended = [int(n) for kind, n in zip(ends[::2], ends[1::2], strict=True) if kind == "end"]
    assert sorted(ended) == list(range(8))  # each trial completed exactly once
    runs = loopml.runs("crash", limit=None)
    assert len(runs) == 8 and set(runs["status"]) == {"finished"}


@pytest.mark.parametrize("cache", [True, False], ids=["store-open", "store-opens-behind"])
def test_ctrl_c_marks_unfinished_trials_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache: bool
) -> None:
    # Without the cache the sweep does not wait for its store process to open the store: Ctrl-C
    # comes while its trials are only kept in the sweep's journal.
    monkeypatch.setenv("CACHE", "1" if cache else "0")
    sweeps = default_session().store.sweeps
    child = _child(tmp_path, n=6)
    calls = tmp_path / "calls.log"
    # A trial has started in the child (6 trials of 0.4 s on 2 workers: the sweep is mid-call).
    # Not "running" in the store: a first sweep's store process may store behind the sweep,
    # so a running row there no longer means the child is still in the call.
    _wait_for(lambda: calls.exists() and "start" in calls.read_text())
    os.killpg(child.pid, signal.SIGINT)  # what the terminal sends on Ctrl-C
    assert child.wait(timeout=30) != 0
    states = _states(sweeps)
    assert "killed" in states.values() and "running" not in states.values()
    record = sweeps.list_sweeps(project="crash")[0]
    assert record.status == "stopped"
    killed = [t for t in sweeps.load_trials(record.id) if t.state == "killed"]
    assert loopml.get_run(killed[0].run_id).status == "killed"
    resumed = _child(tmp_path, record.id, n=6)
    assert resumed.wait(timeout=120) == 0
    assert {t.state for t in sweeps.load_trials(record.id)} == {"finished"}


# A first sweep that returns while its store process has not stored it (the store opens only
# once the test says "go"), then waits for that store process as the interpreter exits.
_EXIT_WAIT_CHILD = """
import os, signal, time
signal.signal(signal.SIGINT, signal.default_int_handler)
import loopml
import loopml.store
from loopml import _store_waits

opened = loopml.store.Store

def store_after_go(*args, **kwargs):
    while not os.path.exists("go"):
        time.sleep(0.02)
    return opened(*args, **kwargs)

loopml.store.Store = store_after_go  # the store process, forked later, opens it so
loopml.sweep(lambda params, run: params["x"], {"x": loopml.uniform(0, 1)}, n_trials=int(os.environ["N"]),
             sampler="random", project="crash", cache=False, progress=False)
waits = list(_store_waits._waits)
assert waits, "the sweep was expected to hand its store process off"

def waiting():
    open("waiting", "w").close()
    for wait in waits:
        wait()

_store_waits._waits[:] = [waiting]
"""


def test_ctrl_c_while_exit_waits_for_the_store_process_is_an_interrupt_and_keeps_trials(
    tmp_path: Path,
) -> None:
    sweeps = default_session().store.sweeps
    child = _child(tmp_path, n=20, script=_EXIT_WAIT_CHILD)
    try:
        _wait_for(lambda: (tmp_path / "waiting").exists() or child.poll() is not None)
        os.killpg(child.pid, signal.SIGINT)
        assert child.wait(timeout=30) == -signal.SIGINT  # not 0, and no second Ctrl-C needed
    finally:
        # The store process ignored the SIGINT; it stores the sweep once it can open the store.
        (tmp_path / "go").touch()
    # Everything it kept: the trials, then the sweep's status, then it deletes the journal.
    _wait_for(lambda: not list((tmp_path / "loopml-data" / "sweep-journals").glob("*.journal")))
    assert list(_states(sweeps).values()) == ["finished"] * 20
    assert sweeps.list_sweeps(project="crash")[0].status == "finished"


# A first sweep whose store process never keeps anything: a Ctrl-C's wait for the killed trials
# to be kept would never end. "waiting" is written each time the sweep starts waiting for them.
_STUCK_STORE_CHILD = """
import os, signal, time
signal.signal(signal.SIGINT, signal.default_int_handler)
import loopml
from loopml.store import SweepJournal
from loopml.sweeps._writer import ProcessWriter
from tests.sweeps_tests._objectives import slow_logged

def never_kept(self, pickled):
    while True:
        time.sleep(1)

SweepJournal.keep_message = never_kept  # in the store process, forked later

drain = ProcessWriter.drain

def drain_told(self):
    open("waiting", "a").close()
    drain(self)

ProcessWriter.drain = drain_told
loopml.sweep(slow_logged, {"x": loopml.uniform(0, 1)}, n_trials=6, parallel=2, sampler="random",
             project="crash", cache=False, progress=False)
"""


def test_a_second_ctrl_c_ends_the_wait_for_a_stuck_store(tmp_path: Path) -> None:
    child = _child(tmp_path, script=_STUCK_STORE_CHILD)
    calls = tmp_path / "calls.log"
    try:
        _wait_for(lambda: calls.exists() and "start" in calls.read_text())
        os.killpg(child.pid, signal.SIGINT)
        _wait_for(lambda: (tmp_path / "waiting").exists())
        os.killpg(child.pid, signal.SIGINT)
        assert child.wait(timeout=60) == -signal.SIGINT
    finally:
        if child.poll() is None:  # it hung: its store process too
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


@pytest.mark.usefixtures("python_sigint")
def test_a_ctrl_c_while_the_killed_trials_are_handed_over_comes_after_it() -> None:
    from loopml.sweeps._sigint import ctrl_c_deferred

    done: list[str] = []
    with pytest.raises(KeyboardInterrupt), ctrl_c_deferred():
        signal.raise_signal(signal.SIGINT)
        done.append("handed over")
    assert done == ["handed over"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_wait_cut_short_by_ctrl_c_is_waited_for_again(monkeypatch: Any) -> None:
    from loopml import _store_waits

    monkeypatch.setattr(_store_waits, "_waits", [])
    done: list[str] = []

    def first() -> None:
        if not done:
            done.append("interrupted")
            raise KeyboardInterrupt
        done.append("first")

    _store_waits.hand_off(first)
    _store_waits.hand_off(lambda: done.append("second"))
    with pytest.raises(KeyboardInterrupt):
        _store_waits.wait_for_handoffs()
    assert done == ["interrupted"]
    _store_waits.wait_for_handoffs()  # the next reader, or the exit, waits for both
    assert done == ["interrupted", "first", "second"]
    assert _store_waits._waits == []


def _ignore_sigint_once_sent(started: Any) -> None:
    from loopml.sweeps._sigint import ignore_sigint

    started.set()
    deadline = time.monotonic() + 30
    while signal.SIGINT not in signal.sigpending():  # held back since the fork
        assert time.monotonic() < deadline
        time.sleep(0.01)
    ignore_sigint()


@pytest.mark.usefixtures("python_sigint")
def test_ctrl_c_just_after_a_sweep_forks_a_child_does_not_reach_the_child() -> None:
    import multiprocessing as mp

    from loopml.sweeps._sigint import sigint_held

    ctx = mp.get_context("fork")
    started = ctx.Event()
    child = ctx.Process(target=_ignore_sigint_once_sent, args=(started,))
    with sigint_held():
        child.start()
    assert started.wait(30)
    os.kill(child.pid, signal.SIGINT)  # before the child ignores it
    child.join(30)
    assert child.exitcode == 0  # not 1, from a KeyboardInterrupt in the child


def test_an_idle_worker_killed_from_outside_is_replaced(tmp_path: Path) -> None:
    from loopml.sweeps._local import LocalExecutor
    from loopml.sweeps._trial import TrialResult, TrialSpec

    executor = LocalExecutor(parallel=1)
    executor.start(lambda params, run: 1.0, "val_acc", None)
    try:
        victim = executor.workers[0].process
        os.kill(victim.pid, signal.SIGKILL)
        victim.join(5)
        assert executor.poll(1.0) == []  # nothing was running: no trial lost
        assert executor.workers[0].process.is_alive() and executor.workers[0].process is not victim
        executor.submit([TrialSpec(0, "r0", "t-0", "p", {"x": 1})])
        events: list[object] = []
        while not events:
            events = executor.poll(1.0)
        assert isinstance(events[0], TrialResult) and events[0].value == 1.0
    finally:
        executor.shutdown()
