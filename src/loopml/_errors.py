"""The exception tree: every error loopml raises on purpose derives from :class:`LoopmlError`.

Messages follow one rule: say what was wrong (with the offending value), the rule it broke,
and what to do instead.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "ConflictError",
    "InvalidValueTypeError",
    "JournalFormatError",
    "LoopmlError",
    "MissingDependencyError",
    "NotFoundError",
    "OffsetMismatch",
    "QueryError",
    "SchemaVersionError",
    "StoreError",
    "UnsafeModelError",
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


class UnsafeModelError(ValidationError):
    """Loading a model file could run code that nobody vouched for (untrusted types, a pickle)."""


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


class JournalFormatError(StoreError):
    """A run journal holds a record this loopml cannot read (written by a newer version)."""


class OffsetMismatch(StoreError):
    """A journal segment does not start where the store's copy of that journal ends.

    Control flow between the tracking writer and the store, not a user error: the writer
    re-reads the journal from ``stored`` and tries again.
    """

    def __init__(self, stored: int) -> None:
        super().__init__(
            f"the store holds this journal up to byte {stored}, not up to where this segment starts"
        )
        self.stored = stored


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices`` to a mistyped ``word``, or ``""``."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


class UnsupportedVersionError(MissingDependencyError):
    """An installed dependency's version is outside the range loopml supports for it."""
