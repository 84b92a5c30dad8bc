"""Station-level interlocking, checked before any command is sent (usual Indian EHV practice).

IL-1  A disconnector moves only with its bay breaker open — except a bus transfer:
      a bus disconnector may move under load only while the bay's other bus disconnector is
      closed *and* the bus coupler is closed (IL-3).
IL-2  An earth switch moves only with the disconnectors next to it open, and closes only on a
      dead section.
IL-3  Bus transfer only with the coupler (its breaker and both its disconnectors) closed.
IL-4  A disconnector does not close onto a closed earth switch.
IL-5  A breaker does not close with its SF6 density at the low-density alarm stage, does not
      operate at all at the lockout stage (stages from its nameplate; the density monitor's
      own alarm and lockout contacts count as well), and does not close with its closing
      spring uncharged.
A position that is intermediate, invalid or old is never assumed: the command is refused.

The bay IEDs enforce their own interlocks too (and answer with an AddCause); these station
checks come first and name the interlock. Both read the bays' topology — breaker, bus and line
disconnectors, earth switches, couplers — from :mod:`app.station.bays`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from app.station import Asset, Station
from app.station import quality as Q
from app.station.bays import BayTopology
from app.station.frame import ScanFrame
from app.station.points import POS_CLOSED, POS_OPEN

_READING = re.compile(r"\s*\([^)]*\)")


@dataclass(frozen=True, slots=True)
class Interlock:
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    @property
    def key(self) -> str:
        """What the interlock is, without its readings (a bypass granted at select still
        covers it at operate when only a reading moved)."""
        return f"{self.code}: {_READING.sub('', self.message)}"


class Interlocking:
    """The station's interlocks over its bays' topology (:class:`~app.station.bays.BayTopology`,
    shared with the bay IEDs' own checks), judged from a scan's measured positions."""

    def __init__(self, station: Station, switch_ends: dict[str, tuple[str, str]]) -> None:
        self.station = station
        self.topology = BayTopology(station, switch_ends)
        self.switches = self.topology.switches
        # Breaker condition points found by what they measure, not by their names.
        self._by_quantity = {(a.id, p.quantity): f"{a.id}.{p.name}"
                             for a in station.assets_of_type("breaker") for p in a.points}

    # ------------------------------------------------------------------ helpers
    def _pos(self, frame: ScanFrame, asset_id: str) -> int | None:
        tag = f"{asset_id}.POS"
        i = frame.points.index.get(tag)
        if i is None or not Q.is_good(int(frame.quality[i])):
            return None
        p = int(round(float(frame.values[i])))
        return p if p in (POS_OPEN, POS_CLOSED) else None

    def _value(self, frame: ScanFrame, tag: str) -> float | None:
        i = frame.points.index.get(tag)
        if i is None or not Q.is_good(int(frame.quality[i])):
            return None
        return float(frame.values[i])

    # ------------------------------------------------------------------ the check
    def check(self, asset_id: str, close: bool, frame: ScanFrame,
              is_live: Callable[[str], bool]) -> list[Interlock]:
        """Every interlock that forbids this operation now (empty: allowed)."""
        a = self.switches.get(asset_id)
        if a is None:
            return [Interlock("IL-0", f"{asset_id} is not a switching device")]
        out: list[Interlock] = []
        me = self._pos(frame, a.id)
        if me is None:
            out.append(Interlock("IL-0", f"position of {a.id} is not known (intermediate, "
                                         "invalid or old data)"))
        topo = self.topology

        if a.type == "breaker":
            out += self._sf6(frame, a, close)
            spring = self._quantity(frame, a, "spring_charged")
            if close and spring is not None and spring < 0.5:
                out.append(Interlock("IL-5", f"{a.id} closing spring not charged"))
            return out

        if a.type == "isolator":
            transfer = any(self._pos(frame, s.id) == POS_CLOSED
                           for s in topo.other_bus_disconnectors(a.id))
            breaker = topo.breaker(a.bay)
            if transfer:
                out += self._coupler_closed(frame, a)
            elif breaker is not None:
                bp = self._pos(frame, breaker.id)
                if bp is None:
                    out.append(Interlock("IL-1", f"position of bay breaker {breaker.id} is "
                                                 "not known"))
                elif bp == POS_CLOSED:
                    out.append(Interlock("IL-1", f"bay breaker {breaker.id} is closed"))
            if close:
                for es in topo.earth_switches_next_to(a.id):
                    if self._pos(frame, es.id) != POS_OPEN:
                        out.append(Interlock("IL-4", f"earth switch {es.id} is not open"))
            return out

        # earth switch
        node = topo.earthed_node(a.id)
        for iso in topo.disconnectors_next_to(a.id):
            if self._pos(frame, iso.id) != POS_OPEN:
                out.append(Interlock("IL-2", f"disconnector {iso.id} is not open"))
        if close and is_live(node):
            out.append(Interlock("IL-2", f"{node.upper()} is live"))
        return out

    def _quantity(self, frame: ScanFrame, a: Asset, quantity: str) -> float | None:
        tag = self._by_quantity.get((a.id, quantity))
        return None if tag is None else self._value(frame, tag)

    def _sf6(self, frame: ScanFrame, a: Asset, close: bool) -> list[Interlock]:
        """IL-5 for a gas breaker: close blocked at the alarm stage, everything at lockout."""
        monitored = any((a.id, q) in self._by_quantity
                        for q in ("sf6_pressure_bar", "sf6_low_alarm", "sf6_lockout"))
        if not monitored:
            return []  # a vacuum breaker
        plate = a.nameplate
        alarm_bar = plate.sf6_alarm_bar
        if alarm_bar is None:  # no nameplate stages: the point's low limit is the alarm
            tag = self._by_quantity.get((a.id, "sf6_pressure_bar"))
            alarm_bar = a.point(tag.split(".", 1)[1]).lo if tag else None
        lockout_bar = plate.sf6_lockout_bar
        bar = self._quantity(frame, a, "sf6_pressure_bar")
        lock = self._quantity(frame, a, "sf6_lockout")
        low = self._quantity(frame, a, "sf6_low_alarm")
        reading = f"{bar:.2f} bar" if bar is not None else "density monitor"
        if (lock is not None and lock >= 0.5) or (
                bar is not None and lockout_bar is not None and bar < lockout_bar):
            limit = f" < lockout {lockout_bar:g} bar" if lockout_bar is not None and \
                bar is not None else ""
            return [Interlock("IL-5", f"{a.id} SF6 density at lockout ({reading}{limit}): "
                                      "the breaker must not operate")]
        if bar is None and lock is None:
            return [Interlock("IL-5", f"SF6 density of {a.id} is not known (invalid or old "
                                      "data)")]
        if close and ((low is not None and low >= 0.5) or (
                bar is not None and alarm_bar is not None and bar < alarm_bar)):
            limit = f" < alarm stage {alarm_bar:g} bar" if alarm_bar is not None and \
                bar is not None else ""
            return [Interlock("IL-5", f"{a.id} SF6 density low ({reading}{limit}): "
                                      "close blocked")]
        return []

    def _coupler_closed(self, frame: ScanFrame, a: Asset) -> list[Interlock]:
        kv = self.station.bay(a.bay).voltage_kv
        coupler = self.topology.coupler_switches(kv)
        if not coupler:
            return [Interlock("IL-3", f"no bus coupler at {kv:g} kV for a bus transfer")]
        open_ = [s.id for s in coupler if self._pos(frame, s.id) != POS_CLOSED]
        if open_:
            return [Interlock("IL-3", "bus transfer needs the coupler closed: "
                                      + ", ".join(open_) + " not closed")]
        return []
