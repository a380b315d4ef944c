"""What users log, checked and put in its stored form: keys, metric values, steps, params, tags.

The one owner of the param format: ``encode_param`` (value -> stored text and number) and
``decode_param`` (back) sit side by side. Each check's error says the rule and the fix.
Below every layer (like ``_errors``): the tracking client, sweeps and the store all use it.
"""

from __future__ import annotations

import json
import math
import numbers
import re
from collections.abc import Mapping
from typing import Any

from loopml._errors import InvalidValueTypeError, ValidationError

MAX_KEY_LENGTH = 250
MAX_VALUE_LENGTH = 16_384
MAX_STEP = 2**63 - 1
_KEY = re.compile(r"[\w\-./: ]{1,250}")
_KEY_RULE = "keys are 1-250 characters: letters, digits, '_', '-', '.', '/', ':' and inner spaces"
_PROJECT = re.compile(r"[\w\-. ]{1,200}")


def check_key(key: object, what: str = "metric") -> str:
    """Return ``key`` if it is a valid metric/param/tag key, else raise ValidationError."""
    if not isinstance(key, str):
        raise ValidationError(f"{what} key {key!r} is a {type(key).__name__}; {_KEY_RULE}")
    if not _KEY.fullmatch(key) or key != key.strip():
        hint = re.sub(r"[^\w\-./: ]", "_", key.strip())[:MAX_KEY_LENGTH] or "value"
        raise ValidationError(f"{what} key {key!r} is not allowed: {_KEY_RULE}; e.g. {hint!r}")
    return key


def check_project(name: object) -> str:
    """Return ``name`` if it is a valid project name."""
    if not isinstance(name, str) or not _PROJECT.fullmatch(name) or name != name.strip():
        raise ValidationError(
            f"project name {name!r} is not allowed: use 1-200 letters, digits, '_', '-', '.' "
            "or inner spaces, e.g. 'digits-classifier'"
        )
    return name


def check_run_name(name: object) -> str:
    """Return ``name`` if it is a valid run name (any printable text up to 250 characters)."""
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_KEY_LENGTH:
        raise ValidationError(
            f"run name {name!r} must be a non-empty string of at most 250 characters"
        )
    if any(ord(c) < 32 for c in name):
        raise ValidationError(f"run name {name!r} contains control characters; remove them")
    return name


def to_float(key: str, value: object) -> float:
    """A metric value as a float: Python and NumPy numbers, and 0-d tensors / arrays."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, numbers.Real):
        return float(value)
    item = getattr(value, "item", None)
    if item is not None and getattr(value, "shape", None) in ((), (1,), [], None):
        try:
            inner = item()
        except (TypeError, ValueError):
            inner = None
        if isinstance(inner, (int, float)) and not isinstance(inner, complex):
            return float(inner)
    raise InvalidValueTypeError(
        f"metric {key!r} got {value!r} of type {type(value).__name__}; metric values must be "
        "numbers (int, float, NumPy scalar or a 0-d tensor); log text as a tag or param"
    )


def check_step(step: object) -> int:
    """Return ``step`` if it is a non-negative integer."""
    if type(step) is int and 0 <= step <= MAX_STEP:  # the common case, without the ABC check
        return step
    if (
        isinstance(step, bool)
        or not isinstance(step, numbers.Integral)
        or not 0 <= int(step) <= MAX_STEP
    ):
        raise ValidationError(f"step must be an integer from 0 to 2**63-1, not {step!r}")
    return int(step)


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings with dots: ``{"opt": {"lr": 1}}`` becomes ``{"opt.lr": 1}``."""
    if not isinstance(data, Mapping):
        raise ValidationError(f"expected a dict of name -> value, not {type(data).__name__}")
    out: dict[str, Any] = {}
    for k, v in data.items():
        if not isinstance(k, str):
            check_key(k, "param")  # raises, stating the rule for keys
        name = f"{prefix}{k}"
        if type(v) not in _SCALARS and isinstance(v, Mapping) and v:
            out.update(flatten(v, name + "."))
        else:
            out[name] = v
    return out


# Exact types that are never a Mapping, told apart by identity before any ABC check (here and
# in ``encode_param``): ``isinstance(x, Mapping)`` or ``numbers.Integral`` for a type not seen
# since the last ABC registration walks every registered subclass, in a process that imported
# JAX or Keras about a tenth of a millisecond a check, on loopml.init's path.
_SCALARS = frozenset((str, int, float, bool, type(None)))


def encode_param(key: str, value: Any) -> tuple[str, float | None]:
    """A param as (stored text, number or None); text for strings, JSON for the rest."""
    num: float | None = None
    kind = type(value)
    if kind is str:
        text = value
    elif kind is int:
        text, num = str(value), float(value)
    elif kind is float:
        text, num = (repr(value) if math.isfinite(value) else json.dumps(value)), value
    elif isinstance(value, str):
        text = value
    elif isinstance(value, bool) or value is None:
        text = json.dumps(value)
    elif isinstance(value, numbers.Integral):
        text, num = str(int(value)), float(value)
    elif isinstance(value, numbers.Real):
        f = float(value)
        text, num = (repr(f) if math.isfinite(f) else json.dumps(f)), f
    else:
        try:
            text = json.dumps(value, default=str)
        except (TypeError, ValueError):
            text = str(value)
    if "\x00" in text:
        raise ValidationError(f"param {key!r} contains a NUL character; remove it")
    if len(text) > MAX_VALUE_LENGTH:
        raise ValidationError(
            f"param {key!r} is {len(text):,} characters long; the limit is {MAX_VALUE_LENGTH:,}. "
            "Store large values as an artifact (run.log_artifact) and log its name instead"
        )
    return text, num


def encode_tag(key: str, value: Any) -> str:
    """A tag value as text, within the size limit."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if "\x00" in text:
        raise ValidationError(f"tag {key!r} contains a NUL character; remove it")
    if len(text) > MAX_VALUE_LENGTH:
        raise ValidationError(
            f"tag {key!r} is {len(text):,} characters long; the limit is {MAX_VALUE_LENGTH:,}"
        )
    return text


def decode_param(text: str, num: float | None) -> Any:
    """Turn a stored param back into a Python value (the inverse of :func:`encode_param`)."""
    if num is None:
        return text
    if math.isnan(num) or math.isinf(num) or not num.is_integer():
        return num
    try:
        return int(text)  # an int param (a float such as 2.0 keeps its ".0" and fails here)
    except ValueError:
        return num


def param_num(value: Any) -> float | None:
    """The numeric form of a param for numeric filters (ints and floats only, not bools)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)
