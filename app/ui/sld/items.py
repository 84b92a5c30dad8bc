"""Single-line diagram items: one QGraphicsItem class per device type (IEC 60617 style).

ISA-101 conventions: equipment dark grey on a grey background; a closed switch is filled, an
open one hollow, one travelling shows a diagonal; invalid or old data is drawn unmistakably —
magenta outline and hatch — and colour is otherwise kept for energised conductors (muted, by
voltage level) and abnormal states. Items repaint only when their state changes.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QStyleOptionGraphicsItem,
    QWidget,
)

from app.station.points import POS_CLOSED, POS_INTERMEDIATE, POS_OPEN
from app.ui import theme

DARK = theme.EQUIPMENT
BG = theme.BACKGROUND
STATE_UNKNOWN = -1  # no data yet


def font(points: float, scale: float = 1.0, bold: bool = False) -> QFont:
    """The diagram's font at ``points`` × the layout's text scale, in the diagram's own
    units: the same size beside the symbols at any DPI (a larger font DPI would otherwise
    grow the text and not the drawing); the view keeps it readable when zoomed out."""
    f = QFont("DejaVu Sans")
    f.setPointSizeF(points * scale / theme.ui_scale())
    if bold:
        f.setWeight(QFont.Weight.Bold)
    return f


class DeviceItem(QGraphicsItem):
    """Base: a device at (x, y) that can be selected, clicked and asked for its points."""

    SIZE = 22.0

    def __init__(self, asset_id: str, x: float, y: float, horizontal: bool = False) -> None:
        super().__init__()
        self.asset_id = asset_id
        self.horizontal = horizontal
        self.setPos(x, y)
        self.setAcceptHoverEvents(True)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setZValue(10)
        # Drawn once into a pixmap and blitted until its state changes (update()): the flow
        # arrows animate at 20 Hz right beside the breakers, and repainting every symbol
        # they overlap cost the GUI thread a third of a core.
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.invalid = False
        self.energised = True

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        s = self.SIZE
        return QRectF(-s, -s, 2 * s, 2 * s)

    def set_invalid(self, invalid: bool) -> None:
        if invalid != self.invalid:
            self.invalid = invalid
            self.update()

    def set_energised(self, energised: bool) -> None:
        if energised != self.energised:
            self.energised = energised
            self.update()

    def _pen(self, width: float = 2.0) -> QPen:
        return QPen(theme.INVALID if self.invalid else DARK, width)

    def _selection(self, p: QPainter) -> None:
        if self.isSelected():
            p.setPen(QPen(theme.SELECTION, 2, Qt.PenStyle.DashLine))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(self.boundingRect().adjusted(2, 2, -2, -2))

    def _hatch(self, p: QPainter, rect: QRectF) -> None:
        if self.invalid:
            p.setPen(QPen(theme.INVALID, 2))
            p.setBrush(QBrush(theme.INVALID, Qt.BrushStyle.BDiagPattern))
            p.drawRect(rect)


class SwitchItem(DeviceItem):
    """A device with a position (Dbpos code: 0 intermediate, 1 open, 2 closed, 3 bad)."""

    def __init__(self, asset_id: str, x: float, y: float, horizontal: bool = False) -> None:
        super().__init__(asset_id, x, y, horizontal)
        self.position = STATE_UNKNOWN

    def set_position(self, pos: int) -> bool:
        if pos != self.position:
            self.position = pos
            self.update()
            return True
        return False

    @property
    def state_name(self) -> str:
        if self.invalid:
            return "invalid"
        return {POS_OPEN: "open", POS_CLOSED: "closed", POS_INTERMEDIATE: "intermediate"}.get(
            self.position, "bad" if self.position == 3 else "unknown")


class BreakerItem(SwitchItem):
    """IEC 60617 circuit breaker as an HMI square: filled closed, hollow open."""

    SIZE = 14.0

    def paint(self, p: QPainter, _o: QStyleOptionGraphicsItem,
              _w: QWidget | None = None) -> None:
        r = QRectF(-11, -11, 22, 22)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        state = self.state_name
        if state == "closed":
            p.setPen(QPen(DARK, 2))
            p.setBrush(DARK)
        elif state in ("open", "unknown"):
            p.setPen(QPen(DARK, 2.5))
            p.setBrush(QColor("white") if state == "open" else BG)
        else:  # intermediate / bad
            p.setPen(QPen(QColor("#B00020"), 2.5))
            p.setBrush(BG)
        p.drawRect(r)
        if state in ("intermediate", "bad"):
            p.drawLine(r.topLeft(), r.bottomRight())
            p.drawLine(r.topRight(), r.bottomLeft())
        self._hatch(p, r)
        self._selection(p)


class IsolatorItem(SwitchItem):
    """Disconnector: a blade between two contacts, inline when closed, swung out when open."""

    SIZE = 15.0

    def _blade(self, p: QPainter) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        state = self.state_name
        pen = QPen(theme.INVALID if self.invalid else
                   (QColor("#B00020") if state in ("intermediate", "bad") else DARK), 2.5)
        p.setPen(pen)
        p.setBrush(DARK)
        a, b = QPointF(0, 12), QPointF(0, -12)
        p.drawEllipse(a, 2.5, 2.5)
        p.drawEllipse(b, 2.5, 2.5)
        angle = {"closed": 0.0, "open": 35.0, "intermediate": 17.0}.get(state, 35.0)
        if state == "unknown":
            pen.setStyle(Qt.PenStyle.DotLine)
            p.setPen(pen)
        rad = math.radians(angle)
        tip = QPointF(a.x() + 24 * math.sin(rad), a.y() - 24 * math.cos(rad))
        p.drawLine(a, tip)

    def paint(self, p: QPainter, _o: QStyleOptionGraphicsItem,
              _w: QWidget | None = None) -> None:
        if self.horizontal:
            p.rotate(90)
        self._blade(p)
        if self.invalid:
            self._hatch(p, QRectF(-10, -14, 20, 28))
        self._selection(p)


class EarthSwitchItem(IsolatorItem):
    """Earth switch: a disconnector to an earth symbol."""

    SIZE = 20.0

    def paint(self, p: QPainter, o: QStyleOptionGraphicsItem,
              w: QWidget | None = None) -> None:
        super().paint(p, o, w)
        p.setPen(QPen(DARK, 2))
        for k, half in enumerate((9, 6, 3)):
            y = 16 + 4 * k
            p.drawLine(QPointF(-half, y), QPointF(half, y))


class TransformerItem(DeviceItem):
    """Two-winding transformer: two overlapping circles, each coloured by its side, a loading
    bar beside them (ticks at 90 and 100 %; grey, or the loading alarm's priority colour) and
    its readings, each line on its alarm's priority colour when out of limits."""

    SIZE = 40.0

    def __init__(self, asset_id: str, x: float, y: float, horizontal: bool = False, *,
                 text_scale: float = 1.0, text_left: bool = False) -> None:
        super().__init__(asset_id, x, y, horizontal)
        self.hv = QColor(DARK)
        self.lv = QColor(DARK)
        self.text = ""
        self.priorities: tuple[int, ...] = ()
        self.loading_pct = float("nan")
        self.loading_priority = 0
        self.font = font(8, text_scale)
        self.text_left = text_left
        self.show_text = True
        w, h = 235 * text_scale, 80 * text_scale
        self._text_rect = QRectF(-36 - w, -h / 2, w, h) if text_left else \
            QRectF(28, -h / 2, w, h)
        self._text_rect0 = QRectF(self._text_rect)
        self._base_pt = self.font.pointSizeF()
        self._bar = QRectF(-31, -30, 6, 60) if not text_left else QRectF(25, -30, 6, 60)
        self._rect = QRectF(-40, -40, 80, 80).united(self._text_rect)

    def set_sides(self, hv: QColor, lv: QColor, text: str,
                  priorities: tuple[int, ...] = ()) -> None:
        if hv != self.hv or lv != self.lv or text != self.text or priorities != self.priorities:
            self.hv, self.lv, self.text, self.priorities = hv, lv, text, priorities
            self.update()

    def set_loading(self, pct: float, priority: int) -> None:
        """The loading bar: redrawn when it moves by a visible step or changes colour."""
        old = self.loading_pct
        moved = (old != old) != (pct != pct) or (pct == pct and abs(pct - old) >= 1.0)
        if moved or priority != self.loading_priority:
            self.loading_pct, self.loading_priority = pct, priority
            self.update()

    def set_text_visible(self, on: bool) -> None:
        if on != self.show_text:
            self.show_text = on
            self.update()

    def set_text_boost(self, boost: float) -> None:
        """Draw the readings ``boost`` times larger (zoomed out: kept readable)."""
        pt = self._base_pt * boost
        if abs(self.font.pointSizeF() - pt) > 0.05:
            self.prepareGeometryChange()
            self.font.setPointSizeF(pt)
            r = self._text_rect0
            w, h = r.width() * boost, r.height() * boost
            self._text_rect = QRectF(r.right() - w, -h / 2, w, h) if self.text_left else \
                QRectF(r.left(), -h / 2, w, h)
            self._rect = QRectF(-40, -40, 80, 80).united(self._text_rect)
            self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802
        return self._rect

    def paint(self, p: QPainter, _o: QStyleOptionGraphicsItem,
              _w: QWidget | None = None) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.setPen(QPen(self.hv, 3))
        p.drawEllipse(QPointF(0, -12), 20, 20)
        p.setPen(QPen(self.lv, 3))
        p.drawEllipse(QPointF(0, 12), 20, 20)
        paint_loading_bar(p, self._bar, self.loading_pct, self.loading_priority, vertical=True)
        if self.text and self.show_text:
            paint_lines(p, self._text_rect, self.text.split("\n"), self.priorities, self.font,
                        right=self.text_left)
        if self.isSelected():
            p.setPen(QPen(theme.SELECTION, 2, Qt.PenStyle.DashLine))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(QRectF(-36, -36, 72, 72))


def paint_loading_bar(p: QPainter, r: QRectF, pct: float, priority: int, *,
                      vertical: bool) -> None:
    """A loading bar over 0–120 %: the fill grey, or the alarm's priority colour; ticks at
    90 and 100 % so an overload is seen without reading a number."""
    if pct != pct:
        return
    full = 120.0
    f = max(0.0, min(pct, full)) / full
    p.setPen(QPen(theme.TEXT_MUTED, 1))
    p.setBrush(theme.PANEL)
    p.drawRect(r)
    col = theme.PRIORITY.get(priority, theme.EQUIPMENT)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(col)
    if vertical:
        p.drawRect(QRectF(r.left(), r.bottom() - f * r.height(), r.width(), f * r.height()))
    else:
        p.drawRect(QRectF(r.left(), r.top(), f * r.width(), r.height()))
    p.setPen(QPen(theme.TEXT, 1.2))
    for tick in (90.0, 100.0):
        t = tick / full
        if vertical:
            y = r.bottom() - t * r.height()
            p.drawLine(QPointF(r.left() - 2, y), QPointF(r.right() + 2, y))
        else:
            x = r.left() + t * r.width()
            p.drawLine(QPointF(x, r.top() - 2), QPointF(x, r.bottom() + 2))


def paint_lines(p: QPainter, rect: QRectF, lines: list[str], priorities: tuple[int, ...],
                f: QFont, *, right: bool = False) -> None:
    """Lines of text centred vertically in ``rect``; a line whose priority is set is drawn on
    its priority colour (ISA-101: the value itself is abnormal, not just a list row)."""
    from PySide6.QtGui import QFontMetricsF

    fm = QFontMetricsF(f)
    lh = fm.height()
    y = rect.center().y() - lh * len(lines) / 2
    p.setFont(f)
    for k, line in enumerate(lines):
        prio = priorities[k] if k < len(priorities) else 0
        w = fm.horizontalAdvance(line)
        x = rect.right() - w if right else rect.left()
        if prio:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(theme.PRIORITY.get(prio, theme.PRIORITY[4]))
            p.drawRect(QRectF(x - 3, y, w + 6, lh))
            p.setPen(QColor("white") if prio in (1, 4) else theme.TEXT)
        else:
            p.setPen(theme.TEXT)
        p.drawText(QRectF(x, y, w + 1, lh), Qt.AlignmentFlag.AlignLeft, line)
        y += lh


class CtItem(DeviceItem):
    SIZE = 9.0

    def paint(self, p: QPainter, _o: QStyleOptionGraphicsItem,
              _w: QWidget | None = None) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setPen(QPen(DARK, 1.5))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawEllipse(QPointF(0, 0), 7, 7)
        self._selection(p)


class CvtItem(DeviceItem):
    SIZE = 12.0

    def paint(self, p: QPainter, _o: QStyleOptionGraphicsItem,
              _w: QWidget | None = None) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setPen(QPen(DARK, 1.5))
        p.drawLine(QPointF(-6, -4), QPointF(6, -4))
        p.drawLine(QPointF(-6, 0), QPointF(6, 0))
        p.drawEllipse(QPointF(0, 7), 4, 4)
        self._selection(p)


class ArresterItem(DeviceItem):
    SIZE = 12.0

    def paint(self, p: QPainter, _o: QStyleOptionGraphicsItem,
              _w: QWidget | None = None) -> None:
        p.setPen(QPen(DARK, 1.5))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(QRectF(-4, -9, 8, 14))
        p.drawLine(QPointF(0, -6), QPointF(0, 2))
        p.drawLine(QPointF(-2, 0), QPointF(0, 2))
        p.drawLine(QPointF(2, 0), QPointF(0, 2))
        for k, half in enumerate((6, 4, 2)):
            p.drawLine(QPointF(-half, 8 + 2.5 * k), QPointF(half, 8 + 2.5 * k))
        self._selection(p)


class ReactorItem(DeviceItem):
    SIZE = 18.0

    def paint(self, p: QPainter, _o: QStyleOptionGraphicsItem,
              _w: QWidget | None = None) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setPen(QPen(DARK if self.energised else theme.DEAD, 2))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawEllipse(QPointF(0, 0), 11, 11)
        p.drawArc(QRectF(-11, -11, 11, 22), 90 * 16, 180 * 16)
        for k, half in enumerate((8, 5, 2)):
            p.drawLine(QPointF(-half, 15 + 3 * k), QPointF(half, 15 + 3 * k))
        self._selection(p)


class CapacitorItem(DeviceItem):
    SIZE = 16.0

    def paint(self, p: QPainter, _o: QStyleOptionGraphicsItem,
              _w: QWidget | None = None) -> None:
        p.setPen(QPen(DARK if self.energised else theme.DEAD, 2.5))
        p.drawLine(QPointF(-11, -3), QPointF(11, -3))
        p.drawLine(QPointF(-11, 3), QPointF(11, 3))
        for k, half in enumerate((8, 5, 2)):
            p.drawLine(QPointF(-half, 11 + 3 * k), QPointF(half, 11 + 3 * k))
        self._selection(p)


class FeederItem(DeviceItem):
    """A feeder or load (arrow away from the station); ``incoming`` for an infeed line."""

    SIZE = 16.0

    def __init__(self, asset_id: str, x: float, y: float, horizontal: bool = False, *,
                 incoming: bool = False, label: str = "", text_scale: float = 1.0) -> None:
        super().__init__(asset_id, x, y, horizontal)
        self.incoming = incoming
        self.label = label
        self.font = font(8, text_scale)
        w, h = 85 * text_scale, 20 * text_scale * (1 + label.count("\n"))
        self._text_rect = QRectF(-w, 14, 2 * w, h)
        self._rect = QRectF(-16, -16, 32, 32).united(self._text_rect)

    def boundingRect(self) -> QRectF:  # noqa: N802
        return self._rect

    def paint(self, p: QPainter, _o: QStyleOptionGraphicsItem,
              _w: QWidget | None = None) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        col = DARK if self.energised else theme.DEAD
        p.setPen(QPen(col, 2))
        p.setBrush(col)
        if self.incoming:
            tri = QPolygonF([QPointF(0, -12), QPointF(-8, 4), QPointF(8, 4)])
        else:
            tri = QPolygonF([QPointF(0, 12), QPointF(-8, -4), QPointF(8, -4)])
        p.drawPolygon(tri)
        if self.label:
            p.setPen(theme.TEXT)
            p.setFont(self.font)
            p.drawText(self._text_rect, Qt.AlignmentFlag.AlignHCenter, self.label)
        if self.isSelected():
            p.setPen(QPen(theme.SELECTION, 2, Qt.PenStyle.DashLine))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(QRectF(-14, -14, 28, 28))


class BusbarItem(QGraphicsPathItem):
    def __init__(self, asset_id: str, x1: float, x2: float, y: float, kv: float) -> None:
        path = QPainterPath(QPointF(x1, y))
        path.lineTo(x2, y)
        super().__init__(path)
        self.asset_id, self.kv = asset_id, kv
        self.energised = None
        self.set_energised(True)
        self.setZValue(5)

    def set_energised(self, energised: bool) -> None:
        if energised != self.energised:
            self.energised = energised
            col = theme.voltage_colour(self.kv) if energised else theme.DEAD
            self.setPen(QPen(col, 7, Qt.PenStyle.SolidLine, Qt.PenCapStyle.FlatCap))


class WireItem(QGraphicsPathItem):
    def __init__(self, points: list[list[float]], kv: float) -> None:
        path = QPainterPath(QPointF(*points[0]))
        for x, y in points[1:]:
            path.lineTo(x, y)
        super().__init__(path)
        self.kv = kv
        self.energised = None
        self.set_energised(True)
        self.setZValue(1)

    def set_energised(self, energised: bool) -> None:
        if energised != self.energised:
            self.energised = energised
            col = theme.voltage_colour(self.kv) if energised else theme.DEAD
            self.setPen(QPen(col, 2.5 if energised else 2.0))


class FlowLabel(QGraphicsItem):
    """A bay's MW and Mvar as text, beside its flow arrow, with a thin loading bar (|S| over
    the bay's rating; ticks at 90 and 100 %). A separate item so the arrow's 20 Hz animation
    never repaints the text; the text repaints only when a value changes. The text sits on
    its alarm's priority colour while the bay's measurement is out of limits."""

    def __init__(self, parent: QGraphicsItem, text_scale: float) -> None:
        super().__init__(parent)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.font = font(8, text_scale)
        self.line_h = 13 * text_scale
        self._rect = QRectF(14, -self.line_h - 2, 80 * text_scale, 2 * self.line_h + 10)
        self._bar = QRectF(16, self.line_h + 3, 60 * text_scale, 4)
        self.lines = ("— MW", "")
        self.invalid = False
        self.priority = 0
        self.loading_pct = float("nan")

    def boundingRect(self) -> QRectF:  # noqa: N802
        return self._rect

    def set_text(self, lines: tuple[str, str], invalid: bool, priority: int = 0,
                 loading_pct: float = float("nan")) -> None:
        if lines != self.lines or invalid != self.invalid or priority != self.priority or \
                (loading_pct == loading_pct) != (self.loading_pct == self.loading_pct) or \
                abs(loading_pct - self.loading_pct) >= 1.0:
            self.lines, self.invalid, self.priority = lines, invalid, priority
            self.loading_pct = loading_pct
            self.update()

    def paint(self, p: QPainter, _o: QStyleOptionGraphicsItem,
              _w: QWidget | None = None) -> None:
        r = self._rect
        if self.invalid:
            p.setFont(self.font)
            p.setPen(theme.INVALID)
            p.drawText(QRectF(r.x(), r.y(), r.width(), self.line_h + 2),
                       Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom, self.lines[0])
            p.drawText(QRectF(r.x(), r.y() + self.line_h + 2, r.width(), self.line_h + 2),
                       Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, self.lines[1])
            return
        text = QRectF(r.x(), r.y(), r.width(), 2 * self.line_h + 4)
        lines = [x for x in self.lines if x]
        paint_lines(p, text, lines, (self.priority,) * len(lines), self.font)
        if self.loading_pct == self.loading_pct:
            paint_loading_bar(p, self._bar, self.loading_pct, self.priority, vertical=False)


class FlowItem(QGraphicsItem):
    """MW / Mvar of a bay with an animated arrow: direction from the sign of P (positive out
    of the busbar), speed from its magnitude."""

    def __init__(self, x: float, y: float, down: bool = True, text_scale: float = 1.0) -> None:
        super().__init__()
        self.setPos(x, y)
        self.down = down
        self.p = self.q = float("nan")
        self.invalid = False
        self.phase = 0.0
        self.rate = 0.0
        self.setZValue(12)
        self.label = FlowLabel(self, text_scale)

    def boundingRect(self) -> QRectF:  # noqa: N802
        return QRectF(-12, -26, 24, 52)

    def set_flow(self, p: float, q: float, invalid: bool, rating_mw: float,
                 text: bool = True, priority: int = 0) -> None:
        """The arrow follows every call; the MW/Mvar text (on ``priority``'s colour when
        the bay is out of limits) and the loading bar only when ``text``."""
        changed = invalid != self.invalid or (p != p) != (self.p != self.p)
        self.p, self.q, self.invalid = p, q, invalid
        self.rate = 0.0 if invalid or p != p else min(1.0, abs(p) / max(rating_mw, 1.0))
        if not text:
            pass
        elif p == p:
            s_mva = math.hypot(p, q) if q == q else abs(p)
            self.label.set_text((f"{p:,.1f} MW", f"{q:,.1f} Mvar"), invalid, priority,
                                100.0 * s_mva / max(rating_mw, 1.0))
        else:
            self.label.set_text(("— MW", ""), invalid, priority)
        if changed:
            self.update()

    @property
    def direction(self) -> int:
        """+1 out of the busbar, −1 into it, 0 for no (or no valid) flow."""
        if self.invalid or self.p != self.p or abs(self.p) < 0.5:
            return 0
        return 1 if self.p > 0 else -1

    def advance_phase(self, dt_s: float) -> None:
        if self.rate > 0:
            self.phase = (self.phase + dt_s * (0.3 + 2.2 * self.rate)) % 1.0
            self.update()

    def paint(self, p: QPainter, _o: QStyleOptionGraphicsItem,
              _w: QWidget | None = None) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        d = self.direction * (1 if self.down else -1)
        if d != 0:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor("#2B2B2B"))
            for k in range(2):
                y = -18 + ((self.phase + k * 0.5) % 1.0) * 36
                yy = y if d > 0 else -y
                tri = QPolygonF([QPointF(-5, yy - 4 * d), QPointF(5, yy - 4 * d),
                                 QPointF(0, yy + 4 * d)])
                p.drawPolygon(tri)
