"""What moves the simulated network each step: the loads, the grid's frequency and voltage.

* :class:`Loads` — every load of the circuit along its category's daily profile
  (:mod:`app.field.sim.profiles`), with slow random variation and any injected overload
  factor; and which loads a transformer feeds (for an overload injection).
* :class:`Grid` — the grid frequency wandering around 50 Hz (or ramping to an excursion's
  target) and the grid sources' voltage (1 pu, or an overvoltage's).

Both draw from the plant's one random generator, in a fixed order, so a seed gives the same
numbers every run.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from app.field.sim import profiles
from app.station import Asset, Station
from app.twin import TwinEngine

NOMINAL_HZ = 50.0


class Loads:
    """The circuit's loads: base set-points × daily profile × noise × injected overload."""

    def __init__(self, engine: TwinEngine, rng: np.random.Generator) -> None:
        self.engine = engine
        self._base = engine.load_setpoints()
        self.names = list(self._base)
        self._category = [profiles.category_of(n) for n in self.names]
        self._noise = [profiles.OrnsteinUhlenbeck(0.0, 0.01, 300.0, rng) for _ in self.names]
        #: Each load's factor from the overloads injected now (1: none).
        self.overload = np.ones(len(self.names))
        #: Loads held at a degraded power factor (``power_factor_drop``): load index → pf.
        self.pf_target: dict[int, float] = {}
        #: Every load's share of its daily profile (a drill scenario's load level; 1: as is).
        self.level = 1.0

    def drive(self, now: dt.datetime, dts: float) -> None:
        """Set every load for time ``now``, ``dts`` seconds after the last call."""
        p = np.empty(len(self.names))
        q = np.empty(len(self.names))
        for k, name in enumerate(self.names):
            p0, q0 = self._base[name]
            f = profiles.shape(self._category[k], now) * (1.0 + self._noise[k].step(dts))
            f *= self.overload[k] * self.level
            p[k], q[k] = p0 * f, q0 * f
            pf = self.pf_target.get(k)
            if pf is not None:  # the load draws reactive power for this power factor
                q[k] = max(q[k], p[k] * math.tan(math.acos(pf)))
        self.engine.set_loads_array(p, q)

    def factors(self, overloads: list[tuple[list[int], float]]) -> np.ndarray:
        """Each load's factor from these (loads, factor) overloads, multiplied from 1 (never
        divided back, so none at all gives exactly 1)."""
        f = np.ones(len(self.names))
        for loads, factor in overloads:
            f[loads] *= factor
        return f

    def of_bay(self, bay: str) -> int | None:
        """The load a feeder bay serves (the load named after the bay), or None."""
        name = f"load.{bay.lower()}_load"
        return next((k for k, n in enumerate(self.names) if n.lower() == name), None)

    def fed_by(self, station: Station, transformer: Asset) -> list[int]:
        """The loads that ``transformer`` feeds: those its N-1 outage would lose (all, when
        it has no outage listed or losing it loses none)."""
        e = self.engine
        outage = {c.asset: c.open for c in station.contingencies}.get(transformer.id, ())
        changed = [el for b in outage
                   if (el := station.asset(b).element) and e.set_switch(el, False)]
        try:
            served = e.solve().load_served()
        finally:
            for el in changed:
                e.set_switch(el, True)
            e.solve()
        fed = [k for k in range(len(self.names)) if not served[k]]
        return fed or list(range(len(self.names)))


class Grid:
    """The grid at the station's incoming lines: its frequency and its sources' voltage."""

    def __init__(self, engine: TwinEngine, rng: np.random.Generator) -> None:
        self.engine = engine
        self._freq = profiles.OrnsteinUhlenbeck(NOMINAL_HZ, 0.015, 90.0, rng, x0=NOMINAL_HZ)
        self.previous_hz = NOMINAL_HZ
        self.frequency_hz = NOMINAL_HZ
        self._source_pu = {s: 1.0 for s in engine.source_names}

    def drive_frequency(self, dts: float, mean_hz: float | None) -> None:
        """Advance the frequency ``dts`` seconds around ``mean_hz`` (None: nominal; a
        new mean is approached within about 2 s)."""
        if mean_hz is not None:
            self._freq.mu = mean_hz
            self._freq.x += (mean_hz - self._freq.x) * min(1.0, dts / 2.0)
        else:
            self._freq.mu = NOMINAL_HZ
        self.previous_hz = self.frequency_hz
        self.frequency_hz = self._freq.step(dts) if dts > 0 else self._freq.x
        self.engine.set_frequency(self.frequency_hz)

    def rocof_hz_s(self, dts: float) -> float:
        """The rate of change of frequency over the last step."""
        return (self.frequency_hz - self.previous_hz) / dts if dts > 0 else 0.0

    def drive_sources(self, pu: float) -> None:
        """Hold every grid source at ``pu`` (touching only those that change)."""
        for s in self.engine.source_names:
            if self._source_pu[s] != pu:
                self.engine.set_source(s, pu=pu)
                self._source_pu[s] = pu
