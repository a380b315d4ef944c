"""The model server in process: answers, validation, metrics, log, feedback, shadow, hot swap."""

from __future__ import annotations

import json
import re
import threading
import time

import numpy as np
import pandas as pd
import pytest

import loopml.registry as reg
import loopml.serving
from loopml.serving import ServeConfig, create_app

from .conftest import COLUMNS


def _records(x: pd.DataFrame, n: int = 3) -> list[dict[str, float]]:
    return x[:n].to_dict("records")


def _wait_for_rows(name: str, n: int, timeout: float = 10.0) -> pd.DataFrame:
    deadline = time.monotonic() + timeout
    while True:
        df = loopml.serving.predictions(name)
        if len(df) >= n or time.monotonic() > deadline:
            return df
        time.sleep(0.1)


def test_predict_answers_records_and_columns(client: object, model: object, data: tuple) -> None:
    x, _ = data
    r = client.post("/predict", json={"records": _records(x)})  # type: ignore[attr-defined]
    assert r.status_code == 200
    body = r.json()
    assert body["predictions"] == list(model.predict(x[:3]))  # type: ignore[attr-defined]
    assert body["model_version"] == 1 and len(body["ids"]) == 3 == len(set(body["ids"]))
    assert np.allclose(np.sum(body["probabilities"], axis=1), 1)
    assert body["classes"] == ["high", "low", "mid"]
    r2 = client.post(  # type: ignore[attr-defined]
        "/predict", json={"columns": COLUMNS[::-1], "data": x[COLUMNS[::-1]][:3].values.tolist()}
    )
    assert r2.json()["predictions"] == body["predictions"]
    assert client.get("/ready").json() == {"ready": True, "model": "m", "version": 1}  # type: ignore[attr-defined]
    assert client.get("/health").status_code == 200  # type: ignore[attr-defined]


GOOD = {c: 0.5 for c in COLUMNS}


@pytest.mark.parametrize(
    ("body", "status", "column", "message"),
    [
        (b"{not json", 400, None, "not valid JSON"),
        (json.dumps({"records": [{**GOOD, "c": "high"}]}).encode(), 422, "c", "expects a number"),
        (json.dumps({"records": [{**GOOD, "c": True}]}).encode(), 422, "c", "expects a number"),
        (
            json.dumps({"records": [{k: v for k, v in GOOD.items() if k != "d"}]}).encode(),
            422,
            "d",
            "missing column 'd'",
        ),
        (json.dumps({"records": [{**GOOD, "ee": 1.0}]}).encode(), 422, "ee", "unknown column 'ee'"),
        (
            b'{"records": [{"a": NaN, "b": 0.5, "c": 0.5, "d": 0.5, "e": 0.5}]}',
            422,
            "a",
            "finite numbers",
        ),
        (
            b'{"records": [{"a": 0.5, "b": Infinity, "c": 0.5, "d": 0.5, "e": 0.5}]}',
            422,
            "b",
            "finite numbers",
        ),
        (b'{"records": []}', 422, None, "empty"),
        (b'{"records": {"a": 1}}', 422, None, "list of objects"),
        (b"[1, 2]", 422, None, "JSON object"),
        (b'{"rows": []}', 422, None, "neither"),
        (
            json.dumps({"columns": COLUMNS, "data": [[0.1, 0.2]]}).encode(),
            422,
            None,
            "list of 5 values",
        ),
        (json.dumps({"columns": [*COLUMNS, "a"], "data": []}).encode(), 422, "a", "twice"),
    ],
)
def test_bad_requests_get_a_clear_4xx_and_the_server_stays_up(
    client: object, body: bytes, status: int, column: str | None, message: str
) -> None:
    r = client.post("/predict", content=body, headers={"content-type": "application/json"})  # type: ignore[attr-defined]
    assert r.status_code == status, r.text
    assert message in r.json()["error"]
    assert r.json().get("column") == column
    ok = client.post("/predict", json={"records": [GOOD]})  # type: ignore[attr-defined]
    assert ok.status_code == 200


def test_a_body_over_the_limit_gets_413(client: object) -> None:
    big = {"records": [GOOD] * 1000}  # ~50 kB, over the 20 kB limit
    r = client.post("/predict", json=big)  # type: ignore[attr-defined]
    assert r.status_code == 413 and "limit" in r.json()["error"]
    assert client.post("/predict", json={"records": [GOOD]}).status_code == 200  # type: ignore[attr-defined]


def test_metrics_count_requests_classes_and_version(client: object, data: tuple) -> None:
    x, _ = data
    for _ in range(3):
        client.post("/predict", json={"records": _records(x, 2)})  # type: ignore[attr-defined]
    client.post("/predict", content=b"{bad")  # type: ignore[attr-defined]
    text = client.get("/metrics").text  # type: ignore[attr-defined]
    assert 'loopml_requests_total{endpoint="/predict",status="200"} 3.0' in text
    assert 'loopml_requests_total{endpoint="/predict",status="400"} 1.0' in text
    per_class = re.findall(r'loopml_predictions_total\{class="(\w+)",model="m"\} (\S+)', text)
    assert sum(float(v) for _, v in per_class) == 6
    assert (
        'loopml_model_version_info{model="m",ref="m@champion",role="primary",version="1"} 1.0'
        in text
    )
    assert "loopml_request_duration_seconds_bucket" in text


def test_the_log_holds_every_answer_and_feedback(client: object, data: tuple) -> None:
    x, _ = data
    body = client.post("/predict", json={"records": _records(x, 4)}).json()  # type: ignore[attr-defined]
    client.post("/predict", content=b"{bad")  # type: ignore[attr-defined]
    fb = client.post("/feedback", json={"id": body["ids"][0], "truth": "low"})  # type: ignore[attr-defined]
    assert fb.json() == {"accepted": 1}
    bad = client.post("/feedback", json={"id": body["ids"][0]})  # type: ignore[attr-defined]
    assert bad.status_code == 422 and "truth" in bad.json()["error"]
    df = _wait_for_rows("m", 5)
    ok = df[df["status"] == 200]
    assert list(ok["id"]) == body["ids"]
    assert list(ok["prediction"]) == body["predictions"]
    assert np.allclose(ok["in.a"], x["a"][:4])
    assert np.allclose(np.stack(ok["probabilities"].to_numpy()), body["probabilities"])
    assert (ok["model_version"] == 1).all() and (ok["latency_ms"] > 0).all()
    failed = df[df["status"] == 400]
    assert len(failed) == 1 and failed["prediction"].isna().all()
    assert str(df["time"].dt.tz) == "UTC"
    deadline = time.monotonic() + 10
    while loopml.serving.feedback("m").empty and time.monotonic() < deadline:
        time.sleep(0.1)
    truth = loopml.serving.feedback("m")
    assert list(truth["id"]) == [body["ids"][0]] and list(truth["truth"]) == ["low"]


def test_the_log_is_readable_with_duckdb(client: object, store: object, data: tuple) -> None:
    import duckdb

    x, _ = data
    client.post("/predict", json={"records": _records(x, 5)})  # type: ignore[attr-defined]
    _wait_for_rows("m", 5)
    files = [str(f) for f in store.predictions.files("m")]  # type: ignore[attr-defined]
    n = duckdb.sql(
        "SELECT count(*) FROM read_parquet(?, union_by_name=true, hive_partitioning=true)",
        params=[files],
    ).fetchall()
    assert n == [(5,)]
    assert store.predictions.classes("m") == ["high", "low", "mid"]  # type: ignore[attr-defined]


def test_shadow_is_logged_never_returned(store: object, model: object, data: tuple) -> None:
    from fastapi.testclient import TestClient

    x, _ = data
    app = create_app(ServeConfig("m@champion", shadow="m@challenger", log_flush_seconds=0), store)  # type: ignore[arg-type]
    with TestClient(app) as c:
        body = c.post("/predict", json={"records": _records(x, 6)}).json()
        assert body["model_version"] == 1 and "shadow" not in json.dumps(body)
        assert c.get("/ready").json()["shadow_version"] == 2
    df = loopml.serving.predictions("m")
    assert (df["shadow_model_version"] == 2).all()
    shadow = reg.load("m/2").predict(x[:6])
    assert list(df["shadow_prediction"]) == list(shadow)


def test_alias_moved_during_traffic_fails_no_request(client: object, data: tuple) -> None:
    x, _ = data
    statuses: list[int] = []
    versions: list[int] = []
    sent: list[tuple[float, float, int]] = []  # (sent at, answered at, version)
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            t0 = time.monotonic()
            r = client.post("/predict", json={"records": _records(x, 2)})  # type: ignore[attr-defined]
            statuses.append(r.status_code)
            if r.status_code == 200:
                versions.append(r.json()["model_version"])
                sent.append((t0, time.monotonic(), r.json()["model_version"]))

    threads = [threading.Thread(target=traffic) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    reg.set_alias("m", "champion", 2, reason="swap under load")
    deadline = time.monotonic() + 15
    while (not versions or versions[-1] != 2) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join()
    assert set(statuses) == {200}
    assert versions[0] == 1 and versions[-1] == 2
    # Once an answer came from version 2, no request sent after it got version 1 (the swap is
    # one step; requests already in flight may still finish on version 1).
    first_v2 = min(answered for _, answered, v in sent if v == 2)
    assert all(v == 2 for t0, _, v in sent if t0 > first_v2)


def test_a_server_of_an_unknown_alias_names_what_exists(store: object, model: object) -> None:
    from fastapi.testclient import TestClient

    from loopml import NotFoundError

    app = create_app(ServeConfig("m@prod"), store)  # type: ignore[arg-type]
    with pytest.raises(NotFoundError, match=r"no alias 'prod'.*@champion -> 1"):
        with TestClient(app):
            pass


def test_whole_numbers_sent_for_a_float_column_are_logged_as_floats(client: object) -> None:
    rows = [{c: i + j for j, c in enumerate(COLUMNS)} for i in range(2)]  # ints, not floats
    body = client.post("/predict", json={"records": rows}).json()  # type: ignore[attr-defined]
    assert len(body["ids"]) == 2
    df = _wait_for_rows("m", 2)
    assert str(df["in.a"].dtype) == "float64" and list(df["in.b"]) == [1.0, 2.0]
