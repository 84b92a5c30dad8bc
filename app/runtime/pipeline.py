"""The scan pipeline: poller thread → solver thread → GUI, plus the historian writer.

::

    poller thread (asyncio)        solver thread                     GUI thread
    FrameSource.run() ──frame──►  SolverService.solve()  ──────►  snapshot_ready(LiveSnapshot)
                                  AlarmService (engine)    ──────►  alarms_ready(AlarmView)
                                  ChangeDetector + alarm   ──────►  events_ready(tuple[LogEntry])
                                    transitions
                                  historian.submit(frame), submit_events(rows)
                                                           (its own writer thread, never blocks)
    GUI ──alarm_action(AlarmAction)──► AlarmService.perform ──► alarm_action_done(ActionResult)
    control thread ──note_command()──► AlarmService (queued for the next scan)

The alarm engine runs after each solve, with the twin's dead sections as its suppression
by design. Operators' actions reach it as queued calls on the solver thread, so one thread
changes the engine; the role is checked there, not only in the GUI.

Frames cross threads through Qt queued signals carrying immutable objects. The solver always
works on the newest frame: if it falls behind, older frames are skipped (and counted), never
queued without bound. Every thread is registered (app.runtime.qt.threads) and stops cleanly on
:meth:`Pipeline.stop`: the asyncio loop is asked to finish, Qt event loops quit, and every
thread is waited for — never terminated.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from app.alarms.changes import ChangeDetector
from app.alarms.engine import AlarmEngine
from app.alarms.log import LogEntry
from app.alarms.rules import RuleSet, rules_for_station
from app.control.service import AuditSink
from app.runtime.alarm_service import ActionResult, AlarmAction, AlarmService
from app.runtime.qt.threads import managed_thread, stop_thread
from app.runtime.snapshot import LiveSnapshot
from app.runtime.solver import SolverService
from app.station import Station
from app.station import clock as wallclock
from app.station.frame import Comm, ScanFrame
from app.station.points import PointTable

log = logging.getLogger(__name__)


class FrameSource(Protocol):
    """Produces ScanFrames on an asyncio loop (the poller thread) until ``stop`` is set."""

    async def run(self, emit: Callable[[ScanFrame], None], stop: asyncio.Event) -> None: ...


class FrameSink(Protocol):
    """The historian writer: takes frames without ever blocking the scan."""

    def submit(self, frame: ScanFrame) -> None: ...

    def submit_events(self, events: list[dict]) -> None: ...


@dataclass
class PipelineStats:
    frames: int = 0
    solved: int = 0
    skipped: int = 0
    solve_ms: deque = field(default_factory=lambda: deque(maxlen=200))
    frame_times: deque = field(default_factory=lambda: deque(maxlen=50))

    def scan_hz(self) -> float:
        t = self.frame_times
        if len(t) < 2:
            return 0.0
        return (len(t) - 1) / max(t[-1] - t[0], 1e-9)


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

    def submit(self, coro) -> concurrent.futures.Future:  # noqa: ANN001
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

    def __init__(self, station: Station, points: PointTable, poller: _PollerWorker,
                 stats: PipelineStats, sink: FrameSink | None, rules: RuleSet,
                 audit: AuditSink | None, clock: Callable[[], dt.datetime],
                 circuit_path: Path | None = None) -> None:
        super().__init__()
        self.station, self.points = station, points
        self.poller = poller
        self.stats = stats
        self.sink = sink
        # Built here, on the constructing thread, so a bad circuit fails start-up visibly.
        self.solver: SolverService | None = SolverService(station, points,
                                                          circuit_path=circuit_path)
        engine = AlarmEngine(points, rules.rules,
                             asset_types={a.id: a.type for a in station.assets},
                             aliases=rules.aliases, nominal=rules.nominal)
        self.alarms = AlarmService(engine, audit=audit, clock=clock)
        self.changes = ChangeDetector(points)
        self._dead: np.ndarray | None = None
        self.latest_twin = None  # the newest solved TwinState, for any thread

    @Slot(object)
    def on_frame(self, frame: ScanFrame) -> None:
        if frame.seq < self.poller.latest_seq:
            # A newer frame is already queued behind this one: skip the solve, but not the
            # sequence of events and the alarms (nothing the field reported is lost).
            self.stats.skipped += 1
            self._alarms_and_events(frame)
            if self.sink is not None:
                self.sink.submit(frame)
            return
        try:
            t0 = time.perf_counter()
            snap = self.solver.solve(frame)
            self.stats.solve_ms.append((time.perf_counter() - t0) * 1000)
            self.stats.solved += 1
            self.latest_twin = snap.twin
            self.snapshot_ready.emit(snap)
            self._dead = self.solver.dead_points(snap.twin)
        except Exception:
            log.exception("solver failed on scan %d; the next scan is tried afresh", frame.seq)
        self._alarms_and_events(frame)
        if self.sink is not None:
            self.sink.submit(frame)

    def _alarms_and_events(self, frame: ScanFrame) -> None:
        rows: list[dict] = []
        transitions = []
        try:
            rows = [e.row() for e in self.changes.changes(frame)]
        except Exception:
            log.exception("sequence of events failed on scan %d", frame.seq)
        try:
            transitions, alarm_rows = self.alarms.evaluate(frame, self._dead)
            rows += alarm_rows
        except Exception:
            log.exception("alarm evaluation failed on scan %d", frame.seq)
        self._publish(rows, frame.t_acquired, transitions)

    def _publish(self, rows: list[dict], now: dt.datetime, transitions: list) -> None:
        if rows:
            if self.sink is not None and hasattr(self.sink, "submit_events"):
                try:
                    self.sink.submit_events(rows)
                except Exception:
                    log.exception("events refused by the historian")
            self.events_ready.emit(tuple(LogEntry.from_row(r) for r in rows))
        view = self.alarms.view(now, transitions)
        if view is not None:
            self.alarms_ready.emit(view)

    @Slot(object)
    def on_action(self, req: AlarmAction) -> None:
        try:
            result, transitions, rows = self.alarms.perform(req)
        except Exception as exc:
            log.exception("alarm action %s failed", req.action)
            result, transitions, rows = ActionResult(req.action, False, str(exc), ""), [], []
        self._publish(rows, self.alarms.clock(), transitions)
        self.action_done.emit(result)

    @Slot(float)
    def on_report(self, hours: float) -> None:
        try:
            self.report_ready.emit(self.alarms.report(hours))
        except Exception as exc:
            log.exception("alarm report failed")
            self.report_ready.emit({"error": str(exc)})


class Pipeline(QObject):
    """Owns the worker threads. Connect to the signals, then :meth:`start`; :meth:`stop` on
    close."""

    snapshot_ready = Signal(object)  # LiveSnapshot
    alarms_ready = Signal(object)  # AlarmView
    events_ready = Signal(object)  # tuple[LogEntry]: SOE, alarm transitions, user actions
    alarm_action_done = Signal(object)  # ActionResult
    alarm_report_ready = Signal(object)  # dict (app.alarms.report)
    _action_requested = Signal(object)
    _report_requested = Signal(float)

    def __init__(self, station: Station, points: PointTable, source: FrameSource,
                 sink: FrameSink | None = None, *, rules: RuleSet | None = None,
                 audit: AuditSink | None = None,
                 clock: Callable[[], dt.datetime] = wallclock.now,
                 circuit_path: Path | None = None) -> None:
        """``rules``: the alarm rules (default: the station's rule file and limits, with no
        configuration store); ``audit``: where operators' alarm actions are recorded;
        ``clock``: the time of those actions; ``circuit_path``: the circuit the
        solver compiles (the active DSS version; default the station's own)."""
        super().__init__()
        self.station, self.points = station, points
        self.stats = PipelineStats()
        self.rules = rules if rules is not None else rules_for_station(station, points)
        self._poller = _PollerWorker(source, self.stats)
        self._solver = _SolverWorker(station, points, self._poller, self.stats, sink,
                                     self.rules, audit, clock, circuit_path)
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
        self._action_requested.connect(self._solver.on_action)
        self._report_requested.connect(self._solver.on_report)
        self.last_snapshot: LiveSnapshot | None = None
        self.snapshot_ready.connect(self._remember)
        self._started = False
        self.source = source
        # Each switch's two circuit buses, for station interlocking (read from the solver's
        # engine now, before its thread owns it).
        from app.twin.topology import switch_ends

        self.switch_ends = switch_ends(self._solver.solver.engine, station)
        #: The circuit the twin solves (the active DSS version): studies compile it too.
        self.circuit_path = self._solver.solver.engine.circuit_path

    # ------------------------------------------------------------------ for the control side
    def latest(self) -> tuple[ScanFrame | None, Callable[[str], bool]]:
        """The newest scan and an ``is_live(bus)`` from the newest solved twin (any thread).
        With no twin yet every bus counts as live (the safe assumption for earthing)."""
        frame, twin = self._poller.latest_frame, self._solver.latest_twin

        def is_live(bus: str) -> bool:
            if twin is None:
                return True
            try:
                return bool(twin.bus(bus).energised)
            except (KeyError, ValueError):
                return True

        return frame, is_live

    def submit(self, coro) -> concurrent.futures.Future:  # noqa: ANN001
        """Run a coroutine on the poller thread's asyncio loop (the protocol write path)."""
        return self._poller.submit(coro)

    @property
    def sink(self) -> FrameSink | None:
        """The historian the pipeline writes to (None when not recording)."""
        return self._solver.sink

    def _remember(self, snap: LiveSnapshot) -> None:
        self.last_snapshot = snap

    # ------------------------------------------------------------------ alarms
    def note_command(self, asset_id: str, close: bool, when: dt.datetime) -> None:
        """Thread-safe (the control service calls it from its own thread): an operator's
        open or close command is under way, so the movement is not annunciated as a trip."""
        self._solver.alarms.note_command(asset_id, close, when)

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
        """Stop every thread cleanly; True when all stopped within the timeout."""
        if not self._started:
            # Never run: its source may still hold protocol-client processes.
            close = getattr(self._poller.source, "close", None)
            if close is not None:
                close()
            return True
        self._poller.request_stop()
        ok = self._poller_thread.wait(timeout_ms)
        ok = stop_thread(self._solver_thread, timeout_ms) and ok
        self._started = False
        if not ok:
            log.error("a worker thread did not stop within %d ms", timeout_ms)
        return ok


# ---------------------------------------------------------------------- in-process source
class PlantFrameSource:
    """Frames straight from an in-process plant simulator (the trainer's offline mode and
    tests). The plant steps on this loop every tick; no protocol in between."""

    def __init__(self, plant, period_s: float | None = None) -> None:  # noqa: ANN001
        self.plant = plant
        self.period_s = period_s or plant.tick_s
        self._seq = 0

    async def run(self, emit: Callable[[ScanFrame], None], stop: asyncio.Event) -> None:
        from app.station import quality as Q
        from app.station.frame import CommState

        next_t = time.monotonic()
        while not stop.is_set():
            snap = self.plant.step(self.period_s)
            self._seq += 1
            q = snap.quality
            comm = {}
            now = wallclock.now()
            if snap.comm_lost:
                q = q.copy()
                for d in snap.comm_lost:
                    q[self.plant.points.device(d).points] = Q.COMM_LOST
            for d in self.plant.points.devices:
                lost = d.id in snap.comm_lost
                comm[d.id] = CommState(d.id, "sim", Comm.LOST if lost else Comm.OK, now,
                                       "not answering" if lost else "")
            q = np.asarray(q)
            q.setflags(write=False)
            emit(ScanFrame(self._seq, now, self.plant.points, snap.values, q,
                           snap.t_source_ns, comm))
            next_t += self.period_s
            try:
                await asyncio.wait_for(stop.wait(), max(0.0, next_t - time.monotonic()))
            except TimeoutError:
                pass


