"""The station's protection as a deterministic discrete-event simulation.

:class:`StationProtection` binds the relay settings (:mod:`.settings`) to the station and a
:class:`~app.twin.TwinEngine`: breakers to circuit elements, CTs and VTs to breakers and buses,
distance relays to their line's impedance, busbar zones to the breakers that the present
isolator positions connect to each main bus. :meth:`StationProtection.simulate` then plays
one fault (bus, type, fault resistance, which breakers are stuck, permanent or transient)
from inception to its end and returns the ordered, timed events (microsecond times, shown in
milliseconds) with the steady phasors of each stage between switching events:

* a stage's currents and voltages come from the twin's fault study by superposition on the
  present switching state (:func:`app.twin.faults.fault_phasors`), poles opened one by one
  where a single-pole trip opened them;
* relay elements measure each stage: IDMT stages integrate 1/t(I) over the stages (the
  IEC 60255-151 dependent-time behaviour for a varying current), definite-time stages and
  distance zones run their timers while picked up, everything resets when it drops off;
* a trip commands the relay's breakers; each opens after its break time unless stuck;
  breaker failure re-trips after ``retrip_s`` and, with current still above its check
  level after ``backup_s``, trips the rest of the breaker's bus zone, the transformer's other
  side and (line bays) sends a direct transfer trip to the remote end;
* a line's auto-reclose recloses after the dead time: on a transient fault (which dies once
  the faulted phase is dead) the reclaim time then runs out; on a permanent one the relay
  trips again, three-pole, and auto-reclose locks out.

The remote end of a line is not modelled beyond this: a fault on the line between the
station's CT and the remote end is cleared there in the same time as at the station (a
carrier-aided scheme), the same poles; the engine is left exactly as it was found.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypedDict, TypeVarTuple, Unpack

import numpy as np

from app.station import Station
from app.training.protection import elements as el
from app.training.protection.settings import (
    DefiniteStage,
    Differential,
    IdmtStage,
    Overcurrent,
    ProtectionSettings,
    Relay,
    Zone,
)
from app.twin.engine import TwinEngine
from app.twin.faults import FAULT_TYPES, FaultPhasors, FaultType, fault_phasors

log = logging.getLogger(__name__)

PH = ("A", "B", "C")
US = 1_000_000
Ts = TypeVarTuple("Ts")
#: A measuring element's check of one fault stage: (picked up, measured value, phases).
Measure = Callable[[FaultPhasors], tuple[bool, float, str]]
#: A fault counts as isolated (a transient one then dies) below this share of its first
#: current: what is left is capacitive coupling into the dead phase (the secondary arc).
ISOLATED_SHARE = 0.01
#: The phase selector's residual-current threshold and minimum change, in CT rated primary.
RESIDUAL_PICKUP_CT = 0.1
MIN_DELTA_CT = 0.2


# ============================================================================ data shapes
@dataclass(frozen=True, slots=True)
class FaultScenario:
    """One fault to play: where, which type, how, and what the breakers do."""

    bus: str
    fault_type: FaultType
    rf_ohm: float = 0.0
    stuck: frozenset[str] = frozenset()
    """Breaker asset ids that fail to open (an open command is accepted, nothing moves)."""
    permanent: bool = True
    """A transient fault dies once the faulted phases are dead (auto-reclose succeeds)."""
    horizon_s: float = 60.0

    def __post_init__(self) -> None:
        if self.fault_type not in FAULT_TYPES:
            raise ValueError(f"unknown fault type '{self.fault_type}' "
                             f"(use one of {', '.join(FAULT_TYPES)})")
        object.__setattr__(self, "stuck", frozenset(self.stuck))


@dataclass(frozen=True, slots=True)
class ProtectionEvent:
    """One timed event. ``time_us`` from fault inception (integer microseconds)."""

    time_us: int
    kind: str
    """fault, pickup, trip, open_command, breaker_open, breaker_stuck, retrip, bf_backup_trip,
    transfer_trip, dropoff, fault_extinguished, reclose_command, breaker_close,
    reclaim_complete, lockout."""
    source: str
    """The relay, the breaker, or ``fault``."""
    function: str = ""
    """IEC 61850 logical node: PDIS, PTOC, PDIF, RBRF, RREC, XCBR."""
    element: str = ""
    """Z1…Z5, 50, 51, 50N, 51N, 87T, 87R, 87B, BF."""
    breaker: str = ""
    phases: str = ""
    operate_time_s: float | None = None
    """For a trip: from the element's pickup to its trip."""
    detail: str = ""

    @property
    def time_ms(self) -> float:
        return self.time_us / 1000.0

    @property
    def time_s(self) -> float:
        return self.time_us / US

    def as_dict(self) -> dict[str, Any]:
        d = {"time_ms": round(self.time_ms, 3), "kind": self.kind, "source": self.source}
        for k in ("function", "element", "breaker", "phases", "detail"):
            v = getattr(self, k)
            if v:
                d[k] = v
        if self.operate_time_s is not None:
            d["operate_time_s"] = round(self.operate_time_s, 6)
        return d


@dataclass(frozen=True, slots=True, eq=False)
class Stage:
    """The steady state between two switching events."""

    start_us: int
    fault_active: bool
    phasors: FaultPhasors
    """Currents of every station breaker and voltages of the measured buses."""
    open_poles: dict[str, str]
    """Breaker asset id → its open phases ("ABC" fully open)."""


@dataclass(frozen=True, slots=True, eq=False)
class ProtectionSequence:
    scenario: FaultScenario
    events: tuple[ProtectionEvent, ...]
    stages: tuple[Stage, ...]
    tau_s: float
    """Decay time constant of the fault current's DC offset: X/(wR) of the fault loop's
    Thevenin impedance at the faulted bus."""
    breaker_elements: dict[str, str]
    """Breaker asset id → circuit element."""

    def of_kind(self, kind: str) -> list[ProtectionEvent]:
        return [e for e in self.events if e.kind == kind]

    def first(self, kind: str, source: str | None = None, breaker: str | None = None
              ) -> ProtectionEvent | None:
        for e in self.events:
            if e.kind == kind and (source is None or e.source == source) and \
                    (breaker is None or e.breaker == breaker):
                return e
        return None

    @property
    def end_us(self) -> int:
        return self.events[-1].time_us if self.events else 0

    def summary(self) -> dict[str, Any]:
        trips = self.of_kind("trip")
        opened = self.of_kind("breaker_open")
        return {
            "bus": self.scenario.bus, "fault_type": self.scenario.fault_type,
            "rf_ohm": self.scenario.rf_ohm, "stuck": sorted(self.scenario.stuck),
            "permanent": self.scenario.permanent,
            "fault_current_ka": round(self.stages[0].phasors.current_ka, 4),
            "first_trip_ms": round(trips[0].time_ms, 3) if trips else None,
            "tripped_by": sorted({f"{t.source}:{t.element}" for t in trips}),
            "breakers_opened": sorted({e.breaker for e in opened}),
            "clearance_ms": round(self.clearance_us() / 1000.0, 3)
            if self.clearance_us() is not None else None,
            "events": [e.as_dict() for e in self.events],
        }

    def clearance_us(self) -> int | None:
        """When the fault stopped drawing current through the station (first stage without
        it), None if it never did."""
        i0 = self.stages[0].phasors.current_ka
        for s in self.stages[1:]:
            if not s.fault_active or s.phasors.current_ka < ISOLATED_SHARE * i0 or \
                    _station_fault_current(s, self.stages[0]) < ISOLATED_SHARE * i0 * 1000:
                return s.start_us
        return None


def _station_fault_current(stage: Stage, first: Stage) -> float:
    """Largest change from pre-fault of any station breaker's phase current, A."""
    d = stage.phasors.fault_breaker_a - first.phasors.pre_breaker_a
    return float(np.abs(d).max()) if d.size else 0.0


# ============================================================================ binding
@dataclass(slots=True)
class _Breaker:
    id: str
    element: str
    bay: str
    bus1: str
    bus2: str
    kv: float


class EventDetail(TypedDict, total=False):
    """The optional fields of a :class:`ProtectionEvent`."""

    function: str
    element: str
    breaker: str
    phases: str
    operate_time_s: float | None
    detail: str


@dataclass(frozen=True, slots=True)
class _Scheduled:
    """A breaker or auto-reclose action due later: ``action(time_us, *args)``."""

    action: Callable[..., bool]
    args: tuple[object, ...]


@dataclass(slots=True)
class _Element:
    """One measuring element of a relay, with its timer state."""

    relay: Relay
    function: str
    name: str
    kind: str                      # "definite" or "idmt"
    delay_s: float = 0.0
    idmt: IdmtStage | None = None
    measure: Measure | None = None
    zone: str | None = None        # busbar zone id or distance zone name
    picked_us: int | None = None
    progress: float = 0.0
    rate: float = 0.0              # 1/t_op of the present stage (IDMT)
    tripped: bool = False
    phases: str = ""


class StationProtection:
    """The station's relays bound to a twin engine (see the module's docstring)."""

    def __init__(self, station: Station, settings: ProtectionSettings, engine: TwinEngine
                 ) -> None:
        self.station = station
        self.settings = settings
        self.engine = engine
        d = engine.dss
        self.breakers: dict[str, _Breaker] = {}
        for a in station.assets_of_type("breaker"):
            d.Circuit.SetActiveElement(a.element)
            b = [x.partition(".")[0].lower() for x in d.CktElement.BusNames()]
            kv = float(engine.bus_base_kv[engine.bus_index(b[0])])
            self.breakers[a.id] = _Breaker(a.id, engine.branch_names[
                engine.branch_index(a.element)], a.bay, b[0], b[1], kv)
        self._brk_by_element = {b.element.lower(): b.id for b in self.breakers.values()}
        self.breaker_elements = tuple(b.element for b in self.breakers.values())
        self._isolators = []
        for a in station.assets_of_type("isolator"):
            d.Circuit.SetActiveElement(a.element)
            b = [x.partition(".")[0].lower() for x in d.CktElement.BusNames()]
            self._isolators.append((a.element, b[0], b[1]))
        self._busbar_bus = {a.id: a.bus.lower() for a in station.assets_of_type("busbar")
                            if a.bus}
        self._vt_bus = {a.id: a.bus.lower() for a in station.assets_of_type("cvt") if a.bus}
        self._ct_breaker = {}
        for a in station.assets_of_type("ct"):
            bid = self._brk_by_element.get((a.element or "").lower())
            if bid:
                self._ct_breaker[a.id] = bid
        self._lines: dict[str, tuple[complex, complex, str, str]] = {}
        self._shunts: dict[str, tuple[str, complex]] = {}
        for r in settings.relays:
            if r.distance:
                self._lines[r.distance.line] = self._line_data(r.distance.line)
            if r.differential and r.differential.shunt_element:
                self._shunts[r.differential.shunt_element] = self._shunt_data(
                    r.differential.shunt_element)
        buses = set(self._vt_bus.values()) | set(self._busbar_bus.values())
        buses |= {bus for bus, _ in self._shunts.values()}
        self.voltage_buses = tuple(sorted(buses))
        self._outage_partners = {c.asset: c.open for c in station.contingencies}

    def _line_data(self, line_id: str) -> tuple[complex, complex, str, str]:
        d = self.engine.dss
        element = self.station.asset(line_id).element
        d.Lines.Name(element.split(".", 1)[1])
        km = d.Lines.Length()
        z1 = complex(d.Lines.R1(), d.Lines.X1()) * km
        z0 = complex(d.Lines.R0(), d.Lines.X0()) * km
        return z1, z0, d.Lines.Bus1().partition(".")[0].lower(), \
            d.Lines.Bus2().partition(".")[0].lower()

    def _shunt_data(self, element: str) -> tuple[str, complex]:
        d = self.engine.dss
        d.Circuit.SetActiveElement(element)
        bus = d.CktElement.BusNames()[0].partition(".")[0].lower()
        cls, _, name = element.partition(".")
        if cls.lower() == "reactor":
            d.Reactors.Name(name)
            z = 1j * d.Reactors.kV() ** 2 / (d.Reactors.kvar() / 1000.0)
        else:
            d.Capacitors.Name(name)
            z = -1j * d.Capacitors.kV() ** 2 / (d.Capacitors.kvar()[0] / 1000.0)
        return bus, complex(z)

    # ------------------------------------------------------------------ topology
    def busbar_zones(self) -> dict[str, list[tuple[str, int]]]:
        """Busbar asset id → [(breaker id, sign)] of the breakers its closed isolators connect
        it to; sign +1 when the breaker's terminal 1 faces the zone (its terminal-1 current
        leaves the zone), -1 when terminal 2 does."""
        e = self.engine
        busbars = set(self._busbar_bus.values())
        out = {}
        for bid, bus in self._busbar_bus.items():
            reached, todo = {bus}, [bus]
            while todo:
                b = todo.pop()
                for element, b1, b2 in self._isolators:
                    if b in (b1, b2) and e.is_closed(element):
                        other = b2 if b == b1 else b1
                        if other not in reached and other not in busbars:
                            reached.add(other)
                            todo.append(other)
            zone = []
            for brk in self.breakers.values():
                if not e.is_closed(brk.element):
                    continue
                if brk.bus1 in reached:
                    zone.append((brk.id, 1))
                elif brk.bus2 in reached:
                    zone.append((brk.id, -1))
            out[bid] = zone
        return out

    # ------------------------------------------------------------------ simulation
    def simulate(self, scenario: FaultScenario) -> ProtectionSequence:
        for b in scenario.stuck:
            if b not in self.breakers:
                raise ValueError(f"stuck breaker '{b}' is not a breaker of the station")
        self.engine.bus_index(scenario.bus)  # KeyError naming the bus
        with self._engine_restored():
            return _Run(self, scenario).run()

    @contextmanager
    def _engine_restored(self) -> Iterator[None]:
        e = self.engine
        before = e.state()  # the operating point as it is (a solve here would move it)
        try:
            yield
        finally:
            e.apply_state(before)  # every pole, remote end, source and load as it was
            e.solve()

    def set_poles(self, breaker_id: str, open_phases: str) -> None:
        """Put a breaker's poles in the engine: ``open_phases`` subset of "ABC"."""
        self.engine.set_poles(self.breakers[breaker_id].element, open_phases)

    def set_remote_poles(self, line_id: str, open_phases: str) -> None:
        """Open or close the remote end of a line (its terminal 2), pole by pole; a grid
        equivalent behind a fully open line is taken out of service."""
        e = self.engine
        element = self.station.asset(line_id).element
        src = e.line_source(element)
        if src is not None:
            e.set_source_in_service(src, open_phases != "ABC")
        # All three open: the grid behind it is out of service (above) and the line's
        # terminal stays closed, as a dead line from the remote side.
        e.set_poles(element, open_phases if open_phases != "ABC" else "", terminal=2)

    def stage_phasors(self, scenario: FaultScenario, fault_active: bool) -> FaultPhasors:
        """Every breaker's currents and the measured voltages of the present switching state,
        with the fault, or without it: the same fault element at 1 Tohm, which draws 1e-7 A
        (the pre-fault state of this topology to nine digits)."""
        return fault_phasors(self.engine, scenario.bus, scenario.fault_type,
                             scenario.rf_ohm if fault_active else 1e12,
                             breakers=self.breaker_elements, voltage_buses=self.voltage_buses)

    def line_of_bus(self, bus: str) -> str | None:
        """The protected line whose station side a fault at ``bus`` lies on (between the
        station's CT and the remote end), if any."""
        bus = bus.lower()
        for line_id, (_z1, _z0, b1, _b2) in self._lines.items():
            bay = self.station.asset(line_id).bay
            brk = next((b for b in self.breakers.values() if b.bay == bay), None)
            if brk is None:
                continue
            side = {brk.bus2, b1}
            # Buses between the breaker and the line: its far side, the line's station end
            # and whatever joins them through closed switches of the bay.
            for element, x1, x2 in self._isolators:
                if self.engine.is_closed(element) and (x1 in side or x2 in side) and \
                        element.lower().startswith(f"line.{bay.lower()}_"):
                    side |= {x1, x2}
            if bus in side:
                return line_id
        return None


# ============================================================================ one run
class _Run:
    def __init__(self, prot: StationProtection, sc: FaultScenario) -> None:
        self.p = prot
        self.sc = sc
        self.s = prot.settings
        self.events: list[ProtectionEvent] = []
        self.stages: list[Stage] = []
        self.queue: list[tuple[int, int, _Scheduled]] = []
        self._seq = 0
        self.t = 0
        self.fault_active = True
        self.open_poles: dict[str, str] = {}
        self.pending_open: dict[str, str] = {}    # breaker → poles commanded open
        self.remote_open: dict[str, str] = {}
        self.bf_running: set[str] = set()
        self.bf_poles: dict[str, str] = {}        # breaker → poles its trips commanded
        self.ar_state: dict[str, str] = {}        # relay → idle|dead|reclaim|lockout
        self.ar_started: dict[str, tuple[list[str], str, float]] = {}
        self.started: dict[str, bool] = {}
        self.zones = prot.busbar_zones()
        self.fault_line = prot.line_of_bus(sc.bus)
        self.elements = self._build_elements()
        self.bf_of = {}
        for r in self.s.relays:
            if r.breaker_failure:
                for b in r.breaker_failure.breakers:
                    self.bf_of.setdefault(b, r)
        self.initially_closed = {b: prot.engine.is_closed(x.element)
                                 for b, x in prot.breakers.items()}

    # ------------------------------------------------------------------ helpers
    def emit(self, time_us: int, kind: str, source: str, **kw: Unpack[EventDetail]) -> None:
        self.events.append(ProtectionEvent(int(time_us), kind, source, **kw))

    def schedule(self, time_us: int, action: Callable[[int, *Ts], bool], *args: *Ts) -> None:
        """``action(time_us, *args)`` at ``time_us`` (one of the ``_do_…`` methods; True when
        it changed the network)."""
        self._seq += 1
        heapq.heappush(self.queue, (int(time_us), self._seq, _Scheduled(action, args)))

    def _start_us(self, r: Relay) -> int:
        ms = r.start_time_ms if r.start_time_ms is not None else self.s.defaults.start_time_ms
        return round(ms * 1000)

    def _min_op_s(self, r: Relay) -> float:
        ms = r.min_operate_ms if r.min_operate_ms is not None else \
            self.s.defaults.min_operate_ms
        return ms / 1000.0

    # ------------------------------------------------------------------ elements
    def _build_elements(self) -> list[_Element]:
        out: list[_Element] = []
        for r in self.s.relays:
            if r.overcurrent:
                out += self._oc_elements(r, r.overcurrent, "PTOC", residual=False)
            if r.earth_fault:
                out += self._oc_elements(r, r.earth_fault, "PTOC", residual=True)
            if r.distance:
                for z in r.distance.zones:
                    out.append(_Element(r, "PDIS", z.name, "definite", delay_s=z.time_s,
                                        zone=z.name, measure=self._distance_measure(r, z)))
            if r.differential:
                out += self._diff_elements(r, r.differential)
        return out

    def _ct_current(self, r: Relay, stage: FaultPhasors) -> np.ndarray:
        brk = self.p.breakers[self.p._ct_breaker[r.ct]]
        return stage.breaker(brk.element)[1]

    def _pole_open(self, r: Relay) -> bool:
        """Some, not all, poles of the relay's breakers open (single-pole dead time)."""
        return any(0 < len(self.open_poles.get(b, "")) < 3 for b in r.breakers)

    def _oc_elements(self, r: Relay, oc: Overcurrent, ln: str, residual: bool
                     ) -> list[_Element]:
        suffix = "N" if residual else ""

        def value(stage: FaultPhasors) -> float:
            i = self._ct_current(r, stage)
            return abs(el.residual(i)) if residual else float(np.abs(i).max())

        def direction_ok(stage: FaultPhasors) -> bool:
            if not residual or oc.directional == "none":
                return True
            v = stage.voltages(self.p._vt_bus[r.vt])[1]
            fwd = el.earth_fault_forward(v, self._ct_current(r, stage),
                                         oc.characteristic_angle_deg)
            return fwd is not None and fwd == (oc.directional == "forward")

        def phases(stage: FaultPhasors, pickup: float) -> str:
            i = np.abs(self._ct_current(r, stage))
            return "N" if residual else "".join(p for p, x in zip(PH, i, strict=True)
                                                  if x > pickup) or "ABC"

        out = []
        if oc.idmt:
            st = oc.idmt

            def m_idmt(stage: FaultPhasors, st: IdmtStage = st) -> tuple[bool, float, str]:
                if residual and self._pole_open(r):
                    return False, 0.0, ""
                x = value(stage)
                ok = x > st.pickup_a and direction_ok(stage)
                return ok, x, phases(stage, st.pickup_a) if ok else ""
            out.append(_Element(r, ln, f"51{suffix}", "idmt", idmt=st, measure=m_idmt))
        if oc.high_set:
            hs = oc.high_set

            def m_hs(stage: FaultPhasors, hs: DefiniteStage = hs) -> tuple[bool, float, str]:
                if residual and self._pole_open(r):
                    return False, 0.0, ""
                x = value(stage)
                ok = x > hs.pickup_a and direction_ok(stage)
                return ok, x, phases(stage, hs.pickup_a) if ok else ""
            out.append(_Element(r, ln, f"50{suffix}", "definite", delay_s=hs.delay_s,
                                measure=m_hs))
        return out

    def _distance_measure(self, r: Relay, zone: Zone) -> Measure:
        dist = r.distance
        z1, z0, _b1, _b2 = self.p._lines[dist.line]
        k0 = el.line_k0(z1, z0)
        angle = math.degrees(math.atan2(z1.imag, z1.real))
        reach = zone.reach_ohm if zone.reach_ohm is not None else abs(z1) * zone.reach_pct / 100
        reverse = zone.direction == "reverse"
        ct_a = r.ct_primary_a
        vt_bus = self.p._vt_bus[r.vt]

        def measure(stage: FaultPhasors) -> tuple[bool, float, str]:
            pre_i = self._first.breaker(self.p.breakers[self.p._ct_breaker[r.ct]].element)[0]
            i = self._ct_current(r, stage)
            v = stage.voltages(vt_bus)[1]
            v_mem = self._first.voltages(vt_bus)[0]
            open_ph = "".join(self.open_poles.get(b, "") for b in r.breakers)
            loops = el.select_loops(i - pre_i, abs(el.residual(i)), RESIDUAL_PICKUP_CT * ct_a,
                                    MIN_DELTA_CT * ct_a)
            q = el.loop_quantities(v, i, k0)
            qm = el.loop_quantities(v_mem, pre_i, k0)
            qd = el.loop_quantities(v_mem, i - pre_i, 0j)
            hit = []
            for loop in loops:
                if any(ph in open_ph for ph in loop.replace("G", "")):
                    continue  # the open pole's loops are blocked
                vl, il = q[loop]
                if abs(il) < MIN_DELTA_CT * ct_a:
                    continue
                z = vl / il
                if dist.characteristic == "mho":
                    inside = el.mho_inside(z, reach, angle, reverse)
                else:
                    inside = el.quad_inside(z, reach, angle, dist.resistive_reach_ohm, reverse)
                fwd = el.forward(qm[loop][0], qd[loop][1] if loop[1] != "G" else
                                 (i - pre_i)[PH.index(loop[0])], angle)
                if inside and fwd != reverse:
                    hit.append(loop)
            if not hit:
                return False, 0.0, ""
            phases = "".join(p for p in PH if any(p in lp for lp in hit))
            return True, 0.0, phases
        return measure

    def _diff_elements(self, r: Relay, d: Differential) -> list[_Element]:
        ln = "PDIF"
        if d.kind == "busbar":
            out = []
            for zone_id in d.zones:
                def measure(stage: FaultPhasors, zone_id: str = zone_id
                            ) -> tuple[bool, float, str]:
                    zone = self.zones.get(zone_id, [])
                    ok, x, ph = self._diff_check(stage, d, [(b, s) for b, s in zone])
                    if ok and d.check_zone:
                        check = self._check_zone(d)
                        ok2, _, _ = self._diff_check(stage, d, check)
                        ok = ok and ok2
                    return ok, x, ph if ok else ""
                out.append(_Element(r, ln, "87B", "definite", zone=zone_id, measure=measure))
            return out
        name = "87T" if d.kind == "transformer" else "87R"

        def measure_t(stage: FaultPhasors) -> tuple[bool, float, str]:
            ref = d.ends[0].kv
            cur = []
            for end in d.ends:
                i = stage.breaker(self.p.breakers[end.breaker].element)[1] * (end.kv / ref)
                cur.append(el.zero_sequence_removed(i) if d.zero_sequence_filter else i)
            if d.shunt_element:
                bus, z = self.p._shunts[d.shunt_element]
                cur.append(-stage.voltages(bus)[1] / z)
            idiff, ibias = el.differential(cur)
            ops = [el.differential_operates(idiff[k], ibias[k], d.pickup_a, d.slope1,
                                            d.slope2, d.knee_a) for k in range(3)]
            ph = "".join(p for p, o in zip(PH, ops, strict=True) if o)
            return bool(ph), float(idiff.max()), ph
        return [_Element(r, ln, name, "definite", measure=measure_t)]

    def _check_zone(self, d: Differential) -> list[tuple[str, int]]:
        """The whole voltage level: every bay breaker of the relay's zones, couplers (in two
        zones, currents cancelling) left out."""
        count: dict[str, int] = {}
        sign: dict[str, int] = {}
        for z in d.zones:
            for b, s in self.zones.get(z, []):
                count[b] = count.get(b, 0) + 1
                sign[b] = s
        return [(b, sign[b]) for b, n in count.items() if n == 1]

    def _diff_check(self, stage: FaultPhasors, d: Differential, zone: list[tuple[str, int]]
                    ) -> tuple[bool, float, str]:
        cur = [-s * stage.breaker(self.p.breakers[b].element)[1] for b, s in zone]
        if not cur:
            return False, 0.0, ""
        idiff, ibias = el.differential(cur)
        ops = [el.differential_operates(idiff[k], ibias[k], d.pickup_a, d.slope1, d.slope2,
                                        d.knee_a) for k in range(3)]
        ph = "".join(p for p, o in zip(PH, ops, strict=True) if o)
        return bool(ph), float(idiff.max()), ph

    # ------------------------------------------------------------------ the loop
    def _new_stage(self) -> FaultPhasors:
        ph = self.p.stage_phasors(self.sc, self.fault_active)
        self.stages.append(Stage(self.t, self.fault_active, ph, dict(self.open_poles)))
        return ph

    def run(self) -> ProtectionSequence:
        sc = self.sc
        ph = self._new_stage()
        self._first = ph
        if not ph.energised:
            raise ValueError(f"bus '{sc.bus}' is dead: nothing to fault")
        self.i_fault0 = max(abs(x) for x in ph.fault_a.values())
        self.emit(0, "fault", "fault", phases=_fault_phases(sc.fault_type),
                  detail=f"{sc.fault_type} at {ph.bus}, {ph.current_ka:.3f} kA, "
                         f"Rf {sc.rf_ohm:g} ohm")
        log.info("protection drill: %s fault at %s (%.2f kA)", sc.fault_type, ph.bus,
                 ph.current_ka)
        horizon = round(sc.horizon_s * US)
        self._measure(ph)
        while True:
            nxt = self._next_time()
            if nxt is None or nxt > horizon:
                break
            self._advance(nxt)
            changed = self._fire(nxt)
            if changed:
                ph = self._new_stage()
                if self.fault_active and sc.permanent is False and self._isolated(ph):
                    self.fault_active = False
                    self.emit(self.t, "fault_extinguished", "fault",
                              detail="transient fault died with its phases dead")
                    self.stages.pop()
                    ph = self._new_stage()
                self._measure(ph)
        self.events.sort(key=lambda e: e.time_us)  # stable: same-time events keep their order
        z1, z0 = self._first.z1_ohm, self._first.z0_ohm
        return ProtectionSequence(sc, tuple(self.events), tuple(self.stages),
                                  _tau_s(sc.fault_type, z1, z0),
                                  {b: x.element for b, x in self.p.breakers.items()})

    def _isolated(self, ph: FaultPhasors) -> bool:
        return not ph.energised or \
            max(abs(x) for x in ph.fault_a.values()) < ISOLATED_SHARE * self.i_fault0

    def _measure(self, ph: FaultPhasors) -> None:
        """Evaluate every element on a new stage: start, keep or reset its timer."""
        t = self.t
        for e in self.elements:
            picked, value, phases = e.measure(ph)
            if picked:
                if e.picked_us is None:
                    e.picked_us = t
                    e.progress = 0.0
                e.phases = phases
                if e.kind == "idmt":
                    top = el.idmt_time_s(value, e.idmt.pickup_a, e.idmt.tms, e.idmt.curve)
                    e.rate = 1.0 / top if top else 0.0
            else:
                e.picked_us = None
                e.progress = 0.0
                e.rate = 0.0
                e.tripped = False
        for r in self.s.relays:
            any_picked = any(e.picked_us is not None for e in self.elements if e.relay is r)
            if any_picked and not self.started.get(r.id):
                self.started[r.id] = True
                picked = [e for e in self.elements if e.relay is r and e.picked_us is not None]
                names = ",".join(e.name + (f"({e.zone})" if e.zone and e.zone != e.name
                                           else "") for e in picked)
                phases = "".join(p for p in PH + ("N",) if any(p in e.phases for e in picked))
                self.emit(t + self._start_us(r), "pickup", r.id, function="PTRC",
                          element=names, phases=phases)
            elif not any_picked and self.started.get(r.id):
                self.started[r.id] = False
                self.emit(t, "dropoff", r.id)

    def _trip_time(self, e: _Element) -> int | None:
        if e.picked_us is None or e.tripped:
            return None
        if e.kind == "definite":
            return e.picked_us + round(max(e.delay_s, self._min_op_s(e.relay)) * US)
        if e.rate <= 0:
            return None
        return self.t + max(0, round((1.0 - e.progress) / e.rate * US))

    def _next_time(self) -> int | None:
        times = [x for x in (self._trip_time(e) for e in self.elements) if x is not None]
        if self.queue:
            times.append(self.queue[0][0])
        return min(times) if times else None

    def _advance(self, t: int) -> None:
        dt_s = (t - self.t) / US
        for e in self.elements:
            if e.kind == "idmt" and e.picked_us is not None and not e.tripped:
                e.progress += dt_s * e.rate
        self.t = t

    def _fire(self, t: int) -> bool:
        changed = False
        for e in self.elements:
            if self._trip_time(e) == t:
                self._trip(e, t)
        while self.queue and self.queue[0][0] == t:
            _, _, due = heapq.heappop(self.queue)
            changed |= due.action(t, *due.args)
        return changed

    # ------------------------------------------------------------------ actions
    def _ar_owner(self, r: Relay) -> Relay | None:
        """The relay whose auto-reclose serves ``r``'s breakers (itself, or the other main
        protection of the same breaker that runs it)."""
        if r.autoreclose:
            return r
        for x in self.s.relays:
            if x.autoreclose and set(x.breakers) & set(r.breakers):
                return x
        return None

    def _trip(self, e: _Element, t: int) -> None:
        e.tripped = True
        r = e.relay
        op = (t - e.picked_us) / US
        if e.function == "PDIF" and e.zone is not None:
            breakers = [b for b, _ in self.zones.get(e.zone, [])]
        else:
            breakers = list(r.breakers)
        poles = "ABC"
        lockout: tuple[str, str] | None = None
        owner = self._ar_owner(r) if e.function == "PDIS" else None
        if owner is not None:
            ar = owner.autoreclose
            state = self.ar_state.get(owner.id, "idle")
            started = self.ar_started.get(owner.id)
            if state == "dead" and started is not None and e.phases == started[1]:
                poles = started[1]      # the other main protection of a cycle under way
            else:
                single = len(e.phases) == 1 and state == "idle" and \
                    ar.mode in ("1p", "1p3p") and e.name in ar.initiate_zones
                three = not single and state == "idle" and ar.mode in ("3p", "1p3p") and \
                    e.name in ar.initiate_zones
                if single or three:
                    poles = e.phases if single else "ABC"
                    self.ar_state[owner.id] = "dead"
                    self.ar_started[owner.id] = (list(owner.breakers), poles,
                                                 ar.dead_time_1p_s if single
                                                 else ar.dead_time_3p_s)
                elif state != "lockout":
                    self.ar_state[owner.id] = "lockout"
                    lockout = (owner.id, "fault in the reclaim time" if state == "reclaim"
                               else "evolving fault in the dead time" if state == "dead"
                               else "multi-phase fault" if e.name in ar.initiate_zones
                               else f"trip by {e.name}")
        self.emit(t, "trip", r.id, function=e.function, element=e.name, phases=e.phases,
                  operate_time_s=op,
                  detail=("single-pole" if poles != "ABC" else "three-pole") +
                  (f", zone {e.zone}" if e.zone and e.zone != e.name else ""))
        if lockout is not None:
            self.emit(t, "lockout", lockout[0], function="RREC", element="79",
                      detail=lockout[1])
        for b in breakers:
            self._command_open(t, b, poles, r)
        # A fault on a protected line is cleared at its remote end as at this one.
        zone = next((z for z in r.distance.zones if z.name == e.zone), None) \
            if e.function == "PDIS" else None
        if zone is not None and zone.direction == "forward" and \
                r.distance.line == self.fault_line:
            brk = self.p.breakers[r.breakers[0]]
            bt = round(self.s.breaker_time(brk.kv).break_time_ms * 1000)
            self.schedule(t + bt, self._do_remote_open, r.distance.line, poles)

    def _command_open(self, t: int, b: str, poles: str, r: Relay | None) -> None:
        already = self.pending_open.get(b, "") + self.open_poles.get(b, "")
        new = "".join(p for p in poles if p not in already)
        if not new or not self.initially_closed.get(b, False):
            return
        brk = self.p.breakers[b]
        self.pending_open[b] = self.pending_open.get(b, "") + new
        self.emit(t, "open_command", b, function="XCBR", breaker=b, phases=new,
                  detail=f"by {r.id}" if r else "")
        bt = round(self.s.breaker_time(brk.kv).break_time_ms * 1000)
        if b in self.sc.stuck:
            self.schedule(t + bt, self._do_stuck, b)
        else:
            self.schedule(t + bt, self._do_open, b, new)
        self.bf_poles[b] = "".join(p for p in PH if p in self.bf_poles.get(b, "") + new)
        bf = self.bf_of.get(b)
        if bf is not None and b not in self.bf_running:
            self.bf_running.add(b)
            self.schedule(t + round(bf.breaker_failure.retrip_s * US), self._do_retrip, b, bf.id)
            self.schedule(t + round(bf.breaker_failure.backup_s * US), self._do_backup, b, bf.id)

    def _do_open(self, t: int, b: str, poles: str) -> bool:
        now = "".join(p for p in PH if p in self.open_poles.get(b, "") + poles)
        self.open_poles[b] = now
        self.pending_open[b] = "".join(p for p in self.pending_open.get(b, "")
                                       if p not in poles)
        self.p.set_poles(b, now)
        self.emit(t, "breaker_open", b, function="XCBR", breaker=b, phases=poles)
        for rid, (brks, ar_poles, dead_s) in list(self.ar_started.items()):
            if b in brks and self.ar_state.get(rid) == "dead" and \
                    all(p in self.open_poles.get(x, "") for x in brks for p in ar_poles):
                self.schedule(t + round(dead_s * US), self._do_reclose, rid)
        return True

    def _do_stuck(self, t: int, b: str) -> bool:
        self.emit(t, "breaker_stuck", b, function="XCBR", breaker=b,
                  detail="failed to open")
        log.warning("protection drill: %s failed to open", b)
        return False

    def _do_remote_open(self, t: int, line_id: str, poles: str) -> bool:
        now = "".join(p for p in PH if p in self.remote_open.get(line_id, "") + poles)
        if now == self.remote_open.get(line_id, ""):
            return False
        self.remote_open[line_id] = now
        self.p.set_remote_poles(line_id, now)
        self.emit(t, "remote_open", line_id, phases=poles,
                  detail="remote end cleared the line fault")
        return True

    def _breaker_current(self, b: str) -> float:
        """Largest current of the poles commanded open (breaker failure's current check)."""
        ph = self.stages[-1].phasors
        i = np.abs(ph.breaker(self.p.breakers[b].element)[1])
        poles = self.bf_poles.get(b) or "ABC"
        return float(max(i[PH.index(p)] for p in poles))

    def _do_retrip(self, t: int, b: str, relay_id: str) -> bool:
        r = self.s.relay(relay_id)
        if self._breaker_current(b) > r.breaker_failure.current_check_a:
            self.emit(t, "retrip", relay_id, function="RBRF", element="BF", breaker=b,
                      phases=self.bf_poles.get(b, "ABC"))
        return False

    def _do_backup(self, t: int, b: str, relay_id: str) -> bool:
        r = self.s.relay(relay_id)
        self.bf_running.discard(b)
        cur = self._breaker_current(b)
        if cur <= r.breaker_failure.current_check_a:
            return False
        self.emit(t, "bf_backup_trip", relay_id, function="RBRF", element="BF", breaker=b,
                  phases="ABC", detail=f"{b} still carries {cur:.0f} A")
        log.warning("protection drill: breaker failure of %s: back-up trip", b)
        for rid in list(self.ar_state):
            if b in self.s.relay(rid).breakers and self.ar_state[rid] != "lockout":
                self.ar_state[rid] = "lockout"
                self.emit(t, "lockout", rid, function="RREC", element="79",
                          detail="breaker failure")
        others: list[str] = []
        for zone in self.zones.values():
            if any(x == b for x, _ in zone):
                others += [x for x, _ in zone if x != b]
        for group in self.p._outage_partners.values():
            if b in group:
                others += [x for x in group if x != b]
        for x in dict.fromkeys(others):
            self._command_open(t, x, "ABC", r)
        bay = self.p.breakers[b].bay
        line = next((a.id for a in self.p.station.assets_of_type("line", "feeder")
                     if a.bay == bay and (a.element or "").lower().startswith("line.")), None)
        if line is not None and self.p.engine.line_source(self.p.station.asset(line).element):
            self.emit(t, "transfer_trip", relay_id, function="RBRF", element="BF",
                      breaker=b, detail=f"direct transfer trip to the remote end of {line}")
            self.schedule(t + round(self.s.breaker_time(self.p.breakers[b].kv)
                                    .break_time_ms * 1000), self._do_remote_open, line, "ABC")
        return False

    def _do_reclose(self, t: int, relay_id: str) -> bool:
        if self.ar_state.get(relay_id) != "dead":
            return False
        r = self.s.relay(relay_id)
        brks, _poles, _dead = self.ar_started[relay_id]
        self.emit(t, "reclose_command", relay_id, function="RREC", element="79",
                  breaker=",".join(brks))
        for b in brks:
            ct = round(self.s.breaker_time(self.p.breakers[b].kv).close_time_ms * 1000)
            self.schedule(t + ct, self._do_close, b, relay_id)
        if r.distance and r.distance.line in self.remote_open:
            b0 = self.p.breakers[brks[0]]
            ct = round(self.s.breaker_time(b0.kv).close_time_ms * 1000)
            self.schedule(t + ct, self._do_remote_close, r.distance.line)
        self.ar_state[relay_id] = "reclaim"
        return False

    def _do_close(self, t: int, b: str, relay_id: str) -> bool:
        if not self.open_poles.get(b):
            return False
        self.open_poles[b] = ""
        self.p.set_poles(b, "")
        self.emit(t, "breaker_close", b, function="XCBR", breaker=b, detail=f"by {relay_id}")
        r = self.s.relay(relay_id)
        self.schedule(t + round(r.autoreclose.reclaim_s * US), self._do_reclaim, relay_id)
        return True

    def _do_remote_close(self, t: int, line_id: str) -> bool:
        self.remote_open[line_id] = ""
        self.p.set_remote_poles(line_id, "")
        self.emit(t, "remote_close", line_id)
        return True

    def _do_reclaim(self, t: int, relay_id: str) -> bool:
        if self.ar_state.get(relay_id) == "reclaim":
            self.ar_state[relay_id] = "idle"
            self.emit(t, "reclaim_complete", relay_id, function="RREC", element="79")
        return False


def _fault_phases(ftype: str) -> str:
    return {"3ph": "ABC", "LG": "A", "LL": "AB", "LLG": "AB"}[ftype]


def _tau_s(ftype: str, z1: complex, z0: complex, f_hz: float = 50.0) -> float:
    """X/(wR) of the fault loop: Z1 (3ph), Z1+Z2 (LL), Z1+Z2+Z0 (LG), Z1 + Z2||Z0 (LLG)."""
    z2 = z1
    loop = {"3ph": z1, "LL": z1 + z2, "LG": z1 + z2 + z0,
            "LLG": z1 + (z2 * z0 / (z2 + z0) if z2 + z0 != 0 else 0)}[ftype]
    if loop.real <= 0:
        return 0.0
    return loop.imag / (2 * math.pi * f_hz * loop.real)

