"""The root-cause analysis's inputs, built from the runtime (Qt-free).

``ml.rca`` takes data only; this module turns the runtime's pieces into that data:

* the **topology** (:func:`ml.rca.events.topology_from_station` on the station description:
  one bus zone per voltage level, transformers linking them);
* **events**: the alarm engine's transitions (:class:`app.alarms.engine.AlarmView`) and the
  frames' communication-state changes, as :class:`ml.rca.events.StationEvent`, kept in a
  rolling window; or the historian's stored events (:class:`app.historian.models.Event`);
* **recent values** and each transformer's **thermal inputs** (load, ambient, top oil, hot
  spot, WTI, coolers; bad-quality samples kept as None, never as values) from the frames;
* each transformer's **DGA history** from the gas points (one analysis a change);
* **past incidents** from the historian's event table (alarm clusters and what was recorded
  about them: ``rca`` and ``note`` events).

One :class:`RcaContextBuilder` per station runtime, owned by one thread (the inference
worker's): ``note_frame`` and ``note_alarms`` every scan, ``context`` when a trigger comes.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from app.alarms.engine import AlarmRow, AlarmState, AlarmView
from app.historian.api import EventRow, HistorianReader
from app.historian.models import Event
from app.station import quality as Q
from app.station.frame import Comm, ScanFrame
from app.station.model import Station
from app.station.points import KIND_ANALOG, POS_CLOSED, POS_OPEN, PointTable, build_point_table
from ml.rca.engine import TRANSFORMER_TYPES, RcaContext, analyse
from ml.rca.events import EVENT_KINDS, StationEvent, Topology, topology_from_station
from ml.rca.history import Incident, Signature, term
from ml.rca.result import CAUSES, RcaResult, Trigger
from ml.rca.thermal import ThermalInputs

log = logging.getLogger(__name__)

#: How much history the builder keeps (events, thermal samples).
DEFAULT_KEEP_S = 24 * 3600.0
#: A quiet gap this long ends one stored incident and starts the next.
INCIDENT_GAP_S = 600.0
#: Past incidents are read again from the historian after this long (seconds).
INCIDENT_REFRESH_S = 3600.0
#: How far back past incidents are read.
INCIDENT_DAYS = 3 * 365
#: A note or recorded RCA belongs to an incident that started at most this long before it.
FINDING_HORIZON_S = 30 * 86400.0
#: Recent samples kept per point for the frozen-instrument and zone checks.
VALUES_KEEP = 30
#: DGA analyses kept per transformer.
DGA_KEEP = 100
GASES = ("H2", "CH4", "C2H6", "C2H4", "C2H2", "CO", "CO2")
_GAS_QUANTITY = {f"gas_{g.lower()}_ppm": g for g in GASES}
#: The alarm engine's alarm kinds as correlation event kinds.
_ALARM_EVENT = {"trip": "trip", "protection": "protection", "status": "status",
                "comm": "comm_lost", "invalid": "invalid", "analog": "limit"}
_NEW = (AlarmState.UNACK,)


@dataclass(slots=True)
class _Thermal:
    """One transformer's point rows and its rolling samples."""

    rated_mva: float | None
    rows: dict[str, int]
    coolers: list[int]
    samples: deque = field(default_factory=deque)  # (t_s, load, amb, top, hot, wti)
    last_t_s: float = float("-inf")


class RcaContextBuilder:
    """Rolling inputs of the root-cause analysis for one station (see the module notes)."""

    def __init__(self, station: Station, *, reader: HistorianReader | None = None, keep_s: float = DEFAULT_KEEP_S,
                 thermal_step_s: float = 60.0, points: PointTable | None = None) -> None:
        self.station = station
        self.points = points if points is not None else build_point_table(station)
        self.reader = reader
        self.keep_s = keep_s
        self.thermal_step_s = thermal_step_s
        self._topology = topology_from_station(station)
        self._types = {a.id: a.type for a in station.assets}
        pt = self.points
        self._events: deque[StationEvent] = deque()
        self._analog = np.flatnonzero(pt.kind == KIND_ANALOG)
        self._ring = np.full((VALUES_KEEP, len(pt)), np.nan)
        self._ring_n = 0
        self._prev_good: np.ndarray | None = None
        self._prev_comm: dict[str, Comm] = {}
        self._breakers = np.array([i for i, q in enumerate(pt.quantity)
                                   if q == "position" and self._types.get(pt.asset[i])
                                   == "breaker"], dtype=np.intp)
        self._taps = np.array([i for i, q in enumerate(pt.quantity) if q == "tap_position"],
                              dtype=np.intp)
        self._prev_pos: np.ndarray | None = None
        self._prev_tap: np.ndarray | None = None
        self._thermal: dict[str, _Thermal] = {}
        self._gas_rows: dict[str, dict[str, int]] = {}
        for a in station.assets:
            if a.type not in TRANSFORMER_TYPES:
                continue
            rows = {p.quantity: pt.row(f"{a.id}.{p.name}") for p in a.points
                    if p.quantity in ("loading_pct", "apparent_mva", "ambient_c", "top_oil_c",
                                      "hot_spot_c", "winding_c")}
            coolers = [pt.row(f"{a.id}.{p.name}") for p in a.points
                       if p.quantity == "cooler_running"]
            if {"top_oil_c", "hot_spot_c", "ambient_c"} <= set(rows) and (
                    "loading_pct" in rows or "apparent_mva" in rows and a.nameplate.rated_mva):
                self._thermal[a.id] = _Thermal(a.nameplate.rated_mva, rows, coolers,
                                               deque(maxlen=int(keep_s / thermal_step_s) + 1))
            gases = {_GAS_QUANTITY[p.quantity]: pt.row(f"{a.id}.{p.name}") for p in a.points
                     if p.quantity in _GAS_QUANTITY}
            if gases:
                self._gas_rows[a.id] = gases
        self._dga: dict[str, deque] = {a: deque(maxlen=DGA_KEEP) for a in self._gas_rows}
        self._incidents: tuple[Incident, ...] = ()
        self._incidents_at: dt.datetime | None = None
        self._incidents_failed = False
        self._last_time: dt.datetime | None = None

    @property
    def topology(self) -> Topology:
        return self._topology

    @property
    def events(self) -> tuple[StationEvent, ...]:
        return tuple(self._events)

    # ------------------------------------------------------------------ scans
    def note_frame(self, frame: ScanFrame) -> None:
        """Take one scan: communication-state changes, points turning bad, breaker position
        changes and tap changes as events; values for the frozen-point and zone checks;
        thermal and DGA samples (bad quality → None, never a value)."""
        pt = self.points
        now = frame.t_acquired
        self._last_time = now
        good = Q.good_mask(frame.quality)
        vals = np.where(good, frame.values, np.nan)
        self._ring[self._ring_n % VALUES_KEEP] = vals
        self._ring_n += 1
        for d, c in frame.comm.items():
            before = self._prev_comm.get(d)
            if c.state == Comm.LOST and before not in (None, Comm.LOST):
                self._add(StationEvent(c.since if c.since.tzinfo else now, d, "comm_lost",
                                       message=c.last_error))
            elif c.state == Comm.OK and before == Comm.LOST:
                self._add(StationEvent(now, d, "comm_restored"))
            self._prev_comm[d] = c.state
        if self._prev_good is not None:
            for i in np.flatnonzero(self._prev_good & ~good):
                self._add(StationEvent(now, pt.asset[i], "invalid", tag=pt.tags[i],
                                       quantity=pt.quantity[i],
                                       message=Q.describe(int(frame.quality[i]))))
        self._prev_good = good
        self._positions(frame, good, now)
        self._sample_thermal(frame, good, now)
        self._sample_dga(frame, good, now)
        self._expire(now)

    def _positions(self, frame: ScanFrame, good: np.ndarray, now: dt.datetime) -> None:
        pt = self.points
        if len(self._breakers):
            pos = np.round(np.nan_to_num(frame.values[self._breakers])).astype(np.int64)
            ok = good[self._breakers] & ((pos == POS_OPEN) | (pos == POS_CLOSED))
            if self._prev_pos is not None:
                for j in np.flatnonzero(ok & (pos != self._prev_pos)):
                    i = self._breakers[j]
                    kind = "open" if pos[j] == POS_OPEN else "close"
                    # a trip alarm for the same opening (note_alarms) says "trip"; both kept
                    self._add(StationEvent(now, pt.asset[i], kind, tag=pt.tags[i],
                                           quantity="position"))
                self._prev_pos = np.where(ok, pos, self._prev_pos)
            else:
                self._prev_pos = pos
        if len(self._taps):
            tap = frame.values[self._taps]
            ok = good[self._taps] & np.isfinite(tap)
            if self._prev_tap is not None:
                for j in np.flatnonzero(ok & (tap != self._prev_tap)):
                    i = self._taps[j]
                    self._add(StationEvent(now, pt.asset[i], "tap", tag=pt.tags[i],
                                           quantity="tap_position", value=float(tap[j])))
                self._prev_tap = np.where(ok, tap, self._prev_tap)
            else:
                self._prev_tap = np.where(ok, tap, np.nan)

    def _sample_thermal(self, frame: ScanFrame, good: np.ndarray, now: dt.datetime) -> None:
        t_s = now.timestamp()
        for th in self._thermal.values():
            if t_s - th.last_t_s < self.thermal_step_s:
                continue
            th.last_t_s = t_s

            def v(q: str, th: _Thermal = th) -> float | None:
                i = th.rows.get(q)
                if i is None or not good[i] or not np.isfinite(frame.values[i]):
                    return None
                return float(frame.values[i])

            load = v("loading_pct")
            load = load / 100.0 if load is not None else None
            if load is None and th.rated_mva:
                mva = v("apparent_mva")
                load = mva / th.rated_mva if mva is not None else None
            th.samples.append((t_s, load, v("ambient_c"), v("top_oil_c"), v("hot_spot_c"),
                               v("winding_c"),
                               tuple(bool(frame.values[i] >= 0.5) if good[i] else None
                                     for i in th.coolers)))

    def _sample_dga(self, frame: ScanFrame, good: np.ndarray, now: dt.datetime) -> None:
        for asset, rows in self._gas_rows.items():
            ppm = {g: float(frame.values[i]) for g, i in rows.items()
                   if good[i] and np.isfinite(frame.values[i])}
            if len(ppm) < 5:
                continue
            hist = self._dga[asset]
            if hist and hist[-1][1] == ppm:
                continue
            hist.append((now, ppm))

    def note_alarms(self, view: AlarmView) -> None:
        """Take one alarm view's transitions as events (new activations only)."""
        kinds = {r.key: r for r in view.rows}
        for tr in view.transitions:
            if tr.after not in _NEW or tr.before == AlarmState.UNACK:
                continue
            row = kinds.get(tr.key)
            if row is None:
                continue
            ev = self._event_for(row, tr.time, tr.value)
            if ev is not None:
                self._add(ev)

    def _event_for(self, row: AlarmRow, when: dt.datetime, value: float) -> StationEvent | None:
        kind = _ALARM_EVENT.get(row.kind)
        if kind is None:
            return None
        quantity = self._quantity(row.tag)
        return StationEvent(when, row.asset, kind, tag=row.tag if "." in row.tag else None,
                            quantity=quantity, value=value if np.isfinite(value) else None,
                            priority=row.priority, message=row.message)

    def _quantity(self, tag: str | None) -> str | None:
        if tag is None or tag not in self.points.index:
            return None
        return self.points.quantity[self.points.index[tag]]

    def _add(self, ev: StationEvent) -> None:
        self._events.append(ev)

    def _expire(self, now: dt.datetime) -> None:
        cut = now - dt.timedelta(seconds=self.keep_s)
        while self._events and self._events[0].time < cut:
            self._events.popleft()

    # ------------------------------------------------------------------ triggers
    def trigger_for_alarm(self, row: AlarmRow) -> Trigger:
        """The trigger for an alarm row (asset type and quantity looked up in the station)."""
        when = row.since or self._last_time
        if when is None:
            raise ValueError(f"alarm {row.key}: no time (the row has no 'since' and no scan "
                             "was noted)")
        return Trigger("alarm", row.asset, when, asset_type=self._types.get(row.asset, ""),
                       tag=row.tag if "." in row.tag else None, alarm_kind=row.kind,
                       quantity=self._quantity(row.tag),
                       value=row.value if np.isfinite(row.value) else None,
                       priority=row.priority, message=row.message, key=row.key)

    def trigger_for_anomaly(self, asset: str, time: dt.datetime, *,
                            features: Mapping[str, float] | None = None,
                            severity: str | None = None, score: float | None = None,
                            key: str = "") -> Trigger:
        """The trigger for a newly flagged anomaly (``features``: its explanation's feature
        values, by feature name)."""
        msg = f"anomaly on {asset}" + (f" ({severity}, score {score:.2f})"
                                       if severity and score is not None else "")
        return Trigger("anomaly", asset, time, asset_type=self._types.get(asset, ""),
                       message=msg, features=features or {}, key=key or f"anomaly:{asset}")

    # ------------------------------------------------------------------ history
    def load_incidents(self, *, start: dt.datetime, end: dt.datetime,
                       limit: int = 20000) -> int:
        """Read past incidents from the historian (the reader given at construction); returns
        how many. Runs on the caller's thread (a query)."""
        if self.reader is None:
            return 0
        rows = self.reader.events(start=start, end=end, limit=limit)
        self._incidents = tuple(incidents_from_stored(rows, self.station))
        return len(self._incidents)

    @property
    def incidents(self) -> tuple[Incident, ...]:
        return self._incidents

    # ------------------------------------------------------------------ the context
    def context(self, trigger: Trigger) -> RcaContext:
        """Everything the analysers may use for ``trigger``, from what was noted so far.

        With a historian reader, the past incidents are read on the first call and again when
        the trigger is :data:`INCIDENT_REFRESH_S` past the last read (a query on the caller's
        thread; one that fails is logged once and the analysis goes on without them)."""
        if self.reader is not None and (
                self._incidents_at is None
                or (trigger.time - self._incidents_at).total_seconds() > INCIDENT_REFRESH_S):
            self._incidents_at = trigger.time
            try:
                self.load_incidents(start=trigger.time - dt.timedelta(days=INCIDENT_DAYS),
                                    end=trigger.time)
            except Exception as exc:  # noqa: BLE001 — history is optional, never fatal
                if not self._incidents_failed:
                    log.warning("RCA: past incidents could not be read from the historian: "
                                "%s: %s", type(exc).__name__, exc)
                self._incidents_failed = True
        # the historian already holds this incident's first alarms: it is not a past one
        current = trigger.time - dt.timedelta(seconds=INCIDENT_GAP_S)
        xf = self._transformer_for(trigger.asset)
        thermal = {}
        dga = {}
        if xf is not None:
            ti = self._thermal_inputs(xf)
            if ti is not None:
                thermal[xf] = ti
            if self._dga.get(xf):
                dga[xf] = tuple(self._dga[xf])
        return RcaContext(topology=self._topology, events=tuple(self._events),
                          values=MappingProxyType(self._values_for(trigger)),
                          thermal=MappingProxyType(thermal), dga=MappingProxyType(dga),
                          age_years=MappingProxyType(self._ages(trigger.time)),
                          incidents=tuple(i for i in self._incidents if i.time < current))

    def analyse(self, trigger: Trigger) -> RcaResult:
        """:func:`ml.rca.engine.analyse` on this builder's context."""
        return analyse(trigger, self.context(trigger))

    def _transformer_for(self, asset: str) -> str | None:
        if asset in self._thermal or asset in self._gas_rows:
            return asset
        bay = self._topology.bay_of(asset)
        return bay.transformer if bay is not None else None

    def _thermal_inputs(self, xf: str) -> ThermalInputs | None:
        th = self._thermal.get(xf)
        if th is None or len(th.samples) < 2:
            return None
        s = list(th.samples)
        if not any(x[1] is not None for x in s) or not any(x[2] is not None for x in s):
            return None
        return ThermalInputs(time_s=tuple(x[0] for x in s), load_pu=tuple(x[1] for x in s),
                             ambient_c=tuple(x[2] for x in s), top_oil_c=tuple(x[3] for x in s),
                             hot_spot_c=tuple(x[4] for x in s),
                             winding_c=tuple(x[5] for x in s) if "winding_c" in th.rows else (),
                             coolers_running=s[-1][6])

    def _values_for(self, trigger: Trigger) -> dict[str, tuple[float, ...]]:
        """Recent good samples of the trigger's asset's points and of its zone's voltages."""
        n = min(self._ring_n, VALUES_KEEP)
        if n == 0:
            return {}
        order = [(self._ring_n - n + k) % VALUES_KEEP for k in range(n)]
        ring = self._ring[order]
        tags: list[str] = []
        a = self._topology.assets.get(trigger.asset)
        if a is not None:
            tags += a.points
        zone = self._topology.zone_of(trigger.asset)
        for bid in self._topology.zones.get(zone or "", ()):
            for aid in self._topology.bays[bid].assets:
                ta = self._topology.assets[aid]
                tags += [t for t in ta.points if ta.quantities.get(t) == "voltage_kv"]
        out = {}
        for t in dict.fromkeys(tags):
            i = self.points.index[t]
            if self.points.kind[i] != KIND_ANALOG:
                continue
            col = ring[:, i]
            col = col[np.isfinite(col)]
            if len(col):
                out[t] = tuple(float(x) for x in col)
        return out

    def _ages(self, when: dt.datetime) -> dict[str, float]:
        out = {}
        for a in self.station.assets:
            if a.id in self._gas_rows:
                days = (when.date() - a.nameplate.commissioned).days
                out[a.id] = max(0.0, days / 365.25)
        return out


# ----------------------------------------------------------------------------- stored
#: The historian's event types (``events.event_type``) and how the analysis reads them.
_STORED_KIND = {"comm": "comm_lost"}
#: Stored event types that record what was found about an incident.
FINDING_TYPES = ("rca", "note", "finding")


def events_from_stored(rows: Iterable[Event], station: Station) -> list[StationEvent]:
    """The historian's stored alarm events as correlation events: an ``alarm`` event (a new
    activation only, as :func:`app.alarms.log.transition_row` stores it) gets its kind from its
    alarm key (``<asset>:trip``, ``<tag>:operated`` …) and its point's quantity; rows the
    analysis has no kind for are left out."""
    pt_q = {f"{a.id}.{p.name}": p.quantity for a in station.assets for p in a.points}
    out = []
    for r in rows:
        ev = _stored_event(r, pt_q)
        if ev is not None:
            out.append(ev)
    out.sort(key=lambda e: e.time)
    return out


def _stored_event(r: Event, pt_q: Mapping[str, str]) -> StationEvent | None:
    when = dt.datetime.fromtimestamp(r.time_ms / 1000.0, dt.UTC)
    asset = r.asset_id or ""
    tag = r.tag or ""
    kind = None
    if r.event_type == "alarm":
        if r.after is not None and (r.after != AlarmState.UNACK.value
                                    or r.before == AlarmState.UNACK.value):
            return None  # an acknowledgement, a clearing, a shelving: not a new alarm
        suffix = (r.state or "").lower()
        q = pt_q.get(tag.split(":")[0])
        if tag.endswith(":trip") or suffix == "trip":
            kind = "trip"
        elif tag.endswith(":comm"):
            kind = "comm_lost"
        elif tag.endswith(":invalid"):
            kind = "invalid"
        elif tag.endswith(":operated"):
            kind = "protection"
        elif tag.endswith(":status"):
            kind = "status"
        elif q is not None:
            kind = "limit"
        tag = tag.split(":")[0]
    elif r.event_type in _STORED_KIND:
        kind = _STORED_KIND[r.event_type]
    elif r.event_type in EVENT_KINDS:
        kind = r.event_type
    if kind is None or not asset:
        return None
    return StationEvent(when, asset, kind, tag=tag if "." in tag else None,
                        quantity=pt_q.get(tag), value=r.value, message=r.message or "")


def incidents_from_stored(rows: Sequence[Event], station: Station, *,
                          gap_s: float = INCIDENT_GAP_S,
                          finding_horizon_s: float = FINDING_HORIZON_S) -> list[Incident]:
    """Stored events grouped into incidents (a quiet gap of ``gap_s`` ends one), each with its
    signature and what was recorded about it: an ``rca``, ``note`` or ``finding`` event
    belongs to the latest incident before it (within ``finding_horizon_s``) that involves
    its asset's bay — its message is the finding, and an ``rca`` event's ``state`` the cause
    code."""
    types = {a.id: a.type for a in station.assets}
    types.update({b.id: "bay" for b in station.bays})
    bay_of = {a.id: a.bay for a in station.assets}
    bay_of.update({b.id: b.id for b in station.bays})
    pt_q = {f"{a.id}.{p.name}": p.quantity for a in station.assets for p in a.points}
    ordered = sorted(rows, key=lambda r: r.time_ms)
    groups: list[list[StationEvent]] = []
    ids: list[list[int]] = []
    notes: list[Event] = []
    for r in ordered:
        if r.event_type in FINDING_TYPES:
            notes.append(r)
            continue
        e = _stored_event(r, pt_q)
        if e is None:
            continue
        if groups and (e.time - groups[-1][-1].time).total_seconds() <= gap_s:
            groups[-1].append(e)
            ids[-1].append(r.event_id)
        else:
            groups.append([e])
            ids.append([r.event_id])
    found: list[list[Event]] = [[] for _ in groups]
    for n in notes:
        t = n.time_ms / 1000.0
        bay = bay_of.get(n.asset_id or "")
        for k in range(len(groups) - 1, -1, -1):
            start = groups[k][0].time.timestamp()
            if start > t:
                continue
            if t - start > finding_horizon_s:
                break
            if bay is None or any(bay_of.get(e.asset) == bay for e in groups[k]):
                found[k].append(n)
                break
    out = []
    for g, gid, f in zip(groups, ids, found, strict=True):
        first = g[0]
        terms: dict[str, float] = {term(first.kind, first.quantity,
                                        types.get(first.asset, "?")): 2.0}
        for e in g[1:]:
            terms.setdefault(term(e.kind, e.quantity, types.get(e.asset, "?")), 1.0)
        finding = "; ".join(r.message for r in f)
        cause = next((r.state for r in f if r.event_type == "rca" and r.state
                      and (r.state in CAUSES or r.state.startswith("dga:"))), None)
        ref = f"events {min(gid)}-{max(gid)}"
        out.append(Incident(first.time, first.asset, types.get(first.asset, "?"),
                            Signature(terms), finding, cause, ref))
    return out


def result_event(result: RcaResult) -> EventRow:
    """The event row recording an analysis's conclusion (``event_type`` "rca", the top cause
    code in ``state``), for the historian: later incidents are matched against it."""
    top = result.top
    t = result.trigger
    sev = "high" if top is not None and any(a.kind == "immediate" for a in top.actions) \
        else "medium" if top is not None else "low"
    return {"event_type": "rca", "severity": sev,
            "message": (f"RCA {t.kind} {t.key or t.asset}: {top.title} "
                        f"({100 * top.confidence:.0f} %)") if top is not None
            else f"RCA {t.kind} {t.key or t.asset}: no hypothesis",
            "time_ms": int(t.time.timestamp() * 1000), "asset_id": top.asset if top else t.asset,
            "tag": t.tag, "state": top.cause if top is not None else None}
