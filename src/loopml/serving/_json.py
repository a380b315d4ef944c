"""JSON for the request path: orjson when installed (the ``serving`` extra; several times faster
on float-heavy bodies), the standard library otherwise. Both give the same answers."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["dumps", "loads"]

_orjson: Any
try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - the standard library path is tested directly
    _orjson = None


def _default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def loads(data: bytes) -> Any:
    """Parse a request body. NaN and Infinity (not JSON, but sent by some clients) parse as
    floats, so the signature check can name the column that holds them."""
    if _orjson is not None:
        try:
            return _orjson.loads(data)
        except _orjson.JSONDecodeError:
            pass  # maybe NaN/Infinity: the standard parser accepts them, or raises the error
    return json.loads(data)


def dumps(value: Any) -> bytes:
    """Serialize an answer or a journal record (numpy arrays allowed) without NaN tokens:
    non-finite floats become null."""
    if _orjson is not None:
        return _orjson.dumps(value, option=_orjson.OPT_SERIALIZE_NUMPY, default=_default)
    return json.dumps(
        _nan_to_none(value), separators=(",", ":"), default=_default, allow_nan=False
    ).encode()


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    if hasattr(value, "tolist"):
        return _nan_to_none(value.tolist())
    return value
