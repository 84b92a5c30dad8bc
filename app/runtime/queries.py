"""Reading the historian for the screens, Qt-free: trend backfill, event-log pages and the
stored alarm-performance report.

Each is a plain function of the historian; the HMI runs them as jobs on its "queries" job
runner (:class:`app.runtime.qt.jobs.JobRunner`), so no SQL ever runs on the GUI thread, and
their results come back as immutable values. A failed query is reported, never raised into
the GUI: a page carries its error, a report its ``error`` key, a backfill logs one line and
leaves the live trend as it is.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import numpy as np

from app.alarms.log import LogEntry
from app.historian.api import HistorianReader
from app.station import clock
from app.station import quality as Q

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------- trends
def trend_history(historian: HistorianReader, tags: list[str], t0_s: float, t1_s: float, n: int
                  ) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Per tag, (tag, times in epoch seconds, values) with bad-quality samples as NaN gaps
    (≤ ``n`` points each, min and max of each bucket kept by the historian)."""
    a = dt.datetime.fromtimestamp(t0_s, dt.UTC)
    b = dt.datetime.fromtimestamp(t1_s, dt.UTC)
    out = []
    try:
        for tr in historian.trend(tags, a, b, max_points=n):
            v = np.asarray(tr.value, dtype=float)
            if len(tr.quality) == len(v):  # bad-quality samples are gaps, not values
                v = np.where((tr.quality & Q.VALIDITY_MASK) == Q.GOOD, v, np.nan)
            out.append((tr.tag, tr.t_ns / 1e9, v))
    except Exception:  # a failed backfill leaves the live trend as it is
        log.exception("trend backfill failed for %s", tags)
    return out


# ---------------------------------------------------------------------- event log
@dataclass(frozen=True, slots=True)
class EventQuery:
    request: int
    """Echoed in the answer, so a late answer to an old query can be ignored."""
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    types: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    asset: str | None = None
    """An asset id or the start of one (``F2`` finds F2_Q0, F2_CT, …)."""
    text: str | None = None
    page: int = 0
    page_size: int = 500


@dataclass(frozen=True, slots=True)
class EventPage:
    query: EventQuery
    rows: tuple[LogEntry, ...]
    has_more: bool
    error: str = ""


def event_page(historian: HistorianReader, q: EventQuery) -> EventPage:
    """One page of stored events, newest first; a failed query is a page with its error."""
    try:
        evs = historian.events(
            types=q.types or None, severities=q.severities or None, asset=q.asset or None,
            start=q.start, end=q.end, text_contains=q.text or None,
            limit=q.page_size + 1, offset=q.page * q.page_size)
        rows = tuple(LogEntry.from_record(e) for e in evs)
        return EventPage(q, rows[:q.page_size], len(rows) > q.page_size)
    except Exception as exc:  # a failed query leaves the log as it is, and says why
        log.exception("event query failed")
        return EventPage(q, (), False, f"{exc.__class__.__name__}: {exc}")


# ---------------------------------------------------------------------- alarm report
def stored_alarm_report(historian: HistorianReader, hours: float) -> dict:
    """The ISA-18.2 performance report from the stored alarm transitions."""
    from app.alarms.report import report_from_store

    engine = historian.engine
    if engine is None:
        return {"error": "the historian has no configuration store, where alarms are kept"}
    try:
        return report_from_store(engine, clock.now(), hours)
    except Exception as exc:
        log.exception("alarm report failed")
        return {"error": f"{exc.__class__.__name__}: {exc}"}
