"""Login, first run, session timeout and the control path in the window (in-process plant,
users and audit in a real SQLite store; dialogs driven programmatically)."""

from __future__ import annotations

import pytest

from app.control.audit import read_audit
from app.field.sim.plant import PlantSimulator
from app.runtime.sources import PlantFrameSource
from app.station.points import POS_CLOSED
from app.ui.login import FirstAdminDialog, LoginDialog

from .conftest import T0

PW = "correct horse battery"


@pytest.fixture
def hmi(make_hmi, station):
    """The window with users (a real SQLite store in the test's folder), the audit log and
    control, built as gridtwin run builds it; closed by the fixture."""
    def make(timeout_s: float = 900.0, users=(("op", "operator"), ("eng", "engineer"),
                                                ("guest", "viewer"))):
        plant = PlantSimulator(station, seed=2, start=T0, tick_s=0.1)
        h = make_hmi(PlantFrameSource(plant), store=True,
                     accounts={"session_timeout_min": timeout_s / 60.0},
                     confirm_timeout_s=5.0, idle_check_ms=50, start=False)
        accounts = h.runtime.accounts
        if users:
            accounts.create_first_admin("admin", PW)
            for name, role in users:
                accounts.create_user("cli:test", name, PW, role)
        h.start()
        win = h.win
        win.plant, win.audit, win.engine, win.hmi = plant, h.runtime.audit, h.runtime.store, h
        return win

    return make


def audit_rows(win):
    assert win.audit.flush()
    return [(r["user"], r["action"], r["device"], r["result"]) for r in
            read_audit(win.engine, limit=500)[::-1]]


def test_first_run_creates_the_administrator(hmi, qtbot):
    win = hmi(users=())
    assert win.sessions.session is None and win.status.user_label.text() == "user: nobody (viewer)"
    win.sessions.start_login()
    qtbot.waitUntil(lambda: isinstance(win.sessions.dialog, FirstAdminDialog), timeout=10_000)
    dlg = win.sessions.dialog
    dlg.user.setText("chief")
    dlg.password.setText(PW)
    dlg.repeat.setText(PW + "x")
    dlg.ok.click()
    assert dlg.error.text() == "the two passwords differ" and win.sessions.session is None
    dlg.password.setText(PW)
    dlg.repeat.setText(PW)
    with qtbot.waitSignal(win.sessions.session_changed, timeout=10_000) as sig:
        dlg.ok.click()
    assert sig.args[0].username == "chief" and sig.args[0].role == "admin"
    assert win.status.user_label.text() == "user: chief (admin)"
    rows = audit_rows(win)
    assert ("chief", "create first administrator", "user chief", "done") in rows
    assert ("chief", "login", "users", "success") in rows
    # The next start asks for a login, not for an administrator again.
    win.sessions.start_login()
    qtbot.waitUntil(lambda: isinstance(win.sessions.dialog, LoginDialog), timeout=10_000)


def test_login_failed_login_switch_user_and_logout(hmi, qtbot):
    win = hmi()
    win.sessions.start_login()
    qtbot.waitUntil(lambda: isinstance(win.sessions.dialog, LoginDialog), timeout=10_000)
    dlg = win.sessions.dialog
    dlg.user.setText("op")
    dlg.password.setText("not the password")
    dlg.ok.click()
    qtbot.waitUntil(lambda: "wrong user name or password" in dlg.error.text(), timeout=10_000)
    assert win.sessions.session is None and dlg.password.text() == ""
    dlg.password.setText(PW)
    with qtbot.waitSignal(win.sessions.session_changed, timeout=10_000):
        dlg.ok.click()
    assert win.status.user_label.text() == "user: op (operator)"
    qtbot.waitUntil(lambda: win.last_snapshot is not None, timeout=15_000)
    win.open_faceplate("F1_Q0")
    fp = win.commands.faceplates["F1_Q0"]
    qtbot.waitUntil(lambda: fp.buttons["Select open"].isEnabled(), timeout=10_000)
    # Switch user from the File menu: the engineer logs in over the operator.
    win.login_action.trigger()
    qtbot.waitUntil(lambda: isinstance(win.sessions.dialog, LoginDialog) and win.sessions.dialog is not dlg,
                    timeout=10_000)
    d2 = win.sessions.dialog
    d2.user.setText("eng")
    d2.password.setText(PW)
    with qtbot.waitSignal(win.sessions.session_changed, timeout=10_000):
        d2.ok.click()
    assert win.sessions.session.username == "eng" and fp.role == "engineer"
    win.logout_action.trigger()
    assert win.sessions.session is None and fp.role == "viewer"
    assert not fp.buttons["Select open"].isEnabled()
    qtbot.waitUntil(lambda: ("eng", "logout", "users", "done") in audit_rows(win),
                    timeout=10_000)
    rows = audit_rows(win)
    assert ("op", "login", "users", "failed") in rows
    assert ("op", "logout", "users", "done") in rows  # switched to eng
    # The audit entries also reach the live event log.
    qtbot.waitUntil(lambda: any(e.event_type == "user" for e in win.events.model.rows),
                    timeout=10_000)


def test_session_timeout_locks_the_controls_and_asks_for_the_password(hmi, qtbot):
    win = hmi(timeout_s=1.0)
    with qtbot.waitSignal(win.sessions.session_changed, timeout=10_000):
        win.sessions.login_as("op", PW)
    old = win.sessions.session
    qtbot.waitUntil(lambda: win.last_snapshot is not None, timeout=15_000)
    win.open_faceplate("F2_Q0")
    fp = win.commands.faceplates["F2_Q0"]
    # No input for longer than the timeout: locked, controls off, the unlock dialog open.
    qtbot.waitUntil(lambda: win.sessions.session is None and isinstance(win.sessions.dialog, LoginDialog),
                    timeout=10_000)
    dlg = win.sessions.dialog
    assert dlg.locked and dlg.user.text() == "op" and dlg.user.isReadOnly()
    assert "LOCKED" in win.status.user_label.text() and not fp.buttons["Select open"].isEnabled()
    # The service refuses the old session whatever a widget would show.
    from app.control.users import AuthError

    with pytest.raises(AuthError, match="timed out"):
        win.control.service.select(old, "F2_Q0", False)
    dlg.password.setText(PW)
    with qtbot.waitSignal(win.sessions.session_changed, timeout=10_000,
                          check_params_cb=lambda s: s is not None):
        dlg.ok.click()
    rows = audit_rows(win)
    assert ("op", "session locked", "users", "done") in rows
    assert rows.count(("op", "login", "users", "success")) == 2
    assert ("op", "select open", "F2_Q0", "refused") in rows


def test_a_viewer_is_refused_by_the_service_even_when_the_ui_is_bypassed(hmi, qtbot):
    win = hmi()
    qtbot.waitUntil(lambda: win.last_snapshot is not None, timeout=15_000)
    win.open_faceplate("F1_Q0")
    fp = win.commands.faceplates["F1_Q0"]
    assert not fp.buttons["Select open"].isEnabled()
    win.commands.select("F1_Q0", False)  # what a forced button would send: nobody logged in
    qtbot.waitUntil(lambda: fp.status.text() == "not logged in", timeout=10_000)
    with qtbot.waitSignal(win.sessions.session_changed, timeout=10_000):
        win.sessions.login_as("guest", PW)
    fp.set_access("operator")  # a tampered faceplate
    fp.buttons["Select open"].click()
    qtbot.waitUntil(lambda: "guest is a viewer; this needs an operator" in fp.status.text(),
                    timeout=10_000)
    assert fp.state == "idle"
    rows = audit_rows(win)
    assert ("(nobody)", "select open", "F1_Q0", "refused") in rows
    assert ("guest", "select open", "F1_Q0", "refused") in rows
    assert win.plant.position("F1_Q0") == POS_CLOSED


def test_operate_from_the_faceplate_in_process(hmi, qtbot):
    win = hmi()
    with qtbot.waitSignal(win.sessions.session_changed, timeout=10_000):
        win.sessions.login_as("op", PW)
    qtbot.waitUntil(lambda: win.last_snapshot is not None, timeout=15_000)
    win.open_faceplate("F3_Q0")
    fp = win.commands.faceplates["F3_Q0"]
    qtbot.waitUntil(lambda: fp.buttons["Select open"].isEnabled(), timeout=10_000)
    fp.buttons["Select open"].click()
    qtbot.waitUntil(lambda: fp.state == "selected", timeout=10_000)
    assert "confirm with Operate" in fp.status.text()
    fp.buttons["Operate"].click()
    qtbot.waitUntil(lambda: fp.state == "idle", timeout=15_000)
    assert fp.status.text().startswith("F3_Q0 open, confirmed by scan in ")
    qtbot.waitUntil(lambda: win.sld.items_by_asset["F3_Q0"].state_name == "open",
                    timeout=10_000)
    # Commanded, so not a trip: a few scans later the alarm list has no trip for it.
    seq = win.last_snapshot.seq
    qtbot.waitUntil(lambda: win.last_snapshot.seq >= seq + 5, timeout=10_000)
    assert win.alarms.model.row_of("F3_Q0:trip") is None


def test_the_administrator_manages_users_in_the_window_and_the_service_checks(hmi, qtbot):
    """File ▸ Users… is an administrator's: list, add, change role, new password, disable;
    the last administrator stays; each change audited. An operator's session is refused by
    the accounts service even when it reaches the window's requests."""
    from app.ui.users import PasswordDialog

    win = hmi()
    assert not win.users_action.isEnabled()  # nobody logged in
    with qtbot.waitSignal(win.sessions.session_changed, timeout=10_000):
        win.sessions.login_as("op", PW)
    assert not win.users_action.isEnabled()
    op = win.sessions.session
    with qtbot.waitSignal(win.sessions.session_changed, timeout=10_000):
        win.sessions.login_as("admin", PW)
    assert win.users_action.isEnabled()
    win.sessions.open_users()
    dlg = win.sessions.users_dialog
    qtbot.waitUntil(lambda: len(dlg.rows) == 4, timeout=10_000)
    assert [u.username for u in dlg.rows] == ["admin", "eng", "guest", "op"]
    assert dlg.table.item(3, 1).text() == "operator"
    assert "hash" not in repr(dlg.rows[0])  # the window never sees a password hash

    pw = PasswordDialog(dlg)
    pw.user.setText("ann")
    pw.password.setText("long enough, number 1")
    pw.again.setText("long enough, number 2")
    pw.submit()
    assert pw.error.text() == "the two passwords differ" and not pw.result()
    pw.again.setText("short")
    pw.password.setText("short")
    pw.submit()
    assert "at least 15 characters" in pw.error.text()

    dlg.create("ann", PW, "operator")
    qtbot.waitUntil(lambda: len(dlg.rows) == 5, timeout=10_000)
    assert dlg.status.text() == "add ann (operator): done"
    dlg.table.selectRow([u.username for u in dlg.rows].index("ann"))
    dlg.set_role("engineer")
    qtbot.waitUntil(lambda: dlg.selected() is not None and dlg.selected().role == "engineer",
                    timeout=10_000)
    dlg.change_password("ann", "a new long password")
    qtbot.waitUntil(lambda: dlg.status.text() == "ann: new password: done", timeout=10_000)
    dlg.toggle_disabled()
    qtbot.waitUntil(lambda: dlg.selected() is not None and dlg.selected().disabled,
                    timeout=10_000)
    assert dlg.table.item(dlg.table.currentRow(), 2).text() == "disabled"

    dlg.table.selectRow(0)  # admin: the only administrator
    dlg.toggle_disabled()
    qtbot.waitUntil(lambda: "last enabled administrator" in dlg.status.text(), timeout=10_000)
    dlg.create("bad name!", PW, "viewer")
    qtbot.waitUntil(lambda: "field 'username'" in dlg.status.text(), timeout=10_000)

    dlg.session = lambda: op  # a window (or a forged request) with an operator's session
    dlg.create("mallory", PW, "admin")
    qtbot.waitUntil(lambda: dlg.status.text() == "add mallory (admin): refused — op is an "
                    "operator; this needs an admin", timeout=10_000)
    assert "mallory" not in [u.username for u in win.control.accounts.users()]

    rows = audit_rows(win)
    assert ("admin", "create user", "user ann", "done") in rows
    assert ("admin", "set role", "user ann", "done") in rows
    assert ("admin", "set password", "user ann", "done") in rows
    assert ("admin", "disable user", "user ann", "done") in rows
    assert ("op", "create user", "user mallory", "refused") in rows
    with qtbot.waitSignal(win.sessions.session_changed, timeout=10_000):
        win.sessions.logout()
    assert not dlg.isVisible()  # closed with the administrator's session


def test_a_locked_account_in_the_login_dialog_and_its_unlock_in_the_users_window(hmi, qtbot):
    """Five wrong passwords lock the operator; the dialog then says so (the same for the
    right password); the administrator unlocks it in File ▸ Users…, audited."""
    win = hmi()
    win.sessions.start_login()
    qtbot.waitUntil(lambda: isinstance(win.sessions.dialog, LoginDialog), timeout=10_000)
    dlg = win.sessions.dialog
    dlg.user.setText("op")
    for i in range(5):
        dlg.password.setText(f"wrong password number {i}")
        dlg.ok.click()
        qtbot.waitUntil(lambda: dlg.ok.isEnabled() and "wrong user name or password"
                        in dlg.error.text(), timeout=10_000)
    assert "op is locked for 30 s" in dlg.error.text()
    dlg.password.setText(PW)
    dlg.ok.click()
    qtbot.waitUntil(lambda: dlg.ok.isEnabled() and "op is locked after 5 failed logins"
                    in dlg.error.text(), timeout=10_000)
    assert win.sessions.session is None
    dlg.reject()
    with qtbot.waitSignal(win.sessions.session_changed, timeout=10_000):
        win.sessions.login_as("admin", PW)
    win.sessions.open_users()
    users = win.sessions.users_dialog
    qtbot.waitUntil(lambda: len(users.rows) == 4, timeout=10_000)
    names = [u.username for u in users.rows]
    assert users.table.item(names.index("op"), 2).text().startswith(
        "enabled, LOCKED until ")
    users.table.selectRow(names.index("eng"))
    assert not users.unlock_button.isEnabled()  # nothing to unlock
    users.table.selectRow(names.index("op"))
    assert users.unlock_button.isEnabled()
    users.unlock_button.click()
    qtbot.waitUntil(lambda: users.status.text() == "op: unlock: done", timeout=10_000)
    qtbot.waitUntil(lambda: users.table.item(names.index("op"), 2).text() == "enabled",
                    timeout=10_000)
    with qtbot.waitSignal(win.sessions.session_changed, timeout=10_000):
        win.sessions.login_as("op", PW)
    rows = audit_rows(win)
    assert ("op", "login", "users", "locked") in rows
    assert ("admin", "unlock user", "user op", "done") in rows
    assert rows[-1][:2] == ("op", "login") and rows[-1][3] == "success"
