"""The station's protection as the plant simulator plays it when a fault is injected.

A line fault (``line_trip``) operates the bay's relays — operated, pickup, disturbance record,
fault current and distance, the zone and the faulted phases — and trips the bay breaker; a
busbar fault (``bus_fault``) operates the busbar differential relay and trips every breaker of
the busbar's zone. A breaker that is stuck does not open: its bay's breaker-failure
protection operates and the back-up trips the breakers around it (the rest of its zone, its
transformer's other side, and for a line bay the remote end, by direct transfer trip).

The relays' flags stay latched in the station's points until :meth:`Protection.reset` (the
operator's relay reset). The trainer's own protection-response engine, with relay
characteristics and timings, is :mod:`app.training.protection`; this is the plant's
immediate, outcome-only version.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from app.field.sim.switchgear import Switchgear
from app.station import Asset, Station
from app.station.bays import BayTopology
from app.station.points import PointTable
from app.twin import TwinEngine

log = logging.getLogger(__name__)

#: The phases whose trip flags a fault type operates.
FAULT_PHASES = {"LG": "A", "LL": "AB", "LLG": "AB", "3ph": "ABC"}


class Protection:
    """Relay flags latched by faults, and the trips (with breaker-failure back-up)."""

    def __init__(self, station: Station, points: PointTable, engine: TwinEngine,
                 topology: BayTopology, switchgear: Switchgear,
                 rows: Callable[[str, str], list[int]]) -> None:
        self.station = station
        self.points = points
        self.engine = engine
        self.topology = topology
        self.switchgear = switchgear
        self._rows = rows
        self._outage_breakers = {c.asset: c.open for c in station.contingencies}
        #: Latched flags and readings (point row → value), overriding computed values.
        self.latched: dict[int, float] = {}

    def relays_of_bay(self, bay: str) -> list[Asset]:
        return [r for r in self.station.assets_of_type("relay") if r.bay == bay]

    def latch(self, asset_id: str, quantity: str, value: float) -> None:
        for i in self._rows(asset_id, quantity):
            self.latched[i] = float(value)

    def reset(self) -> None:
        """The operator's relay reset: every latched flag drops."""
        self.latched.clear()

    # ------------------------------------------------------------------ faults
    def line_fault(self, bay: str, fault_type: str, current_ka: float, km: float) -> None:
        """The bay's relays see a ``fault_type`` fault ``km`` out carrying ``current_ka``."""
        for relay in self.relays_of_bay(bay):
            self.latch(relay.id, "operated", 1)
            self.latch(relay.id, "pickup", 1)
            self.latch(relay.id, "disturbance_record_ready", 1)
            self.latch(relay.id, "fault_current_ka", current_ka)
            self.latch(relay.id, "fault_distance_km", km)
            for i in self._rows(relay.id, "zone_operated")[:1]:
                self.latched[i] = 1.0
            phases = FAULT_PHASES.get(fault_type, "ABC")
            for i in self._rows(relay.id, "trip"):
                if self.points.phase[i] in phases:
                    self.latched[i] = 1.0

    def busbar_fault(self, busbar: Asset, current_ka: float) -> None:
        """The busbar differential relay of ``busbar``'s bay operates."""
        for relay in self.station.assets_of_type("relay"):
            if relay.logical_node == "PDIF" and relay.bay == busbar.bay:
                self.latch(relay.id, "operated", 1)
                self.latch(relay.id, "pickup", 1)
                self.latch(relay.id, "fault_current_ka", current_ka)
                self.latch(relay.id, "disturbance_record_ready", 1)
                for i in self._rows(relay.id, "trip"):
                    self.latched[i] = 1.0

    def zone(self, bus: str) -> list[str]:
        """The breakers of ``bus``'s busbar zone as the switches stand now."""
        return self.topology.busbar_zone(bus, self.switchgear.is_closed)

    def trip(self, cb_id: str, record: dict[str, Any]) -> None:
        """Protection trip of a breaker; a stuck breaker starts breaker-failure back-up.
        ``record`` collects what was tripped (``tripped``, ``remote_tripped``)."""
        cb = self.topology.switches[cb_id]
        if cb_id in self.switchgear.stuck:
            log.warning("%s failed to open: breaker failure protection operates", cb_id)
            for relay in self.relays_of_bay(cb.bay):
                self.latch(relay.id, "breaker_failure_operated", 1)
            self._breaker_failure_backup(cb, record)
            return
        if self.engine.is_closed(cb.element):
            self.switchgear.switch_now(cb_id, False)
        record.setdefault("tripped", []).append(cb_id)

    def _breaker_failure_backup(self, cb: Asset, record: dict[str, Any]) -> None:
        bay = self.station.bay(cb.bay)
        stuck = self.switchgear.stuck
        if bay.kind == "line":
            line = self.station.asset(f"{cb.bay}_LINE").element
            src = self.engine.line_source(line) if line else None  # the grid at its far end
            if src and self.engine.set_source_in_service(src, False):
                record.setdefault("remote_tripped", []).append(src)
                log.warning("direct transfer trip: remote end of %s opened", cb.bay)
        for breakers in self._outage_breakers.values():
            if cb.id in breakers:
                for other in breakers:
                    if other != cb.id and other not in stuck:
                        self.trip(other, record)
        for bus in self.topology.ends[cb.id]:
            for other in self.zone(bus):
                if other != cb.id and other not in stuck and self.switchgear.is_closed(other):
                    self.trip(other, record)

    def restore_remote(self, record: dict[str, Any]) -> None:
        """Close again the remote ends a direct transfer trip opened."""
        for src in record.get("remote_tripped", []):
            self.engine.set_source_in_service(src, True)
