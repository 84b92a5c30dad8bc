"""What the yard shows for one snapshot and one alarm view (no Qt widgets, no geometry): per
device a body colour, a colour for its state-bearing part (a breaker's interrupter head, a
disconnector's blade) and how far its blade is open; per busbar and bay conductor whether it is
energised; the alarm markers and trip flags; the selection. The live view applies it to its
meshes in place; the static view ships it to the render child as an .npz.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.alarms.engine import AlarmRow, AlarmState, AlarmView
from app.runtime.snapshot import LiveSnapshot
from app.station import quality as Q
from app.station.points import POS_CLOSED, POS_INTERMEDIATE, POS_OPEN, PointTable
from app.ui.yard3d import layout as L
from app.ui.yard3d.layout import YardModel

#: Alarm states that put a marker on the device (shelved and suppressed ones do not).
MARKED = (AlarmState.UNACK, AlarmState.ACKED, AlarmState.RTN_UNACK)


@dataclass(frozen=True, slots=True)
class Marker:
    """An alarm marker: where (a device index, or -1 and a bay), its priority, a trip flag."""

    device: int
    bay: str
    priority: int
    trip: bool = False
    unacked: bool = False
    active: bool = True


@dataclass(slots=True)
class YardState:
    body: np.ndarray  # (n, 3) uint8
    part: np.ndarray  # (n, 3) uint8
    blade_open: np.ndarray  # (n,) float: 0 closed … 1 open
    bus_live: np.ndarray  # (nbus,) bool
    seg_live: np.ndarray  # (nseg,) bool
    markers: tuple[Marker, ...] = ()
    selected: int = -1
    focus_bay: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        m = self.markers
        np.savez(path, body=self.body, part=self.part, blade_open=self.blade_open,
                 bus_live=self.bus_live, seg_live=self.seg_live,
                 m_device=np.array([x.device for x in m], int),
                 m_bay=np.array([x.bay for x in m], dtype=str),
                 m_priority=np.array([x.priority for x in m], int),
                 m_trip=np.array([x.trip for x in m], bool),
                 m_unacked=np.array([x.unacked for x in m], bool),
                 m_active=np.array([x.active for x in m], bool),
                 selected=np.array(self.selected), focus_bay=np.array(self.focus_bay))

    @classmethod
    def load(cls, path: Path | str) -> YardState:
        d = np.load(path)
        markers = tuple(Marker(int(k), str(b), int(p), bool(t), bool(u), bool(a))
                        for k, b, p, t, u, a in
                        zip(d["m_device"], d["m_bay"], d["m_priority"], d["m_trip"],
                            d["m_unacked"], d["m_active"], strict=True))
        return cls(d["body"], d["part"], d["blade_open"], d["bus_live"], d["seg_live"],
                   markers, int(d["selected"]), str(d["focus_bay"]))


def blank_state(model: YardModel) -> YardState:
    n = len(model.placed)
    return YardState(np.tile(L.BODY, (n, 1)), np.tile(L.CLOSED, (n, 1)), np.zeros(n),
                     np.ones(len(model.bus_assets), bool), np.ones(len(model.segments), bool))


def alarm_markers(model: YardModel, alarms: AlarmView | Iterable[AlarmRow] | None
                  ) -> tuple[Marker, ...]:
    """One marker per alarmed device (or bay, for alarms of devices the yard does not draw:
    relays, bay controllers, a bay's communication), at its highest priority; a trip flag
    while a breaker's trip alarm is unacknowledged."""
    rows = alarms.rows if isinstance(alarms, AlarmView) else (alarms or ())
    best: dict[tuple[int, str], Marker] = {}
    for r in rows:
        if r.state not in MARKED:
            continue
        k = model.index.get(r.asset, -1)
        bay = model.bay_of(r.asset) or ""
        if k < 0 and not bay:
            continue
        key = (k, bay if k < 0 else "")
        unacked = r.state in (AlarmState.UNACK, AlarmState.RTN_UNACK)
        trip = r.kind == "trip" and unacked
        old = best.get(key)
        if old is None:
            best[key] = Marker(k, bay, r.priority, trip, unacked, r.active)
        else:
            best[key] = Marker(k, bay, min(old.priority, r.priority), old.trip or trip,
                               old.unacked or unacked, old.active or r.active)
    return tuple(sorted(best.values(), key=lambda m: (m.priority, m.device, m.bay)))


class _Plan:
    """Per model and point table: each device's position row, its other rows, its circuit
    node candidates; per solved circuit (its bus index, shared by every state of one
    compiled circuit) each device's and conductor's bus row — so a snapshot costs a few
    numpy gathers, not a walk over the station (it arrives ten times a second)."""

    def __init__(self, model: YardModel, points: PointTable) -> None:
        n = len(model.placed)
        self.pos_row = np.full(n, -1)
        rows: list[list[int]] = []
        for k, p in enumerate(model.placed):
            self.pos_row[k] = points.index.get(f"{p.asset}.POS", -1)
            rows.append([] if self.pos_row[k] >= 0 else
                        [points.index[f"{p.asset}.{pt.name}"]
                         for pt in model.station.asset(p.asset).points
                         if f"{p.asset}.{pt.name}" in points.index])
        width = max((len(r) for r in rows), default=0) or 1
        self.rows = np.full((n, width), -1)
        for k, r in enumerate(rows):
            self.rows[k, :len(r)] = r
        self.has_rows = (self.rows >= 0).any(axis=1)
        self.nodes = [model.nodes_of(k) for k in range(n)]
        self.bus_nodes = [[(model.station.asset(a).bus or a).lower()]
                          for a, _kv in model.bus_assets]
        self.seg_nodes = [[f"{bay}_{s}".lower() for s in names]
                          for bay, _y0, _y1, names, _kv in model.segments]
        self._bus_key: int | None = None

    def bus_rows(self, bus_ix: Mapping[str, int]) -> tuple[np.ndarray, ...]:
        if self._bus_key != id(bus_ix):
            def first(names: list[str]) -> int:
                return next((bus_ix[x] for x in names if x in bus_ix), -1)

            self._dev_bus = np.array([first(n) for n in self.nodes], int)
            self._bus_bus = np.array([first(n) for n in self.bus_nodes], int)
            self._seg_bus = np.array([first(n) for n in self.seg_nodes], int)
            self._bus_key = id(bus_ix)
        return self._dev_bus, self._bus_bus, self._seg_bus


def _plan(model: YardModel, points: PointTable) -> _Plan:
    plans: dict[int, _Plan] = model.__dict__.setdefault("_plans", {})
    if id(points) not in plans:
        plans[id(points)] = _Plan(model, points)
    return plans[id(points)]


def _live(energised: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Energised per row (a bus row, or -1: unknown, drawn live)."""
    return np.where(rows >= 0, energised[np.maximum(rows, 0)], True)


def yard_state(model: YardModel, points: PointTable, snap: LiveSnapshot | None,
               alarms: AlarmView | Iterable[AlarmRow] | None = None,
               selected: str | None = None, focus_bay: str = "") -> YardState:
    """The yard's state for a snapshot and the alarm view (either may be missing)."""
    st = blank_state(model)
    if snap is not None:
        pl = _plan(model, points)
        f = snap.frame
        good = (f.quality & Q.VALIDITY_MASK) == Q.GOOD
        tw = snap.twin
        if tw is not None:
            dev_bus, bus_bus, seg_bus = pl.bus_rows(tw.bus_ix)
            live = _live(tw.energised, dev_bus)
            st.bus_live = _live(tw.energised, bus_bus)
            st.seg_live = _live(tw.energised, seg_bus)
            st.body[~live] = L.DEAD
        sw = pl.pos_row >= 0
        pr = pl.pos_row[sw]
        v = f.values[pr]
        pos = np.where(np.isfinite(v), np.rint(np.nan_to_num(v)), -1).astype(int)
        st.blade_open[sw] = np.select([pos == POS_CLOSED, pos == POS_OPEN], [0.0, 1.0], 0.5)
        part = np.tile(L.TRAVEL, (len(pr), 1))
        part[pos == POS_CLOSED] = L.CLOSED
        part[pos == POS_OPEN] = L.OPEN
        part[pos == POS_INTERMEDIATE] = L.TRAVEL
        part[~good[pr]] = L.INVALID
        st.part[sw] = part
        # A device without a position whose every reading is bad: magenta, as on the diagram.
        any_good = (np.where(pl.rows >= 0, good[np.maximum(pl.rows, 0)], False)).any(axis=1)
        st.body[~sw & pl.has_rows & ~any_good] = L.INVALID
        st.part[~sw] = st.body[~sw]
    st.markers = alarm_markers(model, alarms)
    for m in st.markers:
        if m.device >= 0 and m.active:
            # The device takes its alarm's priority colour; a switch keeps its position
            # readable on its state part (white open, dark closed) unless that is bad data.
            st.body[m.device] = L.PRIORITY.get(m.priority, L.PRIORITY[4])
            if model.placed[m.device].kind not in L.SWITCHING:
                st.part[m.device] = st.body[m.device]
    st.selected = model.index.get(selected, -1) if selected else -1
    st.focus_bay = focus_bay
    return st
