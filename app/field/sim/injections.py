"""The faults a trainer or a test can inject into the plant simulator: one class per kind.

Each kind knows

* its **parameters** — read and checked when it is injected, numbers as finite floats
  (stored back, so the simulator's status shows what applies); bad input is refused with one
  :class:`ValueError` naming the parameter, and leaves nothing behind;
* how it **applies** (:meth:`Injection.apply`) and how it **clears** (:meth:`Injection.clear`);
* how it **combines** with others of its kind in force: the kinds in :data:`MAX_COMBINED`
  add up to a bounded total (an injection that would pass it is refused naming the limit);
  ``overvoltage`` and ``frequency_excursion`` do not add up — the first one in force applies;
  the kinds without a magnitude (a breaker is stuck or not, a sensor failed or not) stack
  harmlessly, and each holds on its own: clearing one leaves the others in force.

The kinds, by what they show: the grid — ``overvoltage`` (also an undervoltage with
``pu`` < 1: voltage deviation beyond ±5 % of nominal), ``frequency_excursion``; loading and
heat — ``transformer_overload``, ``cooling_failure`` (a lost cooling stage: overheating for
the actual load); power quality — ``phase_unbalance`` (current imbalance > 10 %),
``harmonics`` (THD > 5 %), ``power_factor_drop`` (PF < 0.9); switchgear and network faults —
``breaker_stuck``, ``sf6_leak``, ``line_trip``, ``bus_fault``; health degradation —
``dga_fault`` (gases developing in the oil), ``sf6_leak``; instruments and communication —
``sensor_stuck``, ``sensor_drift``, ``sensor_fail``, ``comm_lost``.

:data:`INJECTIONS` is the registry :meth:`PlantSimulator.inject` looks a kind up in;
:data:`FAULT_KINDS` its names, in order.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from app.station import Asset
from app.station.points import KIND_ANALOG
from app.twin.faults import fault_study

if TYPE_CHECKING:
    from app.field.sim.plant import PlantSimulator

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


class UnknownFault(ValueError):
    """A fault kind that is not in :data:`INJECTIONS` (the message lists the kinds)."""

    def __init__(self, kind: object) -> None:
        super().__init__(f"unknown fault '{kind}' (use one of {', '.join(FAULT_KINDS)})")


class Injection:
    """One injected fault in force: its id, parameters, start time and what it holds."""

    kind: ClassVar[str]

    def __init__(self, id: str, params: dict[str, Any], started: dt.datetime) -> None:
        self.id = id
        self.params = params
        self.started = started
        #: What the injection did, for its clearing (loads scaled, breakers tripped …).
        self.state: dict[str, Any] = {}

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "params": self.params,
                "started": self.started.isoformat()}

    def apply(self, plant: PlantSimulator) -> None:
        """Check the parameters and put the fault in force; on a ValueError nothing of it
        stays. Called under the plant's lock."""
        raise NotImplementedError

    def clear(self, plant: PlantSimulator) -> None:
        """Undo what :meth:`apply` put in force (already out of ``plant.injections``)."""

    # ------------------------------------------------------------------ parameters
    def number(self, key: str, default: float) -> float:
        """Parameter ``key`` as a finite float (stored back, so status shows what applies);
        anything else is refused naming the parameter."""
        raw = self.params.get(key, default)
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
        self.params[key] = value
        return value

    def bay_id(self, plant: PlantSimulator) -> str:
        """Parameter ``bay`` as one of the station's bays (one line naming it otherwise)."""
        bay = str(self.params.get("bay", ""))
        if not bay:
            raise ValueError("parameter 'bay' is required")
        try:
            plant.station.bay(bay)
        except KeyError as exc:
            raise ValueError(str(exc.args[0])) from None
        return bay

    def asset(self, plant: PlantSimulator, *types: str, key: str = "asset") -> Asset:
        """Parameter ``key`` as one of the station's assets, of one of ``types``."""
        if key not in self.params:
            raise ValueError(f"parameter '{key}' is required")
        try:
            a = plant.station.asset(str(self.params[key]))
        except KeyError as exc:
            raise ValueError(str(exc.args[0])) from None
        if types and a.type not in types:
            raise ValueError(f"{a.id} is a {a.type}, expected {' or '.join(types)}")
        return a

    def point_row(self, plant: PlantSimulator) -> int:
        """Parameter ``point`` (ASSET.POINT) as a row of the point table."""
        if "point" not in self.params:
            raise ValueError("parameter 'point' (ASSET.POINT) is required")
        try:
            return plant.points.row(str(self.params["point"]))
        except KeyError as exc:
            raise ValueError(str(exc.args[0])) from None

    def refuse_over_limit(self, what: str, combined: float, unit: str,
                          others: list[str]) -> None:
        """Refuse this injection if ``combined`` passes its kind's :data:`MAX_COMBINED`."""
        limit = MAX_COMBINED[self.kind]
        if combined > limit * (1 + 1e-9):
            stacked = f" with {', '.join(others)} active" if others else ""
            raise ValueError(
                f"{self.kind} refused: {what}{stacked} would reach {combined:.4g}{unit}, "
                f"above the limit of {limit:g}{unit} (MAX_COMBINED['{self.kind}']); "
                f"clear one first")


# ====================================================================== the grid
class Overvoltage(Injection):
    """The grid sources at ``pu`` (default 1.08). Does not add up: the first one applies."""

    kind = "overvoltage"

    def apply(self, plant: PlantSimulator) -> None:
        pu = self.number("pu", 1.08)
        if not 0.5 < pu < 1.5:
            raise ValueError(f"overvoltage pu {pu} is not plausible (0.5 < pu < 1.5)")

    @property
    def pu(self) -> float:
        return float(self.params.get("pu", 1.08))


class FrequencyExcursion(Injection):
    """The grid frequency ramps to ``target_hz`` (47–52, default 49.7) over ``ramp_s``
    (default 20). Does not add up: the first one applies."""

    kind = "frequency_excursion"

    def apply(self, plant: PlantSimulator) -> None:
        t = self.number("target_hz", 49.7)
        if not 47.0 <= t <= 52.0:
            raise ValueError(f"target frequency {t} Hz outside 47–52 Hz")
        if self.number("ramp_s", 20.0) < 0:
            raise ValueError("parameter 'ramp_s' must be >= 0")

    def mean_hz(self, now: dt.datetime, frequency_hz: float) -> float:
        """Where the frequency is heading at ``now`` (from where it was when it began)."""
        target = float(self.params.get("target_hz", 49.7))
        ramp = float(self.params.get("ramp_s", 20.0))
        el = (now - self.started).total_seconds()
        start = self.state.setdefault("from_hz", frequency_hz)
        return start + (target - start) * min(1.0, el / ramp if ramp > 0 else 1.0)


class TransformerOverload(Injection):
    """Every load ``asset`` (an ICT or transformer) feeds scaled by ``factor`` (1–3, default
    1.4). Factors on one load multiply, up to :data:`MAX_COMBINED`."""

    kind = "transformer_overload"

    def apply(self, plant: PlantSimulator) -> None:
        a = self.asset(plant, "ict", "transformer")
        factor = self.number("factor", 1.4)
        if not 1.0 < factor < 3.0:
            raise ValueError(f"overload factor {factor} must be between 1 and 3")
        loads = plant.loads
        fed = loads.fed_by(plant.station, a)
        combined = loads.factors(self._held(plant) + [(fed, factor)])
        worst = int(np.argmax(combined))
        others = [i.id for i in plant.active(self.kind) if worst in i.state["loads"]]
        self.refuse_over_limit(f"the combined overload of {loads.names[worst]}",
                               float(combined[worst]), "×", others)
        self.state["loads"] = fed
        loads.overload = loads.factors(self._held(plant) + [(fed, factor)])

    def clear(self, plant: PlantSimulator) -> None:
        plant.loads.overload = plant.loads.factors(self._held(plant))

    @staticmethod
    def _held(plant: PlantSimulator) -> list[tuple[list[int], float]]:
        """The (loads, factor) of the overloads in force."""
        return [(i.state["loads"], float(i.params["factor"]))
                for i in plant.active(TransformerOverload.kind) if "loads" in i.state]


# ====================================================================== the switchgear
class BreakerStuck(Injection):
    """Breaker ``asset`` fails to open (by command or by protection: breaker failure)."""

    kind = "breaker_stuck"

    def apply(self, plant: PlantSimulator) -> None:
        plant.switchgear.stick(self.id, self.asset(plant, "breaker").id)

    def clear(self, plant: PlantSimulator) -> None:
        plant.switchgear.unstick(self.id)


class Sf6Leak(Injection):
    """Breaker ``asset`` loses gas at ``bar_per_h`` (> 0, default 0.2); leaks on one breaker
    add up to :data:`MAX_COMBINED`."""

    kind = "sf6_leak"

    def apply(self, plant: PlantSimulator) -> None:
        sg = plant.switchgear
        a = self.asset(plant, "breaker")
        if a.id not in sg.sf6_bar:
            raise ValueError(f"{a.id} is a vacuum breaker: no SF6")
        rate = self.number("bar_per_h", 0.2)
        if rate <= 0:
            raise ValueError("parameter 'bar_per_h' must be > 0")
        self.refuse_over_limit(f"the SF6 leak of {a.id}", sg.sf6_leak_bar_h[a.id] + rate,
                               " bar/h", sg.leaks_on(a.id))
        sg.add_leak(self.id, a.id, rate)

    def clear(self, plant: PlantSimulator) -> None:
        plant.switchgear.remove_leak(self.id)


# ====================================================================== faults in the network
class LineTrip(Injection):
    """A ``type`` fault (LG, LL, LLG, 3ph; default LG) ``km`` out on line or feeder
    ``asset`` (default: somewhere 5–60 km): its relays operate and its breaker trips."""

    kind = "line_trip"

    def apply(self, plant: PlantSimulator) -> None:
        a = self.asset(plant, "line", "feeder")
        cb = plant.topology.breaker(a.bay)
        if cb is None:
            raise ValueError(f"{a.id} has no breaker to trip")
        ftype = str(self.params.setdefault("type", "LG"))
        bus = plant.topology.ends[cb.id][1]
        res = fault_study(plant.engine, [bus], [ftype])[0]
        km = self.number("km", round(float(plant.rng.uniform(5, 60)), 1))
        if km < 0:
            raise ValueError("parameter 'km' must be >= 0")
        plant.protection.line_fault(a.bay, ftype, res.current_ka, km)
        plant.protection.trip(cb.id, self.state)

    def clear(self, plant: PlantSimulator) -> None:
        plant.protection.restore_remote(self.state)


class BusFault(Injection):
    """A ``type`` fault (default LG) on busbar ``asset``: its differential relay operates
    and every breaker of its zone trips."""

    kind = "bus_fault"

    def apply(self, plant: PlantSimulator) -> None:
        a = self.asset(plant, "busbar")
        ftype = str(self.params.setdefault("type", "LG"))
        bus = a.bus.lower() if a.bus else ""
        e = plant.engine
        if not e.energised_buses()[e.bus_index(bus)]:
            raise ValueError(f"{a.id} is dead: nothing to fault")
        res = fault_study(e, [bus], [ftype])[0]
        zone = plant.protection.zone(bus)
        self.state["zone"] = zone
        plant.protection.busbar_fault(a, res.current_ka)
        for cb in zone:
            plant.protection.trip(cb, self.state)

    def clear(self, plant: PlantSimulator) -> None:
        plant.protection.restore_remote(self.state)


# ====================================================================== the oil
class DgaFault(Injection):
    """A fault of IEC 60599 ``code`` (PD, D1, D2, T1, T2, T3; default T3) developing in
    transformer or reactor ``asset`` over ``ramp_h`` (default 6) at ``severity`` (default 1);
    severities in one asset add up to :data:`MAX_COMBINED`."""

    kind = "dga_fault"

    def apply(self, plant: PlantSimulator) -> None:
        a = self.asset(plant, "ict", "transformer", "reactor")
        severity = self.number("severity", 1.0)
        ramp_h = self.number("ramp_h", 6.0)
        model = plant.transformers.dga[a.id]
        others = [i.id for i in plant.active(self.kind) if i.params.get("asset") == a.id]
        self.refuse_over_limit(f"the combined DGA severity in {a.id}",
                               model.severity_total() + max(severity, 0.0), "", others)
        model.inject(str(self.params.setdefault("code", "T3")), severity=severity,
                     ramp_h=ramp_h, key=self.id)

    def clear(self, plant: PlantSimulator) -> None:
        plant.transformers.dga[str(self.params["asset"])].clear(self.id)


# ====================================================================== power quality
class PhaseUnbalance(Injection):
    """On bay ``bay``, phase ``phase`` (A, B or C; default A) carries ``pct`` % more current
    than the others (−90 < pct ≤ 100, not 0; default 20: a current imbalance of 12.5 % by
    the largest-deviation-from-mean measure, above the 10 % the seed flags), and its phase
    voltage reads ``voltage_pct`` % off (−20 … 20, default 0). The bay's negative-sequence
    current rises by pct/3 % of the positive-sequence one (one phase off by d: I2 ≈ d/3 · I1).
    Each stacks harmlessly; clearing one leaves the others."""

    kind = "phase_unbalance"

    def apply(self, plant: PlantSimulator) -> None:
        bay = self.bay_id(plant)
        phase = str(self.params.setdefault("phase", "A")).upper()
        if phase not in ("A", "B", "C"):
            raise ValueError(f"parameter 'phase' must be A, B or C, not {phase!r}")
        self.params["phase"] = phase
        pct = self.number("pct", 20.0)
        if not -90.0 < pct <= 100.0 or pct == 0:
            raise ValueError(f"parameter 'pct' {pct:g} must be in (-90, 100] and not 0")
        v_pct = self.number("voltage_pct", 0.0)
        if not -20.0 <= v_pct <= 20.0:
            raise ValueError(f"parameter 'voltage_pct' {v_pct:g} must be within ±20")
        i_rows, v_rows, neg, pos = self._rows(plant, bay, phase)
        if not len(i_rows):
            raise ValueError(f"bay {bay} has no per-phase current point")
        ins = plant.instruments
        ins.scale(self.id, i_rows, 1.0 + pct / 100.0)
        if v_pct and len(v_rows):
            ins.scale(self.id + "/v", v_rows, 1.0 + v_pct / 100.0)
        if len(neg):
            ins.add_neg_seq(self.id + "/i2", neg, pos, abs(pct) / 300.0)

    @staticmethod
    def _rows(plant: PlantSimulator, bay: str, phase: str
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        pt = plant.points
        in_bay = {a.id for a in plant.station.assets if a.bay == bay}
        ph = phase.upper()

        def rows(q: str, phased: bool) -> np.ndarray:
            return np.array([i for i, (a, qq, p) in enumerate(zip(pt.asset, pt.quantity,
                                                                   pt.phase, strict=True))
                             if a in in_bay and qq == q and pt.kind[i] == KIND_ANALOG
                             and ((p or "").upper() == ph if phased else True)], dtype=np.intp)

        return (rows("current_a", True), rows("voltage_kv", True),
                rows("current_neg_seq_a", False), rows("current_pos_seq_a", False))

    def clear(self, plant: PlantSimulator) -> None:
        for k in (self.id, self.id + "/v", self.id + "/i2"):
            plant.instruments.repair(k)


class Harmonics(Injection):
    """The current THD of bay ``bay``'s instruments (its ``current_thd_pct`` points, where
    current flows) rises to ``thd_pct`` (0 < thd ≤ 50, default 8: above the 5 % of IEEE 519
    the seed flags) over ``ramp_s`` (default 300). A bay with several in force reads the
    highest."""

    kind = "harmonics"

    def apply(self, plant: PlantSimulator) -> None:
        bay = self.bay_id(plant)
        thd = self.number("thd_pct", 8.0)
        if not 0.0 < thd <= 50.0:
            raise ValueError(f"parameter 'thd_pct' {thd:g} must be in (0, 50]")
        ramp = self.number("ramp_s", 300.0)
        if ramp < 0:
            raise ValueError("parameter 'ramp_s' must be >= 0")
        in_bay = {a.id for a in plant.station.assets if a.bay == bay}
        pt = plant.points
        rows = np.array([i for i, (a, q) in enumerate(zip(pt.asset, pt.quantity, strict=True))
                         if a in in_bay and q == "current_thd_pct"], dtype=np.intp)
        if not len(rows):
            raise ValueError(f"bay {bay} has no current_thd_pct point")
        plant.instruments.harmonics(self.id, rows, thd, ramp, self.started)

    def clear(self, plant: PlantSimulator) -> None:
        plant.instruments.repair(self.id)


class PowerFactorDrop(Injection):
    """The load of feeder bay ``bay`` draws reactive power for a power factor of ``pf``
    (0.5 ≤ pf < 1, default 0.85: below the 0.9 the seed flags) — the flow, its meters and
    the twin all see it. One per load: a second on the same load is refused."""

    kind = "power_factor_drop"

    def apply(self, plant: PlantSimulator) -> None:
        bay = str(self.params.get("bay", ""))
        if not bay:
            raise ValueError("parameter 'bay' is required")
        pf = self.number("pf", 0.85)
        if not 0.5 <= pf < 1.0:
            raise ValueError(f"parameter 'pf' {pf:g} must be in [0.5, 1)")
        k = plant.loads.of_bay(bay)
        if k is None:
            raise ValueError(f"bay {bay} feeds no load of the circuit (a feeder bay: "
                             f"{', '.join(n.split('.')[-1][:-5].upper() for n in plant.loads.names)})")
        held = [i.id for i in plant.active(self.kind) if i.state.get("load") == k]
        if held:
            raise ValueError(f"power_factor_drop refused: {held[0]} already holds the load of "
                             f"bay {bay}; clear it first")
        self.state["load"] = k
        plant.loads.pf_target[k] = pf

    def clear(self, plant: PlantSimulator) -> None:
        plant.loads.pf_target.pop(self.state.get("load", -1), None)


# ====================================================================== cooling
class CoolingFailure(Injection):
    """Transformer ``asset`` (an ICT or transformer) loses a cooling stage (its fans/pumps:
    ONAF → ONAN): the IEC 60076-7 model runs with ONAN time constants and the rating down to
    ``capacity_pct`` % (20 ≤ … < 100, default 60: a usual ONAN/ONAF ratio), so top-oil and
    hot-spot rise for the actual load; its ``cooler_running`` point reads stopped. One per
    transformer: a second on the same one is refused."""

    kind = "cooling_failure"

    def apply(self, plant: PlantSimulator) -> None:
        a = self.asset(plant, "ict", "transformer")
        cap = self.number("capacity_pct", 60.0)
        if not 20.0 <= cap < 100.0:
            raise ValueError(f"parameter 'capacity_pct' {cap:g} must be in [20, 100)")
        held = plant.transformers.cooling_lost.get(a.id)
        if held is not None:
            raise ValueError(f"cooling_failure refused: {held} already holds the cooling of "
                             f"{a.id}; clear it first")
        plant.transformers.lose_cooling(self.id, a.id, cap)

    def clear(self, plant: PlantSimulator) -> None:
        aid = str(self.params.get("asset"))
        if plant.transformers.cooling_lost.get(aid) == self.id:
            plant.transformers.restore_cooling(aid)


# ====================================================================== instruments and comms
class SensorStuck(Injection):
    """Point ``point`` (ASSET.POINT) frozen at its last value and time (questionable | old
    data); the first freeze of a point holds."""

    kind = "sensor_stuck"

    def apply(self, plant: PlantSimulator) -> None:
        i = self.point_row(plant)
        snap = plant.snapshot()
        val, t0 = float(snap.values[i]), int(snap.t_source_ns[i])
        plant.instruments.freeze(self.id, i, val, t0)

    def clear(self, plant: PlantSimulator) -> None:
        plant.instruments.repair(self.id)


class SensorDrift(Injection):
    """Point ``point`` (an analog one) drifting by ``rate_per_h`` (default 1) units an hour;
    drifts on one point add up to :data:`MAX_COMBINED` spans of its range an hour."""

    kind = "sensor_drift"

    def apply(self, plant: PlantSimulator) -> None:
        i = self.point_row(plant)
        rate = self.number("rate_per_h", 1.0)
        pt = plant.points
        span = float(pt.range_hi[i] - pt.range_lo[i])
        if not math.isfinite(span) or span <= 0:
            raise ValueError(f"{pt.tags[i]} has no instrument range: only analog points drift")
        on_point = plant.instruments.drift_rates(i)
        combined = (abs(rate) + sum(abs(r) for _, r in on_point)) / span
        self.refuse_over_limit(f"the drift of {pt.tags[i]}", combined, " spans/h",
                               [k for k, _ in on_point])
        plant.instruments.drift(self.id, i, rate, plant.clock)

    def clear(self, plant: PlantSimulator) -> None:
        plant.instruments.repair(self.id)


class SensorFail(Injection):
    """Point ``point``'s sensor failed (invalid | failure)."""

    kind = "sensor_fail"

    def apply(self, plant: PlantSimulator) -> None:
        plant.instruments.fail(self.id, self.point_row(plant))

    def clear(self, plant: PlantSimulator) -> None:
        plant.instruments.repair(self.id)


class CommLost(Injection):
    """Device ``device`` (a bay id: F1, ICT1H …) stops answering on every protocol."""

    kind = "comm_lost"

    def apply(self, plant: PlantSimulator) -> None:
        plant.ieds.lose(self.id, str(self.params.get("device", "")))

    def clear(self, plant: PlantSimulator) -> None:
        plant.ieds.answer(self.id)


#: Every kind of fault, by name (the order is the one the control channel lists them in).
INJECTIONS: dict[str, type[Injection]] = {cls.kind: cls for cls in (
    Overvoltage, TransformerOverload, FrequencyExcursion, BreakerStuck, BusFault, LineTrip,
    SensorStuck, SensorDrift, SensorFail, CommLost, DgaFault, Sf6Leak, PhaseUnbalance,
    Harmonics, PowerFactorDrop, CoolingFailure)}

FAULT_KINDS: tuple[str, ...] = tuple(INJECTIONS)
