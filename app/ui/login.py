"""Log-in, first-run and interlock-bypass dialogs.

None of them checks a password itself: :class:`LoginDialog` and :class:`FirstAdminDialog`
hand the name and password to a function that runs on the accounts thread (scrypt and SQL
never run on the GUI thread) and answer when its result comes back — "wrong user name or
password", or "locked … try again in N s" after repeated failures, in the service's words. A
new password is checked against the password policy (:mod:`app.control.passwords`, pure
Python) as it is submitted, for an immediate answer; the service checks it again. All are opened with
``open()`` (window-modal, never a nested event loop), so the HMI keeps painting meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from app.control.passwords import DEFAULT_POLICY, PasswordPolicy
from app.control.users import Session
from app.runtime.qt.jobs import Done
from app.ui import theme

#: ``authenticate(username, password, done)``: checks on the accounts thread, answers with
#: the new session (or the refusal) on the GUI thread.
Authenticate = Callable[[str, str, Done[Session]], None]


def error_label() -> QLabel:
    lab = QLabel("")
    lab.setWordWrap(True)
    lab.setStyleSheet(f"color: {theme.ABNORMAL.name()}")
    return lab


class NewPassword:
    """A new password typed twice, as two rows of a form, and its check against the password
    policy (the service checks again, with the station's names: this saves a round trip).
    ``username`` gives the name the password is for, if the form has one."""

    def __init__(self, form: QFormLayout, *, username: Callable[[], str] | None = None,
                 policy: PasswordPolicy = DEFAULT_POLICY) -> None:
        self.username = username or (lambda: "")
        self.policy = policy
        self.password = QLineEdit()
        self.password.setObjectName("password")
        self.again = QLineEdit()
        self.again.setObjectName("again")
        for w in (self.password, self.again):
            w.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setToolTip(f"at least {policy.min_length} characters, e.g. three or "
                                  "four unrelated words; not a common password, not the user "
                                  "or station name")
        form.addRow(f"password (≥ {policy.min_length})", self.password)
        form.addRow("again", self.again)

    def problem(self) -> str | None:
        """What is wrong with the two entries, or None."""
        why = self.policy.problem(self.password.text(), self.username().strip())
        if why is not None:
            return why
        if self.password.text() != self.again.text():
            return "the two passwords differ"
        return None

    def clear(self) -> None:
        self.password.clear()
        self.again.clear()


class LoginDialog(QDialog):
    """Log in (or, when ``locked``, unlock a timed-out session with the same user)."""

    def __init__(self, authenticate: Authenticate, parent: QWidget | None = None, *,
                 username: str = "", locked: bool = False, timeout_min: float = 15) -> None:
        super().__init__(parent)
        self.authenticate = authenticate
        self.locked = locked
        self.session: Session | None = None
        self.setWindowTitle("GridTwin — session locked" if locked else "GridTwin — log in")
        self.setModal(True)
        lay = QVBoxLayout(self)
        if locked:
            intro = (f"The session of <b>{username}</b> was locked after {timeout_min:g} "
                     "minutes without input. Enter the password to go on, or log out (the "
                     "HMI stays on, with viewer rights).")
        else:
            intro = ("Log in to operate. Without logging in the HMI shows the station with "
                     "viewer rights.")
        text = QLabel(intro)
        text.setWordWrap(True)
        lay.addWidget(text)
        form = QFormLayout()
        self.user = QLineEdit(username)
        self.user.setObjectName("user")
        self.user.setReadOnly(locked)
        self.password = QLineEdit()
        self.password.setObjectName("password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow("user", self.user)
        form.addRow("password", self.password)
        lay.addLayout(form)
        self.error = error_label()
        lay.addWidget(self.error)
        self.buttons = QDialogButtonBox()
        self.ok = self.buttons.addButton("Unlock" if locked else "Log in",
                                         QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel = self.buttons.addButton("Log out" if locked else "Continue as viewer",
                                             QDialogButtonBox.ButtonRole.RejectRole)
        self.ok.clicked.connect(self.submit)
        self.cancel.clicked.connect(self.reject)
        self.password.returnPressed.connect(self.submit)
        lay.addWidget(self.buttons)
        (self.password if username else self.user).setFocus()

    def submit(self) -> None:
        name, pw = self.user.text().strip(), self.password.text()
        if not name or not pw:
            self.error.setText("enter the user name and the password")
            return
        self._busy(True)
        self.error.setText("checking…")
        self.authenticate(name, pw, self._done)

    def _busy(self, on: bool) -> None:
        for w in (self.ok, self.cancel, self.user, self.password):
            w.setEnabled(not on)
        if self.locked:
            self.user.setEnabled(True)

    def _done(self, session: Session | None, error: BaseException | None) -> None:
        self._busy(False)
        self.password.clear()
        if error is not None:
            self.error.setText(str(error))
            self.password.setFocus()
            return
        self.session = session
        self.error.setText("")
        self.accept()


class FirstAdminDialog(QDialog):
    """First run: there are no users yet, so the administrator is created (no default)."""

    def __init__(self, create: Authenticate, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.create = create
        self.session: Session | None = None
        self.setWindowTitle("GridTwin — create the administrator")
        self.setModal(True)
        lay = QVBoxLayout(self)
        text = QLabel("There are no users yet. Create the administrator account; it adds "
                      "the operators and engineers (File ▸ Users…, or gridtwin users add "
                      "NAME --role R). There is no default password.")
        text.setWordWrap(True)
        lay.addWidget(text)
        form = QFormLayout()
        self.user = QLineEdit()
        self.user.setObjectName("user")
        form.addRow("administrator", self.user)
        self.new_password = NewPassword(form, username=self.user.text)
        self.password, self.repeat = self.new_password.password, self.new_password.again
        lay.addLayout(form)
        self.error = error_label()
        lay.addWidget(self.error)
        self.buttons = QDialogButtonBox()
        self.ok = self.buttons.addButton("Create and log in",
                                         QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel = self.buttons.addButton("Later (viewer)",
                                             QDialogButtonBox.ButtonRole.RejectRole)
        self.ok.clicked.connect(self.submit)
        self.cancel.clicked.connect(self.reject)
        lay.addWidget(self.buttons)

    def submit(self) -> None:
        name, pw = self.user.text().strip(), self.password.text()
        if not name:
            self.error.setText("enter a user name for the administrator")
            return
        problem = self.new_password.problem()
        if problem:
            self.error.setText(problem)
            return
        for w in (self.ok, self.cancel):
            w.setEnabled(False)
        self.error.setText("creating…")
        self.create(name, pw, self._done)

    def _done(self, session: Session | None, error: BaseException | None) -> None:
        for w in (self.ok, self.cancel):
            w.setEnabled(True)
        self.new_password.clear()
        if error is not None:
            self.error.setText(str(error))
            return
        self.session = session
        self.accept()


class BypassDialog(QDialog):
    """An engineer bypasses the station interlocks that refused a command: a written reason
    (logged and audited) is required."""

    MIN_REASON = 10

    def __init__(self, asset_id: str, close: bool, interlocks: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Bypass interlock — {asset_id}")
        self.setModal(True)
        lay = QVBoxLayout(self)
        head = QLabel(f"<b>{'Close' if close else 'Open'} {asset_id}</b> is refused by:<br>"
                      f"{interlocks}<br><br>Bypassing a station interlock is logged and "
                      "audited under your name. The bay device's own interlocks still "
                      "apply. Write why:")
        head.setWordWrap(True)
        lay.addWidget(head)
        self.reason_edit = QPlainTextEdit()
        self.reason_edit.setObjectName("reason")
        lay.addWidget(self.reason_edit)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText("Bypass and select")
        self.ok.setEnabled(False)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.reason_edit.textChanged.connect(
            lambda: self.ok.setEnabled(len(self.reason) >= self.MIN_REASON))
        lay.addWidget(self.buttons)

    @property
    def reason(self) -> str:
        return self.reason_edit.toPlainText().strip()
