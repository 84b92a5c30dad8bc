"""The Health view: every asset's health index, worst first, and one asset's history and
30-day forecast.

The assessment (:func:`app.analytics.health.assess`: condition from the historian, the
index with its factors, the forecast, the maintenance suggestions stored once per asset and
factor) runs as a background job on the HMI's query runner — a minute after start-up, then
once a day, and on demand (*Assess now*) — with a progress bar; the GUI only fills the table
and draws the plot. Without a historian the view says so.

The table: asset, type, index, band, worst factor, the index expected in 30 days with its
95 % band, remaining life, and the work suggested. A Poor or Very poor index is shown in bold
with its band's word (ISA-101: no colour for what is not an alarm). Selecting a row draws
that asset's daily indices, the forecast with its band and the end-of-life line, and lists
its factors (score, weight, value with unit, the basis in words) and suggested work.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pyqtgraph as pg
from PySide6.QtCore import QSortFilterProxyModel, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.analytics.health import AssetHealth, assess, store_suggestions
from app.historian.api import HistorianReader
from app.runtime.jobs import Job, JobContext
from app.runtime.qt.jobs import JobHandle, JobRunner
from app.station import Station, clock
from app.station.timezone import IST
from app.ui import theme
from ml.health.index import END_OF_LIFE_INDEX

SORT = Qt.ItemDataRole.UserRole + 1
COLUMNS = ("Asset", "Type", "Index", "Band", "Worst factor", "In 30 days (95 %)",
           "Life left (y)", "Work")
FIRST_RUN_MS = 60_000
DAILY_MS = 24 * 3600 * 1000


def _number(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


class _Item(QStandardItem):
    def __init__(self, text: str, sort: object, bold: bool = False) -> None:
        super().__init__(text)
        self.setData(sort, SORT)
        self.setEditable(False)
        if bold:
            f = QFont()
            f.setBold(True)
            self.setFont(f)
        if isinstance(sort, int | float):
            self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


class HealthDock(QWidget):
    """The Health view (see the module notes). ``assessed`` carries the results of each run."""

    assessed = Signal(list)

    def __init__(self, station: Station, historian: HistorianReader | None,
                 runner: JobRunner | None, *, now: Callable[[], dt.datetime] = clock.now,
                 schedule: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.station, self.historian, self.runner, self.now = station, historian, runner, now
        self.results: list[AssetHealth] = []
        self.handle: JobHandle | None = None
        self.run_btn = QPushButton("Assess now")
        self.run_btn.setToolTip("Score every asset's health from its condition in the "
                                "historian; suggested work goes to the maintenance schedule")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.model = QStandardItemModel(self)
        self.model.setHorizontalHeaderLabels(list(COLUMNS))
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(COLUMNS.index("Index"), Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.verticalHeader().hide()
        self.plot = pg.PlotWidget(background=theme.PANEL.name())
        self.plot.setLabel("left", "Health index")
        self.plot.setLabel("bottom", "days from now")
        self.plot.setYRange(0, 100)
        self.plot.showGrid(y=True, alpha=0.2)
        self.details = QTextBrowser()
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.plot)
        right.addWidget(self.details)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.table)
        split.addWidget(right)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        top = QHBoxLayout()
        top.addWidget(self.run_btn)
        top.addWidget(self.progress, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.status)
        lay.addWidget(split, 1)
        self.run_btn.clicked.connect(self.assess_now)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._show_selected())
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self._scheduled)
        if historian is None or runner is None:
            self.run_btn.setEnabled(False)
            self.status.setText("Asset health needs the historian: the HMI records to it "
                                "(gridtwin run), or run `gridtwin health` on a recorded one.")
        else:
            self.status.setText("Health is assessed a minute after start-up, then daily; "
                                "or Assess now.")
            if schedule:
                self.timer.start(FIRST_RUN_MS)

    # ------------------------------------------------------------------ running
    def _scheduled(self) -> None:
        self.assess_now()
        self.timer.start(DAILY_MS)

    def assess_now(self) -> JobHandle | None:
        """Start an assessment (unless one is running) on the job runner."""
        if self.handle is not None or self.historian is None or self.runner is None:
            return None
        station, reader, at = self.station, self.historian, self.now()

        def run(ctx: JobContext) -> tuple[list[AssetHealth], tuple[int, int]]:
            out = assess(station, reader, at, progress=ctx.steps("assets"),
                         cancelled=lambda: ctx.cancelled)
            stored = (0, 0)
            engine = reader.engine
            if engine is not None and not ctx.cancelled:
                stored = store_suggestions(engine, [s for h in out for s in h.suggestions])
            return out, stored

        self.run_btn.setEnabled(False)
        self.progress.setValue(0)
        self.status.setText(f"Assessing asset health as of {at.astimezone(IST):%H:%M} IST…")
        self.handle = h = self.runner.submit(Job("asset health", run))
        h.progress.connect(lambda f, text: (self.progress.setValue(int(f * 1000)),
                                            self.progress.setFormat(f"{text}  %p%")))
        h.done.connect(lambda res: self._done(at, *res))
        h.failed.connect(lambda err: self._ended(f"Health assessment failed: {err}"))
        h.cancelled.connect(lambda: self._ended("Health assessment cancelled."))
        return h

    def _ended(self, text: str) -> None:
        self.handle = None
        self.run_btn.setEnabled(True)
        self.status.setText(text)

    def _done(self, at: dt.datetime, results: list[AssetHealth],
              stored: tuple[int, int]) -> None:
        self.show_results(results)
        poor = sum(r.index.index < 50 for r in results)
        self.progress.setValue(1000)
        self._ended(f"{len(results)} assets as of {at.astimezone(IST):%d %b %H:%M} IST: "
                    f"{poor} Poor or Very poor. Maintenance schedule: {stored[0]} suggestion(s) "
                    f"added, {stored[1]} updated.")
        self.assessed.emit(results)

    # ------------------------------------------------------------------ showing
    def show_results(self, results: list[AssetHealth]) -> None:
        self.results = list(results)
        self.model.removeRows(0, self.model.rowCount())
        for r in self.results:
            i, f = r.index, r.forecast
            poor = i.index < 50
            worst = i.worst
            self.model.appendRow([
                _Item(i.asset, i.asset),
                _Item(i.asset_type.replace("_", " "), i.asset_type),
                _Item(f"{i.index:.0f}", float(i.index), poor),
                _Item(i.band, float(i.index), poor),
                _Item(f"{worst.name.replace('_', ' ')} {worst.score:.0f}" if worst else "",
                      worst.score if worst else 100.0),
                _Item(f"{f.index[-1]:.0f} ({f.lo[-1]:.0f}–{f.hi[-1]:.0f})", float(f.index[-1])),
                _Item(f"{f.remaining_life_years:.1f}", float(f.remaining_life_years)),
                _Item(str(len(r.suggestions)) if r.suggestions else "", len(r.suggestions)),
            ])
        self.table.resizeColumnsToContents()
        if self.results and not self.table.selectionModel().hasSelection():
            self.table.selectRow(0)

    def select_asset(self, asset: str) -> bool:
        for row in range(self.proxy.rowCount()):
            if self.proxy.index(row, 0).data() == asset:
                self.table.selectRow(row)
                return True
        return False

    def selected(self) -> AssetHealth | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        asset = self.proxy.index(rows[0].row(), 0).data()
        return next((r for r in self.results if r.index.asset == asset), None)

    def _show_selected(self) -> None:
        r = self.selected()
        self.plot.clear()
        if r is None:
            self.details.clear()
            return
        at = r.index.at
        pen = pg.mkPen(theme.TEXT.name(), width=1)
        if r.history:
            xs = [(t - at).total_seconds() / 86400 for t, _ in r.history] + [0.0]
            ys = [v for _, v in r.history] + [r.index.index]
            self.plot.plot(xs, ys, pen=pen, symbol="o", symbolSize=4,
                           symbolBrush=theme.TEXT.name(), name="daily index")
        else:
            self.plot.plot([0.0], [r.index.index], pen=None, symbol="o", symbolSize=6,
                           symbolBrush=theme.TEXT.name())
        f = r.forecast
        days = [0.0, *map(float, f.days)]
        lo = pg.PlotDataItem(days, [r.index.index, *f.lo], pen=pg.mkPen(None))
        hi = pg.PlotDataItem(days, [r.index.index, *f.hi], pen=pg.mkPen(None))
        self.plot.addItem(lo)
        self.plot.addItem(hi)
        self.plot.addItem(pg.FillBetweenItem(lo, hi, brush=theme.STUDY_FILL))
        self.plot.plot(days, [r.index.index, *f.index],
                       pen=pg.mkPen(theme.STUDY.name(), width=2, style=Qt.PenStyle.DashLine))
        self.plot.addItem(pg.InfiniteLine(END_OF_LIFE_INDEX, angle=0, pen=pg.mkPen(
            theme.TEXT_MUTED.name(), style=Qt.PenStyle.DotLine), label="end of life",
            labelOpts={"position": 0.05, "color": theme.TEXT_MUTED.name()}))
        self.plot.setYRange(0, 100)
        self.details.setHtml(self._details_html(r))

    @staticmethod
    def _details_html(r: AssetHealth) -> str:
        i, f = r.index, r.forecast
        rows = "".join(
            f"<tr><td>{x.name.replace('_', ' ')}</td><td align=right>{x.score:.0f}</td>"
            f"<td align=right>{x.weight * 100:.0f} %</td>"
            f"<td align=right>{_number(x.value)} {x.unit}</td><td>{x.basis}</td></tr>"
            for x in sorted(i.factors, key=lambda x: x.score))
        missing = (f"<p>No good data for: {', '.join(m.replace('_', ' ') for m in i.missing)}"
                   "</p>" if i.missing else "")
        cap = (f"<p>Capped by its worst factor ({i.capped_by.replace('_', ' ')}).</p>"
               if i.capped_by else "")
        work = "".join(f"<li><b>{s.maintenance_type}, due {s.due:%d %b %Y}</b>: {s.action}. "
                       f"<i>{s.reason}.</i></li>" for s in r.suggestions)
        return (f"<h3>{i.asset}: {i.index:.0f} — {i.band}</h3>{cap}"
                f"<p>In 30 days: {f.index[-1]:.0f} (95 %: {f.lo[-1]:.0f}–{f.hi[-1]:.0f}); "
                f"{f.slope_per_year:+.1f} points a year ({f.method}); remaining life "
                f"{f.remaining_life_years:.1f} years.</p>"
                "<table cellspacing=4><tr><th align=left>factor</th><th>score</th>"
                f"<th>weight</th><th>value</th><th align=left>basis</th></tr>{rows}</table>"
                f"{missing}" + (f"<p>Suggested work:</p><ul>{work}</ul>" if work else ""))
