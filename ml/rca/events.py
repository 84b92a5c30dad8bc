"""Event correlation: the root event among the alarms and state changes of a window.

Input is data: :class:`StationEvent` items (asset, kind, time, priority …) and a
:class:`Topology` (bays, the bus zone each bay is on, which zones feed which, each bay
device's points). :func:`topology_from_station` builds the topology from the station
description alone; the application side may refine each bay's busbars from the live switch
positions (:class:`TopoBay.busbars`).

What :func:`correlate` recognises (each a ranked :class:`~ml.rca.result.RcaHypothesis`):

* **Stuck breaker**: a protection trip on bay B, B's breaker not opening, the breaker-failure
  protection (50BF) of B operating and the other breakers of B's bus zone tripping after it
  → root: B's breaker; the adjacent trips are its consequences.
* **Busbar fault**: the bus differential (87B) of a zone operating and the zone's breakers
  tripping → root: the busbar.
* **Fault cleared by the bay's protection**: a protection trip on bay B and B's breaker
  opening (and nothing else) → root: a fault on B's object (line, transformer …).
* **Unexplained trip**: a breaker opening with no protection operation and no command.
* **Communication loss vs sensor failure**: every point of a bay device bad at once, or the
  device's communication state LOST → communication loss; one point bad or frozen while the
  device's other points are good → a sensor (instrument) fault.
* **Voltage excursion explained upstream**: a voltage limit on a zone preceded by a trip,
  switching or tap change on the zone or a zone feeding it; or every voltage instrument of the
  zone moving together (a common, grid-side excursion) against one instrument alone (an
  instrument fault).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from app.station.model import Station
from ml.rca.result import RcaHypothesis, RcaInputError, Trigger

#: Kinds of :class:`StationEvent`.
EVENT_KINDS = (
    "trip",             # a breaker opened without an operator's command
    "open",             # a switch opened on command (or position change of unknown cause)
    "close",            # a switch closed
    "protection",       # a relay indication set: trip, zone, operated, breaker_failure_operated
    "comm_lost",        # a bay device's communication state went LOST (asset = the bay id)
    "comm_restored",    # back to OK
    "invalid",          # a point's quality went bad (tag given)
    "frozen",           # a point stopped changing while it should not (tag given)
    "limit",            # an analog alarm (quantity, value given)
    "status",           # another abnormal indication (buchholz alarm, SF6 low …)
    "tap",              # a tap change (transformer asset)
    "anomaly",          # an anomaly raised by the detector
)

#: Relay quantities that mean a protection trip (the relay's bay breaker should open).
TRIP_QUANTITIES = frozenset({"trip", "operated", "zone_operated", "buchholz_trip",
                             "pressure_relief", "oltc_surge_relay"})
BF_QUANTITY = "breaker_failure_operated"

DEFAULT_WINDOW_BEFORE_S = 30.0
DEFAULT_WINDOW_AFTER_S = 10.0


@dataclass(frozen=True, slots=True)
class StationEvent:
    """One alarm or state change."""

    time: dt.datetime
    asset: str
    """The asset (a bay id for comm_lost / comm_restored)."""
    kind: str
    """One of :data:`EVENT_KINDS`."""
    tag: str | None = None
    quantity: str | None = None
    value: float | None = None
    priority: int | None = None
    message: str = ""

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise RcaInputError(f"event on {self.asset} at {self.time.isoformat()}: kind "
                                f"{self.kind!r} is not one of {', '.join(EVENT_KINDS)}")
        if self.time.tzinfo is None:
            raise RcaInputError(f"event on {self.asset}: time {self.time.isoformat()} has no "
                                "timezone (UTC expected)")


@dataclass(frozen=True, slots=True)
class TopoAsset:
    id: str
    type: str
    bay: str
    function: str = ""
    """A relay's protection functions as the station file gives them (``87B/50BF``)."""
    points: tuple[str, ...] = ()
    """The asset's point tags."""
    quantities: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Tag → quantity."""


@dataclass(frozen=True, slots=True)
class TopoBay:
    id: str
    kind: str
    """line, transformer_hv, transformer_lv, coupler, reactor, feeder, busbar, station …"""
    voltage_kv: float
    zone: str
    """The bus zone the bay connects to (one per voltage level: ``BUS400``)."""
    breaker: str | None
    """The bay's breaker asset id (Q0), if any."""
    assets: tuple[str, ...] = ()
    busbars: tuple[str, ...] = ()
    """The busbars the bay is connected to now, when the caller knows (from positions)."""
    transformer: str | None = None
    """For a transformer bay, the transformer asset (the link between two zones)."""


@dataclass(frozen=True, slots=True)
class Topology:
    """Bays, zones and which zone feeds which, as data."""

    assets: Mapping[str, TopoAsset]
    bays: Mapping[str, TopoBay]
    zones: Mapping[str, tuple[str, ...]]
    """Zone → its bays."""
    feeds: Mapping[str, tuple[str, ...]]
    """Zone → the zones it feeds (through transformers), higher voltage first."""

    def bay_of(self, asset: str) -> TopoBay | None:
        """The bay of an asset (or the bay itself, given a bay id)."""
        if asset in self.bays:
            return self.bays[asset]
        a = self.assets.get(asset)
        return self.bays.get(a.bay) if a is not None else None

    def zone_of(self, asset: str) -> str | None:
        b = self.bay_of(asset)
        return b.zone if b is not None else None

    def upstream_zones(self, zone: str) -> tuple[str, ...]:
        """The zones that feed ``zone``, nearest first."""
        out: list[str] = []
        frontier = [zone]
        while frontier:
            nxt = []
            for z in frontier:
                for src, dsts in self.feeds.items():
                    if z in dsts and src not in out and src != zone:
                        out.append(src)
                        nxt.append(src)
            frontier = nxt
        return tuple(out)

    def relation(self, a: str, b: str) -> str | None:
        """How asset ``b`` relates to asset ``a``: "same_bay", "same_zone", "upstream"
        (b's zone feeds a's), "downstream", or None."""
        ba, bb = self.bay_of(a), self.bay_of(b)
        if ba is None or bb is None:
            return None
        if ba.id == bb.id:
            return "same_bay"
        if ba.zone == bb.zone:
            return "same_zone"
        if bb.zone in self.upstream_zones(ba.zone):
            return "upstream"
        if ba.zone in self.upstream_zones(bb.zone):
            return "downstream"
        return None

    def device_points(self, bay: str) -> tuple[str, ...]:
        """Every point tag the bay's device serves."""
        b = self.bays.get(bay)
        if b is None:
            return ()
        return tuple(t for a in b.assets for t in self.assets[a].points if a in self.assets)


def topology_from_station(station: Station) -> Topology:
    """The topology of a station description: every asset and bay, each bay's zone (the bus
    bay of its voltage level), each transformer's link from its HV zone to its LV zone."""
    raise NotImplementedError  # body follows in the next commit


def correlate(trigger: Trigger, events: Sequence[StationEvent], topology: Topology, *,
              values: Mapping[str, Sequence[float]] | None = None,
              before_s: float = DEFAULT_WINDOW_BEFORE_S, after_s: float = DEFAULT_WINDOW_AFTER_S
              ) -> list[RcaHypothesis]:
    """Hypotheses from the events of ``[trigger.time − before_s, trigger.time + after_s]``
    over the equipment related to the trigger's asset, most likely first.

    ``values`` (optional): recent good samples per tag, oldest first, for telling a frozen
    instrument from a live one."""
    raise NotImplementedError  # body follows in the next commit


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)
