"""The event log's entries (Qt-free): one immutable record per stored ``events`` row.

Everything the log shows — sequence-of-events changes (:mod:`app.alarms.changes`), alarm
transitions, operators' actions on alarms — becomes a dict with the historian's ``events``
columns (what :meth:`app.historian.Historian.submit_events` stores) and a :class:`LogEntry`
(what the event log dock shows, live or read back from the historian).

Alarm transitions: ``event_type`` "alarm", ``tag`` the alarm's key (``POINT:RULE``), ``before``
/ ``after`` / ``state`` the ISA-18.2 states, ``acknowledged_by`` who made the transition (the
operator who acknowledged, shelved, unshelved or took it out of service; ``system`` for the
chattering policy's shelving; empty for the process), ``acknowledged`` true only for an
acknowledgement. ``severity`` is the one vocabulary: urgent, high, medium, low (priority 1-4).
A refused operator action: ``event_type`` "user".
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass

from app.alarms.engine import PRIORITY_SEVERITY, Transition

COLUMNS = ("event_type", "asset_id", "tag", "severity", "message", "time_ms", "before",
           "after", "state", "value", "acknowledged", "acknowledged_by")


def time_ms(t: dt.datetime) -> int:
    return int(round(t.timestamp() * 1000))


@dataclass(frozen=True, slots=True)
class LogEntry:
    time_ms: int
    """UTC, milliseconds since the epoch."""
    event_type: str
    severity: str
    message: str
    asset_id: str | None = None
    tag: str | None = None
    before: str | None = None
    after: str | None = None
    state: str | None = None
    value: float | None = None
    acknowledged: bool = False
    acknowledged_by: str | None = None

    @property
    def time(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.time_ms / 1000, dt.UTC)

    def row(self) -> dict:
        return asdict(self)

    @classmethod
    def from_row(cls, row: dict) -> LogEntry:
        return cls(**{k: row[k] for k in COLUMNS if k in row})

    @classmethod
    def from_record(cls, rec: object) -> LogEntry:
        """From any object with the columns as attributes (a stored ``events`` row)."""
        return cls(**{k: getattr(rec, k) for k in COLUMNS})


def transition_row(tr: Transition) -> dict:
    """The ``events`` row of one alarm transition."""
    value = tr.value if isinstance(tr.value, float) and math.isfinite(tr.value) else None
    return {"event_type": "alarm", "asset_id": tr.asset[:64], "tag": tr.key[:96],
            "severity": PRIORITY_SEVERITY.get(tr.priority, "medium"),
            "message": tr.message + (f" [{tr.user}]" if tr.user and tr.user not in tr.message
                                     else ""),
            "time_ms": time_ms(tr.time), "before": tr.before.value, "after": tr.after.value,
            "state": tr.after.value, "value": value, "acknowledged": tr.is_ack,
            "acknowledged_by": tr.user}


def action_row(when: dt.datetime, user: str, action: str, subject: str, message: str) -> dict:
    """The ``events`` row of an operator's action that did not change any alarm (refused)."""
    return {"event_type": "user", "asset_id": None, "tag": subject[:96], "severity": "low",
            "message": message, "time_ms": time_ms(when), "before": None, "after": None,
            "state": action, "value": None, "acknowledged": False, "acknowledged_by": user}
