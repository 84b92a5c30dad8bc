"""One scan, Qt-free: the twin, the sequence of events, the alarms and the historian.

:class:`ScanProcessor` is what the solver thread does with each :class:`ScanFrame` the poller
produces — whichever driver runs it (the HMI's Qt pipeline, ``gridtwin record``'s plain loop,
a benchmark, a test)::

    frame ──► SolverService.solve()            → LiveSnapshot (twin state, residuals)
          ──► ChangeDetector.changes()          → SOE rows
          ──► AlarmService.evaluate(frame, dead sections of the twin)
                                                → transitions, their event rows, AlarmView
          ──► sink.submit(frame), sink.submit_events(rows)   (the historian's writer thread,
                                                 any app.historian.api.HistorianWriter)

A frame older than one already waiting behind it (``stale=True``) is not solved — the twin
always works on the newest scan — but its events and alarms are, so nothing the field
reported is lost. Every step is guarded: a failing solve, alarm evaluation or historian is
one log line, and the next scan is tried afresh. Operators' alarm actions and the
performance report run through :meth:`perform` and :meth:`report` on the same thread, so one
thread changes the alarm engine.

A source that can go back in time (the trainer's drill, :mod:`app.runtime.drill`) names, per
frame, marks (:data:`Mark`) through :attr:`ScanProcessor.marks`: keep a checkpoint of the
alarm state and the SOE's previous scan, or go back to one — so after an instructor's
backtrack the trainee's alarm list is the one of the snapshot's instant, not the undone
minutes'.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.alarms.changes import ChangeDetector
from app.alarms.engine import AlarmEngine, AlarmView, Transition
from app.alarms.log import LogEntry
from app.alarms.rules import RuleSet, rules_for_station
from app.control.service import AuditSink
from app.historian.api import EventRow, HistorianWriter
from app.runtime.alarm_service import ActionResult, AlarmAction, AlarmService
from app.runtime.snapshot import LiveSnapshot
from app.runtime.solver import SolverService
from app.station import Station
from app.station import clock as wallclock
from app.station.frame import ScanFrame
from app.station.points import PointTable
from app.twin.state import TwinState

log = logging.getLogger(__name__)


@dataclass
class PipelineStats:
    """Counters of a running scan pipeline (read from any thread; plain attribute writes)."""

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


@dataclass(frozen=True, slots=True)
class ScanOutput:
    """What one scan (or one operator action) produced for the screens."""

    snapshot: LiveSnapshot | None = None
    """None when the frame was stale or the solve failed."""
    alarms: AlarmView | None = None
    """None when the alarm list did not change."""
    events: tuple[LogEntry, ...] = ()
    rewound_to: dt.datetime | None = None
    """Set when this scan went back in time (a drill's backtrack): the instant the alarm
    state now is of; the screens drop what they show from after it."""


Mark = tuple[Any, ...]
"""What a frame source asks of the processor before a frame: ``("checkpoint", key)`` — keep
the state as it is (the last scan processed) under ``key``; ``("rewind", key, time)`` — go back
to checkpoint ``key``, or to a fresh start at ``time`` when there is none (a snapshot loaded
from a file)."""


@dataclass(frozen=True, slots=True)
class _Checkpoint:
    engine: AlarmEngine
    changes: ChangeDetector
    time: dt.datetime | None
    """The last scan's time when it was kept (None: before the first scan)."""


class ScanProcessor:
    def __init__(self, station: Station, points: PointTable, *, sink: HistorianWriter | None = None,
                 rules: RuleSet | None = None, audit: AuditSink | None = None,
                 clock: Callable[[], dt.datetime] = wallclock.now,
                 circuit_path: Path | None = None, stats: PipelineStats | None = None) -> None:
        """``rules``: the alarm rules (default: the station's rule file and limits, no
        configuration store); ``audit``: where operators' alarm actions are recorded;
        ``clock``: the time of those actions; ``circuit_path``: the circuit the twin compiles
        (the active DSS version; default the station's own). Built on the constructing
        thread, so a bad circuit fails start-up visibly."""
        self.station, self.points = station, points
        self.sink = sink
        self.stats = stats or PipelineStats()
        self.rules = rules if rules is not None else rules_for_station(station, points)
        self.solver = SolverService(station, points, circuit_path=circuit_path)
        self.alarms = AlarmService(self._new_alarm_engine(), audit=audit, clock=clock)
        self.changes = ChangeDetector(points)
        self.marks: Callable[[int], Sequence[Mark]] | None = None
        """``marks(seq)``: the checkpoints and rewinds due before frame ``seq`` (None: a
        source that never goes back in time)."""
        self._checkpoints: dict[Any, _Checkpoint] = {}
        self._last_time: dt.datetime | None = None
        self._dead: np.ndarray | None = None
        self.latest_twin: TwinState | None = None
        """The newest solved state, for any thread (one reference swap)."""
        from app.twin.topology import switch_ends

        #: Each switch's two circuit buses, for station interlocking (read now, before the
        #: solver's thread owns the engine).
        self.switch_ends = switch_ends(self.solver.engine, station)
        #: The circuit the twin solves (the active DSS version): studies compile it too.
        self.circuit_path = self.solver.engine.circuit_path

    def _new_alarm_engine(self) -> AlarmEngine:
        cfg = self.rules.settings
        return AlarmEngine(self.points, self.rules.rules,
                           asset_types={a.id: a.type for a in self.station.assets},
                           aliases=self.rules.aliases, nominal=self.rules.nominal,
                           indication_priority=cfg.indication_priority,
                           chatter_shelve=dt.timedelta(minutes=cfg.chatter_shelve_min)
                           if cfg.chatter_shelve_min > 0 else None)

    # ------------------------------------------------------------------ going back in time
    def checkpoint(self, key: object) -> None:
        """Keep the alarm state and the SOE's previous scan as they are (the last scan
        processed) under ``key``, to come back to with :meth:`rewind`."""
        memo = {id(self.points): self.points, id(self.rules): self.rules}
        self._checkpoints[key] = _Checkpoint(copy.deepcopy(self.alarms.engine, memo),
                                             copy.copy(self.changes), self._last_time)

    def rewind(self, key: object, when: dt.datetime) -> dt.datetime:
        """Back to checkpoint ``key`` — or, with none, to a fresh start (no alarm, no previous
        scan) at ``when``; the checkpoints kept after it are dropped. Returns the instant the
        state is now of. Operators' commands still queued are dropped with the future they
        were in."""
        cp = self._checkpoints.get(key)
        if cp is None:
            engine, changes, t = self._new_alarm_engine(), ChangeDetector(self.points), when
        else:  # a copy: the same checkpoint may be gone back to again
            memo = {id(self.points): self.points, id(self.rules): self.rules}
            engine, changes = copy.deepcopy(cp.engine, memo), copy.copy(cp.changes)
            t = cp.time or when
        self.alarms.replace_engine(engine)
        self.changes = changes
        self._last_time = t
        self._checkpoints = {k: c for k, c in self._checkpoints.items()
                             if c.time is None or c.time <= t}
        engine.invalidate_view()
        log.info("alarm state back to %s (%s)", t.isoformat(timespec="seconds"),
                 "a checkpoint" if cp is not None else "a fresh start: no checkpoint of it")
        return t

    def _apply_marks(self, seq: int) -> dt.datetime | None:
        rewound = None
        for mark in self.marks(seq) if self.marks is not None else ():
            if mark[0] == "checkpoint":
                self.checkpoint(mark[1])
            elif mark[0] == "rewind":
                rewound = self.rewind(mark[1], mark[2])
            else:
                log.error("unknown mark %r before scan %d: ignored", mark[0], seq)
        return rewound

    # ------------------------------------------------------------------ scans
    def process(self, frame: ScanFrame, *, stale: bool = False,
                on_snapshot: Callable[[LiveSnapshot], None] | None = None) -> ScanOutput:
        """One scan. ``on_snapshot`` receives the solved snapshot at once, before the alarms
        and the historian (the screens' latency does not wait for them)."""
        rewound = None
        try:
            rewound = self._apply_marks(frame.seq)
        except Exception:
            log.exception("checkpoint or rewind before scan %d failed", frame.seq)
        snap = None
        if stale:
            self.stats.skipped += 1
        else:
            try:
                t0 = time.perf_counter()
                snap = self.solver.solve(frame)
                self.stats.solve_ms.append((time.perf_counter() - t0) * 1000)
                self.stats.solved += 1
                self.latest_twin = snap.twin
                if on_snapshot is not None:
                    on_snapshot(snap)
                self._dead = self.solver.dead_points(snap.twin)
            except Exception:
                log.exception("solver failed on scan %d; the next scan is tried afresh",
                              frame.seq)
        rows: list[EventRow] = []
        transitions: list[Transition] = []
        try:
            rows = [e.row() for e in self.changes.changes(frame)]
        except Exception:
            log.exception("sequence of events failed on scan %d", frame.seq)
        try:
            transitions, alarm_rows = self.alarms.evaluate(frame, self._dead)
            rows += alarm_rows
        except Exception:
            log.exception("alarm evaluation failed on scan %d", frame.seq)
        if self.sink is not None:
            try:
                self.sink.submit(frame)
            except Exception:
                log.exception("the historian refused scan %d", frame.seq)
        self._last_time = frame.t_acquired
        view, entries = self._publish(rows, frame.t_acquired, transitions)
        return ScanOutput(snap, view, entries, rewound)

    def _publish(self, rows: list[EventRow], now: dt.datetime, transitions: list[Transition]
                 ) -> tuple[AlarmView | None, tuple[LogEntry, ...]]:
        entries: tuple[LogEntry, ...] = ()
        if rows:
            if self.sink is not None:
                try:
                    self.sink.submit_events(rows)
                except Exception:
                    log.exception("events refused by the historian")
            entries = tuple(LogEntry.from_row(r) for r in rows)
        return self.alarms.view(now, transitions), entries

    # ------------------------------------------------------------------ operators
    def note_command(self, asset_id: str, close: bool, when: dt.datetime) -> None:
        """Any thread: an operator's command is under way, so the movement that follows is
        not annunciated as a trip."""
        self.alarms.note_command(asset_id, close, when)

    def perform(self, req: AlarmAction) -> tuple[ActionResult, ScanOutput]:
        try:
            result, transitions, rows = self.alarms.perform(req)
        except Exception as exc:
            log.exception("alarm action %s failed", req.action)
            result, transitions, rows = ActionResult(req.action, False, str(exc), ""), [], []
        view, entries = self._publish(rows, self.alarms.clock(), transitions)
        return result, ScanOutput(None, view, entries)

    def report(self, hours: float) -> dict:
        try:
            return self.alarms.report(hours)
        except Exception as exc:
            log.exception("alarm report failed")
            return {"error": str(exc)}
