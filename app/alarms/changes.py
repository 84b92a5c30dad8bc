"""Sequence of events: what changed between two scans.

Switch positions and other indications, quality of any point, and each device's communication
state. Each event carries the point's source timestamp (millisecond resolution as an SOE does)
and the values before and after. Analog values are not events (they are the historian's).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from app.station import quality as Q
from app.station.frame import ScanFrame
from app.station.points import KIND_STATUS, POS_CLOSED, POS_INTERMEDIATE, POS_OPEN, PointTable

_POS_TEXT = {POS_INTERMEDIATE: "intermediate", POS_OPEN: "open", POS_CLOSED: "closed",
             3: "bad state"}


@dataclass(frozen=True, slots=True)
class Event:
    time: dt.datetime
    event_type: str  # "state", "quality", "comm"
    asset: str
    tag: str
    message: str
    severity: str  # "low", "medium", "high", "urgent" (app.alarms.engine.PRIORITY_NAME)
    before: str
    after: str

    def row(self) -> dict:
        """The historian's ``events`` columns for this event (UTC milliseconds)."""
        return {"event_type": self.event_type, "asset_id": self.asset, "tag": self.tag,
                "severity": self.severity, "message": self.message,
                "time_ms": int(round(self.time.timestamp() * 1000)), "before": self.before,
                "after": self.after}


class ChangeDetector:
    def __init__(self, points: PointTable) -> None:
        self.points = points
        self._status = points.kind == KIND_STATUS
        self._position = np.array([q == "position" for q in points.quantity])
        self._prev: ScanFrame | None = None

    def _text(self, i: int, value: float) -> str:
        if self._position[i]:
            return _POS_TEXT.get(int(round(value)), f"{value:g}")
        return "on" if value >= 0.5 else "off"

    def changes(self, frame: ScanFrame) -> list[Event]:
        prev, self._prev = self._prev, frame
        if prev is None:
            return []
        pt = self.points
        out: list[Event] = []
        good_now = Q.good_mask(frame.quality)
        good_then = Q.good_mask(prev.quality)
        changed = self._status & good_now & good_then & (
            np.round(frame.values) != np.round(prev.values))
        for i in np.flatnonzero(changed):
            before = self._text(i, prev.values[i])
            after = self._text(i, frame.values[i])
            t = dt.datetime.fromtimestamp(int(frame.t_source_ns[i]) / 1e9, dt.UTC)
            sev = "high" if pt.quantity[i] in ("trip", "operated", "breaker_failure_operated") \
                else "medium" if self._position[i] else "low"
            if after == "intermediate":
                continue  # travelling: the SOE records where it ends up
            out.append(Event(t, "state", pt.asset[i], pt.tags[i],
                             f"{pt.tags[i]} {before} → {after}", sev, before, after))
        qchanged = frame.quality != prev.quality
        # A device's communication event speaks for its points: no quality event for the
        # points of a device that is not OK now, or was not in the previous scan (SUSPECT,
        # LOST, CONNECTING: app.field.commstate), whose quality only follows the link.
        linked = {d for d, c in frame.comm.items() if c.state.value != "ok"} | \
            {d for d, c in prev.comm.items() if c.state.value != "ok"}
        for i in np.flatnonzero(qchanged):
            if pt.device_of[i] in linked:
                continue
            before, after = Q.describe(int(prev.quality[i])), Q.describe(int(frame.quality[i]))
            out.append(Event(frame.t_acquired, "quality", pt.asset[i], pt.tags[i],
                             f"{pt.tags[i]} quality {before} → {after}",
                             "low" if good_now[i] else "medium", before, after))
        for dev, c in frame.comm.items():
            p = prev.comm.get(dev)
            if p is not None and p.state != c.state:
                out.append(Event(frame.t_acquired, "comm", dev, dev,
                                 f"{dev} communication {p.state.value} → {c.state.value}"
                                 + (f": {c.last_error}" if c.last_error else ""),
                                 "high" if c.state.value == "lost" else "low",
                                 p.state.value, c.state.value))
        return out
