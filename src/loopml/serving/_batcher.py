"""Adaptive micro-batching: concurrent requests share one model call.

One consumer task takes the first waiting request and runs it at once when the server was idle;
while a model call runs, new requests queue up and the next call takes them all. Only when the
last call held several requests (the server is under concurrent load) does the consumer wait a
short, bounded time (``max_wait``) for more, so a lone request never waits.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Item", "MicroBatcher"]


@dataclass
class Item:
    """One request waiting for the model: its typed columns and row count."""

    columns: dict[str, Any]
    rows: int
    model: Any  # the ServedModel it was validated against
    future: asyncio.Future[Any] | None = field(repr=False, default=None)


class MicroBatcher:
    """Feeds queued items to ``run`` (called in one worker thread) in batches of whole items."""

    def __init__(
        self,
        run: Callable[[list[Item]], list[Any]],
        *,
        max_rows: int = 1024,
        max_wait: float = 0.002,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._run = run
        self.max_rows = max_rows
        self.max_wait = max_wait
        self._on_batch = on_batch
        self._queue: asyncio.Queue[Item] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="loopml-model")
        self._task: asyncio.Task[None] | None = None
        self._busy = False  # the last call held more than one request

    def start(self) -> None:
        """Start the consumer on the running event loop."""
        self._task = asyncio.get_running_loop().create_task(self._consume())

    async def submit(self, item: Item) -> Any:
        """Queue ``item`` and wait for its result (an exception is raised here)."""
        future = item.future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(item)
        return await future

    async def _consume(self) -> None:
        loop = asyncio.get_running_loop()
        queue = self._queue
        while True:
            first = await queue.get()
            items, rows = [first], first.rows
            if self._busy and queue.empty() and rows < self.max_rows:
                await asyncio.sleep(self.max_wait)  # others are likely a moment behind
            while rows < self.max_rows and not queue.empty():
                item = queue.get_nowait()
                items.append(item)
                rows += item.rows
            self._busy = len(items) > 1
            try:
                results = await loop.run_in_executor(self._executor, self._run, items)
            except Exception as exc:
                for item in items:
                    if item.future is not None and not item.future.done():
                        item.future.set_exception(exc)
                continue
            if self._on_batch is not None:
                self._on_batch(rows)
            for item, result in zip(items, results, strict=True):
                if item.future is not None and not item.future.done():
                    item.future.set_result(result)

    async def stop(self) -> None:
        """Stop the consumer and its thread."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=True)

    async def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the model thread (e.g. warming a newly loaded model)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)
