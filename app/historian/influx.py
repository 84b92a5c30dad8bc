"""The optional InfluxDB time-series backend, for users who already run one.

It speaks the **InfluxDB 1.x HTTP API** — line protocol on ``/write`` and InfluxQL on
``/query`` — which InfluxDB 1.6+ serves natively and InfluxDB 2.x serves for compatibility.
The ``/api/v2`` endpoints of the ``influxdb-client`` package do not exist on 1.x (404), so
they are not used. Tested against influxd 1.6.7.

Versions and what they need
    * **1.x**: the database is created at open (``CREATE DATABASE``) when the user may;
      otherwise it must exist. Credentials: ``username``/``password`` (HTTP basic auth) when
      the server has ``auth-enabled``.
    * **2.x** (compatibility API): ``CREATE DATABASE`` is not supported, so the database must
      exist already — a bucket with a DBRP mapping naming it
      (``influx v1 dbrp create --db gridtwin --rp autogen --bucket-id … --default``).
      Credentials: an API ``token`` with read/write access to that bucket (sent as
      ``Authorization: Token …``). A failed ``CREATE DATABASE`` is logged and ignored; only
      refused credentials (HTTP 401) stop the open.

Same ingest semantics as the SQL historian: a writer thread that never blocks the scan,
swinging-door compression, a batch written at least every second, degraded status (with the
server's message) and retry on failure; while degraded at most ``max_pending`` lines are held
(the oldest dropped and counted in ``lost_samples``). A batch the server refuses as malformed
(HTTP 400) is never retried: the bad lines are dropped with one log line naming them and
counted in ``rejected_samples``, the rest of the batch is kept. Measurement ``gt``, tag
``point``, fields ``v`` (value; absent when the sample has none) and ``q`` (quality word);
timestamps in ns. Configuration and events stay in the SQL configuration store
(``config_store``), to which events are delegated.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import queue
import re
import threading
import time
from collections.abc import Iterable

import httpx
import numpy as np
from sqlalchemy import Engine

from app.historian.api import EventRow
from app.historian.compress import SwingingDoor, deviations
from app.historian.db import HistorianError
from app.historian.models import Event
from app.historian.store import Historian, HistorianStatus, Trend, put_dropping_oldest
from app.station import clock
from app.station.frame import ScanFrame
from app.station.points import PointTable

log = logging.getLogger(__name__)

_BAD_LINE = re.compile(r"unable to parse '(.*?)': ([^\n]*)")


def _escape_tag(s: str) -> str:
    return s.replace(",", r"\,").replace(" ", r"\ ").replace("=", r"\=")


class InfluxHistorian:
    def __init__(self, url: str, points: PointTable, *, database: str = "gridtwin",
                 token: str | None = None, username: str | None = None,
                 password: str | None = None, create_database: bool = True,
                 config_store: Historian | None = None, flush_s: float = 1.0,
                 queue_size: int = 600, timeout_s: float = 5.0,
                 max_pending: int = 2_000_000) -> None:
        self.url = url.rstrip("/")
        self.db = database
        self.points = points
        self.flush_s = flush_s
        self.max_pending = max_pending
        self.config_store = config_store
        self._status = HistorianStatus(backend="influxdb", target=f"{self.url} db={database}")
        headers = {"Authorization": f"Token {token}"} if token else {}
        auth = (username, password or "") if username else None
        self._http = httpx.Client(base_url=self.url, timeout=timeout_s, headers=headers,
                                  auth=auth)
        self._door = SwingingDoor(deviations(points))
        self._tags = [_escape_tag(t) for t in points.tags]
        self._q: queue.Queue[ScanFrame] = queue.Queue(maxsize=queue_size)
        self._lines: list[str] = []
        self._stop = threading.Event()
        try:
            self._open(create_database)
        except BaseException:
            self._http.close()
            raise
        self._thread = threading.Thread(target=self._run, name="influx-writer", daemon=True)
        self._thread.start()

    def _open(self, create_database: bool) -> None:
        try:
            r = self._http.get("/ping")
        except httpx.HTTPError as exc:
            raise HistorianError(f"InfluxDB {self.url} not reachable: {exc}") from None
        if r.status_code not in (200, 204):
            raise HistorianError(f"InfluxDB {self.url}: /ping answered {r.status_code} — "
                                 "is this an InfluxDB server?")
        if not create_database:
            return
        try:
            self._query("CREATE DATABASE " + _quote_ident(self.db), post=True)
        except _QueryError as exc:
            if exc.status == 401:
                raise HistorianError(f"InfluxDB {self.url}: credentials refused: "
                                     f"{exc.message}") from None
            log.warning("InfluxDB %s: could not create database %r (%s); it must exist "
                        "(InfluxDB 2.x: a bucket with a DBRP mapping for it)", self.url,
                        self.db, exc.message)
        except httpx.HTTPError as exc:
            raise HistorianError(f"InfluxDB {self.url} not reachable: {exc}") from None

    # ------------------------------------------------------------------ status
    @property
    def status(self) -> HistorianStatus:
        """The time-series writer's status; degraded too when the configuration store (where
        events go) is."""
        cs = self.config_store.status if self.config_store is not None else None
        if cs is None or cs.ok:
            return self._status
        s = self._status.copy()
        s.ok = False
        s.last_error = s.last_error or f"configuration store: {cs.last_error}"
        s.degraded_since = s.degraded_since or cs.degraded_since
        s.pending_events, s.lost_events = cs.pending_events, cs.lost_events
        return s

    @property
    def engine(self) -> Engine | None:
        """The configuration store's engine (DSS versions, active circuit)."""
        return self.config_store.engine if self.config_store is not None else None

    # ------------------------------------------------------------------ ingest
    def submit(self, frame: ScanFrame) -> None:
        """Never blocks: a full queue drops its oldest frame."""
        put_dropping_oldest(self._q, frame, self._status)

    def _run(self) -> None:
        next_flush = time.monotonic() + self.flush_s
        while not (self._stop.is_set() and self._q.empty()):
            try:
                f = self._q.get(timeout=max(0.0, next_flush - time.monotonic()))
                self._status.frames += 1
                self._add_lines(self._to_lines(*self._door.update(f.t_source_ns, f.values,
                                                                  f.quality)))
            except queue.Empty:
                pass
            except Exception as exc:  # never let the writer die
                self._fail(str(exc))
            if time.monotonic() >= next_flush:
                self._guarded_flush()
                next_flush = time.monotonic() + self.flush_s
            self._status.queue_depth = self._q.qsize()
        self._add_lines(self._to_lines(*self._door.flush()))
        self._guarded_flush()

    def _guarded_flush(self) -> None:
        try:
            self._flush()
        except Exception as exc:  # never let the writer die
            self._fail(str(exc))

    def _to_lines(self, r: np.ndarray, t: np.ndarray, v: np.ndarray, q: np.ndarray
                  ) -> list[str]:
        tags = self._tags
        out = []
        for i, tt, val, qq in zip(r.tolist(), t.tolist(), v.tolist(), q.tolist(), strict=True):
            if math.isfinite(val):
                out.append(f"gt,point={tags[i]} v={val!r},q={qq}i {tt}")
            else:  # no value (NaN of a bad reading): the quality alone
                out.append(f"gt,point={tags[i]} q={qq}i {tt}")
        return out

    def _add_lines(self, lines: list[str]) -> None:
        self._lines += lines
        over = len(self._lines) - self.max_pending
        if over > 0:  # bounded while degraded: the oldest go first, counted
            del self._lines[:over]
            self._status.lost_samples += over
        self._status.pending_samples = len(self._lines)

    def _post(self, lines: list[str]) -> httpx.Response:
        return self._http.post("/write", params={"db": self.db, "precision": "ns"},
                               content="\n".join(lines).encode())

    def _flush(self) -> None:
        if not self._lines:
            return
        try:
            written = self._send(self._lines)
        except httpx.HTTPError as exc:
            self._fail(f"InfluxDB {self.url} not reachable: {exc}")
            return
        except _Refused as exc:
            self._fail(str(exc))
            return
        self._lines = []  # written, or refused for good (and logged)
        if not self._status.ok:  # before the counters: a reader that sees them sees ok too
            log.warning("InfluxDB writes again after: %s", self._status.last_error)
            self._status.ok = True
            self._status.degraded_since = 0.0
        self._status.samples_written += written
        self._status.pending_samples = 0
        self._status.last_flush = clock.time()

    def _send(self, lines: list[str], retry: bool = True) -> int:
        """POST a batch; returns how many lines the server stored. HTTP 400 (malformed
        lines) is final: the bad lines are dropped with one log line naming the first, and
        the rest is kept — the server already stored it (1.x "partial write"), or it is sent
        once more without them. Anything else but 204 raises :class:`_Refused` (retried)."""
        r = self._post(lines)
        if r.status_code == 204:
            return len(lines)
        if r.status_code != 400:
            raise _Refused(f"InfluxDB refused the batch ({r.status_code}): "
                           f"{r.text.strip()[:200]}")
        try:
            msg = str(r.json().get("error", r.text))
        except ValueError:
            msg = r.text
        bad = {m.group(1): m.group(2) for m in _BAD_LINE.finditer(msg)}
        partial = msg.startswith("partial write")
        if partial:
            n_bad = len(bad) or _dropped_count(msg) or 1
            rest: list[str] = []
        else:
            rest = [x for x in lines if x not in bad] if bad and retry else []
            n_bad = len(lines) - len(rest)
        self._status.rejected_samples += n_bad
        first = next(iter(bad.items()), None)
        what = f"{first[0]!r} ({first[1]})" if first else msg.strip()[:300]
        log.error("InfluxDB %s refused %d line(s) as malformed, dropped for good; %s: %s",
                  self.url, n_bad, "first" if first else "server said", what)
        if partial:
            return len(lines) - n_bad
        if rest:
            self._lines = rest  # if the retry fails for another reason, the bad stay out
            return self._send(rest, retry=False)
        return 0

    def _fail(self, msg: str) -> None:
        if self._status.ok or self._status.last_error != msg:
            log.error("historian (InfluxDB) degraded: %s", msg)
        if self._status.ok:
            self._status.degraded_since = clock.time()
        self._status.ok, self._status.last_error = False, msg
        self._status.pending_samples = len(self._lines)

    def close(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)
        self._http.close()
        if self._lines:  # the server refused to the end: lost, and said so
            self._status.lost_samples += len(self._lines)
            log.error("historian (InfluxDB) closed with %d samples not written (lost): %s",
                      len(self._lines), self._status.last_error or "unknown")
            self._lines = []
            self._status.pending_samples = 0
        if self.config_store is not None:
            self.config_store.close(timeout_s)

    # ------------------------------------------------------------------ events (SQL)
    def _store(self) -> Historian:
        if self.config_store is None:
            raise HistorianError("InfluxDB backend without a configuration store: events "
                                 "are kept in the SQL store (open it with open_historian)")
        return self.config_store

    def submit_events(self, events: Iterable[EventRow]) -> None:
        self._store().submit_events(events)

    def add_events(self, events: Iterable[EventRow]) -> None:
        self._store().add_events(events)

    def events(self, *, types: Iterable[str] | None = None,
               severities: Iterable[str] | None = None, asset: str | None = None,
               start: dt.datetime | None = None, end: dt.datetime | None = None,
               text_contains: str | None = None, limit: int = 1000,
               offset: int = 0) -> list[Event]:
        return self._store().events(types=types, severities=severities, asset=asset,
                                    start=start, end=end, text_contains=text_contains,
                                    limit=limit, offset=offset)

    export_events_csv = staticmethod(Historian.export_events_csv)
    export_trend_csv = staticmethod(Historian.export_trend_csv)

    # ------------------------------------------------------------------ queries
    def _query(self, q: str, post: bool = False) -> dict:
        params = {"db": self.db, "q": q, "epoch": "ns"}
        r = (self._http.post if post else self._http.get)("/query", params=params)
        if r.status_code != 200:
            try:
                msg = r.json().get("error", r.text)
            except ValueError:
                msg = r.text
            raise _QueryError(r.status_code, f"InfluxDB query failed ({r.status_code}): "
                                             f"{str(msg).strip()[:200]}")
        body = r.json()
        for res in body.get("results", []):
            if "error" in res:
                raise _QueryError(200, f"InfluxDB: {res['error']}")
        return body

    @staticmethod
    def _series(body: dict) -> list[list]:
        res = body.get("results", [{}])[0]
        series = res.get("series", [])
        return series[0]["values"] if series else []

    def trend(self, tags: Iterable[str], t0: dt.datetime, t1: dt.datetime,
              max_points: int = 2000) -> list[Trend]:
        a, b = int(t0.timestamp() * 1e9), int(t1.timestamp() * 1e9)
        buckets = max(1, max_points // 2)
        step_ns = max(1, (b - a) // buckets)
        out = []
        for tag in tags:
            p = tag.replace("'", r"\'")
            rows = self._series(self._query(
                f"SELECT MIN(v), MAX(v) FROM gt WHERE point='{p}' AND time >= {a} AND "
                f"time < {b} GROUP BY time({step_ns}ns) fill(none)"))
            t = np.array([r[0] for r in rows for _ in (0, 1)], dtype=np.int64)
            t[1::2] += step_ns // 2
            v = np.array([np.nan if x is None else x for r in rows for x in (r[1], r[2])],
                         dtype=float)
            out.append(Trend(tag, "samples", t, v))
        return out

    def value_at(self, tag: str, when: dt.datetime) -> tuple[float, int, dt.datetime] | None:
        p = tag.replace("'", r"\'")
        tn = int(when.timestamp() * 1e9)
        rows = self._series(self._query(
            f"SELECT v, q FROM gt WHERE point='{p}' AND time <= {tn} ORDER BY time DESC "
            "LIMIT 1"))
        if not rows:
            return None
        t, v, q = rows[0]
        return (math.nan if v is None else float(v)), int(q or 0), \
            dt.datetime.fromtimestamp(t / 1e9, dt.UTC)


class _Refused(RuntimeError):
    pass


class _QueryError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _quote_ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dropped_count(msg: str) -> int:
    m = re.search(r"dropped=(\d+)", msg)
    return int(m.group(1)) if m else 0
