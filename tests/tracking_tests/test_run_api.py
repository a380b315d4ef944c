"""The tracking client on both backends: logging, params, tags, statuses, queries."""

from __future__ import annotations

import math

import numpy as np
import pytest

import loopml
from loopml import ConflictError, InvalidValueTypeError, LoopmlError, ValidationError


class TorchLikeScalar:
    """Quacks like a 0-d torch tensor: ``.item()`` and an empty ``shape``."""

    shape = ()

    def __init__(self, v: float) -> None:
        self.v = v

    def item(self) -> float:
        return self.v


def test_log_auto_step_and_history(session: object) -> None:
    with loopml.init(project="p", config={"lr": 0.1}) as run:
        for i in range(5):
            run.log({"loss": 1.0 / (i + 1)})
        run.log({"acc": 0.5}, step=10)
        run.log({"acc": 0.6})
        assert run.step == 12
    r = loopml.get_run(run.id)
    assert r.status == "finished" and r.ended_at is not None
    h = r.history(["loss", "acc"])
    assert list(h["step"]) == [0, 1, 2, 3, 4, 10, 11]
    assert h["loss"].iloc[:5].tolist() == [1.0, 0.5, 1 / 3, 0.25, 0.2]
    assert h["acc"].iloc[5:].tolist() == [0.5, 0.6]


def test_special_values_and_scalar_types_round_trip(session: object) -> None:
    values = {
        "nan": math.nan,
        "inf": math.inf,
        "ninf": -math.inf,
        "negzero": -0.0,
        "huge": 1e308,
        "np32": np.float32(0.1),
        "np64": np.float64(1 / 3),
        "npint": np.int64(7),
        "torchlike": TorchLikeScalar(2.5),
        "zero_d_array": np.array(4.25),
        "pyint": 3,
        "boolean": True,
    }
    with loopml.init(project="p") as run:
        run.log(values)
    m = loopml.get_run(run.id).metrics
    assert math.isnan(m["nan"].last)
    assert m["inf"].last == math.inf and m["ninf"].last == -math.inf
    assert m["negzero"].last == 0.0 and math.copysign(1, m["negzero"].last) == -1
    assert m["huge"].last == 1e308
    assert m["np32"].last == float(np.float32(0.1))
    assert m["np64"].last == 1 / 3
    assert m["npint"].last == 7.0 and m["torchlike"].last == 2.5 and m["zero_d_array"].last == 4.25
    assert m["pyint"].last == 3.0 and m["boolean"].last == 1.0


@pytest.mark.parametrize("bad", ["0.5", None, [1.0], {"a": 1}, np.array([1.0, 2.0]), 1 + 2j])
def test_non_numeric_metric_raises_type_error_naming_the_key(session: object, bad: object) -> None:
    with loopml.init(project="p") as run:
        with pytest.raises(TypeError, match="metric 'val_acc'") as info:
            run.log({"val_acc": bad})
        assert isinstance(info.value, InvalidValueTypeError)
        run.log({"ok": 1.0})
    assert list(loopml.get_run(run.id).metrics) == ["ok"]


@pytest.mark.parametrize(
    "key", ["", " lead", "tab\there", "new\nline", "x" * 251, "semi;colon", "nul\x00", 5]
)
def test_bad_keys_say_the_rule(session: object, key: object) -> None:
    with loopml.init(project="p") as run:
        with pytest.raises(ValidationError, match="1-250 characters"):
            run.log({key: 1.0})  # type: ignore[dict-item]
        with pytest.raises(ValidationError, match="1-250 characters"):
            run.log_params({key: 1})  # type: ignore[dict-item]


def test_unicode_keys_and_values_are_fine(session: object) -> None:
    with loopml.init(project="p", config={"modèle": "forêt 🌲"}, tags={"équipe": "naïve"}) as run:
        run.log({"précision": 0.9, "損失": 0.1})
    r = loopml.get_run(run.id)
    assert r.params == {"modèle": "forêt 🌲"} and r.tags == {"équipe": "naïve"}
    assert set(r.metrics) == {"précision", "損失"}


def test_params_flatten_and_conflict(session: object) -> None:
    with loopml.init(
        project="p", config={"opt": {"name": "sgd", "lr": 0.1}, "layers": [64, 32]}
    ) as run:
        run.log_params({"opt": {"lr": 0.1}})  # the same value again is fine
        with pytest.raises(ConflictError, match="param 'opt.lr' is already '0.1'"):
            run.log_params({"opt.lr": 0.2})
        run.log_params({"seed": 1})
    assert loopml.get_run(run.id).params == {
        "layers": "[64, 32]",
        "opt.lr": 0.1,
        "opt.name": "sgd",
        "seed": 1,
    }


def test_params_of_plain_and_other_types_encode_as_through_the_number_abcs() -> None:
    """Plain str/int/float skip the ABC checks; every other type still goes through them."""
    import collections
    import enum
    import types

    import numpy as np

    from loopml._values import encode_param, flatten

    class Level(enum.IntEnum):
        HIGH = 3

    assert encode_param("k", "x") == ("x", None)
    assert encode_param("k", 3) == ("3", 3.0)
    assert encode_param("k", 0.1) == ("0.1", 0.1)
    assert encode_param("k", float("inf")) == ("Infinity", float("inf"))
    assert encode_param("k", True) == ("true", None)
    assert encode_param("k", None) == ("null", None)
    assert encode_param("k", Level.HIGH) == ("3", 3.0)
    assert encode_param("k", np.int64(7)) == ("7", 7.0)
    assert encode_param("k", np.float32(0.5)) == ("0.5", 0.5)
    assert encode_param("k", [1, 2]) == ("[1, 2]", None)
    nested = {
        "a": collections.OrderedDict(b=1),
        "c": types.MappingProxyType({"d": 2.0}),
        "e": "f",
        "g": {},
    }
    assert flatten(nested) == {"a.b": 1, "c.d": 2.0, "e": "f", "g": {}}


def test_param_over_size_limit_names_size_and_limit(session: object) -> None:
    with loopml.init(project="p") as run:
        with pytest.raises(ValidationError, match=r"20,000 characters long; the limit is 16,384"):
            run.log_params({"blob": "x" * 20_000})
    assert loopml.get_run(run.id).params == {}


def test_tags_are_mutable(session: object) -> None:
    with loopml.init(project="p", tags={"stage": "dev"}) as run:
        run.set_tags({"stage": "prod", "n": 3})
    assert loopml.get_run(run.id).tags == {"n": "3", "stage": "prod"}


def test_exception_marks_failed_with_traceback(session: object) -> None:
    with pytest.raises(ZeroDivisionError), loopml.init(project="p") as run:
        run.log({"a": 1.0})
        _ = 1 / 0
    r = loopml.get_run(run.id)
    assert r.status == "failed" and "ZeroDivisionError" in (r.error or "")
    assert r.metrics["a"].last == 1.0


def test_logging_after_finish_and_bad_status(session: object) -> None:
    run = loopml.init(project="p")
    with pytest.raises(ValidationError, match="not a final status"):
        run.finish("done")
    run.finish()
    with pytest.raises(LoopmlError, match="has ended"):
        run.log({"a": 1.0})
    with pytest.raises(ValidationError, match="step must be"):
        loopml.init(project="p").log({"a": 1.0}, step=-1)


def test_module_level_log_uses_active_run(session: object) -> None:
    with pytest.raises(LoopmlError, match="no active run"):
        loopml.log({"a": 1.0})
    run = loopml.init(project="p")
    loopml.log({"a": 2.0})
    loopml.finish()
    assert loopml.get_run(run.id).metrics["a"].last == 2.0


def test_bad_project_names(session: object) -> None:
    for bad in ["", "a/b", "../x", "x" * 201, None]:
        with pytest.raises(ValidationError, match="project name"):
            loopml.init(project=bad)  # type: ignore[arg-type]


def test_runs_dataframe_and_query(session: object) -> None:
    for model, acc in [("svc", 0.95), ("rf", 0.91), ("svc", 0.85)]:
        with loopml.init(project="q", config={"model": model}) as run:
            run.log({"acc": acc})
    frame = loopml.runs(
        "q", where="metrics.acc > 0.9 and params.model = 'svc'", order_by="-metrics.acc"
    )
    assert len(frame) == 1 and frame["metrics.acc"].iloc[0] == 0.95
    assert {"id", "status", "params.model", "metrics.acc"} <= set(frame.columns)
    assert list(loopml.runs("q", order_by="-metrics.acc")["metrics.acc"]) == [0.95, 0.91, 0.85]
    assert loopml.runs("q", where="metrics.acc > 0.99").empty  # a project's no-match: empty
    with pytest.raises(loopml.NotFoundError, match="projects: 'q'"):
        loopml.runs("empty")  # a project that does not exist: said so (issue 9)


def test_run_records_environment(session: object) -> None:
    with loopml.init(project="p") as run:
        pass
    r = loopml.get_run(run.id)
    assert r.host and r.pid and r.command
    assert r.environment["python"] and r.environment["packages"]["loopml"] == loopml.__version__


def test_platform_text_is_platform_platform_without_a_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The run's platform text is platform.platform()'s, and reading it starts no process
    (platform.platform() runs ``uname -p`` on Linux, milliseconds of every run's start)."""
    import platform
    import subprocess
    import sys

    from loopml.tracking._environment import environment, platform_text

    expected = platform.platform()
    if sys.platform.startswith("linux") and platform.processor() not in ("", platform.machine()):
        pytest.skip(f"uname -p names a processor ({platform.processor()!r}) platform() keeps")
    assert platform_text() == expected

    def no_process(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a process was started: {args}")

    monkeypatch.setattr(subprocess.Popen, "__init__", no_process)
    if sys.platform.startswith("linux"):
        assert platform_text() == expected
        assert environment()["platform"] == expected


def test_git_commit_and_dirty_flag(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    from pathlib import Path

    from loopml.tracking._environment import git_state

    repo = Path(str(tmp_path)) / "repo"
    repo.mkdir()
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@x",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@x",
    }
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"]):
        subprocess.run(cmd, cwd=repo, check=True)
    (repo / "f.txt").write_text("1")
    subprocess.run(["git", "add", "f.txt"], cwd=repo, check=True)
    subprocess.run(
        ["git", "commit", "-qm", "x"], cwd=repo, check=True, env={**env, "PATH": "/usr/bin:/bin"}
    )
    commit, dirty = git_state(str(repo))
    assert commit and len(commit) == 40 and dirty is False
    (repo / "f.txt").write_text("2")
    git_state.cache_clear()
    assert git_state(str(repo)) == (commit, True)
    git_state.cache_clear()
    assert git_state(str(tmp_path)) == (None, None)
    (repo / "sub" / "deeper").mkdir(parents=True)
    git_state.cache_clear()
    assert git_state(str(repo / "sub" / "deeper")) == (commit, True)  # found from below


def test_git_is_not_started_outside_a_checkout(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No .git from the folder up (and no GIT_DIR): no git process at a run's start."""
    import os
    import subprocess
    from pathlib import Path

    from loopml.tracking import _environment

    outside = Path(str(tmp_path)) / "plain"
    outside.mkdir()
    if _environment._maybe_in_git(str(outside)):
        pytest.skip("the test folder is inside a git checkout")
    started: list[object] = []

    def fake_run(*args: object, **kwargs: object) -> subprocess.CompletedProcess[str]:
        started.append(args)
        return subprocess.CompletedProcess(args, 0, "abc\n", "")

    monkeypatch.setattr(_environment.subprocess, "run", fake_run)
    monkeypatch.delenv("GIT_DIR", raising=False)
    _environment.git_state.cache_clear()
    assert _environment.git_state(str(outside)) == (None, None)
    assert started == []
    # GIT_DIR can name a repository anywhere: then git is asked.
    monkeypatch.setenv("GIT_DIR", os.fspath(outside))
    _environment.git_state.cache_clear()
    assert _environment.git_state(str(outside))[0] == "abc"
    assert len(started) == 2
    _environment.git_state.cache_clear()


def test_a_started_run_is_visible_to_queries_at_once(session: object) -> None:
    """init() writes the run to its journal only; queries from this process ingest it first."""
    run = loopml.init(project="lazy", config={"a": 1}, tags={"t": "x"})
    run.log({"m": 0.5})
    frame = loopml.runs("lazy")
    assert list(frame["id"]) == [run.id] and frame["status"].iloc[0] == "running"
    assert loopml.get_run(run.id).params == {"a": 1}
    run.finish()
    assert loopml.get_run(run.id).status == "finished"


def test_typos_get_did_you_mean_instead_of_an_empty_frame() -> None:
    with loopml.init(project="digits") as run:
        run.log({"val_acc": 0.9})
        run.log_params({"model": "svc"})
    with pytest.raises(
        loopml.NotFoundError, match=r"no project named 'digit'; did you mean 'digits'\?"
    ):
        loopml.runs("digit")
    with pytest.raises(
        loopml.QueryError, match=r"metrics.val_accc; did you mean 'metrics.val_acc'\?"
    ):
        loopml.runs("digits", where="metrics.val_accc > 0.5")
    with pytest.raises(loopml.QueryError, match=r"no run in project 'digits' has params.modle"):
        loopml.runs("digits", where="params.modle = 'svc'")
    # A known key that matches nothing is an answer, not an error.
    assert loopml.runs("digits", where="metrics.val_acc > 0.95").empty
    assert len(loopml.runs("digits", where="params.model = 'svc'")) == 1


def test_a_lone_surrogate_in_a_filter_is_a_query_error_naming_the_position() -> None:
    with loopml.init(project="p") as run:
        run.log_params({"model": "svc"})
    with pytest.raises(loopml.QueryError, match="position 16"):
        loopml.runs("p", where="params.model = '\ud800'")


def test_writer_beats_only_for_runs_it_did_not_just_ingest(session: object) -> None:
    """An ingest marks its run alive in the same transaction; the writer's heartbeat goes to the
    idle runs only (and to none when every open run was ingested), and idle runs do get it."""
    import dataclasses
    import time

    from loopml.tracking._writer import BackgroundWriter

    s = session  # type: ignore[assignment]
    busy = loopml.init(project="beats", system_metrics=False)
    idle = loopml.init(project="beats", system_metrics=False)
    idle.flush()  # its journal is all ingested: the next pass has nothing for it
    for run in (busy, idle):  # only the writer below ingests them from here on
        s.writer.remove(run.journal)  # type: ignore[attr-defined]
    time.sleep(0.2)  # a pass of the session's writer under way ends
    beats: list[list[str]] = []
    backend = s.backend  # type: ignore[attr-defined]
    real = backend.heartbeat

    def spy(run_ids: list[str]) -> None:
        beats.append(list(run_ids))
        real(run_ids)

    backend.heartbeat = spy  # type: ignore[method-assign]
    settings = dataclasses.replace(s.settings, flush_interval=3600.0)  # type: ignore[attr-defined]
    writer = BackgroundWriter(backend, settings)
    try:
        writer.add(busy.journal)
        writer.add(idle.journal)
        busy.log({"x": 1.0})
        before = time.time()
        writer.pass_once()
        assert beats == [[idle.id]]
        assert busy.record().heartbeat_at >= before  # touched by its ingest
        writer._last_heartbeat = 0.0  # the next beat is due at once
        writer.remove(idle.journal)
        busy.log({"x": 2.0})
        writer.pass_once()
        assert beats == [[idle.id]]  # the one open run was just ingested: no beat needed
        assert busy.record().metrics["x"].last == 2.0
    finally:
        writer.stop()
        backend.heartbeat = real  # type: ignore[method-assign]
        busy.finish()
        idle.finish()
