"""The time-series historian: a writer thread that never blocks the scan, and the queries.

Ingest (writer thread)
    :meth:`Historian.submit` puts a ScanFrame on a bounded queue and returns at once (when
    the queue is full the oldest frame is dropped and counted). The writer runs swinging-door
    compression over every point of each frame (:mod:`app.historian.compress`), accumulates
    hourly min/max/mean/count from every raw good sample, and at least once a second inserts
    the kept samples into ``ts_recent`` in one transaction — so a crash loses at most the last
    second. Every few minutes, samples older than ``compact_after_s`` are packed per point
    into compressed ``ts_block`` rows. Hourly rollups are written every minute (upserted),
    daily rollups are derived from them. A background job enforces retention.

Failures
    A write that fails (disk full, database read-only, locked) flags the historian
    *degraded* with the error, logs one line, keeps the pending samples (up to a bound) and
    retries; the writer thread never dies and the scan never waits.

Queries
    :meth:`trend` returns at most ~``max_points`` samples per point for any range, picking the
    kept samples (up to 48 h) or the hourly (up to 90 days) or daily rollups, and always both
    the minimum and the maximum of each bucket, so a spike stays visible when zoomed out.
    :meth:`value_at` reconstructs a point at any instant (linear between kept samples for
    analogs, step for status). Events are queried by type, severity, asset, time and text.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TextIO

import numpy as np
from sqlalchemy import Engine, delete, insert, select, text
from sqlalchemy.exc import SQLAlchemyError

from app.field import quality as Q
from app.field.frame import ScanFrame
from app.field.points import KIND_ANALOG, PointTable
from app.historian.compress import SwingingDoor, deviations, pack_block, unpack_block
from app.historian.models import Event, TsBlock, TsRecent, TsRollup

log = logging.getLogger(__name__)

HOUR_NS = 3600 * 10**9
DAY_NS = 24 * HOUR_NS


@dataclass
class Retention:
    raw_days: float = 7.0
    hourly_days: float = 90.0
    daily_days: float = 5 * 365.0


@dataclass
class HistorianStatus:
    ok: bool = True
    last_error: str = ""
    queue_depth: int = 0
    dropped_frames: int = 0
    frames: int = 0
    samples_written: int = 0
    pending_samples: int = 0
    lost_samples: int = 0
    pending_events: int = 0
    events_written: int = 0
    lost_events: int = 0
    last_flush: float = 0.0

    @property
    def degraded(self) -> bool:
        return not self.ok


@dataclass
class Trend:
    tag: str
    source: str  # "samples", "hourly", "daily"
    t_ns: np.ndarray
    value: np.ndarray
    quality: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint16))


class Historian:
    def __init__(self, engine: Engine, points: PointTable, *, flush_s: float = 1.0,
                 compact_after_s: float = 600.0, queue_size: int = 600,
                 retention: Retention | None = None, max_pending: int = 5_000_000,
                 max_pending_events: int = 200_000) -> None:
        self.engine = engine
        self.points = points
        self.flush_s = flush_s
        self.compact_after_ns = int(compact_after_s * 1e9)
        self.retention = retention or Retention()
        self.max_pending = max_pending
        self.status = HistorianStatus()
        self._q: queue.Queue[ScanFrame | None] = queue.Queue(maxsize=queue_size)
        self._door = SwingingDoor(deviations(points))
        n = len(points)
        self._analog = points.kind == KIND_ANALOG
        self._hour = -1
        self._hmin = np.full(n, np.inf)
        self._hmax = np.full(n, -np.inf)
        self._hsum = np.zeros(n)
        self._hcnt = np.zeros(n, dtype=np.int64)
        self._pending: list[tuple[np.ndarray, ...]] = []
        self._n_pending = 0
        # Events from any thread (SOE, alarm transitions, commands, user actions), written by
        # the writer thread with the samples; held for retry while degraded, bounded.
        self._events: deque[dict] = deque()
        self._events_lock = threading.Lock()
        self.max_pending_events = max_pending_events
        self._last_rollup = 0.0
        self._last_compact = time.monotonic()
        self._last_retention = 0.0
        self._thread = threading.Thread(target=self._run, name="historian-writer", daemon=True)
        self._stop = threading.Event()
        self._thread.start()

    # ================================================================== ingest
    def submit(self, frame: ScanFrame) -> None:
        """Never blocks: a full queue drops its oldest frame."""
        put_dropping_oldest(self._q, frame, self.status)

    def _run(self) -> None:
        next_flush = time.monotonic() + self.flush_s
        while True:
            timeout = max(0.0, next_flush - time.monotonic())
            try:
                frame = self._q.get(timeout=timeout)
            except queue.Empty:
                frame = None
            try:
                if frame is not None:
                    self._ingest(frame)
                if time.monotonic() >= next_flush or frame is None and self._stop.is_set():
                    self._flush()
                    self._flush_events()
                    self._housekeeping()
                    next_flush = time.monotonic() + self.flush_s
            except Exception as exc:  # never let the writer die
                self._fail(exc)
            self.status.queue_depth = self._q.qsize()
            if self._stop.is_set() and self._q.empty():
                break
        try:
            rows = self._door.flush()
            self._add_pending(*rows)
            self._flush()
            self._flush_events()
            self._write_hourly()
        except Exception as exc:
            self._fail(exc)

    def _ingest(self, f: ScanFrame) -> None:
        self.status.frames += 1
        r, t, v, q = self._door.update(f.t_source_ns, f.values, f.quality)
        self._add_pending(r, t, v, q)
        # Hourly accumulators from every raw good sample.
        hour = int(f.t_acquired.timestamp() * 1e9) // HOUR_NS
        if self._hour != hour:
            if self._hour >= 0:
                self._write_hourly()
            self._hour = hour
            self._hmin[:] = np.inf
            self._hmax[:] = -np.inf
            self._hsum[:] = 0.0
            self._hcnt[:] = 0
        good = Q.good_mask(f.quality) & np.isfinite(f.values)
        x = np.where(good, f.values, 0.0)
        self._hmin = np.where(good, np.minimum(self._hmin, x), self._hmin)
        self._hmax = np.where(good, np.maximum(self._hmax, x), self._hmax)
        self._hsum += x
        self._hcnt += good

    def _add_pending(self, r: np.ndarray, t: np.ndarray, v: np.ndarray, q: np.ndarray) -> None:
        if not len(r):
            return
        self._pending.append((r, t, v, q))
        self._n_pending += len(r)
        while self._n_pending > self.max_pending and self._pending:  # bounded while degraded
            lost = self._pending.pop(0)
            self._n_pending -= len(lost[0])
            self.status.lost_samples += len(lost[0])
        self.status.pending_samples = self._n_pending

    def _flush(self) -> None:
        if not self._pending:
            return
        r = np.concatenate([p[0] for p in self._pending])
        t = np.concatenate([p[1] for p in self._pending])
        v = np.concatenate([p[2] for p in self._pending])
        q = np.concatenate([p[3] for p in self._pending])
        rows = [{"point_id": int(a), "t_ns": int(b), "value": float(c), "quality": int(d)}
                for a, b, c, d in zip(r.tolist(), t.tolist(), v.tolist(), q.tolist(),
                                      strict=True)]
        try:
            with self.engine.begin() as con:
                con.execute(self._upsert_recent(), rows)
        except SQLAlchemyError as exc:
            self._fail(exc)
            return
        self._pending.clear()
        self._n_pending = 0
        self.status.pending_samples = 0
        self.status.samples_written += len(rows)
        self.status.last_flush = time.time()
        self._recovered()

    def _recovered(self) -> None:
        if not self.status.ok:
            log.warning("historian writes again after: %s", self.status.last_error)
            self.status.ok = True

    def _upsert_recent(self):  # noqa: ANN202
        """A re-sent sample (same point and time) replaces, never fails the batch."""
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt = pg_insert(TsRecent)
            return stmt.on_conflict_do_update(
                index_elements=["point_id", "t_ns"],
                set_={"value": stmt.excluded.value, "quality": stmt.excluded.quality})
        return insert(TsRecent).prefix_with("OR REPLACE")

    def _fail(self, exc: Exception) -> None:
        msg = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        if self.status.ok or self.status.last_error != msg:
            log.error("historian degraded: %s (scans go on; %d samples held for retry)",
                      msg, self._n_pending)
        self.status.ok = False
        self.status.last_error = msg

    # ================================================================== housekeeping
    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now - self._last_rollup >= 60.0:
            self._last_rollup = now
            self._write_hourly()
        if now - self._last_compact >= max(60.0, 3 * self.compact_after_ns / 1e9):
            self._last_compact = now
            self.compact()
        if now - self._last_retention >= 3600.0:
            self._last_retention = now
            self.enforce_retention()

    def _write_hourly(self) -> None:
        if self._hour < 0:
            return
        idx = np.flatnonzero(self._hcnt > 0)
        if not len(idx):
            return
        t0 = self._hour * HOUR_NS
        rows = [{"point_id": int(i), "period": "h", "t_ns": t0, "vmin": float(self._hmin[i]),
                 "vmax": float(self._hmax[i]), "vmean": float(self._hsum[i] / self._hcnt[i]),
                 "count": int(self._hcnt[i])} for i in idx]
        try:
            with self.engine.begin() as con:
                con.execute(delete(TsRollup).where(TsRollup.period == "h",
                                                   TsRollup.t_ns == t0))
                con.execute(insert(TsRollup), rows)
                self._derive_daily(con, (t0 // DAY_NS) * DAY_NS)
        except SQLAlchemyError as exc:
            self._fail(exc)

    def _derive_daily(self, con, day_ns: int) -> None:  # noqa: ANN001
        con.execute(delete(TsRollup).where(TsRollup.period == "d", TsRollup.t_ns == day_ns))
        con.execute(text(
            "INSERT INTO ts_rollup (point_id, period, t_ns, vmin, vmax, vmean, \"count\") "
            "SELECT point_id, 'd', :day, MIN(vmin), MAX(vmax), "
            "SUM(vmean * \"count\") / SUM(\"count\"), SUM(\"count\") FROM ts_rollup "
            "WHERE period = 'h' AND t_ns >= :day AND t_ns < :end GROUP BY point_id"),
            {"day": day_ns, "end": day_ns + DAY_NS})

    def compact(self, older_than_ns: int | None = None) -> int:
        """Pack kept samples older than the cutoff into one compressed block per point."""
        cutoff = older_than_ns if older_than_ns is not None else \
            time.time_ns() - self.compact_after_ns
        n = 0
        try:
            with self.engine.begin() as con:
                rows = con.execute(select(TsRecent.point_id, TsRecent.t_ns, TsRecent.value,
                                          TsRecent.quality)
                                   .where(TsRecent.t_ns < cutoff)
                                   .order_by(TsRecent.point_id, TsRecent.t_ns)).all()
                if not rows:
                    return 0
                a = np.array(rows, dtype=object)
                pid = a[:, 0].astype(np.int64)
                bounds = np.flatnonzero(np.diff(pid)) + 1
                blocks = []
                for seg in np.split(np.arange(len(pid)), bounds):
                    t = a[seg, 1].astype(np.int64)
                    blocks.append({"point_id": int(pid[seg[0]]), "t_start_ns": int(t[0]),
                                   "t_end_ns": int(t[-1]), "n": len(seg),
                                   "data": pack_block(t, a[seg, 2].astype(float),
                                                      a[seg, 3].astype(np.uint16))})
                con.execute(insert(TsBlock), blocks)
                con.execute(delete(TsRecent).where(TsRecent.t_ns < cutoff))
                n = len(rows)
        except SQLAlchemyError as exc:
            self._fail(exc)
        return n

    def enforce_retention(self, now_ns: int | None = None) -> None:
        now = now_ns or time.time_ns()
        r = self.retention
        try:
            with self.engine.begin() as con:
                con.execute(delete(TsBlock).where(
                    TsBlock.t_end_ns < now - int(r.raw_days * DAY_NS)))
                con.execute(delete(TsRecent).where(
                    TsRecent.t_ns < now - int(r.raw_days * DAY_NS)))
                con.execute(delete(TsRollup).where(
                    TsRollup.period == "h", TsRollup.t_ns < now - int(r.hourly_days * DAY_NS)))
                con.execute(delete(TsRollup).where(
                    TsRollup.period == "d", TsRollup.t_ns < now - int(r.daily_days * DAY_NS)))
        except SQLAlchemyError as exc:
            self._fail(exc)

    def close(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self.submit_sentinel()
        self._thread.join(timeout_s)

    def submit_sentinel(self) -> None:
        try:
            self._q.put_nowait(None)
        except queue.Full:
            pass

    # ================================================================== queries
    def samples(self, tag: str, t0_ns: int, t1_ns: int) -> tuple[np.ndarray, ...]:
        """Kept samples of one point in [t0, t1], plus the one just before t0."""
        pid = self.points.row(tag)
        with self.engine.connect() as con:
            blocks = con.execute(select(TsBlock.data).where(
                TsBlock.point_id == pid, TsBlock.t_end_ns >= t0_ns - DAY_NS,
                TsBlock.t_start_ns <= t1_ns).order_by(TsBlock.t_start_ns)).all()
            recent = con.execute(select(TsRecent.t_ns, TsRecent.value, TsRecent.quality).where(
                TsRecent.point_id == pid, TsRecent.t_ns <= t1_ns,
                TsRecent.t_ns >= t0_ns - DAY_NS).order_by(TsRecent.t_ns)).all()
        parts = [unpack_block(b.data) for b in blocks]
        if recent:
            r = np.array(recent, dtype=object)
            parts.append((r[:, 0].astype(np.int64), r[:, 1].astype(float),
                          r[:, 2].astype(np.uint16)))
        if not parts:
            return np.empty(0, np.int64), np.empty(0), np.empty(0, np.uint16)
        t = np.concatenate([p[0] for p in parts])
        v = np.concatenate([p[1] for p in parts])
        q = np.concatenate([p[2] for p in parts])
        o = np.argsort(t, kind="stable")
        t, v, q = t[o], v[o], q[o]
        first = max(0, int(np.searchsorted(t, t0_ns, side="right")) - 1)
        last = int(np.searchsorted(t, t1_ns, side="right"))
        return t[first:last], v[first:last], q[first:last]

    def value_at(self, tag: str, when: dt.datetime) -> tuple[float, int, dt.datetime] | None:
        """The point's value at ``when``: interpolated between kept samples (analogs) or the
        last one before (status); with the quality and time of the sample it comes from."""
        tn = int(when.timestamp() * 1e9)
        t, v, q = self.samples(tag, tn - DAY_NS, tn + DAY_NS)
        if not len(t) or t[0] > tn:
            return None
        i = int(np.searchsorted(t, tn, side="right")) - 1
        row = self.points.row(tag)
        val = float(v[i])
        if self._analog[row] and i + 1 < len(t) and Q.is_good(int(q[i])) and t[i + 1] > t[i]:
            val = float(np.interp(tn, t[i:i + 2], v[i:i + 2]))
        return val, int(q[i]), dt.datetime.fromtimestamp(t[i] / 1e9, dt.UTC)

    def trend(self, tags: Iterable[str], t0: dt.datetime, t1: dt.datetime,
              max_points: int = 2000) -> list[Trend]:
        if t1 <= t0:
            raise ValueError("trend range: the end must be after the start")
        a, b = int(t0.timestamp() * 1e9), int(t1.timestamp() * 1e9)
        span = b - a
        out = []
        for tag in tags:
            if span <= 2 * DAY_NS:
                t, v, q = self.samples(tag, a, b)
                t, v, q = _minmax_decimate(t, v, q, a, b, max_points)
                out.append(Trend(tag, "samples", t, v, q))
                continue
            period = "h" if span <= 90 * DAY_NS else "d"
            pid = self.points.row(tag)
            with self.engine.connect() as con:
                rows = con.execute(select(TsRollup.t_ns, TsRollup.vmin, TsRollup.vmax).where(
                    TsRollup.point_id == pid, TsRollup.period == period,
                    TsRollup.t_ns >= a, TsRollup.t_ns < b).order_by(TsRollup.t_ns)).all()
            if not rows:
                out.append(Trend(tag, "hourly" if period == "h" else "daily",
                                 np.empty(0, np.int64), np.empty(0)))
                continue
            r = np.array(rows, dtype=float)
            width = HOUR_NS if period == "h" else DAY_NS
            tt = np.repeat(r[:, 0].astype(np.int64), 2)
            tt[1::2] += width // 2
            vv = np.empty(2 * len(r))
            vv[0::2], vv[1::2] = r[:, 1], r[:, 2]
            tt, vv, _ = _minmax_decimate(tt, vv, np.zeros(len(tt), np.uint16), a, b,
                                         max_points)
            out.append(Trend(tag, "hourly" if period == "h" else "daily", tt, vv))
        return out

    def export_trend_csv(self, trends: list[Trend], stream: TextIO) -> None:
        w = csv.writer(stream)
        w.writerow(["time_utc", "point", "value", "quality", "source"])
        for tr in trends:
            qs = tr.quality if len(tr.quality) == len(tr.t_ns) else \
                np.zeros(len(tr.t_ns), np.uint16)
            for t, v, q in zip(tr.t_ns.tolist(), tr.value.tolist(), qs.tolist(), strict=True):
                w.writerow([dt.datetime.fromtimestamp(t / 1e9, dt.UTC)
                            .isoformat(timespec="milliseconds"), tr.tag, repr(v),
                            Q.describe(int(q)), tr.source])

    # ------------------------------------------------------------------ events
    _EVENT_FIELDS = ("event_type", "asset_id", "tag", "severity", "message", "time_ms",
                     "before", "after", "state", "value", "acknowledged", "acknowledged_by")

    def _event_rows(self, events: Iterable[dict]) -> list[dict]:
        rows = []
        for e in events:
            unknown = set(e) - set(self._EVENT_FIELDS)
            if unknown:
                raise ValueError(f"event fields {sorted(unknown)} are not columns of events")
            missing = {"event_type", "severity", "message", "time_ms"} - set(e)
            if missing:
                raise ValueError(f"event {e!r}: missing field(s) {sorted(missing)}")
            row = dict.fromkeys(self._EVENT_FIELDS)
            row["acknowledged"] = False
            row.update(e)
            rows.append(row)
        return rows

    def submit_events(self, events: Iterable[dict]) -> None:
        """Queue events (dicts with the Event columns) for the writer thread. Never blocks and
        never touches the database on the caller's thread; a malformed event is refused here
        with ValueError naming the field. While the database fails the events are held (up
        to ``max_pending_events``, the oldest dropped and counted) and written on recovery."""
        rows = self._event_rows(events)
        if not rows:
            return
        with self._events_lock:
            self._events.extend(rows)
            over = len(self._events) - self.max_pending_events
            for _ in range(max(0, over)):
                self._events.popleft()
            if over > 0:
                self.status.lost_events += over
            self.status.pending_events = len(self._events)

    def _flush_events(self) -> None:
        with self._events_lock:
            rows = list(self._events)
        if not rows:
            return
        try:
            with self.engine.begin() as con:
                con.execute(insert(Event), rows)
        except SQLAlchemyError as exc:
            self._fail(exc)
            return
        with self._events_lock:
            for _ in range(len(rows)):
                self._events.popleft()
            self.status.pending_events = len(self._events)
        self.status.events_written += len(rows)
        self._recovered()

    def add_events(self, events: Iterable[dict]) -> None:
        """Store events now, on the caller's thread (tools and tests; the scan path uses
        :meth:`submit_events`). Dicts with the Event columns; missing ones are NULL."""
        rows = self._event_rows(events)
        if not rows:
            return
        try:
            with self.engine.begin() as con:
                con.execute(insert(Event), rows)
        except SQLAlchemyError as exc:
            self._fail(exc)

    def events(self, *, types: Iterable[str] | None = None,
               severities: Iterable[str] | None = None, asset: str | None = None,
               start: dt.datetime | None = None, end: dt.datetime | None = None,
               text_contains: str | None = None, limit: int = 1000,
               offset: int = 0) -> list[Event]:
        s = select(Event)
        if types:
            s = s.where(Event.event_type.in_(list(types)))
        if severities:
            s = s.where(Event.severity.in_(list(severities)))
        if asset:
            s = s.where(Event.asset_id == asset)
        if start:
            s = s.where(Event.time_ms >= int(start.timestamp() * 1000))
        if end:
            s = s.where(Event.time_ms < int(end.timestamp() * 1000))
        if text_contains:
            s = s.where(Event.message.ilike(f"%{text_contains}%"))
        s = s.order_by(Event.time_ms.desc(), Event.event_id.desc()).limit(limit).offset(offset)
        from sqlalchemy.orm import Session

        with Session(self.engine) as ses:
            return list(ses.scalars(s))

    @staticmethod
    def export_events_csv(events: list[Event], stream: TextIO) -> None:
        w = csv.writer(stream)
        w.writerow(["time_utc", "type", "severity", "asset", "point", "before", "after",
                    "message", "acknowledged_by"])
        for e in events:
            w.writerow([dt.datetime.fromtimestamp(e.time_ms / 1000, dt.UTC)
                        .isoformat(timespec="milliseconds"), e.event_type, e.severity,
                        e.asset_id or "", e.tag or "", e.before or "", e.after or "",
                        e.message, e.acknowledged_by or ""])


def put_dropping_oldest(q: queue.Queue, item: object, status: HistorianStatus) -> None:
    """Put without ever blocking: when full, drop (and count) the oldest item."""
    while True:
        try:
            q.put_nowait(item)
            return
        except queue.Full:
            try:
                q.get_nowait()
                status.dropped_frames += 1
            except queue.Empty:
                pass


def _minmax_decimate(t: np.ndarray, v: np.ndarray, q: np.ndarray, a: int, b: int,
                     max_points: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At most ``max_points`` samples: per bucket, the minimum and the maximum (in time
    order), so spikes survive decimation."""
    if len(t) <= max_points:
        return t, v, q
    nb = max(1, max_points // 2)
    edges = np.linspace(a, b, nb + 1)
    bucket = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, nb - 1)
    keep = np.zeros(len(t), dtype=bool)
    order = np.lexsort((v, bucket))  # by bucket, then value
    bs = bucket[order]
    starts = np.flatnonzero(np.r_[True, bs[1:] != bs[:-1]])
    ends = np.r_[starts[1:], len(order)] - 1
    keep[order[starts]] = True
    keep[order[ends]] = True
    return t[keep], v[keep], q[keep]
