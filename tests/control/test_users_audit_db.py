"""Users in the configuration store's users table, and the audit log in audit_log."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest
from sqlalchemy import text

from app.control.audit import DbAudit, event_row, read_audit
from app.control.userdb import DbUsers, open_store
from app.control.users import Accounts, AuthError
from app.station import clock

PW = "correct horse battery"


class Events:
    def __init__(self) -> None:
        self.rows: list[dict] = []

    def submit_events(self, events: list[dict]) -> None:
        self.rows.extend(events)


@pytest.fixture
def store(tmp_path):
    engine = open_store("teststation", data_dir=str(tmp_path))
    events = Events()
    audit = DbAudit(engine, events=events, retry_s=0.1)
    yield engine, audit, events, tmp_path / "teststation.sqlite"
    audit.close()
    engine.dispose()


def test_users_live_in_the_users_table(store):
    engine, audit, _, _ = store
    acc = Accounts(DbUsers(engine), audit=audit)
    assert acc.needs_first_admin()
    acc.create_first_admin("admin", PW)
    assert not acc.needs_first_admin()
    admin = acc.login("admin", PW)
    acc.create_user(admin, "op", PW, "operator")
    acc.create_user("cli:root", "eng", PW, "engineer")
    with pytest.raises(ValueError, match="field 'role'"):
        acc.create_user(admin, "x", PW, "superuser")
    with pytest.raises(ValueError, match="exists"):
        acc.create_user(admin, "op", PW, "viewer")
    # A second repository on the same database sees them (it is the store, not memory).
    again = Accounts(DbUsers(engine))
    assert [(u.username, u.role) for u in again.users()] == [
        ("admin", "admin"), ("eng", "engineer"), ("op", "operator")]
    assert again.repo.get("admin").last_login is not None
    with engine.connect() as con:
        stored = con.execute(text("select password_hash from users where username='op'")).scalar()
    assert stored.startswith("scrypt$") and PW not in stored


def test_operator_cannot_manage_users_and_admin_changes_are_audited(store):
    engine, audit, events, _ = store
    acc = Accounts(DbUsers(engine), audit=audit)
    acc.create_first_admin("admin", PW)
    admin = acc.login("admin", PW)
    acc.create_user(admin, "op", PW, "operator")
    op = acc.login("op", PW)
    with pytest.raises(AuthError, match="needs an admin"):
        acc.create_user(op, "mallory", PW, "admin")
    with pytest.raises(AuthError, match="needs an admin"):
        acc.set_role(op, "op", "admin")
    acc.set_password(op, "op", "another good password", old_password=PW)
    with pytest.raises(AuthError, match="wrong user name or password"):
        acc.login("op", PW)
    assert acc.login("op", "another good password").role == "operator"
    acc.set_role(admin, "op", "engineer")
    acc.set_disabled(admin, "op")
    with pytest.raises(AuthError, match="disabled"):
        acc.login("op", "another good password")
    acc.set_disabled(admin, "op", False)
    assert acc.login("op", "another good password").role == "engineer"
    with pytest.raises(ValueError, match="last enabled administrator"):
        acc.set_disabled(admin, "admin")
    acc.logout(admin)
    assert audit.flush()
    rows = read_audit(engine, limit=100)[::-1]
    got = [(r["user"], r["action"], r["device"], r["result"]) for r in rows]
    for want in [("admin", "create first administrator", "user admin", "done"),
                 ("admin", "login", "users", "success"),
                 ("admin", "create user", "user op", "done"),
                 ("op", "create user", "user mallory", "refused"),
                 ("op", "set password", "user op", "done"),
                 ("op", "login", "users", "failed"),
                 ("admin", "set role", "user op", "done"),
                 ("admin", "disable user", "user op", "done"),
                 ("op", "login", "users", "refused"),
                 ("admin", "enable user", "user op", "done"),
                 ("admin", "logout", "users", "done")]:
        assert want in got, want
    assert next(r for r in rows if r["action"] == "set role"
                and r["result"] == "done")["detail"] == "operator → engineer"
    # Mirrored into the event log as user events.
    assert {e["event_type"] for e in events.rows} == {"user"}
    assert any("op: login users — failed" in e["message"] for e in events.rows)


def test_audit_never_blocks_the_caller_and_survives_a_database_fault(store):
    engine, audit, events, path = store
    now = clock.now()
    # Another process holds the database's write lock: record() still returns at once.
    other = sqlite3.connect(path, timeout=0.1)
    other.execute("BEGIN EXCLUSIVE")
    for i in range(5):
        audit.record(user="op", time=now, device="F1_Q0", action="select open", before="closed",
                     after="", result="selected", detail=f"n={i}")
    assert audit.pending >= 1
    other.rollback()
    other.close()
    assert audit.flush(20)
    assert [r["detail"] for r in audit.rows(device="F1_Q0")] == [f"n={i}" for i in
                                                                 range(4, -1, -1)]
    # The table goes away (a broken store): entries are kept and written once it is back.
    with engine.begin() as con:
        con.execute(text("alter table audit_log rename to audit_log_away"))
    audit.record(user="op", time=now, device="F2_Q0", action="operate open", before="closed",
                 after="open", result="success")
    assert not audit.flush(1.0) and "audit_log" in audit.last_error
    with engine.begin() as con:
        con.execute(text("alter table audit_log_away rename to audit_log"))
    assert audit.flush(20) and audit.last_error == ""
    assert audit.rows(device="F2_Q0")[0]["result"] == "success"
    with pytest.raises(ValueError, match="field 'time'"):
        audit.record(user="op", time=dt.datetime(2026, 1, 1), device="x", action="y",
                     result="z")
    control = [e for e in events.rows if e["event_type"] == "control"]
    assert control[-1]["asset_id"] == "F2_Q0" and control[-1]["after"] == "open"


def test_event_row_mirrors_an_audit_entry():
    e = event_row({"time_ms": 1, "user": "eng", "device": "F1_Q0", "action": "interlock bypass",
                   "before": "open", "after": "", "result": "granted",
                   "detail": "IL-5 — reason: restoring supply"})
    assert (e["event_type"], e["severity"], e["asset_id"], e["state"]) == \
        ("control", "high", "F1_Q0", "granted")
    assert e["message"] == ("eng: interlock bypass F1_Q0 — granted "
                            "(IL-5 — reason: restoring supply)")
