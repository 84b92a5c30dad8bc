"""The plant simulator: the physical substation's stand-in.

Each :meth:`PlantSimulator.step` advances simulated time by ``tick × speed`` and

1. moves the loads along their daily profiles (with noise and any injected overload), the grid
   frequency around 50 Hz and the grid's voltage (:mod:`app.field.sim.drivers`);
2. solves its own twin engine for the true electrical state (switching in progress shows as
   an intermediate position; a breaker reaches its new position after its operating time,
   a motorised disconnector after its travel time: :mod:`app.field.sim.switchgear`);
3. runs the IEC 60076-7 thermal model of every transformer and reactor, the dissolved-gas
   model, OLTC voltage control (:mod:`app.field.sim.transformers`), breaker SF6 density
   (:mod:`app.field.sim.switchgear`);
4. turns all of it into the value, IEC 61850 quality word and source time of every point of
   the station's point table, with instrument noise within each sensor's accuracy class
   (:mod:`app.field.sim.measurements`);
5. publishes an immutable :class:`PlantSnapshot` (readable from any thread).

Operations arrive through :meth:`PlantSimulator.select` and :meth:`PlantSimulator.operate` as
a bay IED would receive them and obey the bay's own interlocks (:mod:`app.field.sim.ied`);
faults are injected through :meth:`PlantSimulator.inject` (in-process) or the local control
channel (:mod:`app.field.sim.control`), each kind a class of :mod:`app.field.sim.injections`;
a protection operation latches the relays' flags (:mod:`app.field.sim.protection`).

This class composes those parts, owns the lock, the clock and the random generator (one, drawn
from in a fixed order: the same seed gives the same numbers), and keeps every published value
finite.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from app.field.sim import profiles
from app.field.sim.api import PlantSnapshot
from app.field.sim.dga import DgaModel
from app.field.sim.drivers import Grid, Loads
from app.field.sim.ied import BayIeds
from app.field.sim.injections import (
    FAULT_KINDS,
    INJECTIONS,
    MAX_COMBINED,
    FrequencyExcursion,
    Injection,
    Overvoltage,
    UnknownFault,
)
from app.field.sim.measurements import Instruments
from app.field.sim.protection import Protection
from app.field.sim.switchgear import Switchgear
from app.field.sim.thermal import ThermalModel
from app.field.sim.transformers import Transformers, finite_flow
from app.station import Station
from app.station import clock as wallclock
from app.station.bays import BayTopology
from app.station.commands import ControlResult
from app.station.points import PointTable, build_point_table
from app.twin import TwinEngine, TwinState
from app.twin.topology import switch_ends

log = logging.getLogger(__name__)

# FAULT_KINDS and MAX_COMBINED live with the kinds (app.field.sim.injections); named here too
# because the control channel, the benches and tests have always found them here.
__all__ = ["FAULT_KINDS", "MAX_COMBINED", "PlantSimulator"]

_I = TypeVar("_I", bound=Injection)


#: The simulated station's *equipment* seed: what the plant draws once when it is built (each
#: breaker's SF6 filling, each CT's harmonic baseline, each transformer's oil moisture and
#: ageing, bushing constants). A real station keeps its equipment from one start to the next,
#: and so does the simulated one when no seed is asked for (the field-sim's default): the
#: anomaly models trained on it (``app.analytics.sim``) see the station they will score.
EQUIPMENT_SEED = 0


def plant_of(station: Station, *, run_seed: int | None, equipment_seed: int = EQUIPMENT_SEED,
             **kw: object) -> PlantSimulator:
    """The plant of ``equipment_seed``'s equipment whose random draws from here on (noise,
    load variation) are those of ``run_seed`` — fresh from the OS when None."""
    p = PlantSimulator(station, seed=equipment_seed, **kw)
    rng = np.random.default_rng(None if run_seed is None else [int(run_seed), 7])
    p.rng.bit_generator.state = rng.bit_generator.state
    return p


class PlantSimulator:
    """The simulated station. Thread-safe: ``step`` from the plant thread, ``operate`` and
    ``inject`` from server or control-channel threads, ``snapshot`` from anywhere.

    Its parts, for the trainer and tests: :attr:`loads` and :attr:`grid`, :attr:`switchgear`,
    :attr:`transformers`, :attr:`instruments`, :attr:`protection`, :attr:`ieds` (the bay
    IEDs' logic) and :attr:`topology` (the bays' switching topology)."""

    def __init__(self, station: Station, *, tick_s: float = 0.1, speed: float = 1.0,
                 seed: int | None = None, start: dt.datetime | None = None,
                 travel_s: dict[str, float] | None = None) -> None:
        if tick_s <= 0 or speed <= 0:
            raise ValueError("tick and speed must be positive")
        self.station = station
        self.points: PointTable = build_point_table(station)
        self.tick_s = tick_s
        self.speed = speed
        self.rng = np.random.default_rng(seed)
        self.clock = (start or wallclock.now()).astimezone(dt.UTC)
        self._lock = threading.RLock()
        self._seq = 0
        self._ids = itertools.count(1)
        self.injections: dict[str, Injection] = {}

        self.engine = TwinEngine(station.circuit_path,
                                 base_frequency_hz=station.station.frequency_hz)
        station.check_circuit(self.engine.element_names, self.engine.bus_names,
                              self.engine.switch_element_names)
        # The parts, built in this order: each draws its random start from self.rng.
        self.loads = Loads(self.engine, self.rng)
        self.grid = Grid(self.engine, self.rng)
        self.topology = BayTopology(station, switch_ends(self.engine, station))
        self.transformers = Transformers(station, self.engine, self.rng,
                                         profiles.ambient_c(self.clock))
        self.switchgear = Switchgear(station, self.engine, self.rng, lambda: self._last_state,
                                     travel_s)
        self.instruments = Instruments(station, self.points, self.engine, self.rng)
        self.protection = Protection(station, self.points, self.engine, self.topology,
                                     self.switchgear, self.instruments.rows)
        self.ieds = BayIeds(self.topology, self.engine, self.switchgear,
                            [d.id for d in self.points.devices])
        self._nonfinite: dict[tuple[str, str], str] = {}  # (asset, model) → failing quantity
        self._last_state: TwinState | None = None
        self._snapshot: PlantSnapshot | None = None
        self.step(0.0)

    # ================================================================== what it holds
    @property
    def frequency_hz(self) -> float:
        return self.grid.frequency_hz

    @property
    def stuck(self) -> frozenset[str]:
        """Breakers that fail to open (``breaker_stuck``)."""
        return self.switchgear.stuck

    @property
    def comm_lost(self) -> frozenset[str]:
        """Devices (bays) not answering (``comm_lost``)."""
        return self.ieds.comm_lost

    @property
    def travel_s(self) -> dict[str, float]:
        """Operating/travel time by switch type (simulated seconds); may be changed."""
        return self.switchgear.travel_s

    @property
    def thermal(self) -> dict[str, ThermalModel]:
        return self.transformers.thermal

    @property
    def dga(self) -> dict[str, DgaModel]:
        return self.transformers.dga

    @property
    def sf6_bar(self) -> dict[str, float]:
        return self.switchgear.sf6_bar

    @property
    def sf6_leak_bar_h(self) -> dict[str, float]:
        return self.switchgear.sf6_leak_bar_h

    @property
    def twin_state(self) -> TwinState | None:
        """The true electrical state at the last step (for tests and the trainer)."""
        return self._last_state

    def noise_sigma(self, values: np.ndarray) -> np.ndarray:
        """Each point's 1-sigma instrument noise at these values (see
        :meth:`Instruments.noise_sigma`)."""
        return self.instruments.noise_sigma(values)

    def snapshot(self) -> PlantSnapshot:
        snap = self._snapshot
        assert snap is not None
        return snap

    # ================================================================== stepping
    def step(self, dt_s: float | None = None) -> PlantSnapshot:
        """Advance by ``dt_s`` wall seconds (default: one tick) × speed; return the snapshot."""
        wall = self.tick_s if dt_s is None else dt_s
        dts = wall * self.speed
        # Non-finite intermediate results are caught below (one log line), not warned about.
        with self._lock, np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            self.clock += dt.timedelta(seconds=dts)
            now = self.clock
            self.switchgear.finish(now)
            self.loads.drive(now, dts)
            excursion = self._first(FrequencyExcursion)
            self.grid.drive_frequency(
                dts, excursion.mean_hz(now, self.grid.frequency_hz) if excursion else None)
            overvoltage = self._first(Overvoltage)
            self.grid.drive_sources(overvoltage.pu if overvoltage else 1.0)
            state = self._solve(now)
            if self.transformers.avr_step(state, dts, now):
                state = self._solve(now)
            amb = profiles.ambient_c(now)
            now_ns = int(now.timestamp() * 1e9)
            self.transformers.step(state, dts, amb, now_ns, self._guard)
            self.switchgear.leak_step(dts, self._guard)
            values, qual, t_ns = self._evaluate(state, dts, amb, now, now_ns)
            self._keep_finite(values)
            self._last_state = state
            self._seq += 1
            for a in (values, qual, t_ns):
                a.setflags(write=False)
            snap = PlantSnapshot(seq=self._seq, timestamp=now, values=values, quality=qual,
                                 t_source_ns=t_ns, comm_lost=self.comm_lost)
            self._snapshot = snap
            return snap

    def _solve(self, now: dt.datetime) -> TwinState:
        """The power flow; one that diverged into non-finite numbers is solved again from a
        fresh start (its loads may have come back within reach)."""
        state = self.engine.solve(now)
        if not finite_flow(state):
            state = self.engine.solve_afresh(now)
        return state

    def _evaluate(self, s: TwinState, dts: float, amb: float, now: dt.datetime, now_ns: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every point's (value, quality, source time) for state ``s``: the instruments'
        electrical and station readings, each part's own points, then latched protection
        flags, noise, range limits and sensor faults."""
        ins = self.instruments
        v = ins.electrical_values(s, dts, self.grid.frequency_hz, self.grid.rocof_hz_s(dts))
        self.switchgear.write_positions(v, ins.group("position"), self.points.asset)
        self.transformers.write(v, ins.set_scalar, s, amb, now)
        self.switchgear.write(v, ins.set_scalar)
        ins.station_values(v, amb, now)
        ins.plant_effects(v, now)
        return ins.measure(v, now, now_ns, self.protection.latched,
                           lambda t_ns: self.transformers.write_sample_times(t_ns, ins.rows))

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

    # ================================================================== control
    def check_interlock(self, asset_id: str, close: bool) -> str | None:
        """The bay IED's own interlocks: why it would refuse this operation now, or None."""
        with self._lock:
            return self.ieds.check_interlock(asset_id, close)

    def select(self, asset_id: str, close: bool) -> ControlResult:
        """The bay IED's check at select: refused with AddCause blocked-by-interlocking, or
        blocked-by-health for a breaker's SF6 lockout."""
        with self._lock:
            return self.ieds.select(asset_id, close)

    def operate(self, asset_id: str, close: bool, *, origin: str = "remote") -> ControlResult:
        """Start an operation as the bay IED would; the position follows after the device's
        operating time. Refusals carry an IEC 61850 AddCause."""
        with self._lock:
            return self.ieds.operate(asset_id, close, self.clock, origin)

    def position(self, asset_id: str) -> int:
        with self._lock:
            return self.switchgear.position(asset_id)

    # ================================================================== faults
    def inject(self, kind: str, **params: object) -> str:
        """Inject a fault; returns its id (for :meth:`clear`). The kinds and their
        parameters: :data:`app.field.sim.injections.INJECTIONS`."""
        cls = INJECTIONS.get(kind)
        if cls is None:
            raise UnknownFault(kind)
        with self._lock:
            inj = cls(f"{kind}-{next(self._ids)}", dict(params), self.clock)
            inj.apply(self)
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
                try:
                    inj.clear(self)
                except Exception:  # one undo failing must not leave the others in force
                    log.exception("clearing %s failed", inj.id)
                log.warning("fault cleared: %s", inj.id)
            if injection_id is None:
                self._forget_all_injections()
            return ids

    def _forget_all_injections(self) -> None:
        """With no injection left, nothing an injection holds may stay in force."""
        self.loads.overload = self.loads.factors([])
        self.ieds.forget_injections()
        self.switchgear.forget_injections()
        self.instruments.forget_injections()
        self.transformers.forget_dga_faults()
        self.loads.pf_target.clear()
        for aid in list(self.transformers.cooling_lost):
            self.transformers.restore_cooling(aid)
        for src in self.engine.source_names:
            self.engine.set_source_in_service(src, True)

    def reset_protection(self) -> None:
        """Reset latched protection flags (the operator's relay reset)."""
        with self._lock:
            self.protection.reset()

    def active(self, kind: str) -> list[Injection]:
        """The injections of ``kind`` in force, oldest first."""
        return [i for i in self.injections.values() if i.kind == kind]

    def _first(self, cls: type[_I]) -> _I | None:
        for inj in self.injections.values():
            if isinstance(inj, cls):
                return inj
        return None

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
                "moving": sorted(self.switchgear.movements),
            }
