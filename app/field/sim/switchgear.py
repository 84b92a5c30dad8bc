"""The station's switchgear as the simulator keeps it: breakers, disconnectors, earth switches.

* Travel: an operation started now reaches its new position after the device's operating
  time (a breaker's tens of milliseconds, a motorised disconnector's seconds); until then the
  position reads intermediate.
* Each breaker's SF6 gas density (from its nameplate's rated filling, alarm and lockout
  stages), minus any injected leaks; its operation counter and contact wear (I² per
  operation); whether it is stuck (fails to open).

It holds no interlocks: what may operate is the bay IEDs' business (:mod:`app.field.sim.ied`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app.station import Asset, Station
from app.station.points import POS_CLOSED, POS_INTERMEDIATE, POS_OPEN
from app.twin import TwinEngine, TwinState

#: Default operating/travel times (simulated seconds).
TRAVEL_S = {"breaker": 0.06, "isolator": 6.0, "earth_switch": 6.0}

SF6_RATED_BAR = 6.0
SF6_ALARM_BAR = 5.2
SF6_LOCKOUT_BAR = 5.0

#: ``guard(asset_id, failed_quantity_or_None, model) -> bool``: notes an integrator's outcome
#: (the plant logs a model that stops being finite once) and says whether it was finite.
Guard = Callable[..., bool]
SetScalar = Callable[[np.ndarray, str, str, float], None]


@dataclass
class Movement:
    asset: str
    element: str
    close: bool
    done_at: dt.datetime


class Switchgear:
    """Positions in travel, SF6, counters and wear of every switching device."""

    def __init__(self, station: Station, engine: TwinEngine, rng: np.random.Generator,
                 last_state: Callable[[], TwinState | None],
                 travel_s: dict[str, float] | None = None) -> None:
        self.engine = engine
        self.switches = {a.id: a for a in station.switches()}
        self.travel_s = {**TRAVEL_S, **(travel_s or {})}
        self._last_state = last_state
        self.movements: dict[str, Movement] = {}
        breakers = station.assets_of_type("breaker")
        # Each gas breaker's density-monitor stages from its nameplate (rated, alarm, lockout).
        self.sf6_stages = {a.id: (a.nameplate.sf6_rated_bar or SF6_RATED_BAR,
                                  a.nameplate.sf6_alarm_bar or SF6_ALARM_BAR,
                                  a.nameplate.sf6_lockout_bar or SF6_LOCKOUT_BAR)
                           for a in breakers}
        self.sf6_bar = {b: rated + float(rng.uniform(-0.15, 0.1))
                        for b, (rated, _, _) in self.sf6_stages.items()}
        self.sf6_leak_bar_h = dict.fromkeys(self.sf6_bar, 0.0)
        self._leak_by: dict[str, tuple[str, float]] = {}  # injection id → (breaker, bar/h)
        self.op_count = {a.id: int(rng.integers(80, 900)) for a in breakers}
        self.wear_pct = {a.id: float(rng.uniform(3, 25)) for a in breakers}
        self._stuck_by: dict[str, str] = {}  # injection id → breaker

    # ------------------------------------------------------------------ positions
    def is_closed(self, asset_id: str) -> bool:
        """Whether the switch is closed in the circuit now (a moving one: where it was)."""
        return self.engine.is_closed(self.switches[asset_id].element)

    def is_moving(self, asset_id: str) -> bool:
        return asset_id in self.movements

    def position(self, asset_id: str) -> int:
        if asset_id in self.movements:
            return POS_INTERMEDIATE
        return POS_CLOSED if self.is_closed(asset_id) else POS_OPEN

    def start(self, a: Asset, close: bool, now: dt.datetime) -> None:
        """Start moving ``a``; it arrives after its travel time (at once for none)."""
        travel = self.travel_s.get(a.type, 0.1)
        self.movements[a.id] = Movement(a.id, a.element, close,
                                        now + dt.timedelta(seconds=travel))
        if travel <= 0:
            self.finish(now)

    def finish(self, now: dt.datetime) -> None:
        """Complete every movement whose travel time is over."""
        done = [m for m in self.movements.values() if m.done_at <= now]
        for m in done:
            del self.movements[m.asset]
            self.switch_now(m.asset, m.close)

    def switch_now(self, asset_id: str, close: bool) -> None:
        """Set a switch's position at once; a breaker that changes counts an operation and
        wears its contacts by the current it last carried."""
        a = self.switches[asset_id]
        st = self._last_state()
        if self.engine.set_switch(a.element, close) and a.type == "breaker":
            self.op_count[a.id] += 1
            if st is not None:
                i = float(np.nanmax(st.i_a[st.branch_index(a.element)]))
                self.wear_pct[a.id] = min(100.0, self.wear_pct[a.id] + 1e-7 * i * i)

    def write_positions(self, v: np.ndarray, position_rows: np.ndarray,
                        row_asset: list[str]) -> None:
        """A switch in travel reads intermediate."""
        for i in position_rows:
            if row_asset[i] in self.movements:
                v[i] = POS_INTERMEDIATE

    # ------------------------------------------------------------------ stuck breakers
    @property
    def stuck(self) -> frozenset[str]:
        """Breakers that fail to open."""
        return frozenset(self._stuck_by.values())

    def stick(self, key: str, breaker: str) -> None:
        self._stuck_by[key] = breaker

    def unstick(self, key: str) -> None:
        self._stuck_by.pop(key, None)

    # ------------------------------------------------------------------ SF6
    def sf6_lockout(self, breaker: str) -> str | None:
        """Why a gas breaker's density monitor locks it out now, or None."""
        if breaker not in self.sf6_bar:
            return None
        bar, lockout_bar = self.sf6_bar[breaker], self.sf6_stages[breaker][2]
        if bar < lockout_bar:
            return f"{breaker}: SF6 density {bar:.2f} bar below lockout {lockout_bar:g}"
        return None

    def leaks_on(self, breaker: str) -> list[str]:
        """The keys of the leaks on ``breaker``."""
        return [k for k, (b, _) in self._leak_by.items() if b == breaker]

    def add_leak(self, key: str, breaker: str, bar_per_h: float) -> None:
        self._leak_by[key] = (breaker, bar_per_h)
        self._sum_leaks()

    def remove_leak(self, key: str) -> None:
        self._leak_by.pop(key, None)
        self._sum_leaks()

    def _sum_leaks(self) -> None:
        self.sf6_leak_bar_h = dict.fromkeys(self.sf6_bar, 0.0)
        for bid, rate in self._leak_by.values():
            self.sf6_leak_bar_h[bid] += rate

    def leak_step(self, dts: float, guard: Guard) -> None:
        """Let the gas out of every leaking breaker for ``dts`` seconds."""
        for bid, rate in self.sf6_leak_bar_h.items():
            bar = self.sf6_bar[bid] - rate * dts / 3600.0 if rate else self.sf6_bar[bid]
            if guard(bid, None if math.isfinite(bar) else "sf6_pressure_bar", "sf6"):
                self.sf6_bar[bid] = max(0.0, bar)

    # ------------------------------------------------------------------ the rest
    def forget_injections(self) -> None:
        """No breaker stuck, no leak: nothing an injection did stays in force."""
        self._stuck_by.clear()
        self._leak_by.clear()
        self._sum_leaks()

    def write(self, v: np.ndarray, set_scalar: SetScalar) -> None:
        """Write every breaker's own points (gas density and its stages, counter, wear)."""
        ok = set_scalar
        for bid, bar in self.sf6_bar.items():
            ok(v, bid, "sf6_pressure_bar", bar)
            _, alarm_bar, lockout_bar = self.sf6_stages[bid]
            ok(v, bid, "sf6_low_alarm", 1.0 if bar < alarm_bar else 0.0)
            ok(v, bid, "sf6_lockout", 1.0 if bar < lockout_bar else 0.0)
            ok(v, bid, "operations", float(self.op_count[bid]))
            ok(v, bid, "contact_wear_pct", self.wear_pct[bid])
