"""How a server worker starts: what it imports first, what it needs from its parent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from loopml.serving._app import CONFIG_ENV
from loopml.serving._handoff import FLAVORS_ENV, VERSIONS_ENV, hand_off, handed_over
from loopml.serving._serve import check_servable

# Prints the position of each module in the worker's import order after its app is built.
_ORDER = """
import json, sys
from loopml.serving._app import app_from_env
app_from_env()
names = [m for m, module in sys.modules.items() if module is not None]
wanted = ("numpy", "scipy.special", "skops.io", "starlette.applications", "fastapi", "pydantic",
          "pytest", "rich")
order = {m: names.index(m) if m in names else None for m in wanted}
import pytest, rich  # hidden only while the worker imported its model's libraries
print(json.dumps(order))
"""


def _worker_import_order(session: object, flavors: str) -> dict[str, int]:
    settings = session.settings  # type: ignore[attr-defined]
    env = {
        **os.environ,
        "LOOPML_DIR": str(settings.data_dir),
        CONFIG_ENV: json.dumps({"ref": "m@champion"}),
        FLAVORS_ENV: flavors,
    }
    out = subprocess.run(
        [sys.executable, "-c", _ORDER], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_a_worker_imports_its_models_loader_before_the_web_stack(
    session: object, model: object
) -> None:
    # skops searches every loaded module for each ufunc when imported: numpy and scipy first
    # make that search short (see registry/_flavors.import_loader).
    order = _worker_import_order(session, check_servable("m@champion").flavor)
    assert order["numpy"] < order["scipy.special"] < order["skops.io"]
    assert order["skops.io"] < order["starlette.applications"]
    # The worker's app is plain Starlette: FastAPI's layer (and pydantic) is never imported.
    assert order["fastapi"] is None and order["pydantic"] is None
    # Nor sklearn's optional test and progress-bar libraries (see _app._without).
    assert order["pytest"] is None and order["rich"] is None


def test_hiding_libraries_from_a_workers_imports_leaves_its_trusted_types_alone() -> None:
    # skops' default trusted types, computed at its import: the same with pytest and rich
    # hidden as with them installed, so a worker refuses and accepts the same files.
    show = (
        "import json, sys\n"
        "from loopml.serving._app import _UNUSED_BY_WORKERS, _without\n"
        "with _without(_UNUSED_BY_WORKERS if sys.argv[1] == 'hide' else ()):\n"
        "    import numpy, scipy.special\n"
        "    import skops.io._trusted_types as t\n"
        "print(json.dumps({k: sorted(getattr(t, k)) for k in dir(t) if k.endswith('NAMES')}))"
    )
    got = []
    for how in ("hide", "keep"):
        out = subprocess.run(
            [sys.executable, "-c", show, how], capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, out.stderr
        got.append(json.loads(out.stdout))
    assert got[0] == got[1]
    assert "sklearn.ensemble._hist_gradient_boosting.gradient_boosting." in str(got[0])


def test_without_hides_only_what_is_not_imported_and_only_inside() -> None:
    import importlib

    from loopml.serving._app import _without

    with _without(("json", "loopml_no_such_module")):
        assert importlib.import_module("json") is json  # imported already: left alone
        assert sys.modules["loopml_no_such_module"] is None
        try:
            importlib.import_module("loopml_no_such_module")
            raise AssertionError("a hidden module was imported")
        except ImportError:
            pass
    assert "loopml_no_such_module" not in sys.modules


def test_the_workers_app_answers_as_create_app_does(
    session: object, model: object, data: tuple, monkeypatch: object
) -> None:
    from starlette.testclient import TestClient

    from loopml.serving import ServeConfig, create_app
    from loopml.serving._app import app_from_env

    config = ServeConfig("m@champion", log=False)
    _as_a_worker(monkeypatch, session, config)
    row = data[0].iloc[:1].to_dict("records")
    answers = []
    for app in (app_from_env(), create_app(config, session.store)):  # type: ignore[attr-defined]
        with TestClient(app) as client:
            got = [
                client.post("/predict", json={"records": row}),
                client.post("/predict", json={"records": [{"a": 1.0}]}),
                client.get("/ready"),
                client.get("/nowhere"),
                client.get("/predict"),
            ]
            answers.append([(r.status_code, r.json(), r.headers.get("allow")) for r in got])
    worker, full = answers
    # The same answers (a prediction's id differs: it is new for every request).
    assert [a[0] for a in worker] == [a[0] for a in full] == [200, 422, 200, 404, 405]
    assert worker[0][1]["predictions"] == full[0][1]["predictions"]
    assert worker[1:] == full[1:]


def test_check_servable_names_the_version_it_found(session: object, model: object) -> None:
    mv = check_servable("m@champion")
    assert (mv.name, mv.version, mv.flavor) == ("m", 1, "sklearn")


# Checks references as `loopml serve` does (no store open in the process), and prints what it
# found (as handed to workers), the errors, and whether SQLAlchemy was imported.
_CHECK = """
import json, sys
from loopml.serving._handoff import hand_off
from loopml.serving._serve import check_servable
found, errors = {}, {}
for ref in sys.argv[1:]:
    try:
        found[ref] = check_servable(ref)
    except Exception as exc:
        errors[ref] = [type(exc).__name__, str(exc)]
print(json.dumps({"env": hand_off(found), "errors": errors, "sql": "sqlalchemy" in sys.modules}))
"""


def test_the_check_reads_a_sqlite_store_without_sqlalchemy(session: object, model: object) -> None:
    import loopml.registry as reg

    found = ["m@champion", "m@challenger", "m/1", "m"]
    unknown = ["m@nope", "nope@champion", "m/7"]
    env = {**os.environ, "LOOPML_DIR": str(session.settings.data_dir)}  # type: ignore[attr-defined]
    out = subprocess.run(
        [sys.executable, "-c", _CHECK, *found, "m/1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert not got["sql"] and not got["errors"]
    # The versions get() finds (`m` is the latest, 2), read by a process that never opened SQL.
    assert handed_over(got["env"]) == {ref: reg.get(ref) for ref in found}
    assert [mv.version for mv in handed_over(got["env"]).values()] == [1, 2, 1, 2]

    # What it cannot find, get() reports, with get()'s messages (they list versions and aliases).
    out = subprocess.run(
        [sys.executable, "-c", _CHECK, *unknown], env=env, capture_output=True, text=True
    )
    errors = json.loads(out.stdout)["errors"]
    for ref in unknown:
        try:
            reg.get(ref)
            raise AssertionError(f"{ref} was found")
        except Exception as exc:
            assert errors[ref] == [type(exc).__name__, str(exc)]
    assert "its versions are [1, 2] and its aliases @challenger -> 2, @champion -> 1" in str(
        errors["m@nope"][1]
    )


def test_the_sqlite_read_answers_only_what_it_can_tell(
    session: object, model: object, tmp_path: object
) -> None:
    import dataclasses
    import sqlite3

    import pytest

    from loopml._errors import ValidationError
    from loopml.store import find_model_version

    settings = session.settings  # type: ignore[attr-defined]
    models = session.store.models  # type: ignore[attr-defined]
    assert find_model_version(settings, "m", alias="champion") == models.get_version("m", 1)
    assert find_model_version(settings, "m", alias="challenger") == models.get_version("m", 2)
    assert find_model_version(settings, "m", version=1) == models.get_version("m", 1)
    assert find_model_version(settings, "m") == models.get_version("m", 2)  # the latest
    # Not found: None, so that the SQL store gives its error.
    assert find_model_version(settings, "m", alias="nope") is None
    assert find_model_version(settings, "m", version=3) is None
    assert find_model_version(settings, "nope") is None
    with pytest.raises(ValidationError):
        find_model_version(settings, "m", alias="champion", version=1)

    # Stores it does not read: PostgreSQL, URL options, no file yet (none is created), a store
    # at another schema revision (the SQL store migrates it, or refuses a newer one).
    def other(**changes: object) -> object:
        return dataclasses.replace(settings, **changes)

    missing = tmp_path / "none" / "loopml.db"  # type: ignore[operator]
    for url in ("postgresql://u@127.0.0.1/db", f"sqlite:///{missing}", "sqlite:///x.db?mode=ro"):
        assert find_model_version(other(store_url=url), "m", alias="champion") is None
    assert not missing.exists()
    copy = tmp_path / "old.db"  # type: ignore[operator]
    with sqlite3.connect(settings.data_dir / "loopml.db") as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    url = f"sqlite:///{copy}"
    assert find_model_version(other(store_url=url), "m", alias="champion") is not None
    with sqlite3.connect(copy) as db:
        db.execute("UPDATE alembic_version SET version_num = '0001'")
    assert find_model_version(other(store_url=url), "m", alias="champion") is None


def _without_feature_names() -> object:
    """A model registered without an example has no signature unless it knows its columns."""
    from sklearn.dummy import DummyClassifier

    return DummyClassifier().fit([[0.0], [1.0]], [0, 1])


def test_a_model_without_a_signature_is_refused(session: object) -> None:
    import pytest

    import loopml.registry as reg
    from loopml._errors import ValidationError

    reg.register("plain", _without_feature_names())
    with pytest.raises(ValidationError, match="plain/1 has no input signature"):
        check_servable("plain")


def test_workers_spawned_under_the_loopml_script_do_not_run_it(monkeypatch: object) -> None:
    import multiprocessing.spawn
    import types

    from loopml.cli import main
    from loopml.cli._serving import _workers_skip_the_cli_script

    script = types.ModuleType("__main__")
    script.__file__ = "/venv/bin/loopml"
    script.main = main  # what the console script holds: `from loopml.cli import main`
    monkeypatch.setitem(sys.modules, "__main__", script)  # type: ignore[attr-defined]
    assert multiprocessing.spawn.get_preparation_data("w")["init_main_from_path"]
    with _workers_skip_the_cli_script():
        assert "init_main_from_path" not in multiprocessing.spawn.get_preparation_data("w")
    assert script.__file__ == "/venv/bin/loopml"

    other = types.ModuleType("__main__")  # a user's own script may define what workers need
    other.__file__ = "/home/me/run.py"
    monkeypatch.setitem(sys.modules, "__main__", other)  # type: ignore[attr-defined]
    with _workers_skip_the_cli_script():
        assert multiprocessing.spawn.get_preparation_data("w")["init_main_from_path"]


def _as_a_worker(monkeypatch: object, session: object, config: object) -> None:
    """The environment `loopml serve` gives its workers."""
    set_env = monkeypatch.setenv  # type: ignore[attr-defined]
    set_env("LOOPML_DIR", str(session.settings.data_dir))  # type: ignore[attr-defined]
    set_env(CONFIG_ENV, config.to_env())  # type: ignore[attr-defined]
    found = {"m@champion": check_servable("m@champion")}
    for key, value in hand_off(found).items():
        set_env(key, value)


def test_a_worker_answers_and_logs_before_it_opens_sql(
    session: object, model: object, data: tuple, monkeypatch: object
) -> None:
    from starlette.testclient import TestClient

    import loopml.serving
    from loopml.serving import ServeConfig
    from loopml.serving._app import app_from_env

    _as_a_worker(monkeypatch, session, ServeConfig("m@champion", poll_interval=0))
    app = app_from_env()
    server = app.state.server
    row = data[0].iloc[:1].to_dict("records")
    with TestClient(app) as client:
        answer = client.post("/predict", json={"records": row}).json()
        assert answer["model_version"] == 1
        assert server.store._sql is None  # the SQL store was never opened
    rows = loopml.serving.predictions("m")  # written out when the worker stopped
    assert list(rows["id"]) == answer["ids"]


def test_a_worker_opens_sql_once_ready_and_follows_its_alias(
    session: object, model: object, data: tuple, monkeypatch: object
) -> None:
    from starlette.testclient import TestClient

    import loopml.registry as reg
    from loopml.serving import ServeConfig
    from loopml.serving._app import app_from_env

    _as_a_worker(monkeypatch, session, ServeConfig("m@champion", poll_interval=0.05))
    with TestClient(app_from_env()) as client:
        assert client.get("/ready").json()["version"] == 1
        reg.set_alias("m", "champion", 2, reason="swap")
        deadline = time.monotonic() + 30
        while client.get("/ready").json()["version"] != 2:
            assert time.monotonic() < deadline, "the worker did not follow its alias"
            time.sleep(0.05)


def test_the_handed_over_versions_are_the_ones_found_and_go_stale(
    session: object, model: object, monkeypatch: object
) -> None:
    found = {"m@champion": check_servable("m@champion"), "m/2": check_servable("m/2")}
    env = hand_off(found)
    assert env[FLAVORS_ENV] == "sklearn"
    got = handed_over(env)
    for ref, mv in found.items():
        # The same version but for the store it was read from (a worker opens its own).
        assert got[ref] == mv and got[ref].signature == mv.signature
    stale = json.loads(env[VERSIONS_ENV])
    stale["at"] -= 3600  # a worker restarted an hour later resolves its references itself
    assert handed_over({VERSIONS_ENV: json.dumps(stale)}) == {}
    assert handed_over({}) == {}


def test_a_worker_waits_for_the_versions_its_parent_is_checking(
    session: object, model: object, tmp_path: object
) -> None:
    import threading

    from loopml.serving._handoff import HANDOFF_ENV, received, write_failure, write_hand_off

    path = tmp_path / "handoff.json"  # type: ignore[operator]
    found = {"m@champion": check_servable("m@champion")}
    writer = threading.Timer(0.2, write_hand_off, (path, found))
    writer.start()
    env = received({HANDOFF_ENV: str(path)}, wait=30)
    writer.join()
    assert env[FLAVORS_ENV] == "sklearn" and handed_over(env) == found
    # No file in time: the worker goes on without, and resolves its references itself.
    late = tmp_path / "late.json"  # type: ignore[operator]
    assert handed_over(received({HANDOFF_ENV: str(late)}, wait=0.05)) == {}
    # The parent's check failed: the worker exits quietly while the parent stops it.
    write_failure(path)
    try:
        received({HANDOFF_ENV: str(path)}, wait=30)
        raise AssertionError("a worker whose parent failed its check did not exit")
    except SystemExit as exc:
        assert exc.code == 0


def _serve_and_wait(session: object, ref: str, workers: int) -> tuple[int, str, int]:
    """``loopml serve ref --workers N`` in its own session: exit code, stderr, its pgid."""
    env = {**os.environ, "LOOPML_DIR": str(session.settings.data_dir)}  # type: ignore[attr-defined]
    cmd = "from loopml.cli import main; main()"
    argv = [sys.executable, "-c", cmd, "serve", ref, "--workers", str(workers), "--port", "0"]
    proc = subprocess.Popen(
        argv, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait()
    return proc.returncode, err, proc.pid


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_failed_check_beside_the_workers_fails_as_before_and_stops_them(
    session: object, model: object
) -> None:
    import loopml.registry as reg

    reg.register("plain", _without_feature_names())  # so no signature: it cannot be served
    reg.set_alias("plain", "champion", 1)
    for ref in ("nope@champion", "m@nope", "plain@champion"):
        # One worker is this process and checks before it serves: the reference behaviour.
        code_1, err_1, _ = _serve_and_wait(session, ref, 1)
        code_2, err_2, pgid = _serve_and_wait(session, ref, 2)
        assert code_1 == code_2 == 2
        assert err_2 == err_1 and err_2.startswith("error: ")
        try:  # the message is the registry's own (it lists the versions and aliases there are)
            check_servable(ref)
            raise AssertionError(f"{ref} passed the check")
        except Exception as exc:
            assert " ".join(err_2.split()) == " ".join(f"error: {exc}".split())
        deadline = time.monotonic() + 10
        while _group_alive(pgid):  # no worker left behind
            assert time.monotonic() < deadline, "a worker outlived its failed parent"
            time.sleep(0.05)


def test_a_worker_builds_its_app_with_the_garbage_collector_paused(
    session: object, model: object, monkeypatch: object
) -> None:
    import gc

    import pytest
    from starlette.testclient import TestClient

    from loopml._errors import ValidationError
    from loopml.serving import ServeConfig
    from loopml.serving._app import app_from_env

    _as_a_worker(monkeypatch, session, ServeConfig("m@champion", log=False, poll_interval=0))
    collections: list[str] = []
    gc.callbacks.append(lambda phase, info: collections.append(phase))
    try:
        frozen = gc.get_freeze_count()
        gc.collect()  # so that a collection now could only be one the worker's imports caused
        collections.clear()
        app = app_from_env()
        assert collections == []  # none while it imported (see app_from_env)
    finally:
        gc.callbacks.pop()
    assert gc.isenabled() and gc.get_freeze_count() > frozen
    with TestClient(app) as client:
        assert client.get("/ready").json()["version"] == 1
    # A worker that fails to build its app leaves the collector as it found it.
    monkeypatch.delenv(CONFIG_ENV)  # type: ignore[attr-defined]
    with pytest.raises(ValidationError, match=CONFIG_ENV):
        app_from_env()
    assert gc.isenabled()
