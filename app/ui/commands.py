"""Select-before-operate from the faceplates, through the control runtime.

:class:`CommandController` owns the faceplates (one per device, made on first use) and wires
each switching device's buttons to the control service on its own thread: *Select* → the
service checks role and interlocks and selects at the device → *Operate* → the command goes
down the poller's write path and is confirmed by a later scan → the faceplate shows the
outcome (or the interlock, AddCause or timeout that refused it). *Cancel* drops a selection;
an engineer may ask to bypass a station interlock with a written reason (audited). Buttons
follow the session's role and the device's state; the service checks the role again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QWidget

from app.control.service import CommandRefused, Outcome, Selection
from app.control.users import Session, role_at_least
from app.runtime.qt.control import ControlRuntime
from app.runtime.snapshot import LiveSnapshot
from app.station import Station
from app.station.points import PointTable
from app.ui.session import SessionController

if TYPE_CHECKING:
    from app.ui.faceplate import Faceplate
    from app.ui.login import BypassDialog


class CommandController(QObject):
    trend_requested = Signal(str)

    def __init__(self, station: Station, points: PointTable, control: ControlRuntime | None,
                 sessions: SessionController, parent: QWidget) -> None:
        super().__init__(parent)
        self.station, self.points = station, points
        self.control = control
        self.sessions = sessions
        self.window = parent
        self.faceplates: dict[str, Faceplate] = {}
        self.selections: dict[str, Selection] = {}
        self.bypass_dialog: BypassDialog | None = None
        self.last_snapshot: LiveSnapshot | None = None
        sessions.session_changed.connect(self._session_changed)
        # A lock is known only after the session went (state_changed): the faceplates say so.
        sessions.state_changed.connect(lambda: self._session_changed(sessions.session))

    # ------------------------------------------------------------------ faceplates
    def faceplate(self, asset_id: str) -> Faceplate:
        """The device's faceplate (made and wired on first use)."""
        from app.ui.faceplate import Faceplate

        fp = self.faceplates.get(asset_id)
        if fp is None:
            fp = Faceplate(self.station.asset(asset_id), self.points, parent=self.window)
            fp.trend_requested.connect(self.trend_requested)
            self.faceplates[asset_id] = fp
            if self.control is not None and fp.buttons:
                fp.select_requested.connect(self.select)
                fp.operate_requested.connect(self.operate)
                fp.cancel_requested.connect(self.cancel)
                fp.bypass_requested.connect(self.bypass)
                fp.set_access(self.sessions.role, self._path(asset_id),
                              locked=self.sessions.locked is not None)
        if self.last_snapshot is not None:
            fp.update_snapshot(self.last_snapshot)
        return fp

    @Slot(object)
    def update_snapshot(self, snap: LiveSnapshot) -> None:
        self.last_snapshot = snap
        for fp in self.faceplates.values():
            if fp.isVisible():
                fp.update_snapshot(snap)

    def _path(self, asset_id: str) -> str | None:
        if self.control is None:
            return None
        return self.control.path(asset_id) or "none"

    def _session_changed(self, _session: Session | None) -> None:
        role = self.sessions.role
        for asset_id, fp in self.faceplates.items():
            if fp.buttons:
                fp.set_access(role if self.control is not None else None, self._path(asset_id),
                              locked=self.sessions.locked is not None)

    def close(self) -> None:
        for fp in self.faceplates.values():
            fp.close()

    # ------------------------------------------------------------------ commands
    @staticmethod
    def _refusal(err: BaseException) -> tuple[str, str]:
        locks = err.interlocks if isinstance(err, CommandRefused) else ()
        return str(err), "; ".join(str(x) for x in locks)

    @Slot(str, bool)
    def select(self, asset_id: str, close: bool, bypass_reason: str | None = None) -> None:
        fp = self.faceplate(asset_id)

        def done(sel: Selection | None, err: BaseException | None) -> None:
            if err is not None:
                text, locks = self._refusal(err)
                fp.show_result(text, False, interlocks=locks if isinstance(
                    err, CommandRefused) else "")
                return
            self.selections[asset_id] = sel
            fp.selection_confirmed(close, self.control.service.select_timeout.total_seconds())

        self.control.select(self.sessions.session, asset_id, close, done,
                            bypass_reason=bypass_reason)

    @Slot(str, bool)
    def operate(self, asset_id: str, close: bool) -> None:
        fp = self.faceplate(asset_id)
        sel = self.selections.pop(asset_id, None)
        if sel is None:
            fp.show_result("no selection: select first", False)
            return

        def done(out: Outcome | None, err: BaseException | None) -> None:
            if err is not None:
                fp.show_result(self._refusal(err)[0], False)
            else:
                fp.show_result(out.message, True)

        self.control.operate(self.sessions.session, sel, done)

    @Slot(str)
    def cancel(self, asset_id: str) -> None:
        sel = self.selections.pop(asset_id, None)
        if sel is not None:
            fp = self.faceplate(asset_id)
            self.control.cancel(self.sessions.session, sel,
                                lambda _r, err: fp.show_result(str(err), False) if err
                                else fp.show_result(f"{asset_id}: selection cancelled", True))

    @Slot(str, bool, str)
    def bypass(self, asset_id: str, close: bool, interlocks: str) -> None:
        from app.ui.login import BypassDialog

        s = self.sessions.session
        if s is None or not role_at_least(s.role, "engineer"):
            return
        dlg = BypassDialog(asset_id, close, interlocks, self.window)
        self.bypass_dialog = dlg

        def finished(code: int) -> None:
            if code == BypassDialog.DialogCode.Accepted:
                self.faceplate(asset_id).bypass_started(close)
                self.select(asset_id, close, bypass_reason=dlg.reason)

        dlg.finished.connect(finished)
        dlg.open()
