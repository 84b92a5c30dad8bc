"""The one periodic scan loop every poller and frame source runs on its asyncio loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def run_every(period_s: float, scan: Callable[[], Awaitable[T]],
                    emit: Callable[[T], None], stop: asyncio.Event) -> None:
    """Call ``scan`` every ``period_s`` and pass its result to ``emit`` until ``stop`` is set.
    A late scan is not made up for: after falling a period behind, the schedule restarts."""
    next_t = time.monotonic()
    while not stop.is_set():
        emit(await scan())
        next_t += period_s
        delay = next_t - time.monotonic()
        if delay < -period_s:
            next_t = time.monotonic()
        try:
            await asyncio.wait_for(stop.wait(), max(0.0, delay))
        except TimeoutError:
            pass
