"""The optional InfluxDB time-series backend, for users who already run one.

It speaks the **InfluxDB 1.x HTTP API** — line protocol on ``/write`` and InfluxQL on
``/query`` — which InfluxDB 1.6+ serves natively and InfluxDB 2.x serves for compatibility
(with a DBRP mapping). The ``/api/v2`` endpoints of the ``influxdb-client`` package do not
exist on 1.x (404), so they are not used. Tested against influxd 1.6.7.

Same ingest semantics as the SQL historian: a writer thread that never blocks the scan,
swinging-door compression, a batch written at least every second, degraded status (with the
server's message) and retry on failure. Measurement ``gt``, tag ``point``, fields ``v``
(value) and ``q`` (quality word); timestamps in ns. Configuration and events stay in the
configuration store (SQL).
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time

import httpx
import numpy as np

from app.field.frame import ScanFrame
from app.field.points import PointTable
from app.historian.compress import SwingingDoor, deviations
from app.historian.db import HistorianError
from app.historian.store import HistorianStatus, Trend, put_dropping_oldest

log = logging.getLogger(__name__)


def _escape_tag(s: str) -> str:
    return s.replace(",", r"\,").replace(" ", r"\ ").replace("=", r"\=")


class InfluxHistorian:
    def __init__(self, url: str, points: PointTable, *, database: str = "gridtwin",
                 flush_s: float = 1.0, queue_size: int = 600, timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.db = database
        self.points = points
        self.flush_s = flush_s
        self.status = HistorianStatus()
        self._http = httpx.Client(base_url=self.url, timeout=timeout_s)
        self._door = SwingingDoor(deviations(points))
        self._tags = [_escape_tag(t) for t in points.tags]
        self._q: queue.Queue[ScanFrame] = queue.Queue(maxsize=queue_size)
        self._lines: list[str] = []
        self._stop = threading.Event()
        try:
            self._query("CREATE DATABASE " + self.db, post=True)
        except httpx.HTTPError as exc:
            self._http.close()
            raise HistorianError(f"InfluxDB {self.url} not reachable: {exc}") from None
        self._thread = threading.Thread(target=self._run, name="influx-writer", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ ingest
    def submit(self, frame: ScanFrame) -> None:
        """Never blocks: a full queue drops its oldest frame."""
        put_dropping_oldest(self._q, frame, self.status)

    def _run(self) -> None:
        next_flush = time.monotonic() + self.flush_s
        while not (self._stop.is_set() and self._q.empty()):
            try:
                f = self._q.get(timeout=max(0.0, next_flush - time.monotonic()))
                self.status.frames += 1
                self._lines += self._to_lines(*self._door.update(f.t_source_ns, f.values,
                                                                  f.quality))
            except queue.Empty:
                pass
            except Exception as exc:  # never let the writer die
                self._fail(str(exc))
            if time.monotonic() >= next_flush:
                self._flush()
                next_flush = time.monotonic() + self.flush_s
        self._lines += self._to_lines(*self._door.flush())
        self._flush()

    def _to_lines(self, r: np.ndarray, t: np.ndarray, v: np.ndarray, q: np.ndarray
                  ) -> list[str]:
        tags = self._tags
        return [f"gt,point={tags[i]} v={val!r},q={qq}i {tt}"
                for i, tt, val, qq in zip(r.tolist(), t.tolist(), v.tolist(), q.tolist(),
                                          strict=True)]

    def _flush(self) -> None:
        if not self._lines:
            return
        body = "\n".join(self._lines)
        try:
            r = self._http.post("/write", params={"db": self.db, "precision": "ns"},
                                content=body.encode())
        except httpx.HTTPError as exc:
            self._fail(f"InfluxDB {self.url} not reachable: {exc}")
            return
        if r.status_code != 204:
            self._fail(f"InfluxDB refused the batch ({r.status_code}): {r.text.strip()[:200]}")
            return
        self.status.samples_written += len(self._lines)
        self._lines = []
        self.status.pending_samples = 0
        self.status.last_flush = time.time()
        if not self.status.ok:
            log.warning("InfluxDB writes again after: %s", self.status.last_error)
            self.status.ok = True

    def _fail(self, msg: str) -> None:
        if self.status.ok or self.status.last_error != msg:
            log.error("historian (InfluxDB) degraded: %s", msg)
        self.status.ok, self.status.last_error = False, msg
        self.status.pending_samples = len(self._lines)

    def close(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)
        self._http.close()

    # ------------------------------------------------------------------ queries
    def _query(self, q: str, post: bool = False) -> dict:
        params = {"db": self.db, "q": q, "epoch": "ns"}
        r = (self._http.post if post else self._http.get)("/query", params=params)
        if r.status_code != 200:
            raise RuntimeError(f"InfluxDB query failed ({r.status_code}): {r.text[:200]}")
        body = r.json()
        for res in body.get("results", []):
            if "error" in res:
                raise RuntimeError(f"InfluxDB: {res['error']}")
        return body

    @staticmethod
    def _series(body: dict) -> list[list]:
        res = body.get("results", [{}])[0]
        series = res.get("series", [])
        return series[0]["values"] if series else []

    def trend(self, tags: list[str], t0: dt.datetime, t1: dt.datetime,
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
            v = np.array([x for r in rows for x in (r[1], r[2])], dtype=float)
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
        return float(v), int(q), dt.datetime.fromtimestamp(t / 1e9, dt.UTC)
