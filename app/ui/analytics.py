"""The analytics dock: anomalies with their explanations, root-cause analysis, DGA history.

It subscribes to the inference worker's :class:`~app.runtime.inference.AnalyticsSnapshot`
(:mod:`app.runtime.qt.inference`) and paints, at most twice a second, what changed:

* the **anomalies** table — asset, severity, score, since (IST), the top features — and for
  the selected row the **explanation**: each feature's value with its unit, its normal range
  (the training data's 0.5–99.5 %) and its share of the score as a bar;
* the **root-cause** panel, opened from an anomaly row or from an alarm (the alarm list's
  context menu): ranked hypotheses with confidence, action class (immediate / investigate /
  maintain), evidence and the recommendation;
* a transformer's **DGA history** on the Duval Triangle 1 and the Duval Pentagon 1 — the
  zones drawn from :mod:`ml.rca.dga`'s own limits and polygons, the analyses as points from
  the oldest (light) to the newest (dark);
* the model state: "Analytics untrained — …" with the **Train model…** button (a background
  job with a progress bar and Cancel), a refused or failed model in one line, the scans the
  worker skipped.

ISA-101: grey; colour only for what is abnormal (a severity, an immediate action).
:class:`TrendMarks` shades the trend plot over the time an anomaly of a trended point's asset
is active. Nothing here computes analytics: the dock only paints snapshots.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, QSignalBlocker, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QColor, QPolygonF
from PySide6.QtWidgets import (
    QComboBox,
    QGraphicsPolygonItem,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.alarms.engine import AlarmRow
from app.runtime.inference import (
    AnalyticsSnapshot,
    AnomalyItem,
    DgaSample,
    RcaResult,
    trained_names,
    untrained_snapshot,
)
from app.runtime.jobs import Cancelled, Job
from app.runtime.qt.inference import InferenceWorker
from app.runtime.qt.jobs import JobHandle, JobRunner
from app.station.timezone import IST
from app.ui import theme
from app.ui.perf import timed
from ml.rca.dga import (
    DUVAL1_LIMITS,
    PENTAGON1_ZONES,
    DuvalLimits,
    duval_percentages,
    pentagon_centroid,
    pentagon_percentages,
)

if TYPE_CHECKING:
    from app.analytics.training import TrainResult

log = logging.getLogger(__name__)

SEVERITY_COLOUR = {"high": theme.PRIORITY[1], "medium": theme.PRIORITY[2],
                   "low": theme.PRIORITY[3]}
ACTION_COLOUR = {"immediate": theme.PRIORITY[1], "investigate": theme.PRIORITY[2]}
PAINT_INTERVAL_MS = 500
SQRT3_2 = math.sqrt(3) / 2


# ====================================================================== Duval geometry
def triangle_xy(ch4_pct: float, c2h4_pct: float, c2h2_pct: float) -> tuple[float, float]:
    """A Triangle 1 point (percentages) in the plot's x/y: CH4 at the top, C2H4 at the
    bottom right, C2H2 at the bottom left."""
    total = ch4_pct + c2h4_pct + c2h2_pct or 1.0
    ch4, c2h4 = 100 * ch4_pct / total, 100 * c2h4_pct / total
    return c2h4 + ch4 / 2, ch4 * SQRT3_2


def triangle_zones(lim: DuvalLimits = DUVAL1_LIMITS
                   ) -> dict[str, tuple[tuple[float, float, float], ...]]:
    """Duval Triangle 1 zones as polygons of (CH4 %, C2H4 %, C2H2 %), from the limits the
    diagnosis uses (:class:`ml.rca.dga.DuvalLimits`)."""
    def p(c2h4: float, c2h2: float) -> tuple[float, float, float]:
        return (100 - c2h4 - c2h2, c2h4, c2h2)

    pd, d, d1, d2e, d2a = lim.pd_ch4, lim.d_c2h2, lim.d1_c2h4, lim.d2_c2h4, lim.d2_c2h2
    t12, t1, t3e, t3a = lim.t12_c2h2, lim.t1_c2h4, lim.t3_c2h4, lim.t3_c2h2
    return {
        "PD": (p(100 - pd, 0), p(0, 0), p(0, 100 - pd)),
        "T1": (p(0, 100 - pd), p(100 - pd, 0), p(t1, 0), p(t1, t12), p(0, t12)),
        "T2": (p(t1, 0), p(t3e, 0), p(t3e, t12), p(t1, t12)),
        "T3": (p(t3e, 0), p(100, 0), p(100 - t3a, t3a), p(t3e, t3a)),
        "D1": (p(0, d), p(0, 100), p(d1, 100 - d1), p(d1, d)),
        "D2": (p(d1, d), p(d1, 100 - d1), p(100 - d2a, d2a), p(d2e, d2a), p(d2e, d)),
        "DT": (p(0, t12), p(0, d), p(d2e, d), p(d2e, d2a), p(100 - d2a, d2a),
               p(100 - t3a, t3a), p(t3e, t3a), p(t3e, t12)),
    }


def dga_points(samples: Sequence[DgaSample]) -> tuple[np.ndarray, np.ndarray]:
    """Each analysis as a Triangle 1 point and a Pentagon 1 point ((n, 2) arrays; NaN rows
    for an analysis with none of the gases)."""
    tri = np.full((len(samples), 2), np.nan)
    pen = np.full((len(samples), 2), np.nan)
    for i, s in enumerate(samples):
        d = duval_percentages(s.ppm)
        if sum(d.values()) > 0:
            tri[i] = triangle_xy(d["CH4 %"], d["C2H4 %"], d["C2H2 %"])
        pp = pentagon_percentages(s.ppm)
        if sum(pp.values()) > 0:
            pen[i] = pentagon_centroid(pp)
    return tri, pen


_ZONE_FILL = {"PD": "#C9C9C9", "T1": "#D9D2C0", "T2": "#D3C6A8", "T3": "#C9B48F",
              "D1": "#BCC7D6", "D2": "#A9B7CC", "DT": "#CDC3D3", "S": "#D2D9CC"}


class DuvalPlots(QWidget):
    """Duval Triangle 1 and Pentagon 1, zones and a transformer's analyses over time."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.triangle = pg.PlotWidget()
        self.pentagon = pg.PlotWidget()
        for w, title in ((self.triangle, "Duval Triangle 1"),
                         (self.pentagon, "Duval Pentagon 1")):
            w.setBackground(theme.PANEL)
            w.setAspectLocked(True)
            w.hideAxis("left")
            w.hideAxis("bottom")
            w.setTitle(title, color=theme.TEXT.name())
            w.setMenuEnabled(False)
        self.zone_items: dict[str, list[pg.GraphicsObject]] = {"triangle": [], "pentagon": []}
        for zone, poly in triangle_zones().items():
            xy = [triangle_xy(*v) for v in poly]
            self._zone(self.triangle, "triangle", zone, xy)
        for zone, poly in PENTAGON1_ZONES.items():
            self._zone(self.pentagon, "pentagon", zone, list(poly))
        for name, (x, y) in (("CH4", (50, 90)), ("C2H4", (103, -4)), ("C2H2", (-3, -4))):
            t = pg.TextItem(name, color=theme.TEXT_MUTED, anchor=(0.5, 0.5))
            t.setPos(x, y)
            self.triangle.addItem(t)
        for gas, deg in (("H2", 90.0), ("C2H6", 162.0), ("CH4", 234.0), ("C2H4", 306.0),
                         ("C2H2", 18.0)):
            a = math.radians(deg)
            t = pg.TextItem(gas, color=theme.TEXT_MUTED, anchor=(0.5, 0.5))
            t.setPos(44 * math.cos(a), 44 * math.sin(a))
            self.pentagon.addItem(t)
        self.tri_path = pg.PlotDataItem(pen=pg.mkPen(theme.EQUIPMENT, width=1),
                                        connect="finite")
        self.tri_points = pg.ScatterPlotItem()
        self.pen_path = pg.PlotDataItem(pen=pg.mkPen(theme.EQUIPMENT, width=1),
                                        connect="finite")
        self.pen_points = pg.ScatterPlotItem()
        self.triangle.addItem(self.tri_path)
        self.triangle.addItem(self.tri_points)
        self.pentagon.addItem(self.pen_path)
        self.pentagon.addItem(self.pen_points)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.triangle)
        lay.addWidget(self.pentagon)
        self.n_points = 0

    def _zone(self, plot: pg.PlotWidget, which: str, zone: str,
              xy: Sequence[tuple[float, float]]) -> None:
        poly = QGraphicsPolygonItem(QPolygonF([QPointF(x, y) for x, y in xy]))
        poly.setBrush(pg.mkBrush(_ZONE_FILL.get(zone, "#D0D0D0")))
        pen = pg.mkPen(theme.TEXT_MUTED, width=1)
        pen.setCosmetic(True)
        poly.setPen(pen)
        plot.addItem(poly)
        cx = float(np.mean([p[0] for p in xy]))
        cy = float(np.mean([p[1] for p in xy]))
        label = pg.TextItem(zone, color=theme.TEXT, anchor=(0.5, 0.5))
        label.setPos(cx, cy)
        plot.addItem(label)
        self.zone_items[which].append(poly)

    def show_samples(self, samples: Sequence[DgaSample]) -> None:
        tri, pen = dga_points(samples)
        n = len(samples)
        self.n_points = n
        shades = [QColor.fromHsvF(0, 0, 0.75 - 0.65 * (i / max(1, n - 1))) for i in range(n)]
        sizes = [7] * max(0, n - 1) + ([12] if n else [])
        for path, points, xy in ((self.tri_path, self.tri_points, tri),
                                 (self.pen_path, self.pen_points, pen)):
            path.setData(xy[:, 0], xy[:, 1])
            points.setData(x=xy[:, 0], y=xy[:, 1], brush=[pg.mkBrush(c) for c in shades],
                           size=sizes, pen=pg.mkPen(theme.TEXT, width=0.5))


# ====================================================================== the dock
class AnalyticsDock(QWidget):
    """Feed it :class:`AnalyticsSnapshot` s with :meth:`update_analytics`."""

    train_requested = Signal()
    cancel_training = Signal()
    #: AlarmRow: analyse this alarm if it was not yet.
    rca_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.snapshot: AnalyticsSnapshot = untrained_snapshot()
        self._dirty = True
        self._painted_rows: tuple = ()
        self._shown_expl: tuple | None = None
        self._rca_key: str | None = None
        self._waiting_alarm: str | None = None
        self.paints = 0

        self.state_label = QLabel()
        self.state_label.setWordWrap(True)
        self.state_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.skips_label = QLabel("")
        self.skips_label.setObjectName("analyticsSkips")
        self.train_button = QPushButton("Train model…")
        self.train_button.setToolTip("Train the anomaly models on six simulated hours of the "
                                     "station (a background job)")
        self.train_button.clicked.connect(self.train_requested)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_training)
        self.cancel_button.hide()
        top = QHBoxLayout()
        top.addWidget(self.state_label, 1)
        top.addWidget(self.skips_label)
        top.addWidget(self.progress)
        top.addWidget(self.cancel_button)
        top.addWidget(self.train_button)

        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["Asset", "Severity", "Score", "Since (IST)",
                                              "Top features"])
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        for col, w in ((0, 95), (1, 62), (2, 58), (3, 78)):
            self.table.setColumnWidth(col, w)
        self.table.itemSelectionChanged.connect(self._row_selected)

        self.explain_title = QLabel("Select an anomaly to see why the model flagged it.")
        self.explain = QTableWidget(0, 4)
        self.explain.setHorizontalHeaderLabels(["Feature", "Value", "Normal range",
                                                "Share of score"])
        self.explain.verticalHeader().hide()
        self.explain.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.explain.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        for col, w in ((0, 190), (1, 110), (2, 140)):
            self.explain.setColumnWidth(col, w)
        self.rca_button = QPushButton("Root cause…")
        self.rca_button.setEnabled(False)
        self.rca_button.clicked.connect(self._rca_of_selected)
        ex = QWidget()
        exl = QVBoxLayout(ex)
        exl.setContentsMargins(0, 0, 0, 0)
        eh = QHBoxLayout()
        eh.addWidget(self.explain_title, 1)
        eh.addWidget(self.rca_button)
        exl.addLayout(eh)
        exl.addWidget(self.explain)

        self.rca_title = QLabel("Root-cause analysis: open it from an anomaly or an alarm "
                                "(alarm list, right-click).")
        self.rca_title.setWordWrap(True)
        self.rca_tree = QTreeWidget()
        self.rca_tree.setColumnCount(3)
        self.rca_tree.setHeaderLabels(["Hypothesis / evidence", "Confidence", "Action"])
        self.rca_tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.rca_tree.setColumnWidth(1, 80)
        self.rca_tree.setColumnWidth(2, 90)
        rca = QWidget()
        rl = QVBoxLayout(rca)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.rca_title)
        rl.addWidget(self.rca_tree)

        self.dga_asset = QComboBox()
        self.dga_asset.currentTextChanged.connect(lambda _t: self._paint_dga(force=True))
        self.dga_info = QLabel("no dissolved-gas analyses yet")
        self.duval = DuvalPlots()
        dga = QWidget()
        dl = QVBoxLayout(dga)
        dl.setContentsMargins(0, 0, 0, 0)
        dh = QHBoxLayout()
        dh.addWidget(QLabel("Transformer"))
        dh.addWidget(self.dga_asset)
        dh.addWidget(self.dga_info, 1)
        dl.addLayout(dh)
        dl.addWidget(self.duval, 1)
        self._dga_shown: tuple[str, int] | None = None

        self.tabs = QTabWidget()
        self.tabs.addTab(ex, "Explanation")
        self.tabs.addTab(rca, "Root cause")
        self.tabs.addTab(dga, "DGA (Duval)")
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.table)
        split.addWidget(self.tabs)
        split.setSizes([560, 520])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(split, 1)

        self._timer = QTimer(self)
        self._timer.timeout.connect(self.paint)
        self._timer.start(PAINT_INTERVAL_MS)
        self.paint()

    # ------------------------------------------------------------------ input
    @Slot(object)
    def update_analytics(self, snap: AnalyticsSnapshot) -> None:
        """Keep the newest; painted by the timer (at most every PAINT_INTERVAL_MS)."""
        self.snapshot = snap
        self._dirty = True

    def stop(self) -> None:
        self._timer.stop()

    # ------------------------------------------------------------------ training
    def training_started(self) -> None:
        self.progress.setValue(0)
        self.progress.setFormat("training… %p%")
        self.progress.show()
        self.cancel_button.show()
        self.train_button.setEnabled(False)

    @Slot(float, str)
    def training_progress(self, fraction: float, text: str) -> None:
        self.progress.setValue(int(round(fraction * 1000)))
        self.progress.setFormat(f"{text} %p%" if text else "training… %p%")

    def training_finished(self, message: str) -> None:
        self.progress.hide()
        self.cancel_button.hide()
        self.train_button.setEnabled(True)
        self.state_label.setText(message)

    # ------------------------------------------------------------------ painting
    @Slot()
    @timed("analytics dock")
    def paint(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        self.paints += 1
        s = self.snapshot
        self._paint_state(s)
        self._paint_table(s.anomalies)
        if self._rca_key is not None and self._rca_key in s.rca:
            self._paint_rca(s.rca[self._rca_key])
        elif self._waiting_alarm is not None:
            self._open_alarm_result()
        self._paint_dga()

    def _paint_state(self, s: AnalyticsSnapshot) -> None:
        self.state_label.setText(s.message)
        abnormal = s.state in ("failed", "degraded") or (s.state == "ok" and s.anomalies)
        self.state_label.setStyleSheet(
            f"color: {theme.ABNORMAL.name()}; font-weight: bold;" if s.state in
            ("failed", "degraded") else ("font-weight: bold;" if abnormal else ""))
        self.train_button.setVisible(True)
        self.skips_label.setText(f"{s.skipped} scans skipped" if s.skipped else "")
        self.skips_label.setToolTip(f"{s.processed} scans analysed, {s.skipped} skipped "
                                    "because a newer scan arrived first; last scan took "
                                    f"{s.infer_ms:.1f} ms")

    def _paint_table(self, anomalies: tuple[AnomalyItem, ...]) -> None:
        """Rows in a steady order (severity, then asset): when the same anomalies are shown
        only the changed cells' text is set — no items rebuilt at the scan rate."""
        rank = {"high": 0, "medium": 1, "low": 2}
        rows = sorted(anomalies, key=lambda a: (rank.get(a.severity, 3), a.asset))
        shape = tuple((a.asset, a.severity) for a in rows)
        cells = [(a.asset, a.severity, f"{a.score:.1f}",
                  a.since.astimezone(IST).strftime("%H:%M:%S"),
                  ", ".join(a.top_features())) for a in rows]
        selected = self.selected_asset()
        if shape == self._painted_rows:
            for r, row in enumerate(cells):
                for c in (2, 3, 4):
                    it = self.table.item(r, c)
                    if it.text() != row[c]:
                        it.setText(row[c])
        else:
            self._painted_rows = shape
            with QSignalBlocker(self.table):
                self.table.setRowCount(len(rows))
                for r, (a, row) in enumerate(zip(rows, cells, strict=True)):
                    for c, text in enumerate(row):
                        it = QTableWidgetItem(text)
                        if c == 1:
                            it.setBackground(SEVERITY_COLOUR.get(a.severity, theme.PANEL))
                            it.setForeground(QColor("white") if a.severity != "low"
                                             else theme.TEXT)
                        if c == 0:
                            it.setData(Qt.ItemDataRole.UserRole, a.asset)
                        if c == 3:
                            it.setToolTip(a.since.astimezone(IST).strftime(
                                "%d %b %Y %H:%M:%S IST"))
                        self.table.setItem(r, c, it)
                row_of = next((r for r, a in enumerate(rows) if a.asset == selected), None)
                if row_of is not None:
                    self.table.selectRow(row_of)
        if selected is not None:
            self._show_explanation(self.snapshot.anomaly(selected))

    def selected_asset(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        it = self.table.item(rows[0].row(), 0)
        return None if it is None else it.data(Qt.ItemDataRole.UserRole)

    def select_asset(self, asset: str) -> bool:
        for r in range(self.table.rowCount()):
            if self.table.item(r, 0).data(Qt.ItemDataRole.UserRole) == asset:
                self.table.selectRow(r)
                return True
        return False

    def _row_selected(self) -> None:
        asset = self.selected_asset()
        self._show_explanation(None if asset is None else self.snapshot.anomaly(asset))

    def _show_explanation(self, a: AnomalyItem | None) -> None:
        key = None if a is None else (a.asset, a.explanation, round(a.score, 2), a.severity)
        if key == self._shown_expl and key is not None:
            return
        self._shown_expl = key
        self.rca_button.setEnabled(a is not None)
        if a is None:
            self.explain_title.setText("Select an anomaly to see why the model flagged it.")
            self.explain.setRowCount(0)
            return
        self.explain_title.setText(
            f"{a.asset} ({a.cls}): score {a.score:.2f} × threshold, {a.severity}, by the "
            f"{a.model}; {a.confidence:.0%} of its features valid")
        self.explain.setRowCount(len(a.explanation))
        for r, c in enumerate(a.explanation):
            self.explain.setItem(r, 0, QTableWidgetItem(c.name))
            self.explain.setItem(r, 1, QTableWidgetItem(f"{_fmt(c.value)} {c.unit}"))
            self.explain.setItem(r, 2, QTableWidgetItem(
                f"{_fmt(c.normal_lo)} … {_fmt(c.normal_hi)}"))
            bar = self.explain.cellWidget(r, 3)
            if not isinstance(bar, QProgressBar):
                bar = QProgressBar()
                bar.setRange(0, 1000)
                bar.setTextVisible(True)
                self.explain.setCellWidget(r, 3, bar)
            bar.setValue(int(round(c.share * 1000)))
            bar.setFormat(f"{c.share:.0%}")

    # ------------------------------------------------------------------ RCA
    def _rca_of_selected(self) -> None:
        a = self.snapshot.anomaly(self.selected_asset() or "")
        if a is not None:
            self.show_rca_for_anomaly(a.asset)

    def show_rca_for_anomaly(self, asset: str) -> RcaResult | None:
        a = self.snapshot.anomaly(asset)
        results = self.snapshot.rca_for_asset(asset)
        r = next((x for x in results if x.kind == "anomaly"), None)
        if r is None and a is not None:
            self.rca_title.setText(f"{asset}: analysis under way…")
            self._rca_key = f"anomaly:{asset}@{a.since.isoformat()}"
        elif r is None:
            self.rca_title.setText(f"{asset}: no root-cause analysis (no anomaly)")
            self.rca_tree.clear()
        else:
            self._rca_key = r.trigger
            self._paint_rca(r)
        self.tabs.setCurrentIndex(1)
        return r

    def show_rca_for_alarm(self, row: AlarmRow) -> RcaResult | None:
        """Open the RCA of an alarm (the alarm list's context menu): shown at once when it
        was analysed, else asked of the worker and shown when it arrives."""
        key = row.key
        self._rca_key = f"alarm:{key}"
        self.tabs.setCurrentIndex(1)
        r = self.snapshot.rca.get(self._rca_key)
        if r is not None:
            self._paint_rca(r)
            return r
        self.rca_title.setText(f"{key}: analysis under way…")
        self.rca_tree.clear()
        self._waiting_alarm = self._rca_key
        self.rca_requested.emit(row)
        return None

    def _open_alarm_result(self) -> None:
        r = self.snapshot.rca.get(self._waiting_alarm or "")
        if r is not None:
            self._waiting_alarm = None
            self._paint_rca(r)

    def _paint_rca(self, r: RcaResult) -> None:
        when = r.time.astimezone(IST).strftime("%d %b %H:%M:%S")
        head = f"{r.kind} on {r.asset} at {when} IST — {r.method}"
        if r.error:
            head += f" — FAILED: {r.error}"
        self.rca_title.setText(head)
        self.rca_tree.clear()
        if not r.hypotheses:
            QTreeWidgetItem(self.rca_tree, ["no hypothesis: " + r.method, "", ""])
        for h in r.hypotheses:
            it = QTreeWidgetItem(self.rca_tree, [h.cause, f"{h.confidence:.0%}", h.action])
            it.setToolTip(0, h.cause)
            col = ACTION_COLOUR.get(h.action)
            if col is not None:
                it.setBackground(2, col)
                it.setForeground(2, QColor("white"))
            for e in h.evidence:
                QTreeWidgetItem(it, [e, "", ""]).setToolTip(0, e)
            if h.recommendation:
                QTreeWidgetItem(it, [f"→ {h.recommendation}", "", ""]).setToolTip(
                    0, h.recommendation)
        if self.rca_tree.topLevelItemCount():
            self.rca_tree.topLevelItem(0).setExpanded(True)
        self.shown_rca = r

    # ------------------------------------------------------------------ DGA
    def _paint_dga(self, force: bool = False) -> None:
        dga = self.snapshot.dga
        names = sorted(dga)
        if [self.dga_asset.itemText(i) for i in range(self.dga_asset.count())] != names:
            with QSignalBlocker(self.dga_asset):
                cur = self.dga_asset.currentText()
                self.dga_asset.clear()
                self.dga_asset.addItems(names)
                if cur in names:
                    self.dga_asset.setCurrentText(cur)
        asset = self.dga_asset.currentText()
        samples = dga.get(asset, ())
        shown = (asset, len(samples))
        if not force and shown == self._dga_shown:
            return
        self._dga_shown = shown
        self.duval.show_samples(samples)
        if samples:
            last = samples[-1]
            gases = ", ".join(f"{g} {_fmt(v)}" for g, v in last.ppm.items())
            n = len(samples)
            self.dga_info.setText(f"{n} analys{'i' if n == 1 else 'e'}s; latest "
                                  f"{last.time.astimezone(IST).strftime('%d %b %H:%M')} IST: "
                                  f"{gases} ppm")
        else:
            self.dga_info.setText("no dissolved-gas analyses yet")

    def show_dga(self, asset: str) -> None:
        self.dga_asset.setCurrentText(asset)
        self.tabs.setCurrentIndex(2)
        self._paint_dga(force=True)


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return "—"
    a = abs(x)
    return f"{x:.0f}" if a >= 100 else f"{x:.1f}" if a >= 1 else f"{x:.3g}"


# ====================================================================== trend marks
class TrendMarks:
    """Shade the trend plot while an anomaly of a trended point's asset is active: one region
    per asset from its ``since`` to now, in the severity's colour, faint. Self-contained: it
    only adds items to the trend dock's plot and reads which points are trended."""

    def __init__(self, trends: QWidget, asset_of_tag: Callable[[str], str]) -> None:
        self.trends = trends
        self.asset_of_tag = asset_of_tag
        self.regions: dict[str, pg.LinearRegionItem] = {}

    def update(self, anomalies: Sequence[AnomalyItem], now_s: float) -> None:
        trended = {self.asset_of_tag(t) for t in self.trends.series}
        active: Mapping[str, AnomalyItem] = {a.asset: a for a in anomalies
                                             if a.asset in trended}
        for asset in list(self.regions):
            if asset not in active:
                self.trends.plot_item.removeItem(self.regions.pop(asset))
        for asset, a in active.items():
            span = (a.since.timestamp(), max(now_s, a.since.timestamp()))
            reg = self.regions.get(asset)
            if reg is None:
                col = QColor(SEVERITY_COLOUR.get(a.severity, theme.PRIORITY[3]))
                col.setAlpha(45)
                reg = pg.LinearRegionItem(values=span, movable=False, brush=pg.mkBrush(col),
                                          pen=pg.mkPen(None))
                reg.setZValue(-10)
                reg.setToolTip(f"anomaly on {asset}: {a.severity}, score {a.score:.1f}")
                self.trends.plot_item.addItem(reg)
                self.regions[asset] = reg
            else:
                reg.setRegion(span)


# ====================================================================== wiring
class AnalyticsController(QObject):
    """Wires the inference worker to the dock, the status bar and the trends, and runs the
    "Train model…" job: progress and Cancel in the dock; when it is done the worker picks
    the new models up at its next scan (no restart)."""

    def __init__(self, dock: AnalyticsDock, worker: InferenceWorker, *,
                 runner: JobRunner | None = None,
                 make_job: Callable[[], Job[TrainResult]] | None = None,
                 marks: TrendMarks | None = None,
                 show_status: Callable[[AnalyticsSnapshot], None] | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.dock, self.worker, self.runner, self.make_job = dock, worker, runner, make_job
        self.marks, self.show_status = marks, show_status
        self.handle: JobHandle | None = None
        self.last_result: TrainResult | None = None
        worker.analytics_ready.connect(self._on_analytics)
        dock.train_requested.connect(self.train)
        dock.cancel_training.connect(self.cancel)
        dock.rca_requested.connect(self._rca_requested)
        if runner is None or make_job is None:
            dock.train_button.setEnabled(False)
            dock.train_button.setToolTip("training needs the HMI's job runner (gridtwin run)")

    @Slot(object)
    def _on_analytics(self, snap: AnalyticsSnapshot) -> None:
        self.dock.update_analytics(snap)
        if self.show_status is not None:
            self.show_status(snap)
        if self.marks is not None:
            self.marks.update(snap.anomalies, snap.time.timestamp())

    @Slot(object)
    def _rca_requested(self, row: AlarmRow) -> None:
        self.worker.engine.request_rca(row)

    def train(self) -> JobHandle | None:
        if self.runner is None or self.make_job is None or self.handle is not None:
            return self.handle
        self.dock.training_started()
        self.handle = h = self.runner.submit(self.make_job(), self._trained)
        h.progress.connect(self.dock.training_progress)
        return h

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()

    def _trained(self, result: TrainResult | None, error: BaseException | None) -> None:
        self.handle = None
        if error is None and result is not None:
            self.last_result = result
            status = self.worker.set_models(result.models, trained_names(result))
            bad = [m for m in status if m.state != "ok"]
            msg = (f"trained and loaded anomaly model v{result.version} "
                   f"({', '.join(m.name for m in status)})" if not bad else
                   f"analytics: {bad[0].name} refused — {bad[0].reason}")
        elif isinstance(error, Cancelled):
            msg = "training cancelled; " + self.dock.snapshot.message
        else:
            msg = f"training failed — {type(error).__name__}: {error}"
            log.error("analytics: %s", msg)
        self.dock.training_finished(msg)
