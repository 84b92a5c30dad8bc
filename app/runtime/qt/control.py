"""Control and accounts on their own threads, for the GUI.

::

    GUI thread                     "control" thread                  poller thread (asyncio)
    faceplate ─ select/operate ──► ControlService (roles,      ──►  MMS SBO / RTU coils
                                   interlocks, SBO, confirm          (run_coroutine_threadsafe)
              ◄── done(result) ──  by a later scan, audit)
                                   "accounts" thread
    login / first-run / lock  ──►  Accounts (scrypt, users table, audit)
              ◄── done(result) ──

Nothing here runs on the GUI thread but the callbacks: every service call, scrypt hash and
SQL statement runs as a job on a job runner's managed thread (:mod:`app.runtime.qt.jobs`),
and its result (or exception) comes back to the GUI thread through a queued Qt signal. Accounts get their own thread so that logging in
is never stuck behind an operate that waits up to 20 s for its confirming scan.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from app.alarms.changes import Event
from app.control.audit import AuditSink, event_row
from app.control.interlocks import Interlocking
from app.control.service import SELECT_TIMEOUT_S, ControlService, Outcome, Selection
from app.control.users import Accounts, Session
from app.runtime.qt.jobs import Done, JobRunner
from app.runtime.qt.pipeline import Pipeline
from app.station import Station
from app.station.commands import Commander

log = logging.getLogger(__name__)

class _LiveAudit:
    """The audit sink, which also shows each entry in the live event log."""

    def __init__(self, sink: AuditSink, emit: Callable[[list[Event]], None]) -> None:
        self.sink, self.emit = sink, emit

    def record(self, *, user: str, time: dt.datetime, device: str, action: str,
               before: str = "", after: str = "", result: str, detail: str = "") -> None:
        self.sink.record(user=user, time=time, device=device, action=action, before=before,
                         after=after, result=result, detail=detail)
        row = event_row({"user": user, "time_ms": int(time.timestamp() * 1000),
                         "device": device, "action": action, "before": before, "after": after,
                         "result": result, "detail": detail})
        self.emit([Event(time, row["event_type"], device, device, row["message"],
                         row["severity"], before, after)])


class ControlRuntime(QObject):
    """The control service and the accounts, each on its thread; :meth:`stop` on close."""

    events_ready = Signal(object)  # list[Event]: commands and user actions, for the event log

    def __init__(self, station: Station, pipeline: Pipeline, accounts: Accounts,
                 audit: AuditSink, *, confirm_timeout_s: float = 20.0,
                 select_timeout_s: float = SELECT_TIMEOUT_S,
                 commander: Commander | None = None) -> None:
        """``commander``: the write path (default: the one the pipeline's frame source makes,
        with this select timeout)."""
        super().__init__()
        self.station = station
        self.pipeline = pipeline
        self.audit = _LiveAudit(audit, self.events_ready.emit)
        accounts.audit = self.audit
        self.accounts = accounts
        self.commander = commander or pipeline.source.commander(
            pipeline.submit, select_timeout_s=select_timeout_s)
        self.service = ControlService(
            Interlocking(station, pipeline.switch_ends), accounts, self.commander, self.audit,
            pipeline.latest, confirm_timeout_s=confirm_timeout_s,
            select_timeout_s=select_timeout_s, on_command=pipeline.note_command)
        # Two job runners: commands in order on one, accounts on the other, so that logging
        # in is never stuck behind an operate that waits up to 20 s for its confirming scan.
        self.control = JobRunner("control")
        self.auth = JobRunner("accounts")
        self._started = False

    @property
    def timeout(self) -> dt.timedelta:
        return self.accounts.timeout

    def path(self, asset_id: str) -> str | None:
        """The command path to the device (None: it cannot be commanded)."""
        return self.commander.path(asset_id)

    def start(self) -> None:
        if not self._started:
            self.control.start()
            self.auth.start()
            self._started = True

    def stop(self) -> bool:
        if not self._started:
            return True
        self.service.abort()
        ok = self.control.stop() and self.auth.stop()
        self._started = False
        return ok

    # ------------------------------------------------------------------ commands
    def select(self, session: Session | None, asset_id: str, close: bool,
               done: Done[Selection], *,
               bypass_reason: str | None = None) -> None:
        self.control.call("select", lambda: self.service.select(session, asset_id, close,
                                                        bypass_reason=bypass_reason), done)

    def operate(self, session: Session | None, sel: Selection, done: Done[Outcome]) -> None:
        self.control.call("operate", lambda: self.service.operate(session, sel), done)

    def cancel(self, session: Session | None, sel: Selection,
               done: Done[None] | None = None) -> None:
        self.control.call("cancel", lambda: self.service.cancel(session, sel), done)

    # ------------------------------------------------------------------ accounts
    def needs_first_admin(self, done: Done[bool]) -> None:
        self.auth.call("needs first admin", self.accounts.needs_first_admin, done)

    def create_first_admin(self, username: str, password: str, done: Done[Session]) -> None:
        def go() -> Session:
            self.accounts.create_first_admin(username, password)
            return self.accounts.login(username, password)

        self.auth.call("accounts", go, done)

    def login(self, username: str, password: str, done: Done[Session]) -> None:
        self.auth.call("login", lambda: self.accounts.login(username, password), done)

    def logout(self, session: Session, reason: str = "", done: Done[None] | None = None
               ) -> None:
        self.auth.call("logout", lambda: self.accounts.logout(session, reason), done)

    def lock(self, session: Session, done: Done[None] | None = None) -> None:
        self.auth.call("lock", lambda: self.accounts.lock(session), done)

    # ------------------------------------------------------------------ user administration
    # Each runs on the accounts thread and is checked there: only an administrator's live
    # session may list or change users, whatever the window offers (refusals are audited).
    def list_users(self, session: Session | None, done: Done[list[UserRow]]) -> None:
        def go() -> list[UserRow]:
            now = self.accounts.clock()
            self.accounts.require(session, "admin", now)
            rows = []
            for u in sorted(self.accounts.users(), key=lambda u: u.username):
                st = self.accounts.lock_state(u, now)
                rows.append(UserRow(u.username, u.role, u.disabled, u.last_login, st.failed,
                                    st.locked, st.until if st.locked else None))
            return rows

        self.auth.call("accounts", go, done)

    def unlock_user(self, session: Session | None, username: str, done: Done[None]) -> None:
        self.auth.call("unlock", lambda: self.accounts.unlock(session, username), done)

    def create_user(self, session: Session | None, username: str, password: str, role: str,
                    done: Done[None]) -> None:
        self.auth.call("create user", lambda: self.accounts.create_user(session, username, password, role),
                         done)

    def set_role(self, session: Session | None, username: str, role: str,
                 done: Done[None]) -> None:
        self.auth.call("set role", lambda: self.accounts.set_role(session, username, role), done)

    def set_password(self, session: Session | None, username: str, password: str,
                     done: Done[None]) -> None:
        self.auth.call("set password", lambda: self.accounts.set_password(session, username, password), done)

    def set_disabled(self, session: Session | None, username: str, disabled: bool,
                     done: Done[None]) -> None:
        self.auth.call("set disabled", lambda: self.accounts.set_disabled(session, username, disabled), done)


@dataclass(frozen=True, slots=True)
class UserRow:
    """What the users window shows of an account (never its password hash)."""

    username: str
    role: str
    disabled: bool
    last_login: dt.datetime | None
    failed_logins: int = 0
    locked: bool = False
    locked_until: dt.datetime | None = None  # None while locked: until an administrator unlocks
