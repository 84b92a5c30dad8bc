"""``gridtwin bench historian``: ingest, storage and query figures on SQLite.

Signals are the plant simulator's (2,531 points at 10 Hz), generated before timing starts.

* ``writer_cpu_pct`` — CPU of the historian's writer thread during a sustained real-time
  10 Hz ingest;
* ``ingest_over_raw`` — time for the historian to take the same frames — compression, rollup
  accumulators, the batched writes of kept samples, tail samples and merged rollups, and the
  compaction into blocks (``compact_ms_per_frame`` is that part alone) — divided by a raw
  ``sqlite3.executemany`` of every one of their samples into an indexed table (what storing
  everything would cost);
* ``bytes_per_point_day`` — database growth per point per simulated day in steady state
  (blocks compacted every 10 minutes of data, rollups, indexes), measured between the first
  and the last of ``minutes`` of simulated 10 Hz data and scaled to a day;
  ``week_gb`` is that for 2,500 points for 7 days;
* ``query_24h_ms`` — one point over 24 h down to ≤ 2,000 samples through the historian's
  own query path (source choice, blocks, recent rows, tail; two days of kept samples stored
  at the density measured above, so the day before is there too);
* ``query_30d_ms`` — one point over 30 days (from hourly rollups: the kept samples do not
  reach back that far).

Targets: ``ingest_over_raw`` ≤ 2, ``query_24h_ms`` ≤ 50, ``query_30d_ms`` ≤ 50, one week of
2,500 points ≤ 1 GB on disk. ``--data-dir`` keeps the scratch databases there (otherwise a
temporary folder, removed afterwards).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from app.station import clock

TARGETS = {"ingest_over_raw": 2.0, "query_24h_ms": 50.0, "query_30d_ms": 50.0,
           "week_gb": 1.0}
DAY_S = 86400


def _frames(n: int, start: dt.datetime):  # noqa: ANN202
    from app.field.sim.plant import PlantSimulator
    from app.station import load_station
    from app.station.frame import ScanFrame

    st = load_station()
    p = PlantSimulator(st, seed=5, start=start)
    out = []
    for _ in range(n):
        s = p.step(0.1)
        out.append(ScanFrame(s.seq, s.timestamp, p.points, s.values, s.quality,
                             s.t_source_ns, {}))
    return st, p.points, out


def _wait(h, n: int) -> None:  # noqa: ANN001
    while not (h.status.frames + h.status.dropped_frames >= n and h.status.pending_samples == 0
               and h._q.empty()):
        time.sleep(0.01)


def _db_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in (db, Path(str(db) + "-wal")) if p.exists())


def run(minutes: float = 30.0, realtime_s: float = 15.0,
        data_dir: str | Path | None = None) -> dict:
    from sqlalchemy import insert

    from app.historian import open_historian
    from app.historian.compress import pack_block
    from app.historian.models import TsBlock, TsRollup
    from app.historian.store import HOUR_NS

    now = clock.now().replace(minute=0, second=0, microsecond=0)
    start = now - dt.timedelta(days=2)  # inside every retention window
    n_frames = max(60, int(minutes * 600))
    st, pts, frames = _frames(n_frames, start)
    keep = data_dir is not None
    tmp = Path(data_dir) if keep else Path(tempfile.mkdtemp(prefix="gridtwin-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    for sub in ("h", "rt", "q"):  # a previous run's databases
        shutil.rmtree(tmp / sub, ignore_errors=True)
    (tmp / "raw.sqlite").unlink(missing_ok=True)
    res: dict = {"points": len(pts), "frames": n_frames}

    # --- raw executemany of every sample (up to one minute of frames, one commit a second)
    raw_frames = frames[:600]
    raw = sqlite3.connect(tmp / "raw.sqlite")
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA synchronous=NORMAL")
    raw.execute("CREATE TABLE s (point INTEGER, t INTEGER, v REAL, q INTEGER)")
    raw.execute("CREATE INDEX s_pt ON s (point, t)")
    ids = np.arange(len(pts)).tolist()
    t0 = time.perf_counter()
    for k in range(0, len(raw_frames), 10):
        rows = []
        for f in raw_frames[k:k + 10]:
            rows += list(zip(ids, f.t_source_ns.tolist(), f.values.tolist(),
                             f.quality.tolist(), strict=True))
        raw.executemany("INSERT INTO s VALUES (?,?,?,?)", rows)
        raw.commit()
    raw_per_frame = (time.perf_counter() - t0) / len(raw_frames)
    raw.close()

    # --- the historian: as fast as it will take them, compacted every 10 minutes of data
    h = open_historian(st, pts, data_dir=tmp / "h", queue_size=n_frames + 10, flush_s=1.0)
    db = tmp / "h" / f"{st.station.id}.sqlite"
    window = min(6000, max(20, n_frames // 3))  # 10 minutes of frames (less on short runs)
    ingest_s = compact_s = 0.0
    size_at: dict[int, int] = {}
    for w0 in range(0, n_frames, window):
        chunk = frames[w0:w0 + window]
        t0 = time.perf_counter()
        for f in chunk:
            h.submit(f)
        _wait(h, w0 + len(chunk))
        t1 = time.perf_counter()
        h.compact(older_than_ns=int(chunk[-1].t_source_ns.max()) + 1)
        t2 = time.perf_counter()
        ingest_s += t2 - t0
        compact_s += t2 - t1
        with h.engine.connect() as c:
            c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        size_at[w0 + len(chunk)] = _db_bytes(db)
    h.close()
    res["ingest_over_raw"] = round((ingest_s / n_frames) / raw_per_frame, 4)
    res["ingest_ms_per_frame"] = round(ingest_s / n_frames * 1000, 3)
    res["compact_ms_per_frame"] = round(compact_s / n_frames * 1000, 3)
    res["raw_ms_per_frame"] = round(raw_per_frame * 1000, 3)
    res["compression_ratio"] = round(n_frames * len(pts) / max(1, h.status.samples_written), 1)
    marks = sorted(size_at)
    grown = size_at[marks[-1]] - size_at[marks[0]]  # steady state: after the first window
    span_s = (marks[-1] - marks[0]) / 10.0
    per_point_day = grown / len(pts) * (DAY_S / span_s) if span_s > 0 else 0.0
    res["bytes_per_point_day"] = int(per_point_day)
    res["week_gb"] = round(per_point_day * 2500 * 7 / 1e9, 3)

    # --- sustained real-time ingest: writer CPU
    h = open_historian(st, pts, data_dir=tmp / "rt", flush_s=1.0)
    clk = time.pthread_getcpuclockid(h._thread.ident)
    c0, w0 = time.clock_gettime(clk), time.perf_counter()
    nxt = time.monotonic()
    k = 0
    while time.perf_counter() - w0 < realtime_s:
        h.submit(frames[k % n_frames])
        k += 1
        nxt += 0.1
        time.sleep(max(0.0, nxt - time.monotonic()))
    cpu = time.clock_gettime(clk) - c0
    wall = time.perf_counter() - w0
    h.close()
    res["writer_cpu_pct"] = round(100 * cpu / wall, 1)

    # --- queries: two days of kept samples in 30-minute blocks (as compaction leaves them)
    # and 30 days of hourly rollups, queried through Historian.trend()
    h = open_historian(st, pts, data_dir=tmp / "q")
    tag = "ICT1.HOT_SPOT"
    pid = int(h._ids[pts.row(tag)])
    per_day = int(DAY_S * 10 / max(res["compression_ratio"], 1.0))
    day0 = int((now - dt.timedelta(days=2)).timestamp() * 1e9)
    t = np.sort(np.random.default_rng(1).choice(
        np.arange(day0, day0 + 2 * DAY_S * 10**9, 10**8), 2 * per_day, replace=False))
    v = 70 + 10 * np.sin(np.linspace(0, 12.56, len(t)))
    half = HOUR_NS // 2
    with h.engine.begin() as con:
        blocks = []
        for b0 in range(day0, day0 + 2 * DAY_S * 10**9, half):
            m = (t >= b0) & (t < b0 + half)
            if m.any():
                blocks.append({"point_id": pid, "t_start_ns": int(t[m][0]),
                               "t_end_ns": int(t[m][-1]), "n": int(m.sum()),
                               "data": pack_block(t[m], v[m], np.zeros(m.sum(), np.uint16))})
        con.execute(insert(TsBlock), blocks)
        month0 = int((now - dt.timedelta(days=30)).timestamp() * 1e9)
        con.execute(insert(TsRollup), [{"point_id": pid, "period": "h",
                                        "t_ns": month0 + i * HOUR_NS, "vmin": 60.0,
                                        "vmax": 80.0 + (i % 7), "vmean": 70.0, "count": 36000}
                                       for i in range(30 * 24)])
    q24, q30 = [], []
    end = now
    for _ in range(20):
        a = time.perf_counter()
        tr = h.trend([tag], end - dt.timedelta(days=1), end)[0]
        q24.append(time.perf_counter() - a)
        a = time.perf_counter()
        tr30 = h.trend([tag], end - dt.timedelta(days=30), end)[0]
        q30.append(time.perf_counter() - a)
    h.close()
    res["query_24h_samples_in"] = per_day
    res["query_24h_points_out"] = len(tr.t_ns)
    res["query_24h_source"] = tr.source
    res["query_24h_ms"] = round(statistics.median(q24) * 1000, 2)
    res["query_30d_points_out"] = len(tr30.t_ns)
    res["query_30d_source"] = tr30.source
    res["query_30d_ms"] = round(statistics.median(q30) * 1000, 2)
    res["targets"] = TARGETS
    res["meets_targets"] = (res["ingest_over_raw"] <= TARGETS["ingest_over_raw"]
                            and res["query_24h_ms"] <= TARGETS["query_24h_ms"]
                            and res["query_30d_ms"] <= TARGETS["query_30d_ms"]
                            and res["week_gb"] <= TARGETS["week_gb"])
    if keep:
        res["data_dir"] = str(tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return res


def main(json_out: bool = False, minutes: float = 30.0, realtime_s: float = 15.0,
         data_dir: str | Path | None = None) -> int:
    r = run(minutes=minutes, realtime_s=realtime_s, data_dir=data_dir)
    if json_out:
        print(json.dumps(r, indent=2))
        return 0
    print(f"GridTwin historian benchmark (SQLite; {r['points']} points, {r['frames']} frames "
          "of plant signals at 10 Hz)")
    print(f"  writer_cpu_pct       {r['writer_cpu_pct']:10.1f}   (sustained 10 Hz)")
    print(f"  ingest_over_raw      {r['ingest_over_raw']:10.4f}   target <= 2  "
          f"({r['ingest_ms_per_frame']} ms a frame, {r['compact_ms_per_frame']} ms of it "
          f"compaction, vs raw executemany {r['raw_ms_per_frame']} ms)")
    print(f"  compression_ratio    {r['compression_ratio']:10.1f}")
    print(f"  bytes_per_point_day  {r['bytes_per_point_day']:10d}   "
          f"(2,500 points x 7 days = {r['week_gb']} GB; target <= 1 GB)")
    print(f"  query_24h_ms         {r['query_24h_ms']:10.2f}   target <= 50  "
          f"({r['query_24h_samples_in']} samples -> {r['query_24h_points_out']} from "
          f"{r['query_24h_source']})")
    print(f"  query_30d_ms         {r['query_30d_ms']:10.2f}   target <= 50  "
          f"({r['query_30d_points_out']} points from {r['query_30d_source']})")
    print(f"  meets targets        {'yes' if r['meets_targets'] else 'NO'}")
    return 0


if __name__ == "__main__":
    main(json_out=bool(os.environ.get("JSON")))
