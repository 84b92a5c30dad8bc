"""Abnormal at a glance (ISA-101): alarm markers, trip flags, loading bars and band gauges.

The alarm engine publishes an :class:`~app.alarms.engine.AlarmView` (every alarm not in
NORMAL); :func:`summarise` reduces it to one immutable :class:`AssetAlarms` per asset — the
highest priority, how many, how many unacknowledged, whether a trip is waiting for its
acknowledgement and which measurements are out of limits (tag → priority). Everything drawn
here follows that summary only, so the diagram and the bay displays say exactly what the
alarm list says.

* :class:`AlarmMarker` — a shape per priority (1 square, 2 triangle, 3 diamond, 4 circle)
  in the priority colour with the priority number, and ``×n`` when the object has several
  alarms; blinking (hollow / filled) while any of them is unacknowledged. Drawn at a fixed
  screen size (it ignores the view's zoom), so it is never decluttered away; markers of one
  bay that would sit on each other are drawn as one (:func:`merge_close`), its tooltip naming
  what it stands for.
* :class:`TripFlag` — a "TRIP" pennant beside a breaker that opened without a command,
  until the trip is acknowledged.
* :class:`BandGauge` — a busbar's voltage against its Grid Code band: the band is a box, the
  value a pointer; out of the band the pointer sits outside the box (and takes the priority
  colour of the voltage alarm), readable without reading the number.

Colour stays for the abnormal: everything is grey until an alarm says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from app.alarms.engine import ANNUNCIATED, AlarmRow, AlarmState
from app.ui import theme

UNACKED = (AlarmState.UNACK, AlarmState.RTN_UNACK)


@dataclass(frozen=True, slots=True)
class AssetAlarms:
    """The alarms of one asset as the diagram shows them (immutable)."""

    asset: str
    priority: int
    """Highest (numerically lowest) priority of its annunciated alarms."""
    count: int
    unacked: int
    tripped: bool
    """A trip (an opening nobody commanded) not yet acknowledged."""
    out_of_limit: Mapping[str, int] = field(default_factory=dict)
    """Active analog alarms: tag → priority."""


def summarise(rows: Iterable[AlarmRow]) -> dict[str, AssetAlarms]:
    """Per asset, what its annunciated alarms add up to (shelved, suppressed and
    out-of-service alarms are not annunciated and draw nothing)."""
    acc: dict[str, list] = {}
    for r in rows:
        if r.state not in ANNUNCIATED:
            continue
        a = acc.setdefault(r.asset, [5, 0, 0, False, {}])
        a[0] = min(a[0], r.priority)
        a[1] += 1
        if r.state in UNACKED:
            a[2] += 1
            if r.kind == "trip":
                a[3] = True
        if r.kind == "analog" and r.active:
            a[4][r.tag] = min(a[4].get(r.tag, 5), r.priority)
    return {k: AssetAlarms(k, p, n, u, t, MappingProxyType(o))
            for k, (p, n, u, t, o) in acc.items()}


def merge_close(per_anchor: Mapping[str, AssetAlarms], pos: Mapping[str, QPointF],
                group: Callable[[str], str | None], dx: float, dy: float
                ) -> tuple[dict[str, AssetAlarms], dict[str, QPointF], dict[str, tuple[str, ...]]]:
    """Markers of one group (a bay; ``group`` None: never merged) whose anchors are closer
    than ``dx`` and ``dy`` (a marker's size on screen, in scene units at the current zoom:
    markers keep their screen size as the view zooms out) would sit on each other: they
    become one, at the place of the most urgent (then the one with more alarms), with the
    worst priority and every alarm counted. Returns the markers, their anchors and, per
    marker, the anchors it stands for (most urgent first)."""
    order = sorted(per_anchor, key=lambda k: (per_anchor[k].priority, -per_anchor[k].count, k))
    out: dict[str, AssetAlarms] = {}
    at: dict[str, QPointF] = {}
    members: dict[str, tuple[str, ...]] = {}
    for k in order:
        g, p = group(k), pos[k]
        host = None if g is None else next(
            (h for h in out if group(h) == g and abs(at[h].x() - p.x()) < dx
             and abs(at[h].y() - p.y()) < dy), None)
        if host is None:
            out[k], at[k], members[k] = per_anchor[k], p, (k,)
            continue
        o, s = out[host], per_anchor[k]
        out[host] = AssetAlarms(host, min(o.priority, s.priority), o.count + s.count,
                                o.unacked + s.unacked, o.tripped or s.tripped)
        members[host] += (k,)
    return out, at, members


def text_on(prio: int) -> QColor:
    """Readable text on a priority colour (dark on orange and yellow)."""
    return QColor("white") if prio in (1, 4) else theme.TEXT


def marker_shape(prio: int, r: float) -> QPolygonF | None:
    """The marker's outline for ``prio`` centred on 0, 0 (None: a circle)."""
    if prio == 1:
        return QPolygonF([QPointF(-r, -r), QPointF(r, -r), QPointF(r, r), QPointF(-r, r)])
    if prio == 2:
        return QPolygonF([QPointF(0, -r * 1.2), QPointF(r * 1.2, r * 0.9),
                          QPointF(-r * 1.2, r * 0.9)])
    if prio == 3:
        return QPolygonF([QPointF(0, -r * 1.25), QPointF(r * 1.25, 0), QPointF(0, r * 1.25),
                          QPointF(-r * 1.25, 0)])
    return None


def paint_marker(p: QPainter, centre: QPointF, r: float, prio: int, count: int,
                 hollow: bool, font: QFont) -> None:
    """One alarm marker (shared by the diagram, the bay display and the banner)."""
    col = theme.PRIORITY.get(prio, theme.PRIORITY[4])
    p.save()
    p.translate(centre)
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    p.setPen(QPen(QColor("#202020") if not hollow else col, max(1.5, r / 5)))
    p.setBrush(theme.BACKGROUND if hollow else col)
    shape = marker_shape(prio, r)
    if shape is None:
        p.drawEllipse(QPointF(0, 0), r * 1.05, r * 1.05)
    else:
        p.drawPolygon(shape)
    p.setFont(font)
    p.setPen(theme.TEXT if hollow else text_on(prio))
    box = QRectF(-r, -r, 2 * r, 2 * r)
    if prio == 2:
        box.translate(0, r * 0.2)
    p.drawText(box, Qt.AlignmentFlag.AlignCenter, str(prio))
    if count > 1:
        p.setPen(theme.TEXT)
        p.drawText(QRectF(r * 1.3, -r, 4 * r, 2 * r),
                   Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, f"×{count}")
    p.restore()


class AlarmMarker(QGraphicsItem):
    """The alarm marker beside one object of the diagram, at a fixed screen size: centred on
    its anchor with the count to the right, or (``left_of``) wholly left of the anchor — for
    a value the marker must never cover, whatever the zoom (a busbar's kV)."""

    def __init__(self, anchor: QPointF, size_px: float, *, left_of: bool = False) -> None:
        super().__init__()
        self.setPos(anchor)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setZValue(60)
        self.r = size_px / 2
        self.font = QFont("DejaVu Sans")
        self.font.setPixelSize(max(8, int(size_px * 0.7)))
        self.font.setWeight(QFont.Weight.Bold)
        self.priority, self.count, self.unacked = 4, 0, False
        self.blink_on = True
        self.left_of = left_of
        self._dx = -self.r * 5.6 if left_of else 0.0
        self._rect = QRectF(-self.r * 1.4 + self._dx, -self.r * 1.4, self.r * 7, self.r * 2.8)

    @property
    def shift_px(self) -> float:
        """How far left of its place it is drawn (:meth:`shift_left`)."""
        return -self._dx - self.r * 5.6 if self.left_of else 0.0

    def shift_left(self, px: float) -> None:
        """Draw the marker ``px`` screen pixels further left of its anchor (0: none) — the
        lower bus of a double busbar, whose marker would sit on the upper one's."""
        dx = -self.r * 5.6 - px
        if dx != self._dx:
            self.prepareGeometryChange()
            self._dx = dx
            self._rect = QRectF(-self.r * 1.4 + dx, -self.r * 1.4, self.r * 7, self.r * 2.8)
            self.update()

    def set_alarms(self, s: AssetAlarms) -> None:
        if (s.priority, s.count, s.unacked > 0) != (self.priority, self.count, self.unacked):
            self.priority, self.count, self.unacked = s.priority, s.count, s.unacked > 0
            self.update()

    def blink(self, on: bool) -> None:
        if self.unacked and on != self.blink_on:
            self.blink_on = on
            self.update()
        elif not self.unacked:
            self.blink_on = True

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        return self._rect

    def paint(self, p: QPainter, _o: QStyleOptionGraphicsItem,
              _w: QWidget | None = None) -> None:
        paint_marker(p, QPointF(self._dx, 0), self.r, self.priority, self.count,
                     self.unacked and not self.blink_on, self.font)


class TripFlag(QGraphicsItem):
    """A "TRIP" tag at a breaker that opened on its own, until acknowledged."""

    def __init__(self, anchor: QPointF, size_px: float) -> None:
        super().__init__()
        self.setPos(anchor)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setZValue(61)
        self.font = QFont("DejaVu Sans")
        self.font.setPixelSize(max(8, int(size_px * 0.65)))
        self.font.setWeight(QFont.Weight.Bold)
        w = QFontMetricsF(self.font).horizontalAdvance("TRIP") + size_px * 0.7
        h = size_px
        # A tag above its anchor (the breaker's top edge), pointing down at the breaker: it
        # covers only the bay's own conductor, never a neighbour's values.
        t = h * 0.4
        self._flag = QPolygonF([QPointF(-w / 2, -h - t), QPointF(w / 2, -h - t),
                                QPointF(w / 2, -t), QPointF(t, -t), QPointF(0, 0),
                                QPointF(-t, -t), QPointF(-w / 2, -t)])
        self._rect = self._flag.boundingRect().adjusted(-2, -2, 2, 2)
        self._text = QRectF(-w / 2, -h - t, w, h)

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        return self._rect

    def paint(self, p: QPainter, _o: QStyleOptionGraphicsItem,
              _w: QWidget | None = None) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setPen(QPen(QColor("#202020"), 1.5))
        p.setBrush(theme.PRIORITY[1])
        p.drawPolygon(self._flag)
        p.setPen(QColor("white"))
        p.setFont(self.font)
        p.drawText(self._text, Qt.AlignmentFlag.AlignCenter, "TRIP")


class BandGauge(QGraphicsItem):
    """A voltage against its Grid Code band, in scene units under a busbar's kV label."""

    def __init__(self, min_kv: float, nominal_kv: float, max_kv: float,
                 width: float, height: float) -> None:
        super().__init__()
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setZValue(20)
        self.min_kv, self.nominal_kv, self.max_kv = min_kv, nominal_kv, max_kv
        span = max(max_kv - nominal_kv, nominal_kv - min_kv) * 2.0
        self.lo, self.hi = nominal_kv - span, nominal_kv + span
        self.w, self.h = width, height
        self.kv = float("nan")
        self.priority = 0

    def _x(self, kv: float) -> float:
        f = (min(max(kv, self.lo), self.hi) - self.lo) / (self.hi - self.lo)
        return f * self.w

    @property
    def outside(self) -> bool:
        return self.kv == self.kv and not self.min_kv <= self.kv <= self.max_kv

    def set_value(self, kv: float, priority: int) -> None:
        # Redraw only when the pointer moves by a visible amount or the colour changes.
        moved = (self.kv != self.kv) != (kv != kv) or (
            kv == kv and abs(self._x(kv) - self._x(self.kv)) >= self.w / 100)
        if moved or priority != self.priority:
            self.kv, self.priority = kv, priority
            self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        return QRectF(-self.h, -self.h * 0.2, self.w + 2 * self.h, self.h * 1.8)

    def paint(self, p: QPainter, _o: QStyleOptionGraphicsItem,
              _w: QWidget | None = None) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        col = theme.PRIORITY.get(self.priority, theme.EQUIPMENT)
        p.setPen(QPen(theme.TEXT_MUTED, 1.2))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawLine(QPointF(0, self.h / 2), QPointF(self.w, self.h / 2))
        band = QRectF(self._x(self.min_kv), 0, self._x(self.max_kv) - self._x(self.min_kv),
                      self.h)
        p.setPen(QPen(col if self.priority else theme.TEXT_MUTED, 1.5))
        p.drawRect(band)
        if self.kv == self.kv:
            x = self._x(self.kv)
            p.setPen(QPen(QColor("#202020"), 1))
            p.setBrush(col if self.priority or not self.outside else theme.TEXT)
            tri = QPolygonF([QPointF(x, self.h * 0.9), QPointF(x - self.h * 0.55, self.h * 1.6),
                             QPointF(x + self.h * 0.55, self.h * 1.6)])
            p.drawPolygon(tri)
            p.drawLine(QPointF(x, 0), QPointF(x, self.h))
