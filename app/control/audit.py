"""The audit log: who did what to which device, when, before and after, and how it ended.

:class:`DbAudit` keeps it in the configuration store's ``audit_log`` table. ``record`` never
blocks and never runs SQL on the caller's thread (the GUI may call it): entries go to a queue
that the ``audit-writer`` thread writes, in order, within a fraction of a second. If the
database fails the entries are held (bounded) and retried, with one log line per outage, so
a full disk never loses the trail silently. Each entry is also mirrored into the event log
(``Historian.submit_events``, itself non-blocking) so commands and user actions appear in
the sequence of events: event type ``control`` for commands and bypasses, ``user`` for
logins and changes to users, ``audit`` for anything else (an alarm acknowledgement, say);
``record(..., mirror=False)`` skips the mirror for entries already logged as events.

**Tamper-evident.** Rows are appended in a hash chain (:mod:`app.historian.audit_chain`: a
number and an HMAC-SHA-256 per row over its content and the previous row's hash, the key in
a ``0600`` file beside the database, the newest head also in an anchor file):
:meth:`DbAudit.verify` and ``gridtwin audit --verify`` find a row deleted, edited or inserted
with SQL, and rows cut off the end. Texts are stored as given except NUL characters (which
PostgreSQL refuses), replaced by U+FFFD so one odd user name cannot stop the writer.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import deque
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from app.historian.audit_chain import ChainWriter, Report, chain_for, verify
from app.historian.models import AuditLog

log = logging.getLogger(__name__)


class AuditSink(Protocol):
    def record(self, *, user: str, time: dt.datetime, device: str, action: str,
               before: str, after: str, result: str, detail: str = "") -> None: ...


class EventSink(Protocol):
    def submit_events(self, events: list[dict]) -> None: ...


class MemoryAudit:
    def __init__(self) -> None:
        self.entries: list[dict] = []
        self._lock = threading.Lock()

    def record(self, **entry: object) -> None:
        entry.pop("mirror", None)
        with self._lock:
            self.entries.append(dict(entry))


_CONTROL = ("select", "operate", "cancel", "interlock bypass")
_USER = ("login", "logout", "session", "create", "set ", "disable", "enable", "change pass",
         "unlock")
_LIMITS = {"user": 64, "device": 96, "action": 48, "before": 64, "after": 64, "result": 48}


def event_type_of(action: str) -> str:
    if action.startswith(_CONTROL):
        return "control"
    if action.startswith(_USER):
        return "user"
    return "audit"


def severity_of(action: str, result: str) -> str:
    if action == "interlock bypass" and result == "granted":
        return "high"
    if action == "login" and result == "locked":  # repeated failed logins: someone guessing?
        return "high"
    if result.startswith(("refused", "failed")):
        return "medium"
    return "low"


def event_row(entry: dict) -> dict:
    """The ``events`` row mirroring one audit entry."""
    kind = event_type_of(entry["action"])
    device = entry["device"]
    text = f"{entry['user']}: {entry['action']} {device} — {entry['result']}"
    if entry.get("detail"):
        text += f" ({entry['detail']})"
    return {"event_type": kind, "asset_id": device[:64] if kind == "control" else None,
            "severity": severity_of(entry["action"], entry["result"]), "message": text,
            "time_ms": entry["time_ms"], "before": entry.get("before") or None,
            "after": entry.get("after") or None, "state": entry["result"][:48]}


class DbAudit:
    """Audit entries in ``audit_log``, written by its own thread; :meth:`close` when done."""

    def __init__(self, engine: Engine, *, events: EventSink | None = None,
                 max_pending: int = 100_000, retry_s: float = 2.0,
                 key_path: str | Path | None = None,
                 anchor_path: str | Path | None = None) -> None:
        self.engine = engine
        if key_path is None and anchor_path is None:
            self.chain = chain_for(engine)
        else:
            self.chain = ChainWriter(engine, key_path=Path(key_path) if key_path else None,
                                     anchor_path=Path(anchor_path) if anchor_path else None)
        self.chain.key  # noqa: B018 - a key that cannot be made is one clear error, now
        self.events = events
        self.max_pending = max_pending
        self.retry_s = retry_s
        self.written = 0
        self.lost = 0
        self.last_error = ""
        self._pending: deque[dict] = deque()
        self._cv = threading.Condition()
        self._busy = False
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ writing
    def record(self, *, user: str, time: dt.datetime, device: str, action: str,
               before: str = "", after: str = "", result: str, detail: str = "",
               mirror: bool = True) -> None:
        """Queue one entry (any thread; never blocks, never raises on a database fault)."""
        if time.tzinfo is None:
            raise ValueError("field 'time': an audit time must be timezone-aware (UTC)")
        row = {"time_ms": int(round(time.timestamp() * 1000)), "user": user, "device": device,
               "action": action, "before": before or "", "after": after or "",
               "result": result, "detail": detail or ""}
        for k, n in _LIMITS.items():
            row[k] = str(row[k]).replace("\0", "\ufffd")[:n]
        row["detail"] = row["detail"].replace("\0", "\ufffd")
        with self._cv:
            self._pending.append(row)
            over = len(self._pending) - self.max_pending
            for _ in range(max(0, over)):
                self._pending.popleft()
                self.lost += 1
            self._cv.notify()
        if mirror and self.events is not None:
            try:
                self.events.submit_events([event_row(row)])
            except Exception:
                log.exception("audit entry not mirrored into the event log")

    def _run(self) -> None:
        failing = False
        while True:
            with self._cv:
                while not self._pending and not self._stop:
                    self._cv.wait()
                if not self._pending and self._stop:
                    return
                batch = list(self._pending)
                self._busy = True
            try:
                with self.engine.begin() as con:
                    head = self.chain.append(con, [
                        {k: (v or None) if k in ("before", "after", "detail") else v
                         for k, v in r.items()} for r in batch])
                self.chain.note_committed(*head, batch[-1]["time_ms"])
            except SQLAlchemyError as exc:
                self.last_error = str(exc).splitlines()[0]
                if not failing:
                    log.error("audit log cannot be written (entries kept, retrying): %s",
                              self.last_error)
                failing = True
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()
                    if self._stop:
                        log.error("audit log: %d entries not written at shutdown",
                                  len(self._pending))
                        return
                    self._cv.wait(self.retry_s)
                continue
            if failing:
                log.warning("audit log written again")
                failing = False
                self.last_error = ""
            with self._cv:
                for _ in batch:
                    self._pending.popleft()
                self.written += len(batch)
                self._busy = False
                self._cv.notify_all()

    @property
    def pending(self) -> int:
        with self._cv:
            return len(self._pending)

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued entry is written (True) or the timeout passes."""
        with self._cv:
            return self._cv.wait_for(lambda: not self._pending and not self._busy, timeout_s)

    def close(self, timeout_s: float = 10.0) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        self._thread.join(timeout_s)

    # ------------------------------------------------------------------ reading
    def verify(self) -> Report:
        """Check the whole hash chain (SQL on the caller's thread: not the GUI's)."""
        return verify(self.engine, key_path=self.chain.key_path,
                      anchor_path=self.chain.anchor_path)

    def rows(self, *, user: str | None = None, device: str | None = None,
             action: str | None = None, limit: int = 1000) -> list[dict]:
        """Newest first (SQL on the caller's thread: not the GUI's)."""
        return read_audit(self.engine, user=user, device=device, action=action, limit=limit)


def read_audit(engine: Engine, *, user: str | None = None, device: str | None = None,
               action: str | None = None, limit: int = 1000) -> list[dict]:
    a = AuditLog
    q = select(a.time_ms, a.user, a.device, a.action, a.before, a.after, a.result,
               a.detail).order_by(a.audit_id.desc()).limit(limit)
    if user:
        q = q.where(a.user == user)
    if device:
        q = q.where(a.device == device)
    if action:
        q = q.where(a.action.like(f"{action}%"))
    with engine.connect() as con:
        rows = con.execute(q).all()
    return [{"time": dt.datetime.fromtimestamp(r.time_ms / 1000, dt.UTC), "user": r.user,
             "device": r.device, "action": r.action, "before": r.before or "",
             "after": r.after or "", "result": r.result, "detail": r.detail or ""}
            for r in rows]
