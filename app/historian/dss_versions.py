"""Circuit (DSS) model versions: store, diff, validate, activate, roll back.

A new version is stored inactive. Activation first runs the validator it is given — in the
HMI, :func:`app.twin.validate.validate_circuit_text`, which compiles and solves the text in a
scratch OpenDSS engine — and refuses with that validator's message (OpenDSS's own words); the
active version then stays as it was. Every activation is written to the audit log, which is
also how :meth:`DssVersionStore.rollback` knows what was active before.
"""

from __future__ import annotations

import datetime as dt
import difflib
import time
import uuid
from collections.abc import Callable

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.orm import Session

from app.historian.models import AuditLog, DssVersion

Validator = Callable[[str], object]


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
                           created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
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

    def activate(self, number: int, *, by: str, validate: Validator) -> DssVersion:
        v = self.get(number)
        try:
            validate(v.content)
        except Exception as exc:  # the validator's own words (OpenDSS's message)
            self._audit(by, f"version {number}", "activate", "refused", str(exc))
            raise DssVersionError(f"version {number} refused: {exc}") from None
        before = self.active()
        with self.engine.begin() as con:
            con.execute(update(DssVersion).values(is_active=False))
            con.execute(update(DssVersion).where(DssVersion.version_number == number)
                        .values(is_active=True))
        self._audit(by, f"version {number}", "activate", "success",
                    f"was {before.version_number if before else 'none'}")
        return self.get(number)

    def rollback(self, *, by: str, validate: Validator) -> DssVersion:
        """Activate again the version that was active before the current one."""
        with Session(self.engine) as s:
            acts = list(s.scalars(select(AuditLog).where(
                AuditLog.action == "activate", AuditLog.result == "success")
                .order_by(AuditLog.audit_id.desc())))
        current = self.active()
        for a in acts:
            n = int(a.device.split()[-1])
            if current is None or n != current.version_number:
                return self.activate(n, by=by, validate=validate)
        raise DssVersionError("nothing to roll back to")

    def _audit(self, user: str, device: str, action: str, result: str, detail: str) -> None:
        with self.engine.begin() as con:
            con.execute(insert(AuditLog).values(time_ms=int(time.time() * 1000), user=user,
                                                device=device, action=action, result=result,
                                                detail=detail))
