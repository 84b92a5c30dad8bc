"""The disturbance-record viewer: a COMTRADE record (IEEE C37.111) as a protection engineer
reads it.

One window per record (non-modal, any number open): the header (station, recorder, start and
trigger time in UTC and station time, sampling rate), the analogue channels in one plot per
unit (currents, voltages) in the phase colours R-Y-B-N, the status channels as stacked step
traces, all on one time axis in milliseconds from the trigger. Two cursors (drag them, or
click a plot: the left button moves C1, Shift+click C2) and a table that reads every channel at
each: the instantaneous value, the RMS over the cycle ending there, and the difference
C2 − C1; Δt between them above it. Channels can be hidden from the list.

:func:`open_record_viewer` opens one from a ``.cfg`` path; a file it cannot read is one
message naming the file, the line and the field (:class:`~app.training.comtrade.ComtradeError`)
in a box, and no window.
"""

from __future__ import annotations

import logging
import math
import zoneinfo
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app.training.comtrade import ComtradeError, ComtradeRecord, read_comtrade
from app.ui import theme

log = logging.getLogger(__name__)

#: Phase colours as Indian practice names them (R, Y, B), muted for a grey display; neutral
#: and residual quantities in dark grey.
PHASE_PENS = {"A": "#C62828", "B": "#B08900", "C": "#1F4E9E", "N": "#37474F"}
_OTHER_PENS = theme.TREND_PENS
CURSOR_PENS = ("#0078D7", "#6A1B9A")

#: Long names of the units a record carries (the plot's axis label).
UNIT_TITLES = {"A": "Current", "KA": "Current", "V": "Voltage", "KV": "Voltage",
               "HZ": "Frequency", "W": "Power", "MW": "Power", "VAR": "Reactive power",
               "MVAR": "Reactive power"}


def _pen(phase: str, k: int) -> str:
    return PHASE_PENS.get(phase.strip().upper()[:1], _OTHER_PENS[k % len(_OTHER_PENS)])


def _fmt(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    a = abs(value)
    if a >= 1000:
        return f"{value:,.0f}"
    if a >= 100:
        return f"{value:.1f}"
    if a >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


class RecordViewer(QMainWindow):
    """One disturbance record with its traces, two cursors and their readout."""

    cursors_moved = Signal(float, float)
    """C1 and C2 in seconds on the record's time axis."""

    def __init__(self, record: ComtradeRecord, parent: QWidget | None = None,
                 timezone: str | None = None) -> None:
        super().__init__(parent)
        self.setWindowFlag(Qt.WindowType.Window, True)
        self.record = record
        self.t_ms = (record.time_s - record.trigger_s) * 1000.0
        self._tz = timezone
        self.setWindowTitle(f"Disturbance record — {record.cfg.name}")
        self.resize(theme.px(1280), theme.px(820))

        bar = QToolBar("Record", self)
        bar.setMovable(False)
        self.addToolBar(bar)
        fit = bar.addAction("Fit")
        fit.setShortcut(QKeySequence("Ctrl+0"))
        fit.setToolTip("Show the whole record (Ctrl+0)")
        fit.triggered.connect(self.fit)
        trig = bar.addAction("Cursors to trigger")
        trig.setToolTip("C1 one cycle before the trigger, C2 at the end of the fault's first "
                        "five cycles")
        trig.triggered.connect(self.cursors_to_trigger)
        openf = bar.addAction("Open…")
        openf.triggered.connect(lambda: open_record_dialog(self.parentWidget() or self,
                                                           str(record.cfg.parent)))

        central = QWidget(self)
        outer = QVBoxLayout(central)
        outer.setContentsMargins(theme.px(6), theme.px(4), theme.px(6), theme.px(4))
        self.header = QLabel(self._header_text(), central)
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        outer.addWidget(self.header)
        split = QSplitter(Qt.Orientation.Horizontal, central)
        outer.addWidget(split, 1)
        self.setCentralWidget(central)

        # ---- channel list
        self.channels = QListWidget(split)
        self.channels.setToolTip("Untick a channel to hide its trace")
        for k, a in enumerate(record.analogs):
            it = QListWidgetItem(f"{a.name}  [{a.unit}]")
            it.setData(Qt.ItemDataRole.UserRole, ("a", k))
            it.setForeground(QColor(_pen(a.phase, k)))
            it.setCheckState(Qt.CheckState.Checked)
            self.channels.addItem(it)
        for k, s in enumerate(record.statuses):
            it = QListWidgetItem(s.name)
            it.setData(Qt.ItemDataRole.UserRole, ("d", k))
            it.setCheckState(Qt.CheckState.Checked)
            self.channels.addItem(it)
        self.channels.itemChanged.connect(self._toggle)
        self.channels.setMaximumWidth(theme.px(260))

        # ---- plots
        right = QWidget(split)
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        self.glw = pg.GraphicsLayoutWidget(right)
        self.glw.setBackground(theme.PANEL)
        rl.addWidget(self.glw, 3)
        self.plots: list[pg.PlotItem] = []
        self.curves: dict[tuple[str, int], pg.PlotDataItem] = {}
        self.cursor_lines: list[tuple[pg.InfiniteLine, pg.InfiniteLine]] = []
        groups: dict[str, list[int]] = {}
        for k, a in enumerate(record.analogs):
            groups.setdefault(a.unit.strip() or "—", []).append(k)
        axis_pen = pg.mkPen(theme.TEXT)
        for unit, ks in groups.items():
            p = self._new_plot(f"{UNIT_TITLES.get(unit.upper(), 'Value')} ({unit})", axis_pen)
            p.addLegend(offset=(-10, 5), labelTextColor=theme.TEXT, brush=(228, 228, 228, 235))
            first_ccbm = record.analogs[ks[0]].ccbm
            for k in ks:
                a = record.analogs[k]
                # A second measuring point (the busbar's VT beside the bay's) dashed.
                style = Qt.PenStyle.SolidLine if a.ccbm == first_ccbm else Qt.PenStyle.DashLine
                self.curves[("a", k)] = p.plot(self.t_ms, a.values, name=a.name,
                                               pen=pg.mkPen(_pen(a.phase, k), width=1.4,
                                                            style=style))
        if record.statuses:
            n = len(record.statuses)
            p = self._new_plot("Status", axis_pen)
            ticks = []
            for k, s in enumerate(record.statuses):
                base = n - 1 - k
                y = base + 0.7 * (s.values != 0)
                self.curves[("d", k)] = p.plot(self.t_ms, y, stepMode=None,
                                               pen=pg.mkPen(theme.EQUIPMENT, width=1.6),
                                               fillLevel=base, brush=(60, 60, 60, 70))
                ticks.append((base + 0.35, s.name))
            p.getAxis("left").setTicks([ticks, []])
            p.setYRange(-0.2, n, padding=0)
            p.setMouseEnabled(y=False)
            p.getAxis("left").setWidth(theme.px(150))
        for p in self.plots:
            p.getAxis("left").setWidth(max(p.getAxis("left").width(), theme.px(150)))
        if self.plots:
            self.plots[-1].setLabel("bottom", "time from trigger", units="ms")
            self.plots[-1].getAxis("bottom").enableAutoSIPrefix(False)

        # ---- readout
        self.dt_label = QLabel(right)
        self.dt_label.setTextFormat(Qt.TextFormat.RichText)
        rl.addWidget(self.dt_label)
        self.table = QTableWidget(0, 7, right)
        self.table.setHorizontalHeaderLabels(["Channel", "Unit", "C1", "C1 RMS", "C2", "C2 RMS",
                                              "C2 − C1 (RMS)"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        hh = self.table.horizontalHeader()
        for c in range(7):
            hh.setSectionResizeMode(c, QHeaderView.ResizeMode.Interactive)
        hh.setStretchLastSection(False)
        fm = self.table.fontMetrics()
        self.table.setColumnWidth(0, max(fm.horizontalAdvance(n) for n, _u in
                                         [("Channel", ""), *[(a.name, "") for a in
                                                             record.analogs],
                                          *[(s.name, "") for s in record.statuses]])
                                  + theme.px(24))
        self.table.setColumnWidth(1, fm.horizontalAdvance("Unit") + theme.px(16))
        for c in range(2, 7):
            self.table.setColumnWidth(c, fm.horizontalAdvance("C2 − C1 (RMS)") + theme.px(16))
        rows = [(a.name, a.unit) for a in record.analogs] + [(s.name, "")
                                                              for s in record.statuses]
        self.table.setRowCount(len(rows))
        for r, (name, unit) in enumerate(rows):
            self.table.setItem(r, 0, QTableWidgetItem(name))
            self.table.setItem(r, 1, QTableWidgetItem(unit))
            for c in range(2, 7):
                it = QTableWidgetItem("")
                it.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, it)
        rl.addWidget(self.table, 2)
        split.setStretchFactor(1, 1)

        self._c = [0.0, 0.0]
        self._moving = False
        self.cursors_to_trigger()
        self.fit()

    # ------------------------------------------------------------------ building
    def _new_plot(self, title: str, axis_pen: object) -> pg.PlotItem:
        p = self.glw.addPlot(row=len(self.plots), col=0)
        p.showGrid(x=True, y=True, alpha=0.25)
        p.setLabel("left", title)
        for ax in ("left", "bottom"):
            p.getAxis(ax).setPen(axis_pen)
            p.getAxis(ax).setTextPen(axis_pen)
        if self.plots:
            p.setXLink(self.plots[0])
        lines = []
        for k, colour in enumerate(CURSOR_PENS):
            line = pg.InfiniteLine(angle=90, movable=True,
                                   pen=pg.mkPen(colour, width=1.5,
                                                style=Qt.PenStyle.DashLine),
                                   label=f"C{k + 1}" if not self.plots else None,
                                   labelOpts={"position": 0.95, "color": colour})
            line.sigPositionChanged.connect(lambda ln, k=k: self._dragged(k, ln.value()))
            p.addItem(line, ignoreBounds=True)
            lines.append(line)
        self.cursor_lines.append((lines[0], lines[1]))
        p.scene().sigMouseClicked.connect(lambda ev, p=p: self._clicked(p, ev))
        self.plots.append(p)
        return p

    def _header_text(self) -> str:
        r = self.record
        when = "—"
        if r.trigger is not None:
            when = f"{r.trigger:%Y-%m-%d %H:%M:%S}.{r.trigger.microsecond // 1000:03d} UTC"
            if self._tz:
                try:
                    local = r.trigger.astimezone(zoneinfo.ZoneInfo(self._tz))
                    when += (f" ({local:%H:%M:%S}.{local.microsecond // 1000:03d} "
                             f"{local.tzname()})")
                except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                    pass
        pre_ms = r.trigger_s * 1000.0
        length_ms = (r.time_s[-1] - r.time_s[0]) * 1000.0 if len(r.time_s) else 0.0
        return (f"<b>{r.station_name}</b> — recorder <b>{r.rec_dev_id}</b> &nbsp;·&nbsp; "
                f"trigger {when} &nbsp;·&nbsp; {r.sample_rate_hz:,.0f} samples/s, "
                f"{length_ms:,.0f} ms ({pre_ms:,.0f} ms before the trigger) &nbsp;·&nbsp; "
                f"{len(r.analogs)} analogue, {len(r.statuses)} status channels &nbsp;·&nbsp; "
                f"C37.111-{r.rev_year} {r.data_format}")

    # ------------------------------------------------------------------ cursors
    def _dragged(self, k: int, x_ms: float) -> None:
        if not self._moving:
            self.set_cursor(k, x_ms / 1000.0 + self.record.trigger_s)

    def _clicked(self, plot: pg.PlotItem, ev: object) -> None:
        if ev.button() != Qt.MouseButton.LeftButton or ev.double():
            return
        vb = plot.getViewBox()
        if not vb.sceneBoundingRect().contains(ev.scenePos()):
            return
        x_ms = vb.mapSceneToView(ev.scenePos()).x()
        shift = bool(ev.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        self.set_cursor(1 if shift else 0, x_ms / 1000.0 + self.record.trigger_s)

    def set_cursor(self, k: int, t_s: float) -> None:
        """Cursor ``k`` (0: C1, 1: C2) to the sample nearest ``t_s`` on the record's axis."""
        t = self.record.time_s
        i = int(np.clip(np.searchsorted(t, t_s), 0, len(t) - 1))
        if i > 0 and abs(t[i - 1] - t_s) <= abs(t[i] - t_s):
            i -= 1
        self._c[k] = float(t[i])
        self._moving = True
        try:
            for pair in self.cursor_lines:
                pair[k].setValue(self.t_ms[i])
        finally:
            self._moving = False
        self._update_readout()
        self.cursors_moved.emit(self._c[0], self._c[1])

    @property
    def cursors_s(self) -> tuple[float, float]:
        return self._c[0], self._c[1]

    def cursors_to_trigger(self) -> None:
        r = self.record
        cycle = 1.0 / (r.frequency_hz or 50.0)
        self.set_cursor(0, r.trigger_s - 0.1 * cycle)
        self.set_cursor(1, min(r.time_s[-1], r.trigger_s + 5 * cycle))

    def fit(self) -> None:
        if self.plots:
            self.plots[0].setXRange(float(self.t_ms[0]), float(self.t_ms[-1]), padding=0.01)
            for p in self.plots:
                if p.getAxis("left").labelText != "Status":
                    p.enableAutoRange(axis="y")

    def value_at(self, row: int, t_s: float) -> tuple[float, float | None]:
        """Channel ``row`` (analogues first, then statuses) at ``t_s``: the sample and, for an
        analogue, the RMS over the cycle of samples ending there (None before a whole cycle)."""
        r = self.record
        i = int(np.clip(np.searchsorted(r.time_s, t_s - 1e-9), 0, len(r.time_s) - 1))
        if row < len(r.analogs):
            v = r.analogs[row].values
            per = max(1, round(r.sample_rate_hz / (r.frequency_hz or 50.0)))
            rms = None
            if i + 1 >= per:
                seg = v[i + 1 - per:i + 1]
                rms = float(np.sqrt(np.nanmean(seg ** 2)))
            return float(v[i]), rms
        s = r.statuses[row - len(r.analogs)].values
        return float(s[i]), None

    def _update_readout(self) -> None:
        c1, c2 = self._c
        dt_ms = (c2 - c1) * 1000.0
        rel = [(c - self.record.trigger_s) * 1000.0 for c in (c1, c2)]
        self.dt_label.setText(
            f"<span style='color:{CURSOR_PENS[0]}'><b>C1</b> {rel[0]:+.2f} ms</span> &nbsp; "
            f"<span style='color:{CURSOR_PENS[1]}'><b>C2</b> {rel[1]:+.2f} ms</span> &nbsp; "
            f"<b>Δt = {dt_ms:.2f} ms</b> ({dt_ms * (self.record.frequency_hz or 50) / 1000:.2f} "
            "cycles) &nbsp;·&nbsp; drag a cursor, click a plot for C1, Shift+click for C2")
        for row in range(self.table.rowCount()):
            v1, rms1 = self.value_at(row, c1)
            v2, rms2 = self.value_at(row, c2)
            digital = row >= len(self.record.analogs)
            cells = ([str(int(v1)), "", str(int(v2)), "", ""] if digital else
                     [_fmt(v1), _fmt(rms1) if rms1 is not None else "—", _fmt(v2),
                      _fmt(rms2) if rms2 is not None else "—",
                      _fmt(rms2 - rms1) if rms1 is not None and rms2 is not None else "—"])
            for c, text in enumerate(cells, start=2):
                self.table.item(row, c).setText(text)

    def _toggle(self, item: QListWidgetItem) -> None:
        key = item.data(Qt.ItemDataRole.UserRole)
        curve = self.curves.get(tuple(key))
        if curve is not None:
            curve.setVisible(item.checkState() == Qt.CheckState.Checked)


def open_record_viewer(parent: QWidget | None, cfg_path: str | Path,
                       timezone: str | None = None) -> RecordViewer | None:
    """Open the record at ``cfg_path`` in a viewer window (shown); a file that cannot be read
    is one message box naming the file, the line and the field, and None."""
    try:
        rec = read_comtrade(cfg_path)
    except ComtradeError as exc:
        log.warning("disturbance record refused: %s", exc)
        QMessageBox.warning(parent, "Disturbance record", str(exc))
        return None
    if timezone is None and parent is not None:
        station = getattr(parent, "station", None)
        timezone = getattr(getattr(station, "station", None), "timezone", None)
    viewer = RecordViewer(rec, parent, timezone=timezone)
    viewer.show()
    viewer.raise_()
    return viewer


def open_record_dialog(parent: QWidget | None, folder: str | None = None) -> RecordViewer | None:
    """Ask for a ``.cfg`` file and open it (File ▸ Open disturbance record…)."""
    path, _ = QFileDialog.getOpenFileName(parent, "Open disturbance record", folder or "",
                                          "COMTRADE records (*.cfg *.CFG);;All files (*)")
    if not path:
        return None
    return open_record_viewer(parent, path)

