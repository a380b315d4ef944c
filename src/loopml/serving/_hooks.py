"""Background services a model server starts with itself, named in its configuration.

``ServeConfig.hooks`` maps ``"module:function"`` to keyword arguments. Each worker calls
``function(store=..., model=..., log=..., **kwargs)`` after the model is ready (in a thread, so
readiness never waits for a hook's imports) and gets back an object with ``stop()`` and,
optionally, ``exposition() -> bytes`` (Prometheus text appended to ``/metrics``). ``loopml serve``
names monitoring's hook here; serving itself imports no package above it.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from loopml._errors import ValidationError

if TYPE_CHECKING:
    from loopml.store import Store

__all__ = ["check_hooks", "exposition", "start_hooks", "stop_hooks"]

_log = logging.getLogger("loopml.serving")


def check_hooks(hooks: object) -> dict[str, dict[str, Any]]:
    """``hooks`` as a plain dict, or a ValidationError saying what is wrong."""
    if not isinstance(hooks, Mapping):
        raise ValidationError(
            f"hooks must map 'module:function' to keyword arguments, not {hooks!r}"
        )
    out: dict[str, dict[str, Any]] = {}
    for spec, options in hooks.items():
        module, _, function = str(spec).partition(":")
        if not module or not function.isidentifier():
            raise ValidationError(f"hook {spec!r} must be written 'package.module:function'")
        if not isinstance(options, Mapping):
            raise ValidationError(
                f"the options of hook {spec!r} must be a mapping, not {options!r}"
            )
        out[str(spec)] = dict(options)
    return out


def start_hooks(
    hooks: Mapping[str, Mapping[str, Any]], store: Store, model: str, log: bool
) -> list[Any]:
    """Start each hook (blocking: call it from a thread); a failing hook is logged, not raised."""
    started = []
    for spec, options in hooks.items():
        module, _, function = spec.partition(":")
        try:
            start = getattr(importlib.import_module(module), function)
            hook = start(store=store, model=model, log=log, **options)
            if hook is not None:  # None: the hook found nothing to do
                started.append(hook)
        except Exception:  # a broken add-on must not take the model server down
            _log.exception("starting the server hook %s failed", spec)
    return started


def stop_hooks(started: list[Any]) -> None:
    """Stop the hooks, last started first."""
    for hook in reversed(started):
        try:
            hook.stop()
        except Exception:
            _log.exception("stopping a server hook failed")


def exposition(started: list[Any]) -> bytes:
    """The hooks' Prometheus text, to append to the server's own."""
    parts = [h.exposition() for h in started if hasattr(h, "exposition")]
    return b"".join(parts)
