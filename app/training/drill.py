"""The headless drill: a scenario played on the in-process plant simulator, on simulated time.

:class:`DrillEngine` puts together, without Qt and without a network:

* the plant simulator (:class:`~app.field.sim.plant.PlantSimulator`) started at the
  scenario's time of day, load level and switching, stepped on **simulated** time — as fast
  as the machine goes, or paced to a speed factor;
* a scan every ``scan_s`` (simulated): the frame the operator's HMI would get (values,
  quality, comm state), the ISA-18.2 alarm engine on it, the scenario's conditions;
* the scenario's timeline: injections, faults, clears, relay resets, messages — timed, or
  fired when a value crosses a limit, another event fired or the trainee did something;
* protection on a fault (:mod:`app.training.protection`): the relays' sequence played on the
  plant's own engine, each event applied through the plant's field path at its microsecond
  time — relay flags latched in the station's points, breakers opening (and reclosing)
  when the sequence says — every event in the sequence of events with ms timestamps, and
  the faulted bay's COMTRADE record (:func:`app.training.records.fault_records_for`);
* the trainee's actions from a script, each through the same select-before-operate
  :class:`~app.control.service.ControlService` the HMI uses (roles, station interlocks, the
  bay IED's own select), its outcome confirmed by a later scan while simulated time runs on;
* scoring (:mod:`app.training.scoring`);
* optionally, the bay IEDs' protection GOOSE (:mod:`app.training.drill_goose`): trips and
  breaker-failure initiation published on an Ethernet interface as the events happen, the
  subscriber's messages in the sequence of events (source ``GOOSE``).

Nothing is written to the live station's historian or configuration store: a drill's
records, result and report go to its own folder. Times inside are timezone-aware UTC; the
caller gives the day the drill is set on (nothing here reads the wall clock).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import itertools
import logging
import secrets
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from app.alarms.engine import AlarmEngine, Transition
from app.alarms.rules import rules_for_station
from app.control.audit import MemoryAudit
from app.control.interlocks import Interlocking
from app.control.service import CommandRefused, ControlService
from app.control.users import Accounts, AuthError, MemoryUsers, Session, User, hash_password
from app.field.sim.plant import PlantSimulator
from app.station import Station
from app.station import quality as Q
from app.station.commands import ControlResult
from app.station.frame import Comm, CommState, ScanFrame
from app.station.points import POS_CLOSED, POS_OPEN
from app.training.protection import ProtectionEvent, ProtectionSettings, load_protection
from app.training.records import FaultRecord, fault_records_for
from app.training.scenario import (
    ActionScript,
    Scenario,
    ScenarioEvent,
    ScenarioFileError,
    TraineeAction,
)
from app.training.scoring import ActionVerdict, Score, Scorer
from app.twin.topology import switch_ends

if TYPE_CHECKING:
    from app.training.drill_goose import DrillGoose

log = logging.getLogger(__name__)

#: Order of work items falling at the same simulated instant.
_PROTECTION, _EVENT, _ACTION, _SCAN = range(4)
#: Protection events that latch a relay's flags in the station's points.
_TRIPS = ("trip", "retrip", "bf_backup_trip", "transfer_trip")
#: The instructor's malfunction that is a fault played through the protection (not one of
#: the plant's injection kinds): :meth:`DrillEngine.inject` ``("fault", bus=…, type=…)``.
FAULT_MALFUNCTION = "fault"
#: The instructor clears an injection in force: :meth:`DrillEngine.inject` ``("clear",
#: id=…)`` (kept for a backtrack's replay like any malfunction).
CLEAR_MALFUNCTION = "clear"
#: Points always traced for the debrief's timeline plot (when the station has them).
WATCH = ("B400_M1.V", "B220_M1.V", "B220_M1.HZ")


@dataclass(frozen=True, slots=True)
class SoeEntry:
    """One line of the drill's sequence of events."""

    time: dt.datetime
    t_s: float
    source: str
    kind: str
    text: str

    def as_dict(self) -> dict[str, Any]:
        return {"time": self.time.isoformat(timespec="milliseconds"), "t_s": round(self.t_s, 3),
                "source": self.source, "kind": self.kind, "text": self.text}


@dataclass(frozen=True, slots=True)
class Malfunction:
    """A fault the instructor injects live (any kind of the plant's injections)."""

    kind: str
    params: tuple[tuple[str, object], ...] = ()


#: What a queued work item carries.
Payload = ScenarioEvent | TraineeAction | Malfunction | tuple[ProtectionEvent, float]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A point of the drill to go back to: its time and everything done live before it (the
    drill is deterministic, so replaying the scenario with these reaches the same state)."""

    t_s: float
    label: str
    live: tuple[tuple[float, TraineeAction | Malfunction], ...]


@dataclass(slots=True)
class DrillResult:
    scenario: Scenario
    trainee: str
    start: dt.datetime
    out_dir: Path
    score: Score
    soe: list[SoeEntry]
    alarms: list[dict[str, Any]]
    records: list[FaultRecord]
    fired: list[tuple[float, str]]
    trace_t_s: np.ndarray
    traces: dict[str, np.ndarray]
    wall_s: float
    sim_s: float
    report: dict[str, str] = field(default_factory=dict)
    goose: dict[str, Any] | None = None
    """GOOSE messages published / received (when the drill ran with GOOSE)."""

    @property
    def speed_factor(self) -> float:
        return self.sim_s / self.wall_s if self.wall_s > 0 else float("inf")

    @property
    def actions(self) -> list[ActionVerdict]:
        return self.score.actions

    def as_dict(self) -> dict[str, Any]:
        sc = self.scenario
        return {
            "scenario": sc.id, "title": sc.title, "trainee": self.trainee,
            "start": self.start.isoformat(), "duration_s": sc.duration_s,
            "score": self.score.score, "points": self.score.points_summary(),
            "actions": [a.as_dict() for a in self.score.actions],
            "expectations": [e.as_dict() for e in self.score.expectations],
            "records": [{"bus": r.bus, "fault_type": r.fault_type, "cfg": str(r.cfg),
                         "dat": str(r.dat), "bay": r.bay, "breaker": r.breaker,
                         "fault_current_ka": round(r.sequence.stages[0].phasors.current_ka, 4),
                         "clearance_ms": (None if r.sequence.clearance_us() is None
                                          else r.sequence.clearance_us() / 1000.0),
                         "sample_rate_hz": r.sample_rate_hz} for r in self.records],
            "events": [{"t_s": round(t, 3), "id": i} for t, i in self.fired],
            "soe": [e.as_dict() for e in self.soe],
            "alarms": self.alarms,
            "report": self.report.get("html"), "report_pdf": self.report.get("pdf"),
            "out_dir": str(self.out_dir),
            "sim_s": round(self.sim_s, 3), "wall_s": round(self.wall_s, 3),
            "speed_factor": round(self.speed_factor, 1),
            **({"goose": self.goose} if self.goose is not None else {}),
        }


class _DrillCommander:
    """The write path to the in-process plant, as its bay IEDs take a command (the
    :class:`~app.station.commands.Commander` contract); tells the engine an operate is under
    way, so the world runs on while the control service waits for the confirming scan."""

    def __init__(self, engine: DrillEngine) -> None:
        self._engine = engine

    def path(self, asset_id: str) -> str | None:
        return "plant"

    def select(self, asset_id: str, close: bool) -> ControlResult:
        return self._engine.plant.select(asset_id, close)

    def operate(self, asset_id: str, close: bool) -> ControlResult:
        r = self._engine.plant.operate(asset_id, close, origin="drill")
        if r.ok:
            self._engine._operating = asset_id
        return r

    def cancel(self, asset_id: str) -> None:
        pass

    def termination(self, asset_id: str) -> ControlResult | None:
        return None


class DrillEngine:
    """One scenario, one trainee, played on simulated time (see the module's text)."""

    def __init__(self, station: Station, scenario: Scenario, *, day: dt.date,
                 out_dir: str | Path, script: ActionScript | None = None,
                 settings: ProtectionSettings | None = None, watch: tuple[str, ...] = (),
                 snapshot_every_s: float | None = None,
                 replay: tuple[tuple[float, TraineeAction | Malfunction], ...] = (),
                 goose: DrillGoose | None = None) -> None:
        self.station = station
        self.day = day
        self.scenario = scenario
        self.script = script or ActionScript()
        self.out_dir = Path(out_dir)
        self.settings = settings or load_protection(station)
        try:
            tz = zoneinfo.ZoneInfo(station.station.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            tz = dt.UTC
        self.start = dt.datetime.combine(day, scenario.initial.time_of_day,
                                         tzinfo=tz).astimezone(dt.UTC)
        self.plant = PlantSimulator(station, tick_s=scenario.scan_s, speed=1.0,
                                    seed=scenario.seed, start=self.start)
        self._check_buses()
        self.plant.loads.level = scenario.initial.load_pct / 100.0
        for asset in scenario.initial.open:
            self.plant.switchgear.switch_now(asset, False)
        for asset in scenario.initial.close:
            self.plant.switchgear.switch_now(asset, True)
        self.plant.step(0.0)
        self.points = self.plant.points
        self._assets = set(self.points.asset)

        rules = rules_for_station(station, self.points)
        self.alarm_engine = AlarmEngine(
            self.points, rules.rules, asset_types={a.id: a.type for a in station.assets},
            aliases=rules.aliases, nominal=rules.nominal)
        self.audit = MemoryAudit()
        self.accounts = Accounts(MemoryUsers(), dt.timedelta(seconds=scenario.duration_s
                                                             + 86400),
                                 audit=self.audit, clock=self.now, source="drill")
        password = secrets.token_urlsafe(18)
        self.accounts.repo.add(User(self.script.trainee, self.script.role,
                                    hash_password(password), created_at=self.start))
        self.session: Session = self.accounts.login(self.script.trainee, password, self.start)
        self.interlocking = Interlocking(station, switch_ends(self.plant.engine, station))
        self.control = ControlService(
            self.interlocking, self.accounts, _DrillCommander(self), self.audit, self.latest,
            confirm_timeout_s=60.0, clock=self.now,
            on_command=self.alarm_engine.note_command)
        self.scorer = Scorer(station, scenario)

        watched = [w.when.tag for w in scenario.events if w.when is not None]
        self.watch = tuple(dict.fromkeys(t for t in (*watched, *watch, *WATCH)
                                         if t in self.points.index))
        self._queue: list[tuple[float, int, int, str, Payload]] = []
        self._order = itertools.count()
        self._t = 0.0
        self._seq = 0
        self._operating: str | None = None
        self._last_scan_t = -1.0
        self._fired: dict[str, float] = {}
        self._injected: dict[str, str] = {}
        self._pending_when = [e for e in scenario.events if e.when is not None]
        self._open_poles: dict[str, set[str]] = {}
        self._last_pos: np.ndarray | None = None
        self.frame: ScanFrame | None = None
        self.soe: list[SoeEntry] = []
        self.alarms: list[dict[str, Any]] = []
        self.records: list[FaultRecord] = []
        self.fired: list[tuple[float, str]] = []
        self._trace_t: list[float] = []
        self._trace: dict[str, list[float]] = {t: [] for t in self.watch}
        self._pos_rows = np.array([i for i, q in enumerate(self.points.quantity)
                                   if q == "position"], dtype=int)

        self.snapshot_every_s = snapshot_every_s
        self._next_auto = snapshot_every_s or 0.0
        self.snapshots: list[Snapshot] = []
        self._live: list[tuple[float, TraineeAction | Malfunction]] = []
        self.frozen = False
        self.speed = 1.0
        for e in scenario.events:
            if e.timed:
                self._push(e.at_s, _EVENT, "event", e)
        for t_s, item in replay:
            self._push(t_s, _ACTION, "action" if isinstance(item, TraineeAction)
                       else "malfunction", item)
        for a in self.script.actions:
            self._push(a.at_s, _ACTION, "action", a)
        self.goose = goose
        if goose is not None:
            goose.bind(station, self.settings, self.start)
        self._scan()

    # ------------------------------------------------------------------ time
    def now(self) -> dt.datetime:
        """The drill's clock: the plant's simulated time."""
        return self.plant.clock

    @property
    def t_s(self) -> float:
        return self._t

    def _push(self, t_s: float, prio: int, kind: str, payload: Payload) -> None:
        heapq.heappush(self._queue, (t_s, prio, next(self._order), kind, payload))

    def _advance(self, t_s: float) -> None:
        if t_s > self._t + 1e-9:
            self.plant.step(t_s - self._t)
            self._t = t_s
            if self.goose is not None:
                self.goose.advance(self._at())

    # ------------------------------------------------------------------ running
    def run(self, *, speed: float | None = None,
            progress: Callable[[float], None] | None = None) -> DrillResult:
        """Play the whole scenario; ``speed`` paces simulated time to that many times the
        wall clock (None: as fast as it goes)."""
        wall0 = time.perf_counter()
        end = self.scenario.duration_s
        scan = self.scenario.scan_s
        next_scan = self._t + scan
        t_from = self._t
        while True:
            nxt = min(next_scan, end)
            self.run_until(nxt)
            if nxt >= end:
                break
            next_scan += scan
            if progress is not None:
                progress(self._t / end)
            if speed is not None:
                ahead = (self._t - t_from) / speed - (time.perf_counter() - wall0)
                if ahead > 0:
                    time.sleep(ahead)
        wall = time.perf_counter() - wall0
        return self.result(wall)

    def run_until(self, t_end: float, *, actions: bool = True) -> None:
        """Everything queued up to ``t_end`` (simulated seconds), then a scan at ``t_end``."""
        deferred = []
        while self._queue and self._queue[0][0] <= t_end + 1e-9:
            item = heapq.heappop(self._queue)
            t_s, _prio, _n, kind, payload = item
            if not actions and kind == "action":
                deferred.append(item)  # an operate is under way: the next action waits
                continue
            self._advance(max(t_s, self._t))
            if kind == "protection":
                self._apply_protection(*payload)
            elif kind == "event":
                self._fire(payload)
            elif kind == "action":
                if self._last_scan_t != self._t:
                    self._scan()  # the trainee acts on the scan of this instant
                self._act(payload)
            elif kind == "malfunction":
                self._malfunction(payload)
        for item in deferred:
            heapq.heappush(self._queue, item)
        self._advance(t_end)
        if self._last_scan_t != self._t:  # (an operate may have scanned past t_end already)
            self._scan()

    def result(self, wall_s: float) -> DrillResult:
        self._goose_drain(wait=True)
        score = self.scorer.result(self._fired)
        return DrillResult(
            scenario=self.scenario, trainee=self.script.trainee, start=self.start,
            out_dir=self.out_dir, score=score, soe=sorted(self.soe, key=lambda e: e.t_s),
            alarms=self.alarms, records=self.records, fired=self.fired,
            trace_t_s=np.asarray(self._trace_t),
            traces={k: np.asarray(v) for k, v in self._trace.items()},
            wall_s=wall_s, sim_s=self._t,
            goose=self.goose.stats() if self.goose is not None else None)

    # ------------------------------------------------------------------ the scan
    def _frame(self) -> ScanFrame:
        snap = self.plant.snapshot()
        now = self.plant.clock
        q = snap.quality
        if snap.comm_lost:
            q = q.copy()
            for d in snap.comm_lost:
                q[self.points.device(d).points] = Q.COMM_LOST
        comm = {d.id: CommState(d.id, "drill", Comm.LOST if d.id in snap.comm_lost else Comm.OK,
                                now, "not answering" if d.id in snap.comm_lost else "")
                for d in self.points.devices}
        q = np.asarray(q)
        q.setflags(write=False)
        self._seq += 1
        return ScanFrame(self._seq, now, self.points, snap.values, q, snap.t_source_ns, comm)

    def _scan(self) -> None:
        every = self.snapshot_every_s
        if every and self._t >= self._next_auto - 1e-9:
            self.snapshot(f"auto {self._t:.0f} s")
            self._next_auto += every
        self._goose_drain()
        frame = self._frame()
        self.frame = frame
        self._last_scan_t = self._t
        for tr in self.alarm_engine.evaluate(frame):
            self._note_alarm(tr)
        self._note_positions(frame)
        for e in list(self._pending_when):
            i = self.points.index[e.when.tag]
            if Q.is_good(int(frame.quality[i])) and e.when.met(float(frame.values[i])):
                self._pending_when.remove(e)
                self._push(self._t + e.at_s, _EVENT, "event", e)
        self._trace_t.append(self._t)
        for tag in self.watch:
            i = self.points.index[tag]
            good = Q.is_good(int(frame.quality[i]))
            self._trace[tag].append(float(frame.values[i]) if good else float("nan"))

    def _note_alarm(self, tr: Transition) -> None:
        if len(self.alarms) >= 5000:
            return
        self.alarms.append({"time": tr.time.isoformat(timespec="milliseconds"),
                            "t_s": round(self._t, 3), "tag": tr.tag, "priority": tr.priority,
                            "state": tr.after.name, "message": tr.message})

    def _note_positions(self, frame: ScanFrame) -> None:
        pos = np.asarray(frame.values)[self._pos_rows]
        if self._last_pos is not None:
            for k in np.flatnonzero(pos != self._last_pos):
                row = int(self._pos_rows[k])
                word = {POS_OPEN: "open", POS_CLOSED: "closed"}.get(int(round(pos[k])),
                                                                  "intermediate")
                self._soe(self.points.asset[row], "position", f"{self.points.asset[row]} {word}")
        self._last_pos = pos.copy()

    def _soe(self, source: str, kind: str, text: str, t_s: float | None = None) -> None:
        t = self._t if t_s is None else t_s
        self.soe.append(SoeEntry(self.start + dt.timedelta(seconds=t), t, source, kind, text))

    # ------------------------------------------------------------------ the scenario
    def _check_buses(self) -> None:
        buses = {b.lower() for b in self.plant.engine.bus_names}
        for e in self.scenario.events:
            if e.kind == "fault" and e.bus not in buses:
                raise ScenarioFileError(self.scenario.path, f"'{e.bus}' is not a bus of the "
                                        "circuit (see gridtwin faults)", line=e.line,
                                        field=f"event '{e.id}'.bus")

    def _fire(self, e: ScenarioEvent) -> None:
        if e.id in self._fired:
            return
        self._fired[e.id] = self._t
        self.fired.append((self._t, e.id))
        try:
            if e.kind == "inject":
                self._injected[e.id] = self.plant.inject(e.fault, **e.params)
                self._soe("scenario", "inject", f"{e.id}: {e.fault} {e.params}")
            elif e.kind == "clear":
                inj = self._injected.pop(e.target, None)
                if inj is not None:
                    self.plant.clear(inj)
                self._soe("scenario", "clear", f"{e.id}: {e.target} cleared")
            elif e.kind == "reset":
                self.plant.reset_protection()
                self._goose_reset()
                self._soe("scenario", "reset", f"{e.id}: relays reset")
            elif e.kind == "message":
                self._soe("scenario", "message", f"{e.id}: {e.text}")
            elif e.kind == "fault":
                self._fault(e)
        except ValueError as exc:
            if isinstance(exc, ScenarioFileError):
                raise
            raise ScenarioFileError(self.scenario.path, f"event '{e.id}' refused by the plant: "
                                    f"{exc}", line=e.line, field=f"event '{e.id}'") from None
        self._after(e.id)

    def _after(self, trigger: str) -> None:
        """Events waiting for ``trigger`` (an event id, or a trainee action's verb)."""
        for w in self.scenario.events:
            if w.after == trigger and w.id not in self._fired:
                self._push(self._t + w.at_s, _EVENT, "event", w)

    def _fault(self, e: ScenarioEvent) -> None:
        for b in e.stuck:
            self._injected[f"{e.id}:{b}"] = self.plant.inject("breaker_stuck", asset=b)
        rec = fault_records_for(self.plant.engine, self.station, (e.bus, e.fault_type),
                                fault_time=self.now(), out_dir=self.out_dir / "records",
                                stuck=e.stuck, permanent=e.permanent, rf_ohm=e.rf_ohm,
                                settings=self.settings)
        self.records.append(rec)
        t0 = self._t
        current_ka = rec.sequence.stages[0].phasors.current_ka
        for pe in rec.sequence.events:
            self._push(t0 + pe.time_us / 1e6, _PROTECTION, "protection", (pe, current_ka))

    def _apply_protection(self, pe: ProtectionEvent, current_ka: float) -> None:
        """One relay event through the plant's field path: flags latched, breakers moved."""
        if self.goose is not None:
            self.goose.on_protection(pe, self._at())
        prot = self.plant.protection
        text = " ".join(x for x in (pe.kind, pe.source, pe.element, pe.breaker and
                                    f"breaker {pe.breaker}", pe.phases and f"phases {pe.phases}",
                                    pe.detail) if x)
        self._soe(pe.source, pe.kind, text)
        if pe.kind in _TRIPS and pe.source in self._assets:
            relay = pe.source
            prot.latch(relay, "operated", 1)
            prot.latch(relay, "disturbance_record_ready", 1)
            prot.latch(relay, "fault_current_ka", current_ka)
            if pe.kind in ("retrip", "bf_backup_trip"):
                prot.latch(relay, "breaker_failure_operated", 1)
            phases = set(pe.phases or "ABC") & set("ABC") or set("ABC")
            for tag in (f"{relay}.TRIP_{p}" for p in sorted(phases)):
                if tag in self.points.index:
                    prot.latched[self.points.index[tag]] = 1.0
            for z in (pe.element or "").split(","):
                if f"{relay}.{z}" in self.points.index and z.startswith("Z"):
                    prot.latched[self.points.index[f"{relay}.{z}"]] = 1.0
        elif pe.kind == "pickup" and pe.source in self._assets:
            prot.latch(pe.source, "pickup", 1)
        elif pe.kind == "breaker_stuck":
            for r in prot.relays_of_bay(self.station.asset(pe.breaker).bay):
                prot.latch(r.id, "breaker_failure_operated", 1)
        elif pe.kind in ("remote_open", "remote_close") and pe.source in self._assets:
            # The far end of a line (the grid behind it): out when all three poles opened.
            if pe.kind == "remote_close" or set(pe.phases or "ABC") >= set("ABC"):
                element = self.station.asset(pe.source).element
                src = self.plant.engine.line_source(element) if element else None
                if src:
                    self.plant.engine.set_source_in_service(src, pe.kind == "remote_close")
        elif pe.kind == "breaker_open" and pe.breaker:
            poles = self._open_poles.setdefault(pe.breaker, set())
            poles |= set(pe.phases or "ABC") & set("ABC") or set("ABC")
            if poles >= set("ABC") and self.plant.switchgear.is_closed(pe.breaker):
                self.plant.switchgear.switch_now(pe.breaker, False)
        elif pe.kind == "breaker_close" and pe.breaker:
            self._open_poles.pop(pe.breaker, None)
            if not self.plant.switchgear.is_closed(pe.breaker):
                self.plant.switchgear.switch_now(pe.breaker, True)

    # ------------------------------------------------------------------ GOOSE (optional)
    def _at(self) -> dt.datetime:
        """The simulated instant, to the microsecond."""
        return self.start + dt.timedelta(seconds=self._t)

    def _goose_reset(self) -> None:
        if self.goose is not None:
            self.goose.reset(self._at())

    def _goose_drain(self, *, wait: bool = False) -> None:
        """The subscriber's new states (from its thread, through its queue) into the SOE."""
        if self.goose is None:
            return
        for msg, text in self.goose.changes(wait=wait):
            self._soe("GOOSE", "goose", text, t_s=(msg.time - self.start).total_seconds())

    # ------------------------------------------------------------------ the trainee
    def latest(self) -> tuple[ScanFrame | None, Callable[[str], bool]]:
        """The control service's view: the newest scan and ``is_live(bus)`` from the plant's
        solved state. While an operate is under way the world runs on, scan by scan, until
        the device has arrived (so the next scan can confirm it)."""
        asset = self._operating
        if asset is not None:
            limit = self._t + 120.0
            while True:
                self.run_until(self._t + self.scenario.scan_s, actions=False)
                if not self.plant.switchgear.is_moving(asset) or self._t >= limit:
                    break
            self._operating = None
        return self.frame, self.is_live

    def is_live(self, bus: str) -> bool:
        e = self.plant.engine
        try:
            return bool(e.energised_buses()[e.bus_index(bus.lower())])
        except (KeyError, ValueError, IndexError):
            return True  # unknown: the safe assumption for earthing

    def _act(self, a: TraineeAction) -> None:
        t0 = self._t
        unsafe = self.scorer.unsafe_reason(a, self.is_live, self.interlocking)
        ok, message = True, ""
        try:
            if a.action == "reset":
                self.plant.reset_protection()
                self._goose_reset()
                message = "relays reset"
            else:
                close = a.action == "close"
                sel = self.control.select(self.session, a.asset, close,
                                          bypass_reason=a.bypass_reason)
                message = self.control.operate(self.session, sel).message
        except (CommandRefused, AuthError, ValueError) as exc:
            ok, message = False, str(exc)
        finally:
            self._operating = None
        verdict = self.scorer.judge(a, t0, ok, message, unsafe, self._fired)
        self._soe(self.script.trainee, "action", f"{a.verb}: {'done' if ok else 'refused'}"
                  f" — {message} [{verdict.verdict}]", t_s=t0)
        log.info("drill action at %.1f s: %s → %s (%s)", t0, a.verb, verdict.verdict, message)
        if ok:
            self._after(a.verb)

    # ------------------------------------------------------------------ the instructor
    def advance_wall(self, wall_s: float) -> float:
        """The instructor's clock: ``wall_s`` of wall time at :attr:`speed` (nothing while
        :attr:`frozen`), scan by scan, never past the scenario's end; the simulated time."""
        if self.frozen or wall_s <= 0:
            return self._t
        target = min(self.scenario.duration_s, self._t + wall_s * self.speed)
        scan = self.scenario.scan_s
        while self._t < target - 1e-9:
            self.run_until(min(target, self._t + scan))
        return self._t

    def set_speed(self, factor: float) -> None:
        """0.5×–20× real time (the instructor station's range)."""
        if not 0.5 <= factor <= 20.0:
            raise ValueError(f"drill speed {factor:g}x outside 0.5x-20x")
        self.speed = float(factor)

    def freeze(self) -> None:
        self.frozen = True
        self._soe("instructor", "freeze", f"frozen at {self._t:.1f} s")

    def resume(self) -> None:
        self.frozen = False
        self._soe("instructor", "resume", f"resumed at {self._t:.1f} s")

    def inject(self, kind: str, **params: object) -> None:
        """A malfunction injected live, now (refused with a ValueError naming the parameter,
        as the plant refuses it)."""
        m = Malfunction(kind, tuple(sorted(params.items())))
        self._malfunction(m)
        self._live.append((self._t, m))

    def trainee_does(self, action: TraineeAction) -> ActionVerdict:
        """A trainee's action taken now (from a window rather than a script), judged."""
        a = dataclasses.replace(action, at_s=self._t)
        self._live.append((self._t, a))
        self._act(a)
        return self.scorer.actions[-1]

    def trainee_did(self, action: TraineeAction, ok: bool, message: str,
                    unsafe: str | None = None) -> ActionVerdict:
        """A trainee's action carried out elsewhere — through the drill HMI's own control
        service, on this engine's plant (:mod:`app.runtime.drill`) — judged as if done here,
        at ``action.at_s``: scored, in the SOE, kept for a backtrack's replay, and the events
        waiting for it released. ``unsafe``: why it was unsafe, as found before it was tried
        (None: found now)."""
        a = action
        if unsafe is None:
            unsafe = self.scorer.unsafe_reason(a, self.is_live, self.interlocking)
        self._live.append((a.at_s, a))
        verdict = self.scorer.judge(a, a.at_s, ok, message, unsafe, self._fired)
        self._soe(self.script.trainee, "action", f"{a.verb}: {'done' if ok else 'refused'}"
                  f" — {message} [{verdict.verdict}]", t_s=a.at_s)
        log.info("drill action at %.1f s (HMI): %s → %s (%s)", a.at_s, a.verb,
                 verdict.verdict, message)
        if ok:
            self._after(a.verb)
        return verdict

    def _malfunction(self, m: Malfunction) -> None:
        if m.kind == FAULT_MALFUNCTION:
            self._instructor_fault(dict(m.params))
            return
        if m.kind == CLEAR_MALFUNCTION:
            inj = str(dict(m.params).get("id", ""))
            try:
                self.plant.clear(inj)
            except KeyError:
                raise ValueError(f"parameter 'id': no malfunction '{inj}' in force") from None
            for k in [k for k, v in self._injected.items() if v == inj]:
                del self._injected[k]
            self._soe("instructor", "clear", f"{inj} cleared")
            return
        inj = self.plant.inject(m.kind, **dict(m.params))
        self._injected[f"instructor:{inj}"] = inj
        self._soe("instructor", "inject", f"{inj}: {m.kind} {dict(m.params)}")

    def _instructor_fault(self, p: dict[str, object]) -> None:
        """A fault the instructor starts live, played through the protection as a scenario's
        ``fault`` event is (relays, breakers, SOE, the COMTRADE record): parameters ``bus``
        (a circuit bus), ``type`` (3ph, LG, LL, LLG), ``stuck`` (breakers that fail to open,
        comma-separated), ``permanent`` (default true). Bad ones: a ValueError naming them."""
        from app.twin.faults import FAULT_TYPES

        bus = str(p.get("bus", "")).strip().lower()
        if bus not in {b.lower() for b in self.plant.engine.bus_names}:
            raise ValueError(f"parameter 'bus': '{bus}' is not a bus of the circuit "
                             "(see gridtwin faults)")
        ftype = str(p.get("type", "LG"))
        if ftype not in FAULT_TYPES:
            raise ValueError(f"parameter 'type': '{ftype}' is not a fault type "
                             f"({', '.join(FAULT_TYPES)})")
        stuck = tuple(x.strip() for x in str(p.get("stuck", "") or "").split(",") if x.strip())
        for b in stuck:
            if b not in self._assets or self.station.asset(b).type != "breaker":
                raise ValueError(f"parameter 'stuck': '{b}' is not a breaker of the station")
        permanent = str(p.get("permanent", True)).lower() not in ("false", "0", "no")
        n = sum(1 for k in self._fired if k.startswith("instructor-fault-")) + 1
        e = ScenarioEvent(f"instructor-fault-{n}", "fault", bus=bus, fault_type=ftype,
                          stuck=stuck, permanent=permanent)
        self._fired[e.id] = self._t
        self.fired.append((self._t, e.id))
        self._soe("instructor", "fault", f"{e.id}: {ftype} fault at {bus.upper()}"
                  + (f", stuck {', '.join(stuck)}" if stuck else "")
                  + ("" if permanent else ", transient"))
        self._fault(e)

    def snapshot(self, label: str = "") -> Snapshot:
        """Mark this instant to come back to (on demand, or every ``snapshot_every_s``)."""
        snap = Snapshot(self._t, label or f"{self._t:.0f} s", tuple(self._live))
        self.snapshots.append(snap)
        return snap

    def backtrack(self, snap: Snapshot) -> DrillEngine:
        """A new engine at ``snap``: the scenario replayed with what was done live before it
        (the same seed, so the same plant); the snapshots up to it carried over."""
        eng = DrillEngine(self.station, self.scenario, day=self.day, out_dir=self.out_dir,
                          script=dataclasses.replace(
                              self.script,
                              actions=tuple(a for a in self.script.actions
                                            if a.at_s < snap.t_s)),
                          settings=self.settings, watch=self.watch,
                          snapshot_every_s=self.snapshot_every_s, replay=snap.live,
                          goose=self.goose)
        while eng.t_s < snap.t_s - 1e-9:  # scan by scan, as the first run went
            eng.run_until(min(snap.t_s, eng.t_s + self.scenario.scan_s))
        eng.snapshots = [x for x in self.snapshots if x.t_s <= snap.t_s]
        eng._live = list(snap.live)
        eng.speed = self.speed
        eng._soe("instructor", "backtrack", f"back to {snap.label}")
        return eng
