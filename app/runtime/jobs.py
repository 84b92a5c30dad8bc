"""Off-GUI-thread work as Qt-free jobs (GridCal's "driver" idea, without ``terminate()``).

A :class:`Job` is a name and a function of one :class:`JobContext`. The function reports its
progress through the context, looks at ``ctx.cancelled`` (or calls ``ctx.check()``) between
steps, and returns its result or raises. It never touches Qt: the same job runs from a test,
a CLI verb or, wrapped by :class:`app.runtime.qt.jobs.JobRunner`, on a worker thread of the
HMI with progress / done / failed / cancelled signals. Trend backfill, event queries, the
alarm report, select-before-operate, logins and the engineering studies all run this way.

Cancellation is cooperative: :meth:`JobContext.cancel` sets a flag; a job stops at its next
check by raising :class:`Cancelled` (the twin's studies already take any ``is_set()`` flag,
and restore their engine before they raise).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from app.twin.faults import Cancelled

__all__ = ["Cancelled", "Job", "JobContext", "run_job"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


@dataclass
class JobContext:
    """What a running job sees: a progress callback and a cancel flag."""

    on_progress: Callable[[float, str], None] = lambda _f, _t: None
    cancel_flag: threading.Event = field(default_factory=threading.Event)
    #: Reports closer together than this are dropped (the first and the last always pass):
    #: an N-1 study reports every outage, and each report repaints a progress bar on the GUI
    #: thread — ten a second is as much as anyone reads.
    min_interval_s: float = 0.1
    _last_report_s: float = field(default=-1e9, repr=False)

    def progress(self, fraction: float, text: str = "") -> None:
        """Report how far the job is, 0..1, with an optional line of text (rate-limited to
        one report per :attr:`min_interval_s`, except the final one)."""
        f = min(1.0, max(0.0, float(fraction)))
        now = time.monotonic()
        if f < 1.0 and now - self._last_report_s < self.min_interval_s:
            return
        self._last_report_s = now
        self.on_progress(f, text)

    def steps(self, text: str = "") -> Callable[[int, int], None]:
        """A ``progress(done, total)`` callback (the twin's studies take one)."""
        return lambda done, total: self.progress(done / total if total else 1.0,
                                                 f"{text} {done}/{total}".strip())

    def cancel(self) -> None:
        self.cancel_flag.set()

    @property
    def cancelled(self) -> bool:
        return self.cancel_flag.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` when cancellation was asked for."""
        if self.cancel_flag.is_set():
            raise Cancelled("cancelled")


@dataclass(frozen=True)
class Job(Generic[T_co]):
    name: str
    run: Callable[[JobContext], T_co]


def run_job(job: Job[T], ctx: JobContext | None = None) -> T:
    """Run a job on the calling thread (tests, CLI verbs)."""
    return job.run(ctx or JobContext())


def call(name: str, fn: Callable[[], T]) -> Job[T]:
    """A job of a plain function that reports no progress (a query, a command)."""
    return Job(name, lambda _ctx: fn())
