"""Event-log queries and the alarm report from the historian, off the GUI thread.

The log explorer asks for a page of stored events (filters, range, page); a worker thread
runs the SQL and the page comes back to the GUI thread as immutable
:class:`~app.alarms.log.LogEntry` tuples through a queued signal. The alarm-performance
dialog's report from the stored events runs there too. No SQL runs on the GUI thread.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal, Slot

from app.alarms.log import LogEntry
from app.runtime.qt.threads import managed_thread, stop_thread
from app.station import clock

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EventQuery:
    request: int
    """Echoed in the answer, so a late answer to an old query can be ignored."""
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    types: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    asset: str | None = None
    text: str | None = None
    page: int = 0
    page_size: int = 500


@dataclass(frozen=True, slots=True)
class EventPage:
    query: EventQuery
    rows: tuple[LogEntry, ...]
    has_more: bool
    error: str = ""


class _Worker(QObject):
    page_ready = Signal(object)
    report_ready = Signal(object)

    def __init__(self, historian) -> None:  # noqa: ANN001
        super().__init__()
        self.historian = historian

    @Slot(object)
    def run_query(self, q: EventQuery) -> None:
        try:
            evs = self.historian.events(
                types=q.types or None, severities=q.severities or None, asset=q.asset or None,
                start=q.start, end=q.end, text_contains=q.text or None,
                limit=q.page_size + 1, offset=q.page * q.page_size)
            rows = tuple(LogEntry.from_record(e) for e in evs)
            self.page_ready.emit(EventPage(q, rows[:q.page_size], len(rows) > q.page_size))
        except Exception as exc:  # a failed query leaves the log as it is, and says why
            log.exception("event query failed")
            self.page_ready.emit(EventPage(q, (), False, f"{exc.__class__.__name__}: {exc}"))

    @Slot(float)
    def run_report(self, hours: float) -> None:
        from app.alarms.report import report_from_store

        try:
            self.report_ready.emit(report_from_store(self.historian.engine,
                                                     clock.now(), hours))
        except Exception as exc:
            log.exception("alarm report failed")
            self.report_ready.emit({"error": f"{exc.__class__.__name__}: {exc}"})


class EventQueryService(QObject):
    """Owns the query thread. ``page_ready(EventPage)`` and ``report_ready(dict)`` arrive on
    the thread that created the service (the GUI's)."""

    page_ready = Signal(object)
    report_ready = Signal(object)
    _query = Signal(object)
    _report = Signal(float)

    def __init__(self, historian, parent: QObject | None = None) -> None:  # noqa: ANN001
        super().__init__(parent)
        self._thread = managed_thread("event-query")
        self._worker = _Worker(historian)
        self._worker.moveToThread(self._thread)
        self._query.connect(self._worker.run_query)
        self._report.connect(self._worker.run_report)
        self._worker.page_ready.connect(self.page_ready)
        self._worker.report_ready.connect(self.report_ready)
        self._thread.start()

    def query(self, q: EventQuery) -> None:
        self._query.emit(q)

    def report(self, hours: float) -> None:
        self._report.emit(float(hours))

    def stop(self) -> None:
        stop_thread(self._thread)
