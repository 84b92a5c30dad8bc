"""The historian on SQLite: migrations, compression, rollups, queries, failures."""

from __future__ import annotations

import datetime as dt
import io
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from sqlalchemy import event, text

from app.field import quality as Q
from app.field.frame import ScanFrame
from app.field.sim.plant import PlantSimulator
from app.historian import data_dir, open_historian
from app.historian.compress import SwingingDoor, deviations
from app.historian.db import create_db_engine, database_url, migrate

T0 = dt.datetime(2026, 11, 25, 6, 0, tzinfo=dt.UTC)


@pytest.fixture
def plant(station):
    return PlantSimulator(station, seed=4, start=T0)


def frame_of(plant, snap, t=None, values=None, quality=None):
    n = len(plant.points)
    t_ns = snap.t_source_ns if t is None else np.full(n, int(t.timestamp() * 1e9))
    return ScanFrame(snap.seq, t or snap.timestamp, plant.points,
                     snap.values if values is None else values,
                     snap.quality if quality is None else quality, t_ns, {})


def wait_for(cond, timeout=20.0, status=None):
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < timeout, f"condition not met in time; {status}"
        time.sleep(0.02)


def wait_written(h, frames, timeout=60.0):
    """All submitted frames written. Bulk tests submit faster than real time, so they open the
    historian with a queue that holds them all: a dropped frame here is a real failure."""
    wait_for(lambda: h.status.frames + h.status.dropped_frames >= frames
             and h.status.pending_samples == 0, timeout, h.status)
    assert h.status.dropped_frames == 0, h.status


# ------------------------------------------------------------------ store location & schema
def test_data_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDTWIN_DATA_DIR", str(tmp_path / "env"))
    assert data_dir(tmp_path / "explicit") == tmp_path / "explicit"
    assert data_dir() == tmp_path / "env"
    monkeypatch.delenv("GRIDTWIN_DATA_DIR")
    assert "gridtwin" in str(data_dir())
    url = database_url("GT-KA-400", data_dir_path=tmp_path)
    assert url == f"sqlite:///{tmp_path / 'GT-KA-400.sqlite'}"
    assert database_url("x", db_url="postgresql://u@h/db") == "postgresql://u@h/db"


def test_migrations_create_the_schema_once(tmp_path):
    eng = create_db_engine(f"sqlite:///{tmp_path / 'a.sqlite'}")
    migrate(eng)
    migrate(eng)  # a second open is a no-op
    with eng.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0001"
        names = {r[0] for r in c.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"assets", "users", "events", "alarm_rules", "maintenance_schedule",
            "dss_versions", "ml_models", "points", "audit_log", "ts_block", "ts_recent",
            "ts_rollup"} <= names


def test_station_is_written_to_the_config_store(tmp_path, station, plant):
    h = open_historian(station, plant.points, data_dir=tmp_path)
    try:
        with h.engine.connect() as c:
            assert c.execute(text("SELECT COUNT(*) FROM assets")).scalar() == len(station.assets)
            assert c.execute(text("SELECT COUNT(*) FROM points")).scalar() == len(plant.points)
    finally:
        h.close()


# ------------------------------------------------------------------ compression
def test_reconstruction_is_within_the_deviation(station, plant):
    pts = plant.points
    dev = deviations(pts)
    sd = SwingingDoor(dev)
    snaps = [plant.step(0.1) for _ in range(600)]
    kept = [sd.update(s.t_source_ns, s.values, s.quality) for s in snaps] + [sd.flush()]
    r = np.concatenate([k[0] for k in kept])
    t = np.concatenate([k[1] for k in kept])
    v = np.concatenate([k[2] for k in kept])
    assert len(r) < 0.05 * len(snaps) * len(pts)  # at least 20:1 on real signals
    for tag in ("ICT1.HOT_SPOT", "B400_M1.V", "F2_CT.P", "L1_CT.I_A"):
        i = pts.row(tag)
        m = r == i
        o = np.argsort(t[m])
        times = np.array([s.t_source_ns[i] for s in snaps])
        orig = np.array([s.values[i] for s in snaps])
        rec = np.interp(times, t[m][o], v[m][o])
        assert np.abs(rec - orig).max() <= dev[i] * (1 + 1e-9), tag


def test_quality_changes_are_always_kept(station, plant):
    sd = SwingingDoor(deviations(plant.points))
    row = plant.points.row("ICT1.TOP_OIL")
    s = plant.step(0.1)
    sd.update(s.t_source_ns, s.values, s.quality)
    for k in range(5):
        s = plant.step(0.1)
        q = s.quality.copy()
        if k == 2:
            q[row] = Q.SENSOR_FAILED
        r, _, _, qq = sd.update(s.t_source_ns, s.values, q)
        kept_q = [int(x) for x, i in zip(qq, r, strict=True) if i == row]
        if k == 2:
            assert Q.SENSOR_FAILED in kept_q  # into invalid …
        if k == 3:
            assert Q.GOOD in kept_q  # … and back to good


# ------------------------------------------------------------------ writer & queries
def test_submit_never_blocks_and_drops_the_oldest(tmp_path, station, plant):
    h = open_historian(station, plant.points, data_dir=tmp_path, queue_size=3)
    try:
        with h._q.mutex:  # hold the queue: the writer cannot take frames meanwhile
            pass
        s = plant.step(0.1)
        t0 = time.perf_counter()
        for _ in range(50):
            h.submit(frame_of(plant, s))
        assert time.perf_counter() - t0 < 5.0
    finally:
        h.close()
    assert h.status.frames + h.status.dropped_frames == 50


def test_trend_value_at_and_csv(tmp_path, station, plant):
    h = open_historian(station, plant.points, data_dir=tmp_path, flush_s=0.1, queue_size=5000)
    row = plant.points.row("F3_CT.P")
    spike_t = None
    try:
        for k in range(3000):
            s = plant.step(0.1)
            v = s.values
            if k == 1500:
                v = v.copy()
                v[row] = 999.0
                spike_t = s.timestamp
            h.submit(frame_of(plant, s, values=v))
        end = s.timestamp
        wait_written(h, 3000)
        h.compact(older_than_ns=int((T0 + dt.timedelta(minutes=3)).timestamp() * 1e9))
        tr = h.trend(["F3_CT.P", "ICT1.HOT_SPOT"], T0, end, max_points=200)
        assert all(len(x.t_ns) <= 200 for x in tr) and tr[0].source == "samples"
        assert tr[0].value.max() == pytest.approx(999.0)  # the spike survives decimation
        got = h.value_at("F3_CT.P", spike_t)
        assert got is not None and got[0] == pytest.approx(999.0)
        mid = T0 + dt.timedelta(minutes=2)
        val, q, _ = h.value_at("ICT1.HOT_SPOT", mid)
        assert 40 < val < 120 and q == Q.GOOD
        buf = io.StringIO()
        h.export_trend_csv(tr, buf)
        lines = buf.getvalue().splitlines()
        assert lines[0] == "time_utc,point,value,quality,source" and len(lines) > 3
    finally:
        h.close()


def test_hourly_and_daily_rollups_and_the_30_day_query(tmp_path, station, plant):
    h = open_historian(station, plant.points, data_dir=tmp_path, flush_s=0.1,
                       queue_size=5000)
    row = plant.points.row("B220_M1.V")
    s = plant.step(0.1)
    start = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    values = []
    try:
        for k in range(0, 36 * 60):  # 36 hours, one frame a minute
            t = start + dt.timedelta(minutes=k)
            v = s.values.copy()
            v[row] = 200.0 + (k % 60) + (k // 60) * 0.1
            values.append((t, v[row]))
            h.submit(frame_of(plant, s, t=t, values=v))
        wait_written(h, 36 * 60)
    finally:
        h.close()
    with h.engine.connect() as c:
        hr = c.execute(text("SELECT t_ns, vmin, vmax, vmean, count FROM ts_rollup WHERE "
                            "point_id=:p AND period='h' ORDER BY t_ns"), {"p": row}).all()
        day = c.execute(text("SELECT vmin, vmax, count FROM ts_rollup WHERE point_id=:p AND "
                             "period='d' ORDER BY t_ns"), {"p": row}).all()
    assert len(hr) == 36 and len(day) == 2
    first = [v for t, v in values if t < start + dt.timedelta(hours=1)]
    assert (hr[0][1], hr[0][2], hr[0][4]) == (min(first), max(first), 60)
    assert hr[0][3] == pytest.approx(np.mean(first))
    assert day[0][2] == 24 * 60 and day[0][0] == 200.0
    h2 = open_historian(station, plant.points, data_dir=tmp_path)
    try:
        tr = h2.trend(["B220_M1.V"], start, start + dt.timedelta(days=30))[0]
        assert tr.source == "hourly" and 0 < len(tr.t_ns) <= 2000
        assert tr.value.max() == pytest.approx(259.0 + 3.5)
    finally:
        h2.close()


def test_retention(tmp_path, station, plant):
    h = open_historian(station, plant.points, data_dir=tmp_path, flush_s=0.1)
    s = plant.step(0.1)
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
    try:
        h.submit(frame_of(plant, s, t=old))
        h.submit(frame_of(plant, s, t=old + dt.timedelta(seconds=1)))
        wait_for(lambda: h.status.frames == 2 and h.status.pending_samples == 0)
        h.compact(older_than_ns=2**62)
        h.enforce_retention()
        with h.engine.connect() as c:
            assert c.execute(text("SELECT COUNT(*) FROM ts_block")).scalar() == 0
            assert c.execute(text("SELECT COUNT(*) FROM ts_rollup WHERE period='h'")).scalar() > 0
    finally:
        h.close()


def test_events_query_and_csv(tmp_path, station, plant):
    h = open_historian(station, plant.points, data_dir=tmp_path)
    base = int(T0.timestamp() * 1000)
    h.add_events([
        {"event_type": "state", "asset_id": "F1_Q0", "tag": "F1_Q0.POS", "severity": "medium",
         "message": "F1_Q0.POS closed → open", "time_ms": base + 1, "before": "closed",
         "after": "open"},
        {"event_type": "alarm", "asset_id": "ICT1", "tag": "ICT1.TOP_OIL", "severity": "high",
         "message": "ICT1.TOP_OIL high", "time_ms": base + 2},
        {"event_type": "comm", "asset_id": "F3", "severity": "high",
         "message": "F3 communication ok → lost", "time_ms": base + 3},
    ])
    try:
        assert [e.event_type for e in h.events()] == ["comm", "alarm", "state"]
        assert [e.asset_id for e in h.events(types=["state", "alarm"], severities=["high"])] \
            == ["ICT1"]
        assert [e.tag for e in h.events(text_contains="TOP_oil")] == ["ICT1.TOP_OIL"]
        assert len(h.events(start=T0, end=T0 + dt.timedelta(milliseconds=2))) == 1
        buf = io.StringIO()
        h.export_events_csv(h.events(asset="F1_Q0"), buf)
        assert "F1_Q0.POS closed → open" in buf.getvalue()
    finally:
        h.close()


# ------------------------------------------------------------------ failures
def test_disk_full_degrades_and_recovers(tmp_path, station, plant, caplog):
    h = open_historian(station, plant.points, data_dir=tmp_path, flush_s=0.05)
    try:
        with h.engine.connect() as c:
            pages = c.exec_driver_sql("PRAGMA page_count").scalar()

        @event.listens_for(h.engine, "connect")
        def _limit(dbapi_conn, _rec):  # noqa: ANN001
            dbapi_conn.execute(f"PRAGMA max_page_count={pages + 2}")

        h.engine.dispose()
        for _ in range(200):
            h.submit(frame_of(plant, plant.step(0.1)))
        wait_for(lambda: not h.status.ok)
        assert "full" in h.status.last_error
        assert any("historian degraded" in r.getMessage() for r in caplog.records)
        assert h._thread.is_alive()  # the writer lives on; the scan never waited
        event.remove(h.engine, "connect", _limit)
        h.engine.dispose()
        h.submit(frame_of(plant, plant.step(0.1)))
        wait_for(lambda: h.status.ok and h.status.pending_samples == 0)
    finally:
        h.close()


def test_read_only_database_degrades(tmp_path, station, plant):
    h = open_historian(station, plant.points, data_dir=tmp_path, flush_s=0.05)
    try:
        @event.listens_for(h.engine, "connect")
        def _ro(dbapi_conn, _rec):  # noqa: ANN001
            dbapi_conn.execute("PRAGMA query_only=ON")

        h.engine.dispose()
        h.submit(frame_of(plant, plant.step(0.1)))
        wait_for(lambda: not h.status.ok)
        assert "readonly" in h.status.last_error.replace("-", "").replace(" ", "")
        assert h.status.pending_samples > 0 and h._thread.is_alive()
    finally:
        event.remove(h.engine, "connect", _ro)
        h.engine.dispose()
        h.close()


def test_kill_9_loses_at_most_the_last_second(tmp_path, station):
    """A writer process is SIGKILLed mid-ingest: the database opens, passes integrity_check,
    and holds data to within one flush (1 s) of the last frame it had submitted."""
    script = textwrap.dedent(f"""
        import sys, time
        from app.station import load_station
        from app.field.sim.plant import PlantSimulator
        from app.field.frame import ScanFrame
        from app.historian import open_historian
        st = load_station()
        p = PlantSimulator(st, seed=2)
        h = open_historian(st, p.points, data_dir={str(tmp_path)!r}, flush_s=1.0)
        next_t = time.monotonic()
        while True:  # a real 10 Hz scan: simulated time runs at wall-clock pace
            s = p.step(0.1)
            h.submit(ScanFrame(s.seq, s.timestamp, p.points, s.values, s.quality,
                               s.t_source_ns, {{}}))
            print(s.t_source_ns.max(), flush=True)
            next_t += 0.1
            time.sleep(max(0.0, next_t - time.monotonic()))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            cwd=os.getcwd())
    last = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < 6:
        line = proc.stdout.readline()
        if line.strip().isdigit():
            last = int(line)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    proc.stdout.close()
    db = tmp_path / f"{station.station.id}.sqlite"
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        newest = con.execute("SELECT MAX(t_ns) FROM ts_recent").fetchone()[0]
    finally:
        con.close()
    assert newest is not None and last - newest <= 1.5e9  # one flush + one frame


def test_submitted_events_survive_a_read_only_spell(tmp_path, station, plant):
    """Events from the scan path go through the writer thread: never written on the caller's
    thread, held while the database refuses writes, all stored once it accepts them again."""
    h = open_historian(station, plant.points, data_dir=tmp_path, flush_s=0.05)
    base = int(T0.timestamp() * 1000)
    try:
        with pytest.raises(ValueError, match="colour"):
            h.submit_events([{"event_type": "state", "severity": "low", "message": "x",
                              "time_ms": base, "colour": "red"}])
        with pytest.raises(ValueError, match="time_ms"):
            h.submit_events([{"event_type": "state", "severity": "low", "message": "x"}])

        @event.listens_for(h.engine, "connect")
        def _ro(dbapi_conn, _rec):  # noqa: ANN001
            dbapi_conn.execute("PRAGMA query_only=ON")

        h.engine.dispose()
        h.submit_events([{"event_type": "alarm", "asset_id": "ICT1", "severity": "high",
                          "message": f"event {k}", "time_ms": base + k} for k in range(500)])
        wait_for(lambda: not h.status.ok)
        assert h.status.pending_events == 500 and h._thread.is_alive()
        event.remove(h.engine, "connect", _ro)
        h.engine.dispose()
        wait_for(lambda: h.status.events_written == 500, status=h.status)
        assert h.status.pending_events == 0 and h.status.ok
        assert len(h.events(limit=1000)) == 500
    finally:
        h.close()
