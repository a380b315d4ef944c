"""What a worker's ``setup`` hook returned, for objectives to reach (one value per worker process)."""

from __future__ import annotations

from typing import Any

value: Any = None
