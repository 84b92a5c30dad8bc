"""Circuit (DSS) model versions: store, diff, validate, activate, roll back.

A new version is stored inactive. Activation first runs the validator it is given — in the
HMI, :func:`app.twin.validate.validate_circuit_text`, which compiles and solves the text in a
scratch OpenDSS engine — and refuses with that validator's message (OpenDSS's own words); the
active version then stays as it was. Every activation and roll-back is written to the audit
log, which is also the history :meth:`DssVersionStore.rollback` walks back: with versions 1,
2 and 3 activated in turn, one roll-back makes 2 active, the next 1.

The active version is the circuit the twin compiles: :meth:`DssVersionStore.materialise`
writes its text to a file (``<data dir>/<station id>.active.dss``, see
:func:`app.historian.active_circuit`) for the solver to open. A stored version must be
self-contained (no ``Redirect`` to files beside it) — validation compiles it alone, too.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from app.historian.audit_chain import chain_for
from app.historian.models import AuditLog, DssVersion
from app.station import clock

Validator = Callable[[str], object]

log = logging.getLogger(__name__)
_DEVICE = re.compile(r"version (\d+)")


class DssVersionError(ValueError):
    pass


class DssVersionStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, content: str, *, created_by: str, description: str = "") -> DssVersion:
        if not content.strip():
            raise DssVersionError("a circuit version cannot be empty")
        with Session(self.engine) as s, s.begin():
            n = (s.scalar(select(func.max(DssVersion.version_number))) or 0) + 1
            v = DssVersion(version_id=str(uuid.uuid4()), version_number=n, content=content,
                           created_by=created_by, description=description, is_active=False,
                           created_at=clock.now().isoformat(timespec="seconds"))
            s.add(v)
        return self.get(n)

    def get(self, number: int) -> DssVersion:
        with Session(self.engine) as s:
            v = s.scalar(select(DssVersion).where(DssVersion.version_number == number))
            if v is None:
                raise DssVersionError(f"no circuit version {number}")
            s.expunge(v)
            return v

    def versions(self) -> list[DssVersion]:
        with Session(self.engine) as s:
            out = list(s.scalars(select(DssVersion).order_by(DssVersion.version_number)))
            for v in out:
                s.expunge(v)
            return out

    def active(self) -> DssVersion | None:
        with Session(self.engine) as s:
            v = s.scalar(select(DssVersion).where(DssVersion.is_active.is_(True)))
            if v is not None:
                s.expunge(v)
            return v

    def diff(self, a: int, b: int) -> str:
        va, vb = self.get(a), self.get(b)
        return "".join(difflib.unified_diff(
            va.content.splitlines(keepends=True), vb.content.splitlines(keepends=True),
            fromfile=f"version {a}", tofile=f"version {b}"))

    def activate(self, number: int, *, by: str, validate: Validator,
                 _action: str = "activate") -> DssVersion:
        v = self.get(number)
        try:
            validate(v.content)
        except Exception as exc:  # the validator's own words (OpenDSS's message)
            self._audit(by, f"version {number}", _action, "refused", str(exc))
            raise DssVersionError(f"version {number} refused: {exc}") from None
        before = self.active()
        if before is not None and before.version_number == number and _action == "activate":
            return v  # already the active version: nothing changes, nothing to undo later
        with self.engine.begin() as con:
            con.execute(update(DssVersion).values(is_active=False))
            con.execute(update(DssVersion).where(DssVersion.version_number == number)
                        .values(is_active=True))
        self._audit(by, f"version {number}", _action, "success",
                    f"was {before.version_number if before else 'none'}")
        return self.get(number)

    def history(self) -> list[int]:
        """The activation stack, oldest first, its top the active version: each activation
        pushes its version, each roll-back pops one (replayed from the audit log)."""
        with Session(self.engine) as s:
            acts = list(s.scalars(select(AuditLog).where(
                AuditLog.action.in_(("activate", "rollback")), AuditLog.result == "success")
                .order_by(AuditLog.audit_id)))
        stack: list[int] = []
        for a in acts:
            m = _DEVICE.fullmatch(a.device)
            if m is None:
                continue
            n = int(m.group(1))
            if a.action == "rollback":
                if stack:
                    stack.pop()
                if not stack or stack[-1] != n:  # an old log, or an edited one: follow it
                    stack.append(n)
            elif not stack or stack[-1] != n:
                stack.append(n)
        return stack

    def rollback(self, *, by: str, validate: Validator) -> DssVersion:
        """Make active again the version that was active before the current one; repeated,
        it walks the activation history back (3 → 2 → 1)."""
        stack = self.history()
        if len(stack) < 2:
            raise DssVersionError("nothing to roll back to: no earlier version was active")
        return self.activate(stack[-2], by=by, validate=validate, _action="rollback")

    def materialise(self, path: str | Path) -> Path | None:
        """Write the active version's text to ``path`` (only when it changed; atomically) and
        return it; None when no version is active."""
        v = self.active()
        if v is None:
            return None
        path = Path(path)
        try:
            if path.exists() and path.read_text(encoding="utf-8") == v.content:
                return path
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(v.content, encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            raise DssVersionError(f"{path}: cannot write the active circuit version "
                                  f"{v.version_number}: {exc.strerror}") from None
        log.info("active circuit: version %d (%s)", v.version_number, path)
        return path

    def _audit(self, user: str, device: str, action: str, result: str, detail: str) -> None:
        # In the audit log's hash chain, like every other audit row (app.historian.audit_chain)
        chain_for(self.engine).write([{"time_ms": int(clock.time() * 1000), "user": user,
                                       "device": device, "action": action, "before": None,
                                       "after": None, "result": result,
                                       "detail": detail or None}])
