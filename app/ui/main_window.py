"""The operator's main window: the displays and the docks around them.

The centre is a display hierarchy (ISA-101): the station overview (the live single-line
diagram) and one display per bay (:mod:`app.ui.displays`), with back / forward navigation
(Alt+Left / Alt+Right), display keys (F2 overview, F3 alarms, F4 trends, Ctrl+B a bay), a
breadcrumb, and above them the banner of the newest unacknowledged alarms with the horn's
*Silence* button and, in a flood, the flood message. The selected device's faceplate is docked
on the right, beside the display and never over it; an alarm row (double-click) or a banner
line opens its bay display and faceplate. The alarm list, trends, the event log, the point
browser, the engineering studies and the 3D switchyard are dock widgets whose layout is kept
with QSettings; the window never restores larger than its screen and sizes its docks by the
display's DPI. The window is composed of parts, each with one job:

* :class:`~app.ui.session.SessionController` — who is logged in, login / lock / idle;
* :class:`~app.ui.commands.CommandController` — faceplates and select-before-operate;
* :class:`~app.ui.statusbar.StatusPanel` — communication, scan rate, latency, historian,
  user, clock;
* the docks, each subscribing to the pipeline's signals itself (immutable snapshots, alarm
  views, log entries) and painting what changed.

The window only paints and takes input: it never runs protocol I/O, OpenDSS, SQL or inference,
and it starts and stops no thread. Whoever built it (:class:`app.ui.app.Hmi`) owns the
pipeline, the control runtime and the job runners (``queries`` for the historian's trends,
event pages and reports; ``studies`` for fault levels and N-1), and stops them when it
closes.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QRect, QSettings, Qt, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app.alarms.engine import AlarmRow, AlarmView
from app.alarms.log import LogEntry
from app.alarms.report import format_report
from app.control.users import Session
from app.historian.api import HistorianReader
from app.runtime.alarm_service import ActionResult, AlarmAction
from app.runtime.jobs import Job
from app.runtime.qt.control import ControlRuntime
from app.runtime.qt.inference import InferenceWorker
from app.runtime.qt.jobs import JobRunner
from app.runtime.qt.pipeline import Pipeline
from app.runtime.queries import EventPage, EventQuery
from app.runtime.snapshot import LiveSnapshot
from app.station import Station
from app.station.points import PointTable
from app.ui import theme
from app.ui.alarm_list import AlarmListDock
from app.ui.analytics import AnalyticsController, AnalyticsDock, TrendMarks
from app.ui.commands import CommandController
from app.ui.displays import OVERVIEW, AlarmBanner, BayDisplay, Navigator, bay_of, breadcrumb
from app.ui.event_log import EventLogDock
from app.ui.health import HealthDock
from app.ui.loadforecast import LoadForecastDock
from app.ui.point_browser import PointBrowser
from app.ui.session import SessionController
from app.ui.statusbar import StatusPanel
from app.ui.studies import RunStudy, StudiesDock
from app.ui.trends import TrendsDock

if TYPE_CHECKING:
    from app.analytics.training import TrainResult
    from app.twin.state import TwinState
    from app.ui.faceplate import Faceplate

log = logging.getLogger(__name__)
#: Bump when the set or arrangement of docks changes: a layout saved by an older version is
#: then ignored instead of being forced onto docks it does not know.
LAYOUT_VERSION = 4
#: The alarm list shows about this many rows at any DPI (docks sized in rows, not pixels).
ALARM_ROWS = 8


def clamp_to_screen(geo: QRect, avail: QRect) -> QRect:
    """``geo`` made to fit inside ``avail`` (a screen's available geometry): never larger,
    moved back on screen if it hangs off it."""
    w, h = min(geo.width(), avail.width()), min(geo.height(), avail.height())
    x = min(max(geo.x(), avail.x()), avail.x() + avail.width() - w)
    y = min(max(geo.y(), avail.y()), avail.y() + avail.height() - h)
    return QRect(x, y, w, h)


class AlarmReportDialog(QDialog):
    """The alarm-performance report (ISA-18.2 figures) over a chosen window. The figures are
    computed off the GUI thread: from the historian's stored events when there is one,
    else from the alarm engine's memory."""

    HOURS = (("last 1 h", 1.0), ("last 8 h", 8.0), ("last 24 h", 24.0), ("last 7 days", 168.0))

    def __init__(self, request: Callable[[float], None], parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Alarm performance")
        self.resize(640, 520)
        self._request = request
        self.hours = QComboBox()
        for text, h in self.HOURS:
            self.hours.addItem(text, h)
        self.hours.setCurrentIndex(2)
        self.hours.currentIndexChanged.connect(lambda _i: self.refresh())
        again = QPushButton("Refresh")
        again.clicked.connect(self.refresh)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.report: dict | None = None
        top = QHBoxLayout()
        top.addWidget(QLabel("Window"))
        top.addWidget(self.hours)
        top.addStretch(1)
        top.addWidget(again)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.text)

    def refresh(self) -> None:
        self.text.setPlainText("computing…")
        self._request(float(self.hours.currentData()))

    @Slot(object)
    def show_report(self, rep: dict) -> None:
        self.report = rep
        self.text.setPlainText(f"report failed: {rep['error']}" if "error" in rep
                               else format_report(rep))


class MainWindow(QMainWindow):
    closing = Signal()  # the window is closing: its owner stops the workers

    def __init__(self, station: Station, points: PointTable, *, pipeline: Pipeline | None = None,
                 control: ControlRuntime | None = None, historian: HistorianReader | None = None,
                 queries: JobRunner | None = None, studies: JobRunner | None = None,
                 run_study: RunStudy | None = None,
                 settings: QSettings | None = None, yard3d: bool = True,
                 idle_check_ms: int = 1000, data_dir: str | None = None,
                 inference: InferenceWorker | None = None,
                 training: JobRunner | None = None,
                 train_job: Callable[[], Job[TrainResult]] | None = None) -> None:
        super().__init__()
        self.station, self.points = station, points
        self.pipeline, self.control, self.historian = pipeline, control, historian
        self._data_dir = data_dir
        self._record_viewer: QWidget | None = None
        self.queries = queries
        self.settings = settings or QSettings("GridTwin", "HMI")
        self.setWindowTitle(f"GridTwin — {station.station.name}")
        self.setObjectName("GridTwinMain")
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks
                            | QMainWindow.DockOption.AllowTabbedDocks
                            | QMainWindow.DockOption.AllowNestedDocks)
        self.last_snapshot: LiveSnapshot | None = None
        self.last_action_result: ActionResult | None = None
        self.report_dialog: AlarmReportDialog | None = None

        from app.ui.sld import SldView

        self.sld = SldView(station, points)
        self.flood_banner = QLabel()
        self.flood_banner.setObjectName("floodBanner")
        self.flood_banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.flood_banner.setStyleSheet(f"background: {theme.PRIORITY[1].name()}; color: white;"
                                        " font-weight: bold; padding: 4px;")
        self.flood_banner.hide()
        self.banner = AlarmBanner(points, self.flood_banner)
        self.bay_display = BayDisplay(station, points)
        self.displays = QStackedWidget()
        self.displays.addWidget(self.sld)
        # A bay display scrolls rather than forcing the window taller than a small screen.
        self.displays.addWidget(self._scrolled(self.bay_display))
        self.nav = Navigator(self)
        centre = QWidget()
        cl = QVBoxLayout(centre)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(0)
        cl.addWidget(self.banner)
        cl.addWidget(self.displays, 1)
        self.setCentralWidget(centre)

        self.sessions = SessionController(control, self, idle_check_ms=idle_check_ms)
        self.commands = CommandController(station, points, control, self.sessions, self)
        self.trends = TrendsDock(points, settings=self.settings)
        self.alarms = AlarmListDock(settings=self.settings)
        self.events = EventLogDock()
        self.browser = PointBrowser(station, points)
        self.studies = StudiesDock(station, self._latest_state, studies or JobRunner("studies"),
                                   run_study=run_study,
                                   circuit=pipeline.circuit_path if pipeline else None)
        if studies is None:  # nobody would run the jobs: say so rather than hang
            self.studies.setEnabled(False)
            self.studies.status.setText("Studies need the HMI's job runner (gridtwin run).")
        # Health and the load forecast run their long jobs (minutes of training, a station's
        # assessment) on a runner of their own, so trend backfills and event queries never
        # wait behind them; the Hmi starts and stops it with the others.
        self.analytics_jobs = JobRunner("analytics") if queries is not None else None
        self.health = HealthDock(station, historian, self.analytics_jobs)
        self.load_forecast = LoadForecastDock(station, historian, self.analytics_jobs, data_dir)
        # Analytics: the dock paints the inference worker's snapshots (None: not running).
        self.inference = inference
        self.analytics = AnalyticsDock()
        self.yard: QWidget | None = None
        if yard3d:
            from app.ui.yard3d import create_yard_view

            self.yard = create_yard_view(station, points)
        self._build_docks()
        self._build_navigation()
        self._build_menus()
        self.status = StatusPanel(self.statusBar(), self.sessions, pipeline)
        self.analytics_ctl: AnalyticsController | None = None
        if inference is not None:
            self.analytics_ctl = AnalyticsController(
                self.analytics, inference, runner=training, make_job=train_job,
                marks=TrendMarks(self.trends, lambda tag: points.asset[points.row(tag)]),
                show_status=self.status.show_analytics, parent=self)
        else:
            self.analytics.setEnabled(False)
            self.analytics.state_label.setText("Analytics are not running in this window.")
        self._default_state = self.saveState()
        self._restore_layout()
        self._wire()
        self.trends.message.connect(lambda text: self.statusBar().showMessage(text, 15_000))
        self.trends.restore_saved()  # the points trended when the HMI last closed

    # ------------------------------------------------------------------ construction
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        d = QDockWidget(title, self)
        d.setObjectName(f"dock-{title}")
        d.setWidget(widget)
        self.addDockWidget(area, d)
        self.docks[title] = d
        return d

    def _build_docks(self) -> None:
        self.docks: dict[str, QDockWidget] = {}
        # The diagram dominates. Below it, the alarm list stays in sight (ISA-101), tabbed with
        # the event log, the point browser and the studies; trends and the 3D yard beside them.
        bottom = Qt.DockWidgetArea.BottomDockWidgetArea
        self._dock("Alarms", self.alarms, bottom)
        self._dock("Trends", self.trends, bottom)
        self.splitDockWidget(self.docks["Alarms"], self.docks["Trends"],
                             Qt.Orientation.Horizontal)
        self._dock("Events", self.events, bottom)
        self.tabifyDockWidget(self.docks["Alarms"], self.docks["Events"])
        self._dock("Points", self.browser, bottom)
        self.tabifyDockWidget(self.docks["Events"], self.docks["Points"])
        self._dock("Studies", self.studies, bottom)
        self.tabifyDockWidget(self.docks["Points"], self.docks["Studies"])
        self._dock("Health", self.health, bottom)
        self.tabifyDockWidget(self.docks["Studies"], self.docks["Health"])
        self._dock("Load forecast", self.load_forecast, bottom)
        self.tabifyDockWidget(self.docks["Health"], self.docks["Load forecast"])
        self._dock("Analytics", self.analytics, bottom)
        self.tabifyDockWidget(self.docks["Studies"], self.docks["Analytics"])
        if self.yard is not None:
            self._dock("3D switchyard", self.yard, bottom)
            self.tabifyDockWidget(self.docks["Trends"], self.docks["3D switchyard"])
        self.docks["Alarms"].raise_()
        self.docks["Trends"].raise_()
        # The faceplate of the selected device, docked beside the display (never over it).
        self.faceplate_stack = QStackedWidget()
        hint = QLabel("Click a device on a display (or an alarm) for its faceplate")
        hint.setWordWrap(True)
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.faceplate_stack.addWidget(hint)
        fd = self._dock("Faceplate", self._scrolled(self.faceplate_stack),
                        Qt.DockWidgetArea.RightDockWidgetArea)
        fd.setMinimumWidth(theme.px(300))
        fd.hide()  # until a device is selected: the displays get the width meanwhile
        self._size_docks()

    @staticmethod
    def _scrolled(w: QWidget) -> QScrollArea:
        area = QScrollArea()
        area.setWidget(w)
        area.setWidgetResizable(True)
        area.setFrameShape(QScrollArea.Shape.NoFrame)
        return area

    def _size_docks(self) -> None:
        """Dock sizes from the display's font and DPI: the alarm list shows ALARM_ROWS rows
        and its tool rows on any screen, the faceplate a readable column."""
        alarm_h = theme.row_px(self.alarm_rows() + 4)
        self.alarms.view.verticalHeader().setDefaultSectionSize(theme.row_px())
        self.resizeDocks([self.docks["Alarms"]], [alarm_h], Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["Alarms"], self.docks["Trends"]], [800, 800],
                         Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["Faceplate"]], [theme.px(380)], Qt.Orientation.Horizontal)

    def alarm_rows(self) -> int:
        """Alarm rows the list shows: about a quarter of the screen's height in rows of the
        application font (5 on a laptop, ~9 at 1080p, 14 on a 4K screen at 100 %)."""
        avail = self._available()
        if avail is None:
            return ALARM_ROWS
        return max(5, min(14, int(0.28 * avail.height() / theme.row_px()) - 4))

    def _build_navigation(self) -> None:
        """Back / forward, the overview, a bay picker and the breadcrumb, in a tool bar."""
        bar = QToolBar("Navigation", self)
        bar.setObjectName("navigation")
        bar.setMovable(False)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
        self.back_action = QAction("◀ Back", self, shortcut=QKeySequence("Alt+Left"))
        self.back_action.setToolTip("Previous display (Alt+Left)")
        self.back_action.triggered.connect(self.nav.back)
        self.forward_action = QAction("Forward ▶", self, shortcut=QKeySequence("Alt+Right"))
        self.forward_action.setToolTip("Next display (Alt+Right)")
        self.forward_action.triggered.connect(self.nav.forward)
        self.overview_action = QAction("Overview", self, shortcut=QKeySequence("F2"))
        self.overview_action.setToolTip("Station overview (F2)")
        self.overview_action.triggered.connect(lambda: self.nav.go(OVERVIEW))
        self.alarms_action = QAction("Alarms", self, shortcut=QKeySequence("F3"))
        self.alarms_action.setToolTip("The alarm list (F3)")
        self.alarms_action.triggered.connect(lambda: self._raise_dock("Alarms"))
        self.trends_action = QAction("Trends", self, shortcut=QKeySequence("F4"))
        self.trends_action.setToolTip("Trends (F4)")
        self.trends_action.triggered.connect(lambda: self._raise_dock("Trends"))
        for a in (self.back_action, self.forward_action, self.overview_action,
                  self.alarms_action, self.trends_action):
            bar.addAction(a)
        self.bay_picker = QComboBox()
        self.bay_picker.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.bay_picker.setMinimumContentsLength(22)
        self.bay_picker.setToolTip("Open a bay's display (Ctrl+B)")
        self.bay_picker.addItem("Bay…", None)
        for b in sorted(self.station.bays, key=lambda b: -b.voltage_kv):
            kv = f"{b.voltage_kv:g} kV" if b.voltage_kv >= 1 else "LV"
            self.bay_picker.addItem(f"{kv} ▸ {b.id} — {b.name}", b.id)
        self.bay_picker.activated.connect(self._pick_bay)
        bar.addWidget(self.bay_picker)
        pick = QAction("Pick a bay", self, shortcut=QKeySequence("Ctrl+B"))
        pick.triggered.connect(lambda: (self.bay_picker.setFocus(),
                                        self.bay_picker.showPopup()))
        self.addAction(pick)
        self.crumb = QLabel()
        self.crumb.setObjectName("breadcrumb")
        self.crumb.setContentsMargins(theme.px(12), 0, 0, 0)
        bar.addWidget(self.crumb)
        self.nav.changed.connect(self._show_display)
        self._show_display(self.nav.current)

    def _pick_bay(self, index: int) -> None:
        bay = self.bay_picker.itemData(index)
        if bay:
            self.open_bay(bay)

    def _raise_dock(self, title: str) -> None:
        d = self.docks[title]
        d.show()
        d.raise_()
        d.widget().setFocus()

    @Slot(str)
    def _show_display(self, display: str) -> None:
        if display == OVERVIEW:
            self.displays.setCurrentWidget(self.sld)
        else:
            self.bay_display.set_bay(display[4:])
            self.displays.setCurrentIndex(1)
        self.crumb.setText(breadcrumb(self.station, display))
        self.back_action.setEnabled(self.nav.can_back())
        self.forward_action.setEnabled(self.nav.can_forward())

    @property
    def display(self) -> str:
        """The display shown: ``"overview"`` or ``"bay:<id>"``."""
        return self.nav.current

    @Slot(str)
    def open_bay(self, bay: str, asset_id: str | None = None) -> None:
        """Show a bay's display (and ``asset_id``'s faceplate beside it)."""
        self.nav.go(f"bay:{bay}")
        if asset_id is not None:
            self.open_faceplate(asset_id)

    @Slot(str)
    def activate_alarm(self, asset: str) -> None:
        """An alarm row or banner line: its bay display and the faceplate of its object
        (of the bay's breaker when the alarm is on the bay's communication)."""
        bay = bay_of(self.station, asset)
        if bay is None:
            return
        target = asset if self.station.has_asset(asset) else f"{bay}_Q0"
        self.open_bay(bay, target if self.station.has_asset(target) else None)
        self.sld.select_device(asset)

    def _wire(self) -> None:
        """Each part subscribes to what it shows; the window fans nothing out itself."""
        self.sld.device_selected.connect(self.open_faceplate)
        self.sld.bay_requested.connect(self.open_bay)
        self.bay_display.device_selected.connect(self.open_faceplate)
        self.bay_display.trend_requested.connect(self.trend)
        self.alarms.alarm_activated.connect(self.activate_alarm)
        self.alarms.horn_changed.connect(self.banner.set_horn)
        self.banner.activated.connect(self.activate_alarm)
        self.banner.silence_requested.connect(self.alarms.silence_horn)
        self.sld.trend_requested.connect(self.trend)
        self.browser.trend_requested.connect(self.trend)
        self.commands.trend_requested.connect(self.trend)
        self.alarms.alarm_selected.connect(self.sld.select_device)
        self.alarms.action_requested.connect(self.request_alarm_action)
        self.alarms.rca_requested.connect(self.show_alarm_rca)
        self.sessions.session_changed.connect(self._session_changed)
        self.sessions.state_changed.connect(self._show_actions)
        self.studies.fault_levels_ready.connect(self.sld.overlay.show_fault_levels)
        self.studies.contingencies_ready.connect(self.sld.overlay.show_contingencies)
        self.studies.cleared.connect(self.sld.overlay.clear)
        if self.yard is not None:
            self.yard.device_selected.connect(self.sld.select_device)
            self.sld.device_selected.connect(self.yard.select_device)
            self.alarms.alarm_selected.connect(self.yard.select_device)
            if self.pipeline is not None:
                self.pipeline.alarms_ready.connect(self.yard.alarm_markers)
        p = self.pipeline
        if p is not None:
            p.snapshot_ready.connect(self._remember)
            p.snapshot_ready.connect(self.sld.update_snapshot)
            p.snapshot_ready.connect(self.bay_display.update_snapshot)
            p.snapshot_ready.connect(self.trends.update_snapshot)
            p.snapshot_ready.connect(self.commands.update_snapshot)
            p.snapshot_ready.connect(self.status.update_snapshot)
            if self.yard is not None:
                p.snapshot_ready.connect(self.yard.update_snapshot)
            p.alarms_ready.connect(self.on_alarms)
            p.alarms_ready.connect(self.sld.apply_alarms)
            p.alarms_ready.connect(self.banner.apply)
            p.alarms_ready.connect(self.bay_display.apply_alarms)
            p.events_ready.connect(self.events.add_entries)
            p.alarm_action_done.connect(self.on_alarm_action_done)
            p.alarm_report_ready.connect(self._on_report)
        if self.control is not None:
            self.control.events_ready.connect(self.on_control_events)
        if self.historian is not None and self.queries is not None:
            from app.runtime.queries import trend_history

            hist, q = self.historian, self.queries
            self.trends.backfill_requested.connect(
                lambda tags, t0, t1, n: q.call("trend backfill",
                                               lambda: trend_history(hist, tags, t0, t1, n),
                                               self._backfilled))
            self.events.set_query(self._query_events)
        self._show_actions()

    def _build_menus(self) -> None:
        s = self.sessions
        m = self.menuBar().addMenu("&File")
        self.login_action = QAction("&Log in / switch user…", self,
                                    shortcut=QKeySequence("Ctrl+L"))
        self.login_action.triggered.connect(s.start_login)
        self.logout_action = QAction("Log &out", self)
        self.logout_action.triggered.connect(s.logout)
        self.lock_action = QAction("Loc&k controls now", self)
        self.lock_action.triggered.connect(s.lock)
        self.users_action = QAction("&Users…", self)
        self.users_action.setToolTip("Add users, change roles and passwords (administrators)")
        self.users_action.triggered.connect(s.open_users)
        for a in (self.login_action, self.logout_action, self.lock_action, self.users_action):
            a.setEnabled(False)
            m.addAction(a)
        m.addSeparator()
        rec = QAction("Open &disturbance record…", self)
        rec.setToolTip("A COMTRADE record (.cfg + .dat): analogue and status traces, cursors")
        rec.triggered.connect(self.open_disturbance_record)
        m.addAction(rec)
        m.addSeparator()
        quit_ = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        quit_.triggered.connect(self.close)
        m.addAction(quit_)
        v = self.menuBar().addMenu("&View")
        fit = QAction("&Fit diagram", self, shortcut=QKeySequence("Ctrl+0"))
        fit.triggered.connect(self.sld.fit)
        v.addAction(fit)
        v.addSeparator()
        for d in self.docks.values():
            v.addAction(d.toggleViewAction())
        v.addSeparator()
        reset = QAction("&Reset layout", self)
        reset.triggered.connect(self.reset_layout)
        v.addAction(reset)
        a = self.menuBar().addMenu("&Alarms")
        ack = QAction("Acknowledge &page", self, shortcut=QKeySequence("Ctrl+K"))
        ack.triggered.connect(self.alarms.ack_page)
        a.addAction(ack)
        ack_sel = QAction("&Acknowledge selected", self)
        ack_sel.triggered.connect(self.alarms.ack_selected)
        a.addAction(ack_sel)
        a.addSeparator()
        perf = QAction("Alarm &performance…", self)
        perf.triggered.connect(self.show_alarm_report)
        a.addAction(perf)
        st = self.menuBar().addMenu("&Studies")
        for text, fn in (("&Fault levels (live state)", self.studies.run_fault_levels),
                         ("&N-1 contingency (live state)", self.studies.run_contingencies)):
            act = QAction(text, self)
            act.triggered.connect(lambda _c=False, fn=fn: self._run_study(fn))
            st.addAction(act)
        clear = QAction("&Clear study from diagram", self)
        clear.triggered.connect(self.sld.overlay.clear)
        st.addAction(clear)
        an = self.menuBar().addMenu("A&nalytics")
        self.train_action = QAction("&Train model…", self)
        self.train_action.setToolTip("Train the anomaly models on simulated hours of the "
                                     "station (a background job); picked up without restart")
        self.train_action.triggered.connect(self.train_analytics)
        an.addAction(self.train_action)
        show = QAction("Show &analytics", self)
        show.triggered.connect(self.show_analytics)
        an.addAction(show)
        h = self.menuBar().addMenu("&Help")
        about = QAction("&About GridTwin", self)
        about.triggered.connect(self._about)
        h.addAction(about)

    def open_disturbance_record(self) -> None:
        from app.historian.db import data_dir
        from app.ui.records import open_record_dialog

        drills = Path(data_dir(self._data_dir)) / "drills"
        self._record_viewer = open_record_dialog(self, str(drills) if drills.is_dir() else "")

    def show_analytics(self) -> None:
        self.docks["Analytics"].show()
        self.docks["Analytics"].raise_()

    def train_analytics(self) -> None:
        self.show_analytics()
        if self.analytics_ctl is not None:
            self.analytics_ctl.train()

    @Slot(object)
    def show_alarm_rca(self, row: AlarmRow) -> None:
        """The alarm list asked for an alarm's root-cause analysis."""
        self.show_analytics()
        self.analytics.show_rca_for_alarm(row)

    def _run_study(self, fn: Callable[[], object]) -> None:
        self.docks["Studies"].show()
        self.docks["Studies"].raise_()
        fn()

    # ------------------------------------------------------------------ live data
    def _remember(self, snap: LiveSnapshot) -> None:
        self.last_snapshot = snap

    def _latest_state(self) -> TwinState | None:
        return self.last_snapshot.twin if self.last_snapshot is not None else None

    @Slot(object)
    def on_alarms(self, view: AlarmView) -> None:
        self.alarms.apply(view)
        if view.flood:
            self.flood_banner.setText(f"ALARM FLOOD — {view.new_in_window} new alarms in the "
                                      "last 10 minutes: deal with priority 1 first")
            self.flood_banner.show()
        elif self.flood_banner.isVisible():
            self.flood_banner.hide()

    @Slot(object)
    def on_control_events(self, events: list) -> None:
        """Commands and user actions from the control side, as event-log entries."""
        self.events.add_entries(tuple(LogEntry.from_row(e.row()) for e in events))

    # ------------------------------------------------------------------ the historian
    def _backfilled(self, series: list[tuple[str, np.ndarray, np.ndarray]] | None,
                    err: BaseException | None) -> None:
        for tag, t, v in series or ():
            self.trends.add_history(tag, t, v)

    def _query_events(self, q: EventQuery, done: Callable[[EventPage], None]) -> None:
        from app.runtime.queries import event_page

        hist = self.historian
        self.queries.call("event query", lambda: event_page(hist, q),
                          lambda page, err: done(page if err is None else
                                                 EventPage(q, (), False, str(err))))

    # ------------------------------------------------------------------ alarms
    @Slot(object)
    def request_alarm_action(self, req: AlarmAction) -> None:
        """Send an action from the alarm list to the pipeline with this window's session
        (the pipeline's worker checks the role)."""
        if self.pipeline is None:
            self.statusBar().showMessage("no live station: alarm actions are not possible",
                                         5000)
            return
        self.pipeline.alarm_action(dataclasses.replace(req, session=self.sessions.session))

    @Slot(object)
    def on_alarm_action_done(self, result: ActionResult) -> None:
        self.last_action_result = result
        self.statusBar().showMessage(result.message if result.ok
                                     else f"refused: {result.message}", 8000)

    def show_alarm_report(self) -> AlarmReportDialog:
        if self.report_dialog is None:
            self.report_dialog = AlarmReportDialog(self._request_report, self)
        self.report_dialog.show()
        self.report_dialog.raise_()
        self.report_dialog.refresh()
        return self.report_dialog

    def _request_report(self, hours: float) -> None:
        if self.historian is not None and self.queries is not None:
            from app.runtime.queries import stored_alarm_report

            hist = self.historian
            self.queries.call("alarm report", lambda: stored_alarm_report(hist, hours),
                              lambda rep, err: self._on_report(
                                  rep if err is None else {"error": str(err)}))
        elif self.pipeline is not None:
            self.pipeline.request_alarm_report(hours)
        elif self.report_dialog is not None:
            self.report_dialog.show_report({"error": "no historian and no live station"})

    @Slot(object)
    def _on_report(self, rep: dict) -> None:
        if self.report_dialog is not None:
            self.report_dialog.show_report(rep)

    # ------------------------------------------------------------------ users
    def _session_changed(self, session: Session | None) -> None:
        self.alarms.set_role(session.role if session else None)

    def _show_actions(self) -> None:
        if self.control is None:
            return
        s = self.sessions
        self.login_action.setEnabled(True)
        self.logout_action.setEnabled(s.session is not None or s.locked is not None)
        self.lock_action.setEnabled(s.session is not None)
        self.users_action.setEnabled(s.session is not None and s.session.role == "admin")

    # ------------------------------------------------------------------ actions
    @Slot(str)
    def trend(self, tag: str) -> None:
        if self.trends.add_tag(tag):
            self.docks["Trends"].show()
            self.docks["Trends"].raise_()

    @Slot(str)
    def open_faceplate(self, asset_id: str) -> Faceplate:
        """The device's faceplate in the faceplate dock, beside the display."""
        fp = self.commands.faceplate(asset_id)
        if self.faceplate_stack.indexOf(fp) < 0:
            self.faceplate_stack.addWidget(fp)
            fp.setWindowFlags(Qt.WindowType.Widget)
        self.faceplate_stack.setCurrentWidget(fp)
        self.docks["Faceplate"].setWindowTitle(f"Faceplate — {asset_id}")
        self.docks["Faceplate"].show()
        self.docks["Faceplate"].raise_()
        fp.show()
        if self.last_snapshot is not None:
            fp.update_snapshot(self.last_snapshot)
        return fp

    def reset_layout(self) -> None:
        self.restoreState(self._default_state)
        for d in self.docks.values():
            d.show()
        self._size_docks()

    def about_text(self) -> str:
        from app.ui.statusbar import fault_injection_address

        addr = fault_injection_address(self.pipeline)
        return (f"GridTwin — digital twin HMI\n{self.station.station.name}\n"
                f"{len(self.station.assets)} assets, {len(self.points)} points\n"
                + (f"fault injection (trainers): {addr[0]}:{addr[1]}" if addr else
                   "fault injection: not available (no simulated station of this HMI's)"))

    def _about(self) -> None:
        QMessageBox.about(self, "About GridTwin", self.about_text())

    # ------------------------------------------------------------------ layout persistence
    def _restore_layout(self) -> None:
        geo = self.settings.value("main/geometry")
        state = self.settings.value("main/state")
        if geo is not None:
            self.restoreGeometry(geo)
        else:  # first start: most of the screen it opens on
            avail = self._available()
            if avail is not None:
                self.resize(int(avail.width() * 0.92), int(avail.height() * 0.9))
            else:
                self.resize(1600, 950)
        self.fit_to_screen()
        if state is not None:
            self.restoreState(state, LAYOUT_VERSION)

    def _available(self) -> QRect | None:
        screen = self.screen()
        return screen.availableGeometry() if screen is not None else None

    def fit_to_screen(self) -> None:
        """Never larger than the screen's available area, never off it (a layout saved on
        a bigger monitor, or a first start on a small one)."""
        avail = self._available()
        if avail is None or avail.isEmpty():
            return
        frame = self.frameGeometry()
        extra_w = max(0, frame.width() - self.width())
        extra_h = max(0, frame.height() - self.height())
        inner = QRect(avail.x(), avail.y(), avail.width() - extra_w,
                      avail.height() - extra_h)
        fitted = clamp_to_screen(self.geometry(), inner)
        if fitted != self.geometry():
            self.setGeometry(fitted)

    def save_layout(self) -> None:
        self.settings.setValue("main/geometry", self.saveGeometry())
        self.settings.setValue("main/state", self.saveState(LAYOUT_VERSION))
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        self.save_layout()
        self.commands.close()
        self.sessions.close()
        self.status.stop()
        self.analytics.stop()
        if self.yard is not None:
            self.yard.close()
        self.closing.emit()
        super().closeEvent(event)
