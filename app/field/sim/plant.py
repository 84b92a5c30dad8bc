"""The plant simulator: the physical substation's stand-in.

Each :meth:`PlantSimulator.step` advances simulated time by ``tick × speed`` and

1. moves the loads along their daily profiles (with noise and any injected overload), the grid
   frequency around 50 Hz and the ambient temperature through its daily cycle;
2. solves its own twin engine for the true electrical state (switching in progress shows as
   an intermediate position; a breaker reaches its new position after its operating time,
   a motorised disconnector after its travel time);
3. runs the IEC 60076-7 thermal model of every transformer, the dissolved-gas model, breaker
   SF6 density, operation counters, contact wear, OLTC voltage control;
4. turns all of it into the value, IEC 61850 quality word and source time of every point of
   the station's point table, with instrument noise within each sensor's accuracy class;
5. publishes an immutable :class:`PlantSnapshot` (readable from any thread).

Operations arrive through :meth:`operate` as a bay IED would receive them and obey the bay's
own interlocks; faults are injected through :meth:`inject` (in-process) or the local control
channel (:mod:`app.field.sim.control`).
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.field.electrical import ElectricalPoints
from app.field.sim import profiles
from app.field.sim.api import PlantSnapshot
from app.field.sim.dga import GASES, DgaModel
from app.field.sim.thermal import ThermalModel, ThermalParams
from app.station import Asset, Station
from app.station import clock as wallclock
from app.station import quality as Q
from app.station.commands import (
    ADD_CAUSE_BLOCKED_BY_HEALTH,
    ADD_CAUSE_BLOCKED_BY_INTERLOCKING,
    ADD_CAUSE_POSITION_REACHED,
    ADD_CAUSE_UNKNOWN,
    ControlResult,
)
from app.station.points import (
    KIND_ANALOG,
    POS_CLOSED,
    POS_INTERMEDIATE,
    POS_OPEN,
    PointTable,
    build_point_table,
)
from app.twin import TwinEngine, TwinState
from app.twin.faults import fault_study

log = logging.getLogger(__name__)

FAULT_KINDS = ("overvoltage", "transformer_overload", "frequency_excursion", "breaker_stuck",
               "bus_fault", "line_trip", "sensor_stuck", "sensor_drift", "sensor_fail",
               "comm_lost", "dga_fault", "sf6_leak")

#: The largest combined effect that stacked injections may have, by kind. An injection that
#: would take the combination past its limit is refused (a ValueError naming the limit; an
#: error reply on the control channel). Kinds not listed here do not add up: ``overvoltage``
#: and ``frequency_excursion`` — the first active one applies — and the kinds without a
#: magnitude (a breaker is stuck or not, a sensor failed or not).
MAX_COMBINED: dict[str, float] = {
    # The product of the overload factors acting on any one load (each factor is 1–3; an ICT's
    # overload scales every load it feeds, a 220/33 kV transformer's its own section's). At
    # 3 × the station's load, at its daily peak, the power flow still converges.
    "transformer_overload": 3.0,
    # The sum of |rate_per_h| of the drifts on one point, in spans of its instrument range an
    # hour: faster than that is a failed sensor, not a drifting one.
    "sensor_drift": 10.0,
    # The sum of the leak rates on one breaker, bar/h (10 bar a second: empty at once).
    "sf6_leak": 36_000.0,
    # The sum of the severities of the DGA faults developing in one transformer or reactor.
    "dga_fault": 10.0,
}

#: Default operating/travel times (simulated seconds).
TRAVEL_S = {"breaker": 0.06, "isolator": 6.0, "earth_switch": 6.0}

SF6_RATED_BAR = 6.0
SF6_ALARM_BAR = 5.2
SF6_LOCKOUT_BAR = 5.0

# Instrument accuracy: relative (fraction, 1 sigma) or absolute noise per quantity. Where the
# station file gives an instrument transformer's accuracy class (a VT's or CVT's voltages, a
# CT's currents), that wins: sigma = class / 2, so ~95 % of readings fall within the class's
# ratio-error limit (class 0.2: sigma 0.1 %; class 0.5: sigma 0.25 %).
_NOISE_REL = {"voltage_kv": 0.001, "current_a": 0.001, "p_mw": 0.002, "q_mvar": 0.002,
              "apparent_mva": 0.002, "leakage_ma": 0.01, "resistive_leakage_ma": 0.02,
              "dc_current_a": 0.005, "differential_current_a": 0.02, "bias_current_a": 0.005,
              "current_pos_seq_a": 0.001, "current_neg_seq_a": 0.02,
              "current_zero_seq_a": 0.02}
_CLASS_MEASURES = {"cvt": "voltage_kv", "vt": "voltage_kv", "ct": "current_a"}


def accuracy_class_pct(text: str | None) -> float | None:
    """The metering accuracy class of a nameplate string ("0.2S/5P20" → 0.2), or None."""
    m = re.match(r"\s*(\d+(?:\.\d+)?)\s*S?\s*(?:/|$)", text or "")
    return float(m.group(1)) if m else None


_NOISE_ABS = {"frequency_hz": 0.001, "top_oil_c": 0.2, "hot_spot_c": 0.3, "winding_c": 0.3,
              "ambient_c": 0.1, "sf6_pressure_bar": 0.003, "dc_voltage_v": 0.05,
              "panel_temperature_c": 0.2, "battery_temperature_c": 0.1,
              "current_thd_pct": 0.05, "bushing_tan_delta_pct": 0.002,
              "bushing_capacitance_pf": 0.2, "humidity_pct": 0.3, "wind_speed_ms": 0.2,
              "voltage_unbalance_pct": 0.02, "oil_level_pct": 0.1, "unbalance_a": 0.005}

# Status quantities that read 1 in a healthy station (the rest default to 0).
_HEALTHY_ONE = {"healthy", "trip_circuit_healthy", "remote_control", "motor_supply_ok",
                "spring_charged", "dc_supply_ok", "ac_supply_ok", "time_sync_ok",
                "vt_mcb_healthy", "charger_healthy", "dc_mcb_healthy", "lt_supply_ok"}


def _finite_flow(state: TwinState) -> bool:
    """Whether a power flow's flows and totals are finite numbers (a diverged one is not)."""
    return math.isfinite(state.totals.losses_mw) and bool(np.isfinite(state.p_mw).all())


@dataclass
class Injection:
    id: str
    kind: str
    params: dict[str, Any]
    started: dt.datetime
    state: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "params": self.params,
                "started": self.started.isoformat()}


@dataclass
class _Movement:
    asset: str
    element: str
    close: bool
    done_at: dt.datetime


class PlantSimulator:
    """The simulated station. Thread-safe: ``step`` from the plant thread, ``operate`` and
    ``inject`` from server or control-channel threads, ``snapshot`` from anywhere."""

    def __init__(self, station: Station, *, tick_s: float = 0.1, speed: float = 1.0,
                 seed: int | None = None, start: dt.datetime | None = None,
                 travel_s: dict[str, float] | None = None) -> None:
        if tick_s <= 0 or speed <= 0:
            raise ValueError("tick and speed must be positive")
        self.station = station
        self.points: PointTable = build_point_table(station)
        self.tick_s = tick_s
        self.speed = speed
        self.travel_s = {**TRAVEL_S, **(travel_s or {})}
        self.rng = np.random.default_rng(seed)
        self.clock = (start or wallclock.now()).astimezone(dt.UTC)
        self._lock = threading.RLock()
        self._seq = 0
        self._ids = itertools.count(1)
        self.injections: dict[str, Injection] = {}
        # What each active injection holds, by injection id: two injections of the same fault
        # on the same device are independent, and clearing one leaves the other in force.
        self._comm_lost_by: dict[str, str] = {}  # id → device

        self.engine = TwinEngine(station.circuit_path,
                                 base_frequency_hz=station.station.frequency_hz)
        station.check_circuit(self.engine.element_names, self.engine.bus_names,
                              self.engine.switch_element_names)
        self._base_loads = self.engine.load_setpoints()
        self._load_names = list(self._base_loads)
        self._load_cat = [profiles.category_of(n) for n in self._load_names]
        self._load_noise = [profiles.OrnsteinUhlenbeck(0.0, 0.01, 300.0, self.rng)
                            for _ in self._load_names]
        self._load_factor = np.ones(len(self._load_names))  # injected overloads
        self._freq = profiles.OrnsteinUhlenbeck(50.0, 0.015, 90.0, self.rng, x0=50.0)
        self._freq_prev = 50.0
        self.frequency_hz = 50.0
        self._source_pu = {s: 1.0 for s in self.engine.source_names}

        self._index_assets()
        self._init_equipment_state()
        self._build_evaluator()
        self._movements: dict[str, _Movement] = {}
        self._last_state: TwinState | None = None
        self._snapshot: PlantSnapshot | None = None
        self.step(0.0)

    # ================================================================== set-up
    def _index_assets(self) -> None:
        st, e = self.station, self.engine
        self._bay_breaker: dict[str, Asset] = {}
        for a in st.assets_of_type("breaker"):
            self._bay_breaker[a.bay] = a
        # Switch element → (bus1, bus2) for interlocks and protection zones.
        d = e.dss
        self._ends: dict[str, tuple[str, str]] = {}
        for a in st.switches():
            d.Circuit.SetActiveElement(a.element)
            b = [x.partition(".")[0].lower() for x in d.CktElement.BusNames()]
            self._ends[a.id] = (b[0], b[1])
        self._switch_by_id = {a.id: a for a in st.switches()}
        self._busbar_buses = {a.bus.lower() for a in st.assets_of_type("busbar") if a.bus}
        self._transformers = [a for a in st.assets_of_type("ict", "transformer")]
        self._outage_breakers = {c.asset: c.open for c in st.contingencies}

    def _init_equipment_state(self) -> None:
        st = self.station
        amb = profiles.ambient_c(self.clock)
        s0 = self.engine.solve()
        self.thermal: dict[str, ThermalModel] = {}
        self.dga: dict[str, DgaModel] = {}
        for a in self._transformers:
            k = s0.transformer_loading(a.element) / 100.0
            self.thermal[a.id] = ThermalModel(k=k, ambient_c=amb)
            self.dga[a.id] = DgaModel(self.rng, aged=1.0 + 0.3 * self.rng.random())
        for a in st.assets_of_type("reactor"):
            # Shunt reactors run continuously at rated current: designed for lower rises
            # (IEC 60076-6): top-oil 40 K, winding gradient 18 K, hot-spot factor 1.2.
            params = ThermalParams(delta_theta_or_k=40.0, gr_k=18.0, H=1.2, R=1.0)
            self.thermal[a.id] = ThermalModel(params, k=self._reactor_k(a, s0), ambient_c=amb)
            self.dga[a.id] = DgaModel(self.rng)
        # Each gas breaker's density-monitor stages from its nameplate (rated, alarm, lockout).
        self.sf6_stages = {a.id: (a.nameplate.sf6_rated_bar or SF6_RATED_BAR,
                                  a.nameplate.sf6_alarm_bar or SF6_ALARM_BAR,
                                  a.nameplate.sf6_lockout_bar or SF6_LOCKOUT_BAR)
                           for a in st.assets_of_type("breaker")}
        self.sf6_bar = {b: rated + float(self.rng.uniform(-0.15, 0.1))
                        for b, (rated, _, _) in self.sf6_stages.items()}
        self.sf6_leak_bar_h = dict.fromkeys(self.sf6_bar, 0.0)
        self._leak_by: dict[str, tuple[str, float]] = {}  # id → (breaker, bar/h)
        self.op_count = {a.id: int(self.rng.integers(80, 900)) for a in st.assets_of_type("breaker")}
        self.wear_pct = {a.id: float(self.rng.uniform(3, 25)) for a in st.assets_of_type("breaker")}
        self.surges = {a.id: int(self.rng.integers(0, 40))
                       for a in st.assets_of_type("lightning_arrester")}
        self._stuck_by: dict[str, str] = {}  # id → breaker
        self.tap_moving_until: dict[str, dt.datetime] = {}
        self._avr_timer = dict.fromkeys(self.thermal, 0.0)
        self._avr = {a.id: a.type == "transformer" for a in self._transformers}
        self._override: dict[int, float] = {}  # latched protection flags etc., by row
        self._frozen_by: dict[str, tuple[int, float, int]] = {}  # id → (row, value, t_ns)
        self._drift_by: dict[str, tuple[int, float, dt.datetime]] = {}  # id → (row, /h, since)
        self._failed_by: dict[str, int] = {}  # id → row
        self._nonfinite: dict[tuple[str, str], str] = {}  # (asset, model) → failing quantity

    @property
    def stuck(self) -> frozenset[str]:
        """Breakers that fail to open (``breaker_stuck``)."""
        return frozenset(self._stuck_by.values())

    @property
    def comm_lost(self) -> frozenset[str]:
        """Devices (bays) not answering (``comm_lost``)."""
        return frozenset(self._comm_lost_by.values())

    def _build_evaluator(self) -> None:
        """Resolve, once, where every point's value comes from."""
        pt, st = self.points, self.station
        n = len(pt)
        self.electrical = ElectricalPoints(st, pt, self.engine)
        self._asset_of_row = [st.asset(a) for a in pt.asset]
        self._groups = self.electrical.groups
        self._branch_of = self.electrical.branch_of
        self._bus_of = self.electrical.bus_of
        self._phase_of = self.electrical.phase_of
        self._defaults = np.array([1.0 if q in _HEALTHY_ONE else 0.0 for q in pt.quantity])
        analog = pt.kind == KIND_ANALOG
        self._sigma_rel = np.array([_NOISE_REL.get(q, 0.0) for q in pt.quantity]) * analog
        for i, a in enumerate(self._asset_of_row):
            cls = accuracy_class_pct(a.nameplate.accuracy_class)
            if cls is not None and _CLASS_MEASURES.get(a.type) == pt.quantity[i] and analog[i]:
                self._sigma_rel[i] = cls / 100.0 / 2.0
        self._sigma_abs = np.array([_NOISE_ABS.get(q, 0.0) for q in pt.quantity]) * analog
        # Per-asset scalar quantities, filled by name each step.
        self._rows_by_asset_q: dict[tuple[str, str], list[int]] = {}
        for i, (a, q) in enumerate(zip(pt.asset, pt.quantity, strict=True)):
            self._rows_by_asset_q.setdefault((a, q), []).append(i)
        # Energy registers (MWh / MVArh), demand maxima, static device constants.
        self._energy = np.zeros(n)
        for q in ("energy_import_mwh", "energy_export_mwh", "energy_import_mvarh",
                  "energy_export_mvarh"):
            rows = self._groups.get(q)
            if rows is not None:
                self._energy[rows] = self.rng.uniform(2e4, 4e5, size=len(rows)).round(1)
        self._demand = np.zeros(n)
        self._thd_base = self.rng.uniform(1.2, 3.5, size=n)
        self._bushing_c = self.rng.uniform(420.0, 560.0, size=n)
        self._bushing_td = self.rng.uniform(0.28, 0.42, size=n)
        self._panel_offset = self.rng.uniform(5.0, 10.0, size=n)
        self._oil_level = self.rng.uniform(62.0, 78.0, size=n)

    def noise_sigma(self, values: np.ndarray) -> np.ndarray:
        """Each point's 1-sigma instrument noise at these (true or measured) values, in the
        point's unit: the quantity's absolute noise plus its relative noise (or the
        instrument transformer's accuracy class) times the value. 0 for status points."""
        return self._sigma_abs + self._sigma_rel * np.abs(values)

    # ================================================================== stepping
    def step(self, dt_s: float | None = None) -> PlantSnapshot:
        """Advance by ``dt_s`` wall seconds (default: one tick) × speed; return the snapshot."""
        wall = self.tick_s if dt_s is None else dt_s
        dts = wall * self.speed
        # Non-finite intermediate results are caught below (one log line), not warned about.
        with self._lock, np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            self.clock += dt.timedelta(seconds=dts)
            now = self.clock
            self._finish_movements(now)
            self._drive_loads(now, dts)
            self._drive_frequency(dts)
            self._drive_sources()
            state = self._solve(now)
            if self._avr_step(state, dts):
                state = self._solve(now)
            amb = profiles.ambient_c(now)
            now_ns = int(now.timestamp() * 1e9)
            self._equipment_step(state, dts, amb, now_ns)
            values, qual, t_ns = self._evaluate(state, dts, amb, now, now_ns)
            self._keep_finite(values)
            self._last_state = state
            self._seq += 1
            for a in (values, qual, t_ns):
                a.setflags(write=False)
            snap = PlantSnapshot(seq=self._seq, timestamp=now, values=values, quality=qual,
                                 t_source_ns=t_ns, comm_lost=frozenset(self.comm_lost))
            self._snapshot = snap
            return snap

    def _solve(self, now: dt.datetime) -> TwinState:
        """The power flow; one that diverged into non-finite numbers is solved again from a
        fresh start (its loads may have come back within reach)."""
        state = self.engine.solve(now)
        if not _finite_flow(state):
            state = self.engine.solve_afresh(now)
        return state

    def _keep_finite(self, values: np.ndarray) -> None:
        """A point whose value came out non-finite keeps its last published value (one log
        line naming the first such point when it starts, one when all are finite again)."""
        bad = ~np.isfinite(values)
        key = ("*", "values")
        if not bad.any():
            if self._nonfinite.pop(key, None) is not None:
                log.warning("every point's value is finite again")
            return
        rows = np.flatnonzero(bad)
        prev = self._snapshot
        values[rows] = prev.values[rows] if prev is not None else 0.0
        values[rows] = np.nan_to_num(values[rows])
        if key not in self._nonfinite:
            i = int(rows[0])
            log.error("%s: %s would not be finite (%d point(s) in all); kept the last finite "
                      "values", self.points.asset[i], self.points.quantity[i], len(rows))
        self._nonfinite[key] = self.points.tags[int(rows[0])]

    def snapshot(self) -> PlantSnapshot:
        snap = self._snapshot
        assert snap is not None
        return snap

    @property
    def twin_state(self) -> TwinState | None:
        """The true electrical state at the last step (for tests and the trainer)."""
        return self._last_state

    def run(self, stop: threading.Event,
            on_snapshot: Callable[[PlantSnapshot], None] | None = None) -> None:
        """Step every ``tick_s`` of wall time until ``stop`` is set (the plant thread)."""
        import time

        next_t = time.monotonic()
        failing: str | None = None  # the failure being repeated, logged once
        failures = 0
        while not stop.is_set():
            try:
                snap = self.step()
                if on_snapshot is not None:
                    on_snapshot(snap)
                if failing is not None:
                    log.warning("plant stepping again after %d failed step(s)", failures)
                    failing, failures = None, 0
            except Exception as exc:  # keep the plant alive; one log line per failure episode
                what = f"{type(exc).__name__}: {exc}"
                failures += 1
                if what != failing:
                    log.exception("plant step failed (logged once until it steps again)")
                    failing = what
            next_t += self.tick_s
            delay = next_t - time.monotonic()
            if delay < -1.0:  # far behind (suspended?): resynchronise
                next_t = time.monotonic()
            stop.wait(max(0.0, delay))

    # ------------------------------------------------------------------ drivers
    def _drive_loads(self, now: dt.datetime, dts: float) -> None:
        p = np.empty(len(self._load_names))
        q = np.empty(len(self._load_names))
        for k, name in enumerate(self._load_names):
            p0, q0 = self._base_loads[name]
            f = profiles.shape(self._load_cat[k], now) * (1.0 + self._load_noise[k].step(dts))
            f *= self._load_factor[k]
            p[k], q[k] = p0 * f, q0 * f
        self.engine.set_loads_array(p, q)

    def _drive_frequency(self, dts: float) -> None:
        inj = self._first("frequency_excursion")
        if inj is not None:
            target = float(inj.params.get("target_hz", 49.7))
            ramp = float(inj.params.get("ramp_s", 20.0))
            el = (self.clock - inj.started).total_seconds()
            start = inj.state.setdefault("from_hz", self.frequency_hz)
            mu = start + (target - start) * min(1.0, el / ramp if ramp > 0 else 1.0)
            self._freq.mu = mu
            self._freq.x += (mu - self._freq.x) * min(1.0, dts / 2.0)
        else:
            self._freq.mu = 50.0
        self._freq_prev = self.frequency_hz
        self.frequency_hz = self._freq.step(dts) if dts > 0 else self._freq.x
        self.engine.set_frequency(self.frequency_hz)

    def _drive_sources(self) -> None:
        inj = self._first("overvoltage")
        pu = float(inj.params.get("pu", 1.08)) if inj is not None else 1.0
        for s in self.engine.source_names:
            if self._source_pu[s] != pu:
                self.engine.set_source(s, pu=pu)
                self._source_pu[s] = pu

    def _avr_step(self, state: TwinState, dts: float) -> bool:
        """OLTC automatic voltage control of the 220/33 kV transformers (30 s delay)."""
        changed = False
        if not _finite_flow(state):
            return False  # a diverged flow measures nothing: the relay holds its tap
        for a in self._transformers:
            if not self._avr[a.id]:
                continue
            lv_bus = self._lv_bus(a)
            if lv_bus is None or not state.energised[lv_bus]:
                self._avr_timer[a.id] = 0.0
                continue
            pu = float(np.nanmean(state.v_pu[lv_bus]))
            band = 0.0125
            if abs(pu - 1.0) <= band:
                self._avr_timer[a.id] = 0.0
                continue
            self._avr_timer[a.id] += dts
            if self._avr_timer[a.id] < 30.0:
                continue
            self._avr_timer[a.id] = 0.0
            tap = self.engine.tap(a.element)
            step = 0.2 / 16
            new = tap + step if pu < 1.0 else tap - step
            try:
                self.engine.set_tap(a.element, round(new, 6))
            except ValueError:
                continue  # at the end stop
            self.tap_moving_until[a.id] = self.clock + dt.timedelta(seconds=5)
            changed = True
        return changed

    def _lv_bus(self, a: Asset) -> int | None:
        d = self.engine.dss
        d.Circuit.SetActiveElement(a.element)
        buses = d.CktElement.BusNames()
        if len(buses) < 2:
            return None
        return self.engine.bus_index(buses[1].partition(".")[0])

    def _equipment_step(self, state: TwinState, dts: float, amb: float, now_ns: int) -> None:
        for a in self._transformers:
            k = state.transformer_loading(a.element) / 100.0
            self._guard(a.id, self.thermal[a.id].step(dts, k, amb))
            self._guard(a.id, self.dga[a.id].step(dts, self.thermal[a.id].hot_spot_c, now_ns),
                        "dga")
        for a in self.station.assets_of_type("reactor"):
            self._guard(a.id, self.thermal[a.id].step(dts, self._reactor_k(a, state), amb))
            self._guard(a.id, self.dga[a.id].step(dts, self.thermal[a.id].hot_spot_c, now_ns),
                        "dga")
        for bid, rate in self.sf6_leak_bar_h.items():
            bar = self.sf6_bar[bid] - rate * dts / 3600.0 if rate else self.sf6_bar[bid]
            if self._guard(bid, None if math.isfinite(bar) else "sf6_pressure_bar", "sf6"):
                self.sf6_bar[bid] = max(0.0, bar)

    def _guard(self, asset_id: str, failed: str | None, model: str = "thermal") -> bool:
        """Note one integrator's outcome: ``failed`` names the quantity that would have gone
        non-finite (the model kept its last finite state). One log line when an asset's
        quantity starts failing and one when it integrates again — never one per step."""
        key = (asset_id, model)
        if failed is None:
            if self._nonfinite.pop(key, None) is not None:
                log.warning("%s: %s finite again", asset_id, model)
            return True
        if key not in self._nonfinite:
            log.error("%s: %s would not be finite (%s model); kept its last finite state",
                      asset_id, failed, model)
        self._nonfinite[key] = failed
        return False

    def _reactor_k(self, a: Asset, state: TwinState) -> float:
        """Load factor of a shunt reactor: its current over rated current."""
        i = state.branch_index(a.element)
        kv = self.station.bay(a.bay).voltage_kv
        rated_a = (a.nameplate.rated_mva or 1.0) * 1e3 / (math.sqrt(3) * kv)
        return float(np.nanmean(state.i_a[i])) / rated_a if state.closed[i] else 0.0

    # ------------------------------------------------------------------ evaluation
    def _evaluate(self, s: TwinState, dts: float, amb: float, now: dt.datetime, now_ns: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pt = self.points
        v = self._defaults.copy()
        g = self._groups
        br, bu, ph = self._branch_of, self._bus_of, self._phase_of
        live_bus = s.energised

        def rows(q: str) -> np.ndarray:
            return g.get(q, np.empty(0, dtype=np.intp))

        rocof = (self.frequency_hz - self._freq_prev) / dts if dts > 0 else 0.0
        self.electrical.fill(v, s, self.frequency_hz, rocof)
        r = rows("voltage_unbalance_pct")
        if len(r):
            v[r] += 0.15  # the network is balanced; real buses are not quite
        i_ph = np.nan_to_num(s.i_phasor)
        i_mag = np.abs(i_ph)
        r = rows("current_thd_pct")
        if len(r):
            v[r] = np.where(i_mag[br[r], np.clip(ph[r], 0, 2)] > 1.0, self._thd_base[r], 0.0)
        r = rows("demand_current_a")
        if len(r):
            self._demand[r] = np.maximum(self._demand[r], i_mag[br[r]].mean(axis=1))
            v[r] = self._demand[r]
        # Energy registers: export = out of the busbar (P > 0), import = into it.
        if dts > 0:
            h = dts / 3600.0
            for q, src, sign in (("energy_export_mwh", s.p_mw, 1), ("energy_import_mwh", s.p_mw, -1),
                                 ("energy_export_mvarh", s.q_mvar, 1),
                                 ("energy_import_mvarh", s.q_mvar, -1)):
                r = rows(q)
                if len(r):
                    self._energy[r] += np.maximum(sign * src[br[r]], 0.0) * h
        for q in ("energy_import_mwh", "energy_export_mwh", "energy_import_mvarh",
                  "energy_export_mvarh"):
            r = rows(q)
            if len(r):
                v[r] = self._energy[r]
        # Differential / bias currents of the bay's differential relays: CT mismatch ~1 %.
        r = rows("bias_current_a")
        if len(r):
            v[r] = i_mag[br[r], np.clip(ph[r], 0, 2)]
        r = rows("differential_current_a")
        if len(r):
            v[r] = 0.01 * i_mag[br[r], np.clip(ph[r], 0, 2)]
        r = rows("unbalance_a")
        if len(r):
            v[r] = 0.02 + 0.001 * i_mag[br[r]].mean(axis=1)
        r = rows("leakage_ma")
        if len(r):
            vv = np.where(live_bus[bu[r]], np.nanmean(s.v_pu[bu[r]], axis=1), 0.0)
            v[r] = 0.55 * vv ** 6
        r = rows("resistive_leakage_ma")
        if len(r):
            vv = np.where(live_bus[bu[r]], np.nanmean(s.v_pu[bu[r]], axis=1), 0.0)
            v[r] = 0.08 * vv ** 12
        # Switch positions (intermediate while moving).
        r = rows("position")
        if len(r):
            for i in r:
                if pt.asset[i] in self._movements:
                    v[i] = POS_INTERMEDIATE
        # Scalars per asset.
        ok = self._set_scalar
        for a in self._transformers:
            th, dg = self.thermal[a.id], self.dga[a.id]
            ti = s.transformer_ix[a.element.lower()]
            ok(v, a.id, "loading_pct", float(s.transformer_loading_pct[ti]))
            ok(v, a.id, "losses_kw", float(s.transformer_losses_kw[ti]))
            ok(v, a.id, "top_oil_c", th.top_oil_c)
            ok(v, a.id, "hot_spot_c", th.hot_spot_c)
            ok(v, a.id, "winding_c", th.hot_spot_c - 3.0)
            ok(v, a.id, "ambient_c", amb)
            ok(v, a.id, "ageing_rate", th.ageing_rate)
            ok(v, a.id, "loss_of_life_h", th.loss_of_life_h)
            tap = float(s.tap_pu[ti])
            steps = 32 if (a.nameplate.rated_mva or 0) > 100 else 16
            ok(v, a.id, "tap_position", round((tap - 0.9) / (0.2 / steps)) + 1)
            ok(v, a.id, "cooler_running", 1.0 if th.top_oil_c > 60 else 0.0)
            ok(v, a.id, "avr_auto", 1.0 if self._avr[a.id] else 0.0)
            moving = self.tap_moving_until.get(a.id)
            ok(v, a.id, "tap_changer_moving", 1.0 if moving and moving > now else 0.0)
            for gname, ppm in zip(GASES, dg.sampled, strict=True):
                ok(v, a.id, f"gas_{gname}_ppm", float(ppm))
            ok(v, a.id, "tdcg_ppm", dg.tdcg_ppm())
            ok(v, a.id, "oil_moisture_ppm", dg.moisture_ppm + 0.05 * (th.top_oil_c - 50))
        for a in self.station.assets_of_type("reactor"):
            th, dg = self.thermal[a.id], self.dga[a.id]
            ok(v, a.id, "top_oil_c", th.top_oil_c)
            ok(v, a.id, "winding_c", th.hot_spot_c - 3.0)
            for gname, ppm in zip(GASES, dg.sampled, strict=True):
                ok(v, a.id, f"gas_{gname}_ppm", float(ppm))
        for bid, bar in self.sf6_bar.items():
            ok(v, bid, "sf6_pressure_bar", bar)
            _, alarm_bar, lockout_bar = self.sf6_stages[bid]
            ok(v, bid, "sf6_low_alarm", 1.0 if bar < alarm_bar else 0.0)
            ok(v, bid, "sf6_lockout", 1.0 if bar < lockout_bar else 0.0)
            ok(v, bid, "operations", float(self.op_count[bid]))
            ok(v, bid, "contact_wear_pct", self.wear_pct[bid])
        for lid, n in self.surges.items():
            ok(v, lid, "surge_count", float(n))
        for q, val in (("ambient_c", amb), ("humidity_pct", 78.0 - 1.6 * (amb - 22.0)),
                       ("solar_irradiance_wm2", profiles.solar_wm2(now)),
                       ("wind_speed_ms", 2.5 + 1.5 * math.sin(now.timestamp() / 5400.0)),
                       ("rain_mm_h", 0.0)):
            r = rows(q)
            if len(r):
                v[r] = val
        for q in ("dc_voltage_v", "dc_current_a"):
            for i in rows(q):
                nominal = self._asset_of_row[i].nameplate.rated_kv * 1000
                v[i] = (nominal * (1.09 if nominal > 100 else 1.075)) if q == "dc_voltage_v" \
                    else (12.0 if nominal > 100 else 4.0)
        r = rows("panel_temperature_c")
        if len(r):
            v[r] = amb + self._panel_offset[r]
        r = rows("battery_temperature_c")
        if len(r):
            v[r] = 24.0 + 0.1 * (amb - 28.0)
        r = rows("oil_level_pct")
        if len(r):
            v[r] = self._oil_level[r]
        r = rows("bushing_capacitance_pf")
        if len(r):
            v[r] = self._bushing_c[r]
        r = rows("bushing_tan_delta_pct")
        if len(r):
            v[r] = self._bushing_td[r]

        # Latched flags (protection operations …) override computed values.
        for i, val in self._override.items():
            v[i] = val
        # Instrument noise, then range limits.
        n = len(v)
        noise = self.rng.standard_normal(n)
        v = v + np.where(v != 0.0, noise * self.noise_sigma(v), 0.0)
        qual = np.zeros(n, dtype=np.uint16)
        t_ns = np.full(n, now_ns, dtype=np.int64)
        for gname in GASES:
            for a_id, dg in self.dga.items():
                for i in self._rows_by_asset_q.get((a_id, f"gas_{gname}_ppm"), ()):
                    t_ns[i] = dg.sample_time_ns
        analog = pt.kind == KIND_ANALOG
        lo, hi = pt.range_lo, pt.range_hi
        over = analog & ~np.isnan(hi) & ((v > hi) | (v < lo))
        if over.any():
            qual[over] |= Q.QUESTIONABLE | Q.OUT_OF_RANGE
            v = np.where(over, np.clip(v, lo, hi), v)
        # Sensor faults.
        for i, rate, started in self._drift_by.values():
            v[i] += rate * (now - started).total_seconds() / 3600.0
        for i in self._failed_by.values():
            qual[i] = Q.SENSOR_FAILED
        frozen: dict[int, tuple[float, int]] = {}
        for i, val, t0 in self._frozen_by.values():
            frozen.setdefault(i, (val, t0))  # the first injection froze it
        for i, (val, t0) in frozen.items():
            v[i] = val
            t_ns[i] = t0
            qual[i] = Q.SENSOR_FROZEN
        return v, qual, t_ns

    def _set_scalar(self, v: np.ndarray, asset_id: str, quantity: str, value: float) -> None:
        for i in self._rows_by_asset_q.get((asset_id, quantity), ()):
            v[i] = value

    # ================================================================== control
    def check_interlock(self, asset_id: str, close: bool) -> str | None:
        """The bay IED's own interlocks: why it would refuse this operation now, or None."""
        with self._lock:
            a = self._switch_by_id.get(asset_id)
            if a is None:
                return f"{asset_id} is not a switching device"
            e = self.engine
            if a.type == "breaker":
                if a.id in self.sf6_bar:
                    bar, lockout_bar = self.sf6_bar[a.id], self.sf6_stages[a.id][2]
                    if bar < lockout_bar:
                        return f"{a.id}: SF6 density {bar:.2f} bar below lockout {lockout_bar:g}"
                return None
            bay_cb = self._bay_breaker.get(a.bay)
            if a.type == "isolator":
                under_load = bay_cb is not None and (e.is_closed(bay_cb.element)
                                                     or bay_cb.id in self._movements)
                if under_load and not self._bus_transfer_allowed(a):
                    return f"{a.id}: bay breaker {bay_cb.id} is closed"
                if close:
                    for es in self._bay_earth_switches(a.bay):
                        if e.is_closed(es.element) and self._shares_node(a.id, es.id):
                            return f"{a.id}: earth switch {es.id} is closed"
                return None
            if a.type == "earth_switch" and close:
                node = self._ends[a.id][0]
                live = e.energised_buses()[e.bus_index(node)]
                if live:
                    return f"{a.id}: {node.upper()} is live"
                for iso in self.station.switches():
                    if iso.bay == a.bay and iso.type == "isolator" and e.is_closed(iso.element) \
                            and node in self._ends[iso.id]:
                        return f"{a.id}: disconnector {iso.id} is closed"
            return None

    def _bus_transfer_allowed(self, a: Asset) -> bool:
        """A bus disconnector may move under load while the bay's other bus disconnector and
        the whole bus coupler are closed (the buses are paralleled: no voltage across it)."""
        if not set(self._ends[a.id]) & self._busbar_buses:
            return False
        e = self.engine
        other = [s for s in self.station.switches() if s.bay == a.bay and s.id != a.id
                 and s.type == "isolator" and set(self._ends[s.id]) & self._busbar_buses]
        if not any(e.is_closed(s.element) for s in other):
            return False
        kv = self.station.bay(a.bay).voltage_kv
        coupler = [s for b in self.station.bays if b.kind == "coupler" and b.voltage_kv == kv
                   for s in self.station.switches() if s.bay == b.id]
        return bool(coupler) and all(e.is_closed(s.element) and s.id not in self._movements
                                     for s in coupler)

    def _bay_earth_switches(self, bay: str) -> list[Asset]:
        return [s for s in self.station.switches() if s.bay == bay and s.type == "earth_switch"]

    def _shares_node(self, a: str, b: str) -> bool:
        return bool(set(self._ends[a]) & set(self._ends[b]))

    def operate(self, asset_id: str, close: bool, *, origin: str = "remote") -> ControlResult:
        """Start an operation as the bay IED would; the position follows after the device's
        operating time. Refusals carry an IEC 61850 AddCause."""
        with self._lock:
            a = self._switch_by_id.get(asset_id)
            if a is None:
                return ControlResult(False, ADD_CAUSE_UNKNOWN, f"{asset_id} is not a switch")
            if a.bay in self.comm_lost:
                return ControlResult(False, ADD_CAUSE_UNKNOWN, f"{a.bay} is not answering")
            if a.id in self._movements:
                return ControlResult(False, ADD_CAUSE_UNKNOWN, f"{a.id} is already moving")
            if self.engine.is_closed(a.element) == close:
                return ControlResult(False, ADD_CAUSE_POSITION_REACHED,
                                     f"{a.id} is already {'closed' if close else 'open'}")
            why = self.check_interlock(a.id, close)
            if why is not None:
                cause = ADD_CAUSE_BLOCKED_BY_HEALTH if "SF6" in why else \
                    ADD_CAUSE_BLOCKED_BY_INTERLOCKING
                log.info("%s %s refused by bay interlock: %s", a.id,
                         "close" if close else "open", why)
                return ControlResult(False, cause, why)
            if not close and a.id in self.stuck:
                # Fails to open: the trip coil is energised, the mechanism does not move.
                log.info("%s accepted open but is stuck closed", a.id)
                return ControlResult(True, "", f"{a.id} operate accepted")
            travel = self.travel_s.get(a.type, 0.1)
            self._movements[a.id] = _Movement(a.id, a.element, close,
                                              self.clock + dt.timedelta(seconds=travel))
            log.info("%s %s by %s", a.id, "closing" if close else "opening", origin)
            if travel <= 0:
                self._finish_movements(self.clock)
            return ControlResult(True, "", f"{a.id} {'closing' if close else 'opening'}")

    def _finish_movements(self, now: dt.datetime) -> None:
        done = [m for m in self._movements.values() if m.done_at <= now]
        for m in done:
            del self._movements[m.asset]
            self._switch_now(m.asset, m.close)

    def _switch_now(self, asset_id: str, close: bool) -> None:
        a = self._switch_by_id[asset_id]
        st = self._last_state
        if self.engine.set_switch(a.element, close) and a.type == "breaker":
            self.op_count[a.id] += 1
            if st is not None:
                i = float(np.nanmax(st.i_a[st.branch_index(a.element)]))
                self.wear_pct[a.id] = min(100.0, self.wear_pct[a.id] + 1e-7 * i * i)

    def position(self, asset_id: str) -> int:
        with self._lock:
            if asset_id in self._movements:
                return POS_INTERMEDIATE
            a = self._switch_by_id[asset_id]
            return POS_CLOSED if self.engine.is_closed(a.element) else POS_OPEN

    # ================================================================== faults
    def inject(self, kind: str, **params: Any) -> str:
        """Inject a fault; returns its id (for :meth:`clear`). See :data:`FAULT_KINDS`."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault '{kind}' (use one of {', '.join(FAULT_KINDS)})")
        with self._lock:
            inj = Injection(f"{kind}-{next(self._ids)}", kind, dict(params), self.clock)
            getattr(self, f"_inject_{kind}")(inj)
            self.injections[inj.id] = inj
            log.warning("fault injected: %s %s", inj.id, params)
            return inj.id

    def clear(self, injection_id: str | None = None) -> list[str]:
        """Clear one injection, or all when ``injection_id`` is None. Returns what was cleared.
        Protection flags stay latched until :meth:`reset_protection`."""
        with self._lock:
            if injection_id is not None and injection_id not in self.injections:
                raise KeyError(f"no injection '{injection_id}'")
            ids = list(self.injections) if injection_id is None else [injection_id]
            for i in ids:
                inj = self.injections.pop(i)
                undo = getattr(self, f"_clear_{inj.kind}", None)
                try:
                    if undo is not None:
                        undo(inj)
                except Exception:  # one undo failing must not leave the others in force
                    log.exception("clearing %s failed", inj.id)
                log.warning("fault cleared: %s", inj.id)
            if injection_id is None:
                self._forget_all_injections()
            return ids

    def _forget_all_injections(self) -> None:
        """With no injection left, nothing an injection holds may stay in force."""
        self._load_factor = np.ones(len(self._load_names))
        for held in (self._comm_lost_by, self._stuck_by, self._frozen_by, self._drift_by,
                     self._failed_by, self._leak_by):
            held.clear()
        self._sum_leaks()
        for model in self.dga.values():
            model.clear()
        for src in self.engine.source_names:
            self.engine.set_source_in_service(src, True)

    def reset_protection(self) -> None:
        """Reset latched protection flags (the operator's relay reset)."""
        with self._lock:
            self._override.clear()

    def _first(self, kind: str) -> Injection | None:
        for inj in self.injections.values():
            if inj.kind == kind:
                return inj
        return None

    def _rows(self, asset_id: str, quantity: str) -> list[int]:
        return self._rows_by_asset_q.get((asset_id, quantity), [])

    def _asset(self, params: dict[str, Any], key: str = "asset", types: tuple[str, ...] = ()
               ) -> Asset:
        if key not in params:
            raise ValueError(f"parameter '{key}' is required")
        try:
            a = self.station.asset(str(params[key]))
        except KeyError as exc:
            raise ValueError(str(exc.args[0])) from None
        if types and a.type not in types:
            raise ValueError(f"{a.id} is a {a.type}, expected {' or '.join(types)}")
        return a

    def _point_row(self, params: dict[str, Any]) -> int:
        if "point" not in params:
            raise ValueError("parameter 'point' (ASSET.POINT) is required")
        try:
            return self.points.row(str(params["point"]))
        except KeyError as exc:
            raise ValueError(str(exc.args[0])) from None

    @staticmethod
    def _num(inj: Injection, key: str, default: float) -> float:
        """Parameter ``key`` of ``inj`` as a finite float (stored back, so status shows what
        applies); anything else is refused naming the parameter."""
        raw = inj.params.get(key, default)
        if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
            raise ValueError(f"parameter '{key}' must be a number, not {type(raw).__name__}")
        try:
            value = float(raw)
        except (ValueError, OverflowError):
            shown = f"an integer of {raw.bit_length()} bits" if isinstance(raw, int) \
                else repr(raw)[:40]
            raise ValueError(f"parameter '{key}': {shown} is not a usable number") from None
        if not math.isfinite(value):
            raise ValueError(f"parameter '{key}' must be finite, not {value}")
        inj.params[key] = value
        return value

    def _refuse_over_limit(self, inj: Injection, what: str, combined: float, unit: str,
                           others: list[str]) -> None:
        limit = MAX_COMBINED[inj.kind]
        if combined > limit * (1 + 1e-9):
            stacked = f" with {', '.join(others)} active" if others else ""
            raise ValueError(
                f"{inj.kind} refused: {what}{stacked} would reach {combined:.4g}{unit}, "
                f"above the limit of {limit:g}{unit} (MAX_COMBINED['{inj.kind}']); "
                f"clear one first")

    def _active(self, kind: str) -> list[Injection]:
        return [i for i in self.injections.values() if i.kind == kind]

    # each kind ----------------------------------------------------------
    def _inject_overvoltage(self, inj: Injection) -> None:
        pu = self._num(inj, "pu", 1.08)
        if not 0.5 < pu < 1.5:
            raise ValueError(f"overvoltage pu {pu} is not plausible (0.5 < pu < 1.5)")

    def _inject_transformer_overload(self, inj: Injection) -> None:
        a = self._asset(inj.params, types=("ict", "transformer"))
        factor = self._num(inj, "factor", 1.4)
        if not 1.0 < factor < 3.0:
            raise ValueError(f"overload factor {factor} must be between 1 and 3")
        fed = self._loads_fed_by(a)
        combined = self._load_factors(extra=(fed, factor))
        worst = int(np.argmax(combined))
        others = [i.id for i in self._active(inj.kind) if worst in i.state["loads"]]
        self._refuse_over_limit(
            inj, f"the combined overload of {self._load_names[worst]}", float(combined[worst]),
            "×", others)
        inj.state["loads"] = fed
        self._load_factor = self._load_factors(extra=(fed, factor))

    def _clear_transformer_overload(self, inj: Injection) -> None:
        self._load_factor = self._load_factors()

    def _load_factors(self, extra: tuple[list[int], float] | None = None) -> np.ndarray:
        """Each load's factor from the active overloads (recomputed, never divided back, so
        clearing them all leaves exactly 1)."""
        f = np.ones(len(self._load_names))
        held = [(i.state["loads"], float(i.params["factor"])) for i in self.injections.values()
                if i.kind == "transformer_overload" and "loads" in i.state]
        for loads, factor in held + ([extra] if extra else []):
            f[loads] *= factor
        return f

    def _loads_fed_by(self, a: Asset) -> list[int]:
        e = self.engine
        changed = [el for b in self._outage_breakers.get(a.id, ())
                   if (el := self.station.asset(b).element) and e.set_switch(el, False)]
        try:
            served = e.solve().load_served()
        finally:
            for el in changed:
                e.set_switch(el, True)
            e.solve()
        fed = [k for k in range(len(self._load_names)) if not served[k]]
        return fed or list(range(len(self._load_names)))

    def _inject_frequency_excursion(self, inj: Injection) -> None:
        t = self._num(inj, "target_hz", 49.7)
        if not 47.0 <= t <= 52.0:
            raise ValueError(f"target frequency {t} Hz outside 47–52 Hz")
        if self._num(inj, "ramp_s", 20.0) < 0:
            raise ValueError("parameter 'ramp_s' must be >= 0")

    def _inject_breaker_stuck(self, inj: Injection) -> None:
        a = self._asset(inj.params, types=("breaker",))
        self._stuck_by[inj.id] = a.id

    def _clear_breaker_stuck(self, inj: Injection) -> None:
        self._stuck_by.pop(inj.id, None)

    def _inject_comm_lost(self, inj: Injection) -> None:
        dev = str(inj.params.get("device", ""))
        if dev not in {d.id for d in self.points.devices}:
            raise ValueError(f"no device '{dev}' (devices are bay ids, e.g. F1, ICT1H)")
        self._comm_lost_by[inj.id] = dev

    def _clear_comm_lost(self, inj: Injection) -> None:
        self._comm_lost_by.pop(inj.id, None)

    def _inject_sensor_stuck(self, inj: Injection) -> None:
        i = self._point_row(inj.params)
        snap = self._snapshot
        val = float(snap.values[i]) if snap is not None else 0.0
        t0 = int(snap.t_source_ns[i]) if snap is not None else 0
        self._frozen_by[inj.id] = (i, val, t0)

    def _clear_sensor_stuck(self, inj: Injection) -> None:
        self._frozen_by.pop(inj.id, None)

    def _inject_sensor_drift(self, inj: Injection) -> None:
        i = self._point_row(inj.params)
        rate = self._num(inj, "rate_per_h", 1.0)
        span = float(self.points.range_hi[i] - self.points.range_lo[i])
        if not math.isfinite(span) or span <= 0:
            raise ValueError(f"{self.points.tags[i]} has no instrument range: only analog "
                             "points drift")
        on_point = [(k, r) for k, (row, r, _) in self._drift_by.items() if row == i]
        combined = (abs(rate) + sum(abs(r) for _, r in on_point)) / span
        self._refuse_over_limit(inj, f"the drift of {self.points.tags[i]}", combined,
                                " spans/h", [k for k, _ in on_point])
        self._drift_by[inj.id] = (i, rate, self.clock)

    def _clear_sensor_drift(self, inj: Injection) -> None:
        self._drift_by.pop(inj.id, None)

    def _inject_sensor_fail(self, inj: Injection) -> None:
        self._failed_by[inj.id] = self._point_row(inj.params)

    def _clear_sensor_fail(self, inj: Injection) -> None:
        self._failed_by.pop(inj.id, None)

    def _inject_dga_fault(self, inj: Injection) -> None:
        a = self._asset(inj.params, types=("ict", "transformer", "reactor"))
        severity = self._num(inj, "severity", 1.0)
        ramp_h = self._num(inj, "ramp_h", 6.0)
        model = self.dga[a.id]
        others = [i.id for i in self._active(inj.kind) if i.params.get("asset") == a.id]
        self._refuse_over_limit(inj, f"the combined DGA severity in {a.id}",
                                model.severity_total() + max(severity, 0.0), "", others)
        model.inject(str(inj.params.setdefault("code", "T3")), severity=severity,
                     ramp_h=ramp_h, key=inj.id)

    def _clear_dga_fault(self, inj: Injection) -> None:
        self.dga[str(inj.params["asset"])].clear(inj.id)

    def _inject_sf6_leak(self, inj: Injection) -> None:
        a = self._asset(inj.params, types=("breaker",))
        if a.id not in self.sf6_bar:
            raise ValueError(f"{a.id} is a vacuum breaker: no SF6")
        rate = self._num(inj, "bar_per_h", 0.2)
        if rate <= 0:
            raise ValueError("parameter 'bar_per_h' must be > 0")
        others = [k for k, (bid, _) in self._leak_by.items() if bid == a.id]
        self._refuse_over_limit(inj, f"the SF6 leak of {a.id}",
                                self.sf6_leak_bar_h[a.id] + rate, " bar/h", others)
        self._leak_by[inj.id] = (a.id, rate)
        self._sum_leaks()

    def _clear_sf6_leak(self, inj: Injection) -> None:
        self._leak_by.pop(inj.id, None)
        self._sum_leaks()

    def _sum_leaks(self) -> None:
        self.sf6_leak_bar_h = dict.fromkeys(self.sf6_bar, 0.0)
        for bid, rate in self._leak_by.values():
            self.sf6_leak_bar_h[bid] += rate

    def _inject_line_trip(self, inj: Injection) -> None:
        a = self._asset(inj.params, types=("line", "feeder"))
        cb = self._bay_breaker.get(a.bay)
        if cb is None:
            raise ValueError(f"{a.id} has no breaker to trip")
        ftype = str(inj.params.setdefault("type", "LG"))
        bus = self._ends[cb.id][1]
        res = fault_study(self.engine, [bus], [ftype])[0]
        km = self._num(inj, "km", round(float(self.rng.uniform(5, 60)), 1))
        if km < 0:
            raise ValueError("parameter 'km' must be >= 0")
        for relay in self._relays_of_bay(a.bay):
            self._latch(relay.id, "operated", 1)
            self._latch(relay.id, "pickup", 1)
            self._latch(relay.id, "disturbance_record_ready", 1)
            self._latch(relay.id, "fault_current_ka", res.current_ka)
            self._latch(relay.id, "fault_distance_km", km)
            for i in self._rows(relay.id, "zone_operated")[:1]:
                self._override[i] = 1.0
            phases = {"LG": "A", "LL": "AB", "LLG": "AB", "3ph": "ABC"}.get(ftype, "ABC")
            for i in self._rows(relay.id, "trip"):
                if self.points.phase[i] in phases:
                    self._override[i] = 1.0
        self._trip(cb.id, inj)

    def _inject_bus_fault(self, inj: Injection) -> None:
        a = self._asset(inj.params, types=("busbar",))
        ftype = str(inj.params.setdefault("type", "LG"))
        bus = a.bus.lower() if a.bus else ""
        if not self.engine.energised_buses()[self.engine.bus_index(bus)]:
            raise ValueError(f"{a.id} is dead: nothing to fault")
        res = fault_study(self.engine, [bus], [ftype])[0]
        zone = self._busbar_zone(bus)
        inj.state["zone"] = zone
        for relay in self.station.assets_of_type("relay"):
            if relay.logical_node == "PDIF" and relay.bay == a.bay:
                self._latch(relay.id, "operated", 1)
                self._latch(relay.id, "pickup", 1)
                self._latch(relay.id, "fault_current_ka", res.current_ka)
                self._latch(relay.id, "disturbance_record_ready", 1)
                for i in self._rows(relay.id, "trip"):
                    self._override[i] = 1.0
        for cb in zone:
            self._trip(cb, inj)

    def _trip(self, cb_id: str, inj: Injection) -> None:
        """Protection trip of a breaker; a stuck breaker starts breaker-failure back-up."""
        cb = self._switch_by_id[cb_id]
        if cb_id in self.stuck:
            log.warning("%s failed to open: breaker failure protection operates", cb_id)
            for relay in self._relays_of_bay(cb.bay):
                self._latch(relay.id, "breaker_failure_operated", 1)
            self._breaker_failure_backup(cb, inj)
            return
        if self.engine.is_closed(cb.element):
            self._switch_now(cb_id, False)
        inj.state.setdefault("tripped", []).append(cb_id)

    def _breaker_failure_backup(self, cb: Asset, inj: Injection) -> None:
        bay = self.station.bay(cb.bay)
        if bay.kind == "line":
            line = self.station.asset(f"{cb.bay}_LINE").element
            src = self.engine.line_source(line) if line else None  # the grid at its far end
            if src and self.engine.set_source_in_service(src, False):
                inj.state.setdefault("remote_tripped", []).append(src)
                log.warning("direct transfer trip: remote end of %s opened", cb.bay)
        for breakers in self._outage_breakers.values():
            if cb.id in breakers:
                for other in breakers:
                    if other != cb.id and other not in self.stuck:
                        self._trip(other, inj)
        for bus in self._ends[cb.id]:
            for other in self._busbar_zone(bus):
                if other != cb.id and other not in self.stuck and \
                        self.engine.is_closed(self._switch_by_id[other].element):
                    self._trip(other, inj)

    def _clear_bus_fault(self, inj: Injection) -> None:
        self._restore_remote(inj)

    def _clear_line_trip(self, inj: Injection) -> None:
        self._restore_remote(inj)

    def _restore_remote(self, inj: Injection) -> None:
        for src in inj.state.get("remote_tripped", []):
            self.engine.set_source_in_service(src, True)

    def _busbar_zone(self, bus: str) -> list[str]:
        """Breakers connected to ``bus`` through closed disconnectors (the busbar zone)."""
        seen_bus, zone, todo = {bus}, [], [bus]
        while todo:
            b = todo.pop()
            for sid, (b1, b2) in self._ends.items():
                if b not in (b1, b2):
                    continue
                s = self._switch_by_id[sid]
                other = b2 if b == b1 else b1
                if s.type == "breaker":
                    if self.engine.is_closed(s.element) and sid not in zone:
                        zone.append(sid)
                elif s.type == "isolator" and self.engine.is_closed(s.element) and \
                        other not in seen_bus and other not in self._busbar_buses:
                    seen_bus.add(other)
                    todo.append(other)
        return zone

    def _relays_of_bay(self, bay: str) -> list[Asset]:
        return [r for r in self.station.assets_of_type("relay") if r.bay == bay]

    def _latch(self, asset_id: str, quantity: str, value: float) -> None:
        for i in self._rows(asset_id, quantity):
            self._override[i] = float(value)

    def status(self) -> dict[str, Any]:
        with self._lock:
            st = self._last_state
            return {
                "time": self.clock.isoformat(), "seq": self._seq, "speed": self.speed,
                "frequency_hz": round(self.frequency_hz, 4),
                "load_mw": round(st.totals.load_mw, 3) if st else None,
                "dead_buses": list(st.dead_buses()) if st else [],
                "injections": [i.as_dict() for i in self.injections.values()],
                "comm_lost": sorted(self.comm_lost), "stuck": sorted(self.stuck),
                "moving": sorted(self._movements),
            }
