"""The banner of the newest alarms, always in sight above the displays (ISA-101).

The newest unacknowledged alarms (up to :data:`ROWS`), each with its priority marker,
time (IST), object, message and value with its unit; a click opens the object's bay display.
Beside them the horn's *Silence* button (the alarm list's audible cue) and, in a flood, the
flood message. It paints only when the alarms it shows change.
"""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QFont, QFontMetricsF, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.alarms.engine import AlarmRow, AlarmView
from app.station.points import PointTable
from app.station.timezone import IST
from app.ui import theme
from app.ui.sld.markers import UNACKED, paint_marker

ROWS = 3
_UNIT_TEXT = {"degC": "°C", "step": "", "deg": "°"}


def newest_unacked(view: AlarmView, n: int = ROWS) -> list[AlarmRow]:
    """The ``n`` newest unacknowledged alarms, newest first (priority breaks a tie)."""
    rows = [r for r in view.rows if r.state in UNACKED]
    far = dt.datetime.min.replace(tzinfo=dt.UTC)
    rows.sort(key=lambda r: (r.since or far, -r.priority), reverse=True)
    return rows[:n]


class _Lines(QWidget):
    activated = Signal(str)  # asset id

    def __init__(self, points: PointTable) -> None:
        super().__init__()
        self.points = points
        self.rows: list[AlarmRow] = []
        self.font_ = QFont(self.font())
        self.bold = QFont(self.font())
        self.bold.setWeight(QFont.Weight.Bold)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("The newest unacknowledged alarms: click one to open its bay")

    def line_h(self) -> float:
        return QFontMetricsF(self.font_).height() + 4

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(600, int(self.line_h() * ROWS) + 4)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return self.sizeHint()

    def set_rows(self, rows: list[AlarmRow]) -> bool:
        sig = [(r.key, r.state, r.priority) for r in rows]
        if sig == [(r.key, r.state, r.priority) for r in self.rows]:
            return False
        self.rows = rows
        self.update()
        return True

    def text_of(self, r: AlarmRow) -> str:
        when = r.since.astimezone(IST).strftime("%H:%M:%S") if r.since else "--:--:--"
        value = ""
        i = self.points.index.get(r.tag)
        if i is not None and r.value == r.value and r.kind in ("analog", "invalid"):
            u = self.points.unit[i]
            value = f"   {r.value:.1f} {_UNIT_TEXT.get(u, u)}".rstrip()
        return f"{when}   {r.asset:<10}  {r.message}{value}"

    def paintEvent(self, _e: QPaintEvent) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        p.fillRect(self.rect(), theme.PANEL)
        h = self.line_h()
        r = h * 0.36
        if not self.rows:
            p.setPen(theme.TEXT_MUTED)
            p.setFont(self.font_)
            p.drawText(QRectF(8, 2, self.width() - 16, h), Qt.AlignmentFlag.AlignVCenter,
                       "No unacknowledged alarms")
            return
        for k, row in enumerate(self.rows):
            y = 2 + k * h
            paint_marker(p, QPointF(8 + r * 1.3, y + h / 2), r, row.priority, 1, False,
                         self.bold)
            p.setPen(theme.TEXT)
            p.setFont(self.bold if row.priority == 1 else self.font_)
            p.drawText(QRectF(16 + r * 3, y, self.width() - 24 - r * 3, h),
                       Qt.AlignmentFlag.AlignVCenter, self.text_of(row))

    def mousePressEvent(self, e: QMouseEvent) -> None:  # noqa: N802 - Qt API
        k = int((e.position().y() - 2) // self.line_h())
        if 0 <= k < len(self.rows):
            self.activated.emit(self.rows[k].asset)


class AlarmBanner(QWidget):
    """Newest alarms + horn silence + the flood message, in one strip."""

    activated = Signal(str)  # asset id of the alarm clicked
    silence_requested = Signal()

    def __init__(self, points: PointTable, flood: QLabel,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("alarmBanner")
        self.lines = _Lines(points)
        self.lines.activated.connect(self.activated)
        self.silence = QPushButton("Silence horn")
        self.silence.setToolTip("Stop the audible alarm until the next new priority 1-2 alarm")
        self.silence.setEnabled(False)
        self.silence.clicked.connect(self.silence_requested)
        self.flood = flood
        side = QVBoxLayout()
        side.addWidget(self.silence)
        side.addStretch(1)
        row = QHBoxLayout()
        row.setContentsMargins(2, 2, 2, 2)
        row.addWidget(self.lines, 1)
        row.addLayout(side)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(flood)
        lay.addLayout(row)

    def apply(self, view: AlarmView) -> None:
        self.lines.set_rows(newest_unacked(view))

    def set_horn(self, sounding: bool) -> None:
        self.silence.setEnabled(sounding)
        self.silence.setText("Silence horn" if sounding else "Horn silent")

    @property
    def rows(self) -> list[AlarmRow]:
        return self.lines.rows
