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

from app.control.audit import AuditSink, MemoryAudit
from app.control.interlocks import Interlocking
from app.control.users import Accounts, AuthError, Session, a_role, role_at_least
from app.station import clock as wallclock
from app.station import quality as Q
from app.station.commands import Commander
from app.station.frame import ScanFrame
from app.station.points import POS_CLOSED, POS_OPEN

log = logging.getLogger(__name__)

__all__ = ["AuditSink", "CommandRefused", "Commander", "ControlService", "MemoryAudit",
           "Outcome", "Selection"]

SELECT_TIMEOUT_S = 30.0


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
    bypassed: tuple[str, ...] = ()
    """The interlocks (their keys) the engineer bypassed at select."""


@dataclass(frozen=True, slots=True)
class Outcome:
    asset_id: str
    close: bool
    ok: bool
    message: str
    elapsed_s: float


_POS_TEXT = {POS_OPEN: "open", POS_CLOSED: "closed"}


def _verb(close: bool) -> str:
    return "close" if close else "open"


class ControlService:
    def __init__(self, interlocking: Interlocking, accounts: Accounts, commander: Commander,
                 audit: AuditSink, latest: Callable[[], tuple[ScanFrame | None,
                                                             Callable[[str], bool]]],
                 *, confirm_timeout_s: float = 20.0, select_timeout_s: float = SELECT_TIMEOUT_S,
                 on_command: Callable[[str, bool, dt.datetime], None] | None = None,
                 clock: Callable[[], dt.datetime] = wallclock.now) -> None:
        """``latest()`` returns the newest ScanFrame and an ``is_live(bus)`` predicate from the
        twin. ``on_command(asset, close, when)`` tells the alarm engine an operator command is
        under way (so the change that follows is not annunciated as a trip)."""
        self.interlocking = interlocking
        self.accounts = accounts
        self.commander = commander
        self.audit = audit
        self.latest = latest
        self.confirm_timeout_s = confirm_timeout_s
        self.select_timeout = dt.timedelta(seconds=select_timeout_s)
        self.on_command = on_command
        self.clock = clock
        self._tokens = itertools.count(1)
        self._selected: dict[int, Selection] = {}
        self._lock = threading.Lock()
        self._abort = threading.Event()

    def abort(self) -> None:
        """The HMI is closing: a command waiting for its confirming scan stops waiting."""
        self._abort.set()

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
        try:
            self.audit.record(user=user, time=self.clock(), device=device, action=action,
                              before=before, after=after, result=result, detail=detail)
        except Exception:  # the audit must never turn a command into a crash
            log.exception("audit record failed: %s %s %s", user, device, action)

    def _require(self, session: Session | None, device: str, action: str) -> Session:
        try:
            return self.accounts.require(session, "operator", self.clock())
        except AuthError as exc:
            self._audit(session.username if session else "(nobody)", device, action, "", "",
                        "refused", str(exc))
            raise

    # ------------------------------------------------------------------ select
    def select(self, session: Session | None, asset_id: str, close: bool, *,
               bypass_reason: str | None = None) -> Selection:
        now = self.clock()
        action = f"select {_verb(close)}"
        session = self._require(session, asset_id, action)
        user = session.username
        frame, is_live = self.latest()
        before = self._position(frame, asset_id)
        if frame is None:
            self._audit(user, asset_id, action, before, "", "refused", "no scan yet")
            raise CommandRefused("no scan received yet: the device position is not known")
        if before == ("closed" if close else "open"):
            self._audit(user, asset_id, action, before, "", "refused", f"already {before}")
            raise CommandRefused(f"{asset_id} is already {before}", add_cause="position-reached")
        locks = self.interlocking.check(asset_id, close, frame, is_live)
        bypassed: tuple[str, ...] = ()
        if locks:
            text = "; ".join(str(x) for x in locks)
            if bypass_reason is None:
                self._audit(user, asset_id, action, before, "", "refused: interlock", text)
                raise CommandRefused(f"interlocked — {text}", interlocks=tuple(locks))
            if not role_at_least(session.role, "engineer"):
                self._audit(user, asset_id, "interlock bypass", before, "", "refused",
                            f"{text} — a bypass needs an engineer ({user} is "
                            f"{a_role(session.role)})")
                raise AuthError(f"{session.username} is {a_role(session.role)}; "
                                "an interlock bypass needs an engineer")
            if len(bypass_reason.strip()) < 10:
                self._audit(user, asset_id, "interlock bypass", before, "", "refused",
                            f"{text} — no written reason")
                raise ValueError("a bypass needs a written reason (at least 10 characters)")
            bypassed = tuple(x.key for x in locks)
            log.warning("interlock bypass by %s on %s %s: %s — reason: %s", user, asset_id,
                        _verb(close), text, bypass_reason)
            self._audit(user, asset_id, "interlock bypass", before, "", "granted",
                        f"{text} — reason: {bypass_reason.strip()}")
        r = self.commander.select(asset_id, close)
        if not r.ok:
            self._audit(user, asset_id, action, before, "", "refused by device",
                        f"AddCause {r.add_cause or 'none'}: {r.message}")
            raise CommandRefused(f"{asset_id}: select refused by the bay device — "
                                 f"{r.add_cause or 'no cause given'}"
                                 + (f" ({r.message})" if r.message else ""),
                                 add_cause=r.add_cause)
        sel = Selection(next(self._tokens), asset_id, close, user, now,
                        (bypass_reason or "").strip(), bypassed)
        with self._lock:
            self._selected[sel.token] = sel
        self._audit(user, asset_id, action, before, "", "selected",
                    f"bypass: {sel.bypass_reason}" if bypassed else "")
        return sel

    def cancel(self, session: Session | None, sel: Selection) -> None:
        session = self._require(session, sel.asset_id, "cancel")
        with self._lock:
            live = self._selected.get(sel.token)
            if live is not None and live.user != session.username:
                live = None
            else:
                self._selected.pop(sel.token, None)
        if live is None:
            self._audit(session.username, sel.asset_id, "cancel", "", "", "refused",
                        "no such selection")
            raise CommandRefused("no such selection (cancelled, used, or someone else's)")
        self.commander.cancel(sel.asset_id)
        self._audit(session.username, sel.asset_id, "cancel", "", "", "cancelled",
                    f"selection to {_verb(sel.close)}")

    # ------------------------------------------------------------------ operate
    def operate(self, session: Session | None, sel: Selection) -> Outcome:
        now = self.clock()
        want = "closed" if sel.close else "open"
        action = f"operate {_verb(sel.close)}"
        session = self._require(session, sel.asset_id, action)
        user = session.username
        with self._lock:
            live = self._selected.get(sel.token)
            if live is not None and live.user == user:
                self._selected.pop(sel.token)
            else:
                live = None
        if live is None:
            self._audit(user, sel.asset_id, action, "", "", "refused", "no such selection")
            raise CommandRefused("no such selection (cancelled, used, or someone else's)")
        if now - sel.at > self.select_timeout:
            self.commander.cancel(sel.asset_id)
            secs = self.select_timeout.total_seconds()
            self._audit(user, sel.asset_id, action, "", "", "refused",
                        f"selection expired after {secs:g} s")
            raise CommandRefused(f"selection of {sel.asset_id} expired ({secs:g} s): "
                                 "select again", add_cause="time-limit-over")
        frame, is_live = self.latest()
        before = self._position(frame, sel.asset_id)
        seq0 = frame.seq if frame is not None else -1
        if before == want:  # it got there meanwhile, by other means: nothing to do
            self.commander.cancel(sel.asset_id)
            self._audit(user, sel.asset_id, action, before, before, "refused",
                        f"already {before}")
            raise CommandRefused(f"{sel.asset_id} is already {before}",
                                 add_cause="position-reached")
        # The selection may be up to the select timeout old: the station may have changed.
        locks = self.interlocking.check(sel.asset_id, sel.close, frame, is_live) \
            if frame is not None else []
        new = [x for x in locks if x.key not in sel.bypassed]
        if new:
            text = "; ".join(str(x) for x in new)
            self.commander.cancel(sel.asset_id)
            self._audit(user, sel.asset_id, action, before, before, "refused: interlock",
                        f"at operate: {text}")
            raise CommandRefused(f"interlocked at operate — {text}", interlocks=tuple(new))
        if self.on_command is not None:
            try:
                self.on_command(sel.asset_id, sel.close, now)
            except Exception:
                log.exception("on_command hook failed for %s", sel.asset_id)
        t0 = time.monotonic()
        r = self.commander.operate(sel.asset_id, sel.close)
        if not r.ok:
            self._audit(user, sel.asset_id, action, before, before, "refused by device",
                        f"AddCause {r.add_cause or 'none'}: {r.message}")
            raise CommandRefused(f"{sel.asset_id}: operate refused by the bay device — "
                                 f"{r.add_cause or 'no cause given'}"
                                 + (f" ({r.message})" if r.message else ""),
                                 add_cause=r.add_cause)
        deadline = t0 + self.confirm_timeout_s
        after = before
        bypass = f"; bypass: {sel.bypass_reason}" if sel.bypass_reason else ""
        while True:
            frame, _ = self.latest()
            after = self._position(frame, sel.asset_id)
            el = time.monotonic() - t0
            if after == want and frame.seq > seq0:  # a scan after the command shows it
                self._audit(user, sel.asset_id, action, before, after, "success",
                            f"confirmed by scan after {el:.2f} s" + bypass)
                return Outcome(sel.asset_id, sel.close, True,
                               f"{sel.asset_id} {want}, confirmed by scan in {el:.1f} s", el)
            term = self.commander.termination(sel.asset_id)
            if term is not None and not term.ok:
                self._audit(user, sel.asset_id, action, before, after, "failed",
                            f"negative command termination after {el:.2f} s: AddCause "
                            f"{term.add_cause or 'none'}: {term.message}" + bypass)
                raise CommandRefused(f"{sel.asset_id}: command terminated by the bay device — "
                                     f"{term.add_cause or 'no cause given'}"
                                     + (f" ({term.message})" if term.message else ""),
                                     add_cause=term.add_cause)
            if time.monotonic() >= deadline:
                break
            if self._abort.wait(0.05):
                self._audit(user, sel.asset_id, action, before, after, "unconfirmed",
                            "the HMI closed before a scan confirmed the new position")
                raise CommandRefused(f"{sel.asset_id}: not confirmed (the HMI is closing)")
        self._audit(user, sel.asset_id, action, before, after, "failed",
                    f"no new position within {self.confirm_timeout_s:g} s" + bypass)
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
