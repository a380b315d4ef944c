"""Micro-batching: concurrent requests share model calls; each gets its own rows back."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from loopml.serving._batcher import Item, MicroBatcher


def _run(main: Any) -> Any:
    """``asyncio.run(main())`` in a thread of its own: an earlier test (Playwright's sync API)
    may leave an event loop marked running in the main thread."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


def test_concurrent_items_share_calls_and_get_their_own_results() -> None:
    calls: list[int] = []

    def run(items: list[Item]) -> list[object]:
        calls.append(len(items))
        time.sleep(0.05)  # a model call long enough for others to queue behind it
        return [item.columns["x"] * 10 for item in items]

    async def main() -> list[object]:
        b = MicroBatcher(run, max_rows=100, max_wait=0.001)
        b.start()
        try:
            first = await b.submit(Item({"x": -1}, 1, None))  # idle: runs alone at once
            rest = await asyncio.gather(*(b.submit(Item({"x": i}, 1, None)) for i in range(20)))
            return [first, *rest]
        finally:
            await b.stop()

    results = _run(main)
    assert results == [-10, *(i * 10 for i in range(20))]
    assert calls[0] == 1 and sum(calls) == 21 and len(calls) <= 4


def test_a_failing_call_fails_its_items_only() -> None:
    def run(items: list[Item]) -> list[object]:
        if any(item.columns["x"] == "boom" for item in items):
            raise RuntimeError("model broke")
        return [1 for _ in items]

    async def main() -> None:
        b = MicroBatcher(run)
        b.start()
        try:
            with pytest.raises(RuntimeError, match="model broke"):
                await b.submit(Item({"x": "boom"}, 1, None))
            assert await b.submit(Item({"x": 1}, 1, None)) == 1  # still serving
        finally:
            await b.stop()

    _run(main)


def test_max_rows_bounds_a_batch() -> None:
    sizes: list[int] = []

    def run(items: list[Item]) -> list[object]:
        sizes.append(sum(i.rows for i in items))
        time.sleep(0.02)
        return [None for _ in items]

    async def main() -> None:
        b = MicroBatcher(run, max_rows=30)
        b.start()
        try:
            await asyncio.gather(*(b.submit(Item({}, 10, None)) for _ in range(12)))
        finally:
            await b.stop()

    _run(main)
    assert max(sizes) <= 30 and sum(sizes) == 120
