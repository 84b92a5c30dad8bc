"""The status bar: each device's communication, scan rate, scan-to-screen latency, the
historian's state, who is logged in, where trainers inject faults (the HMI's own field-sim's
control channel, when it started one), and the clock in IST.

It subscribes to the pipeline's snapshots (communication, latency) and refreshes the rest
once a second from plain reads of the services' status objects — no SQL, no protocol I/O.
Abnormal states (devices lost or suspect, the historian degraded, the session locked) are in
the abnormal colour; everything normal is plain text (ISA-101).
"""

from __future__ import annotations

from collections import deque

from PySide6.QtCore import QObject, QTimer, Slot
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QStatusBar

from app.runtime.inference import AnalyticsSnapshot
from app.runtime.qt.pipeline import Pipeline
from app.runtime.snapshot import LiveSnapshot
from app.station import clock as wallclock
from app.station.frame import Comm
from app.station.timezone import IST
from app.ui import theme
from app.ui.perf import timed
from app.ui.session import SessionController


def fault_injection_address(pipeline: Pipeline | None) -> tuple[str, int] | None:
    """The control channel of the field-sim the HMI started (None: it polls a station it did
    not start, or none): a plain read of the runtime's addresses."""
    sim = pipeline.runtime.sim if pipeline is not None else None
    return sim.addresses.get("control") if sim is not None else None


def _flag(label: QLabel, colour: QColor | None) -> None:
    label.setStyleSheet("" if colour is None else
                        f"color: white; background: {colour.name()}; padding: 0 6px;")


class StatusPanel(QObject):
    def __init__(self, bar: QStatusBar, sessions: SessionController,
                 pipeline: Pipeline | None = None) -> None:
        super().__init__(bar)
        self.pipeline, self.sessions = pipeline, sessions
        self.latency_ms: deque[float] = deque(maxlen=600)
        self.comm_label = QLabel("comm: waiting for the first scan")
        self.rate_label = QLabel("scan — Hz")
        self.latency_label = QLabel("latency — ms")
        self.historian_label = QLabel("")
        self.user_label = QLabel("")
        self.fault_label = QLabel("")
        self.fault_label.setObjectName("faultInjection")
        self.fault_label.hide()
        self.analytics_label = QLabel("")
        self.clock_label = QLabel()
        #: The clock shown and scans' latency are measured against (a drill shows its
        #: simulated time: app.ui.drill), and what the clock's text starts with.
        self.now = wallclock.now
        self.clock_prefix = ""
        for w in (self.comm_label, self.rate_label, self.latency_label, self.historian_label,
                  self.analytics_label, self.user_label):
            bar.addWidget(w)
        bar.addPermanentWidget(self.fault_label)
        bar.addPermanentWidget(self.clock_label)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.tick)
        self._timer.start(1000)
        sessions.state_changed.connect(self.show_user)
        self.show_user()
        self.tick()

    def stop(self) -> None:
        self._timer.stop()

    # ------------------------------------------------------------------ once a second
    @Slot()
    def tick(self) -> None:
        self.clock_label.setText(self.clock_prefix + self.now().astimezone(IST).strftime(
            "%d %b %Y  %H:%M:%S IST"))
        if self.pipeline is not None:
            self.rate_label.setText(f"scan {self.pipeline.stats.scan_hz():.1f} Hz")
            self._show_historian()
            self.show_fault_injection(fault_injection_address(self.pipeline))

    def show_fault_injection(self, address: tuple[str, int] | None) -> None:
        """Where trainers inject faults (None: no field-sim of ours, nothing shown)."""
        if address is None:
            self.fault_label.hide()
            return
        text = f"fault injection: {address[0]}:{address[1]}"
        if self.fault_label.text() != text:
            self.fault_label.setText(text)
            self.fault_label.setToolTip(
                "the simulated station's control channel (JSON lines; app.field.sim.control."
                "ControlClient, or e.g. nc): inject and clear faults for drills")
        self.fault_label.show()

    def _show_historian(self) -> None:
        """The historian writer's state (a plain read of its status: no SQL here)."""
        sink = self.pipeline.sink
        if sink is None:
            self.historian_label.setText("history: off")
            _flag(self.historian_label, None)
            self.historian_label.setToolTip("not recording (--no-historian)")
            return
        status = sink.status
        if status.ok:
            self.historian_label.setText("history: recording")
            _flag(self.historian_label, None)
        else:
            self.historian_label.setText("history: DEGRADED")
            _flag(self.historian_label, theme.PRIORITY[2])
        self.historian_label.setToolTip(
            (f"last error: {status.last_error}\n" if not status.ok else "")
            + f"{status.frames} scans written, {status.pending_samples} samples held for "
              f"retry, {status.dropped_frames} scans dropped")

    @Slot()
    def show_user(self) -> None:
        text, abnormal = self.sessions.describe()
        self.user_label.setText(text)
        _flag(self.user_label, theme.ABNORMAL if abnormal else None)

    @Slot(object)
    def show_analytics(self, snap: AnalyticsSnapshot) -> None:
        """The inference worker's state in one line: untrained (and how to train), a model
        failed or refused (abnormal colour), or the count of anomalies."""
        if snap.message == self.analytics_label.text():
            return
        self.analytics_label.setText(snap.message)
        _flag(self.analytics_label,
              theme.ABNORMAL if snap.state in ("failed", "degraded") else None)
        self.analytics_label.setToolTip("\n".join(
            f"{m.name}: {m.state}{' — ' + m.reason if m.reason else ''}" for m in snap.models)
            or snap.message)

    # ------------------------------------------------------------------ every scan
    @Slot(object)
    @timed("status bar")
    def update_snapshot(self, snap: LiveSnapshot) -> None:
        lat = (self.now().timestamp() - snap.t_acquired.timestamp()) * 1000.0
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

        def names(ds: list[str]) -> str:
            return ", ".join(ds[:4]) + (f" +{len(ds) - 4}" if len(ds) > 4 else "")

        if lost:
            text = f"comm: {len(lost)} of {len(comm)} devices LOST ({names(lost)})"
            if suspect:
                text += f", {len(suspect)} suspect"
            self.comm_label.setText(text)
            _flag(self.comm_label, theme.INVALID)
        elif suspect:
            self.comm_label.setText(f"comm: {len(suspect)} of {len(comm)} devices suspect "
                                    f"({names(suspect)})")
            self.comm_label.setStyleSheet(f"color: {theme.ABNORMAL.name()}; padding: 0 6px;")
        elif connecting:
            self.comm_label.setText(f"comm: connecting to {connecting} of {len(comm)} devices")
            _flag(self.comm_label, None)
        else:
            self.comm_label.setText(f"comm: all {len(comm)} devices OK")
            _flag(self.comm_label, None)
        self.comm_label.setToolTip("\n".join(
            f"{d}: {c.state.value} ({c.protocol}){' — ' + c.last_error if c.last_error else ''}"
            for d, c in sorted(comm.items())))
