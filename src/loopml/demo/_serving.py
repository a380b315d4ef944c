"""Demo stage: register the best digits model as ``champion``, serve it, and replay the test
split as traffic with feedback; the prediction log then holds every answer and its truth."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from typing import Any

from rich.console import Console

from loopml.demo._tracking import PROJECT, load_digits_split

MODEL = "digits-clf"
_ROWS_PER_REQUEST = 10


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(conn: http.client.HTTPConnection, path: str, body: Any) -> Any:
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    r = conn.getresponse()
    data = json.loads(r.read())
    if r.status != 200:
        raise RuntimeError(f"{path} answered {r.status}: {data}")
    return data


def serve_digits(console: Console, dashboard_port: int = 8765) -> str:
    """Train, register, alias, serve, replay traffic with feedback; returns the model's page URL."""
    import pandas as pd
    import uvicorn
    from sklearn.linear_model import LogisticRegression

    import loopml
    import loopml.registry as reg
    from loopml.serving import ServeConfig, create_app
    from loopml.tracking import default_session

    console.print(
        "6. registry and serving: register the model as champion, serve it, replay the test "
        "split as traffic with feedback into the prediction log"
    )
    x_tr, x_te, y_tr, y_te = load_digits_split(0)
    columns = [f"px{i}" for i in range(x_tr.shape[1])]
    train = pd.DataFrame(x_tr, columns=columns)
    test = pd.DataFrame(x_te, columns=columns)
    try:  # a rerun of the demo serves the champion an earlier one registered
        mv = reg.get(f"{MODEL}@champion")
        console.print(f"   reusing {mv.ref}, {MODEL}@champion of a previous demo")
    except loopml.NotFoundError:
        with loopml.init(
            project=PROJECT, name="serving-candidate", config={"model": "logreg"}
        ) as run:
            run.set_tags({"stage": "serving"})
            model = LogisticRegression(max_iter=300).fit(train, y_tr)
            acc = float(model.score(test, y_te))
            run.log({"val_acc": acc})
        mv = reg.register(
            MODEL, model, run=run, example=train[:5], description="logistic regression"
        )
        reg.set_alias(MODEL, "champion", mv.version, reason=f"best val_acc {acc:.3f} in the demo")
        console.print(f"   registered {mv.ref} as {MODEL}@champion (val_acc {acc:.3f})")

    store = default_session().store
    port = _free_port()
    app = create_app(ServeConfig(f"{MODEL}@champion"), store)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="demo-model-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.05)
    if not server.started:
        raise RuntimeError("the demo model server did not start within 60 s")
    console.print(f"   serving {MODEL}@champion at http://127.0.0.1:{port}/predict")
    answered = right = 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        records = test.to_dict("records")
        for start in range(0, len(records), _ROWS_PER_REQUEST):
            chunk = records[start : start + _ROWS_PER_REQUEST]
            truth = [int(t) for t in y_te[start : start + _ROWS_PER_REQUEST]]
            answer = _post(conn, "/predict", {"records": chunk})
            _post(
                conn,
                "/feedback",
                {
                    "feedback": [
                        {"id": i, "truth": t} for i, t in zip(answer["ids"], truth, strict=True)
                    ]
                },
            )
            answered += len(chunk)
            right += sum(p == t for p, t in zip(answer["predictions"], truth, strict=True))
    finally:
        conn.close()
        server.should_exit = True
        thread.join(timeout=30)
    logged = loopml.serving.predictions(MODEL)
    console.print(
        f"   replayed the test split: {answered} predictions in "
        f"{answered // _ROWS_PER_REQUEST + (answered % _ROWS_PER_REQUEST > 0)} requests, "
        f"accuracy {right / max(answered, 1):.3f} from feedback; "
        f"{len(logged)} rows in the prediction log"
    )
    url = f"http://127.0.0.1:{dashboard_port}/models/{MODEL}"
    console.print(f"   model page: {url}")
    return url
