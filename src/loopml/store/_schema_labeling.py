"""Tables of the datasets and labeling capabilities (registered on the shared ``metadata``)."""

from __future__ import annotations

from loopml.store._schema import metadata  # noqa: F401
