"""Measure whether an awaited call leaves the event loop free: a ticker counts while it runs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def run_counting_ticks(make: Callable[[], Awaitable[T]], period: float = 0.005) -> tuple[T, int]:
    """Run ``make()`` in a fresh loop beside a ticker; return its result and how often the ticker ran."""

    async def main() -> tuple[T, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(period)
                ticks += 1

        task = asyncio.create_task(ticker())
        try:
            return await make(), ticks
        finally:
            task.cancel()

    return asyncio.run(main())
