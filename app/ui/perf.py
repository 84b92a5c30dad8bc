"""Where the GUI thread's time goes: an opt-in probe (the HMI benchmark switches it on).

The slots that take snapshots and the paint events that follow them are decorated with
:func:`timed`; while :data:`PROBE` is disabled (always, but in ``gridtwin bench hmi``) a call
costs one attribute test. Enabled, each call's duration is added to its name's total, count
and maximum, and every listener hears ``(name, seconds, args)`` — the benchmark takes its
scan-to-screen latency from the diagram's calls. A public seam: nothing patches widgets.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class Probe:
    def __init__(self) -> None:
        self.enabled = False
        self.spent: dict[str, list[float]] = {}
        """Per name: [total seconds, calls, longest call]."""
        self.listeners: list[Callable[[str, float, tuple], None]] = []

    def reset(self) -> None:
        self.spent.clear()

    def add(self, name: str, seconds: float, args: tuple = ()) -> None:
        acc = self.spent.setdefault(name, [0.0, 0, 0.0])
        acc[0] += seconds
        acc[1] += 1
        acc[2] = max(acc[2], seconds)
        for listener in self.listeners:
            listener(name, seconds, args)


PROBE = Probe()


def timed(name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a slot or paint event: its calls are measured while :data:`PROBE` is on."""
    def deco(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kw: P.kwargs) -> R:
            if not PROBE.enabled:
                return fn(*args, **kw)
            t = time.perf_counter()
            try:
                return fn(*args, **kw)
            finally:
                PROBE.add(name, time.perf_counter() - t, args)
        return wrapper
    return deco
