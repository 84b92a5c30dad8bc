"""N-1 contingency analysis against the Indian Grid Code voltage bands.

Each contingency in the station description (an ICT, a transformer, an incoming line or a
220 kV feeder line) is taken out by opening its breakers; the network is re-solved and
checked for branch overloads (> 100 % of normal rating; shunt reactors and capacitors are
not branches), bus voltages outside the band of their level, and buses (and load) lost. The engine's switching state is restored after each case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from app.station import Station
from app.twin.engine import TwinEngine
from app.twin.faults import Cancel, Cancelled, Progress
from app.twin.state import TwinState

OVERLOAD_PCT = 100.0

#: Shunt elements: their loading follows the bus voltage, not the network's flows, so they
#: are no branch overload and never "the most loaded branch".
SHUNT_CLASSES = ("reactor.", "capacitor.")


@dataclass(frozen=True, slots=True)
class Overload:
    element: str
    loading_pct: float


@dataclass(frozen=True, slots=True)
class VoltageViolation:
    bus: str
    base_kv: float
    kv: float
    min_kv: float
    max_kv: float

    @property
    def kind(self) -> str:
        return "high" if self.kv > self.max_kv else "low"


@dataclass(frozen=True, slots=True)
class ContingencyResult:
    outage: str
    """The asset taken out ("base case" for the intact network)."""
    opened: tuple[str, ...]
    converged: bool
    overloads: tuple[Overload, ...]
    voltage_violations: tuple[VoltageViolation, ...]
    dead_buses: tuple[str, ...]
    load_lost_mw: float
    max_loading: Overload | None

    @property
    def secure(self) -> bool:
        return (self.converged and not self.overloads and not self.voltage_violations
                and self.load_lost_mw == 0.0)

    def as_dict(self) -> dict:
        return {
            "outage": self.outage, "opened": list(self.opened), "converged": self.converged,
            "secure": self.secure,
            "overloads": [{"element": o.element, "loading_pct": round(o.loading_pct, 2)}
                          for o in self.overloads],
            "voltage_violations": [
                {"bus": v.bus, "base_kv": v.base_kv, "kv": round(v.kv, 2), "min_kv": v.min_kv,
                 "max_kv": v.max_kv, "kind": v.kind} for v in self.voltage_violations],
            "dead_buses": list(self.dead_buses),
            "load_lost_mw": round(self.load_lost_mw, 3),
            "max_loading": None if self.max_loading is None else
            {"element": self.max_loading.element,
             "loading_pct": round(self.max_loading.loading_pct, 2)},
        }


def assess(station: Station, state: TwinState, outage: str, opened: Sequence[str],
           base: TwinState) -> ContingencyResult:
    """Check one solved state against ratings and voltage bands; ``base`` is the intact
    network's state, whose load on the buses now dead counts as lost."""
    shunt = np.fromiter((n.lower().startswith(SHUNT_CLASSES) for n in state.branch_names),
                        dtype=bool, count=len(state.branch_names))
    live = state.closed & ~np.isnan(state.loading_pct) & ~shunt
    over = [Overload(state.branch_names[i], float(state.loading_pct[i]))
            for i in np.flatnonzero(live & (state.loading_pct > OVERLOAD_PCT))]
    over.sort(key=lambda o: -o.loading_pct)
    kv = state.bus_kv_ll()
    viol = []
    for i, name in enumerate(state.bus_names):
        if not state.energised[i]:
            continue
        band = station.band_for(float(state.bus_base_kv[i]))
        if band is None:
            continue
        if kv[i] < band.min_kv or kv[i] > band.max_kv:
            viol.append(VoltageViolation(name, band.nominal_kv, float(kv[i]), band.min_kv,
                                         band.max_kv))
    worst = None
    if live.any():
        j = int(np.nanargmax(np.where(live, state.loading_pct, -np.inf)))
        worst = Overload(state.branch_names[j], float(state.loading_pct[j]))
    lost = float(base.load_p_mw[~state.load_served()].sum())
    return ContingencyResult(outage, tuple(opened), state.converged, tuple(over), tuple(viol),
                             state.dead_buses(), lost, worst)


def run_contingencies(engine: TwinEngine, station: Station, *, include_base: bool = True,
                      progress: Progress | None = None,
                      cancel: Cancel | None = None) -> list[ContingencyResult]:
    """The base case, then every N-1 outage listed in the station description."""
    base = engine.solve()
    out: list[ContingencyResult] = []
    if include_base:
        out.append(assess(station, base, "base case", (), base))
    total = len(station.contingencies)
    for k, c in enumerate(station.contingencies):
        if cancel is not None and cancel.is_set():
            engine.solve()
            raise Cancelled("contingency analysis cancelled")
        elements = [station.asset(b).element for b in c.open]
        changed = [e for e in elements if e is not None and engine.set_switch(e, False)]
        try:
            state = engine.solve()
            out.append(assess(station, state, c.asset, tuple(c.open), base))
        finally:
            for e in changed:
                engine.set_switch(e, True)
        if progress is not None:
            progress(k + 1, total)
    engine.solve()
    return out
