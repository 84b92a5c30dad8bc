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
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from app.station.model import Station
from ml.rca.result import (
    IMMEDIATE,
    INVESTIGATE,
    MAINTAIN,
    Action,
    Fact,
    RcaHypothesis,
    RcaInputError,
    Trigger,
)

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


#: The asset types that are a bay's protected object (named in a fault hypothesis).
OBJECT_TYPES = ("line", "feeder", "ict", "transformer", "reactor", "capacitor_bank", "busbar")
VOLTAGE_QUANTITY = "voltage_kv"
#: Events that can move a zone's voltage (on the zone or a zone feeding it).
SWITCHING_KINDS = frozenset({"trip", "open", "close", "tap"})
#: A voltage instrument further than this from the median of its zone's others (per unit)
#: disagrees with them.
INSTRUMENT_DISAGREE_PU = 0.03
#: The share of a device's points bad at once that means the device, not its sensors.
DEVICE_BAD_SHARE = 0.8
FROZEN_MIN_SAMPLES = 5
#: Alarm kinds about the measurement chain (no protection or plant hypothesis for them).
QUALITY_ALARMS = frozenset({"comm", "invalid"})


def topology_from_station(station: Station, *,
                          links: Mapping[str, Sequence[str]] | None = None,
                          busbars: Mapping[str, Sequence[str]] | None = None) -> Topology:
    """The topology of a station description: every asset and bay, each bay's zone (the
    ``busbar`` bay of its voltage level; a bay of a level without one is its own zone), and
    which zone feeds which through the transformers.

    ``links`` (transformer asset → the bays of its windings, HV first) comes from the circuit
    when the caller has it; without it a transformer's LV bay is the ``transformer_lv`` bay
    whose id is its HV bay's with the final ``H`` replaced by ``L`` (the station file's naming:
    ``ICT1H``/``ICT1L``). ``busbars`` (bay → the busbar assets it is connected to now) comes
    from the live isolator positions, when known."""
    assets = {}
    by_bay: dict[str, list[str]] = {}
    for a in station.assets:
        tags = tuple(f"{a.id}.{p.name}" for p in a.points)
        qty = MappingProxyType({f"{a.id}.{p.name}": p.quantity for p in a.points})
        assets[a.id] = TopoAsset(a.id, a.type, a.bay, a.nameplate.function or "", tags, qty)
        by_bay.setdefault(a.bay, []).append(a.id)
    zone_of_kv = {b.voltage_kv: b.id for b in station.bays if b.kind == "busbar"}
    breakers = {}
    for a in station.assets:
        if a.type == "breaker":
            breakers.setdefault(a.bay, a.id)
    kinds = {b.id: b.kind for b in station.bays}
    xf_of_bay: dict[str, str] = {}
    if links is not None:
        for xf, bays in links.items():
            for b in bays:
                xf_of_bay[b] = xf
    else:
        for a in station.assets:
            if a.type in ("ict", "transformer") and kinds.get(a.bay) == "transformer_hv":
                xf_of_bay[a.bay] = a.id
                lv = a.bay[:-1] + "L" if a.bay.endswith("H") else None
                if lv is not None and kinds.get(lv) == "transformer_lv":
                    xf_of_bay[lv] = a.id
    bays = {}
    zones: dict[str, list[str]] = {}
    for b in station.bays:
        zone = zone_of_kv.get(b.voltage_kv, b.id)
        bays[b.id] = TopoBay(b.id, b.kind, b.voltage_kv, zone, breakers.get(b.id),
                             tuple(by_bay.get(b.id, ())), tuple((busbars or {}).get(b.id, ())),
                             xf_of_bay.get(b.id))
        zones.setdefault(zone, []).append(b.id)
    feeds: dict[str, list[str]] = {}
    xf_bays: dict[str, list[TopoBay]] = {}
    for tb in bays.values():
        if tb.transformer is not None:
            xf_bays.setdefault(tb.transformer, []).append(tb)
    for tbs in xf_bays.values():
        tbs.sort(key=lambda tb: -tb.voltage_kv)
        for hi, lo in zip(tbs, tbs[1:], strict=False):
            if hi.zone != lo.zone and lo.zone not in feeds.get(hi.zone, []):
                feeds.setdefault(hi.zone, []).append(lo.zone)
    return Topology(MappingProxyType(assets), MappingProxyType(bays),
                    MappingProxyType({z: tuple(v) for z, v in zones.items()}),
                    MappingProxyType({z: tuple(v) for z, v in feeds.items()}))


def correlate(trigger: Trigger, events: Sequence[StationEvent], topology: Topology, *,
              values: Mapping[str, Sequence[float]] | None = None,
              before_s: float = DEFAULT_WINDOW_BEFORE_S, after_s: float = DEFAULT_WINDOW_AFTER_S
              ) -> list[RcaHypothesis]:
    """Hypotheses from the events of ``[trigger.time − before_s, trigger.time + after_s]``
    over the equipment related to the trigger's asset (same bay, same zone, upstream,
    downstream), most likely first.

    ``values`` (optional): recent good samples per tag, oldest first, for telling a frozen
    instrument from a live one and one instrument's reading from its zone's."""
    t0 = trigger.time - dt.timedelta(seconds=before_s)
    t1 = trigger.time + dt.timedelta(seconds=after_s)
    window = sorted((e for e in events if t0 <= e.time <= t1
                     and (e.asset == trigger.asset
                          or topology.relation(trigger.asset, e.asset) is not None)),
                    key=lambda e: e.time)
    c = _Correlator(trigger, window, topology, values or {})
    # a communication or data-quality alarm is about the measurement chain, not the plant
    quality_only = trigger.alarm_kind in QUALITY_ALARMS
    out = ([] if quality_only else c.protection()) + c.devices() + c.voltage()
    out.sort(key=lambda h: -h.confidence)
    return out


# ----------------------------------------------------------------------------- internals
def _dt(a: dt.datetime, b: dt.datetime) -> float:
    return (b - a).total_seconds()


def _conf(x: float) -> float:
    return min(0.99, max(0.01, x))


def _hyp(cause: str, title: str, asset: str, confidence: float, evidence: list[Fact],
         actions: list[Action], related: Sequence[str] = ()) -> RcaHypothesis:
    return RcaHypothesis(cause, title, asset, "events", _conf(confidence), tuple(evidence),
                         tuple(actions), tuple(dict.fromkeys(related)))


class _Correlator:
    def __init__(self, trigger: Trigger, window: list[StationEvent], topo: Topology,
                 values: Mapping[str, Sequence[float]]) -> None:
        self.trigger = trigger
        self.window = window
        self.topo = topo
        self.values = values

    # ------------------------------------------------------------------ helpers
    def _bay_kind(self, asset: str) -> str:
        b = self.topo.bay_of(asset)
        return b.kind if b is not None else ""

    def _is_bus_relay(self, asset: str) -> bool:
        a = self.topo.assets.get(asset)
        return (a is not None and a.type == "relay"
                and ("87B" in a.function or self._bay_kind(asset) == "busbar"))

    def _object_of(self, bay: TopoBay) -> str:
        for t in OBJECT_TYPES:
            for a in bay.assets:
                if self.topo.assets[a].type == t:
                    return a
        if bay.transformer is not None:
            return bay.transformer
        return bay.id

    def _opened(self, breaker: str) -> list[StationEvent]:
        return [e for e in self.window if e.asset == breaker and e.kind in ("trip", "open")]

    def _zone_breakers(self, zone: str, but: str | None = None) -> list[str]:
        out = []
        for bid in self.topo.zones.get(zone, ()):
            b = self.topo.bays[bid]
            if b.breaker is not None and b.id != but:
                out.append(b.breaker)
        return out

    # ------------------------------------------------------------------ protection
    def protection(self) -> list[RcaHypothesis]:
        prot = [e for e in self.window if e.kind == "protection"]
        bay_trips = [e for e in prot if e.quantity in TRIP_QUANTITIES
                     and not self._is_bus_relay(e.asset)]
        bf = [e for e in prot if e.quantity == BF_QUANTITY]
        bus_trips = [e for e in prot if e.quantity in TRIP_QUANTITIES
                     and self._is_bus_relay(e.asset)]
        out: list[RcaHypothesis] = []
        stuck_zones: set[str] = set()
        seen_bays: set[str] = set()
        for p in bay_trips:
            bay = self.topo.bay_of(p.asset)
            if bay is None or bay.id in seen_bays:
                continue
            group = self._linked(bay)
            seen_bays.update(b.id for b in group)
            results = [(b, self._bay_trip(p, b, bf)) for b in group if b.breaker is not None]
            stuck = [(b, h) for b, h in results if h is not None and h.cause == "stuck_breaker"]
            if stuck:
                out += [h for _, h in stuck]
                stuck_zones.update(b.zone for b, _ in stuck)
                continue
            cleared = [h for _, h in results if h is not None]
            if not cleared:
                continue
            missing = [b.breaker for b, h in results if h is None and b.breaker is not None]
            first = cleared[0]
            evidence = list(first.evidence) + [f for h in cleared[1:] for f in h.evidence[1:]]
            evidence += [Fact(f"{m} did not open", {}, supports=False) for m in missing]
            out.append(replace(
                first, confidence=_conf(first.confidence - 0.3 * bool(missing)),
                evidence=tuple(evidence),
                related=tuple(dict.fromkeys(r for h in cleared for r in h.related))))
        for p in bus_trips:
            zone = self.topo.zone_of(p.asset)
            if zone is None or any(h.cause == "busbar_fault" and h.asset == zone for h in out):
                continue
            out.append(self._busbar(p, zone, bf, zone in stuck_zones))
        out += self._unexplained(prot)
        return out

    def _linked(self, bay: TopoBay) -> list[TopoBay]:
        """The bay and, for a transformer's bay, its other windings' bays: one protection
        trips them all."""
        if bay.transformer is None:
            return [bay]
        return [bay] + [b for b in self.topo.bays.values()
                        if b.transformer == bay.transformer and b.id != bay.id]

    def _bay_trip(self, p: StationEvent, bay: TopoBay, bf: list[StationEvent]
                  ) -> RcaHypothesis | None:
        q = bay.breaker
        assert q is not None
        obj = self._object_of(bay)
        opens = [e for e in self._opened(q) if e.time >= p.time - dt.timedelta(seconds=1)]
        adjacent = [e for e in self.window if e.kind == "trip" and e.time >= p.time
                    and e.asset in self._zone_breakers(bay.zone, but=bay.id)]
        first_adjacent = adjacent[0].time if adjacent else None
        my_bf = [e for e in bf if e.time >= p.time
                 and (self.topo.bay_of(e.asset) in (bay, self.topo.bay_of(p.asset))
                      or self._is_bus_relay(e.asset) and self.topo.zone_of(e.asset) == bay.zone)]
        opened_first = bool(opens) and (first_adjacent is None or opens[0].time < first_adjacent)
        ev = [Fact(f"{p.asset} operated ({p.quantity}) at {p.time.isoformat()}",
                   {"t_s": 0.0})]
        if not opened_first and (my_bf or adjacent):
            n_zone = len(self._zone_breakers(bay.zone, but=bay.id))
            share = len({e.asset for e in adjacent}) / max(1, n_zone)
            conf = 0.35 + (0.35 if my_bf else 0.0) + 0.25 * share + (0.05 if not opens else 0)
            if opens:
                ev.append(Fact(f"{q} opened only {_dt(p.time, opens[0].time):.2f} s after the "
                               "trip command, after the adjacent breakers",
                               {"open_after_s": _dt(p.time, opens[0].time)}, supports=False))
            else:
                ev.append(Fact(f"{q} did not open within the window after the trip command",
                               {"window_s": _dt(p.time, self.window[-1].time)}))
            for b in my_bf:
                ev.append(Fact(f"breaker-failure protection {b.asset} operated "
                               f"{_dt(p.time, b.time):.2f} s after the trip",
                               {"after_trip_s": _dt(p.time, b.time)}))
            if not my_bf:
                ev.append(Fact("no breaker-failure (50BF) operation recorded", {},
                               supports=False))
            for a in adjacent:
                ev.append(Fact(f"{a.asset} (same {bay.zone} zone) tripped "
                               f"{_dt(p.time, a.time):.2f} s after the trip",
                               {"after_trip_s": _dt(p.time, a.time)}))
            ev.append(Fact(f"{len({e.asset for e in adjacent})} of the {n_zone} other breakers "
                           f"of {bay.zone} tripped", {"tripped": float(len(adjacent)),
                                                       "zone_breakers": float(n_zone)}))
            return _hyp("stuck_breaker",
                        f"{q} stuck: it did not clear the fault on {obj}; the {bay.zone} "
                        "breakers were tripped by breaker-failure protection", q, conf, ev,
                        [Action(IMMEDIATE, f"keep {q} isolated (open its disconnectors) and "
                                           f"restore {bay.zone} from the healthy breakers"),
                         Action(INVESTIGATE, f"{q}: trip coils, mechanism, SF6 and DC supply; "
                                             f"fault on {obj} from the disturbance records"),
                         Action(MAINTAIN, f"overhaul {q} before returning it to service")],
                        related=[obj] + [e.asset for e in adjacent])
        if opens:
            t_open = _dt(p.time, opens[0].time)
            ev.append(Fact(f"{q} opened {t_open:.2f} s after the trip command",
                           {"open_after_s": t_open}))
            if not adjacent:
                ev.append(Fact(f"no other breaker of {bay.zone} tripped", {"tripped": 0.0}))
            return _hyp("protection_trip",
                        f"fault on {obj} cleared by {p.asset} through {q}", obj,
                        0.8 if not adjacent else 0.5, ev,
                        [Action(INVESTIGATE, f"fault location and disturbance record of "
                                             f"{p.asset}; patrol {obj}"),
                         Action(MAINTAIN, f"count the fault-current interruption on {q}")],
                        related=[q, p.asset])
        return None

    def _busbar(self, p: StationEvent, zone: str, bf: list[StationEvent], stuck: bool
                ) -> RcaHypothesis:
        breakers = self._zone_breakers(zone)
        tripped = sorted({e.asset for e in self.window if e.kind == "trip"
                          and e.asset in breakers and e.time >= p.time})
        share = len(tripped) / max(1, len(breakers))
        ev = [Fact(f"bus protection {p.asset} operated ({p.quantity})", {}),
              Fact(f"{len(tripped)} of the {len(breakers)} breakers of {zone} tripped after it",
                   {"tripped": float(len(tripped)), "zone_breakers": float(len(breakers))})]
        conf = 0.45 + 0.45 * share
        zone_bf = [e for e in bf if self.topo.zone_of(e.asset) == zone]
        if zone_bf:
            ev.append(Fact(f"{zone_bf[0].asset} reported breaker failure: the bus trip is its "
                           "back-up clearance, not a bus fault", {}, supports=False))
            conf -= 0.3
        if stuck:
            ev.append(Fact("a bay protection tripped first and its breaker did not open",
                           {}, supports=False))
            conf -= 0.3
        return _hyp("busbar_fault", f"fault on the {zone} busbar cleared by {p.asset}", zone,
                    conf, ev,
                    [Action(IMMEDIATE, f"do not re-energise {zone} before the bus is inspected"),
                     Action(INVESTIGATE, f"{zone}: busbar, isolators, CVTs, arresters; the "
                                         f"differential currents of {p.asset}")],
                    related=tripped)

    def _unexplained(self, prot: list[StationEvent]) -> list[RcaHypothesis]:
        """A breaker-trip trigger that no protection of its bay or zone explains."""
        t = self.trigger
        bay = self.topo.bay_of(t.asset)
        if t.alarm_kind != "trip" or bay is None:
            return []
        late = t.time + dt.timedelta(seconds=1)
        linked = {b.id for b in self._linked(bay)}
        explained = [p for p in prot if p.time <= late
                     and (self.topo.zone_of(p.asset) == bay.zone
                          or (self.topo.bay_of(p.asset) or bay).id in linked)]
        if explained:
            return []
        commands = [e for e in self.window if e.asset == t.asset and e.kind == "open"]
        ev = [Fact(f"{t.asset} opened at {t.time.isoformat()}", {}),
              Fact(f"no protection of {bay.id} or of its zone {bay.zone} operated in the "
                   "window", {"protection_events": 0.0})]
        if commands:
            ev.append(Fact(f"an open of {t.asset} was recorded at "
                           f"{commands[0].time.isoformat()}", {}, supports=False))
        return [_hyp("unexplained_trip",
                     f"{t.asset} opened with no protection operation and no command", t.asset,
                     0.6 if not commands else 0.3, ev,
                     [Action(INVESTIGATE, f"{t.asset}: trip circuit, DC earth fault, control "
                                          "cabling, spurious relay output")])]

    # ------------------------------------------------------------------ devices
    def devices(self) -> list[RcaHypothesis]:
        t = self.trigger
        bay = self.topo.bay_of(t.asset)
        if bay is None:
            return []
        points = self.topo.device_points(bay.id)
        # a communication loss the device has recovered from before the trigger is over:
        # only what happened since its last recovery counts
        restored = [e.time for e in self.window if e.kind == "comm_restored"
                    and e.asset == bay.id and e.time <= t.time]
        since = max(restored) if restored else None
        recent = [e for e in self.window if since is None or e.time > since]
        lost = [e for e in recent if e.kind == "comm_lost" and e.asset == bay.id]
        bad = {e.tag for e in recent if e.kind in ("invalid", "frozen") and e.tag
               and e.tag in points}
        frozen = self._frozen(t.tag)
        if frozen is not None:
            bad.add(frozen)
        relevant = t.alarm_kind in ("comm", "invalid") or lost or bad
        if not relevant or not points:
            return []
        share = len(bad) / len(points)
        out = []
        if lost or share >= DEVICE_BAD_SHARE:
            ev = []
            if lost:
                ev.append(Fact(f"communication with bay device {bay.id} LOST at "
                               f"{lost[0].time.isoformat()}", {}))
            ev.append(Fact(f"{len(bad)} of the {len(points)} points of {bay.id} bad at once",
                           {"bad_points": float(len(bad)), "points": float(len(points))},
                           supports=share >= DEVICE_BAD_SHARE or bool(lost)))
            conf = 0.3 + (0.45 if lost else 0.0) + 0.2 * share
            out.append(_hyp("comm_loss", f"communication loss to bay device {bay.id}", bay.id,
                            conf, ev,
                            [Action(INVESTIGATE, f"{bay.id}: IED power supply, network link "
                                                 "and switch port; the bay is not observable"),
                             Action(MAINTAIN, "review the network redundancy of the bay")],
                            related=sorted({t.rsplit(".", 1)[0] for t in bad})))
        else:
            tag = t.tag if t.tag in bad else sorted(bad)[0]
            asset = tag.rsplit(".", 1)[0]
            ev = [Fact(f"{tag} is bad{' (frozen)' if tag == frozen else ''} while "
                       f"{len(points) - len(bad)} of the {len(points)} points of its device "
                       f"{bay.id} are good",
                       {"bad_points": float(len(bad)), "points": float(len(points))}),
                  Fact(f"communication with {bay.id} stayed up", {})]
            conf = 0.55 + 0.35 * (1 - share)
            out.append(_hyp("instrument_fault", f"instrument fault on {tag}", asset, conf, ev,
                            [Action(INVESTIGATE, f"{tag}: sensor, transducer, wiring and the "
                                                 "IED's input card"),
                             Action(MAINTAIN, f"calibrate or replace the sensor of {tag}")],
                            related=[tag]))
        return out

    def _frozen(self, tag: str | None) -> str | None:
        """``tag`` when its recent samples never change while its siblings' (the same asset's
        points of the same quantity) do."""
        if tag is None or tag not in self.values:
            return None
        mine = self.values[tag]
        if len(mine) < FROZEN_MIN_SAMPLES or max(mine) != min(mine):
            return None
        asset = self.topo.assets.get(tag.rsplit(".", 1)[0])
        if asset is None:
            return None
        qty = asset.quantities.get(tag)
        siblings = [s for s in asset.points if s != tag and asset.quantities.get(s) == qty
                    and len(self.values.get(s, ())) >= FROZEN_MIN_SAMPLES]
        moving = [s for s in siblings if max(self.values[s]) != min(self.values[s])]
        return tag if moving else None

    # ------------------------------------------------------------------ voltage
    def voltage(self) -> list[RcaHypothesis]:
        t = self.trigger
        if t.quantity != VOLTAGE_QUANTITY and not any(VOLTAGE_QUANTITY in f or "voltage" in f
                                                      for f in t.features):
            return []
        zone = self.topo.zone_of(t.asset)
        if zone is None:
            return []
        out = []
        upstream = (zone,) + self.topo.upstream_zones(zone)
        causes = [e for e in self.window if e.kind in SWITCHING_KINDS and e.time <= t.time
                  and self.topo.zone_of(e.asset) in upstream and e.asset != t.asset]
        if causes:
            e = causes[-1]
            gap = _dt(e.time, t.time)
            where = "on the same zone" if self.topo.zone_of(e.asset) == zone else "upstream"
            conf = 0.35 + 0.5 * math.exp(-gap / 10.0) + (0.1 if e.kind == "trip" else 0.0)
            out.append(_hyp("upstream_event",
                            f"voltage excursion at {t.asset} follows {e.kind} of {e.asset} "
                            f"{where}", e.asset, conf,
                            [Fact(f"{e.asset} {e.kind} {gap:.1f} s before the excursion "
                                  f"({where}: {self.topo.zone_of(e.asset)})", {"before_s": gap}),
                             Fact(f"{t.tag or t.asset} = {t.value} kV" if _finite(t.value)
                                  else f"{t.asset}: voltage excursion",
                                  {"voltage_kv": t.value} if _finite(t.value) else {})],
                            [Action(INVESTIGATE, f"voltage control after {e.asset} {e.kind}: "
                                                 "taps, reactors, capacitor banks")],
                            related=[t.asset]))
        if t.tag is not None and t.tag in self.values:
            h = self._instrument_vs_zone(t.tag, zone)
            if h is not None:
                out.append(h)
        return out

    def _pu(self, tag: str) -> float | None:
        samples = self.values.get(tag)
        bay = self.topo.bay_of(tag.rsplit(".", 1)[0])
        if not samples or bay is None or not _finite(samples[-1]):
            return None
        nominal = bay.voltage_kv
        if tag.rsplit(".", 1)[1] in ("V_A", "V_B", "V_C"):
            nominal /= math.sqrt(3)
        return samples[-1] / nominal

    def _instrument_vs_zone(self, tag: str, zone: str) -> RcaHypothesis | None:
        mine = self._pu(tag)
        if mine is None:
            return None
        others = []
        for bid in self.topo.zones.get(zone, ()):
            for a in self.topo.bays[bid].assets:
                ta = self.topo.assets[a]
                for s in ta.points:
                    if s != tag and ta.quantities.get(s) == VOLTAGE_QUANTITY and \
                            s.rsplit(".", 1)[1] in ("V", "V_A", "V_B", "V_C"):
                        v = self._pu(s)
                        if v is not None:
                            others.append(v)
        if len(others) < 2:
            return None
        others.sort()
        med = others[len(others) // 2]
        diff = mine - med
        vals = {"reading_pu": mine, "zone_median_pu": med, "difference_pu": diff,
                "instruments": float(len(others))}
        if abs(diff) > INSTRUMENT_DISAGREE_PU:
            return _hyp("instrument_fault",
                        f"{tag} disagrees with the other voltage instruments of {zone}",
                        tag.rsplit(".", 1)[0], 0.5 + min(0.4, abs(diff) * 4),
                        [Fact(f"{tag} reads {mine:.3f} pu, the {len(others)} other instruments "
                              f"of {zone} {med:.3f} pu (median)", vals)],
                        [Action(INVESTIGATE, f"{tag}: VT secondary, MCB, transducer"),
                         Action(MAINTAIN, f"calibrate the instrument of {tag}")],
                        related=[tag])
        return _hyp("common_excursion", f"the whole {zone} zone sees the voltage excursion",
                    zone, 0.55 + min(0.35, (INSTRUMENT_DISAGREE_PU - abs(diff)) * 10),
                    [Fact(f"{tag} reads {mine:.3f} pu, like the {len(others)} other instruments "
                          f"of {zone} ({med:.3f} pu median)", vals)],
                    [Action(INVESTIGATE, "grid-side voltage: SLDC/RLDC, reactive dispatch, "
                                         "tap and reactor settings")])


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)
