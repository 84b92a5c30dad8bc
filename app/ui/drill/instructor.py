"""The instructor station: a second top-level window beside the trainee's HMI.

Run / freeze / resume, the speed (0.5×–20×), the simulated time and the scenario's progress;
snapshots (on demand and every N minutes) and backtracking to one (confirmed), saving one to a
file and going back to one loaded from a file; malfunctions injected live from a menu (the
plant's injection kinds, a parameter dialog that checks what is typed); the trainee's actions
as they happen with their verdicts, the expected actions, the sequence of events; the drill's
disturbance records (each fault's COMTRADE ``.cfg``, opened in the record viewer); and at the
end *Finish drill*: the score, the debrief written (HTML and PDF) and stored per trainee.

Every command goes to the drill's frame source (:class:`app.runtime.drill.DrillFrameSource`),
which runs it on the poller thread; its outcome comes back here through a queued signal. The
window paints the source's :class:`~app.runtime.drill.DrillStatus` on each scan the pipeline
delivers (it subscribes to ``snapshot_ready``); nothing here touches the engine.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import logging
import zoneinfo
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QUrl, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QColor, QDesktopServices, QFont
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.runtime.drill import SPEEDS, DrillFrameSource, DrillStatus
from app.station import Station
from app.station.points import PointTable
from app.training.drill import DrillEngine, DrillResult, Snapshot
from app.training.malfunctions import (
    BY_KIND,
    MALFUNCTIONS,
    MalfunctionParamError,
    choices,
    parse_params,
)
from app.training.scenario import TraineeAction
from app.training.snapshots import SnapshotFileError, load_snapshot, save_snapshot
from app.ui import theme

log = logging.getLogger(__name__)

#: Verdict colours: the debrief's meaning, muted; "unsafe" in the abnormal colour.
VERDICT_COLOUR = {"correct": QColor("#2E7D32"), "late": QColor("#8D6E00"),
                  "wrong": QColor("#B3541E"), "unsafe": theme.ABNORMAL,
                  "missed": QColor("#5A5A5A"), "pending": theme.SELECTION}


def expectation_verdict(x: dict, t_s: float, ended: bool) -> tuple[str, str]:
    """What the instructor reads for an expected action not done yet: WAITING for its event,
    OPEN with the seconds left, OVERDUE once its limit ran out (done now it is late), MISSED
    when the drill ended without it; a done one's verdict as scored. Returns (text, colour
    key)."""
    if x["verdict"] != "missed" or ended:
        return x["verdict"].upper(), x["verdict"]
    deadline = x.get("deadline_s")
    if deadline is None:
        return f"WAITING for {x['after']}", "pending"
    if t_s < deadline:
        return f"OPEN ({deadline - t_s:.0f} s left)", "pending"
    return "OVERDUE", "late"


class MalfunctionDialog(QDialog):
    """The parameters of one malfunction kind; OK only with every value checked
    (:func:`app.training.malfunctions.parse_params`): a bad one is named in red."""

    def __init__(self, kind: str, station: Station, points: PointTable,
                 parent: QWidget | None = None, *, buses: tuple[str, ...] = ()) -> None:
        super().__init__(parent)
        spec = BY_KIND[kind]
        self.kind, self.station, self.points, self.buses = kind, station, points, buses
        self.setWindowTitle(f"Inject — {spec.title}")
        self.params: dict[str, object] = {}
        form = QFormLayout()
        self.fields: dict[str, QComboBox | QLineEdit] = {}
        for p in spec.params:
            opts = choices(p, station, points, buses)
            if opts:
                w = QComboBox()
                w.addItems(opts)
                w.setEditable(p.kind == "point")
                if p.default is not None and str(p.default) in opts:
                    w.setCurrentText(str(p.default))
            else:
                w = QLineEdit("" if p.default is None else f"{p.default:g}"
                              if isinstance(p.default, float) else str(p.default))
                if p.low is not None:
                    w.setPlaceholderText(f"{p.low:g} – {p.high:g}")
            if p.kind == "bus":
                w.setEditable(True)
            w.setObjectName(p.name)
            self.fields[p.name] = w
            form.addRow(f"{p.text} ({p.name})", w)
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(f"color: {theme.ABNORMAL.name()};")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Inject")
        buttons.accepted.connect(self.check)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.error)
        lay.addWidget(buttons)

    def texts(self) -> dict[str, str]:
        return {k: (w.currentText() if isinstance(w, QComboBox) else w.text())
                for k, w in self.fields.items()}

    @Slot()
    def check(self) -> None:
        try:
            self.params = parse_params(self.kind, self.texts(), self.station, self.points,
                                       self.buses)
        except MalfunctionParamError as exc:
            self.error.setText(str(exc))
            return
        self.accept()


class _Bridge(QObject):
    """Carries a future's outcome from the poller thread to the GUI thread."""

    done = Signal(object, object)  # (callback, future)


def _item(text: object, colour: QColor | None = None) -> QTableWidgetItem:
    it = QTableWidgetItem(str(text))
    it.setFlags(it.flags() & ~Qt.ItemFlag.ItemIsEditable)
    it.setToolTip(str(text))
    if colour is not None:
        it.setForeground(colour)
        f = it.font()
        f.setBold(True)
        it.setFont(f)
    return it


def _boxed_table(title: str, headers: list[str]) -> tuple[QGroupBox, QTableWidget]:
    box = QGroupBox(title)
    table = _table(headers)
    QVBoxLayout(box).addWidget(table)
    return box, table


def _table(headers: list[str]) -> QTableWidget:
    t = QTableWidget(0, len(headers))
    t.setHorizontalHeaderLabels(headers)
    t.verticalHeader().setVisible(False)
    t.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
    t.setAlternatingRowColors(True)
    t.verticalHeader().setDefaultSectionSize(theme.row_px())
    t.setWordWrap(False)
    h = t.horizontalHeader()
    h.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    h.setStretchLastSection(True)
    return t


class InstructorWindow(QMainWindow):
    """The instructor's station on a running drill (see the module's text). ``root``: where
    the trainees' results are kept (DATA_DIR/drills); ``open_record(parent, cfg)`` opens a
    COMTRADE record (default: :func:`app.ui.records.open_record_viewer`, imported when first
    used)."""

    closing = Signal()
    finished = Signal(object)  # DrillResult
    backtracked = Signal(object)  # Snapshot: the drill went back to it

    def __init__(self, source: DrillFrameSource, station: Station, *, root: Path,
                 trainee: str, snapshot_every_min: float | None = 5.0,
                 open_record: Callable[[QWidget | None, Path], QWidget] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.source, self.station, self.root, self.trainee = source, station, root, trainee
        self._open_record = open_record
        self.record_windows: list[QWidget] = []
        try:
            self.tz = zoneinfo.ZoneInfo(station.station.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            self.tz = dt.UTC
        self._bridge = _Bridge(self)
        self._bridge.done.connect(self._on_done)
        self._shown: tuple[int, int, int, int, int] | None = None
        self.last_status: DrillStatus | None = None
        self.result: DrillResult | None = None
        self._closing = False
        st = source.status
        self.setWindowTitle(f"Instructor — {st.title} — trainee {trainee}")
        self._build_toolbar(snapshot_every_min)
        self._build_body(st)
        self.statusBar().showMessage("drill ready")
        self.resize(theme.px(1400), theme.px(900))
        self.refresh()

    # ------------------------------------------------------------------ building
    def _build_toolbar(self, every_min: float | None) -> None:
        tb = QToolBar("Drill")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.addToolBar(tb)
        self.run_action = QAction("▶ Run", self)
        self.run_action.triggered.connect(self.resume)
        self.freeze_action = QAction("❚❚ Freeze", self)
        self.freeze_action.triggered.connect(self.freeze)
        tb.addAction(self.run_action)
        tb.addAction(self.freeze_action)
        tb.addSeparator()
        tb.addWidget(QLabel(" Speed "))
        self.speed = QComboBox()
        for s in SPEEDS:
            self.speed.addItem(f"{s:g}×", s)
        speed = self.source.status.speed
        self.speed.setCurrentIndex(SPEEDS.index(speed) if speed in SPEEDS else 1)
        self.speed.currentIndexChanged.connect(self._speed_changed)
        tb.addWidget(self.speed)
        tb.addSeparator()
        self.snapshot_action = QAction("Snapshot now", self)
        self.snapshot_action.triggered.connect(lambda: self.take_snapshot())
        tb.addAction(self.snapshot_action)
        tb.addWidget(QLabel(" every "))
        self.every = QSpinBox()
        self.every.setRange(0, 60)
        self.every.setSuffix(" min")
        self.every.setSpecialValueText("off")
        self.every.setValue(int(every_min or 0))
        self.every.valueChanged.connect(self._every_changed)
        tb.addWidget(self.every)
        tb.addSeparator()
        self.inject_button = QToolButton()
        self.inject_button.setText("Inject malfunction ▾")
        self.inject_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.inject_menu = QMenu(self.inject_button)
        for m in MALFUNCTIONS:
            act = self.inject_menu.addAction(m.title)
            act.setData(m.kind)
            act.triggered.connect(lambda _=False, k=m.kind: self.ask_inject(k))
        self.inject_button.setMenu(self.inject_menu)
        tb.addWidget(self.inject_button)
        self.reset_action = QAction("Trainee reset relays (at the panel)", self)
        self.reset_action.setToolTip("The trainee reset the protection relays locally: "
                                     "recorded and scored as the trainee's action")
        self.reset_action.triggered.connect(self.trainee_reset)
        tb.addAction(self.reset_action)
        tb.addSeparator()
        self.finish_action = QAction("Finish drill…", self)
        self.finish_action.triggered.connect(self.ask_finish)
        tb.addAction(self.finish_action)

    def _build_body(self, st: DrillStatus) -> None:
        centre = QWidget()
        grid = QGridLayout(centre)
        # --- the drill's state
        head = QGroupBox("Drill")
        hl = QGridLayout(head)
        self.title_label = QLabel(f"<b>{st.title}</b> ({st.scenario_id})")
        self.title_label.setWordWrap(True)
        self.state_label = QLabel("")
        f = QFont(self.state_label.font())
        f.setPointSizeF(f.pointSizeF() * 1.4)
        f.setBold(True)
        self.state_label.setFont(f)
        self.time_label = QLabel("")
        self.time_label.setFont(f)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.score_label = QLabel("")
        hl.addWidget(self.title_label, 0, 0, 1, 3)
        hl.addWidget(self.state_label, 1, 0)
        hl.addWidget(self.time_label, 1, 1)
        hl.addWidget(self.score_label, 1, 2)
        hl.addWidget(self.progress, 2, 0, 1, 3)
        grid.addWidget(head, 0, 0, 1, 3)
        # --- snapshots
        snaps = QGroupBox("Snapshots")
        sl = QVBoxLayout(snaps)
        self.snap_list = QListWidget()
        self.snap_list.itemDoubleClicked.connect(lambda _i: self.ask_backtrack())
        sl.addWidget(self.snap_list)
        row = QHBoxLayout()
        self.backtrack_button = QPushButton("Back to selected…")
        self.backtrack_button.clicked.connect(lambda: self.ask_backtrack())
        self.save_button = QPushButton("Save to file…")
        self.save_button.clicked.connect(lambda: self.ask_save_snapshot())
        self.load_button = QPushButton("Load from file…")
        self.load_button.clicked.connect(lambda: self.ask_load_snapshot())
        for b in (self.backtrack_button, self.save_button, self.load_button):
            row.addWidget(b)
        sl.addLayout(row)
        # --- records
        recs = QGroupBox("Disturbance records (COMTRADE)")
        rl = QVBoxLayout(recs)
        self.record_list = QListWidget()
        self.record_list.itemDoubleClicked.connect(lambda _i: self.open_selected_record())
        rl.addWidget(self.record_list)
        self.record_button = QPushButton("Open record")
        self.record_button.clicked.connect(lambda: self.open_selected_record())
        rl.addWidget(self.record_button)
        act = QGroupBox("Malfunctions in force")
        ml = QVBoxLayout(act)
        self.active_list = QListWidget()
        ml.addWidget(self.active_list)
        self.clear_button = QPushButton("Clear selected…")
        self.clear_button.clicked.connect(lambda: self.ask_clear())
        ml.addWidget(self.clear_button)
        left = QVBoxLayout()
        left.addWidget(snaps, 3)
        left.addWidget(act, 2)
        left.addWidget(recs, 2)
        lw = QWidget()
        lw.setLayout(left)
        grid.addWidget(lw, 1, 0, 2, 1)
        # --- the trainee's actions and the expected ones
        acts, self.actions = _boxed_table("Trainee's actions", [
            "time", "t s", "action", "asset", "verdict", "response s", "why / outcome"])
        grid.addWidget(acts, 1, 1)
        exp, self.expect = _boxed_table("Expected actions", [
            "action", "asset", "after", "limit s", "verdict", "points", "what"])
        grid.addWidget(exp, 1, 2)
        soe, self.soe = _boxed_table("Sequence of events",
                                     ["time", "t s", "source", "kind", "text"])
        grid.addWidget(soe, 2, 1, 1, 2)
        grid.setColumnStretch(0, 2)
        grid.setColumnStretch(1, 4)
        grid.setColumnStretch(2, 3)
        grid.setRowStretch(1, 2)
        grid.setRowStretch(2, 3)
        self.setCentralWidget(centre)

    # ------------------------------------------------------------------ painting
    def _local(self, t: dt.datetime) -> str:
        return t.astimezone(self.tz).strftime("%H:%M:%S.%f")[:-3]

    @Slot()
    @Slot(object)
    def refresh(self, _snap: object = None) -> None:
        """Paint the source's newest status (each scan; only what changed)."""
        st = self.source.status
        self.last_status = st
        colour = {"RUNNING": theme.TEXT, "FROZEN": theme.STUDY,
                  "ENDED": theme.TEXT_MUTED, "FINISHED": theme.TEXT_MUTED}[st.state]
        self.state_label.setText(f"{st.state}  {st.speed:g}×")
        self.state_label.setStyleSheet(f"color: {colour.name()};")
        self.time_label.setText(f"{st.time.astimezone(self.tz):%H:%M:%S} "
                                f"{self._tz_name()}  (t = {st.t_s:.0f} s)")
        self.progress.setValue(int(st.progress * 1000))
        self.progress.setFormat(f"{st.t_s:.0f} of {st.duration_s:.0f} s "
                                f"({100 * st.progress:.0f} %)")
        open_ = sum(x["verdict"] == "missed" for x in st.expectations)  # not done (yet)
        self.score_label.setText(f"score if it ended now: {st.score:g} / 100"
                                 + (f" ({open_} expected action{'s' if open_ != 1 else ''} "
                                    "not done yet)" if open_ else ""))
        self.run_action.setEnabled(st.frozen and not st.ended and not st.finished)
        self.freeze_action.setEnabled(not st.frozen and not st.ended and not st.finished)
        live = not st.finished
        for w in (self.inject_button, self.speed, self.snapshot_action, self.reset_action,
                  self.finish_action):
            w.setEnabled(live)
        self._fill_expectations(st)
        key = (st.generation, len(st.snapshots), len(st.actions), len(st.soe),
               len(st.records), st.active)
        if key == self._shown:
            return
        self._shown = key
        self._fill_snapshots(st)
        self._fill_actions(st)
        self._fill_soe(st)
        self._fill_records(st)
        self._fill_active(st)

    def _fill_active(self, st: DrillStatus) -> None:
        self.active_list.clear()
        for inj, kind, params in st.active:
            it = QListWidgetItem(f"{inj}  {params}" if params else inj)
            it.setData(Qt.ItemDataRole.UserRole, inj)
            it.setToolTip(f"{kind}: {params}")
            self.active_list.addItem(it)
        self.clear_button.setEnabled(bool(st.active) and not st.finished)

    def _tz_name(self) -> str:
        return "IST" if str(self.tz) == "Asia/Kolkata" else str(self.tz)

    def _fill_snapshots(self, st: DrillStatus) -> None:
        sel = self.selected_snapshot()
        self.snap_list.clear()
        for s in st.snapshots:
            it = QListWidgetItem(f"{s.t_s:7.0f} s   {s.label}   "
                                 f"({len(s.live)} live item{'s' if len(s.live) != 1 else ''})")
            it.setData(Qt.ItemDataRole.UserRole, s)
            self.snap_list.addItem(it)
            if sel is not None and s == sel:
                self.snap_list.setCurrentItem(it)

    def _fill_actions(self, st: DrillStatus) -> None:
        t = self.actions
        t.setRowCount(len(st.actions))
        start = st.time - dt.timedelta(seconds=st.t_s)
        for r, a in enumerate(st.actions):
            when = start + dt.timedelta(seconds=a.at_s)
            cells = [self._local(when), f"{a.at_s:.1f}", a.action, a.asset or "-",
                     a.verdict.upper(),
                     "" if a.response_s is None else f"{a.response_s:.0f}",
                     a.reason or a.message]
            for c, v in enumerate(cells):
                t.setItem(r, c, _item(v, VERDICT_COLOUR.get(a.verdict) if c == 4 else None))
        if st.actions:
            t.scrollToBottom()

    def _fill_expectations(self, st: DrillStatus) -> None:
        """Every refresh: an open expectation's seconds left count down with the drill."""
        e = self.expect
        if e.rowCount() != len(st.expectations):
            e.setRowCount(len(st.expectations))
        for r, x in enumerate(st.expectations):
            verdict, key = expectation_verdict(x, st.t_s, st.ended or st.finished)
            cells = [x["action"], x["asset"] or "-", x["after"] or "start", f"{x['within_s']:g}",
                     verdict, f"{x['earned']:g} / {x['points']:g}", x["text"]]
            for c, v in enumerate(cells):
                old = e.item(r, c)
                if old is None or old.text() != v:
                    e.setItem(r, c, _item(v, VERDICT_COLOUR.get(key) if c == 4 else None))

    def _fill_soe(self, st: DrillStatus) -> None:
        t = self.soe
        n0 = t.rowCount()
        entries = sorted(st.soe, key=lambda e: e.t_s)
        if len(entries) < n0:
            n0 = 0  # a backtrack: the list starts again
        t.setRowCount(len(entries))
        for r in range(n0, len(entries)):
            e = entries[r]
            for c, v in enumerate((self._local(e.time), f"{e.t_s:.3f}", e.source, e.kind,
                                   e.text)):
                t.setItem(r, c, _item(v))
        if n0 != len(entries):
            t.scrollToBottom()

    def _fill_records(self, st: DrillStatus) -> None:
        self.record_list.clear()
        for bus, ftype, cfg in st.records:
            it = QListWidgetItem(f"{ftype} fault at {bus.upper()}")
            it.setData(Qt.ItemDataRole.UserRole, cfg)
            it.setToolTip(cfg)
            self.record_list.addItem(it)
        self.record_button.setEnabled(bool(st.records))

    # ------------------------------------------------------------------ commands
    def _send(self, what: str, fn: Callable[[DrillEngine], object],
              then: Callable[[object], None] | None = None) -> concurrent.futures.Future:
        fut = self.source.call(fn)
        self._watch(what, fut, then)
        return fut

    def _watch(self, what: str, fut: concurrent.futures.Future,
               then: Callable[[object], None] | None = None) -> None:
        def cb(f: concurrent.futures.Future) -> None:
            exc = f.exception()
            if exc is not None:
                self.statusBar().showMessage(f"{what}: refused — {exc}", 30_000)
                QMessageBox.warning(self, what, f"{what} refused:\n{exc}")
                return
            self.statusBar().showMessage(f"{what}: done", 10_000)
            if then is not None:
                then(f.result())
            self.refresh()

        fut.add_done_callback(lambda f: self._bridge.done.emit(cb, f))

    @Slot(object, object)
    def _on_done(self, cb: Callable[[concurrent.futures.Future], None],
                 fut: concurrent.futures.Future) -> None:
        cb(fut)

    @Slot()
    def freeze(self) -> concurrent.futures.Future:
        return self._send("Freeze", lambda e: e.freeze())

    @Slot()
    def resume(self) -> concurrent.futures.Future:
        return self._send("Resume", lambda e: e.resume())

    def set_speed(self, factor: float) -> concurrent.futures.Future:
        self.speed.blockSignals(True)
        if factor in SPEEDS:
            self.speed.setCurrentIndex(SPEEDS.index(factor))
        self.speed.blockSignals(False)
        return self._send(f"Speed {factor:g}×", lambda e: e.set_speed(factor))

    @Slot(int)
    def _speed_changed(self, index: int) -> None:
        self.set_speed(float(self.speed.itemData(index)))

    @Slot(int)
    def _every_changed(self, minutes: int) -> None:
        every = minutes * 60.0 or None

        def go(e: DrillEngine) -> None:
            e.snapshot_every_s = every
            e._next_auto = (e.t_s + every) if every else 0.0

        self._send("Automatic snapshots", go)

    def take_snapshot(self, label: str = "") -> concurrent.futures.Future:
        return self._send("Snapshot", lambda e: e.snapshot(label or f"on demand "
                                                                   f"{e.t_s:.0f} s"))

    def inject(self, kind: str, params: dict[str, object]) -> concurrent.futures.Future:
        return self._send(f"Inject {kind}", lambda e: e.inject(kind, **params))

    def ask_inject(self, kind: str) -> None:
        dlg = MalfunctionDialog(kind, self.station, self.source.points, self,
                                buses=tuple(self.source.engine.plant.engine.bus_names))
        if dlg.exec() == QDialog.DialogCode.Accepted:
            self.inject(kind, dlg.params)

    def clear(self, injection_id: str) -> concurrent.futures.Future:
        return self._send(f"Clear {injection_id}",
                          lambda e: e.inject("clear", id=injection_id))

    def ask_clear(self) -> None:
        it = self.active_list.currentItem()
        if it is None:
            self.statusBar().showMessage("select a malfunction to clear", 10_000)
            return
        inj = it.data(Qt.ItemDataRole.UserRole)
        if QMessageBox.question(self, "Clear malfunction", f"Clear {inj} now?"
                                ) == QMessageBox.StandardButton.Yes:
            self.clear(inj)

    @Slot()
    def trainee_reset(self) -> concurrent.futures.Future:
        return self._send("Trainee's relay reset",
                          lambda e: e.trainee_does(TraineeAction(e.t_s, "reset")))

    def selected_snapshot(self) -> Snapshot | None:
        it = self.snap_list.currentItem()
        return None if it is None else it.data(Qt.ItemDataRole.UserRole)

    def backtrack(self, snap: Snapshot) -> concurrent.futures.Future:
        self.statusBar().showMessage(f"going back to {snap.label} (replaying the scenario)…")
        fut = self.source.backtrack(snap)
        self._watch(f"Back to {snap.label}", fut, lambda _e: self.backtracked.emit(snap))
        return fut

    def ask_backtrack(self, snap: Snapshot | None = None) -> None:
        snap = snap or self.selected_snapshot()
        if snap is None:
            self.statusBar().showMessage("select a snapshot first", 10_000)
            return
        st = self.last_status
        now = st.t_s if st is not None else 0.0
        if QMessageBox.question(
                self, "Back to a snapshot",
                f"Go back to '{snap.label}' at {snap.t_s:.0f} s?\n\nThe drill now at "
                f"{now:.0f} s is replaced: what the trainee and you did after {snap.t_s:.0f} s "
                "is undone.") == QMessageBox.StandardButton.Yes:
            self.backtrack(snap)

    def ask_save_snapshot(self, path: str | None = None) -> Path | None:
        snap = self.selected_snapshot()
        if snap is None:
            self.statusBar().showMessage("select a snapshot to save", 10_000)
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                self, "Save snapshot", str(self.source.engine.out_dir /
                                           f"snapshot-{snap.t_s:.0f}s.json"),
                "Drill snapshots (*.json)")
            if not path:
                return None
        out = save_snapshot(path, self.source.status.scenario_id, snap,
                            self.source.engine.day)
        self.statusBar().showMessage(f"snapshot saved to {out}", 15_000)
        return out

    def ask_load_snapshot(self, path: str | None = None) -> None:
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Load snapshot", "",
                                                  "Drill snapshots (*.json)")
            if not path:
                return
        try:
            f = load_snapshot(path)
        except SnapshotFileError as exc:
            QMessageBox.warning(self, "Load snapshot", str(exc))
            return
        sc, snap = f.scenario, f.snapshot
        if sc != self.source.status.scenario_id:
            QMessageBox.warning(self, "Load snapshot",
                                f"{path}: field 'scenario': the snapshot is of scenario '{sc}', "
                                f"this drill is '{self.source.status.scenario_id}'")
            return
        self.ask_backtrack(snap)

    def open_selected_record(self) -> QWidget | None:
        it = self.record_list.currentItem() or (self.record_list.item(0)
                                                if self.record_list.count() else None)
        if it is None:
            return None
        cfg = Path(it.data(Qt.ItemDataRole.UserRole))
        opener = self._open_record
        if opener is None:
            from app.ui.records import open_record_viewer

            opener = open_record_viewer
        w = opener(self, cfg)  # None, with a message naming the file, when it cannot be read
        if w is not None:
            self.record_windows.append(w)
        return w

    def finish(self) -> concurrent.futures.Future:
        fut = self.source.finish(self.root, tz=self.station.station.timezone)
        self._watch("Finish drill", fut, self._finished)
        return fut

    def ask_finish(self) -> None:
        if QMessageBox.question(
                self, "Finish drill", "Finish the drill now? It is frozen, scored and the "
                "debrief is written.") == QMessageBox.StandardButton.Yes:
            self.finish()

    def _finished(self, result: object) -> None:
        assert isinstance(result, DrillResult)
        self.result = result
        html = result.report.get("html")
        self.finished.emit(result)
        box = QMessageBox(self)
        box.setWindowTitle("Drill finished")
        box.setText(f"{result.scenario.title}\ntrainee {result.trainee}: score "
                    f"{result.score.score:g} / 100\n\ndebrief: {html}")
        open_btn = box.addButton("Open debrief", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Close)
        box.setModal(False)
        box.buttonClicked.connect(
            lambda b: b is open_btn and html and QDesktopServices.openUrl(
                QUrl.fromLocalFile(html)))
        box.show()
        self.finish_box = box

    # ------------------------------------------------------------------ closing
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        if not self._closing:
            self._closing = True
            self.closing.emit()
        for w in self.record_windows:
            w.close()
        super().closeEvent(event)
