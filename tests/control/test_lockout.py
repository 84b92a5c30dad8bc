"""Failed logins: lock-out with back-off per account, a throttle per workstation, what a
failure reveals, persistence across a restart, unlocking, and the audit trail. The clock is
injected and moved; nothing sleeps."""

from __future__ import annotations

import datetime as dt

import pytest

from app.control import users as users_mod
from app.control.audit import DbAudit, MemoryAudit, read_audit, severity_of
from app.control.userdb import DbUsers, open_store
from app.control.users import (
    Accounts,
    AuthError,
    LockedOut,
    LockoutPolicy,
    MemoryUsers,
)
from app.station import clock

PW = "correct horse battery"
WRONG = "not the password at all"


class Clock:
    def __init__(self) -> None:
        self.t = clock.now()

    def __call__(self) -> dt.datetime:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += dt.timedelta(seconds=seconds)


@pytest.fixture
def store(tmp_path):
    engine = open_store("teststation", data_dir=str(tmp_path))
    audit = DbAudit(engine, retry_s=0.1)
    yield engine, audit
    audit.close()
    engine.dispose()


def accounts(repo, audit=None, **kw) -> tuple[Accounts, Clock]:
    c = Clock()
    acc = Accounts(repo, audit=audit, clock=c, source="workstation test", **kw)
    if acc.needs_first_admin():
        acc.create_first_admin("admin", PW)
        acc.create_user("cli:test", "op", PW, "operator")
    return acc, c


def message(fn) -> str:  # noqa: ANN001
    with pytest.raises(AuthError) as exc:
        fn()
    return str(exc.value)


def test_five_failures_lock_for_30_s_then_doubling_and_a_restart_keeps_it(store):
    engine, audit = store
    acc, c = accounts(DbUsers(engine), audit)
    for _ in range(4):
        assert message(lambda: acc.login("op", WRONG)) == "wrong user name or password"
    assert message(lambda: acc.login("op", WRONG)) == (
        "wrong user name or password — 5 failed logins in a row: op is locked for 30 s")
    # Locked: the right password and a wrong one get the same answer (no oracle).
    right = message(lambda: acc.login("op", PW))
    wrong = message(lambda: acc.login("op", WRONG))
    assert right == wrong == ("op is locked after 5 failed logins in a row: try again in 30 s "
                              "(or ask an administrator to unlock it)")
    c.advance(29.5)
    assert "try again in 1 s" in message(lambda: acc.login("op", PW))
    # A restart (a new service on the same store) keeps the lock.
    again, _ = accounts(DbUsers(engine), audit)
    again.clock = c
    assert "is locked after 5 failed logins" in message(lambda: again.login("op", PW))
    st = again.lock_state(again.repo.get("op"))
    assert st.locked and st.failed == 5 and st.until is not None
    # Each further failure doubles the lock: 60 s, 120 s, 240 s …
    c.advance(0.5)
    assert message(lambda: acc.login("op", WRONG)).endswith("op is locked for 60 s")
    c.advance(60)
    assert message(lambda: acc.login("op", WRONG)).endswith("op is locked for 120 s")
    c.advance(119)
    assert isinstance(pytest.raises(LockedOut, acc.login, "op", PW).value, LockedOut)
    c.advance(1)
    s = acc.login("op", PW)  # the lock ran out: the right password works, the count clears
    assert s.role == "operator" and acc.lock_state(acc.repo.get("op")).failed == 0
    assert "after 7 failed logins" in read_audit_rows(audit, engine)[-1]["detail"]


def test_the_lock_is_capped_at_15_minutes(store):
    engine, audit = store
    acc, c = accounts(DbUsers(engine), audit)
    locks = []
    for _ in range(12):
        with pytest.raises(AuthError) as exc:
            acc.login("op", WRONG)
        u = acc.repo.get("op")
        if u.locked_until is not None:
            locks.append(round((u.locked_until - c.t).total_seconds()))
            c.advance(locks[-1])
    assert locks == [30, 60, 120, 240, 480, 900, 900, 900]
    assert "locked for 900 s" in str(exc.value)


def test_30_tries_a_second_for_10_minutes_get_9_guesses_checked(monkeypatch):
    """The issue's attack: 30 tries a second. Scrypt is made cheap here (a policy test, not
    a hashing one); the clock moves 1/30 s per try. The right password is the attacker's
    20th guess: it is never even checked."""
    monkeypatch.setitem(users_mod.SCRYPT, "n", 16)
    users_mod._dummy_hash.cache_clear()
    try:
        acc, c = accounts(MemoryUsers(), MemoryAudit())
        guesses = [f"guess number {i:04d} xyz" for i in range(20_000)]
        guesses[19] = PW
        checked = refused = 0
        for i in range(30 * 600):
            try:
                acc.login("op", guesses[checked])
                pytest.fail(f"logged in with guess {checked} at try {i}")
            except LockedOut:
                refused += 1
            except AuthError:
                checked += 1
            c.advance(1 / 30)
        assert checked == 9 and refused == 30 * 600 - 9
    finally:
        users_mod._dummy_hash.cache_clear()


def test_an_unknown_user_name_is_answered_and_locked_like_an_account(monkeypatch):
    calls = []
    real = users_mod.verify_password
    monkeypatch.setattr(users_mod, "verify_password",
                        lambda pw, h: calls.append(h) or real(pw, h))
    for name in ("op", "ghost"):
        acc, _ = accounts(MemoryUsers(), MemoryAudit())  # the account "op" exists, "ghost" not
        calls.clear()
        answers = [message(lambda n=name, a=acc: a.login(n, WRONG)) for _ in range(7)]
        assert [a.replace(name, "NAME") for a in answers] == \
            ["wrong user name or password"] * 4 + [
                "wrong user name or password — 5 failed logins in a row: NAME is locked "
                "for 30 s"] + ["NAME is locked after 5 failed logins in a row: try again in "
                               "30 s (or ask an administrator to unlock it)"] * 2
        assert len(calls) == 7  # one scrypt check per attempt, locked or not, known or not


def test_after_100_failures_only_an_administrator_unlocks(store):
    engine, audit = store
    acc, c = accounts(DbUsers(engine), audit,
                      lockout=LockoutPolicy(failures=2, lock_s=1, max_lock_s=1, hard_limit=4))
    for _ in range(3):
        pytest.raises(AuthError, acc.login, "op", WRONG)
        c.advance(1)
    assert message(lambda: acc.login("op", WRONG)).endswith(
        "op is locked until an administrator unlocks it")
    c.advance(7 * 86400)
    assert message(lambda: acc.login("op", PW)) == (
        "op is locked after 4 failed logins in a row until an administrator unlocks it")
    admin = acc.login("admin", PW)
    acc.create_user(admin, "op2", PW, "operator")
    op_session = acc.login("op2", PW)
    with pytest.raises(AuthError, match="needs an admin"):
        acc.unlock(op_session, "op")
    was = acc.unlock(admin, "op")
    assert was.locked and was.until is None and was.failed == 4
    assert acc.login("op", PW).role == "operator"
    with pytest.raises(KeyError, match="no user 'nobody'"):
        acc.unlock(admin, "nobody")
    rows = read_audit_rows(audit, engine)
    assert ("op2", "unlock user", "user op", "refused") in [
        (r["user"], r["action"], r["device"], r["result"]) for r in rows]
    done = next(r for r in rows if r["action"] == "unlock user" and r["result"] == "done")
    assert done["user"] == "admin" and done["detail"] == (
        "was locked until unlocked after 4 failed logins")


def test_the_workstation_is_throttled_after_10_failures_for_any_names():
    acc, c = accounts(MemoryUsers(), MemoryAudit())
    for i in range(9):  # password spraying: one try for each of many names
        pytest.raises(AuthError, acc.login, f"user{i}", PW)
    assert message(lambda: acc.login("admin", WRONG)) == "wrong user name or password"
    # The 10th failure in a row at this workstation: every login here waits 30 s.
    assert message(lambda: acc.login("op", PW)) == \
        "too many failed logins at this workstation: try again in 30 s"
    assert acc.login("op", PW, source="workstation other").role == "operator"
    c.advance(30)
    assert acc.login("op", PW).role == "operator"  # and a success clears it
    for i in range(9):
        pytest.raises(AuthError, acc.login, f"user{i}", PW)
    assert acc.login("op", PW).role == "operator"


def test_failures_far_apart_start_the_count_again():
    acc, c = accounts(MemoryUsers(), MemoryAudit())
    for _ in range(4):
        pytest.raises(AuthError, acc.login, "op", WRONG)
        c.advance(3600)
    c.advance(86400)  # more than the 24 h window after the last failure
    pytest.raises(AuthError, acc.login, "op", WRONG)
    assert acc.repo.get("op").failed_logins == 1 and acc.repo.get("op").locked_until is None


def test_an_administrators_new_password_also_unlocks():
    acc, c = accounts(MemoryUsers(), MemoryAudit())
    for _ in range(5):
        pytest.raises(AuthError, acc.login, "op", WRONG)
    admin = acc.login("admin", PW)
    acc.set_password(admin, "op", "a fresh passphrase for op")
    assert acc.login("op", "a fresh passphrase for op").role == "operator"
    assert acc.audit.entries[-2]["detail"] == "failed-login count (5) cleared"


def test_the_audit_trail_of_a_lock_out_without_a_flood(store):
    engine, audit = store
    acc, c = accounts(DbUsers(engine), audit)
    for _ in range(5):
        pytest.raises(AuthError, acc.login, "op", WRONG)
    for _ in range(20):  # hammering the locked account: audited once, counted
        pytest.raises(LockedOut, acc.login, "op", PW)
    c.advance(30)
    acc.login("op", PW)
    rows = [(r["user"], r["action"], r["result"], r["detail"])
            for r in read_audit_rows(audit, engine) if r["user"] == "op"]
    assert rows[-8:] == [
        ("op", "login", "failed", "wrong user name or password (1 in a row, workstation test)"),
        ("op", "login", "failed", "wrong user name or password (2 in a row, workstation test)"),
        ("op", "login", "failed", "wrong user name or password (3 in a row, workstation test)"),
        ("op", "login", "failed", "wrong user name or password (4 in a row, workstation test)"),
        ("op", "login", "failed", "wrong user name or password (5 in a row, workstation test)"),
        ("op", "login", "locked", "5 failed logins in a row: locked for 30 s"),
        ("op", "login", "refused", "locked after 5 failed logins in a row (locked for 30 s)"),
        ("op", "login", "success", "role operator; after 5 failed logins; 19 more attempts "
                                   "refused while locked")]
    assert severity_of("login", "locked") == "high"
    assert severity_of("login", "failed") == "medium"


def test_lockout_policy_spec():
    p = LockoutPolicy.parse("failures=3,lock=10s,max=5m,limit=0,window=2h,source=20")
    assert (p.failures, p.lock_s, p.max_lock_s, p.hard_limit, p.window_s,
            p.source_failures) == (3, 10, 300, 0, 7200, 20)
    assert LockoutPolicy.parse("") == LockoutPolicy()
    assert not p.hard_locked(10_000)
    with pytest.raises(ValueError, match="'tries=3' is not one of failures="):
        LockoutPolicy.parse("tries=3")
    with pytest.raises(ValueError, match="field 'lock': 'soon' is not a time"):
        LockoutPolicy.parse("lock=soon")
    with pytest.raises(ValueError, match="field 'limit': more than 'failures'"):
        LockoutPolicy.parse("failures=5,limit=3")


def read_audit_rows(audit, engine) -> list[dict]:  # noqa: ANN001
    assert audit.flush()
    return read_audit(engine, limit=1000)[::-1]


def test_gridtwin_run_takes_a_lockout_policy(capsys):
    from app.cli import build_parser

    args = build_parser().parse_args(["run", "--lockout", "failures=3,max=5m"])
    assert (args.lockout.failures, args.lockout.max_lock_s, args.lockout.lock_s) == (3, 300, 30)
    assert build_parser().parse_args(["run"]).lockout is None  # the defaults
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["run", "--lockout", "failures=0"])
    assert exc.value.code == 2
    assert "argument --lockout: --lockout 'failures=0': field 'failures': between 1 and 1000" \
        in capsys.readouterr().err
