"""Who is at the workstation: login, first-run administrator, lock on idle, logout.

:class:`SessionController` holds the logged-in :class:`~app.control.users.Session` (None:
nobody, viewer rights) and the session an idle timeout locked. It opens the first-run,
login and lock dialogs, watches the application's input to keep a live session alive, and
locks the controls when the session expires. It checks no password itself: every login, lock
and logout goes to the accounts thread of the control runtime, and the services check the
role again whatever the window showed. Widgets follow :attr:`session_changed`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QTimer, Signal, Slot
from PySide6.QtWidgets import QApplication, QWidget

from app.control.users import Session, role_at_least
from app.runtime.qt.control import ControlRuntime
from app.runtime.qt.jobs import Done
from app.station import clock as wallclock

if TYPE_CHECKING:
    from app.ui.login import FirstAdminDialog, LoginDialog
    from app.ui.users import UsersDialog

log = logging.getLogger(__name__)

_ACTIVITY = {QEvent.Type.MouseButtonPress, QEvent.Type.KeyPress, QEvent.Type.Wheel,
             QEvent.Type.MouseMove}


class SessionController(QObject):
    session_changed = Signal(object)  # Session | None
    state_changed = Signal()  # the session, the lock or the dialogs changed (status texts)

    def __init__(self, control: ControlRuntime | None, parent: QWidget, *,
                 idle_check_ms: int = 1000) -> None:
        """``control``: the :class:`~app.runtime.qt.control.ControlRuntime`, or None (no
        control: viewer rights, no dialogs)."""
        super().__init__(parent)
        self.control = control
        self.window = parent
        self.session: Session | None = None
        self.locked: Session | None = None
        """A session locked by the idle timeout (or File ▸ Lock), until unlocked."""
        self.dialog: LoginDialog | FirstAdminDialog | None = None
        """The open login / lock / first-run dialog."""
        self.users_dialog: UsersDialog | None = None
        self._idle = QTimer(self)
        self._idle.timeout.connect(self._check_idle)
        if control is not None:
            QApplication.instance().installEventFilter(self)
            self._idle.start(idle_check_ms)

    # ------------------------------------------------------------------ state
    @property
    def role(self) -> str:
        return self.session.role if self.session is not None else "viewer"

    def describe(self) -> tuple[str, bool]:
        """The status bar's text for who is here, and whether it is abnormal (locked)."""
        s = self.session
        if s is not None:
            return f"user: {s.username} ({s.role})", False
        if self.locked is not None:
            return f"user: {self.locked.username} — LOCKED (viewer rights)", True
        return ("user: nobody (viewer)" if self.control is not None
                else "user: viewer (no control)"), False

    def set_session(self, session: Session | None) -> None:
        """Who is logged in (None: nobody, viewer rights); listeners follow."""
        self.session = session
        if session is not None:
            self.locked = None
        if self.users_dialog is not None and (session is None or session.role != "admin"):
            self.users_dialog.close()  # logged out or locked: the service would refuse anyway
        self.session_changed.emit(session)
        self.state_changed.emit()

    def can(self, role: str) -> bool:
        return self.session is not None and role_at_least(self.session.role, role)

    # ------------------------------------------------------------------ dialogs
    def _open_dialog(self, dlg: LoginDialog | FirstAdminDialog,
                     on_done: Callable[[LoginDialog | FirstAdminDialog, int], None]) -> None:
        old, self.dialog = self.dialog, dlg
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
            else self.login_dialog())

    def _first_run(self) -> None:
        from app.ui.login import FirstAdminDialog

        self._open_dialog(FirstAdminDialog(self.control.create_first_admin, self.window),
                          self._dialog_done)

    def login_dialog(self, username: str = "") -> None:
        from app.ui.login import LoginDialog

        self._open_dialog(LoginDialog(self.control.login, self.window, username=username),
                          self._dialog_done)

    def _dialog_done(self, dlg: LoginDialog | FirstAdminDialog, _code: int) -> None:
        from app.ui.login import LoginDialog

        if self.dialog is dlg:
            self.dialog = None
        if dlg.session is None:
            if isinstance(dlg, LoginDialog) and dlg.locked and self.locked is not None:
                # "Log out" on the lock dialog
                self.control.logout(self.locked, "from the lock screen")
                self.locked = None
                self.state_changed.emit()
            return
        old = self.session or self.locked
        if old is not None and old.username != dlg.session.username:
            self.control.logout(old, f"switched to {dlg.session.username}")
        self.set_session(dlg.session)

    def login_as(self, username: str, password: str,
                 done: Done[Session] | None = None) -> None:
        """Log in without a dialog (``gridtwin run --user NAME``); ``done(session, error)``."""
        def after(session: Session | None, error: BaseException | None) -> None:
            if error is None:
                self.set_session(session)
            else:
                log.error("login of %s failed: %s", username, error)
            if done is not None:
                done(session, error)

        self.control.login(username, password, after)

    @Slot()
    def logout(self) -> None:
        s = self.session or self.locked
        if s is not None:
            self.control.logout(s)
        self.locked = None
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
        self.locked = s
        self.state_changed.emit()
        from app.ui.login import LoginDialog

        self._open_dialog(LoginDialog(self.control.login, self.window, username=s.username,
                                      locked=True,
                                      timeout_min=s.timeout.total_seconds() / 60),
                          self._dialog_done)

    @Slot()
    def open_users(self) -> None:
        """File ▸ Users…: the administrator's window (every change checked by the service)."""
        from app.ui.users import UsersDialog

        self.users_dialog = UsersDialog(self.control, lambda: self.session, self.window)
        self.users_dialog.open()

    # ------------------------------------------------------------------ idle
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

    def close(self) -> None:
        """The window closes: no more input watching, dialogs closed, the session logged out
        (an audit record is queued, never SQL here)."""
        if self.control is None:
            return
        QApplication.instance().removeEventFilter(self)
        self._idle.stop()
        if self.dialog is not None:
            self.dialog.close()
        s = self.session or self.locked
        if s is not None:
            self.control.accounts.logout(s, "HMI closed")
            self.session = self.locked = None
