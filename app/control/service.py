"""The control service: select-before-operate with roles, interlocks and audit.

::

    select(session, asset, close)   role ≥ operator; station interlocks (or an engineer's
                                    written bypass); the field device's select (SBO with
                                    enhanced security over IEC 61850) → a Selection
    operate(session, selection)     the operator confirmed on the faceplate → operate →
                                    success only when a later scan shows the new position;
                                    a refused select, a negative command termination (its
                                    AddCause) or no movement within the timeout is a failure
    cancel(session, selection)

Runs on a worker thread (``operate`` waits for the confirming scan); never on the GUI thread.
The role is checked here, so a viewer is refused even when the UI is bypassed.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from app.control.interlocks import Interlocking
from app.control.users import Accounts, AuthError, Session, role_at_least
from app.field import quality as Q
from app.field.frame import ScanFrame
from app.field.points import POS_CLOSED, POS_OPEN
from app.field.sim.api import ControlResult

log = logging.getLogger(__name__)

SELECT_TIMEOUT = dt.timedelta(seconds=30)


class Commander(Protocol):
    """The poller's write path to the field device (IEC 61850 SBO or Modbus commands)."""

    def select(self, asset_id: str, close: bool) -> ControlResult: ...
    def operate(self, asset_id: str, close: bool) -> ControlResult: ...
    def cancel(self, asset_id: str) -> None: ...


class AuditSink(Protocol):
    def record(self, *, user: str, time: dt.datetime, device: str, action: str,
               before: str, after: str, result: str, detail: str = "") -> None: ...


class MemoryAudit:
    def __init__(self) -> None:
        self.entries: list[dict] = []
        self._lock = threading.Lock()

    def record(self, **entry: object) -> None:
        with self._lock:
            self.entries.append(dict(entry))


class CommandRefused(Exception):
    """A command that was not carried out, with why (an interlock, an AddCause, a timeout)."""

    def __init__(self, message: str, *, add_cause: str = "", interlocks: tuple = ()) -> None:
        super().__init__(message)
        self.add_cause = add_cause
        self.interlocks = interlocks


@dataclass(frozen=True, slots=True)
class Selection:
    token: int
    asset_id: str
    close: bool
    user: str
    at: dt.datetime
    bypass_reason: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    asset_id: str
    close: bool
    ok: bool
    message: str
    elapsed_s: float


_POS_TEXT = {POS_OPEN: "open", POS_CLOSED: "closed"}


class ControlService:
    def __init__(self, interlocking: Interlocking, accounts: Accounts, commander: Commander,
                 audit: AuditSink, latest: Callable[[], tuple[ScanFrame | None,
                                                             Callable[[str], bool]]],
                 *, confirm_timeout_s: float = 20.0,
                 on_command: Callable[[str, dt.datetime], None] | None = None,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        """``latest()`` returns the newest ScanFrame and an ``is_live(bus)`` predicate from the
        twin. ``on_command`` tells the alarm engine an operator command is under way."""
        self.interlocking = interlocking
        self.accounts = accounts
        self.commander = commander
        self.audit = audit
        self.latest = latest
        self.confirm_timeout_s = confirm_timeout_s
        self.on_command = on_command
        self.clock = clock
        self._tokens = itertools.count(1)
        self._selected: dict[int, Selection] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ helpers
    def _position(self, frame: ScanFrame | None, asset_id: str) -> str:
        if frame is None:
            return "unknown"
        i = frame.points.index.get(f"{asset_id}.POS")
        if i is None:
            return "unknown"
        if not Q.is_good(int(frame.quality[i])):
            return Q.describe(int(frame.quality[i]))
        return _POS_TEXT.get(int(round(float(frame.values[i]))), "intermediate")

    def _audit(self, user: str, device: str, action: str, before: str, after: str,
               result: str, detail: str = "") -> None:
        self.audit.record(user=user, time=self.clock(), device=device, action=action,
                          before=before, after=after, result=result, detail=detail)

    # ------------------------------------------------------------------ select
    def select(self, session: Session | None, asset_id: str, close: bool, *,
               bypass_reason: str | None = None) -> Selection:
        now = self.clock()
        action = f"select {'close' if close else 'open'}"
        user = session.username if session else "(nobody)"
        try:
            self.accounts.require(session, "operator", now)
        except AuthError as exc:
            self._audit(user, asset_id, action, "", "", "refused", str(exc))
            raise
        frame, is_live = self.latest()
        before = self._position(frame, asset_id)
        if frame is None:
            self._audit(user, asset_id, action, before, "", "refused", "no scan yet")
            raise CommandRefused("no scan received yet: the device position is not known")
        locks = self.interlocking.check(asset_id, close, frame, is_live)
        if locks:
            if bypass_reason is None:
                text = "; ".join(str(x) for x in locks)
                self._audit(user, asset_id, action, before, "", "refused: interlock", text)
                raise CommandRefused(f"interlocked — {text}", interlocks=tuple(locks))
            if not role_at_least(session.role, "engineer"):
                self._audit(user, asset_id, action, before, "", "refused",
                            "interlock bypass needs an engineer")
                raise AuthError(f"{session.username} is a {session.role}; "
                                "an interlock bypass needs an engineer")
            if len(bypass_reason.strip()) < 10:
                raise ValueError("a bypass needs a written reason (at least 10 characters)")
            self._audit(user, asset_id, "interlock bypass", before, "", "granted",
                        f"{'; '.join(str(x) for x in locks)} — reason: {bypass_reason}")
        r = self.commander.select(asset_id, close)
        if not r.ok:
            self._audit(user, asset_id, action, before, "", "refused by device",
                        f"AddCause {r.add_cause}: {r.message}")
            raise CommandRefused(f"{asset_id}: select refused by the bay device — "
                                 f"{r.add_cause or 'no cause given'}"
                                 + (f" ({r.message})" if r.message else ""),
                                 add_cause=r.add_cause)
        sel = Selection(next(self._tokens), asset_id, close, session.username, now,
                        bypass_reason or "")
        with self._lock:
            self._selected[sel.token] = sel
        self._audit(user, asset_id, action, before, "", "selected")
        return sel

    def cancel(self, session: Session | None, sel: Selection) -> None:
        with self._lock:
            self._selected.pop(sel.token, None)
        self.commander.cancel(sel.asset_id)
        self._audit(sel.user, sel.asset_id, "cancel", "", "", "cancelled")

    # ------------------------------------------------------------------ operate
    def operate(self, session: Session | None, sel: Selection) -> Outcome:
        now = self.clock()
        want = "closed" if sel.close else "open"
        action = f"operate {'close' if sel.close else 'open'}"
        self.accounts.require(session, "operator", now)
        with self._lock:
            live = self._selected.pop(sel.token, None)
        if live is None or session.username != sel.user:
            raise CommandRefused("no such selection (cancelled, used, or someone else's)")
        if now - sel.at > SELECT_TIMEOUT:
            self._audit(sel.user, sel.asset_id, action, "", "", "refused", "selection expired")
            raise CommandRefused(f"selection of {sel.asset_id} expired "
                                 f"({SELECT_TIMEOUT.seconds} s): select again")
        frame, _ = self.latest()
        before = self._position(frame, sel.asset_id)
        if self.on_command is not None:
            self.on_command(sel.asset_id, now)
        t0 = time.monotonic()
        r = self.commander.operate(sel.asset_id, sel.close)
        if not r.ok:
            self._audit(sel.user, sel.asset_id, action, before, before, "failed",
                        f"AddCause {r.add_cause}: {r.message}")
            raise CommandRefused(f"{sel.asset_id}: operate refused — "
                                 f"{r.add_cause or 'no cause given'}"
                                 + (f" ({r.message})" if r.message else ""),
                                 add_cause=r.add_cause)
        deadline = t0 + self.confirm_timeout_s
        after = before
        while time.monotonic() < deadline:
            frame, _ = self.latest()
            after = self._position(frame, sel.asset_id)
            if after == want:
                el = time.monotonic() - t0
                self._audit(sel.user, sel.asset_id, action, before, after, "success",
                            f"confirmed by scan after {el:.2f} s"
                            + (f"; bypass: {sel.bypass_reason}" if sel.bypass_reason else ""))
                return Outcome(sel.asset_id, sel.close, True, f"{sel.asset_id} {want}", el)
            time.sleep(0.05)
        el = time.monotonic() - t0
        self._audit(sel.user, sel.asset_id, action, before, after, "failed",
                    f"no new position within {self.confirm_timeout_s:g} s")
        raise CommandRefused(f"{sel.asset_id} did not reach '{want}' within "
                             f"{self.confirm_timeout_s:g} s (still {after})",
                             add_cause="time-limit-over")

    # ------------------------------------------------------------------ alarm actions
    def audit_alarm_action(self, session: Session | None, action: str, key: str,
                           detail: str = "") -> None:
        """Acknowledge / shelve / unshelve, checked and logged like a command."""
        now = self.clock()
        needed = "operator" if action in ("acknowledge", "shelve", "unshelve") else "engineer"
        self.accounts.require(session, needed, now)
        self._audit(session.username, key, action, "", "", "done", detail)
