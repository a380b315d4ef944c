"""``loopml serve NAME@ALIAS --ray ADDRESS --replicas N``: the same server as a Ray Serve
deployment. Every replica runs the same :class:`ModelServer` (validation, micro-batching, hot
swap, shadow) and writes its own journal into the same prediction log, so the cluster's nodes
need the same store (``LOOPML_STORE``, e.g. PostgreSQL) and data folder (``LOOPML_DIR`` on a
shared file system), which the driver passes to the replicas.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from loopml._errors import MissingDependencyError, ValidationError
from loopml.serving._app import ModelServer, ServeConfig, dispatch

__all__ = ["ModelDeployment", "serve_on_ray"]

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class ModelDeployment:
    """One Ray Serve replica: starts its :class:`ModelServer` on first use, then dispatches."""

    def __init__(self, config_json: str) -> None:
        self.config = ServeConfig(**json.loads(config_json))
        self.server: ModelServer | None = None
        self._lock = asyncio.Lock()

    async def _server(self) -> ModelServer:
        if self.server is None:
            async with self._lock:
                if self.server is None:
                    from loopml.store import Store

                    server = ModelServer(self.config, Store())
                    await server.start()
                    self.server = server
        return self.server

    async def __call__(self, request: Any) -> Any:
        """Answer one HTTP request (a Starlette request, as Ray Serve passes it)."""
        return await dispatch(await self._server(), request)

    async def check_health(self) -> None:
        """Ray Serve's health check: load the model if not yet loaded (raises if it cannot)."""
        await self._server()

    async def __del__(self) -> None:
        # Ray Serve calls this when it stops the replica: write out the log and drop the journal.
        if self.server is not None:
            await self.server.stop()


def serve_on_ray(
    ref: str,
    *,
    address: str,
    replicas: int = 1,
    host: str = "127.0.0.1",
    port: int = 8000,
    shadow: str | None = None,
    log: bool = True,
    trust: bool = False,
    threads: int = 1,
    max_body_bytes: int = 4 << 20,
    blocking: bool = True,
) -> str:
    """Deploy ``ref`` on the Ray cluster at ``address`` with ``replicas`` replicas; its URL.

    With ``blocking`` (the CLI), waits until Ctrl-C and then deletes the deployment.
    """
    try:
        import ray
        from ray import serve
    except ImportError:
        raise MissingDependencyError(
            "serving on Ray needs Ray Serve: pip install 'loopml[ray]' 'ray[serve]'"
        ) from None
    from loopml.registry import parse_ref
    from loopml.serving._serve import check_servable
    from loopml.tracking import default_session

    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
        raise ValidationError(f"replicas must be a positive integer, not {replicas!r}")
    config = ServeConfig(
        ref=ref, shadow=shadow, log=log, trust=trust, threads=threads, max_body_bytes=max_body_bytes
    )
    check_servable(ref)
    if shadow:
        check_servable(shadow)
    settings = default_session().store.settings
    env = {
        "LOOPML_DIR": str(settings.data_dir),
        "LOOPML_FLUSH_INTERVAL": str(settings.flush_interval),
        **dict.fromkeys(_THREAD_VARS, str(threads)),
    }
    if settings.store_url:
        env["LOOPML_STORE"] = settings.store_url
    name, _, _ = parse_ref(ref)
    app_name = f"loopml-{name}"
    ray.init(address=address, runtime_env={"env_vars": env}, log_to_driver=False)
    serve.start(http_options={"host": host, "port": port})
    deployment: Any = serve.deployment(
        ModelDeployment,
        name=app_name,
        num_replicas=replicas,
        ray_actor_options={"num_cpus": 1},
        max_ongoing_requests=256,  # the replica batches them; the model runs one call at a time
    )
    serve.run(deployment.bind(config.to_env()), name=app_name, route_prefix="/", blocking=False)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}"
    print(
        f"loopml serving {ref} on Ray at {url}/predict ({replicas} replica"
        f"{'s' if replicas > 1 else ''}; Ctrl-C to stop)",
        flush=True,
    )
    if blocking:
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            serve.delete(app_name)
            ray.shutdown()
    return url
