"""Sweeps and datasets through a team server: a client with ``LOOPML_TRACKING_URI`` stores its
sweeps, trials and dataset versions on the server, under the server's role checks."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import loopml
from loopml._config import Settings
from loopml._errors import NotFoundError, StoreError, ValidationError
from loopml.store import Store
from loopml.tracking import Session, set_default_session
from tests._team import TeamServer
from tests.server_tests._objectives import quadratic, slow_quadratic


class Remote:
    """A team server on each store backend, with users on projects ``p`` and ``q``."""

    def __init__(self, store: Store, tmp: Path) -> None:
        self.store = store
        self.server = TeamServer(store)
        self.url = self.server.url
        self.tmp = tmp
        self.tokens = {"admin": self.server.admin_token}
        for name, role, project in (
            ("pat", "member", "p"),
            ("vera", "viewer", "p"),
            ("quinn", "member", "q"),
            ("mia", "maintainer", "lab"),
            ("ann", "annotator", "lab"),
        ):
            store.users.add(name, role, project)
            self.tokens[name] = store.users.create_token(name)
        self._sessions: list[Session] = []

    def session(self, user: str, **settings_: Any) -> Session:
        """A client session of ``user`` (its own local folder), installed as the default."""
        settings = Settings(
            data_dir=self.tmp / f"client-{user}",
            tracking_uri=self.url,
            token=self.tokens[user],
            flush_interval=0.05,
            **settings_,
        )
        s = Session(settings, background_recovery=False)
        self._sessions.append(s)
        set_default_session(s)
        return s

    def close(self) -> None:
        set_default_session(None)
        for s in self._sessions:
            s.shutdown()
            s.store.close()
        self.server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Remote]:
    url = None
    if request.param == "postgres":
        url = str(request.getfixturevalue("pg_schema_url"))
    store = Store(Settings(data_dir=tmp_path / "server", store_url=url))
    r = Remote(store, tmp_path)
    yield r
    r.close()
    store.close()


SPACE = {"lr": loopml.loguniform(1e-4, 1e-1), "opt": loopml.choice(["adam", "sgd"])}


def test_a_sweep_stores_its_sweep_and_trials_on_the_server(remote: Remote) -> None:
    client = remote.session("pat")
    sw = loopml.sweep(
        quadratic,
        SPACE,
        metric="loss",
        direction="min",
        n_trials=6,
        parallel=2,
        seed=1,
        project="p",
        progress=False,
    )
    # On the server, not in the client's own store.
    stored = remote.store.sweeps.get(sw.id)
    assert stored.project == "p" and stored.status == "finished"
    trials = remote.store.sweeps.load_trials(sw.id)
    assert [t.number for t in trials] == list(range(6))
    assert all(t.state == "finished" and t.value is not None for t in trials)
    runs = remote.store.sweeps.trial_runs(sw.id)
    assert {r.id for r in runs} == {t.run_id for t in trials}
    assert all(r.project == "p" and r.sweep_id == sw.id for r in runs)
    assert client.store.sweeps.list_sweeps() == []
    # The handle reads back through the server.
    assert sw.status == "finished"
    assert len(sw.trials) == 6
    best = min(trials, key=lambda t: t.value or 0.0)
    assert sw.best_trial.run_id == best.run_id
    again = loopml.load_sweep(sw.id[:8])
    assert again.id == sw.id and [t.run_id for t in again.trial_rows()] == [
        t.run_id for t in trials
    ]
    # A second sweep of the same objective reuses the stored results (the cache, served).
    sw2 = loopml.sweep(
        quadratic,
        SPACE,
        metric="loss",
        direction="min",
        n_trials=6,
        parallel=2,
        seed=1,
        project="p",
        progress=False,
    )
    cached = [t for t in remote.store.sweeps.load_trials(sw2.id) if t.cached_from]
    assert len(cached) == 6


def test_a_sweep_heartbeats_its_running_trials_through_the_server(remote: Remote) -> None:
    remote.session("pat", heartbeat_interval=0.05)
    sw = loopml.sweep(
        slow_quadratic,
        SPACE,
        metric="loss",
        direction="min",
        n_trials=4,
        parallel=2,
        seed=4,
        project="p",
        progress=False,
    )
    trials = remote.store.sweeps.load_trials(sw.id)
    assert [t.state for t in trials] == ["finished"] * 4
    runs = remote.store.sweeps.trial_runs(sw.id)
    assert all(r.heartbeat_at is not None and r.status == "finished" for r in runs)


def test_a_command_sweep_logs_its_trials_on_the_server(remote: Remote) -> None:
    import sys

    from loopml.sweeps import CommandObjective

    script = remote.tmp / "train.py"
    script.write_text(
        "import sys, loopml\n"
        "x = float(sys.argv[2])\n"
        "run = loopml.init(project='p')\n"
        "run.log({'loss': (x - 0.3) ** 2})\n"
        "run.finish()\n"
    )
    remote.session("pat")
    objective = CommandObjective(f"{sys.executable} {script} --x {{x}}", metric="loss")
    sw = loopml.sweep(
        objective,
        {"x": loopml.uniform(0, 1)},
        metric="loss",
        direction="min",
        n_trials=3,
        parallel=1,
        cache=False,
        project="p",
        progress=False,
    )
    trials = remote.store.sweeps.load_trials(sw.id)
    assert [t.state for t in trials] == ["finished"] * 3
    for t in trials:
        run = remote.store.runs.get(t.run_id)  # the command's own points, on the server
        assert run.sweep_id == sw.id and run.metrics["loss"].count >= 1
        assert t.value == pytest.approx((t.params["x"] - 0.3) ** 2)


def test_sweep_role_checks(remote: Remote) -> None:
    remote.session("pat")
    sw = loopml.sweep(
        quadratic,
        SPACE,
        metric="loss",
        direction="min",
        n_trials=2,
        parallel=1,
        seed=2,
        project="p",
        progress=False,
    )
    # A viewer of p may read the sweep but not start one.
    remote.session("vera")
    assert loopml.load_sweep(sw.id).status == "finished"
    with pytest.raises(StoreError, match="may not runs.write on project 'p'"):
        loopml.sweep(
            quadratic, SPACE, metric="loss", n_trials=1, parallel=1, project="p", progress=False
        )
    # Another project's member sees nothing of it, and cannot write trials into it.
    remote.session("quinn")
    with pytest.raises(StoreError, match="may not runs.read on project 'p'"):
        loopml.load_sweep(sw.id)
    from loopml.tracking import default_session

    sweeps = default_session().sweeps
    assert sweeps.list_sweeps() == []
    assert sweeps.summaries() == []
    with pytest.raises(NotFoundError):
        sweeps.get("ffffffffffffffff")
    with pytest.raises(StoreError, match="may not runs.write"):
        sweeps.set_status(sw.id, "stopped")
    # The cache never hands out another project's results.
    okey = remote.store.sweeps.get(sw.id).config["objective_key"]
    assert remote.store.sweeps.cached_results(okey)
    assert sweeps.cached_results(okey) == {}
    assert remote.store.sweeps.get(sw.id).status == "finished"


def test_trials_cannot_take_over_another_run(remote: Remote) -> None:
    remote.session("pat")
    sw = loopml.sweep(
        quadratic,
        SPACE,
        metric="loss",
        direction="min",
        n_trials=1,
        parallel=1,
        seed=3,
        project="p",
        progress=False,
    )
    run = loopml.init(project="p", name="plain")
    run.log({"x": 1.0})
    run.finish()
    from loopml.store import TrialWrite
    from loopml.tracking import default_session

    sweeps = default_session().sweeps
    bad = TrialWrite(7, run.id, "hijack", "finished", {}, {}, {}, 0.0, value=1.0)
    with pytest.raises(StoreError, match="not a trial of sweep"):
        sweeps.write_trials("p", sw.id, {}, [bad])
    with pytest.raises(ValidationError, match="belongs to project 'p'"):
        sweeps.write_trials("q", sw.id, {}, [dataclasses.replace(bad, run_id="new0000000000001")])
    assert remote.store.runs.get(run.id).sweep_id is None


def test_datasets_create_version_and_read_through_the_server(remote: Remote) -> None:
    remote.session("pat")
    df = pd.DataFrame({"id": ["a", "b", "c"], "text": ["x", "y", "z"], "label": [0, 1, 0]})
    v1 = loopml.datasets.create("reviews", df)
    assert v1.number == 1 and v1.n_items == 3
    # Stored on the server, and read back from its file.
    on_server = remote.store.datasets.get("reviews@1")
    assert on_server.digest == v1.digest and on_server.path.is_file()
    assert v1.path != on_server.path and v1.path.is_file()
    assert v1.to_pandas()["text"].tolist() == ["x", "y", "z"]
    assert v1.sql("SELECT count(*) AS n FROM items")["n"][0] == 3
    # The same content again is the same version; new content is the next one.
    assert loopml.datasets.create("reviews", df).digest == v1.digest
    df2 = pd.concat([df, pd.DataFrame({"id": ["d"], "text": ["w"], "label": [1]})])
    v2 = loopml.datasets.create("reviews", df2)
    assert v2.number == 2 and [v.number for v in loopml.datasets.versions("reviews")] == [1, 2]
    assert [v.ref for v in loopml.datasets.list_datasets()] == ["reviews@2"]
    assert loopml.datasets.diff("reviews@1", "reviews@2").added == ["d"]
    # Lineage: a run's use is recorded on the server.
    run = loopml.init(project="p", name="trainer")
    loopml.datasets.use_dataset(run, "reviews@2")
    run.finish()
    assert [v.ref for v in loopml.datasets.inputs_of(run.id)] == ["reviews@2"]
    assert [u["id"] for u in loopml.datasets.used_by("reviews@2")] == [run.id]
    assert [v.ref for v in remote.store.datasets.inputs_of(run.id)] == ["reviews@2"]
    # A fresh client (empty cache) reads the same rows.
    remote.session("vera")
    again = loopml.datasets.get("reviews@2")
    assert again.to_pandas()["id"].tolist() == ["a", "b", "c", "d"]


def test_dataset_role_checks_and_bad_input(remote: Remote) -> None:
    remote.session("pat")
    df = pd.DataFrame({"id": ["a", "b"], "label": [0, 1]})
    loopml.datasets.create("mine", df)
    run = loopml.init(project="p", name="p-run")
    run.finish()
    # A viewer reads but cannot create.
    remote.session("vera")
    assert loopml.datasets.get("mine").n_items == 2
    with pytest.raises(StoreError, match="may not runs.write on any project"):
        loopml.datasets.create("theirs", df)
    # Another project's member cannot record uses of p's runs nor see them in the lineage.
    remote.session("quinn")
    with pytest.raises(StoreError, match="may not runs.write on project 'p'"):
        loopml.datasets.use_dataset(run.id, "mine")
    remote.session("pat")
    loopml.datasets.use_dataset(run.id, "mine")
    remote.session("quinn")
    assert loopml.datasets.used_by("mine") == []
    with pytest.raises(StoreError, match="may not runs.read on project 'p'"):
        loopml.datasets.inputs_of(run.id)
    with pytest.raises(NotFoundError):
        loopml.datasets.get("nosuch")
    with pytest.raises(ValidationError, match="dataset name"):
        loopml.datasets.create("../bad", df)
    assert [v.name for v in remote.store.datasets.latest()] == ["mine"]


def test_server_refuses_bad_dataset_uploads_and_unknown_methods(remote: Remote) -> None:
    import httpx

    headers = {"Authorization": f"Bearer {remote.tokens['pat']}"}
    with httpx.Client(base_url=remote.url, headers=headers) as http:
        r = http.post("/api/v1/datasets-store/add_version", json={"name": "x", "upload": "../x"})
        assert r.status_code == 400 and "32 hex digits" in r.json()["error"]
        r = http.post("/api/v1/datasets-store/add_version", json={"name": "x", "upload": "0" * 32})
        assert r.status_code == 404
        r = http.post("/api/v1/datasets-store/nope", json={})
        assert r.status_code == 404 and "no method" in r.json()["error"]
        r = http.post("/api/v1/sweeps-store/get", content=b"[1]")
        assert r.status_code == 400
        r = http.get("/api/v1/datasets-store/files/../../etc")
        assert r.status_code in (400, 404)
        r = http.get("/api/v1/datasets-store/files/" + "0" * 64)
        assert r.status_code == 404
        # A file that is not Parquet is refused, and nothing is stored.
        from loopml.tracking import HttpBackend

        bad = remote.tmp / "bad.parquet"
        bad.write_bytes(b"not parquet")
        upload = HttpBackend(remote.url, remote.tokens["pat"]).upload(bad)
        r = http.post(
            "/api/v1/datasets-store/add_version",
            json={"name": "x", "upload": upload, "roles": {}, "source": {}},
        )
        assert r.status_code == 400 and "not a Parquet file" in r.json()["error"]
    assert remote.store.datasets.latest() == []


def test_labeling_python_api_through_the_server(remote: Remote) -> None:
    remote.session("mia")  # a maintainer of the labeling project "lab"
    df = pd.DataFrame(
        {"id": [f"i{n}" for n in range(6)], "text": list("abcdef"), "label": ["x", "y"] * 3}
    )
    loopml.datasets.create("to-label", df)
    lab = loopml.labeling.create_project("lab", "to-label", overlap=1)
    assert lab.classes == ("x", "y")
    assert lab.add_annotators(["ann", "bob"]) == ["ann", "bob"]
    lab.publish_guidelines("x: the first kind; y: the second kind", "first version")
    _batch, queued = lab.assign()
    assert queued == 6
    # Stored on the server.
    on_server = loopml.labeling.project("lab", store=remote.store)
    assert on_server.queue_counts()["pending"] == 6
    assert lab.item("i0")["text"] == "a"  # the item, read from the cached dataset file
    # The annotator labels through the server, as themself only.
    remote.session("ann")
    mine = loopml.labeling.project("lab")
    item = mine.next_item("ann")
    assert item is not None
    mine.annotate("ann", item.item_id, "y")
    with pytest.raises(StoreError, match="labels only as annotator 'ann'"):
        mine.annotate("bob", item.item_id, "x")
    with pytest.raises(StoreError, match="may not label.manage"):
        mine.assign(["ann"])
    with pytest.raises(StoreError, match="may not label.read"):
        mine.item_annotations(item.item_id)  # other annotators' labels: readers only
    # The manager reads the labels back.
    remote.session("mia")
    lab = loopml.labeling.project("lab")
    got = lab.item_annotations(item.item_id)
    assert [(a["annotator"], a["label"]) for a in got] == [("ann", "y")]
    assert lab.status()["queue"]["done"] == 1
    assert [p["name"] for p in loopml.labeling.list_projects()] == ["lab"]
    stored = on_server.item_annotations(item.item_id)
    assert [(a["annotator"], a["label"]) for a in stored] == [("ann", "y")]
    # Another project's member, or a viewer elsewhere, gets nothing.
    remote.session("quinn")
    with pytest.raises(StoreError, match="may not label.read on project 'lab'"):
        loopml.labeling.project("lab")
    assert loopml.labeling.list_projects() == []
    with pytest.raises(StoreError, match="may not label.manage on project 'mine'"):
        loopml.labeling.create_project("mine", "to-label")
    remote.session("vera")
    with pytest.raises(StoreError, match="may not label.read on project 'lab'"):
        loopml.labeling.project("lab")


def test_labeling_calls_are_checked_on_the_server(remote: Remote) -> None:
    import httpx

    remote.session("mia")
    df = pd.DataFrame({"id": ["a", "b"], "label": ["x", "y"]})
    loopml.datasets.create("small", df)
    lab = loopml.labeling.create_project("lab", "small")
    lab.add_annotators(["ann"])
    other = loopml.labeling.create_project("other", "small", store=remote.store)
    headers = {"Authorization": f"Bearer {remote.tokens['mia']}"}
    with httpx.Client(base_url=remote.url, headers=headers) as http:
        # a call naming one project by name and another by id is refused
        r = http.post(
            "/api/v1/labeling-store/annotators.add",
            json={"project": "lab", "args": [other.id, ["eve"]], "kwargs": {}},
        )
        assert r.status_code == 400 and "is not 'lab'" in r.json()["error"]
        r = http.post("/api/v1/labeling-store/projects.delete", json={"args": [lab.id]})
        assert r.status_code == 404 and "no labeling call" in r.json()["error"]
        r = http.post(
            "/api/v1/labeling-store/queue.next", json={"project": "lab", "args": ["x", 1, 2, 3]}
        )
        assert r.status_code == 400
    assert [a.name for a in remote.store.labeling.annotators.all(lab.id)] == ["ann"]


def test_wire_values_round_trip_and_refuse_what_they_cannot_carry() -> None:
    import numpy as np

    from loopml import _wire_values
    from loopml.store import QueueCounts

    value = {
        "t": (1, "a", None),
        "ints": {1: 2.5, 3: float("inf")},
        "rec": QueueCounts(1, 2, 3),
        "arr": np.array([1, 2, 3], dtype=np.int64),
        "n": np.int32(7),
        "__tricky": "kept",
    }
    wire = json.loads(json.dumps(_wire_values.encode(value)))
    back = _wire_values.decode(wire, {"QueueCounts": QueueCounts})
    assert back["t"] == (1, "a", None) and back["ints"] == {1: 2.5, 3: float("inf")}
    assert back["rec"] == QueueCounts(1, 2, 3)
    assert back["arr"].dtype == np.int64 and back["arr"].tolist() == [1, 2, 3]
    assert back["n"] == 7 and back["__tricky"] == "kept"
    with pytest.raises(ValidationError, match="unexpected record type"):
        _wire_values.decode(wire, {})  # a record type the caller did not allow
    with pytest.raises(ValidationError, match="cannot send a object"):
        _wire_values.encode(object())


def test_the_cli_lists_sweeps_and_datasets_from_the_server(
    remote: Remote, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from loopml.cli import app

    remote.session("pat")
    sw = loopml.sweep(
        quadratic,
        SPACE,
        metric="loss",
        direction="min",
        n_trials=2,
        parallel=1,
        seed=5,
        project="p",
        name="cli-visible",
        progress=False,
    )
    loopml.datasets.create("cli-data", pd.DataFrame({"id": ["a"], "label": [1]}))
    set_default_session(None)  # the CLI builds its session from the environment
    monkeypatch.setenv("LOOPML_DIR", str(remote.tmp / "cli-client"))
    monkeypatch.setenv("LOOPML_TRACKING_URI", remote.url)
    monkeypatch.setenv("LOOPML_TOKEN", remote.tokens["pat"])
    runner = CliRunner()
    listed = runner.invoke(app, ["sweep", "list"], terminal_width=200)
    assert listed.exit_code == 0, listed.output
    assert "sweeps (1)" in listed.output and sw.id[:6] in listed.output
    shown = runner.invoke(app, ["sweep", "show", sw.id[:8]], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    datasets = runner.invoke(app, ["datasets", "list"], terminal_width=200)
    assert datasets.exit_code == 0 and "cli-data" in datasets.output
    monkeypatch.setenv("LOOPML_TOKEN", remote.tokens["quinn"])  # another project's member
    set_default_session(None)
    other = runner.invoke(app, ["sweep", "list"], terminal_width=200)
    assert other.exit_code == 0 and sw.id[:6] not in other.output
    set_default_session(None)
