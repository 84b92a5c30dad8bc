"""What the yard shows for one snapshot and one alarm view (no Qt widgets, no geometry): per
device a body colour, a colour for its state-bearing part (a breaker's interrupter head, a
disconnector's blade) and how far its blade is open; per busbar and bay conductor whether it is
energised; the alarm markers and trip flags; the selection. The live view applies it to its
meshes in place; the static view ships it to the render child as an .npz.
"""

from __future__ import annotations

from collections.abc import Iterable
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


def _live_any(snap: LiveSnapshot | None, names: Iterable[str]) -> bool:
    """Whether the first of ``names`` the solved circuit knows is energised (True when none
    is known or there is no solution yet: no reason to draw it dead)."""
    tw = snap.twin if snap is not None else None
    if tw is None:
        return True
    for n in names:
        i = tw.bus_ix.get(n.lower())
        if i is not None:
            return bool(tw.energised[i])
    return True


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


def yard_state(model: YardModel, points: PointTable, snap: LiveSnapshot | None,
               alarms: AlarmView | None = None, selected: str | None = None,
               focus_bay: str = "") -> YardState:
    """The yard's state for a snapshot and the alarm view (either may be missing)."""
    st = blank_state(model)
    if snap is not None:
        f = snap.frame
        good = (f.quality & Q.VALIDITY_MASK) == Q.GOOD
        for k, p in enumerate(model.placed):
            live = _live_any(snap, model.nodes_of(k))
            st.body[k] = L.BODY if live else L.DEAD
            row = points.index.get(f"{p.asset}.POS")
            if row is not None:
                v = float(f.values[row])
                pos = int(round(v)) if np.isfinite(v) else -1
                st.blade_open[k] = {POS_CLOSED: 0.0, POS_OPEN: 1.0}.get(pos, 0.5)
                if not good[row]:
                    st.part[k] = L.INVALID
                else:
                    st.part[k] = {POS_CLOSED: L.CLOSED, POS_OPEN: L.OPEN,
                                  POS_INTERMEDIATE: L.TRAVEL}.get(pos, L.TRAVEL)
            else:
                rows = [points.index[f"{p.asset}.{pt.name}"]
                        for pt in model.station.asset(p.asset).points
                        if f"{p.asset}.{pt.name}" in points.index]
                if rows and not good[rows].any():
                    st.body[k] = L.INVALID  # every reading of it bad: magenta, as on the diagram
                st.part[k] = st.body[k]
        for i, (asset, _kv) in enumerate(model.bus_assets):
            a = model.station.asset(asset)
            st.bus_live[i] = _live_any(snap, [a.bus or asset])
        for i, (bay, _y0, _y1, names, _kv) in enumerate(model.segments):
            st.seg_live[i] = _live_any(snap, [f"{bay}_{s}" for s in names])
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
