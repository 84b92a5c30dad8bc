"""A device's faceplate: live values with quality, nameplate, a mini-trend, controls.

Non-modal; opened by clicking a device on the diagram (or in the 3D yard). Values update with
every snapshot; bad quality is shown in magenta with its IEC 61850 description.

Switching devices have select-before-operate controls: *Select open* / *Select close* →
"selected; confirm with Operate" → *Operate* → the result ("F1_Q0 closed, confirmed by scan in
1.2 s", or the interlock / the device's AddCause / the timeout in the abnormal colour);
*Cancel* drops a selection. The faceplate only asks: it emits
:attr:`select_requested` / :attr:`operate_requested` / :attr:`cancel_requested` /
:attr:`bypass_requested`, and whoever carries them out (the main window, through the control
service on its own thread) answers with :meth:`selection_confirmed` / :meth:`show_result`.
Buttons are enabled by the user's role (operator or above; *Bypass…* for engineers, after an
interlock refused a select) and by the device's state: its position must be of good quality
and its device communicating. A disabled button looks disabled (greyed, flat) and the reason
is written in the control box itself ("Viewer: operating needs an operator login", "Bay F1
communication lost", "Session locked: …"), not only in a tooltip. The service checks the role
again, whatever the buttons showed.

Values read as the station file says them: state texts for status points ("Remote",
"Charged", "Closed"), one unit spelling ("°C", "Mvar"), each point by its description.
"""

from __future__ import annotations

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

from app.control.users import role_at_least
from app.runtime.snapshot import LiveSnapshot
from app.station import Asset
from app.station import quality as Q
from app.station.frame import Comm
from app.station.points import KIND_STATUS, POS_CLOSED, POS_OPEN, PointTable
from app.ui import theme

#: Disabled controls look disabled: grey text on a flat grey face, no raised edge.
DISABLED_STYLE = (
    "QPushButton:disabled { color: #8C8C8C; background: #CFCFCF; border: 1px dashed #A6A6A6;"
    " border-radius: 2px; padding: 3px 8px; }"
    "QPushButton:enabled { padding: 3px 8px; }")
_PRIMARY = ("LOADING", "P", "HOT_SPOT", "V", "Q", "TOP_OIL", "SF6", "POS", "LEAK", "OP")


class Faceplate(QDialog):
    operate_requested = Signal(str, bool)  # asset id, close
    select_requested = Signal(str, bool)
    cancel_requested = Signal(str)
    bypass_requested = Signal(str, bool, str)  # asset id, close, the interlocks refusing
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
            item = QTableWidgetItem(points.description[r] if points.description else
                                    points.name[r])
            u = points.unit_text[r] if points.unit_text else ""
            item.setToolTip(f"{points.tags[r]}" + (f" [{u}]" if u else ""))
            self.table.setItem(k, 0, item)
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
        from app.ui.trends import IstAxis

        self.mini = pg.PlotWidget(axisItems={"bottom": IstAxis(orientation="bottom")})
        self.mini.setMaximumHeight(150)
        self.mini.setBackground(theme.PANEL)
        status = self.trend_row is not None and points.kind[self.trend_row] == KIND_STATUS
        self.mini.setTitle(f"{points.label(self.trend_row)} (last 10 minutes)"
                           if self.trend_row is not None else "")
        self._curve = self.mini.plot(pen=pg.mkPen(theme.TREND_PENS[0], width=1.5),
                                     connect="finite", stepMode="left" if status else None)
        if status:  # a state trended as steps against its state texts, not 2.0 on a scale
            from app.ui.trends import state_ticks

            texts = points.states[self.trend_row]
            self.mini.getAxis("left").setTicks(state_ticks(texts))
            self.mini.setYRange(-0.3, len(texts) - 0.7, padding=0)
            self.mini.getPlotItem().vb.setMouseEnabled(y=False)
        self._t: deque[float] = deque(maxlen=6000)
        self._v: deque[float] = deque(maxlen=6000)

        lay = QVBoxLayout(self)
        lay.addWidget(head)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.mini)
        lay.addWidget(plate)
        self.buttons: dict[str, QPushButton] = {}
        self.role: str | None = None  # None: no control service; "viewer": nobody logged in
        self.path: str | None = None  # "iec61850", "modbus", "plant"
        self.state = "idle"  # idle, selecting, selected, operating
        self._selected: bool | None = None
        self._refused: tuple[bool, str] | None = None  # (close, interlocks) of a refusal
        self._device_ok, self._device_why = False, "no scan yet"
        self._pos_row = points.index.get(f"{asset.id}.POS")
        self._locked = False
        if asset.is_switch:
            box = QGroupBox("Control (select before operate)")
            box.setStyleSheet(DISABLED_STYLE)
            self.control_box = box
            col = QVBoxLayout(box)
            # Why the controls are off, in words in the box itself (ISA-101: not a tooltip).
            self.why_label = QLabel("")
            self.why_label.setObjectName("controlWhy")
            self.why_label.setWordWrap(True)
            col.addWidget(self.why_label)
            row = QHBoxLayout()
            col.addLayout(row)
            for name in ("Select open", "Select close", "Operate", "Cancel", "Bypass…"):
                b = QPushButton(name)
                row.addWidget(b)
                self.buttons[name] = b
            self.buttons["Select open"].clicked.connect(lambda: self._select(False))
            self.buttons["Select close"].clicked.connect(lambda: self._select(True))
            self.buttons["Operate"].clicked.connect(self._operate)
            self.buttons["Cancel"].clicked.connect(self._cancel)
            self.buttons["Bypass…"].clicked.connect(self._bypass)
            self.buttons["Bypass…"].setToolTip("engineers: bypass the station interlock that "
                                               "refused this command, with a written reason")
            self.path_label = QLabel("")
            self.path_label.setStyleSheet(f"color: {theme.TEXT_MUTED.name()}")
            col.addWidget(self.path_label)
            self.status = QLabel("")
            self.status.setWordWrap(True)
            lay.addWidget(box)
            lay.addWidget(self.status)
            self._refresh()

    # ------------------------------------------------------------------ controls
    def set_access(self, role: str | None, path: str | None = None, *,
                   locked: bool = False) -> None:
        """The logged-in user's role (``"viewer"`` when nobody is; None: no control service)
        and how this device is commanded; ``locked``: a session is locked (viewer rights
        until it is unlocked)."""
        self.role = role
        self._locked = locked
        if path is not None:
            self.path = path
            self.path_label.setText({"iec61850": "via the bay IED: IEC 61850 select-before-"
                                                 "operate, enhanced security",
                                     "modbus": "via the station RTU: Modbus command coils",
                                     "plant": "in-process plant (offline)",
                                     "none": "no command path"}.get(path, path)
                                    if self.buttons else "")
        if self.buttons and role is not None and not role_at_least(role, "operator") and \
                self.state in ("selected", "selecting"):
            self.state, self._selected = "idle", None
            self.status.setText("")
        if self.buttons:
            self._refresh()

    def set_control_enabled(self, on: bool, why: str = "no control service") -> None:
        """Without a session model (tests, tools): operator rights or none."""
        self.set_access("operator" if on else None)
        if not on:
            for b in self.buttons.values():
                b.setToolTip(why)

    def _why_not(self) -> str | None:
        """Why this device cannot be operated from here now, in the operator's words."""
        if self.role is None:
            return "No control service: this HMI cannot operate"
        if not role_at_least(self.role, "operator"):
            if self._locked:
                return "Session locked: unlock it (File ▸ Log in) to operate"
            return ("Viewer: operating needs an operator login" if self.role == "viewer" else
                    f"{self.role.capitalize()}: may not operate (operators and above)")
        if self.path == "none":
            return f"No command path to {self.asset.id}"
        if not self._device_ok:
            return self._device_why
        return None

    def why_disabled(self) -> str:
        """The reason written in the control box ("" while the controls are usable)."""
        return self.why_label.text() if self.buttons else ""

    def _refresh(self) -> None:
        why = self._why_not()
        idle = self.state == "idle"
        b = self.buttons
        self.why_label.setText(why or "")
        self.why_label.setVisible(why is not None)
        self.why_label.setStyleSheet(
            f"color: {theme.TEXT.name()}; background: {theme.BACKGROUND.name()}; "
            f"border-left: 4px solid {theme.TEXT_MUTED.name()}; padding: 3px 6px; "
            "font-weight: bold;")
        for name in ("Select open", "Select close"):
            b[name].setEnabled(why is None and idle)
            b[name].setToolTip(why or "")
        b["Operate"].setEnabled(why is None and self.state == "selected")
        b["Cancel"].setEnabled(self.state == "selected")
        engineer = self.role is not None and role_at_least(self.role, "engineer")
        b["Bypass…"].setVisible(engineer)
        b["Bypass…"].setEnabled(engineer and why is None and idle and self._refused is not None)

    def _select(self, close: bool) -> None:
        self._selected = close
        self._refused = None
        self.state = "selecting"
        self._status(f"selecting {self.asset.id} to {'close' if close else 'open'}…", True)
        self._refresh()
        self.select_requested.emit(self.asset.id, close)

    def _bypass(self) -> None:
        if self._refused is not None:
            close, _ = self._refused
            self._selected = close
            self.bypass_requested.emit(self.asset.id, close, self._refused[1])

    def bypass_started(self, close: bool) -> None:
        """The engineer gave a reason: the select with bypass is under way."""
        self._selected = close
        self._refused = None
        self.state = "selecting"
        self._status(f"selecting {self.asset.id} to {'close' if close else 'open'} with the "
                     "interlock bypassed…", True)
        self._refresh()

    def selection_confirmed(self, close: bool, timeout_s: float | None = None) -> None:
        self._selected = close
        self.state = "selected"
        within = f" within {timeout_s:g} s" if timeout_s else ""
        self._status(f"{self.asset.id} selected to {'close' if close else 'open'}; confirm "
                     f"with Operate{within}", True)
        self._refresh()

    def _operate(self) -> None:
        if self._selected is not None and self.state == "selected":
            self.state = "operating"
            self._status(f"operating {self.asset.id} "
                         f"({'close' if self._selected else 'open'}); waiting for the scan…",
                         True)
            self._refresh()
            self.operate_requested.emit(self.asset.id, self._selected)

    def _cancel(self) -> None:
        if self.state == "selected":
            self.state = "idle"
            self._selected = None
            self._status("selection cancelled", True)
            self._refresh()
            self.cancel_requested.emit(self.asset.id)

    def show_result(self, text: str, ok: bool, *, interlocks: str = "") -> None:
        """A command ended (or a select was refused). ``interlocks``: the station interlocks
        that refused it (an engineer may then bypass them)."""
        if self.buttons:
            self.state = "idle"
            if interlocks and self._selected is not None:
                self._refused = (self._selected, interlocks)
            self._selected = None
            self._refresh()
        self._status(text, ok)

    def _status(self, text: str, ok: bool) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("" if ok else f"color: {theme.ABNORMAL.name()}; "
                                                "font-weight: bold")

    def _device_state(self, snap: LiveSnapshot) -> None:
        f = snap.frame
        if self._pos_row is None:
            self._device_ok, self._device_why = False, "no position indication"
            return
        r = self._pos_row
        c = f.comm.get(self.points.device_of[r])
        if c is not None and c.state != Comm.OK:
            self._device_ok = False
            self._device_why = f"Bay {c.device} communication {c.state.value}"
        elif not Q.is_good(int(f.quality[r])):
            self._device_ok = False
            self._device_why = (f"{self.asset.id} position {Q.describe(int(f.quality[r]))} — "
                                "not commanded")
        elif int(round(float(f.values[r]))) not in (POS_OPEN, POS_CLOSED):
            self._device_ok = False
            self._device_why = (f"{self.asset.id} "
                                f"{self.points.value_text(r, float(f.values[r])).lower()} "
                                "(moving) — wait for an end position")
        else:
            self._device_ok, self._device_why = True, ""

    # ------------------------------------------------------------------ live data
    @Slot(object)
    def update_snapshot(self, snap: LiveSnapshot) -> None:
        f = snap.frame
        if self.buttons:
            was = (self._device_ok, self._device_why)
            self._device_state(snap)
            if (self._device_ok, self._device_why) != was:
                self._refresh()
        for k, r in enumerate(self.rows):
            v, q = float(f.values[r]), int(f.quality[r])
            text = self.points.value_text(r, v)
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
            self.mini.setXRange(t[-1] - 600, t[-1], padding=0)  # the ten minutes it says

    def value_text(self, point_name: str) -> tuple[str, str]:
        k = [self.points.name[r] for r in self.rows].index(point_name)
        return self.table.item(k, 1).text(), self.table.item(k, 2).text()
