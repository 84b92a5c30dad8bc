"""The trainer's drill as a frame source: the HMI's scans from a :class:`DrillEngine`.

``gridtwin drill`` runs the same HMI as ``gridtwin run`` (:func:`app.runtime.compose.compose`
with ``FieldSpec(source=DrillFrameSource(engine))``, then :func:`app.ui.app.assemble`); only
the source of its scans and the write path of its commands differ::

    poller thread (asyncio)                       control thread             GUI thread
    DrillFrameSource.scan_once():                 ControlService (roles,     instructor:
      instructor commands queued → run here       interlocks, SBO) wrapped   call(fn) → Future
      engine.advance_wall(wall s since last)      in ScoredControl ───┐      (freeze, speed,
      engine's newest frame, renumbered ─► emit   DrillCommander ─────┤      inject, snapshot,
                                                  (plant select /     │      backtrack, finish)
                                                   operate, locked)   └─► engine.trainee_did
                                                                           (judged, scored)

* Every access to the engine holds :attr:`DrillFrameSource.lock`; the instructor's commands
  (from the GUI thread) never run there: :meth:`DrillFrameSource.call` queues them and the
  poller thread runs them before its next step (a backtrack replays the scenario: seconds, on
  the poller thread, while the drill stands still). A backtrack swaps the engine inside the
  source; frames keep their own increasing sequence numbers across the swap.
* The trainee's commands go through the HMI's own control service (its roles, station
  interlocks and select-before-operate, audited in the drill's store), then to the engine's
  plant as its bay IEDs would take them (:class:`DrillCommander`); :class:`ScoredControl`
  reports each select refused and each operate's outcome to the engine, which judges and
  scores it as it does a scripted action (:meth:`DrillEngine.trainee_did
  <app.training.drill.DrillEngine.trainee_did>`).
* Going back in time reaches the trainee's screens too: each snapshot the engine takes is a
  checkpoint of the HMI's alarm state (and the SOE's previous scan) kept by the scan
  processor, and a backtrack puts that state back (:data:`app.runtime.scan.Mark`, handed over
  per frame by :meth:`DrillFrameSource.take_marks`): the alarm list, banner and markers are
  the snapshot instant's, the event log drops what the undone minutes logged.
* The frames carry the drill's simulated time (the scenario's day and time of day); the HMI's
  scan processor is given :meth:`DrillFrameSource.now` as its clock.

Qt-free; the HMI and instructor windows are :mod:`app.ui.drill`.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from app.control.service import SELECT_TIMEOUT_S, CommandRefused, Outcome, Selection
from app.control.users import AuthError, Session
from app.field.periodic import run_every
from app.runtime.commander import Submit
from app.station.commands import ControlResult
from app.station.frame import ScanFrame
from app.training.drill import DrillEngine, DrillResult, Snapshot, SoeEntry
from app.training.scenario import TraineeAction
from app.training.scoring import ActionVerdict

if TYPE_CHECKING:
    import asyncio

    from app.control.service import ControlService
    from app.station.points import PointTable

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The speeds the instructor may choose (DrillEngine.set_speed takes 0.5–20).
SPEEDS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0)


@dataclass(frozen=True, slots=True)
class DrillStatus:
    """What the instructor station shows, as of one scan (immutable)."""

    scenario_id: str
    title: str
    t_s: float
    duration_s: float
    time: dt.datetime
    speed: float
    frozen: bool
    ended: bool
    finished: bool
    snapshots: tuple[Snapshot, ...]
    actions: tuple[ActionVerdict, ...]
    expectations: tuple[dict[str, Any], ...]
    score: float
    soe: tuple[SoeEntry, ...]
    records: tuple[tuple[str, str, str], ...]
    """(bus, fault type, .cfg path) of each fault's disturbance record."""
    active: tuple[tuple[str, str, str], ...]
    """(id, kind, parameters) of each plant injection in force (scenario's or instructor's)."""
    generation: int
    """Incremented by each backtrack (a new engine)."""

    @property
    def progress(self) -> float:
        return min(1.0, self.t_s / self.duration_s) if self.duration_s > 0 else 1.0

    @property
    def state(self) -> str:
        if self.finished:
            return "FINISHED"
        if self.ended:
            return "ENDED"
        return "FROZEN" if self.frozen else "RUNNING"


def _with_deadline(x: dict[str, Any], fired: dict[str, float]) -> dict[str, Any]:
    """An expectation's row with ``deadline_s``: when its time limit runs out (counted from
    its event, or from the start), None while that event has not happened."""
    after = x.get("after")
    start = fired.get(after) if after else 0.0
    return {**x, "deadline_s": None if start is None else start + float(x["within_s"])}


class DrillFrameSource:
    """Frames from a drill engine advanced by the wall time between scans (see the module's
    text). ``wall`` is the monotonic clock the steps are measured with; a step is at most
    ``max_step_s`` of wall time (a stalled poller does not make the drill jump)."""

    def __init__(self, engine: DrillEngine, *, period_s: float = 0.1,
                 wall: Callable[[], float] = time.monotonic, max_step_s: float = 1.0) -> None:
        self._engine = engine
        self.period_s = period_s
        self.wall = wall
        self.max_step_s = max_step_s
        self.lock = threading.RLock()
        self._commands: queue.SimpleQueue[tuple[Callable[[DrillEngine], Any],
                                                concurrent.futures.Future]] = queue.SimpleQueue()
        self._seq = 0
        self._last_wall: float | None = None
        self._generation = 0
        self._closed = False
        self.finished: DrillResult | None = None
        self.wall_s = 0.0
        """Wall seconds the drill has run (not frozen), for the result's speed figure."""
        self.status: DrillStatus = self._status()
        # The scan processor's checkpoints and rewinds (app.runtime.scan.Mark), each due
        # before the frame of its sequence number; snapshots are keyed by id, kept alive here.
        self._marks_lock = threading.Lock()
        self._marks: list[tuple[int, tuple[Any, ...]]] = []
        self._pending: list[tuple[Any, ...]] = []
        self._snaps: dict[int, Snapshot] = {}

    # ------------------------------------------------------------------ the engine
    @property
    def engine(self) -> DrillEngine:
        """The current engine (a backtrack replaces it): hold :attr:`lock` while using it."""
        return self._engine

    @property
    def points(self) -> PointTable:
        return self._engine.points

    def now(self) -> dt.datetime:
        """The drill's clock: the simulated time as of the newest scan (any thread; never
        waits for the lock, which a backtrack holds for seconds — the GUI's clock reads it)."""
        return self.status.time

    @property
    def t_s(self) -> float:
        """The engine's simulated seconds now (a plain read: any thread)."""
        return self._engine.t_s

    def call(self, fn: Callable[[DrillEngine], T]) -> concurrent.futures.Future[T]:
        """Run ``fn(engine)`` on the poller thread before its next step (any thread); its
        result or exception comes back in the future."""
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()
        if self._closed:
            fut.set_exception(RuntimeError("the drill is closed"))
            return fut
        self._commands.put((fn, fut))
        return fut

    def drain(self) -> int:
        """Run the queued instructor commands (the poller thread does, each scan)."""
        n = 0
        while True:
            try:
                fn, fut = self._commands.get_nowait()
            except queue.Empty:
                return n
            n += 1
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                with self.lock:
                    out = fn(self._engine)
                    self._note_snapshots()
            except Exception as exc:  # the instructor sees why (a refused malfunction …)
                log.warning("drill: instructor command refused: %s", exc)
                fut.set_exception(exc)
            else:
                fut.set_result(out)
        return n

    # ------------------------------------------------------------------ the scan
    def step(self, wall_s: float) -> ScanFrame:
        """The instructor's commands, then ``wall_s`` of wall time on the engine, and its
        newest frame with this source's sequence number."""
        self.drain()
        with self.lock:
            eng = self._engine
            if not eng.frozen and self.finished is None:
                eng.advance_wall(wall_s)
                if eng.t_s < eng.scenario.duration_s:
                    self.wall_s += wall_s
            self._note_snapshots()
            frame = eng.frame
            self._seq += 1
            frame = dataclasses.replace(frame, seq=self._seq)
            if self._pending:
                with self._marks_lock:
                    self._marks += [(self._seq, m) for m in self._pending]
                self._pending = []
            self.status = self._status()
        return frame

    def _note_snapshots(self) -> None:
        """A checkpoint of the HMI for each snapshot the engine took since the last call. Due
        before the next frame, it keeps the state of the last frame processed — at or just
        before the snapshot's instant, so going back to it re-detects rather than loses what
        happened in between."""
        for snap in self._engine.snapshots:
            if id(snap) not in self._snaps:
                self._snaps[id(snap)] = snap
                self._pending.append(("checkpoint", id(snap)))

    def take_marks(self, seq: int) -> list[tuple[Any, ...]]:
        """The scan processor's hook (its thread): the checkpoints and rewinds due before
        frame ``seq``, in the order they happened (those of a frame it never saw included)."""
        with self._marks_lock:
            due = [m for s, m in self._marks if s <= seq]
            self._marks = [(s, m) for s, m in self._marks if s > seq]
        return due

    async def scan_once(self) -> ScanFrame:
        now = self.wall()
        last, self._last_wall = self._last_wall, now
        wall_s = self.period_s if last is None else min(self.max_step_s, max(0.0, now - last))
        return self.step(wall_s)

    async def run(self, emit: Callable[[ScanFrame], None], stop: asyncio.Event) -> None:
        await run_every(self.period_s, self.scan_once, emit, stop)

    def close(self) -> None:
        """Refuse what is still queued (nobody will run it)."""
        self._closed = True
        while True:
            try:
                _fn, fut = self._commands.get_nowait()
            except queue.Empty:
                return
            if fut.set_running_or_notify_cancel():
                fut.set_exception(RuntimeError("the drill is closed"))

    def commander(self, submit: Submit, *, select_timeout_s: float = SELECT_TIMEOUT_S
                  ) -> DrillCommander:
        return DrillCommander(self)

    def _status(self) -> DrillStatus:
        e = self._engine
        sc = e.scenario
        score = e.scorer.result(e._fired)
        return DrillStatus(
            sc.id, sc.title, e.t_s, sc.duration_s, e.now(), e.speed, e.frozen,
            e.t_s >= sc.duration_s - 1e-9, self.finished is not None, tuple(e.snapshots),
            tuple(e.scorer.actions), tuple(_with_deadline(x.as_dict(), e._fired)
                                           for x in score.expectations),
            score.score, tuple(e.soe),
            tuple((r.bus, r.fault_type, str(r.cfg)) for r in e.records),
            tuple((i.id, i.kind, ", ".join(f"{k}={v}" for k, v in i.params.items()))
                  for i in e.plant.injections.values()), self._generation)

    # ------------------------------------------------------------------ the instructor
    def backtrack(self, snap: Snapshot) -> concurrent.futures.Future[DrillEngine]:
        """Back to ``snap``: a new engine replayed to it replaces this one (on the poller
        thread)."""
        def go(e: DrillEngine) -> DrillEngine:
            new = e.backtrack(snap)
            if e.frozen:  # still frozen: the instructor briefs the trainee, then resumes
                new.frozen = True
            self._engine = new
            # The trainee's alarms and event log back to the snapshot's instant too.
            self._snaps.setdefault(id(snap), snap)
            self._pending.append(("rewind", id(snap), new.now()))
            self._generation += 1
            self.finished = None
            self.status = self._status()
            log.info("drill: back to snapshot '%s' at %.1f s", snap.label, snap.t_s)
            return new

        return self.call(go)

    def finish(self, root: str | Path, *, tz: str = "Asia/Kolkata"
               ) -> concurrent.futures.Future[DrillResult]:
        """End the drill: freeze it, score it, write the debrief (HTML and PDF) into the
        drill's folder and add the result to the trainee's results under ``root``."""
        from app.training.debrief import store_result, write_report

        def go(e: DrillEngine) -> DrillResult:
            if not e.frozen:
                e.freeze()
            result = e.result(max(self.wall_s, 1e-3))  # (finite: results.jsonl is JSON)
            write_report(result, e.out_dir, tz=tz)
            store_result(result, root)
            self.finished = result
            self.status = self._status()
            log.info("drill %s finished: score %.1f, report %s", e.scenario.id,
                     result.score.score, result.report.get("html"))
            return result

        return self.call(go)

    # ------------------------------------------------------------------ the trainee
    def unsafe_reason(self, action: TraineeAction) -> str:
        with self.lock:
            e = self._engine
            return e.scorer.unsafe_reason(action, e.is_live, e.interlocking)

    def judge(self, action: TraineeAction, ok: bool, message: str,
              unsafe: str | None = None) -> ActionVerdict:
        with self.lock:
            return self._engine.trainee_did(action, ok, message, unsafe)


class DrillCommander:
    """The drill HMI's write path: the engine's plant, as its bay IEDs take a command (the
    :class:`~app.station.commands.Commander` contract), under the source's lock; the engine's
    own alarm engine is told an operator command is under way (its debrief's alarms)."""

    def __init__(self, source: DrillFrameSource) -> None:
        self.source = source

    def path(self, asset_id: str) -> str | None:
        return "plant"

    def select(self, asset_id: str, close: bool) -> ControlResult:
        with self.source.lock:
            return self.source.engine.plant.select(asset_id, close)

    def operate(self, asset_id: str, close: bool) -> ControlResult:
        with self.source.lock:
            e = self.source.engine
            e.alarm_engine.note_command(asset_id, close, e.now())
            return e.plant.operate(asset_id, close, origin="hmi")

    def cancel(self, asset_id: str) -> None:
        pass

    def termination(self, asset_id: str) -> ControlResult | None:
        return None


class ScoredControl:
    """The HMI's control service with every trainee command judged by the drill (and its
    command notes to the alarm engine on the drill's clock): a select refused (an interlock, the bay device, a bypass without the rights) is a refused action;
    an operate is judged on its outcome, at the simulated time it was given. A cancelled
    selection is not an action. Everything else is the wrapped service's."""

    def __init__(self, service: ControlService, source: DrillFrameSource) -> None:
        self._service = service
        self._source = source
        self._unsafe: dict[int, str] = {}
        self._lock = threading.Lock()
        # The HMI's alarm engine is told of a command at the drill's time, as its frames
        # carry simulated time (at the wall clock's time an operator's open would be taken
        # for a trip whenever the drill's day and hour are ahead of the wall clock). The
        # service's own clock stays the wall clock: a selection expires in real seconds.
        hook = service.on_command
        if hook is not None:
            service.on_command = lambda asset, close, _when: hook(asset, close, source.now())

    def __getattr__(self, name: str) -> object:
        return getattr(self._service, name)

    @staticmethod
    def _action(t_s: float, asset_id: str, close: bool, bypass: str | None) -> TraineeAction:
        return TraineeAction(t_s, "close" if close else "open", asset_id, bypass or None)

    def select(self, session: Session | None, asset_id: str, close: bool, *,
               bypass_reason: str | None = None) -> Selection:
        a = self._action(self._source.t_s, asset_id, close, bypass_reason)
        unsafe = self._source.unsafe_reason(a)
        try:
            sel = self._service.select(session, asset_id, close, bypass_reason=bypass_reason)
        except AuthError as exc:
            if bypass_reason is not None:  # a bypass asked for without the rights: unsafe
                self._source.judge(a, False, str(exc), unsafe)
            raise
        except (CommandRefused, ValueError) as exc:
            self._source.judge(a, False, str(exc), unsafe)
            raise
        with self._lock:
            self._unsafe[sel.token] = unsafe
        return sel

    def operate(self, session: Session | None, sel: Selection) -> Outcome:
        with self._lock:
            unsafe = self._unsafe.pop(sel.token, None)
        a = self._action(self._source.t_s, sel.asset_id, sel.close, sel.bypass_reason)
        try:
            out = self._service.operate(session, sel)
        except (CommandRefused, ValueError) as exc:
            self._source.judge(a, False, str(exc), unsafe)
            raise
        self._source.judge(a, out.ok, out.message, unsafe)
        return out

    def cancel(self, session: Session | None, sel: Selection) -> None:
        with self._lock:
            self._unsafe.pop(sel.token, None)
        self._service.cancel(session, sel)
