"""The time-series historian: a writer thread that never blocks the scan, and the queries.

Ingest (writer thread)
    :meth:`Historian.submit` puts a ScanFrame on a bounded queue and returns at once (when
    the queue is full the oldest frame is dropped and counted). The writer runs swinging-door
    compression over every point of each frame (:mod:`app.historian.compress`) and
    accumulates hourly and daily min/max/sum/count from every raw good sample. At least once a
    second it writes, in **one transaction**: the kept samples (``ts_recent``), each point's
    newest held sample (``ts_tail``, upserted — the compressor may hold a sample for minutes
    before it knows whether it is needed), and the rollup accumulated since the last batch,
    *merged* into the stored hourly and daily rows (min of mins, max of maxes, counts and
    sums added). So a crash or ``kill -9`` loses at most the last unflushed batch of every
    point — samples and rollups alike — and a restart adds to the hour instead of replacing
    it. When the historian next writes, the tail samples left by a crash are promoted to
    archived samples. Every ``compact_every_s``, samples older than ``compact_after_s`` are
    packed per point into compressed ``ts_block`` rows. Retention runs when the writer starts
    and every ``retention_every_s`` after.

Point ids
    Samples and rollups are stored under each tag's permanent id (``points.point_id``, see
    :func:`app.historian.sync_station`), never under its row in the point table, so a station
    edit that adds, moves or removes points leaves every stored series with its tag. Retired
    tags stay queryable by name.

Failures
    A write that fails (disk full, database read-only, locked) flags the historian
    *degraded* with the error, logs one line, keeps the pending samples, rollups and events
    (up to a bound, losses counted) and retries; the writer thread never dies and the scan
    never waits.

Queries
    :meth:`trend` returns at most ~``max_points`` samples per point for any range. It picks
    the source by how many samples each would give and whether it covers the range: the kept
    samples when they cover the range and give the requested points (or more than any rollup
    would), else the hourly rollups, else the daily ones — always with the minimum and the
    maximum of each bucket, so a spike stays visible when zoomed out. :meth:`value_at`
    reconstructs a point at any instant (linear between kept samples for analogs, step for
    status). Events are queried by type, severity, asset, time and text.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import logging
import math
import queue
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TextIO, TypedDict

import numpy as np
from sqlalchemy import Connection, Engine, bindparam, delete, func, insert, select, text, tuple_
from sqlalchemy.exc import SQLAlchemyError

from app.historian.api import EventRow
from app.historian.compress import SwingingDoor, deviations, pack_block, unpack_block
from app.historian.db import HistorianError, describe, first_line
from app.historian.models import Event, Point, TsBlock, TsRecent, TsRollup, TsTail
from app.station import clock
from app.station import quality as Q
from app.station.frame import ScanFrame
from app.station.points import KIND_ANALOG, PointTable

log = logging.getLogger(__name__)

HOUR_NS = 3600 * 10**9
DAY_NS = 24 * HOUR_NS
#: The most samples (per requested output point) a trend decodes from one source.
SOURCE_COST_CAP = 250

_SPAN_UNITS = {"h": 1 / 24, "d": 1.0, "w": 7.0, "y": 365.0}
#: Samples to pack, per (point id, first time): (times, values, quality words).
_Blocks = dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]]


@dataclass
class Retention:
    raw_days: float = 7.0
    hourly_days: float = 90.0
    daily_days: float = 5 * 365.0

    @classmethod
    def parse(cls, spec: str, *, what: str = "--retention") -> Retention:
        """``raw=7d,hourly=90d,daily=5y`` (any subset; units h, d, w, y) over the defaults."""
        r = cls()
        names = {"raw": "raw_days", "hourly": "hourly_days", "daily": "daily_days"}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            key, eq, val = part.partition("=")
            m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([hdwy])", val.strip())
            if not eq or key.strip() not in names or not m:
                raise ValueError(f"{what}: {part!r} is not like raw=7d, hourly=90d or daily=5y "
                                 "(units h, d, w, y)")
            days = float(m.group(1)) * _SPAN_UNITS[m.group(2)]
            if days <= 0:
                raise ValueError(f"{what}: {part!r}: a retention must be longer than zero")
            setattr(r, names[key.strip()], days)
        return r

    def __str__(self) -> str:
        return f"raw={self.raw_days:g}d,hourly={self.hourly_days:g}d,daily={self.daily_days:g}d"


@dataclass
class HistorianStatus:
    """What the writer is doing, for the status bar and the CLI. Updated by the writer thread;
    :meth:`copy` gives a consistent-enough snapshot to hand to another thread."""

    ok: bool = True
    last_error: str = ""
    backend: str = ""  # "sqlite", "postgresql", "influxdb"
    target: str = ""  # the database file or URL (password hidden)
    degraded_since: float = 0.0  # epoch s when the current failure began (0: not degraded)
    queue_depth: int = 0
    dropped_frames: int = 0
    frames: int = 0
    samples_written: int = 0
    pending_samples: int = 0
    lost_samples: int = 0
    rejected_samples: int = 0  # refused by the server as malformed (InfluxDB HTTP 400)
    pending_events: int = 0
    events_written: int = 0
    lost_events: int = 0
    last_flush: float = 0.0  # epoch s of the last successful batch
    last_retention: float = 0.0  # epoch s of the last retention run

    @property
    def degraded(self) -> bool:
        return not self.ok

    def copy(self) -> HistorianStatus:
        return dataclasses.replace(self)


@dataclass
class Trend:
    """One point's trend. ``t_ns``/``value`` are what to plot (for rollups, each bucket's
    minimum at its start and maximum at its middle). Rollup trends also carry the buckets
    themselves (``bucket_t_ns``, ``vmin``, ``vmax``, ``vmean``, ``count``) and no quality;
    sample trends carry each sample's quality word."""

    tag: str
    source: str  # "samples", "hourly", "daily"
    t_ns: np.ndarray
    value: np.ndarray
    quality: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint16))
    bucket_t_ns: np.ndarray | None = None
    vmin: np.ndarray | None = None
    vmax: np.ndarray | None = None
    vmean: np.ndarray | None = None
    count: np.ndarray | None = None


class _Acc:
    """Rollup accumulators of one bucket, since the last successful batch."""

    __slots__ = ("cnt", "max", "min", "sum")

    def __init__(self, n: int) -> None:
        self.min = np.full(n, np.inf)
        self.max = np.full(n, -np.inf)
        self.sum = np.zeros(n)
        self.cnt = np.zeros(n, dtype=np.int64)

    def add(self, good: np.ndarray, x: np.ndarray) -> None:
        np.copyto(self.min, np.minimum(self.min, x), where=good)
        np.copyto(self.max, np.maximum(self.max, x), where=good)
        self.sum += np.where(good, x, 0.0)
        self.cnt += good

    def merge(self, o: _Acc) -> None:
        np.minimum(self.min, o.min, out=self.min)
        np.maximum(self.max, o.max, out=self.max)
        self.sum += o.sum
        self.cnt += o.cnt


def load_point_ids(engine: Engine, points: PointTable) -> np.ndarray:
    """Each point-table row's permanent id, from the configuration store."""
    try:
        with engine.connect() as con:
            ids = dict(con.execute(select(Point.tag, Point.point_id)).all())
    except SQLAlchemyError as exc:
        raise HistorianError(f"{describe(engine.url)}: cannot read the points: "
                             f"{first_line(exc)}") from None
    missing = [t for t in points.tags if t not in ids]
    if missing:
        raise HistorianError(f"{describe(engine.url)}: {len(missing)} points (e.g. "
                             f"{missing[0]}) are not in the configuration store; open it with "
                             "open_historian(), which stores the station's points")
    return np.array([ids[t] for t in points.tags], dtype=np.int64)


class WriterOptions(TypedDict, total=False):
    """The :class:`Historian` writer's settings that :func:`app.historian.open_historian`
    passes on (see the constructor)."""

    flush_s: float
    compact_after_s: float
    compact_every_s: float | None
    queue_size: int
    retention: Retention | None
    retention_every_s: float
    max_pending: int
    max_pending_events: int
    start_writer: bool


class Historian:
    def __init__(self, engine: Engine, points: PointTable, *,
                 point_ids: np.ndarray | None = None, flush_s: float = 1.0,
                 compact_after_s: float = 600.0, compact_every_s: float | None = None,
                 queue_size: int = 600, retention: Retention | None = None,
                 retention_every_s: float = 3600.0, max_pending: int = 5_000_000,
                 max_pending_events: int = 200_000, start_writer: bool = True) -> None:
        self.engine = engine
        self.points = points
        self.flush_s = flush_s
        self.compact_after_ns = int(compact_after_s * 1e9)
        self.compact_every_s = compact_every_s if compact_every_s is not None else \
            max(60.0, 3 * compact_after_s)
        self.retention = retention or Retention()
        self.retention_every_s = retention_every_s
        self.max_pending = max_pending
        self.status = HistorianStatus(backend=engine.dialect.name, target=describe(engine.url))
        self._ids = np.asarray(point_ids if point_ids is not None
                               else load_point_ids(engine, points), dtype=np.int64)
        if len(self._ids) != len(points):
            raise ValueError(f"point_ids: {len(self._ids)} ids for {len(points)} points")
        self._retired: dict[str, tuple[int, bool]] = {}  # tags not in the table, looked up
        self._q: queue.Queue[ScanFrame | None] = queue.Queue(maxsize=queue_size)
        self._door = SwingingDoor(deviations(points))
        n = len(points)
        self._analog = points.kind == KIND_ANALOG
        self._acc: dict[int, _Acc] = {}  # hour (ns // HOUR_NS) → accumulators
        self._pending: list[tuple[np.ndarray, ...]] = []
        self._n_pending = 0
        self._tail_t = np.full(n, -1, dtype=np.int64)  # time of each point's stored tail
        self._tail_promoted = False
        # Events from any thread (SOE, alarm transitions, commands, user actions), written by
        # the writer thread with the samples; held for retry while degraded, bounded.
        self._events: deque[EventRow] = deque()
        self._events_lock = threading.Lock()
        self.max_pending_events = max_pending_events
        self._last_compact = -math.inf  # housekeeping runs as soon as the writer starts
        self._last_retention = -math.inf
        self._ph = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        self._pg = engine.dialect.name == "postgresql"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if start_writer:
            self._thread = threading.Thread(target=self._run, name="historian-writer",
                                            daemon=True)
            self._thread.start()

    @property
    def config_store(self) -> Historian:
        """Configuration and events live in this same database."""
        return self

    # ================================================================== ingest
    def submit(self, frame: ScanFrame) -> None:
        """Never blocks: a full queue drops its oldest frame."""
        put_dropping_oldest(self._q, frame, self.status)

    def _run(self) -> None:
        self._guarded(self._housekeeping)
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
        self._guarded(self._final_flush)

    def _guarded(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception as exc:  # never let the writer die
            self._fail(exc)

    def _final_flush(self) -> None:
        self._add_pending(*self._door.flush())
        self._flush(final=True)
        self._flush_events()

    def _ingest(self, f: ScanFrame) -> None:
        self.status.frames += 1
        self._add_pending(*self._door.update(f.t_source_ns, f.values, f.quality))
        hour = int(f.t_acquired.timestamp() * 1e9) // HOUR_NS
        acc = self._acc.get(hour)
        if acc is None:
            acc = self._acc[hour] = _Acc(len(self.points))
        v = np.asarray(f.values, dtype=float)
        good = Q.good_mask(f.quality) & np.isfinite(v)
        acc.add(good, np.where(good, v, 0.0))

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

    # ------------------------------------------------------------------ one batch
    def _sample_rows(self) -> list[tuple]:
        if not self._pending:
            return []
        r = np.concatenate([p[0] for p in self._pending])
        t = np.concatenate([p[1] for p in self._pending])
        v = np.concatenate([p[2] for p in self._pending])
        q = np.concatenate([p[3] for p in self._pending])
        return list(zip(self._ids[r].tolist(), t.tolist(), _nulls(v), q.tolist(),
                        strict=True))

    def _rollup_rows(self) -> list[tuple]:
        rows: list[tuple] = []
        days: dict[int, _Acc] = {}
        for hour, acc in sorted(self._acc.items()):
            rows += self._bucket_rows("h", hour * HOUR_NS, acc)
            day = hour * HOUR_NS // DAY_NS * DAY_NS
            if day in days:
                days[day].merge(acc)
            else:
                d = days[day] = _Acc(len(self.points))
                d.merge(acc)
        for day, acc in sorted(days.items()):
            rows += self._bucket_rows("d", day, acc)
        return rows

    def _bucket_rows(self, period: str, t0: int, acc: _Acc) -> list[tuple]:
        idx = np.flatnonzero(acc.cnt > 0)
        c = acc.cnt[idx]
        return list(zip(self._ids[idx].tolist(), [period] * len(idx), [t0] * len(idx),
                        acc.min[idx].tolist(), acc.max[idx].tolist(),
                        (acc.sum[idx] / c).tolist(), c.tolist(), strict=True))

    def _tail_rows(self) -> tuple[list[tuple], np.ndarray, np.ndarray]:
        r, t, v, q = self._door.held_samples()
        new = t != self._tail_t[r]
        r, t, v, q = r[new], t[new], v[new], q[new]
        return (list(zip(self._ids[r].tolist(), t.tolist(), _nulls(v), q.tolist(),
                         strict=True)), r, t)

    def _flush(self, final: bool = False) -> None:
        samples = self._sample_rows()
        rollups = self._rollup_rows()
        tail, tail_r, tail_t = ([], None, None) if final else self._tail_rows()
        if not (samples or rollups or tail or final and self._tail_promoted):
            return
        ph = self._ph
        try:
            with self.engine.begin() as con:
                if not self._tail_promoted:
                    self._promote_tail(con)
                if samples:
                    con.exec_driver_sql(
                        f"INSERT INTO ts_recent (point_id, t_ns, value, quality) VALUES "
                        f"({ph}, {ph}, {ph}, {ph}) ON CONFLICT (point_id, t_ns) DO UPDATE SET "
                        "value = excluded.value, quality = excluded.quality", samples)
                if rollups:
                    lo, hi = ("LEAST", "GREATEST") if self._pg else ("MIN", "MAX")
                    con.exec_driver_sql(
                        'INSERT INTO ts_rollup (point_id, period, t_ns, vmin, vmax, vmean, '
                        f'"count") VALUES ({ph}, {ph}, {ph}, {ph}, {ph}, {ph}, {ph}) '
                        "ON CONFLICT (point_id, period, t_ns) DO UPDATE SET "
                        f"vmin = {lo}(ts_rollup.vmin, excluded.vmin), "
                        f"vmax = {hi}(ts_rollup.vmax, excluded.vmax), "
                        'vmean = (ts_rollup.vmean * ts_rollup."count" + excluded.vmean * '
                        'excluded."count") / (ts_rollup."count" + excluded."count"), '
                        '"count" = ts_rollup."count" + excluded."count"', rollups)
                if tail:
                    con.exec_driver_sql(
                        f"INSERT INTO ts_tail (point_id, t_ns, value, quality) VALUES "
                        f"({ph}, {ph}, {ph}, {ph}) ON CONFLICT (point_id) DO UPDATE SET "
                        "t_ns = excluded.t_ns, value = excluded.value, "
                        "quality = excluded.quality", tail)
                if final:  # every held sample is archived now: the tails are duplicates
                    con.execute(delete(TsTail).where(
                        TsTail.point_id.in_(bindparam("ids", expanding=True))),
                        {"ids": self._ids.tolist()})
        except SQLAlchemyError as exc:
            self._fail(exc)
            return
        self._pending.clear()
        self._n_pending = 0
        self._acc.clear()
        if tail_r is not None:
            self._tail_t[tail_r] = tail_t
        self._recovered()  # before the counters: a reader that sees them sees ok too
        self.status.pending_samples = 0
        self.status.samples_written += len(samples)
        self.status.last_flush = clock.time()

    def _promote_tail(self, con: Connection) -> None:
        """Tail samples left by a process that did not close cleanly become archived samples
        (unless an archived block already reaches them), before this writer stores its own."""
        con.execute(text(
            "INSERT INTO ts_recent (point_id, t_ns, value, quality) "
            "SELECT tl.point_id, tl.t_ns, tl.value, tl.quality FROM ts_tail tl WHERE NOT EXISTS "
            "(SELECT 1 FROM ts_block b WHERE b.point_id = tl.point_id AND b.t_end_ns >= tl.t_ns) "
            "ON CONFLICT (point_id, t_ns) DO NOTHING"))
        con.execute(delete(TsTail))
        self._tail_promoted = True

    def _recovered(self) -> None:
        if not self.status.ok:
            log.warning("historian writes again after: %s", self.status.last_error)
            self.status.ok = True
            self.status.degraded_since = 0.0

    def _fail(self, exc: Exception) -> None:
        msg = first_line(exc)
        if self.status.ok or self.status.last_error != msg:
            log.error("historian degraded: %s: %s (scans go on; %d samples held for retry)",
                      self.status.target, msg, self._n_pending)
        if self.status.ok:
            self.status.degraded_since = clock.time()
        self.status.ok = False
        self.status.last_error = msg

    # ================================================================== housekeeping
    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now - self._last_compact >= self.compact_every_s:
            self._last_compact = now
            self.compact()
        if now - self._last_retention >= self.retention_every_s:
            self._last_retention = now
            self.enforce_retention()

    def compact(self, older_than_ns: int | None = None) -> int:
        """Pack kept samples older than the cutoff into one compressed block per point."""
        cutoff = older_than_ns if older_than_ns is not None else \
            clock.time_ns() - self.compact_after_ns
        n = 0
        try:
            with self.engine.begin() as con:
                rows = con.execute(select(TsRecent.point_id, TsRecent.t_ns, TsRecent.value,
                                          TsRecent.quality)
                                   .where(TsRecent.t_ns < cutoff)
                                   .order_by(TsRecent.point_id, TsRecent.t_ns)).all()
                if not rows:
                    return 0
                pid = np.fromiter((r[0] for r in rows), np.int64, len(rows))
                t_all = np.fromiter((r[1] for r in rows), np.int64, len(rows))
                v_all = np.fromiter((np.nan if r[2] is None else r[2] for r in rows), float,
                                    len(rows))
                q_all = np.fromiter((r[3] for r in rows), np.uint16, len(rows))
                bounds = np.flatnonzero(np.diff(pid)) + 1
                blocks: _Blocks = {}
                for seg in np.split(np.arange(len(pid)), bounds):
                    blocks[(int(pid[seg[0]]), int(t_all[seg[0]]))] = (
                        t_all[seg], v_all[seg], q_all[seg])
                self._merge_colliding(con, blocks)
                con.execute(insert(TsBlock), [
                    {"point_id": k[0], "t_start_ns": k[1], "t_end_ns": int(t[-1]), "n": len(t),
                     "data": pack_block(t, v, q)} for k, (t, v, q) in blocks.items()])
                con.execute(delete(TsRecent).where(TsRecent.t_ns < cutoff))
                n = len(rows)
        except SQLAlchemyError as exc:
            self._fail(exc)
        return n

    @staticmethod
    def _merge_colliding(con: Connection, blocks: _Blocks) -> None:
        """A block that would start where a stored one does (a re-sent sample) is merged with
        it, so compaction never fails on a duplicate key."""
        keys = list(blocks)
        for k in range(0, len(keys), 400):
            chunk = keys[k:k + 400]
            old = con.execute(select(TsBlock.point_id, TsBlock.t_start_ns, TsBlock.data).where(
                tuple_(TsBlock.point_id, TsBlock.t_start_ns).in_(chunk))).all()
            for p, t0, data in old:
                t1, v1, q1 = unpack_block(data)
                t2, v2, q2 = blocks[(p, t0)]
                t = np.concatenate([t1, t2])
                v = np.concatenate([v1, v2])
                q = np.concatenate([q1, q2])
                o = np.argsort(t, kind="stable")
                t, keep = np.unique(t[o][::-1], return_index=True)  # the newer copy wins
                blocks[(p, t0)] = (t, v[o][::-1][keep], q[o][::-1][keep])
                con.execute(delete(TsBlock).where(TsBlock.point_id == p,
                                                  TsBlock.t_start_ns == t0))

    def enforce_retention(self, now_ns: int | None = None) -> None:
        now = now_ns or clock.time_ns()
        r = self.retention
        raw_cut = now - int(r.raw_days * DAY_NS)
        try:
            with self.engine.begin() as con:
                con.execute(delete(TsBlock).where(TsBlock.t_end_ns < raw_cut))
                con.execute(delete(TsRecent).where(TsRecent.t_ns < raw_cut))
                con.execute(delete(TsTail).where(TsTail.t_ns < raw_cut))
                con.execute(delete(TsRollup).where(
                    TsRollup.period == "h", TsRollup.t_ns < now - int(r.hourly_days * DAY_NS)))
                con.execute(delete(TsRollup).where(
                    TsRollup.period == "d", TsRollup.t_ns < now - int(r.daily_days * DAY_NS)))
        except SQLAlchemyError as exc:
            self._fail(exc)
            return
        self.status.last_retention = clock.time()

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop the writer after a last flush. Whatever it still holds then (the database
        failing to the end) is lost: counted in ``lost_samples`` / ``lost_events`` and said
        in one log line, never left looking like "nothing lost"."""
        self._stop.set()
        if self._thread is None:
            return
        self.submit_sentinel()
        self._thread.join(timeout_s)
        if self._thread.is_alive():  # hung on the database: what it holds goes with it
            return self._count_unwritten("the writer did not finish")
        self._count_unwritten(self.status.last_error)

    def _count_unwritten(self, why: str) -> None:
        samples = self._n_pending
        frames = sum(1 for f in list(self._q.queue) if f is not None)  # never ingested
        scans = sum(int(a.cnt.max(initial=0)) for a in self._acc.values())
        with self._events_lock:
            events = len(self._events)
            self._events.clear()
            self.status.pending_events = 0
        if not (samples or frames or events or scans):
            return
        self.status.lost_samples += samples
        self.status.dropped_frames += frames
        self.status.lost_events += events
        self.status.pending_samples = self._n_pending = 0
        self._pending.clear()
        log.error("historian closed with %d samples, %d frames, %d events and the rollups of "
                  "%d scans not written to %s (lost): %s", samples, frames, events, scans,
                  self.status.target, why or "unknown")

    def submit_sentinel(self) -> None:
        try:
            self._q.put_nowait(None)
        except queue.Full:
            pass

    # ================================================================== queries
    def _point(self, tag: str) -> tuple[int, bool]:
        """(permanent id, is analog) of a tag — of the point table, or a retired one."""
        row = self.points.index.get(tag)
        if row is not None:
            return int(self._ids[row]), bool(self._analog[row])
        if tag not in self._retired:
            with self.engine.connect() as con:
                r = con.execute(select(Point.point_id, Point.kind).where(Point.tag == tag)).first()
            if r is None:
                raise KeyError(f"no point '{tag}'")
            self._retired[tag] = (int(r[0]), r[1] == "analog")
        return self._retired[tag]

    def _fetch(self, pid: int, t0: int, t1: int, *, after: bool = False
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Stored samples of one point in [t0, t1], the last one before t0 and (``after``)
        the first one after t1, from the blocks, the recent rows and the tail; sorted."""
        B, R = TsBlock, TsRecent
        with self.engine.connect() as con:
            blocks = con.execute(select(B.t_start_ns, B.data).where(
                B.point_id == pid, B.t_start_ns <= t1, B.t_end_ns >= t0)).all()
            blocks += con.execute(select(B.t_start_ns, B.data).where(
                B.point_id == pid, B.t_start_ns < t0).order_by(B.t_start_ns.desc()).limit(1)).all()
            if after:
                blocks += con.execute(select(B.t_start_ns, B.data).where(
                    B.point_id == pid, B.t_start_ns > t1).order_by(B.t_start_ns).limit(1)).all()
            cols = (R.t_ns, R.value, R.quality)
            rows = con.execute(select(*cols).where(
                R.point_id == pid, R.t_ns >= t0, R.t_ns <= t1)).all()
            rows += con.execute(select(*cols).where(R.point_id == pid, R.t_ns < t0)
                                .order_by(R.t_ns.desc()).limit(1)).all()
            if after:
                rows += con.execute(select(*cols).where(R.point_id == pid, R.t_ns > t1)
                                    .order_by(R.t_ns).limit(1)).all()
            rows += con.execute(select(TsTail.t_ns, TsTail.value, TsTail.quality)
                                .where(TsTail.point_id == pid)).all()
        seen: set[int] = set()
        parts = []
        for t_start, data in blocks:
            if t_start not in seen:
                seen.add(t_start)
                parts.append(unpack_block(data))
        if rows:
            parts.append((np.fromiter((r[0] for r in rows), np.int64, len(rows)),
                          np.fromiter((np.nan if r[1] is None else r[1] for r in rows), float,
                                      len(rows)),
                          np.fromiter((r[2] for r in rows), np.uint16, len(rows))))
        if not parts:
            return np.empty(0, np.int64), np.empty(0), np.empty(0, np.uint16)
        t = np.concatenate([p[0] for p in parts])
        v = np.concatenate([p[1] for p in parts])
        q = np.concatenate([p[2] for p in parts])
        o = np.argsort(t, kind="stable")
        t, v, q = t[o], v[o], q[o]
        if len(t) > 1 and (np.diff(t) == 0).any():
            _, first = np.unique(t, return_index=True)
            t, v, q = t[first], v[first], q[first]
        return t, v, q

    def samples(self, tag: str, t0_ns: int, t1_ns: int) -> tuple[np.ndarray, ...]:
        """Kept samples of one point in [t0, t1], plus the last one before t0 (the value the
        range starts with). Includes the newest sample the compressor still holds."""
        pid, _ = self._point(tag)
        t, v, q = self._fetch(pid, t0_ns, t1_ns)
        first = max(0, int(np.searchsorted(t, t0_ns, side="right")) - 1)
        last = int(np.searchsorted(t, t1_ns, side="right"))
        return t[first:last], v[first:last], q[first:last]

    def value_at(self, tag: str, when: dt.datetime) -> tuple[float, int, dt.datetime] | None:
        """The point's value at ``when``: interpolated between kept samples (analogs) or the
        last one before (status); with the quality and time of the sample it comes from."""
        tn = int(when.timestamp() * 1e9)
        pid, analog = self._point(tag)
        t, v, q = self._fetch(pid, tn, tn, after=True)
        i = int(np.searchsorted(t, tn, side="right")) - 1
        if i < 0:
            return None
        val = float(v[i])
        if analog and i + 1 < len(t) and Q.is_good(int(q[i])) and t[i + 1] > t[i] \
                and np.isfinite(v[i + 1]):
            val = float(np.interp(tn, t[i:i + 2], v[i:i + 2]))
        return val, int(q[i]), dt.datetime.fromtimestamp(t[i] / 1e9, dt.UTC)

    def _source_stats(self, pid: int, a: int, b: int) -> dict[str, tuple[int, int | None]]:
        """Per source: (how many samples or buckets it has in [a, b), the first one's time)."""
        B, R, U = TsBlock, TsRecent, TsRollup
        with self.engine.connect() as con:
            nb, fb = con.execute(select(func.coalesce(func.sum(B.n), 0), func.min(B.t_start_ns))
                                 .where(B.point_id == pid, B.t_start_ns < b,
                                        B.t_end_ns >= a)).one()
            nr, fr = con.execute(select(func.count(), func.min(R.t_ns)).where(
                R.point_id == pid, R.t_ns >= a, R.t_ns < b)).one()
            nt, ft = con.execute(select(func.count(), func.min(TsTail.t_ns)).where(
                TsTail.point_id == pid, TsTail.t_ns >= a, TsTail.t_ns < b)).one()
            out = {"samples": (int(nb) + int(nr) + int(nt),
                               min((x for x in (fb, fr, ft) if x is not None), default=None))}
            for period, name, width in (("h", "hourly", HOUR_NS), ("d", "daily", DAY_NS)):
                n, f = con.execute(select(func.count(), func.min(U.t_ns)).where(
                    U.point_id == pid, U.period == period, U.t_ns > a - width,
                    U.t_ns < b)).one()
                out[name] = (int(n), f)
        return out

    def pick_source(self, tag: str, a: int, b: int, max_points: int) -> str:
        """Which source a trend of ``tag`` over [a, b) reads: the finest that covers the range
        (no coarser data before its first sample) and can give ``max_points`` points; if none
        can, the covering one that gives the most. Decoding is capped at
        ``SOURCE_COST_CAP × max_points`` samples a source."""
        pid, _ = self._point(tag)
        st = self._source_stats(pid, a, b)
        n_s, f_s = st["samples"]
        n_h, f_h = st["hourly"]
        n_d, f_d = st["daily"]
        cap = SOURCE_COST_CAP * max_points
        expect = {"samples": n_s, "hourly": 2 * n_h, "daily": 2 * n_d}
        covers = {
            "samples": n_s > 0 and n_s <= cap and (f_h is None or f_s <= max(a, f_h) + HOUR_NS),
            "hourly": n_h > 0 and n_h <= cap and (f_d is None or f_h <= max(a, f_d) + DAY_NS),
            "daily": n_d > 0,
        }
        order = ("samples", "hourly", "daily")
        for s in order:
            if covers[s] and expect[s] >= max_points:
                return s
        ok = [s for s in order if covers[s]]
        if ok:
            return max(ok, key=lambda s: expect[s])  # ties: the finer (max keeps the first)
        have = [s for s in order if expect[s] > 0 and (s == "daily" or st[s][0] <= cap)]
        return max(have, key=lambda s: expect[s]) if have else "samples"

    def trend(self, tags: Iterable[str], t0: dt.datetime, t1: dt.datetime,
              max_points: int = 2000) -> list[Trend]:
        if t1 <= t0:
            raise ValueError("trend range: the end must be after the start")
        if max_points < 2:
            raise ValueError(f"max_points: {max_points} — a trend needs at least 2 points")
        a, b = int(t0.timestamp() * 1e9), int(t1.timestamp() * 1e9)
        out = []
        for tag in tags:
            source = self.pick_source(tag, a, b, max_points)
            if source == "samples":
                t, v, q = self.samples(tag, a, b)
                t, v, q = _minmax_decimate(t, v, q, a, b, max_points)
                out.append(Trend(tag, "samples", t, v, q))
            else:
                out.append(self._rollup_trend(tag, source, a, b, max_points))
        return out

    def _rollup_trend(self, tag: str, source: str, a: int, b: int, max_points: int) -> Trend:
        pid, _ = self._point(tag)
        period, width = ("h", HOUR_NS) if source == "hourly" else ("d", DAY_NS)
        U = TsRollup
        with self.engine.connect() as con:
            rows = con.execute(select(U.t_ns, U.vmin, U.vmax, U.vmean, U.count).where(
                U.point_id == pid, U.period == period, U.t_ns > a - width,
                U.t_ns < b).order_by(U.t_ns)).all()
        r = np.array([tuple(x) for x in rows], dtype=float).reshape(-1, 5)
        bt = r[:, 0].astype(np.int64)
        vmin, vmax, vmean, cnt = r[:, 1], r[:, 2], r[:, 3], r[:, 4].astype(np.int64)
        nb = max(1, max_points // 2)
        if len(bt) > nb:  # merge neighbouring buckets exactly: min, max, weighted mean, count
            group = np.clip(((bt - a) / max(1, b - a) * nb).astype(np.int64), 0, nb - 1)
            starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
            s = vmean * cnt
            bt, vmin, vmax = bt[starts], np.minimum.reduceat(vmin, starts), \
                np.maximum.reduceat(vmax, starts)
            cs = np.add.reduceat(cnt, starts)
            vmean, cnt = np.add.reduceat(s, starts) / np.maximum(cs, 1), cs
            width = int((b - a) // nb)
        tt = np.repeat(bt, 2)
        tt[1::2] += width // 2
        vv = np.empty(2 * len(bt))
        vv[0::2], vv[1::2] = vmin, vmax
        return Trend(tag, source, tt, vv, bucket_t_ns=bt, vmin=vmin, vmax=vmax, vmean=vmean,
                     count=cnt)

    @staticmethod
    def export_trend_csv(trends: list[Trend], stream: TextIO) -> None:
        """One row per sample (value and quality) or per rollup bucket (vmin, vmax, vmean,
        count, no quality: a bucket has none). A sample without a value has an empty cell."""
        w = csv.writer(stream)
        w.writerow(["time_utc", "point", "source", "value", "quality", "vmin", "vmax", "vmean",
                    "count"])

        def ts(t: int) -> str:
            return dt.datetime.fromtimestamp(t / 1e9, dt.UTC).isoformat(timespec="milliseconds")

        for tr in trends:
            if tr.bucket_t_ns is not None:
                for row in zip(tr.bucket_t_ns.tolist(), tr.vmin.tolist(), tr.vmax.tolist(),
                               tr.vmean.tolist(), tr.count.tolist(), strict=True):
                    w.writerow([ts(row[0]), tr.tag, tr.source, "", "", repr(row[1]),
                                repr(row[2]), repr(row[3]), row[4]])
                continue
            qs = tr.quality if len(tr.quality) == len(tr.t_ns) else \
                np.zeros(len(tr.t_ns), np.uint16)
            for t, v, q in zip(tr.t_ns.tolist(), tr.value.tolist(), qs.tolist(), strict=True):
                w.writerow([ts(t), tr.tag, tr.source, repr(v) if math.isfinite(v) else "",
                            Q.describe(int(q)), "", "", "", ""])

    # ------------------------------------------------------------------ events
    _EVENT_FIELDS = ("event_type", "asset_id", "tag", "severity", "message", "time_ms",
                     "before", "after", "state", "value", "acknowledged", "acknowledged_by")

    def _event_rows(self, events: Iterable[EventRow]) -> list[EventRow]:
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

    def submit_events(self, events: Iterable[EventRow]) -> None:
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
        self._recovered()  # before the counters: a reader that sees them sees ok too
        with self._events_lock:
            for _ in range(len(rows)):
                self._events.popleft()
            self.status.pending_events = len(self._events)
        self.status.events_written += len(rows)

    def add_events(self, events: Iterable[EventRow]) -> None:
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
            # The asset or its bay: "F2" finds F2, F2_21, F2_Q0 (not F20), any case.
            from sqlalchemy import func, or_

            a = asset.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            low = func.lower(Event.asset_id)
            s = s.where(or_(low == asset.lower(), low.like(f"{a}\\_%", escape="\\"),
                            low.like(f"{a}.%", escape="\\")))
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


def _nulls(v: np.ndarray) -> list:
    """Values for the database: NaN (a sample without a value) becomes NULL."""
    out = v.tolist()
    if not np.isfinite(v).all():
        out = [None if x != x or x in (math.inf, -math.inf) else x for x in out]
    return out


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
    order), so spikes survive decimation; a bucket's samples without a value keep one of
    them, so a gap stays a gap."""
    if len(t) <= max_points:
        return t, v, q
    fin = np.isfinite(v)
    nb = max(1, max_points // 2 if fin.all() else max_points // 3)
    edges = np.linspace(a, b, nb + 1)
    bucket = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, nb - 1)
    keep = np.zeros(len(t), dtype=bool)
    idx = np.flatnonzero(fin)
    if len(idx):
        order = idx[np.lexsort((v[idx], bucket[idx]))]  # by bucket, then value
        bs = bucket[order]
        starts = np.flatnonzero(np.r_[True, bs[1:] != bs[:-1]])
        ends = np.r_[starts[1:], len(order)] - 1
        keep[order[starts]] = True
        keep[order[ends]] = True
    nan_idx = np.flatnonzero(~fin)
    if len(nan_idx):
        _, first = np.unique(bucket[nan_idx], return_index=True)
        keep[nan_idx[first]] = True
    return t[keep], v[keep], q[keep]

