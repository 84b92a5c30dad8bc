"""A device's faceplate: live values with quality, nameplate, a mini-trend, controls.

Non-modal; opened by clicking a device on the diagram (or in the 3D yard). Values update with
every snapshot; bad quality is shown in magenta with its IEC 61850 description. Switching
devices show Select / Open / Close / Cancel; they emit :attr:`Faceplate.operate_requested`
and stay disabled until the control service is connected (``set_control_enabled``).
"""

from __future__ import annotations

import datetime as dt
from collections import deque

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.field import quality as Q
from app.field.points import POS_CLOSED, POS_INTERMEDIATE, POS_OPEN, PointTable
from app.runtime.snapshot import LiveSnapshot
from app.station import Asset
from app.ui import theme

IST = dt.timezone(dt.timedelta(hours=5, minutes=30), "IST")
_POS = {POS_OPEN: "OPEN", POS_CLOSED: "CLOSED", POS_INTERMEDIATE: "INTERMEDIATE", 3: "BAD"}
_PRIMARY = ("LOADING", "P", "HOT_SPOT", "V", "Q", "TOP_OIL", "SF6", "POS", "LEAK", "OP")


class Faceplate(QDialog):
    operate_requested = Signal(str, bool)  # asset id, close
    select_requested = Signal(str, bool)
    cancel_requested = Signal(str)
    trend_requested = Signal(str)

    def __init__(self, asset: Asset, points: PointTable, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.asset = asset
        self.points = points
        self.setWindowTitle(f"{asset.id} — {asset.name}")
        self.setModal(False)
        self.resize(520, 640)
        self.rows = [points.index[f"{asset.id}.{p.name}"] for p in asset.points]
        head = QLabel(f"<b>{asset.id}</b> — {asset.name}<br>bay {asset.bay} · "
                      f"{asset.type.replace('_', ' ')} · IEC 61850 {asset.logical_node}")
        head.setWordWrap(True)

        self.table = QTableWidget(len(self.rows), 3)
        self.table.setHorizontalHeaderLabels(["point", "value", "quality"])
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for k, r in enumerate(self.rows):
            self.table.setItem(k, 0, QTableWidgetItem(points.name[r]))
            self.table.setItem(k, 1, QTableWidgetItem("—"))
            self.table.setItem(k, 2, QTableWidgetItem("—"))
        self.table.cellDoubleClicked.connect(
            lambda row, _c: self.trend_requested.emit(self.points.tags[self.rows[row]]))

        np_ = asset.nameplate
        plate = QGroupBox("Nameplate")
        form = QFormLayout(plate)
        for label, value in (("rated voltage", f"{np_.rated_kv:g} kV"),
                             ("rated current", f"{np_.rated_a:g} A" if np_.rated_a else None),
                             ("rated power", f"{np_.rated_mva:g} MVA" if np_.rated_mva else None),
                             ("maker", np_.maker), ("model", np_.model),
                             ("commissioned", np_.commissioned.isoformat()),
                             ("breaking current", f"{np_.breaking_ka:g} kA"
                              if np_.breaking_ka else None),
                             ("ratio", np_.ratio), ("function", np_.function)):
            if value:
                form.addRow(label, QLabel(value))

        primary = next((n for n in _PRIMARY if f"{asset.id}.{n}" in points.index), None) or \
            (points.name[self.rows[0]] if self.rows else None)
        self.trend_row = points.index[f"{asset.id}.{primary}"] if primary else None
        self.mini = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem()})
        self.mini.setMaximumHeight(150)
        self.mini.setBackground(theme.PANEL)
        self.mini.setTitle(f"{primary} (last 10 minutes)" if primary else "")
        self._curve = self.mini.plot(pen=pg.mkPen(theme.TREND_PENS[0], width=1.5),
                                     connect="finite")
        self._t: deque[float] = deque(maxlen=6000)
        self._v: deque[float] = deque(maxlen=6000)

        lay = QVBoxLayout(self)
        lay.addWidget(head)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.mini)
        lay.addWidget(plate)
        self.buttons: dict[str, QPushButton] = {}
        if asset.is_switch:
            box = QGroupBox("Control (select before operate)")
            row = QHBoxLayout(box)
            for name in ("Select open", "Select close", "Operate", "Cancel"):
                b = QPushButton(name)
                row.addWidget(b)
                self.buttons[name] = b
            self.buttons["Select open"].clicked.connect(
                lambda: self._select(False))
            self.buttons["Select close"].clicked.connect(
                lambda: self._select(True))
            self.buttons["Operate"].clicked.connect(self._operate)
            self.buttons["Cancel"].clicked.connect(
                lambda: self.cancel_requested.emit(self.asset.id))
            self.status = QLabel("")
            lay.addWidget(box)
            lay.addWidget(self.status)
            self._selected: bool | None = None
            self.set_control_enabled(False)

    # ------------------------------------------------------------------ controls
    def set_control_enabled(self, on: bool, why: str = "control arrives with the control "
                                                         "service") -> None:
        for b in self.buttons.values():
            b.setEnabled(on)
            b.setToolTip("" if on else why)
        if self.buttons:
            self.buttons["Operate"].setEnabled(False)

    def _select(self, close: bool) -> None:
        self._selected = close
        self.select_requested.emit(self.asset.id, close)

    def selection_confirmed(self, close: bool) -> None:
        self.status.setText(f"selected to {'close' if close else 'open'}: confirm with Operate")
        self.buttons["Operate"].setEnabled(True)

    def _operate(self) -> None:
        if self._selected is not None:
            self.operate_requested.emit(self.asset.id, self._selected)
            self.buttons["Operate"].setEnabled(False)

    def show_result(self, text: str, ok: bool) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("" if ok else f"color: {theme.INVALID.name()}")

    # ------------------------------------------------------------------ live data
    @Slot(object)
    def update_snapshot(self, snap: LiveSnapshot) -> None:
        f = snap.frame
        for k, r in enumerate(self.rows):
            v, q = float(f.values[r]), int(f.quality[r])
            if self.points.quantity[r] == "position":
                text = _POS.get(int(round(v)), f"{v:g}")
            elif self.points.kind[r] == 0:
                text = f"{v:,.4g} {self.points.unit[r]}".strip()
            else:
                text = f"{int(round(v))}"
            vi, qi = self.table.item(k, 1), self.table.item(k, 2)
            vi.setText(text)
            qi.setText(Q.describe(q))
            brush = QBrush(theme.INVALID if not Q.is_good(q) else theme.TEXT)
            vi.setForeground(brush)
            qi.setForeground(brush)
        if self.trend_row is not None:
            r = self.trend_row
            self._t.append(int(f.t_source_ns[r]) / 1e9)
            self._v.append(float(f.values[r]) if Q.is_good(int(f.quality[r])) else np.nan)
            t = np.fromiter(self._t, float)
            keep = t >= t[-1] - 600
            self._curve.setData(t[keep], np.fromiter(self._v, float)[keep])

    def value_text(self, point_name: str) -> tuple[str, str]:
        k = [self.points.name[r] for r in self.rows].index(point_name)
        return self.table.item(k, 1).text(), self.table.item(k, 2).text()
