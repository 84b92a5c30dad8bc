"""Trends: live data plus historian backfill, one y-axis per unit.

Points are added from the single-line diagram (context menu or drag), from the point browser,
or by dropping a tag here. Live samples come from every scan's snapshot into a per-point ring
buffer; older data is asked of the historian through :attr:`TrendsDock.backfill_requested`,
which the runtime answers from a worker thread (no SQL on the GUI thread) by calling
:meth:`TrendsDock.add_history`. Samples with bad quality are gaps, never plotted as values.

Ranges from 10 minutes to 30 days; pan and zoom with the mouse (live follow stops while you
look back; "Live" resumes); a crosshair reads every curve at the cursor; export PNG and CSV
(confirmed with the path and the number of rows).

A status point is drawn as steps on an axis of its state texts ("Open", "Closed"), never as
2.0 on a numeric scale; units are spelt as on every display ("°C", "Mvar"); the legend and
the readout say what each point is ("F1_CT — Active power (MW)").

The trended points and the range are kept (QSettings) and restored at the next start, and
named *trend groups* can be saved and loaded ("Groups ▸").
"""

from __future__ import annotations

import csv
import datetime as dt
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QMimeData, QSettings, Qt, Signal, Slot
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QPaintEvent, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.runtime.snapshot import LiveSnapshot
from app.station import clock
from app.station import quality as Q
from app.station.points import KIND_STATUS, PointTable
from app.station.timezone import IST
from app.ui import theme
from app.ui.perf import timed

TAG_MIME = "application/x-gridtwin-tag"

RANGES_S = {"10 min": 600, "1 h": 3600, "8 h": 8 * 3600, "24 h": 86400, "7 days": 7 * 86400,
            "30 days": 30 * 86400}
LIVE_CAPACITY = 36_000  # samples per point kept live (1 h at 10 Hz)
MAX_CURVES = 20
SEAM_GAP_S = 5.0  # history → live: longer than this is drawn as a gap
SETTINGS_KEY = "trends"


def state_ticks(states: tuple[str, ...]) -> list[list[tuple[float, str]]]:
    """A status point's axis ticks: each value at its state text."""
    return [[(float(k), text) for k, text in enumerate(states)], []]


def state_axis_key(states: tuple[str, ...]) -> str:
    """Status points share an axis only with points of the same state texts."""
    return "states: " + " / ".join(states)


class _Plot(pg.PlotWidget):
    """The trend plot; its painting is measured by the HMI benchmark (app.ui.perf)."""

    @timed("paint: trend plots")
    def paintEvent(self, ev: QPaintEvent) -> None:  # noqa: N802 - Qt API
        super().paintEvent(ev)

class IstAxis(pg.DateAxisItem):
    """Time axis labelled in IST (data are UTC epoch seconds)."""

    def tickStrings(self, values: list[float], scale: float, spacing: float  # noqa: N802
                    ) -> list[str]:  # pyqtgraph's API
        offset = 5.5 * 3600
        return super().tickStrings([v + offset for v in values], scale, spacing)


@dataclass
class _Series:
    tag: str
    row: int
    unit: str
    pen: QColor
    t: np.ndarray = field(default_factory=lambda: np.empty(LIVE_CAPACITY))
    v: np.ndarray = field(default_factory=lambda: np.empty(LIVE_CAPACITY))
    n: int = 0
    start: int = 0
    hist_t: np.ndarray = field(default_factory=lambda: np.empty(0))
    hist_v: np.ndarray = field(default_factory=lambda: np.empty(0))
    curve: pg.PlotDataItem | None = None

    def append(self, t: float, v: float) -> None:
        i = (self.start + self.n) % LIVE_CAPACITY
        self.t[i], self.v[i] = t, v
        if self.n < LIVE_CAPACITY:
            self.n += 1
        else:
            self.start = (self.start + 1) % LIVE_CAPACITY

    def live(self) -> tuple[np.ndarray, np.ndarray]:
        """The live samples in time order (views while the ring has not wrapped)."""
        a, n = self.start, self.n
        if a + n <= LIVE_CAPACITY:
            return self.t[a:a + n], self.v[a:a + n]
        k = LIVE_CAPACITY - a
        return (np.concatenate([self.t[a:], self.t[:n - k]]),
                np.concatenate([self.v[a:], self.v[:n - k]]))

    def last_t(self) -> float:
        if self.n:
            return float(self.t[(self.start + self.n - 1) % LIVE_CAPACITY])
        return float(self.hist_t[-1]) if len(self.hist_t) else 0.0

    def window(self, t0: float, t1: float, buckets: int) -> tuple[np.ndarray, np.ndarray]:
        """What to draw for [t0, t1]: the samples there (and one either side, so lines reach
        the edges), at most ~2 a pixel column: each column's minimum and maximum, so a spike
        stays visible however far out one zooms. A column with only bad quality is a gap."""
        t, v = self.data()
        i0 = max(0, int(np.searchsorted(t, t0)) - 1)
        i1 = min(len(t), int(np.searchsorted(t, t1, side="right")) + 1)
        t, v = t[i0:i1], v[i0:i1]
        if len(t) <= 2 * buckets:
            return t.copy(), v.copy()  # never a view of the ring the next scans write into
        edges = np.searchsorted(t, np.linspace(t[0], t[-1], buckets + 1)[:-1])
        edges = edges[np.r_[True, np.diff(edges) > 0]]  # sorted: drop empty columns
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-gap column: NaN
            lo = np.fmin.reduceat(v, edges)
            hi = np.fmax.reduceat(v, edges)
        ends = np.append(edges[1:], len(t)) - 1
        return (np.column_stack([t[edges], t[ends]]).ravel(),
                np.column_stack([lo, hi]).ravel())

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        lt, lv = self.live()
        if not len(self.hist_t):
            return lt, lv
        cut = self.hist_t < (lt[0] if len(lt) else np.inf)
        ht, hv = self.hist_t[cut], self.hist_v[cut]
        if len(ht) and len(lt) and lt[0] - ht[-1] > SEAM_GAP_S:
            # History ends before this session's first sample (the HMI was not running): a
            # gap on the plot, never a straight line drawn across the time nobody recorded.
            ht, hv = np.append(ht, ht[-1] + 1e-3), np.append(hv, np.nan)
        return np.concatenate([ht, lt]), np.concatenate([hv, lv])


def fit_y(vb: pg.ViewBox, lo: float, hi: float) -> None:
    """Scale a live trend's y-axis to its data, but keep it still while the data stay inside
    and fill at least half of it: an axis rescaling with every refresh to the noise cannot be
    read (and regenerating its ticks was a third of the trend's paint time)."""
    if hi <= lo:  # a constant (a position, a flat reading): a band round it
        half = max(abs(hi) * 0.02, 1.0) / 2
        lo, hi = lo - half, hi + half
    (y0, y1) = vb.viewRange()[1]
    if y0 <= lo and hi <= y1 and hi - lo >= 0.5 * (y1 - y0):
        return
    pad = 0.1 * (hi - lo)
    vb.setYRange(lo - pad, hi + pad, padding=0)


class TrendsDock(QWidget):
    """The trend panel. Feed it snapshots with :meth:`update_snapshot`."""

    #: (tags, t0 epoch s, t1 epoch s, max points per tag): please fetch history.
    backfill_requested = Signal(list, float, float, int)

    #: A message for the operator (an export's path and rows): the window's status bar.
    message = Signal(str)

    def __init__(self, points: PointTable, parent: QWidget | None = None, *,
                 settings: QSettings | None = None) -> None:
        super().__init__(parent)
        self.points = points
        self.settings = settings
        self._restoring = False
        self.setAcceptDrops(True)
        self.series: dict[str, _Series] = {}
        self._axes: dict[str, tuple[pg.ViewBox, pg.AxisItem | None]] = {}
        self._live_follow = True
        self._range_s = 600.0
        self._last_draw = 0.0
        #: "Now" in epoch seconds for the empty view and backfills (a drill: its simulated
        #: time, app.ui.drill).
        self.now = clock.time

        pg.setConfigOptions(antialias=False, background=theme.PANEL, foreground=theme.TEXT)
        self.plot = _Plot(axisItems={"bottom": IstAxis(orientation="bottom")})
        self.plot_item: pg.PlotItem = self.plot.getPlotItem()
        self.plot_item.showGrid(x=True, y=True, alpha=0.25)
        self.plot_item.setLabel("bottom", "time (IST)")
        self.plot_item.vb.sigResized.connect(self._sync_views)
        self.plot_item.vb.sigRangeChangedManually.connect(self._manual_range)
        self.plot_item.vb.sigXRangeChanged.connect(self._view_moved)
        self._vline = pg.InfiniteLine(angle=90, movable=False,
                                      pen=pg.mkPen(theme.TEXT_MUTED, width=1))
        self.plot_item.addItem(self._vline, ignoreBounds=True)
        self._proxy = pg.SignalProxy(self.plot.scene().sigMouseMoved, rateLimit=30,
                                     slot=self._mouse_moved)

        self.range_box = QComboBox()
        self.range_box.addItems(list(RANGES_S))
        self.range_box.currentTextChanged.connect(self.set_range)
        self.live_button = QPushButton("Live")
        self.live_button.setCheckable(True)
        self.live_button.setChecked(True)
        self.live_button.toggled.connect(self._set_live)
        self.png_button = QPushButton("Export PNG…")
        self.png_button.clicked.connect(lambda: self._ask_export("png"))
        self.csv_button = QPushButton("Export CSV…")
        self.csv_button.clicked.connect(lambda: self._ask_export("csv"))
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self._remove_selected)
        self.groups_button = QPushButton("Groups")
        self.groups_button.setToolTip("save the trended points and range as a named group, "
                                      "or load one")
        self.groups_menu = QMenu(self)
        self.groups_menu.aboutToShow.connect(self._fill_groups_menu)
        self.groups_button.setMenu(self.groups_menu)
        # While nothing is trended: the last ten minutes and a hint, not an empty 0-1 axis.
        self._hint = pg.TextItem("no points trended\nright-click a device on the diagram,\n"
                                 "drag one here, or use the point browser",
                                 color=theme.TEXT_MUTED, anchor=(0.5, 0.5))
        self.plot_item.addItem(self._hint, ignoreBounds=True)
        self._show_empty()
        self.readout = QLabel("drop a point here, or use the point browser")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.readout.setWordWrap(True)
        self.legend = QListWidget()
        self.legend.setMaximumWidth(260)

        bar = QHBoxLayout()
        bar.addWidget(QLabel("Range"))
        bar.addWidget(self.range_box)
        bar.addWidget(self.live_button)
        bar.addStretch(1)
        bar.addWidget(self.remove_button)
        bar.addWidget(self.groups_button)
        bar.addWidget(self.png_button)
        bar.addWidget(self.csv_button)
        split = QSplitter()
        split.addWidget(self.plot)
        side = QWidget()
        sl = QVBoxLayout(side)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.addWidget(self.legend, 1)
        sl.addWidget(self.readout)
        split.addWidget(side)
        split.setStretchFactor(0, 4)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(bar)
        lay.addWidget(split, 1)

    def _show_empty(self) -> None:
        now = self.now()
        self.plot_item.setXRange(now - self._range_s, now, padding=0)
        self.plot_item.setYRange(0, 1, padding=0)
        self._hint.setPos(now - self._range_s / 2, 0.5)
        self._hint.setVisible(True)

    # ------------------------------------------------------------------ points
    @Slot(str)
    def add_tag(self, tag: str) -> bool:
        """Trend a point (``ASSET.POINT``). Returns False when it cannot be added."""
        if tag in self.series:
            return True
        if tag not in self.points.index:
            self.readout.setText(f"unknown point {tag}")
            return False
        if len(self.series) >= MAX_CURVES:
            self.readout.setText(f"at most {MAX_CURVES} curves: remove one first")
            return False
        row = self.points.index[tag]
        states = self.points.states[row] if self.points.kind[row] == KIND_STATUS else None
        unit = state_axis_key(states) if states else (self.points.unit_text[row] or "(value)")
        pen = QColor(theme.TREND_PENS[len(self.series) % len(theme.TREND_PENS)])
        s = _Series(tag, row, unit, pen)
        vb = self._viewbox_for(unit, states)
        # A state holds until the next sample: drawn as steps, never as a slope.
        s.curve = pg.PlotDataItem(pen=pg.mkPen(pen, width=1.5 if states else 1),
                                  connect="finite", name=tag,
                                  stepMode="left" if states else None)
        vb.addItem(s.curve)
        self.series[tag] = s
        self._hint.setVisible(False)
        item = QListWidgetItem(self.points.label(row))
        item.setToolTip(tag + (f" — states: {' / '.join(states)}" if states else ""))
        item.setData(Qt.ItemDataRole.UserRole, tag)
        item.setForeground(pen)
        self.legend.addItem(item)
        now = self.now()
        self.backfill_requested.emit([tag], now - self._range_s, now, 2000)
        self._redraw(force=True)
        self._save_current()
        return True

    def remove_tag(self, tag: str) -> None:
        s = self.series.pop(tag, None)
        if s is None:
            return
        for vb, _axis in self._axes.values():
            if s.curve in vb.addedItems:
                vb.removeItem(s.curve)
        for i in range(self.legend.count()):
            if self.legend.item(i).data(Qt.ItemDataRole.UserRole) == tag:
                self.legend.takeItem(i)
                break
        self._prune_axes()
        if not self.series:
            self._show_empty()
        self._save_current()

    def _remove_selected(self) -> None:
        for item in self.legend.selectedItems():
            self.remove_tag(item.data(Qt.ItemDataRole.UserRole))

    def _viewbox_for(self, unit: str, states: tuple[str, ...] | None = None) -> pg.ViewBox:
        if unit in self._axes:
            return self._axes[unit][0]
        label = "state" if states else unit
        if not self._axes:
            self.plot_item.setLabel("left", label)
            self.plot_item.getAxis("left").setTicks(state_ticks(states) if states else None)
            self._axes[unit] = (self.plot_item.vb, None)
            if states:
                self._fix_state_range(self.plot_item.vb, states)
            return self.plot_item.vb
        vb = pg.ViewBox()
        axis = pg.AxisItem("right")
        axis.setLabel(label)
        if states:
            axis.setTicks(state_ticks(states))
            self._fix_state_range(vb, states)
        col = 2 + len(self._axes)
        self.plot_item.layout.addItem(axis, 2, col)
        self.plot_item.scene().addItem(vb)
        axis.linkToView(vb)
        vb.setXLink(self.plot_item)
        self._axes[unit] = (vb, axis)
        self._sync_views()
        return vb

    @staticmethod
    def _fix_state_range(vb: pg.ViewBox, states: tuple[str, ...]) -> None:
        vb.setYRange(-0.3, len(states) - 0.7, padding=0)
        vb.setMouseEnabled(y=False)

    def _prune_axes(self) -> None:
        used = {s.unit for s in self.series.values()}
        if not used:  # nothing trended: the main axis is free for whatever comes next
            for unit, (_vb, axis) in list(self._axes.items()):
                if axis is None:
                    del self._axes[unit]
            self.plot_item.getAxis("left").setTicks(None)
            self.plot_item.setLabel("left", "")
            self.plot_item.vb.setMouseEnabled(y=True)
        for unit in [u for u in self._axes if u not in used]:
            vb, axis = self._axes[unit]
            if axis is None:
                continue  # the main axis stays
            self.plot_item.layout.removeItem(axis)
            axis.scene().removeItem(axis) if axis.scene() else None
            self.plot_item.scene().removeItem(vb)
            del self._axes[unit]

    def _sync_views(self) -> None:
        for vb, axis in self._axes.values():
            if axis is not None:
                vb.setGeometry(self.plot_item.vb.sceneBoundingRect())
                vb.linkedViewChanged(self.plot_item.vb, vb.XAxis)

    def units(self) -> list[str]:
        return list(self._axes)

    # ------------------------------------------------------------------ data
    @Slot(object)
    @timed("trends")
    def update_snapshot(self, snap: LiveSnapshot) -> None:
        if not self.series:
            return
        f = snap.frame
        t_ns = f.t_source_ns
        good = Q.good_mask(f.quality)
        for s in self.series.values():
            v = float(f.values[s.row]) if good[s.row] else np.nan
            s.append(int(t_ns[s.row]) / 1e9, v)
        self._redraw()

    @Slot(str, object, object)
    def add_history(self, tag: str, t_s: np.ndarray, values: np.ndarray) -> None:
        """Historian backfill for ``tag`` (epoch seconds, values with NaN for bad quality)."""
        s = self.series.get(tag)
        if s is None:
            return
        order = np.argsort(t_s)
        s.hist_t = np.asarray(t_s, dtype=float)[order]
        s.hist_v = np.asarray(values, dtype=float)[order]
        self._redraw(force=True)

    def redraw_interval_s(self) -> float:
        """Live redraws come once a second (a SCADA trend's usual refresh), or when the
        curves can have moved a pixel on longer ranges, at most every 5 s: redrawing 20
        curves at the scan rate cost the GUI thread ~20 ms a scan for nothing the eye sees."""
        px = max(200.0, float(self.plot_item.vb.width()))
        return min(5.0, max(1.0, self._range_s / px))

    def _redraw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and (not self.isVisible()
                          or now - self._last_draw < self.redraw_interval_s()):
            return
        self._last_draw = now
        tmax = max((s.last_t() for s in self.series.values()), default=0.0)
        if self._live_follow and tmax:
            x0, x1 = tmax - self._range_s, tmax
        else:
            (x0, x1), _ = self.plot_item.vb.viewRange()
        buckets = max(100, int(self.plot_item.vb.width()) // 2)  # a column per 2 pixels
        extent: dict[str, list[float]] = {}
        for s in self.series.values():
            t, v = s.window(x0, x1, buckets)
            s.curve.setData(t, v)
            fin = v[np.isfinite(v)]
            if len(fin):
                a, b = float(fin.min()), float(fin.max())
                e = extent.setdefault(s.unit, [a, b])
                e[0], e[1] = min(e[0], a), max(e[1], b)
        if self._live_follow and tmax:
            self.plot_item.setXRange(x0, x1, padding=0)
            for unit, (vb, _) in self._axes.items():
                if unit in extent and not unit.startswith("states: "):
                    fit_y(vb, *extent[unit])

    def _view_moved(self, *_: object) -> None:
        """Panned or zoomed by hand: the curves are cut to the view, so draw the new one."""
        if not self._live_follow:
            self._redraw(force=True)

    def showEvent(self, e: QShowEvent) -> None:  # noqa: N802 - Qt API
        super().showEvent(e)
        self._redraw(force=True)  # hidden behind another dock tab, it did not redraw

    # ------------------------------------------------------------------ ranges
    @Slot(str)
    def set_range(self, name: str) -> None:
        self._range_s = float(RANGES_S[name])
        if self.range_box.currentText() != name:
            self.range_box.setCurrentText(name)
        now = self.now()
        if self.series:
            self.backfill_requested.emit(list(self.series), now - self._range_s, now, 2000)
        self._set_live(True)
        self._save_current()

    # ------------------------------------------------------------------ groups
    def _state(self) -> dict:
        return {"tags": list(self.series), "range": self.range_box.currentText()}

    def _apply(self, tags: list[str], range_name: str) -> list[str]:
        """Trend exactly ``tags`` over ``range_name``; returns the tags that could not be
        (a station file without them)."""
        self._restoring = True
        try:
            for tag in list(self.series):
                if tag not in tags:
                    self.remove_tag(tag)
            missing = [t for t in tags if not self.add_tag(t)]
            if range_name in RANGES_S:
                self.set_range(range_name)
        finally:
            self._restoring = False
        self._save_current()
        return missing

    def _save_current(self) -> None:
        if self.settings is None or self._restoring:
            return
        st = self._state()
        self.settings.setValue(f"{SETTINGS_KEY}/current/tags", " ".join(st["tags"]))
        self.settings.setValue(f"{SETTINGS_KEY}/current/range", st["range"])

    def restore_saved(self) -> list[str]:
        """At start: the points and range trended when the HMI last closed (the points this
        station no longer has are skipped, and returned)."""
        if self.settings is None:
            return []
        tags = str(self.settings.value(f"{SETTINGS_KEY}/current/tags", "") or "").split()
        rng = str(self.settings.value(f"{SETTINGS_KEY}/current/range", "") or "")
        if not tags and not rng:
            return []
        missing = self._apply(tags, rng or self.range_box.currentText())
        if missing:
            self.message.emit(f"trends: {len(missing)} saved point(s) no longer exist: "
                              + ", ".join(missing[:5]))
        return missing

    def groups(self) -> list[str]:
        if self.settings is None:
            return []
        self.settings.beginGroup(f"{SETTINGS_KEY}/groups")
        try:
            return sorted(self.settings.childGroups())
        finally:
            self.settings.endGroup()

    def save_group(self, name: str) -> None:
        """Keep the trended points and range as the group ``name`` (replacing one)."""
        name = name.strip().replace("/", "-")
        if self.settings is None or not name:
            return
        st = self._state()
        self.settings.setValue(f"{SETTINGS_KEY}/groups/{name}/tags", " ".join(st["tags"]))
        self.settings.setValue(f"{SETTINGS_KEY}/groups/{name}/range", st["range"])
        self.settings.sync()
        self.message.emit(f"trend group '{name}' saved: {len(st['tags'])} point(s), "
                          f"{st['range']}")

    def load_group(self, name: str) -> bool:
        if self.settings is None or name not in self.groups():
            return False
        tags = str(self.settings.value(f"{SETTINGS_KEY}/groups/{name}/tags", "")).split()
        rng = str(self.settings.value(f"{SETTINGS_KEY}/groups/{name}/range", ""))
        missing = self._apply(tags, rng)
        self.message.emit(f"trend group '{name}' loaded: {len(tags) - len(missing)} point(s)"
                          + (f", {len(missing)} no longer exist" if missing else ""))
        return True

    def delete_group(self, name: str) -> None:
        if self.settings is not None:
            self.settings.remove(f"{SETTINGS_KEY}/groups/{name}")

    def _fill_groups_menu(self) -> None:
        m = self.groups_menu
        m.clear()
        save = m.addAction("Save current as group…")
        save.setEnabled(self.settings is not None and bool(self.series))
        save.triggered.connect(self._ask_group_name)
        names = self.groups()
        if names:
            m.addSeparator()
            for name in names:
                m.addAction(f"Load '{name}'").triggered.connect(
                    lambda _=False, n=name: self.load_group(n))
            rm = m.addMenu("Delete")
            for name in names:
                rm.addAction(name).triggered.connect(
                    lambda _=False, n=name: self.delete_group(n))

    def _ask_group_name(self) -> None:
        name, ok = QInputDialog.getText(self, "Save trend group", "Group name:")
        if ok and name.strip():
            self.save_group(name)

    def _set_live(self, on: bool) -> None:
        self._live_follow = on
        if self.live_button.isChecked() != on:
            self.live_button.setChecked(on)
        self._redraw(force=True)

    def _manual_range(self, *_: object) -> None:
        self._set_live(False)

    # ------------------------------------------------------------------ crosshair
    def _mouse_moved(self, evt: tuple) -> None:
        pos = evt[0]
        if not self.plot_item.sceneBoundingRect().contains(pos):
            return
        x = self.plot_item.vb.mapSceneToView(pos).x()
        self._vline.setPos(x)
        self.readout.setText(self.readout_at(x))

    def readout_at(self, t: float) -> str:
        lines = [dt.datetime.fromtimestamp(t, IST).strftime("%d %b %H:%M:%S IST")]
        for s in self.series.values():
            ts, vs = s.data()
            if not len(ts):
                continue
            i = int(np.clip(np.searchsorted(ts, t), 1, len(ts) - 1))
            if self.points.kind[s.row] == KIND_STATUS:
                i = max(0, int(np.searchsorted(ts, t, side="right")) - 1)  # the step held
            else:
                i = i if abs(ts[i] - t) < abs(ts[i - 1] - t) else i - 1
            val = ("bad quality" if np.isnan(vs[i]) else
                   self.points.value_text(s.row, float(vs[i])))
            lines.append(f"{self.points.label(s.row)} [{s.tag}]: {val}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ export
    def _ask_export(self, kind: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self, f"Export trend as {kind.upper()}",
                                              f"trend.{kind}", f"{kind.upper()} (*.{kind})")
        if path:
            (self.export_png if kind == "png" else self.export_csv)(path)

    def _confirm(self, text: str) -> None:
        self.readout.setText(text)
        self.message.emit(text)

    def export_png(self, path: str) -> bool:
        ok = self.plot.grab().save(path)
        self._confirm(f"trend exported as PNG: {path}" if ok else
                      f"trend NOT exported: cannot write {path}")
        return ok

    def export_csv(self, path: str) -> int:
        """Every trended sample in the visible time range, one row per sample; returns the
        rows written (-1: the file could not be written). Confirmed to the operator."""
        (x0, x1), _ = self.plot_item.vb.viewRange()
        n = 0
        try:
            with open(path, "w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow(["time_utc", "time_ist", "point", "value", "unit", "quality",
                            "description", "state"])
                for s in self.series.values():
                    t, v = s.data()
                    sel = (t >= x0) & (t <= x1)
                    r = s.row
                    status = self.points.kind[r] == KIND_STATUS
                    for ti, vi in zip(t[sel], v[sel], strict=True):
                        utc = dt.datetime.fromtimestamp(ti, dt.UTC)
                        bad = np.isnan(vi)
                        w.writerow([utc.isoformat(timespec="milliseconds"),
                                    utc.astimezone(IST).isoformat(timespec="milliseconds"),
                                    s.tag, "" if bad else repr(float(vi)),
                                    self.points.unit_text[r], "bad" if bad else "good",
                                    self.points.description[r],
                                    self.points.value_text(r, float(vi))
                                    if status and not bad else ""])
                        n += 1
        except OSError as exc:
            self._confirm(f"trend NOT exported: {path}: {exc.strerror or exc}")
            return -1
        self._confirm(f"trend exported as CSV: {n:,} rows to {path}")
        return n

    # ------------------------------------------------------------------ drag and drop
    def dragEnterEvent(self, e: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        if e.mimeData().hasFormat(TAG_MIME) or e.mimeData().hasText():
            e.acceptProposedAction()

    def dropEvent(self, e: QDropEvent) -> None:  # noqa: N802 - Qt API
        md = e.mimeData()
        raw = bytes(md.data(TAG_MIME)).decode() if md.hasFormat(TAG_MIME) else md.text()
        for tag in raw.split():
            self.add_tag(tag.strip())
        e.acceptProposedAction()


def tag_mime(tag: str) -> QMimeData:
    md = QMimeData()
    md.setData(TAG_MIME, tag.encode())
    md.setText(tag)
    return md
