"""The operator's main window.

The live single-line diagram is the centre, under the alarm-flood banner (shown while more
than 10 new alarms arrived in 10 minutes); trends, the 3D switchyard, the alarm list, the
event log and the point browser are dock widgets whose layout is kept with QSettings. The
status bar shows each device's communication, the scan rate, scan-to-screen latency, the
logged-in user and the clock in IST. The File menu logs in, out and locks, and for an
administrator opens the users window (:mod:`app.ui.users`); the Alarms menu acknowledges the
page and opens the alarm-performance report.

``session`` is the logged-in user's :class:`app.control.users.Session` (None: nobody, viewer
rights); :meth:`set_session` changes it and emits ``session_changed``. With a control runtime
the window asks who is there (first-run administrator, login), locks the controls after the
idle timeout, and wires each switching device's faceplate to select-before-operate on the
control thread. Alarm actions go to the pipeline with the session; the workers, not the
window, check the role.

The window only paints and takes input: it subscribes to the pipeline's signals (immutable
snapshots) and never runs protocol I/O, OpenDSS, SQL or inference itself.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque

from PySide6.QtCore import QEvent, QObject, QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.alarms.engine import AlarmView
from app.alarms.log import LogEntry
from app.control.service import CommandRefused, Outcome, Selection
from app.control.users import Session, role_at_least
from app.runtime.snapshot import LiveSnapshot
from app.station import Station
from app.station import clock as wallclock
from app.station.frame import Comm
from app.station.points import PointTable
from app.station.timezone import IST
from app.ui import theme
from app.ui.alarm_list import AlarmListDock
from app.ui.event_log import EventLogDock
from app.ui.point_browser import PointBrowser
from app.ui.trends import TrendsDock

log = logging.getLogger(__name__)
#: Bump when the set or arrangement of docks changes: a layout saved by an older version is
#: then ignored instead of being forced onto docks it does not know.
LAYOUT_VERSION = 3


class AlarmReportDialog(QDialog):
    """The alarm-performance report (ISA-18.2 figures) over a chosen window. The figures are
    computed off the GUI thread: from the historian's stored events when there is one,
    else from the alarm engine's memory."""

    HOURS = (("last 1 h", 1.0), ("last 8 h", 8.0), ("last 24 h", 24.0), ("last 7 days", 168.0))

    def __init__(self, request, parent: QWidget | None = None) -> None:  # noqa: ANN001
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
        from app.alarms.report import format_report

        self.report = rep
        self.text.setPlainText(f"report failed: {rep['error']}" if "error" in rep
                               else format_report(rep))


_ACTIVITY = {QEvent.Type.MouseButtonPress, QEvent.Type.KeyPress, QEvent.Type.Wheel,
             QEvent.Type.MouseMove}


class MainWindow(QMainWindow):
    session_changed = Signal(object)  # app.control.users.Session | None

    def __init__(self, station: Station, points: PointTable, *, pipeline=None,  # noqa: ANN001
                 settings: QSettings | None = None, yard3d: bool = True,
                 control=None, idle_check_ms: int = 1000) -> None:  # noqa: ANN001
        super().__init__()
        self.station, self.points = station, points
        self.pipeline = pipeline
        self.control = control  # ControlRuntime | None
        self._locked: Session | None = None  # a session locked by the idle timeout
        self._selections: dict[str, Selection] = {}
        self._dialog: QWidget | None = None  # the open login / lock / first-run dialog
        self.settings = settings or QSettings("GridTwin", "HMI")
        self.setWindowTitle(f"GridTwin — {station.station.name}")
        self.setObjectName("GridTwinMain")
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks
                            | QMainWindow.DockOption.AllowTabbedDocks
                            | QMainWindow.DockOption.AllowNestedDocks)
        self.latency_ms: deque[float] = deque(maxlen=600)
        self._last_snapshot: LiveSnapshot | None = None
        self._faceplates: dict[str, QWidget] = {}
        self.session: Session | None = None  # None: nobody logged in, viewer rights
        self._event_query = None
        self.last_action_result = None
        self.report_dialog: AlarmReportDialog | None = None

        from app.ui.sld import SldView

        self.sld = SldView(station, points)
        self.flood_banner = QLabel()
        self.flood_banner.setObjectName("floodBanner")
        self.flood_banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.flood_banner.setStyleSheet(f"background: {theme.PRIORITY[1].name()}; color: white;"
                                        " font-weight: bold; padding: 4px;")
        self.flood_banner.hide()
        centre = QWidget()
        cl = QVBoxLayout(centre)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(0)
        cl.addWidget(self.flood_banner)
        cl.addWidget(self.sld, 1)
        self.setCentralWidget(centre)
        self.trends = TrendsDock(points)
        self.alarms = AlarmListDock(settings=self.settings)
        self.events = EventLogDock()
        self.browser = PointBrowser(station, points)
        self.yard: QWidget | None = None
        if yard3d:
            from app.ui.yard3d import create_yard_view

            self.yard = create_yard_view(station, points)

        self.docks: dict[str, QDockWidget] = {}
        # The diagram dominates. Below it, the alarm list stays in sight (ISA-101), tabbed with
        # the event log and the point browser; trends and the 3D yard beside them.
        bottom = Qt.DockWidgetArea.BottomDockWidgetArea
        self._dock("Alarms", self.alarms, bottom)
        self._dock("Trends", self.trends, bottom)
        self.splitDockWidget(self.docks["Alarms"], self.docks["Trends"],
                             Qt.Orientation.Horizontal)
        self._dock("Events", self.events, bottom)
        self.tabifyDockWidget(self.docks["Alarms"], self.docks["Events"])
        self._dock("Points", self.browser, bottom)
        self.tabifyDockWidget(self.docks["Events"], self.docks["Points"])
        if self.yard is not None:
            self._dock("3D switchyard", self.yard, bottom)
            self.tabifyDockWidget(self.docks["Trends"], self.docks["3D switchyard"])
        from app.runtime.qt.jobs import JobRunner
        from app.ui.studies import StudiesDock

        self.studies_runner = JobRunner("studies", parent=self)
        self.studies = StudiesDock(
            station, lambda: self._last_snapshot.twin if self._last_snapshot else None,
            self.studies_runner, circuit=getattr(pipeline, "circuit_path", None))
        self._dock("Studies", self.studies, bottom)
        self.tabifyDockWidget(self.docks["Points"], self.docks["Studies"])
        self.studies.fault_levels_ready.connect(self.sld.overlay.show_fault_levels)
        self.studies.contingencies_ready.connect(self.sld.overlay.show_contingencies)
        self.studies.cleared.connect(self.sld.overlay.clear)
        self.docks["Alarms"].raise_()
        self.docks["Trends"].raise_()
        self.resizeDocks([self.docks["Alarms"]], [260], Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["Alarms"], self.docks["Trends"]], [800, 800],
                         Qt.Orientation.Horizontal)

        self.sld.device_selected.connect(self.open_faceplate)
        self.sld.trend_requested.connect(self.trend)
        self.browser.trend_requested.connect(self.trend)
        self.alarms.alarm_selected.connect(self.sld.select_device)
        self.alarms.action_requested.connect(self.request_alarm_action)
        if self.yard is not None and hasattr(self.yard, "device_selected"):
            self.yard.device_selected.connect(self.sld.select_device)
            self.sld.device_selected.connect(self.yard.select_device)

        self._build_menus()
        self._build_status()
        self._default_state = self.saveState()
        self._restore_layout()
        if pipeline is not None:
            pipeline.snapshot_ready.connect(self.on_snapshot)
            pipeline.alarms_ready.connect(self.on_alarms)
            pipeline.events_ready.connect(self.on_events)
            pipeline.alarm_action_done.connect(self.on_alarm_action_done)
            pipeline.alarm_report_ready.connect(self._on_report)
        if control is not None:
            control.events_ready.connect(self.on_control_events)
            QApplication.instance().installEventFilter(self)
            self._idle = QTimer(self)
            self._idle.timeout.connect(self._check_idle)
            self._idle.start(idle_check_ms)
            control.start()

    # ------------------------------------------------------------------ construction
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        d = QDockWidget(title, self)
        d.setObjectName(f"dock-{title}")
        d.setWidget(widget)
        self.addDockWidget(area, d)
        self.docks[title] = d
        return d

    def _build_menus(self) -> None:
        m = self.menuBar().addMenu("&File")
        self.login_action = QAction("&Log in / switch user…", self,
                                    shortcut=QKeySequence("Ctrl+L"))
        self.login_action.triggered.connect(self.start_login)
        self.logout_action = QAction("Log &out", self)
        self.logout_action.triggered.connect(self.logout)
        self.lock_action = QAction("Loc&k controls now", self)
        self.lock_action.triggered.connect(self.lock)
        self.users_action = QAction("&Users…", self, enabled=False)
        self.users_action.setToolTip("Add users, change roles and passwords (administrators)")
        self.users_action.triggered.connect(self.open_users)
        for a in (self.login_action, self.logout_action, self.lock_action, self.users_action):
            a.setEnabled(False)
            m.addAction(a)
        m.addSeparator()
        quit_ = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        quit_.triggered.connect(self.close)
        m.addAction(quit_)
        v = self.menuBar().addMenu("&View")
        fit = QAction("&Fit diagram", self, shortcut=QKeySequence("Ctrl+0"))
        fit.triggered.connect(lambda: self.sld.fit() if hasattr(self.sld, "fit") else None)
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
            act.triggered.connect(lambda _c=False, fn=fn: (self.docks["Studies"].show(),
                                                           self.docks["Studies"].raise_(),
                                                           fn()))
            st.addAction(act)
        clear = QAction("&Clear study from diagram", self)
        clear.triggered.connect(self.sld.overlay.clear)
        st.addAction(clear)
        h = self.menuBar().addMenu("&Help")
        about = QAction("&About GridTwin", self)
        about.triggered.connect(self._about)
        h.addAction(about)

    def _build_status(self) -> None:
        sb = self.statusBar()
        self.comm_label = QLabel("comm: waiting for the first scan")
        self.rate_label = QLabel("scan — Hz")
        self.latency_label = QLabel("latency — ms")
        self.user_label = QLabel("")
        self.historian_label = QLabel("")
        self._show_user()
        self.clock_label = QLabel()
        for w in (self.comm_label, self.rate_label, self.latency_label, self.historian_label,
                  self.user_label):
            sb.addWidget(w)
        sb.addPermanentWidget(self.clock_label)
        self._clock = QTimer(self)
        self._clock.timeout.connect(self._tick_clock)
        self._clock.start(1000)
        self._tick_clock()

    def _tick_clock(self) -> None:
        self.clock_label.setText(wallclock.now().astimezone(IST).strftime("%d %b %Y  %H:%M:%S IST"))
        if self.pipeline is not None:
            self.rate_label.setText(f"scan {self.pipeline.stats.scan_hz():.1f} Hz")
            self._show_historian()

    def _show_historian(self) -> None:
        """The historian writer's state (a plain read of its status: no SQL here)."""
        sink = self.pipeline.sink
        status = getattr(sink, "status", None)
        if status is None:
            self.historian_label.setText("history: off")
            self.historian_label.setStyleSheet("")
            self.historian_label.setToolTip("not recording (--no-historian)")
            return
        if status.ok:
            self.historian_label.setText("history: recording")
            self.historian_label.setStyleSheet("")
        else:
            self.historian_label.setText("history: DEGRADED")
            self.historian_label.setStyleSheet(f"color: white; background: "
                                               f"{theme.PRIORITY[2].name()}; padding: 0 6px;")
        held = getattr(status, "pending_samples", 0)
        self.historian_label.setToolTip(
            (f"last error: {status.last_error}\n" if not status.ok else "")
            + f"{status.frames} scans written, {held} samples held for retry, "
              f"{status.dropped_frames} scans dropped")

    # ------------------------------------------------------------------ live data
    @Slot(object)
    def on_snapshot(self, snap: LiveSnapshot) -> None:
        self._last_snapshot = snap
        self.sld.update_snapshot(snap)
        self.trends.update_snapshot(snap)
        if self.yard is not None and self.docks["3D switchyard"].isVisible():
            self.yard.update_snapshot(snap)
        for fp in list(self._faceplates.values()):
            if fp.isVisible():
                fp.update_snapshot(snap)
        lat = (wallclock.time() - snap.t_acquired.timestamp()) * 1000.0
        self.latency_ms.append(lat)
        self.latency_label.setText(f"latency {lat:.0f} ms")
        self._show_comm(snap)

    def _show_comm(self, snap: LiveSnapshot) -> None:
        comm = snap.frame.comm
        if not comm:
            return
        lost = sorted(d for d, c in comm.items() if c.state == Comm.LOST)
        suspect = sorted(d for d, c in comm.items() if c.state == Comm.SUSPECT)
        connecting = sum(c.state == Comm.CONNECTING for c in comm.values())
        if lost:
            names = ", ".join(lost[:4]) + (f" +{len(lost) - 4}" if len(lost) > 4 else "")
            self.comm_label.setText(f"comm: {len(lost)} of {len(comm)} devices LOST ({names})"
                                    + (f", {len(suspect)} suspect" if suspect else ""))
            self.comm_label.setStyleSheet(f"color: white; background: {theme.INVALID.name()};"
                                          " padding: 0 6px;")
        elif suspect:
            names = ", ".join(suspect[:4]) + (f" +{len(suspect) - 4}" if len(suspect) > 4
                                              else "")
            self.comm_label.setText(f"comm: {len(suspect)} of {len(comm)} devices suspect "
                                    f"({names})")
            self.comm_label.setStyleSheet(f"color: {theme.ABNORMAL.name()}; padding: 0 6px;")
        elif connecting:
            self.comm_label.setText(f"comm: connecting to {connecting} of {len(comm)} devices")
            self.comm_label.setStyleSheet("")
        else:
            self.comm_label.setText(f"comm: all {len(comm)} devices OK")
            self.comm_label.setStyleSheet("")
        self.comm_label.setToolTip("\n".join(
            f"{d}: {c.state.value} ({c.protocol}){' — ' + c.last_error if c.last_error else ''}"
            for d, c in sorted(comm.items())))

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
    def on_events(self, entries: tuple[LogEntry, ...]) -> None:
        self.events.add_entries(entries)

    # ------------------------------------------------------------------ session and alarms
    @Slot(object)
    def on_control_events(self, events: list) -> None:
        """Commands and user actions from the control side, as event-log entries."""
        self.events.add_entries(tuple(LogEntry.from_row(e.row()) for e in events))

    @Slot(object)
    def request_alarm_action(self, req) -> None:  # noqa: ANN001 - AlarmAction
        """Send an action from the alarm list to the pipeline with this window's session
        (the pipeline's worker checks the role)."""
        if self.pipeline is None:
            self.statusBar().showMessage("no live station: alarm actions are not possible",
                                         5000)
            return
        self.pipeline.alarm_action(dataclasses.replace(req, session=self.session))

    @Slot(object)
    def on_alarm_action_done(self, result) -> None:  # noqa: ANN001 - ActionResult
        self.last_action_result = result
        self.statusBar().showMessage(result.message if result.ok
                                     else f"refused: {result.message}", 8000)

    def attach_historian(self, historian) -> None:  # noqa: ANN001
        """Read stored events (the log explorer, the alarm report) through a worker thread."""
        from app.runtime.eventquery import EventQueryService

        self._event_query = EventQueryService(historian, parent=self)
        self._event_query.report_ready.connect(self._on_report)
        self.events.set_query_service(self._event_query)

    def show_alarm_report(self) -> AlarmReportDialog:
        if self.report_dialog is None:
            self.report_dialog = AlarmReportDialog(self._request_report, self)
        self.report_dialog.show()
        self.report_dialog.raise_()
        self.report_dialog.refresh()
        return self.report_dialog

    def _request_report(self, hours: float) -> None:
        if self._event_query is not None:
            self._event_query.report(hours)
        elif self.pipeline is not None:
            self.pipeline.request_alarm_report(hours)
        elif self.report_dialog is not None:
            self.report_dialog.show_report({"error": "no historian and no live station"})

    @Slot(object)
    def _on_report(self, rep: dict) -> None:
        if self.report_dialog is not None:
            self.report_dialog.show_report(rep)

    # ------------------------------------------------------------------ users and sessions
    def _show_user(self) -> None:
        s = self.session
        if s is not None:
            self.user_label.setText(f"user: {s.username} ({s.role})")
            self.user_label.setStyleSheet("")
        elif self._locked is not None:
            self.user_label.setText(f"user: {self._locked.username} — LOCKED (viewer rights)")
            self.user_label.setStyleSheet(f"color: white; background: "
                                          f"{theme.ABNORMAL.name()}; padding: 0 6px;")
        else:
            self.user_label.setText("user: nobody (viewer)" if self.control is not None
                                    else "user: viewer (no control)")
            self.user_label.setStyleSheet("")
        if self.control is not None:
            self.login_action.setEnabled(True)
            self.logout_action.setEnabled(s is not None or self._locked is not None)
            self.lock_action.setEnabled(s is not None)
            self.users_action.setEnabled(s is not None and s.role == "admin")

    @Slot()
    def open_users(self) -> None:
        """File ▸ Users…: the administrator's window (every change checked by the service)."""
        from app.ui.users import UsersDialog

        self.users_dialog = UsersDialog(self.control, lambda: self.session, self)
        self.users_dialog.open()

    def set_session(self, session: Session | None) -> None:
        """Who is logged in (None: nobody, viewer rights); faceplates and listeners follow."""
        self.session = session
        if session is not None:
            self._locked = None
        role = session.role if session is not None else "viewer"
        for asset_id, fp in self._faceplates.items():
            if getattr(fp, "buttons", None):
                fp.set_access(role if self.control is not None else None,
                              self._path(asset_id))
        self.alarms.set_role(session.role if session else None)
        users = getattr(self, "users_dialog", None)
        if users is not None and (session is None or session.role != "admin"):
            users.close()  # logged out or locked: the service would refuse it anyway
        self._show_user()
        self.session_changed.emit(session)

    def _path(self, asset_id: str) -> str | None:
        if self.control is None:
            return None
        return self.control.path(asset_id) or "none"

    def _open_dialog(self, dlg: QWidget, on_done) -> None:  # noqa: ANN001
        old, self._dialog = self._dialog, dlg
        if old is not None:  # replaced (File ▸ Log in over the lock dialog): not an answer
            old.finished.disconnect()
            old.close()
        dlg.finished.connect(lambda code: on_done(dlg, code))
        dlg.open()

    @Slot()
    def start_login(self) -> None:
        """At start and from File ▸ Log in: the first-run dialog when there are no users,
        else the login dialog (both check passwords on the accounts thread)."""
        if self.control is None:
            return
        self.control.needs_first_admin(
            lambda first, err: self._first_run() if first and err is None
            else self._login_dialog())

    def _first_run(self) -> None:
        from app.ui.login import FirstAdminDialog

        self._open_dialog(FirstAdminDialog(self.control.create_first_admin, self),
                          self._dialog_done)

    def _login_dialog(self, username: str = "") -> None:
        from app.ui.login import LoginDialog

        self._open_dialog(LoginDialog(self.control.login, self, username=username),
                          self._dialog_done)

    def _dialog_done(self, dlg, code: int) -> None:  # noqa: ANN001
        if self._dialog is dlg:
            self._dialog = None
        if dlg.session is None:
            if getattr(dlg, "locked", False) and self._locked is not None:
                # "Log out" on the lock dialog
                self.control.logout(self._locked, "from the lock screen")
                self._locked = None
                self._show_user()
            return
        old = self.session or self._locked
        if old is not None and old.username != dlg.session.username:
            self.control.logout(old, f"switched to {dlg.session.username}")
        self.set_session(dlg.session)

    def login_as(self, username: str, password: str, done=None) -> None:  # noqa: ANN001
        """Log in without a dialog (``gridtwin run --user NAME``); ``done(session, error)``."""
        def after(session, error) -> None:  # noqa: ANN001
            if error is None:
                self.set_session(session)
            else:
                log.error("login of %s failed: %s", username, error)
            if done is not None:
                done(session, error)

        self.control.login(username, password, after)

    @Slot()
    def logout(self) -> None:
        s = self.session
        s = s or self._locked
        if s is not None:
            self.control.logout(s)
        self._locked = None
        self.set_session(None)

    @Slot()
    def lock(self) -> None:
        """Lock the controls (idle timeout, or File ▸ Lock): the password unlocks them."""
        s = self.session
        if s is None or self.control is None:
            return
        self.control.lock(s)
        log.info("session of %s locked", s.username)
        self.set_session(None)
        self._locked = s
        self._show_user()
        from app.ui.login import LoginDialog

        self._open_dialog(LoginDialog(self.control.login, self, username=s.username,
                                      locked=True,
                                      timeout_min=s.timeout.total_seconds() / 60),
                          self._dialog_done)

    def _check_idle(self) -> None:
        s = self.session
        if s is not None and s.expired(wallclock.now()):
            self.lock()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        # Any input keeps the session alive (it is the service that enforces the timeout).
        if event.type() in _ACTIVITY and self.session is not None:
            now = wallclock.now()
            if (now - self.session.last_seen).total_seconds() > 1.0:
                self.session.touch(now)
        return False

    # ------------------------------------------------------------------ commands
    def _wire_faceplate(self, fp) -> None:  # noqa: ANN001
        fp.select_requested.connect(self._select)
        fp.operate_requested.connect(self._operate)
        fp.cancel_requested.connect(self._cancel)
        fp.bypass_requested.connect(self._bypass)
        fp.set_access(self.session.role if self.session else "viewer", self._path(fp.asset.id))

    @staticmethod
    def _refusal(err: BaseException) -> tuple[str, str]:
        locks = getattr(err, "interlocks", ())
        return str(err), "; ".join(str(x) for x in locks)

    def _select(self, asset_id: str, close: bool, bypass_reason: str | None = None) -> None:
        fp = self._faceplates[asset_id]

        def done(sel: Selection | None, err: BaseException | None) -> None:
            if err is not None:
                text, locks = self._refusal(err)
                fp.show_result(text, False, interlocks=locks if isinstance(
                    err, CommandRefused) else "")
                return
            self._selections[asset_id] = sel
            fp.selection_confirmed(close, self.control.service.select_timeout.total_seconds())

        self.control.select(self.session, asset_id, close, done, bypass_reason=bypass_reason)

    def _operate(self, asset_id: str, close: bool) -> None:
        fp = self._faceplates[asset_id]
        sel = self._selections.pop(asset_id, None)
        if sel is None:
            fp.show_result("no selection: select first", False)
            return

        def done(out: Outcome | None, err: BaseException | None) -> None:
            if err is not None:
                fp.show_result(self._refusal(err)[0], False)
            else:
                fp.show_result(out.message, True)

        self.control.operate(self.session, sel, done)

    def _cancel(self, asset_id: str) -> None:
        sel = self._selections.pop(asset_id, None)
        if sel is not None:
            fp = self._faceplates[asset_id]
            self.control.cancel(self.session, sel,
                                lambda _r, err: fp.show_result(str(err), False) if err
                                else fp.show_result(f"{asset_id}: selection cancelled", True))

    def _bypass(self, asset_id: str, close: bool, interlocks: str) -> None:
        from app.ui.login import BypassDialog

        s = self.session
        if s is None or not role_at_least(s.role, "engineer"):
            return
        dlg = BypassDialog(asset_id, close, interlocks, self)
        self._bypass_dialog = dlg

        def finished(code: int) -> None:
            if code == BypassDialog.DialogCode.Accepted:
                self._faceplates[asset_id].bypass_started(close)
                self._select(asset_id, close, bypass_reason=dlg.reason)

        dlg.finished.connect(finished)
        dlg.open()

    # ------------------------------------------------------------------ actions
    @Slot(str)
    def trend(self, tag: str) -> None:
        if self.trends.add_tag(tag):
            self.docks["Trends"].show()
            self.docks["Trends"].raise_()

    @Slot(str)
    def open_faceplate(self, asset_id: str) -> None:
        from app.ui.faceplate import Faceplate

        fp = self._faceplates.get(asset_id)
        if fp is None:
            fp = Faceplate(self.station.asset(asset_id), self.points, parent=self)
            fp.trend_requested.connect(self.trend) if hasattr(fp, "trend_requested") else None
            self._faceplates[asset_id] = fp
            if self.control is not None and fp.buttons:
                self._wire_faceplate(fp)
        if self._last_snapshot is not None:
            fp.update_snapshot(self._last_snapshot)
        fp.show()
        fp.raise_()

    def reset_layout(self) -> None:
        self.restoreState(self._default_state)
        for d in self.docks.values():
            d.show()

    def _about(self) -> None:
        QMessageBox.about(self, "About GridTwin",
                          f"GridTwin — digital twin HMI\n{self.station.station.name}\n"
                          f"{len(self.station.assets)} assets, {len(self.points)} points")

    # ------------------------------------------------------------------ layout persistence
    def _restore_layout(self) -> None:
        geo = self.settings.value("main/geometry")
        state = self.settings.value("main/state")
        if geo is not None:
            self.restoreGeometry(geo)
        else:
            self.resize(1600, 950)
        if state is not None:
            self.restoreState(state, LAYOUT_VERSION)

    def save_layout(self) -> None:
        self.settings.setValue("main/geometry", self.saveGeometry())
        self.settings.setValue("main/state", self.saveState(LAYOUT_VERSION))
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        self.save_layout()
        for fp in self._faceplates.values():
            fp.close()
        if self.control is not None:
            QApplication.instance().removeEventFilter(self)
            self._idle.stop()
            if self._dialog is not None:
                self._dialog.close()
            s = self.session or self._locked
            if s is not None:  # an audit record is queued, never SQL here
                self.control.accounts.logout(s, "HMI closed")
                self.session = self._locked = None
            self.control.stop()
        if self.pipeline is not None:
            self.pipeline.stop()
        if getattr(self, "_backfill", None) is not None:
            self._backfill.stop()
        if self._event_query is not None:
            self._event_query.stop()
        self.studies_runner.stop()
        if self.yard is not None:
            self.yard.close()
        self._clock.stop()
        super().closeEvent(event)
