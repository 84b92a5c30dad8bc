"""What the rest of the program may ask of a historian, whichever backend holds the series.

Two backends meet here: the SQL :class:`~app.historian.store.Historian` (SQLite or
PostgreSQL: time series, events and configuration in one database) and the
:class:`~app.historian.influx.InfluxHistorian` (time series in InfluxDB; events and
configuration delegated to a SQL ``config_store``). :func:`app.historian.open_historian`
returns either. Their users hold them by these Protocols, never by a concrete class:

* :class:`HistorianWriter` — the scan's side (:class:`app.runtime.scan.ScanProcessor`, the
  status bar): submit frames and events without ever blocking, report the writer's status,
  close (last flush; what could not be written is counted as lost).
* :class:`HistorianReader` — the screens' and tools' side (:mod:`app.runtime.queries`, the
  trends, the event log, ``gridtwin history``, the alarm report): trends, values at an
  instant, events, the CSV exports, and the configuration store (its engine, for DSS
  versions, alarm rules and the audit log).
* :class:`HistorianBackend` — both: what ``open_historian`` returns and the station runtime
  owns.

Why here, in the historian package: the implementations live here, and every layer that uses
them (alarms, runtime, the GUI, the command line) may import it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol, TextIO

from sqlalchemy import Engine

from app.station.frame import ScanFrame

if TYPE_CHECKING:
    from app.historian.models import Event
    from app.historian.store import Historian, HistorianStatus, Trend

__all__ = ["EventRow", "HistorianBackend", "HistorianReader", "HistorianWriter"]

#: An event to store: the :class:`~app.historian.models.Event` columns by name
#: (``event_type``, ``severity``, ``message`` and ``time_ms`` required).
EventRow = dict[str, object]


class HistorianWriter(Protocol):
    """The ingest side: called from the scan's thread, never blocks it."""

    @property
    def status(self) -> HistorianStatus:
        """The writer's state (ok or degraded with the error, counters): plain reads, no I/O."""
        ...

    def submit(self, frame: ScanFrame) -> None:
        """Queue a scan for the writer thread (a full queue drops its oldest, counted)."""
        ...

    def submit_events(self, events: Iterable[EventRow]) -> None:
        """Queue events for the writer thread; a malformed one is refused (ValueError)."""
        ...

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop the writer after a last flush; what it could not write is counted as lost."""
        ...


class HistorianReader(Protocol):
    """The query side: runs on a worker thread or a tool's, never the GUI's."""

    @property
    def engine(self) -> Engine | None:
        """The configuration store's engine (users, audit, alarm rules, DSS versions), or
        None for a time-series backend opened without one."""
        ...

    @property
    def config_store(self) -> Historian | None:
        """The SQL store where configuration and events live (the SQL historian itself)."""
        ...

    def trend(self, tags: Iterable[str], t0: dt.datetime, t1: dt.datetime,
              max_points: int = 2000) -> list[Trend]:
        """At most ~``max_points`` samples per tag over [t0, t1), each bucket's min and max
        kept."""
        ...

    def value_at(self, tag: str, when: dt.datetime) -> tuple[float, int, dt.datetime] | None:
        """(value, quality word, time of the sample it comes from) at ``when``, or None."""
        ...

    def events(self, *, types: Iterable[str] | None = None,
               severities: Iterable[str] | None = None, asset: str | None = None,
               start: dt.datetime | None = None, end: dt.datetime | None = None,
               text_contains: str | None = None, limit: int = 1000,
               offset: int = 0) -> list[Event]:
        """Stored events, newest first, filtered."""
        ...

    def add_events(self, events: Iterable[EventRow]) -> None:
        """Store events now, on the caller's thread (tools and tests)."""
        ...

    def export_trend_csv(self, trends: list[Trend], stream: TextIO) -> None: ...

    def export_events_csv(self, events: list[Event], stream: TextIO) -> None: ...


class HistorianBackend(HistorianWriter, HistorianReader, Protocol):
    """A historian as :func:`app.historian.open_historian` returns it: writer and reader."""
