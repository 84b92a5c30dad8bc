"""The alarm engine's place in the scan: evaluation after each solve, operators' actions,
commands from the control service (Qt-free; owned by the solver thread).

All engine state changes on one thread: the pipeline's solver worker calls
:meth:`AlarmService.evaluate` after every solve and :meth:`AlarmService.perform` for the
actions the GUI queues to it. Only :meth:`note_command` may be called from any thread (the
control service's): it queues the command, and the next scan hands it to the engine.

Every action is checked here, whatever the GUI showed: acknowledge, shelve and unshelve need
an operator, out-of-service changes an engineer; nobody logged in is a viewer. Each action
is written to the audit log (allowed or refused) and becomes events for the historian.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app.alarms.engine import AlarmEngine, AlarmView, Transition
from app.alarms.log import action_row, transition_row
from app.control.service import AuditSink
from app.control.users import Session, role_at_least
from app.station import clock as wallclock
from app.station.frame import ScanFrame

log = logging.getLogger(__name__)

#: The role each action needs.
ROLE_FOR = {"acknowledge": "operator", "shelve": "operator", "unshelve": "operator",
            "remove_from_service": "engineer", "return_to_service": "engineer"}


@dataclass(frozen=True, slots=True)
class AlarmAction:
    """An operator's request, queued from the GUI to the solver thread."""

    action: str  # a key of ROLE_FOR
    keys: tuple[str, ...]
    session: Session | None
    reason: str = ""
    until: dt.datetime | None = None
    duration: dt.timedelta | None = None
    """Shelving: for how long from when the runtime does it (instead of ``until``)."""


@dataclass(frozen=True, slots=True)
class ActionResult:
    action: str
    ok: bool
    message: str
    user: str
    changed: tuple[str, ...] = ()
    """Keys of the alarms whose state the action changed."""


class AlarmService:
    def __init__(self, engine: AlarmEngine, *, audit: AuditSink | None = None,
                 clock: Callable[[], dt.datetime] = wallclock.now) -> None:
        self.engine = engine
        self.audit = audit
        self.clock = clock
        self._commands: list[tuple[str, bool, dt.datetime]] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ any thread
    def note_command(self, asset_id: str, close: bool, when: dt.datetime) -> None:
        """Thread-safe: an operator command is under way (the control service calls this
        before it operates), so the movement it causes is not annunciated as a trip."""
        with self._lock:
            self._commands.append((asset_id, bool(close), when))

    # ------------------------------------------------------------------ the owning thread
    def evaluate(self, frame: ScanFrame, dead: np.ndarray | None
                 ) -> tuple[list[Transition], list[dict]]:
        """One scan: the transitions and their ``events`` rows."""
        with self._lock:
            commands, self._commands = self._commands, []
        for asset, close, when in commands:
            self.engine.note_command(asset, close, when)
        out = self.engine.evaluate(frame, dead)
        return out, [transition_row(t) for t in out]

    def replace_engine(self, engine: AlarmEngine) -> None:
        """Another engine's state from now on (a drill gone back in time); the commands
        queued for the old one are dropped (they were in the undone future)."""
        with self._lock:
            self._commands = []
        self.engine = engine

    def view(self, now: dt.datetime, transitions: list[Transition]) -> AlarmView | None:
        return self.engine.take_view(now, transitions)

    def perform(self, req: AlarmAction) -> tuple[ActionResult, list[Transition], list[dict]]:
        now = self.clock()
        s = req.session
        user = s.username if s is not None else "(nobody)"
        needed = ROLE_FOR.get(req.action)
        subject = ", ".join(req.keys[:3]) + (f" and {len(req.keys) - 3} more"
                                             if len(req.keys) > 3 else "")
        if needed is None:
            return ActionResult(req.action, False, f"unknown alarm action {req.action!r}",
                                user), [], []
        refusal = None
        if s is None:
            refusal = f"nobody is logged in: a viewer may not {req.action.replace('_', ' ')}"
        elif s.expired(now):
            refusal = f"the session of {s.username} timed out: log in again"
        elif not role_at_least(s.role, needed):
            refusal = (f"{s.username} is a {s.role}; to {req.action.replace('_', ' ')} an "
                       f"alarm needs {'an' if needed[0] in 'aeiou' else 'a'} {needed}")
        if refusal is not None:
            log.warning("alarm action refused: %s (%s)", refusal, subject)
            for key in req.keys:
                self._audit(user, now, key, req.action, "", "", "refused", refusal)
            row = action_row(now, user, req.action, subject,
                             f"{req.action.replace('_', ' ')} of {subject} refused: {refusal}")
            return ActionResult(req.action, False, refusal, user), [], [row]
        s.touch(now)
        eng = self.engine
        transitions: list[Transition] = []
        problems: list[str] = []
        for key in req.keys:
            a = eng.alarms.get(key)
            before = a.state.value if a is not None else ""
            try:
                if req.action == "acknowledge":
                    tr = eng.acknowledge(key, user, now)
                elif req.action == "shelve":
                    until = req.until or (now + req.duration if req.duration else None)
                    if until is None:
                        raise ValueError("shelving needs an expiry")
                    tr = eng.shelve(key, user, req.reason, until, now)
                elif req.action == "unshelve":
                    tr = eng.unshelve(key, user, now)
                elif req.action == "remove_from_service":
                    tr = eng.remove_from_service(key, user, req.reason, now)
                else:
                    tr = eng.return_to_service(key, user, now)
            except (KeyError, ValueError) as exc:
                msg = exc.args[0] if exc.args else str(exc)
                problems.append(f"{key}: {msg}")
                self._audit(user, now, key, req.action, before, before, "refused", msg)
                continue
            transitions += tr
            after = eng.alarms[key].state.value
            self._audit(user, now, key, req.action, before, after,
                        "done" if tr else "no change", req.reason)
        changed = tuple(dict.fromkeys(t.key for t in transitions))
        rows = [transition_row(t) for t in transitions]
        verb = req.action.replace("_", " ")
        if problems and not changed:
            rows.append(action_row(now, user, req.action, subject,
                                   f"{verb} of {subject} refused: {'; '.join(problems)}"))
            return ActionResult(req.action, False, "; ".join(problems), user), [], rows
        msg = f"{user}: {verb} — {len(changed)} alarm{'s' * (len(changed) != 1)}"
        if problems:
            msg += f"; not done: {'; '.join(problems)}"
        return ActionResult(req.action, True, msg, user, changed), transitions, rows

    def report(self, hours: float) -> dict:
        return self.engine.performance_report(self.clock(), hours)

    def _audit(self, user: str, now: dt.datetime, device: str, action: str, before: str,
               after: str, result: str, detail: str = "") -> None:
        if self.audit is None:
            return
        try:
            self.audit.record(user=user, time=now, device=device, action=action,
                              before=before, after=after, result=result, detail=detail)
        except Exception:  # the audit store failing must not lose the action's events
            log.exception("audit record failed for %s %s by %s", action, device, user)
