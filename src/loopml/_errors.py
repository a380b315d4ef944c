"""The exception tree: every error loopml raises on purpose derives from :class:`LoopmlError`.

Messages follow one rule: say what was wrong (with the offending value), the rule it broke,
and what to do instead.
"""

from __future__ import annotations

__all__ = [
    "ConflictError",
    "InvalidValueTypeError",
    "LoopmlError",
    "MissingDependencyError",
    "NotFoundError",
    "QueryError",
    "SchemaVersionError",
    "StoreError",
    "UnsupportedVersionError",
    "ValidationError",
]


class LoopmlError(Exception):
    """Root of every error raised by loopml on purpose."""


class ValidationError(LoopmlError, ValueError):
    """An argument broke a documented rule (bad key, oversized value, unsafe name...)."""


class InvalidValueTypeError(LoopmlError, TypeError):
    """A value has the wrong type, e.g. a string logged as a metric."""


class QueryError(ValidationError):
    """A filter or sort expression could not be parsed; the message points at the position."""


class ConflictError(LoopmlError):
    """The request contradicts what is already stored (e.g. re-logging a param with a new value)."""


class NotFoundError(LoopmlError, LookupError):
    """A run, project or other object does not exist."""

    def __str__(self) -> str:  # LookupError's KeyError-style quoting is not wanted here
        return str(self.args[0]) if self.args else ""


class StoreError(LoopmlError):
    """The metadata store cannot be used as asked (unreachable, wrong schema...)."""


class SchemaVersionError(StoreError):
    """The store was written by a newer loopml than this one."""


class MissingDependencyError(LoopmlError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


class UnsupportedVersionError(MissingDependencyError):
    """An installed dependency's version is outside the range loopml supports for it."""
