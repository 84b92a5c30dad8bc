"""Studies for engineers on shift: fault levels and N-1 contingency on the live station.

*Studies ▸ Fault levels* and *Studies ▸ N-1 contingency* run on the twin's newest solved state
— today's switching, loads, taps and infeeds, not the base case — as background jobs on the
"studies" job runner, with a progress bar and Cancel; in the HMI the job hands the study to
its own process (:mod:`app.runtime.studyproc`), so the GUI neither waits for it nor competes
with it for the interpreter. The results fill a sortable table (CSV export of what is shown) and are
painted on the single-line diagram (:class:`app.ui.sld.overlay.StudyOverlay`): fault kA per
busbar; the branches an outage would overload and the busbars it would take out of their
Grid Code band.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.runtime.jobs import Job, JobContext
from app.runtime.qt.jobs import JobHandle, JobRunner
from app.station import Station
from app.station.timezone import IST
from app.twin.contingency import ContingencyResult
from app.twin.state import OperatingPoint, TwinState
from app.twin.studies import BusFaultLevel, live_contingencies, live_fault_levels

#: Runs one study: (kind, operating point, the job's context) → results. The HMI's is
#: :meth:`app.runtime.studyproc.StudyProcess.run`; :func:`in_this_process` runs it here.
RunStudy = Callable[[str, OperatingPoint, JobContext], list]

SORT = Qt.ItemDataRole.UserRole + 1

FAULT_COLUMNS = ("Busbar", "Bus", "Base kV", "3ph kA", "LG kA", "LL kA", "LLG kA", "3ph MVA",
                 "Energised")
N1_COLUMNS = ("Outage", "Secure", "Worst loading %", "Worst branch", "Overloads",
              "Voltage violations", "Worst voltage kV", "Load lost MW", "Converged")


def _cell(value: object) -> QStandardItem:
    if isinstance(value, float):
        item = QStandardItem(f"{value:.2f}")
    elif isinstance(value, bool):
        item = QStandardItem("yes" if value else "no")
    else:
        item = QStandardItem(str(value))
    item.setData(value if isinstance(value, int | float) else str(value), SORT)
    item.setEditable(False)
    if isinstance(value, int | float) and not isinstance(value, bool):
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


def fault_rows(levels: list[BusFaultLevel]) -> list[tuple]:
    return [(f.asset_id, f.bus, f.base_kv, f.ka.get("3ph", 0.0), f.ka.get("LG", 0.0),
             f.ka.get("LL", 0.0), f.ka.get("LLG", 0.0), f.mva_3ph(), f.energised)
            for f in levels]


def n1_rows(results: list[ContingencyResult]) -> list[tuple]:
    out = []
    for r in results:
        worst = r.max_loading
        v = max(r.voltage_violations, key=lambda x: max(x.min_kv - x.kv, x.kv - x.max_kv),
                default=None)
        out.append((r.outage, r.secure, worst.loading_pct if worst else 0.0,
                    worst.element if worst else "", len(r.overloads),
                    len(r.voltage_violations), v.kv if v else float("nan"),
                    r.load_lost_mw, r.converged))
    return out


def in_this_process(station: Station, circuit: str | Path | None = None) -> RunStudy:
    """Run the studies on the job's own thread (tests, a window without a study process)."""
    def run(kind: str, point: OperatingPoint, ctx: JobContext) -> list:
        study = live_fault_levels if kind == "fault_levels" else live_contingencies
        return study(station, point, circuit=circuit, progress=ctx.steps(kind),
                     cancel=ctx.cancel_flag)
    return run


class StudiesDock(QWidget):
    """Run a study, follow it, cancel it, read and export the result."""

    fault_levels_ready = Signal(object)  # list[BusFaultLevel]
    contingencies_ready = Signal(object)  # list[ContingencyResult]
    cleared = Signal()

    def __init__(self, station: Station, latest_state: Callable[[], TwinState | None],
                 runner: JobRunner, *, run_study: RunStudy | None = None,
                 circuit: str | Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.station, self.latest_state, self.runner = station, latest_state, runner
        self.run_study = run_study or in_this_process(station, circuit)
        self.handle: JobHandle | None = None
        self.kind: str | None = None
        self.results: list = []
        self.fault_btn = QPushButton("Fault levels")
        self.fault_btn.setToolTip("Bolted 3ph, LG, LL and LLG faults at every busbar, on the "
                                  "live switching and loads")
        self.n1_btn = QPushButton("N-1 contingency")
        self.n1_btn.setToolTip("Each ICT, transformer, incoming line and feeder line out in "
                               "turn, from the live state: overloads, voltages, load lost")
        self.cancel_btn = QPushButton("Cancel")
        self.clear_btn = QPushButton("Clear diagram")
        self.export_btn = QPushButton("Export CSV…")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.status = QLabel("Run a study on the live state of the station.")
        self.status.setWordWrap(True)
        self.model = QStandardItemModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.verticalHeader().hide()
        self.fault_btn.clicked.connect(self.run_fault_levels)
        self.n1_btn.clicked.connect(self.run_contingencies)
        self.cancel_btn.clicked.connect(self.cancel)
        self.clear_btn.clicked.connect(self.cleared)
        self.export_btn.clicked.connect(lambda: self.export_csv())
        top = QHBoxLayout()
        for w in (self.fault_btn, self.n1_btn, self.cancel_btn, self.progress, self.clear_btn,
                  self.export_btn):
            top.addWidget(w)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.status)
        lay.addWidget(self.table, 1)
        self._idle()

    # ------------------------------------------------------------------ running
    def _idle(self) -> None:
        busy = self.handle is not None
        self.fault_btn.setEnabled(not busy)
        self.n1_btn.setEnabled(not busy)
        self.cancel_btn.setEnabled(busy)
        self.export_btn.setEnabled(not busy and bool(self.results))

    def run_fault_levels(self) -> JobHandle | None:
        return self._start("fault levels", "fault_levels")

    def run_contingencies(self) -> JobHandle | None:
        return self._start("N-1", "contingencies")

    def _start(self, kind: str, study: str) -> JobHandle | None:
        state = self.latest_state()
        if state is None:
            self.status.setText("No solved state yet: wait for the first scan.")
            return None
        at = state.timestamp.astimezone(IST).strftime("%H:%M:%S")
        self.status.setText(f"{kind}: running on the live state of {at} IST…")
        self.progress.setValue(0)
        point, run = OperatingPoint.of(state), self.run_study
        self.handle = h = self.runner.submit(Job(f"study {kind}",
                                                 lambda ctx: run(study, point, ctx)))
        h.progress.connect(lambda f, text: (self.progress.setValue(int(f * 1000)),
                                            self.progress.setFormat(f"{text}  %p%")))
        h.done.connect(lambda res: self._done(kind, at, res))
        h.failed.connect(lambda err: self._ended(f"{kind} failed: {err}"))
        h.cancelled.connect(lambda: self._ended(f"{kind} cancelled"))
        self._idle()
        return h

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.status.setText("cancelling…")

    def _ended(self, text: str) -> None:
        self.handle = None
        self.status.setText(text)
        self.progress.setValue(0)
        self.progress.setFormat("%p%")
        self._idle()

    def _done(self, kind: str, at: str, results: list) -> None:
        self.kind, self.results = kind, results
        if kind == "fault levels":
            self._fill(FAULT_COLUMNS, fault_rows(results))
            self.fault_levels_ready.emit(results)
            text = f"Fault levels at {len(results)} busbars, live state of {at} IST."
        else:
            self._fill(N1_COLUMNS, n1_rows(results))
            self.contingencies_ready.emit(results)
            insecure = sum(not r.secure for r in results if r.outage != "base case")
            text = (f"N-1 from the live state of {at} IST: {len(results) - 1} outages, "
                    f"{insecure} insecure (overload, voltage out of band or load lost).")
        self.progress.setValue(1000)
        self._ended(text)

    def _fill(self, columns: tuple[str, ...], rows: list[tuple]) -> None:
        self.model.clear()
        self.model.setHorizontalHeaderLabels(list(columns))
        for r in rows:
            self.model.appendRow([_cell(x) for x in r])
        self.table.resizeColumnsToContents()

    # ------------------------------------------------------------------ export
    def shown_rows(self) -> list[list[str]]:
        """The table as shown (sorted as the operator sorted it)."""
        return [[self.proxy.index(r, c).data() or "" for c in range(self.proxy.columnCount())]
                for r in range(self.proxy.rowCount())]

    def export_csv(self, path: str | None = None) -> str | None:
        if not self.results:
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Export study", f"{self.kind}.csv",
                                                  "CSV (*.csv)")
            if not path:
                return None
        header = [self.model.headerData(c, Qt.Orientation.Horizontal)
                  for c in range(self.model.columnCount())]
        rows = self.shown_rows()
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            w.writerows(rows)
        self.status.setText(f"{len(rows)} rows exported to {path}")
        return path
