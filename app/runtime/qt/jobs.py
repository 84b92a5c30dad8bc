"""The job runner: Qt-free :class:`app.runtime.jobs.Job` s on a managed worker thread.

::

    GUI thread                         worker thread ("studies", "control", "queries", …)
    runner.submit(job) → JobHandle ──► job.run(ctx)  — ctx.progress(…), ctx.check()
    handle.progress(float, str)   ◄──  (queued signals, arrive on the GUI thread)
    handle.done(result) / failed(str) / cancelled()
    handle.cancel()               ──►  sets the job's flag; it stops at its next check

A runner runs its jobs one after the other, in the order submitted (commands on the control
runner must not overtake each other); work that must not wait behind another kind gets its
own runner. Nothing is ever terminated: :meth:`JobRunner.stop` cancels what is queued and
running and waits for the thread to end.
"""

from __future__ import annotations

import itertools
import logging
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal, Slot

from app.runtime.jobs import Cancelled, Job, JobContext
from app.runtime.qt.threads import managed_thread, stop_thread

log = logging.getLogger(__name__)

T = TypeVar("T")
#: ``done(result, error)`` on the GUI thread: the job's result and None, or None and the
#: exception it raised (:class:`~app.runtime.jobs.Cancelled` when it was cancelled).
Done = Callable[[T | None, BaseException | None], None]


class JobHandle(QObject):
    """One submitted job, seen from the GUI thread. Exactly one of ``done``, ``failed`` and
    ``cancelled`` is emitted, once."""

    progress = Signal(float, str)
    done = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, job: Job[object], ticket: int) -> None:
        super().__init__()
        self.job, self.ticket = job, ticket
        self.ctx = JobContext()
        self.finished = False
        self.result: object = None
        self.error: BaseException | None = None

    @property
    def name(self) -> str:
        return self.job.name

    def cancel(self) -> None:
        """Ask the job to stop (it does at its next check); a queued job never starts."""
        self.ctx.cancel()


class _Worker(QObject):
    progress = Signal(int, float, str)
    finished = Signal(int, object, object)

    @Slot(int, object)
    def run(self, ticket: int, handle: JobHandle) -> None:
        ctx = handle.ctx
        ctx.on_progress = lambda f, text: self.progress.emit(ticket, f, text)
        try:
            ctx.check()  # cancelled while queued
            result, error = handle.job.run(ctx), None
        except BaseException as exc:  # handed to the GUI thread, never lost in the thread
            result, error = None, exc
            if not isinstance(exc, Cancelled):
                log.debug("job %s failed:\n%s", handle.name, traceback.format_exc())
        self.finished.emit(ticket, result, error)


class JobRunner(QObject):
    """A managed worker thread that runs jobs in order. :meth:`start` before submitting
    (jobs submitted earlier wait); :meth:`stop` on close."""

    _request = Signal(int, object)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._thread = managed_thread(name)
        self._worker = _Worker()
        self._worker.moveToThread(self._thread)
        self._request.connect(self._worker.run)
        self._worker.progress.connect(self._progress)
        self._worker.finished.connect(self._finished)
        self._tickets = itertools.count(1)
        self._handles: dict[int, JobHandle] = {}
        # Each job's own result type, erased here: a callback only ever gets its job's result.
        self._callbacks: dict[int, Done[Any]] = {}

    def start(self) -> JobRunner:
        if not self._thread.isRunning():
            self._thread.start()
        return self

    @property
    def busy(self) -> bool:
        """Jobs are queued or running."""
        return bool(self._handles)

    def submit(self, job: Job[T], done: Done[T] | None = None) -> JobHandle:
        """Queue ``job``; its handle's signals arrive on this (the GUI) thread, and so does
        ``done(result, error)`` when given (error: the exception, or Cancelled)."""
        t = next(self._tickets)
        h = JobHandle(job, t)
        self._handles[t] = h
        if done is not None:
            self._callbacks[t] = done
        self._request.emit(t, h)
        return h

    def call(self, name: str, fn: Callable[[], T], done: Done[T] | None = None) -> JobHandle:
        """Run a plain function as a job (a query, a command, a login)."""
        return self.submit(Job(name, lambda _ctx: fn()), done)

    @Slot(int, float, str)
    def _progress(self, ticket: int, fraction: float, text: str) -> None:
        h = self._handles.get(ticket)
        if h is not None:
            h.progress.emit(fraction, text)

    @Slot(int, object, object)
    def _finished(self, ticket: int, result: object, error: object) -> None:
        h = self._handles.pop(ticket, None)
        cb = self._callbacks.pop(ticket, None)
        if h is None:
            return
        h.finished, h.result, h.error = True, result, error
        if error is None:
            h.done.emit(result)
        elif isinstance(error, Cancelled):
            h.cancelled.emit()
        else:
            if cb is None:
                log.error("%s: job %s failed: %s", self.name, h.name, error)
            h.failed.emit(f"{type(error).__name__}: {error}")
        if cb is not None:
            cb(result, error)

    def stop(self, timeout_ms: int = 30_000) -> bool:
        """Cancel every queued and running job and wait for the thread to end."""
        for h in self._handles.values():
            h.cancel()
        return stop_thread(self._thread, timeout_ms)
