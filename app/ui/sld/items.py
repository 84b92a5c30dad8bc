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
    """The diagram's font at ``points`` × the layout's text scale."""
    f = QFont("DejaVu Sans")
    f.setPointSizeF(points * scale)
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
    """Two-winding transformer: two overlapping circles, each coloured by its side."""

    SIZE = 40.0

    def __init__(self, asset_id: str, x: float, y: float, horizontal: bool = False, *,
                 text_scale: float = 1.0, text_left: bool = False) -> None:
        super().__init__(asset_id, x, y, horizontal)
        self.hv = QColor(DARK)
        self.lv = QColor(DARK)
        self.text = ""
        self.font = font(8, text_scale)
        self.text_left = text_left
        w, h = 235 * text_scale, 80 * text_scale
        self._text_rect = QRectF(-28 - w, -h / 2, w, h) if text_left else \
            QRectF(28, -h / 2, w, h)
        self._rect = QRectF(-40, -40, 80, 80).united(self._text_rect)

    def set_sides(self, hv: QColor, lv: QColor, text: str) -> None:
        if hv != self.hv or lv != self.lv or text != self.text:
            self.hv, self.lv, self.text = hv, lv, text
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
        if self.text:
            p.setPen(theme.TEXT)
            p.setFont(self.font)
            align = Qt.AlignmentFlag.AlignRight if self.text_left else Qt.AlignmentFlag.AlignLeft
            p.drawText(self._text_rect, Qt.AlignmentFlag.AlignVCenter | align, self.text)
        if self.isSelected():
            p.setPen(QPen(theme.SELECTION, 2, Qt.PenStyle.DashLine))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(QRectF(-36, -36, 72, 72))


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
    """A bay's MW and Mvar as text, beside its flow arrow. A separate item so the arrow's
    20 Hz animation never repaints the text; the text repaints only when a value changes."""

    def __init__(self, parent: QGraphicsItem, text_scale: float) -> None:
        super().__init__(parent)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.font = font(8, text_scale)
        self.line_h = 13 * text_scale
        self._rect = QRectF(14, -self.line_h - 2, 80 * text_scale, 2 * self.line_h + 4)
        self.lines = ("— MW", "")
        self.invalid = False

    def boundingRect(self) -> QRectF:  # noqa: N802
        return self._rect

    def set_text(self, lines: tuple[str, str], invalid: bool) -> None:
        if lines != self.lines or invalid != self.invalid:
            self.lines, self.invalid = lines, invalid
            self.update()

    def paint(self, p: QPainter, _o: QStyleOptionGraphicsItem,
              _w: QWidget | None = None) -> None:
        p.setFont(self.font)
        p.setPen(theme.INVALID if self.invalid else theme.TEXT)
        r = self._rect
        p.drawText(QRectF(r.x(), r.y(), r.width(), self.line_h + 2),
                   Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom, self.lines[0])
        p.drawText(QRectF(r.x(), r.y() + self.line_h + 2, r.width(), self.line_h + 2),
                   Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, self.lines[1])


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
                 text: bool = True) -> None:
        """The arrow follows every call; the MW/Mvar text only when ``text``."""
        changed = invalid != self.invalid or (p != p) != (self.p != self.p)
        self.p, self.q, self.invalid = p, q, invalid
        self.rate = 0.0 if invalid or p != p else min(1.0, abs(p) / max(rating_mw, 1.0))
        if not text:
            pass
        elif p == p:
            self.label.set_text((f"{p:,.1f} MW", f"{q:,.1f} Mvar"), invalid)
        else:
            self.label.set_text(("— MW", ""), invalid)
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
