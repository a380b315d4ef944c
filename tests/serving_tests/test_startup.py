"""How a server worker starts: what it imports first, what it needs from its parent."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from loopml.serving._app import CONFIG_ENV, FLAVORS_ENV
from loopml.serving._serve import check_servable

# Prints the position of each module in the worker's import order after its app is built.
_ORDER = """
import json, sys
from loopml.serving._app import app_from_env
app_from_env()
names = list(sys.modules)
wanted = ("numpy", "scipy.special", "skops.io", "starlette.applications", "fastapi", "pydantic")
print(json.dumps({m: names.index(m) if m in names else None for m in wanted}))
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


def test_the_workers_app_answers_as_create_app_does(
    session: object, model: object, data: tuple, monkeypatch: object
) -> None:
    from starlette.testclient import TestClient

    from loopml.serving import ServeConfig, create_app
    from loopml.serving._app import app_from_env

    config = ServeConfig("m@champion", log=False)
    monkeypatch.setenv(CONFIG_ENV, config.to_env())  # type: ignore[attr-defined]
    monkeypatch.setenv(FLAVORS_ENV, "sklearn")  # type: ignore[attr-defined]
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
