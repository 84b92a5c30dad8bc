"""One display per bay (ISA-101 level 3): its switchgear, measurements, protection, alarms
and a trend of its main quantity.

The switchgear is generated from the station file — the bay's bus disconnectors (…_Q1,
…_Q2), breaker (…_Q0), current transformer, line disconnector (…_Q9), earth switch (…_Q8),
voltage transformer, arrester and its main equipment (line, feeder, transformer, reactor,
capacitor bank) — with the single-line diagram's own symbols, so no coordinate lives in
code or in a second layout file. One :class:`BayDisplay` shows any bay (:meth:`set_bay`);
it keeps the last minutes of every bay's main quantity, so a bay opened from an alarm shows
its recent history at once. It paints only while it is on screen.
"""

from __future__ import annotations

import math
import time
from collections import deque

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QPainter,
    QPaintEvent,
    QPen,
    QPolygonF,
    QTransform,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsLineItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QGridLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.alarms.engine import AlarmRow, AlarmView
from app.runtime.snapshot import LiveSnapshot
from app.station import Station
from app.station import quality as Q
from app.station.points import KIND_STATUS, PointTable
from app.station.timezone import IST
from app.ui import theme
from app.ui.displays.nav import bay_of
from app.ui.sld import items as I
from app.ui.sld.markers import AlarmMarker, AssetAlarms, TripFlag, summarise, text_on

HISTORY_S = 600.0
TABLE_S = 0.5  # the numbers refresh twice a second (they cannot be read faster)
_UNIT_TEXT = {"degC": "°C", "step": "", "deg": "°"}
#: Which points of an asset the bay display lists, by asset type (else: every analog one).
_SHOWN = {
    "ct": ("P", "Q", "S", "I_A", "I_B", "I_C", "PF", "V_AB", "HZ"),
    "cvt": ("V_AB", "HZ"),
    "ict": ("LOADING", "LOAD_MVA", "TOP_OIL", "HOT_SPOT", "WTI", "TAP", "OIL_LEVEL"),
    "transformer": ("LOADING", "LOAD_MVA", "TOP_OIL", "HOT_SPOT", "WTI", "TAP", "OIL_LEVEL"),
    "line": ("P", "Q", "I"), "feeder": ("P", "Q", "I"),
    "busbar": ("V", "HZ"), "breaker": ("SF6", "OPCNT"),
    "reactor": ("Q", "I", "TOP_OIL"), "capacitor_bank": ("Q", "I"),
}
_SKIP_TYPES = {"relay", "bay_controller", "isolator", "earth_switch", "lightning_arrester"}
_MAIN_SYMBOL = {"line": "line", "feeder": "feeder", "ict": "transformer",
                "transformer": "transformer", "reactor": "reactor",
                "capacitor_bank": "capacitor"}


def unit_text(unit: str) -> str:
    return _UNIT_TEXT.get(unit, unit)


def main_tag(station: Station, points: PointTable, bay: str) -> str | None:
    """The quantity a bay's small trend shows: a transformer's loading, a busbar's voltage,
    else the bay's active power."""
    assets = [a for a in station.assets if a.bay == bay]
    for a in assets:
        if a.type in ("ict", "transformer") and f"{a.id}.LOADING" in points.index:
            return f"{a.id}.LOADING"
    if bay.endswith(("H", "L")) and station.has_asset(bay[:-1]):
        t = f"{bay[:-1]}.LOADING"
        if t in points.index:
            return t
    for a in assets:
        if a.type == "busbar" and f"{a.id}.V" in points.index:
            return f"{a.id}.V"
    for a in assets:
        if a.type == "ct" and f"{a.id}.P" in points.index:
            return f"{a.id}.P"
    return None


def axis_text(value: float, span: float) -> str:
    """An axis value with the decimals its span needs: 0–100 % reads "0" and "100", not
    "8.9e-05"; 6.085–6.100 bar reads "6.085"."""
    if not math.isfinite(value):
        return ""
    decimals = 0 if span <= 0 or not math.isfinite(span) else \
        min(4, max(0, 1 - math.floor(math.log10(span))))
    text = f"{value:.{decimals}f}"
    return "0" if float(text) == 0 else text


class Sparkline(QWidget):
    """The last minutes of one quantity, with its limits as dashed lines."""

    def __init__(self) -> None:
        super().__init__()
        self.t = np.empty(0)
        self.v = np.empty(0)
        self.title = ""
        self.lo = self.hi = float("nan")
        self.setMinimumHeight(theme.px(90))

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(theme.px(320), theme.px(120))

    def set_series(self, title: str, t: np.ndarray, v: np.ndarray, lo: float, hi: float
                   ) -> None:
        self.title, self.t, self.v, self.lo, self.hi = title, t, v, lo, hi
        self.update()

    def paintEvent(self, _e: QPaintEvent) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.fillRect(self.rect(), theme.PANEL)
        fm_h = self.fontMetrics().height()
        p.setPen(theme.TEXT)
        p.drawText(QRectF(4, 2, self.width() - 8, fm_h), Qt.AlignmentFlag.AlignLeft,
                   self.title)
        area = QRectF(44, fm_h + 6, self.width() - 52, self.height() - fm_h - 12)
        ok = np.isfinite(self.v)
        if area.height() < 10 or not ok.any():
            p.setPen(theme.TEXT_MUTED)
            p.drawText(area, Qt.AlignmentFlag.AlignCenter, "no data yet")
            return
        t, v = self.t[ok], self.v[ok]
        lo, hi = float(v.min()), float(v.max())
        for lim in (self.lo, self.hi):  # show a limit when it is near the data
            if lim == lim and abs(lim - (lo + hi) / 2) < 2 * max(hi - lo, abs(hi) * 0.1, 1e-9):
                lo, hi = min(lo, lim), max(hi, lim)
        pad = max((hi - lo) * 0.1, abs(hi) * 0.01, 1e-6)
        lo, hi = lo - pad, hi + pad
        t1 = float(self.t[-1])
        t0 = t1 - HISTORY_S

        def xy(tt: float, vv: float) -> QPointF:
            return QPointF(area.left() + (tt - t0) / HISTORY_S * area.width(),
                           area.bottom() - (vv - lo) / (hi - lo) * area.height())

        p.setPen(QPen(theme.TEXT_MUTED, 1))
        p.drawRect(area)
        for val in (lo + pad, hi - pad):
            p.drawText(QRectF(0, xy(t1, val).y() - fm_h / 2, 42, fm_h),
                       Qt.AlignmentFlag.AlignRight, axis_text(val, hi - lo))
        for lim in (self.lo, self.hi):
            if lim == lim and lo <= lim <= hi:
                p.setPen(QPen(theme.TEXT_MUTED, 1, Qt.PenStyle.DashLine))
                p.drawLine(xy(t0, lim), xy(t1, lim))
        p.setPen(QPen(QColor(theme.TREND_PENS[0]), 1.6))
        p.drawPolyline(QPolygonF([xy(float(a), float(b)) for a, b in zip(t, v, strict=True)]))


class BaySwitchgear(QGraphicsView):
    """A bay's switchgear, generated from the station file, with live positions."""

    device_selected = Signal(str)

    def __init__(self, station: Station, points: PointTable) -> None:
        super().__init__()
        self.station, self.points = station, points
        self.scene_ = QGraphicsScene(self)
        self.scene_.setBackgroundBrush(theme.BACKGROUND)
        self.setScene(self.scene_)
        self.setRenderHints(QPainter.RenderHint.Antialiasing
                            | QPainter.RenderHint.TextAntialiasing)
        self.items_by_asset: dict[str, I.DeviceItem] = {}
        self.switch_rows: list[tuple[I.SwitchItem, int]] = []
        self.markers: dict[str, AlarmMarker] = {}
        self.trip_flags: dict[str, TripFlag] = {}
        self.label_font = QFont(self.font())
        self.scene_.selectionChanged.connect(self._selected)
        self._blink_on = True
        self._blink = QTimer(self)
        self._blink.timeout.connect(self._toggle_blink)

    def build(self, bay: str) -> None:
        self.scene_.clearSelection()
        self.scene_.clear()
        self.items_by_asset.clear()
        self.switch_rows.clear()
        self.markers.clear()
        self.trip_flags.clear()
        b = self.station.bay(bay)
        kv_col = theme.voltage_colour(b.voltage_kv)
        assets = {a.id: a for a in self.station.assets if a.bay == bay}
        by_suffix = {a.id.rsplit("_", 1)[-1]: a for a in assets.values() if "_" in a.id}

        def wire(*pts: tuple[float, float]) -> None:
            for (x1, y1), (x2, y2) in zip(pts, pts[1:], strict=False):
                ln = QGraphicsLineItem(x1, y1, x2, y2)
                ln.setPen(QPen(kv_col, 2.5))
                ln.setZValue(1)
                self.scene_.addItem(ln)

        def put(asset_id: str, sym: str, x: float, y: float, label_left: bool = False,
                **kw: object) -> None:
            if sym == "transformer":
                item: I.DeviceItem = I.TransformerItem(asset_id, x, y, text_scale=1.0)
            elif sym in ("line", "feeder"):
                item = I.FeederItem(asset_id, x, y, incoming=sym == "line")
            else:
                item = {"breaker": I.BreakerItem, "isolator": I.IsolatorItem,
                        "earth_switch": I.EarthSwitchItem, "ct": I.CtItem, "cvt": I.CvtItem,
                        "arrester": I.ArresterItem, "reactor": I.ReactorItem,
                        "capacitor": I.CapacitorItem}[sym](asset_id, x, y, **kw)
            item.setToolTip(f"{asset_id} — {self.station.asset(asset_id).name}")
            self.scene_.addItem(item)
            self.items_by_asset[asset_id] = item
            row = self.points.index.get(f"{asset_id}.POS")
            if isinstance(item, I.SwitchItem) and row is not None:
                self.switch_rows.append((item, row))
            t = QGraphicsSimpleTextItem(asset_id)
            t.setFont(self.label_font)  # the application's size at any zoom: readable
            t.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
            t.setBrush(theme.TEXT)
            if label_left:  # its neighbour's name is on the right: this one ends left of it
                t.setPos(x - 18, y - 8)
                t.setTransform(QTransform.fromTranslate(-t.boundingRect().width(), 0))
            else:  # (a transformer's two windings are wider than a switch)
                t.setPos(x + (30 if sym == "transformer" else 18), y - 8)
            t.setZValue(20)
            self.scene_.addItem(t)

        def busbar(text: str, y: float, x1: float = -120, x2: float = 120) -> None:
            ln = QGraphicsLineItem(x1, y, x2, y)
            ln.setPen(QPen(kv_col, 6, Qt.PenStyle.SolidLine, Qt.PenCapStyle.FlatCap))
            self.scene_.addItem(ln)
            t = QGraphicsSimpleTextItem(text)
            t.setFont(self.label_font)
            t.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
            t.setPos(x2 + 8, y - 8)
            self.scene_.addItem(t)

        if b.kind == "busbar":
            bars = [a for a in assets.values() if a.type == "busbar"]
            for k, a in enumerate(bars):
                busbar(a.id, 40 * k)
            vts = [a for a in assets.values() if a.type == "cvt"]
            for k, a in enumerate(vts):
                x = -60 + 120 * k
                wire((x, 40 * min(k, len(bars) - 1)), (x, 110))
                put(a.id, "cvt", x, 120)
        else:
            q1, q2 = by_suffix.get("Q1"), by_suffix.get("Q2")
            double = q1 is not None and q2 is not None
            busbar("BUS I" if double else "BUS", 0)
            if double:
                busbar("BUS II", 30)
            ys = {"Q1": 75, "Q0": 150, "CT": 205, "Q9": 255}
            if b.kind in ("coupler", "section") and double:
                wire((-50, 0), (-50, 60)), wire((-50, 90), (-50, 150), (-14, 150))
                wire((14, 150), (50, 150), (50, 90)), wire((50, 60), (50, 30))
                put(q1.id, "isolator", -50, 75, label_left=True)
                put(q2.id, "isolator", 50, 75)
                if "Q0" in by_suffix:
                    put(by_suffix["Q0"].id, "breaker", 0, 150)
                if "CT" in by_suffix:
                    put(by_suffix["CT"].id, "ct", 0, 190)
            else:
                if double:
                    wire((-30, 0), (-30, 60)), wire((30, 30), (30, 60))
                    wire((-30, 90), (-30, 110), (30, 110), (30, 90)), wire((0, 110), (0, 136))
                    put(q1.id, "isolator", -30, 75, label_left=True)
                    put(q2.id, "isolator", 30, 75)
                elif q1 is not None:
                    wire((0, 0), (0, 60)), wire((0, 90), (0, 136))
                    put(q1.id, "isolator", 0, 75)
                y = 150
                main = next((a for a in assets.values() if a.type in _MAIN_SYMBOL), None)
                if main is None and bay.endswith(("H", "L")) and \
                        self.station.has_asset(bay[:-1]):
                    main = self.station.asset(bay[:-1])  # an ICT bay: its transformer
                chain = [("Q0", "breaker"), ("CT", "ct"), ("Q9", "isolator")]
                for suffix, sym in chain:
                    a = by_suffix.get(suffix)
                    if a is None:
                        continue
                    y = ys[suffix] if suffix in ys else y + 50
                    put(a.id, sym, 0, y)
                wire((0, 164), (0, 198)), wire((0, 212), (0, 241) if "Q9" in by_suffix
                                              else (0, 320))
                if "Q9" in by_suffix:
                    wire((0, 269), (0, 320))
                side_y = 295
                for k, (suffix, sym) in enumerate((("Q8", "earth_switch"), ("CVT", "cvt"),
                                                   ("LA", "arrester"))):
                    a = by_suffix.get(suffix)
                    if a is None:
                        continue
                    x = (-1) ** k * (45 + 45 * (k // 2))
                    wire((0, side_y), (x, side_y), (x, side_y + 10))
                    put(a.id, sym, x, side_y + 24)
                if main is not None:
                    put(main.id, _MAIN_SYMBOL.get(main.type, "feeder"), 0, 360)
        self.scene_.setSceneRect(self.scene_.itemsBoundingRect().adjusted(-30, -30, 30, 30))
        self.fit()

    def fit(self) -> None:
        self.fitInView(self.scene_.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)

    def resizeEvent(self, e: object) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(e)
        self.fit()

    def update_values(self, v: np.ndarray, good: np.ndarray) -> None:
        for item, row in self.switch_rows:
            item.set_invalid(not good[row])
            item.set_position(int(round(float(v[row]))) if np.isfinite(v[row]) else -1)

    def apply_alarms(self, summary: dict[str, AssetAlarms], bay: str) -> None:
        anchor = next((a for a, i in self.items_by_asset.items()
                       if isinstance(i, I.BreakerItem)), None)
        per: dict[str, AssetAlarms] = {}
        for asset, s in summary.items():
            key = asset if asset in self.items_by_asset else anchor
            if key is None:
                continue
            o = per.get(key)
            per[key] = s if o is None else AssetAlarms(
                key, min(o.priority, s.priority), o.count + s.count, o.unacked + s.unacked,
                o.tripped or s.tripped, {})
        for key in set(self.markers) - set(per):
            self.scene_.removeItem(self.markers.pop(key))
        for key, s in per.items():
            m = self.markers.get(key)
            if m is None:
                item = self.items_by_asset[key]
                m = self.markers[key] = AlarmMarker(
                    item.pos() + QPointF(-min(item.SIZE, 16) - 14, -min(item.SIZE, 16)),
                    theme.px(18))
                self.scene_.addItem(m)
            m.set_alarms(s)
        trips = {a for a, s in summary.items() if s.tripped and a in self.items_by_asset}
        for key in set(self.trip_flags) - trips:
            self.scene_.removeItem(self.trip_flags.pop(key))
        for key in trips - set(self.trip_flags):
            item = self.items_by_asset[key]
            f = self.trip_flags[key] = TripFlag(item.pos() + QPointF(0, -item.SIZE * 0.8),
                                                theme.px(18))
            self.scene_.addItem(f)
        if any(m.unacked for m in self.markers.values()):
            if not self._blink.isActive():
                self._blink.start(500)
        else:
            self._blink.stop()

    def _toggle_blink(self) -> None:
        self._blink_on = not self._blink_on
        for m in self.markers.values():
            m.blink(self._blink_on)

    def _selected(self) -> None:
        sel = [i for i in self.scene_.selectedItems() if isinstance(i, I.DeviceItem)]
        if sel:
            self.device_selected.emit(sel[0].asset_id)


class BayDisplay(QWidget):
    device_selected = Signal(str)
    trend_requested = Signal(str)

    def __init__(self, station: Station, points: PointTable,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.station, self.points = station, points
        self.bay: str | None = None
        self.title = QLabel()
        f = QFont(self.title.font())
        f.setPointSizeF(f.pointSizeF() * 1.3)
        f.setWeight(QFont.Weight.Bold)
        self.title.setFont(f)
        self.comm = QLabel()
        self.switchgear = BaySwitchgear(station, points)
        self.switchgear.device_selected.connect(self.device_selected)
        self.values = self._table(["measurement", "value", "unit", "quality"])
        self.values.cellDoubleClicked.connect(
            lambda r, _c: self.trend_requested.emit(self.value_tags[r]))
        self.values.cellClicked.connect(
            lambda r, _c: self.device_selected.emit(self.value_tags[r].split(".")[0]))
        self.protection = self._table(["relay", "state"])
        self.alarms = self._table(["P", "state", "since (IST)", "alarm"])
        self.spark = Sparkline()
        grid = QGridLayout()
        grid.addWidget(self._box("Switchgear", self.switchgear), 0, 0, 3, 1)
        grid.addWidget(self._box("Measurements", self.values), 0, 1)
        grid.addWidget(self._box("Protection and bay control", self.protection), 1, 1)
        grid.addWidget(self._box("Trend", self.spark), 2, 1)
        grid.addWidget(self._box("Alarms of this bay", self.alarms), 3, 0, 1, 2)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 4)
        grid.setRowStretch(0, 3)
        grid.setRowStretch(1, 2)
        grid.setRowStretch(2, 2)
        grid.setRowStretch(3, 2)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        head = QGridLayout()
        head.addWidget(self.title, 0, 0)
        head.addWidget(self.comm, 0, 1, Qt.AlignmentFlag.AlignRight)
        lay.addLayout(head)
        lay.addLayout(grid, 1)
        # Every bay's main quantity, for the last HISTORY_S: (monotonic-ish t, values).
        self._main = {b.id: main_tag(station, points, b.id) for b in station.bays}
        self._main_bays = [b for b, t in self._main.items() if t]
        self._main_rows = np.array([points.index[self._main[b]] for b in self._main_bays],
                                   dtype=np.int64)
        self._hist: deque[tuple[float, np.ndarray]] = deque()
        self.value_tags: list[str] = []
        self.value_rows: list[int] = []
        self.relay_ids: list[str] = []
        self.summary: dict[str, AssetAlarms] = {}
        self.bay_alarms: list[AlarmRow] = []
        self._last_view: AlarmView | None = None
        self._last_snap: LiveSnapshot | None = None
        self._table_at = 0.0

    @staticmethod
    def _table(headers: list[str]) -> QTableWidget:
        t = QTableWidget(0, len(headers))
        t.setHorizontalHeaderLabels(headers)
        t.verticalHeader().hide()
        t.verticalHeader().setDefaultSectionSize(theme.row_px())
        t.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        t.setMinimumHeight(theme.row_px(4))  # on a small screen the display scrolls instead
        t.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        hh = t.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setStretchLastSection(True)
        return t

    @staticmethod
    def _box(title: str, w: QWidget) -> QGroupBox:
        g = QGroupBox(title)
        lay = QVBoxLayout(g)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(w)
        return g

    # ------------------------------------------------------------------ which bay
    def set_bay(self, bay: str) -> None:
        if bay == self.bay:
            return
        b = self.station.bay(bay)
        self.bay = bay
        self.title.setText(f"{b.id} — {b.name}")
        self.switchgear.build(bay)
        assets = [a for a in self.station.assets if a.bay == bay]
        if bay.endswith(("H", "L")) and self.station.has_asset(bay[:-1]) and \
                self.station.asset(bay[:-1]).bay != bay:
            assets.append(self.station.asset(bay[:-1]))  # an ICT's two bays show the ICT
        tags: list[str] = []
        for a in assets:
            if a.type in _SKIP_TYPES:
                continue
            names = _SHOWN.get(a.type) or [p.name for p in a.points if p.kind == "analog"]
            tags += [f"{a.id}.{n}" for n in names if f"{a.id}.{n}" in self.points.index]
        self.value_tags = tags
        self.value_rows = [self.points.index[t] for t in tags]
        self.values.setRowCount(len(tags))
        for k, t in enumerate(tags):
            r = self.points.index[t]
            name = QTableWidgetItem(f"{self.points.asset[r]} — {self.points.description[r]}")
            name.setToolTip(t)  # the point's tag, as the point browser and trends name it
            self.values.setItem(k, 0, name)
            self.values.setItem(k, 1, QTableWidgetItem("—"))
            self.values.setItem(k, 2, QTableWidgetItem(unit_text(self.points.unit[r])))
            self.values.setItem(k, 3, QTableWidgetItem("—"))
            self.values.item(k, 1).setTextAlignment(Qt.AlignmentFlag.AlignRight
                                                    | Qt.AlignmentFlag.AlignVCenter)
        self.relay_ids = [a.id for a in assets if a.type in ("relay", "bay_controller")]
        self.protection.setRowCount(len(self.relay_ids))
        for k, rid in enumerate(self.relay_ids):
            self.protection.setItem(k, 0, QTableWidgetItem(rid))
            self.protection.setItem(k, 1, QTableWidgetItem("—"))
        self._table_at = 0.0
        if self._last_view is not None:
            self.apply_alarms(self._last_view)
        if self._last_snap is not None:
            self._paint(self._last_snap)

    # ------------------------------------------------------------------ live data
    @Slot(object)
    def update_snapshot(self, snap: LiveSnapshot) -> None:
        self._last_snap = snap
        t = snap.frame.t_acquired.timestamp()
        v = snap.frame.values
        good = Q.good_mask(snap.frame.quality[self._main_rows])
        self._hist.append((t, np.where(good, v[self._main_rows], np.nan)))
        while self._hist and self._hist[0][0] < t - HISTORY_S:
            self._hist.popleft()
        if self.bay is not None and self.isVisible():
            self._paint(snap)

    def _paint(self, snap: LiveSnapshot) -> None:
        f = snap.frame
        v, q = f.values, f.quality
        good = Q.good_mask(q)
        self.switchgear.update_values(v, good)
        now = time.monotonic()
        if now - self._table_at < TABLE_S:
            return
        self._table_at = now
        ool: dict[str, int] = {}
        for s in self.summary.values():
            ool.update(s.out_of_limit)
        for k, (tag, r) in enumerate(zip(self.value_tags, self.value_rows, strict=True)):
            val, qual = self.values.item(k, 1), self.values.item(k, 3)
            prio = ool.get(tag, 0)
            if good[r]:
                val.setText(self._fmt(r, float(v[r])))
                qual.setText("good")
                val.setForeground(text_on(prio) if prio else theme.TEXT)
                val.setBackground(QBrush(theme.PRIORITY[prio]) if prio else QBrush())
            else:
                val.setText(self._fmt(r, float(v[r])) if np.isfinite(v[r]) else "—")
                qual.setText(Q.describe(int(q[r])))
                val.setForeground(theme.INVALID)
                val.setBackground(QBrush())
            qual.setForeground(theme.TEXT_MUTED if good[r] else theme.INVALID)
        for k, rid in enumerate(self.relay_ids):
            self.protection.item(k, 1).setText(self._relay_state(rid, v, good))
        comm = f.comm.get(self.bay) if self.bay else None
        self.comm.setText(f"communication: {comm.state.name}" if comm is not None else "")
        self.comm.setStyleSheet("" if comm is None or comm.state.name == "OK"
                                else f"color: {theme.INVALID.name()}; font-weight: bold")
        tag = self._main.get(self.bay or "")
        if tag and self._hist:
            k = self._main_bays.index(self.bay)
            ts = np.fromiter((h[0] for h in self._hist), float, len(self._hist))
            vs = np.fromiter((h[1][k] for h in self._hist), float, len(self._hist))
            r = self.points.index[tag]
            self.spark.set_series(f"{tag} [{unit_text(self.points.unit[r])}], last "
                                  f"{HISTORY_S / 60:.0f} min", ts, vs,
                                  float(self.points.lo[r]), float(self.points.hi[r]))

    def _fmt(self, row: int, value: float) -> str:
        if self.points.kind[row] == KIND_STATUS or self.points.unit[row] == "step":
            return f"{value:.0f}"
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"

    def _relay_state(self, rid: str, v: np.ndarray, good: np.ndarray) -> str:
        def on(name: str) -> bool | None:
            r = self.points.index.get(f"{rid}.{name}")
            if r is None:
                return None
            return bool(v[r] > 0.5) if good[r] else None

        if any(on(n) is None and f"{rid}.{n}" in self.points.index
               for n in ("HEALTHY", "OP")):
            return "no valid data"
        parts = []
        if on("OP"):
            parts.append("OPERATED")
        elif on("PICKUP"):
            parts.append("picked up")
        if on("HEALTHY") is False:
            parts.append("UNHEALTHY")
        if on("TEST_MODE"):
            parts.append("test mode")
        lr = on("LR")
        if lr is not None:
            parts.append("local control" if lr else "remote control")
        if on("ILK_BYPASS"):
            parts.append("interlocks bypassed")
        return ", ".join(parts) or "healthy, idle"

    @Slot(object)
    def apply_alarms(self, view: AlarmView) -> None:
        self._last_view = view
        if self.bay is None:
            return
        rows = [r for r in view.rows if bay_of(self.station, r.asset) == self.bay
                or r.asset in self._ict_assets()]
        self.summary = summarise(rows)
        self.switchgear.apply_alarms(self.summary, self.bay)
        shown = [r for r in rows if r.state.value != "normal"]
        shown.sort(key=lambda r: (r.priority, -(r.since.timestamp() if r.since else 0)))
        if [(r.key, r.state) for r in shown] == [(r.key, r.state) for r in self.bay_alarms]:
            return
        self.bay_alarms = shown
        self.alarms.setRowCount(len(shown))
        for k, r in enumerate(shown):
            since = r.since.astimezone(IST).strftime("%d %b %H:%M:%S") if r.since else ""
            cells = (str(r.priority), r.state.value, since, r.message)
            for c, text in enumerate(cells):
                it = QTableWidgetItem(text)
                if c == 0:
                    it.setBackground(QBrush(theme.PRIORITY.get(r.priority, QColor("grey"))))
                    it.setForeground(text_on(r.priority))
                self.alarms.setItem(k, c, it)
        self._table_at = 0.0

    def _ict_assets(self) -> list[str]:
        b = self.bay or ""
        if b.endswith(("H", "L")) and self.station.has_asset(b[:-1]):
            return [b[:-1]]
        return []

