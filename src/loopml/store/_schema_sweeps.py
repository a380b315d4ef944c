"""Tables of the sweeps capability (registered on the shared ``metadata``)."""

from __future__ import annotations

from loopml.store._schema import metadata  # noqa: F401
