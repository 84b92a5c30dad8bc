"""The scan pipeline on Qt threads: poller thread → solver thread → GUI.

::

    poller thread (asyncio)        solver thread                     GUI thread
    FrameSource.run() ──frame──►  ScanProcessor.process()   ──────►  snapshot_ready(LiveSnapshot)
                                   (twin, SOE, alarms,       ──────►  alarms_ready(AlarmView)
                                    historian.submit)        ──────►  events_ready(tuple[LogEntry])
                                                             ──────►  rewound(datetime) (a drill)
    GUI ──alarm_action(AlarmAction)──► ScanProcessor.perform ──► alarm_action_done(ActionResult)
    control thread ──note_command()──► the alarm service (queued for the next scan)

A thin adapter: the work is Qt-free (:mod:`app.runtime.scan`, built by
:func:`app.runtime.compose.compose`); this module only puts it on two managed threads and
carries immutable results to the GUI thread through queued signals. The solver always works
on the newest frame: when it falls behind, older frames are not solved (counted as skipped)
but their events and alarms still are — never queued without bound. :meth:`Pipeline.stop`
asks the asyncio loop to finish, quits the solver's event loop and waits for both — never
terminates.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from typing import TypeVar

from PySide6.QtCore import QObject, Signal, Slot

from app.historian.api import HistorianWriter
from app.runtime.alarm_service import AlarmAction
from app.runtime.compose import StationRuntime
from app.runtime.qt.threads import managed_thread, stop_thread
from app.runtime.scan import PipelineStats, ScanOutput, ScanProcessor
from app.runtime.snapshot import LiveSnapshot
from app.runtime.sources import FrameSource
from app.station.frame import ScanFrame

log = logging.getLogger(__name__)

T = TypeVar("T")


class _PollerWorker(QObject):
    frame_ready = Signal(object)
    finished = Signal()

    def __init__(self, source: FrameSource, stats: PipelineStats) -> None:
        super().__init__()
        self.source = source
        self.stats = stats
        self.latest_seq = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._stopping = threading.Event()
        self.latest_frame: ScanFrame | None = None  # the newest scan, for any thread

    @Slot()
    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:
            log.exception("poller thread stopped by an error")
        finally:
            self.finished.emit()
            # Quit this thread's event loop from inside: a queued finished→quit would wait
            # for the GUI thread, which may itself be blocked waiting for us.
            self.thread().quit()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if self._stopping.is_set():
            return

        def emit(frame: ScanFrame) -> None:
            self.latest_seq = frame.seq
            self.latest_frame = frame  # one reference swap: safe to read from any thread
            self.stats.frames += 1
            self.stats.frame_times.append(time.monotonic())
            self.frame_ready.emit(frame)

        await self.source.run(emit, self._stop)

    def submit(self, coro: Coroutine[object, object, T]) -> concurrent.futures.Future[T]:
        """Run a coroutine on this thread's asyncio loop (from any other thread)."""
        from app.runtime.commander import run_on

        return run_on(self._loop, coro)

    def request_stop(self) -> None:
        self._stopping.set()
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:
                pass  # the loop already finished


class _SolverWorker(QObject):
    snapshot_ready = Signal(object)
    alarms_ready = Signal(object)
    events_ready = Signal(object)
    action_done = Signal(object)
    report_ready = Signal(object)
    rewound = Signal(object)

    def __init__(self, processor: ScanProcessor, poller: _PollerWorker) -> None:
        super().__init__()
        self.processor, self.poller = processor, poller

    def _emit(self, out: ScanOutput) -> None:
        if out.rewound_to is not None:
            self.rewound.emit(out.rewound_to)
        if out.events:
            self.events_ready.emit(out.events)
        if out.alarms is not None:
            self.alarms_ready.emit(out.alarms)

    @Slot(object)
    def on_frame(self, frame: ScanFrame) -> None:
        # A newer frame is already queued behind this one: not solved, but its events and
        # alarms are (nothing the field reported is lost).
        self._emit(self.processor.process(frame, stale=frame.seq < self.poller.latest_seq,
                                          on_snapshot=self.snapshot_ready.emit))

    @Slot(object)
    def on_action(self, req: AlarmAction) -> None:
        result, out = self.processor.perform(req)
        self._emit(out)
        self.action_done.emit(result)

    @Slot(float)
    def on_report(self, hours: float) -> None:
        self.report_ready.emit(self.processor.report(hours))


class Pipeline(QObject):
    """The station runtime's scan pipeline on its threads. Connect to the signals, then
    :meth:`start`; :meth:`stop` on close (the owner of the threads does)."""

    snapshot_ready = Signal(object)  # LiveSnapshot
    alarms_ready = Signal(object)  # AlarmView
    events_ready = Signal(object)  # tuple[LogEntry]: SOE, alarm transitions, user actions
    alarm_action_done = Signal(object)  # ActionResult
    alarm_report_ready = Signal(object)  # dict (app.alarms.report)
    rewound = Signal(object)  # datetime: a drill went back in time to it (app.runtime.scan)
    _action_requested = Signal(object)
    _report_requested = Signal(float)

    def __init__(self, runtime: StationRuntime) -> None:
        super().__init__()
        self.runtime = runtime
        proc = runtime.processor
        self.station, self.points = runtime.station, runtime.points
        self.source = runtime.source
        self.processor = proc
        self.stats = proc.stats
        self.rules = proc.rules
        #: Each switch's two circuit buses, for station interlocking.
        self.switch_ends = proc.switch_ends
        #: The circuit the twin solves (the active DSS version): studies compile it too.
        self.circuit_path = proc.circuit_path
        self._poller = _PollerWorker(runtime.source, self.stats)
        self._solver = _SolverWorker(proc, self._poller)
        self._poller_thread = managed_thread("poller")
        self._solver_thread = managed_thread("solver")
        self._poller.moveToThread(self._poller_thread)
        self._solver.moveToThread(self._solver_thread)
        self._poller_thread.started.connect(self._poller.run)
        self._poller.frame_ready.connect(self._solver.on_frame)
        self._solver.snapshot_ready.connect(self.snapshot_ready)
        self._solver.alarms_ready.connect(self.alarms_ready)
        self._solver.events_ready.connect(self.events_ready)
        self._solver.action_done.connect(self.alarm_action_done)
        self._solver.report_ready.connect(self.alarm_report_ready)
        self._solver.rewound.connect(self.rewound)
        self._action_requested.connect(self._solver.on_action)
        self._report_requested.connect(self._solver.on_report)
        self.last_snapshot: LiveSnapshot | None = None
        self.snapshot_ready.connect(self._remember)
        self._started = False

    @property
    def sink(self) -> HistorianWriter | None:
        """The historian the pipeline writes to (None when not recording)."""
        return self.processor.sink

    # ------------------------------------------------------------------ for the control side
    def latest(self) -> tuple[ScanFrame | None, Callable[[str], bool]]:
        """The newest scan and an ``is_live(bus)`` from the newest solved twin (any thread).
        With no twin yet every bus counts as live (the safe assumption for earthing)."""
        frame, twin = self._poller.latest_frame, self.processor.latest_twin

        def is_live(bus: str) -> bool:
            if twin is None:
                return True
            try:
                return bool(twin.bus(bus).energised)
            except (KeyError, ValueError):
                return True

        return frame, is_live

    def submit(self, coro: Coroutine[object, object, T]) -> concurrent.futures.Future[T]:
        """Run a coroutine on the poller thread's asyncio loop (the protocol write path)."""
        return self._poller.submit(coro)

    def _remember(self, snap: LiveSnapshot) -> None:
        self.last_snapshot = snap

    # ------------------------------------------------------------------ alarms
    def note_command(self, asset_id: str, close: bool, when: dt.datetime) -> None:
        """Thread-safe (the control service calls it from its own thread): an operator's
        open or close command is under way, so the movement is not annunciated as a trip."""
        self.processor.note_command(asset_id, close, when)

    def alarm_action(self, req: AlarmAction) -> None:
        """Queue an operator's action to the solver thread; the outcome arrives as
        :attr:`alarm_action_done` (and the changes as alarms_ready / events_ready)."""
        self._action_requested.emit(req)

    def request_alarm_report(self, hours: float = 24.0) -> None:
        """The performance report from the engine's memory, as :attr:`alarm_report_ready`."""
        self._report_requested.emit(float(hours))

    # ------------------------------------------------------------------ lifetime
    def start(self) -> None:
        self._solver_thread.start()
        self._poller_thread.start()
        self._started = True

    def stop(self, timeout_ms: int = 8000) -> bool:
        """Stop every thread cleanly; True when all stopped within the timeout. A pipeline
        that never ran closes its source (it may hold protocol-client processes)."""
        if not self._started:
            self.source.close()
            return True
        self._poller.request_stop()
        ok = self._poller_thread.wait(timeout_ms)
        ok = stop_thread(self._solver_thread, timeout_ms) and ok
        self._started = False
        if not ok:
            log.error("a worker thread did not stop within %d ms", timeout_ms)
        return ok
