"""The model server: ``POST /predict``, ``POST /feedback``, ``/health``, ``/ready``, ``/metrics``.

Handlers parse and check a request on the event loop, then wait for the micro-batcher (one model
call per batch, in a thread with capped BLAS/OpenMP threads). Every answered request is
journaled before its answer is sent. A background task polls the alias and swaps models.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import json
import logging
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, cast

from loopml._errors import LoopmlError, ValidationError
from loopml.registry import InputError
from loopml.serving._json import dumps as _json_dumps
from loopml.serving._json import loads as _json_loads

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.applications import Starlette

    from loopml.registry import ModelVersion
    from loopml.serving._batcher import Item
    from loopml.serving._model import Output, ServedModel
    from loopml.store import Store

__all__ = ["ServeConfig", "app_from_env", "create_app"]

_log = logging.getLogger("loopml.serving")
CONFIG_ENV = "LOOPML_SERVE_CONFIG"
# How long after ready a worker starts its hooks (see ModelServer._start_hooks).
HOOKS_DELAY_SECONDS = 1.0
# Optional libraries scikit-learn imports when present, that a worker never uses: pytest (for
# sklearn.utils._testing, which skops' estimator list imports) and rich (sklearn's fit-time
# progress bar). A worker imports its model's libraries without them: see _without.
_UNUSED_BY_WORKERS = ("pytest", "rich")


class _RequestIds:
    """Request ids unique across processes and restarts: 20 random hex digits drawn once per
    process, then a 12-digit counter (``uuid4`` per request costs a system call each)."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._prefix = uuid.uuid4().hex[:20]
        self._pid = os.getpid()
        self._next = itertools.count()

    def new(self) -> str:
        """A fresh request id (32 hex digits)."""
        if os.getpid() != self._pid:  # a forked child must not repeat its parent's ids
            self._reset()
        return f"{self._prefix}{next(self._next):012x}"


_ids = _RequestIds()


@dataclass(frozen=True)
class ServeConfig:
    """How a model server runs (passed to every worker through ``LOOPML_SERVE_CONFIG``)."""

    ref: str
    shadow: str | None = None
    log: bool = True
    trust: bool = False
    threads: int = 1  # BLAS/OpenMP threads per worker for the model call
    max_body_bytes: int = 4 << 20
    max_batch_rows: int = 1024
    max_wait_ms: float = 2.0
    poll_interval: float = 1.0  # seconds between checks of the alias
    # Seconds between writes of the prediction log to Parquet (LOOPML_FLUSH_INTERVAL when
    # larger). Each write ends with an fsync, and while the file system commits it, appends to
    # the memory-mapped journal stall: once a second cost ~17% of throughput, every 5 s ~3%.
    log_flush_seconds: float = 5.0
    # Background services started with the server ("module:function" -> keyword arguments;
    # the serve command adds monitoring's in-server scheduler): see serving/_hooks.py.
    hooks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from loopml.registry import parse_ref

        parse_ref(self.ref)
        if self.shadow is not None:
            parse_ref(self.shadow)
        for name in ("threads", "max_body_bytes", "max_batch_rows"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValidationError(f"{name} must be a positive integer, not {value!r}")
        for name in ("max_wait_ms", "poll_interval", "log_flush_seconds"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0:
                raise ValidationError(f"{name} must be a non-negative number, not {value!r}")
        from loopml.serving._hooks import check_hooks

        object.__setattr__(self, "hooks", check_hooks(self.hooks))

    def to_env(self) -> str:
        """JSON for ``LOOPML_SERVE_CONFIG``."""
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> ServeConfig:
        """Read ``LOOPML_SERVE_CONFIG`` (set by ``loopml serve`` for its workers)."""
        raw = os.environ.get(CONFIG_ENV)
        if not raw:
            raise ValidationError(
                f"{CONFIG_ENV} is not set; start servers with `loopml serve NAME@ALIAS`"
            )
        return cls(**json.loads(raw))


@dataclass
class _Result:
    model: ServedModel
    out: Output
    shadow: ServedModel | None
    shadow_out: Output | None


class ModelServer:
    """The state one worker serves from: models, batcher, log, metrics."""

    def __init__(
        self,
        config: ServeConfig,
        store: Store,
        found: dict[str, ModelVersion] | None = None,
    ) -> None:
        from loopml.registry import parse_ref
        from loopml.serving._metrics import Metrics

        self.config = config
        self.store = store
        # Versions ``loopml serve`` resolved for this worker's references (see _handoff.py).
        self._found = dict(found or {})
        self.name, self.alias, _ = parse_ref(config.ref)
        self.primary: ServedModel | None = None
        self.shadow: ServedModel | None = None
        self.metrics = Metrics()
        self.log: Any = None
        self.batcher: Any = None
        self.shadow_errors = 0
        self._poll: asyncio.Task[None] | None = None
        self._class_children: dict[str, Any] = {}
        self.hooks: list[Any] = []
        self._hooks_task: asyncio.Task[None] | None = None
        self._hooks_starting = False

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        from threadpoolctl import threadpool_limits

        from loopml.serving._batcher import MicroBatcher
        from loopml.serving._log import PredictionLog

        # One model call at a time per worker: more BLAS/OpenMP threads only fight each other.
        threadpool_limits(limits=self.config.threads)
        self.primary = await asyncio.to_thread(self._load_first, self.config.ref)
        if self.config.shadow:
            self.shadow = await asyncio.to_thread(self._load_first, self.config.shadow)
            self._check_shadow(self.shadow)
        self.metrics.set_model(self.name, self.config.ref, self.primary.number, "primary", None)
        if self.shadow is not None:
            self.metrics.set_model(
                self.shadow.version.name,
                self.config.shadow or "",
                self.shadow.number,
                "shadow",
                None,
            )
        if self.config.log:
            p = self.primary
            self.log = PredictionLog(
                self.store,
                self.name,
                p.signature,
                p.classes,
                flush_interval=max(
                    self.store.settings.flush_interval, self.config.log_flush_seconds
                ),
            )
            await asyncio.to_thread(self.log.start)
        self.batcher = MicroBatcher(
            self._run_batch,
            max_rows=self.config.max_batch_rows,
            max_wait=self.config.max_wait_ms / 1000,
            on_batch=self.metrics.batch_rows.observe,
        )
        self.batcher.start()
        # Warm the model thread (first calls pay for lazy imports and allocations).
        warm = self.primary
        await self.batcher.call(lambda: _warm(warm))
        # What was loaded lives as long as the server: keep the cyclic collector from walking
        # it again and again on the request path.
        gc.freeze()
        if (self.alias is not None or (self.config.shadow and "@" in self.config.shadow)) and (
            self.config.poll_interval > 0
        ):
            self._poll = asyncio.get_running_loop().create_task(self._watch())
        if self.config.hooks:  # started in a thread once ready: readiness never waits on them
            self._hooks_task = asyncio.get_running_loop().create_task(self._start_hooks())
        if self.log is not None:
            self.log.ready()

    def _load_first(self, ref: str) -> ServedModel:
        from loopml.serving._model import ServedModel, load_served

        found = self._found.get(ref)
        if found is None:
            return load_served(ref, self.store, trust=self.config.trust)
        return ServedModel(found, found.load(trust=self.config.trust))

    async def _start_hooks(self) -> None:
        # A moment after ready: the first requests, which come at once, then do not share the
        # interpreter (and, with several workers starting, the cores) with the hooks' imports
        # and SQL store (~0.3 CPU s). Stopping meanwhile cancels this wait (see stop).
        await asyncio.sleep(HOOKS_DELAY_SECONDS)
        self._hooks_starting = True
        from loopml.serving._hooks import start_hooks

        self.hooks = await asyncio.to_thread(
            start_hooks, self.config.hooks, self.store, self.name, self.config.log
        )

    def _check_shadow(self, shadow: ServedModel) -> None:
        assert self.primary is not None
        if shadow.signature.names != self.primary.signature.names:
            raise ValidationError(
                f"shadow {shadow.version.ref} takes columns {shadow.signature.names[:6]}..., "
                f"but {self.primary.version.ref} takes {self.primary.signature.names[:6]}...; "
                "a shadow must take the same inputs"
            )

    async def stop(self) -> None:
        if self._hooks_task is not None:
            if not self._hooks_starting:
                self._hooks_task.cancel()  # still waiting to start: nothing to stop
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._hooks_task  # a hook starting now is stopped below, not left running
            from loopml.serving._hooks import stop_hooks

            await asyncio.to_thread(stop_hooks, self.hooks)
        if self._poll is not None:
            self._poll.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poll
        if self.batcher is not None:
            await self.batcher.stop()
        if self.log is not None:
            await asyncio.to_thread(self.log.close)

    async def _watch(self) -> None:
        """Poll the aliases; load a moved alias's version and swap it in whole."""
        from loopml.registry import parse_ref
        from loopml.serving._model import load_served

        while True:
            await asyncio.sleep(self.config.poll_interval)
            try:
                if self.alias is not None and self.primary is not None:
                    current = await asyncio.to_thread(
                        self.store.models.alias_version, self.name, self.alias
                    )
                    if current != self.primary.number:
                        new = await asyncio.to_thread(
                            load_served,
                            f"{self.name}/{current}",
                            self.store,
                            trust=self.config.trust,
                        )
                        await self.batcher.call(lambda m=new: _warm(m))
                        old = self.primary.number
                        if self.log is not None:
                            self.log.set_signature(new.signature, new.classes)
                        self.primary = new  # one reference swap: requests use old or new whole
                        gc.unfreeze()  # so the old version can be collected once unused
                        self.metrics.set_model(self.name, self.config.ref, current, "primary", old)
                        _log.warning("%s now answers with version %s", self.config.ref, current)
                if self.config.shadow and self.shadow is not None:
                    sname, salias, _ = parse_ref(self.config.shadow)
                    if salias is not None:
                        sv = await asyncio.to_thread(self.store.models.alias_version, sname, salias)
                        if sv != self.shadow.number:
                            new = await asyncio.to_thread(
                                load_served, f"{sname}/{sv}", self.store, trust=self.config.trust
                            )
                            old = self.shadow.number
                            self.shadow = new
                            self.metrics.set_model(sname, self.config.shadow, sv, "shadow", old)
            except asyncio.CancelledError:
                raise
            except Exception:  # a store hiccup or a bad new version: keep serving the old one
                _log.exception("checking %s for a new version failed", self.config.ref)

    # -- the model thread ----------------------------------------------------------------------
    def _run_batch(self, items: list[Item]) -> list[_Result]:
        import numpy as np

        results: list[_Result | None] = [None] * len(items)
        groups: dict[int, list[int]] = {}
        for i, item in enumerate(items):
            groups.setdefault(id(item.model), []).append(i)
        shadow = self.shadow
        for idx in groups.values():
            model: ServedModel = items[idx[0]].model
            if len(idx) == 1:
                cols = items[idx[0]].columns
            else:
                cols = {
                    n: np.concatenate([items[i].columns[n] for i in idx])
                    for n in model.signature.names
                }
            out = model.predict(cols)
            shadow_out = None
            if shadow is not None:
                try:
                    shadow_out = shadow.predict(cols)
                except Exception:  # a failing challenger never fails the request
                    self.shadow_errors += 1
                    _log.exception("shadow %s failed", shadow.version.ref)
            start = 0
            for i in idx:
                n = items[i].rows
                results[i] = _Result(
                    model,
                    _slice(out, start, start + n),
                    shadow if shadow_out is not None else None,
                    _slice(shadow_out, start, start + n) if shadow_out is not None else None,
                )
                start += n
        return results  # type: ignore[return-value]

    # -- requests -------------------------------------------------------------------------------
    async def predict(self, body: bytes, t0: float) -> tuple[int, dict[str, Any]]:
        from loopml.serving._batcher import Item

        rid = _ids.new()
        model = self.primary
        assert model is not None
        try:
            payload = _json_loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return self._reject(400, f"the body is not valid JSON ({exc})", rid, t0, len(body))
        try:
            raw = model.signature.columns_from_payload(payload)
            rows = len(next(iter(raw.values()))) if raw else 0
            if rows == 0:
                raise InputError("the batch is empty; send at least one record")
            columns = model.signature.coerce(raw)
        except InputError as exc:
            return self._reject(422, str(exc), rid, t0, len(body), exc.column)
        result: _Result = await self.batcher.submit(Item(columns, rows, model))
        out, used = result.out, result.model
        ids = [f"{rid}-{i}" for i in range(rows)]
        answer: dict[str, Any] = {
            "ids": ids,
            "predictions": out.predictions,
            "model": self.name,
            "model_version": used.number,
        }
        if out.probabilities is not None:
            answer["probabilities"] = out.probabilities
            answer["classes"] = used.classes
        if used.classes is not None:
            self._count_classes(out.predictions)
        if self.log is not None:
            record: dict[str, Any] = {
                "r": rid,
                "t": int(time.time() * 1e6),
                "v": used.number,
                "s": 200,
                "l": (time.perf_counter() - t0) * 1000,
                "b": len(body),
                "n": rows,  # the ids are "<r>-0" ... "<r>-<n-1>"
                # The validated request values, as parsed: plain lists encode several times
                # faster than the typed arrays, and read back as the same column types.
                "in": raw,
                "p": out.predictions,
                "c": out.confidence,
                "pr": out.probabilities,
            }
            if result.shadow_out is not None and result.shadow is not None:
                record["sv"] = result.shadow.number
                record["sp"] = result.shadow_out.predictions
                record["sc"] = result.shadow_out.confidence
            self.log.append(record)
        return 200, answer

    def _count_classes(self, predictions: list[Any]) -> None:
        for label, n in Counter(predictions).items():
            key = str(label)
            child = self._class_children.get(key)
            if child is None:
                child = self._class_children[key] = self.metrics.predictions.labels(self.name, key)
            child.inc(n)

    def _reject(
        self,
        status: int,
        message: str,
        rid: str,
        t0: float,
        size: int,
        column: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        if self.log is not None:
            self.log.append(
                {
                    "r": rid,
                    "t": int(time.time() * 1e6),
                    "v": self.primary.number if self.primary else None,
                    "s": status,
                    "l": (time.perf_counter() - t0) * 1000,
                    "b": size,
                    "n": 1,
                }
            )
        body: dict[str, Any] = {"error": message}
        if column is not None:
            body["column"] = column
        return status, body

    def feedback(self, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            payload = _json_loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return 400, {"error": f"the body is not valid JSON ({exc})"}
        entries = payload.get("feedback") if isinstance(payload, dict) else None
        if entries is None and isinstance(payload, dict) and "id" in payload:
            entries = [payload]
        if not isinstance(entries, list) or not entries:
            return 422, {
                "error": 'send {"id": "<prediction id>", "truth": <label>} or '
                '{"feedback": [{"id": ..., "truth": ...}, ...]}'
            }
        now = int(time.time() * 1e6)
        records = []
        for i, e in enumerate(entries):
            if not isinstance(e, dict) or not isinstance(e.get("id"), str) or not e["id"]:
                return 422, {"error": f'feedback[{i}] needs an "id": the prediction id (text)'}
            truth = e.get("truth")
            if isinstance(truth, bool) or not isinstance(truth, (str, int, float)):
                return 422, {
                    "error": f'feedback[{i}] needs a "truth": the true label or value, '
                    f"not {truth!r}"
                }
            if isinstance(truth, float) and truth != truth:
                return 422, {"error": f"feedback[{i}] has a NaN truth"}
            records.append({"k": "f", "id": e["id"], "t": now, "truth": truth})
        if self.log is None:
            return 409, {"error": "this server runs without a prediction log (--no-log)"}
        for r in records:
            self.log.append(r)
        self.metrics.feedback.labels(self.name).inc(len(records))
        return 200, {"accepted": len(records)}


def _slice(out: Output, start: int, end: int) -> Output:
    from loopml.serving._model import Output

    return Output(
        out.predictions[start:end],
        None if out.confidence is None else out.confidence[start:end],
        None if out.probabilities is None else out.probabilities[start:end],
    )


def _warm(model: ServedModel) -> None:
    import numpy as np

    cols: dict[str, Any] = {}
    for f in model.signature.features:
        if f.dtype == "float64":
            cols[f.name] = np.zeros(1)
        elif f.dtype == "int64":
            cols[f.name] = np.zeros(1, dtype=np.int64)
        elif f.dtype == "bool":
            cols[f.name] = np.zeros(1, dtype=bool)
        else:
            cats = f.categories or ("",)
            cols[f.name] = np.array([cats[0]], dtype=object)
    with contextlib.suppress(Exception):  # warming is best effort
        model.predict(cols)


async def _read_body(request: Any, limit: int) -> bytes | None:
    """The body, or None when it is over ``limit`` bytes (checked before reading it all)."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        return None
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _json(status: int, body: dict[str, Any]) -> Any:
    from starlette.responses import Response

    return Response(_json_dumps(body), status_code=status, media_type="application/json")


async def _predict(server: ModelServer, request: Any) -> Any:
    t0 = time.perf_counter()
    limit = server.config.max_body_bytes
    body = await _read_body(request, limit)
    if body is None:
        status, answer = server._reject(
            413,
            f"the body is over the limit of {limit:,} bytes; send fewer rows per request "
            "(or start the server with a larger --max-body-bytes)",
            _ids.new(),
            t0,
            int(request.headers.get("content-length") or 0),
        )
    else:
        try:
            status, answer = await server.predict(body, t0)
        except LoopmlError as exc:
            status, answer = 422, {"error": str(exc)}
        except Exception as exc:  # the model itself failed: answer, log it, stay up
            _log.exception("prediction failed")
            status, answer = 500, {"error": f"the model failed: {type(exc).__name__}: {exc}"}
    server.metrics.request("/predict", status, time.perf_counter() - t0)
    return _json(status, answer)


async def _feedback(server: ModelServer, request: Any) -> Any:
    t0 = time.perf_counter()
    limit = server.config.max_body_bytes
    body = await _read_body(request, limit)
    if body is None:
        status, answer = 413, {"error": f"the body is over the limit of {limit:,} bytes"}
    else:
        status, answer = server.feedback(body)
    server.metrics.request("/feedback", status, time.perf_counter() - t0)
    return _json(status, answer)


async def _health(server: ModelServer, request: Any) -> Any:
    return _json(200, {"status": "ok"})


async def _ready(server: ModelServer, request: Any) -> Any:
    p = server.primary
    if p is None:
        return _json(503, {"ready": False})
    body: dict[str, Any] = {"ready": True, "model": server.name, "version": p.number}
    if server.shadow is not None:
        body["shadow_version"] = server.shadow.number
    return _json(200, body)


async def _metrics(server: ModelServer, request: Any) -> Any:
    from starlette.responses import Response

    data, content_type = server.metrics.exposition()
    if server.hooks:  # e.g. the monitor's latest values, read from the store
        from loopml.serving._hooks import exposition

        data += await asyncio.to_thread(exposition, server.hooks)
    return Response(data, media_type=content_type)


async def _info(server: ModelServer, request: Any) -> Any:
    p = server.primary
    if p is None:
        return _json(503, {"ready": False})
    return _json(
        200,
        {
            "model": server.name,
            "ref": server.config.ref,
            "version": p.number,
            "task": p.version.task,
            "classes": p.classes,
            "signature": json.loads(p.signature.to_json()),
            "shadow": None if server.shadow is None else server.shadow.version.ref,
        },
    )


# (path, method) -> handler; the one table both uvicorn's app and the Ray Serve deployment use.
ROUTES: dict[tuple[str, str], Any] = {
    ("/predict", "POST"): _predict,
    ("/feedback", "POST"): _feedback,
    ("/health", "GET"): _health,
    ("/ready", "GET"): _ready,
    ("/metrics", "GET"): _metrics,
    ("/", "GET"): _info,
}


async def dispatch(server: ModelServer, request: Any) -> Any:
    """Answer ``request`` (a Starlette request) with the route it names; 404/405 otherwise."""
    path = request.url.path.rstrip("/") or "/"
    handler = ROUTES.get((path, request.method))
    if handler is None:
        if any(p == path for p, _ in ROUTES):
            return _json(405, {"error": f"{request.method} is not allowed on {path}"})
        return _json(404, {"error": f"no endpoint {path}; try POST /predict"})
    return await handler(server, request)


def create_app(config: ServeConfig, store: Store | None = None) -> FastAPI:
    """The model server app for ``config`` (the model loads when the app starts)."""
    from fastapi import FastAPI

    from loopml import __version__

    server = ModelServer(config, store if store is not None else _open_store())
    app = FastAPI(
        title=f"loopml model server: {config.ref}",
        version=__version__,
        lifespan=_lifespan(server),
        docs_url=None,
        redoc_url=None,
    )
    _add_routes(app, server)
    return app


def app_from_env() -> Starlette:
    """The app factory uvicorn's workers call (``loopml serve`` sets the environment).

    The routes, lifespan and error bodies of :func:`create_app`, on Starlette alone: the
    handlers read raw requests, so FastAPI's layer over it (pydantic, OpenAPI) would only add
    its imports, ~0.2 CPU s, to every worker's start.
    """
    # Building the app imports the model's libraries and the web stack: about a million objects
    # that live as long as the worker. The cyclic collector would walk that growing heap again
    # and again (~0.1 CPU s per worker), so it is paused meanwhile, and what was imported is
    # frozen: later collections (the model's load included) skip it, as they skip the model once
    # start() froze it. The import's own few cycles (~0.1 MB) stay.
    resume_gc = gc.isenabled()
    gc.disable()
    try:
        app = _worker_app()
        gc.freeze()
    finally:
        if resume_gc:
            gc.enable()
    return app


def _worker_app() -> Starlette:
    from loopml.registry import import_loader
    from loopml.serving._handoff import FLAVORS_ENV, WorkerStore, handed_over, received

    config = ServeConfig.from_env()
    env = received()  # waits for the parent's check when it runs while the workers start
    # The model's libraries first, the web stack after: see import_loader.
    with _without(_UNUSED_BY_WORKERS):
        for flavor in filter(None, env.get(FLAVORS_ENV, "").split(",")):
            import_loader(flavor)
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException

    # No SQL before the worker answers: see _handoff.py.
    store = cast("Store", WorkerStore())
    server = ModelServer(config, store, found=handed_over(env))
    app = Starlette(lifespan=_lifespan(server), exception_handlers={HTTPException: _http_error})
    _add_routes(app, server)
    return app


@contextlib.contextmanager
def _without(names: tuple[str, ...]) -> Iterator[None]:
    """Inside, importing one of ``names`` not imported yet fails as if it were not installed.

    scikit-learn imports pytest and rich when they are installed (both optional to it) and works
    as designed without them; a worker, which neither runs sklearn's tests nor fits a model,
    saves their imports: ~0.1-0.2 CPU s where they are installed. skops' trusted types
    are the same either way (sklearn's estimator list does not depend on them). Afterwards the
    names import as usual; the worker's app is built before uvicorn starts any thread.
    """
    hidden = [n for n in names if n not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # the import system's "absent"
    try:
        yield
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def _open_store() -> Store:
    from loopml.store import Store

    return Store()


def _lifespan(server: ModelServer) -> Any:
    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        await server.start()
        try:
            yield
        finally:
            await server.stop()

    return lifespan


def _add_routes(app: Starlette, server: ModelServer) -> None:
    app.state.server = server

    def bind(handler: Any) -> Any:
        async def endpoint(request: Any) -> Any:
            return await handler(server, request)

        return endpoint

    # Plain Starlette routes: the handlers read the raw request themselves, which skips
    # FastAPI's per-request dependency resolution on the hot path.
    for (path, method), handler in ROUTES.items():
        app.add_route(path, bind(handler), methods=[method])


async def _http_error(request: Any, exc: Any) -> Any:
    """An unknown path or method: FastAPI's answer (``{"detail": ...}``), so that both apps
    answer alike."""
    from starlette.responses import Response

    return Response(
        _json_dumps({"detail": exc.detail}),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
        media_type="application/json",
    )
