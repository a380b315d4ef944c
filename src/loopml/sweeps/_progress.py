"""The terminal progress bar: done/running/failed/pruned, best so far, trials per second."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loopml.sweeps._controller import Counts

__all__ = ["ProgressView"]


class ProgressView:
    """A rich progress bar redrawn at most ten times a second (a context manager)."""

    def __init__(self, total: int, name: str, metric: str) -> None:
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.metric = metric
        self.total = total
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=16),
            TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(),
            transient=False,
        )
        self._task = self._progress.add_task(name, total=total, stats="")
        self._start = time.monotonic()
        self._last = 0.0
        self._first_done: int | None = None

    def __enter__(self) -> ProgressView:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def update(self, counts: Counts, force: bool = False) -> None:
        """Redraw with ``counts`` (throttled unless ``force``)."""
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        if self._first_done is None:
            self._first_done = counts.done
        rate = (counts.done - self._first_done) / max(now - self._start, 1e-9)
        best = "-" if counts.best is None else f"{counts.best:.5g}"
        stats = (
            f"{counts.done}/{self.total} [green]{counts.finished} done[/] [blue]{counts.running} running[/] "
            f"[red]{counts.failed} failed[/] [dim]{counts.pruned} pruned[/] "
            f"{counts.cached} cached | best {self.metric} {best} | {rate:,.1f} trials/s"
        )
        self._progress.update(self._task, completed=counts.done, stats=stats)
