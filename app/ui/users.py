"""File ▸ Users…: the administrator's window onto the accounts.

A table of the users (name, role, account state — enabled, disabled, locked after failed
logins — and last login) and what an administrator does with them: add a user (with a role
and a first password), change a role, set a new password, disable or enable an account, and
unlock one that failed logins locked. Every request goes to the accounts thread with the session
that asked, and is checked there (:mod:`app.control.users`): a non-administrator is refused
by the service whatever this window shows, the last enabled administrator cannot be demoted
or disabled, and each change and refusal is in the audit log. The window only shows
answers; a refusal or a bad field is shown under the table, in the service's own words.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.control.passwords import DEFAULT_POLICY, PasswordPolicy
from app.control.users import ROLES, Session
from app.runtime.qt.control import ControlRuntime, UserRow
from app.runtime.qt.jobs import Done
from app.station.timezone import IST
from app.ui import theme
from app.ui.login import NewPassword, error_label

COLUMNS = ("user", "role", "account", "last login (IST)")


def account_text(u: UserRow) -> str:
    """The account column: enabled / disabled, and a lock-out after failed logins."""
    text = "disabled" if u.disabled else "enabled"
    if u.locked:
        if u.locked_until is None:
            return f"{text}, LOCKED until unlocked ({u.failed_logins} failed logins)"
        until = u.locked_until.astimezone(IST).strftime("%H:%M:%S")
        return f"{text}, LOCKED until {until} ({u.failed_logins} failed logins)"
    if u.failed_logins:
        return f"{text}, {u.failed_logins} failed logins"
    return text


class PasswordDialog(QDialog):
    """A new password, typed twice (and, for a new user, the name and role)."""

    def __init__(self, parent: QWidget | None, *, username: str | None = None,
                 policy: PasswordPolicy = DEFAULT_POLICY) -> None:
        super().__init__(parent)
        self.new_user = username is None
        self.setWindowTitle("GridTwin — add user" if self.new_user
                            else f"GridTwin — new password for {username}")
        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.user = QLineEdit(username or "")
        self.user.setObjectName("user")
        self.user.setReadOnly(not self.new_user)
        self.role = QComboBox()
        self.role.addItems(ROLES)
        self.role.setCurrentText("operator")
        form.addRow("user", self.user)
        if self.new_user:
            form.addRow("role", self.role)
        self.new_password = NewPassword(form, username=self.user.text, policy=policy)
        self.password, self.again = self.new_password.password, self.new_password.again
        lay.addLayout(form)
        self.error = error_label()
        lay.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.submit)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def submit(self) -> None:
        problem = "field 'user': enter a user name" \
            if self.new_user and not self.user.text().strip() else self.new_password.problem()
        if problem:
            self.error.setText(problem)
        else:
            self.accept()


class UsersDialog(QDialog):
    """The users and what an administrator can change (through ``control``, a
    :class:`~app.runtime.qt.control.ControlRuntime`, with ``session()``'s session)."""

    def __init__(self, control: ControlRuntime, session: Callable[[], Session | None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.control, self.session = control, session
        self.setWindowTitle("GridTwin — users")
        self.resize(640, 380)
        lay = QVBoxLayout(self)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._selected)
        lay.addWidget(self.table, 1)
        row = QHBoxLayout()
        self.add_button = QPushButton("Add user…")
        self.role_box = QComboBox()
        self.role_box.addItems(ROLES)
        self.role_button = QPushButton("Set role")
        self.password_button = QPushButton("New password…")
        self.disable_button = QPushButton("Disable")
        self.unlock_button = QPushButton("Unlock")
        self.unlock_button.setToolTip("Clear the failed logins and the lock-out of the account")
        for w in (self.add_button, QLabel("role"), self.role_box, self.role_button,
                  self.password_button, self.disable_button, self.unlock_button):
            row.addWidget(w)
        row.addStretch(1)
        lay.addLayout(row)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        lay.addWidget(close)
        self.add_button.clicked.connect(self.add_user)
        self.role_button.clicked.connect(lambda: self.set_role(self.role_box.currentText()))
        self.password_button.clicked.connect(self.new_password)
        self.disable_button.clicked.connect(self.toggle_disabled)
        self.unlock_button.clicked.connect(self.unlock)
        self.rows: list[UserRow] = []
        self._busy(False)
        self.refresh()

    # ------------------------------------------------------------------ state
    def selected(self) -> UserRow | None:
        r = self.table.currentRow()
        return self.rows[r] if 0 <= r < len(self.rows) and self.table.selectedItems() else None

    def _selected(self) -> None:
        u = self.selected()
        if u is not None:
            self.role_box.setCurrentText(u.role)
            self.disable_button.setText("Enable" if u.disabled else "Disable")
        self._busy(False)

    def _busy(self, on: bool) -> None:
        has = self.selected() is not None
        self.add_button.setEnabled(not on)
        for w in (self.role_box, self.role_button, self.password_button, self.disable_button):
            w.setEnabled(not on and has)
        u = self.selected()
        self.unlock_button.setEnabled(not on and u is not None
                                      and (u.locked or u.failed_logins > 0))

    def _say(self, text: str, bad: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {theme.ABNORMAL.name()}" if bad else "")

    # ------------------------------------------------------------------ requests
    def refresh(self) -> None:
        self._busy(True)
        self.control.list_users(self.session(), self._listed)

    def _listed(self, rows: list[UserRow] | None, error: BaseException | None) -> None:
        self._busy(False)
        if error is not None or rows is None:
            self._say(f"cannot list the users: {error}", bad=True)
            return
        keep = self.selected().username if self.selected() is not None else None
        self.rows = list(rows)
        self.table.setRowCount(len(self.rows))
        for r, u in enumerate(self.rows):
            last = u.last_login.astimezone(IST).strftime("%d %b %Y %H:%M") if u.last_login \
                else "never"
            for c, text in enumerate((u.username, u.role, account_text(u), last)):
                item = QTableWidgetItem(text)
                if u.disabled:
                    item.setForeground(theme.TEXT_MUTED)
                elif u.locked and c == 2:
                    item.setForeground(theme.ABNORMAL)
                self.table.setItem(r, c, item)
            if u.username == keep:
                self.table.selectRow(r)
        self._busy(False)

    def _answer(self, what: str) -> Done[object]:
        def done(_result: object, error: BaseException | None) -> None:
            if error is not None:
                self._busy(False)
                self._say(f"{what}: refused — {error}", bad=True)
                return
            self._say(f"{what}: done")
            self.refresh()
        return done

    @property
    def policy(self) -> PasswordPolicy:
        """The accounts service's password policy (with the station's names)."""
        return self.control.accounts.passwords

    def add_user(self) -> None:
        dlg = PasswordDialog(self, policy=self.policy)
        if dlg.exec() == QDialog.DialogCode.Accepted:
            self.create(dlg.user.text().strip(), dlg.password.text(), dlg.role.currentText())

    def create(self, name: str, password: str, role: str) -> None:
        self._busy(True)
        self.control.create_user(self.session(), name, password, role,
                                 self._answer(f"add {name} ({role})"))

    def set_role(self, role: str) -> None:
        u = self.selected()
        if u is None or role == u.role:
            return
        self._busy(True)
        self.control.set_role(self.session(), u.username, role,
                              self._answer(f"{u.username}: role {u.role} → {role}"))

    def new_password(self) -> None:
        u = self.selected()
        if u is None:
            return
        dlg = PasswordDialog(self, username=u.username, policy=self.policy)
        if dlg.exec() == QDialog.DialogCode.Accepted:
            self.change_password(u.username, dlg.password.text())

    def change_password(self, username: str, password: str) -> None:
        self._busy(True)
        self.control.set_password(self.session(), username, password,
                                  self._answer(f"{username}: new password"))

    def unlock(self) -> None:
        u = self.selected()
        if u is None:
            return
        self._busy(True)
        self.control.unlock_user(self.session(), u.username,
                                 self._answer(f"{u.username}: unlock"))

    def toggle_disabled(self) -> None:
        u = self.selected()
        if u is None:
            return
        self._busy(True)
        self.control.set_disabled(self.session(), u.username, not u.disabled,
                                  self._answer(f"{u.username}: "
                                               f"{'enable' if u.disabled else 'disable'}"))
