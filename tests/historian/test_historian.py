"""The historian on SQLite: migrations, point ids, compression, rollups, queries, failures."""

from __future__ import annotations

import ast
import datetime as dt
import io
import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import event, insert, text

from app.field.sim.plant import PlantSimulator
from app.historian import data_dir, open_historian
from app.historian.compress import SwingingDoor, deviations, pack_block
from app.historian.db import create_db_engine, database_url, migrate
from app.historian.models import Base, TsBlock, TsRecent, TsRollup, TsTail
from app.historian.store import DAY_NS, HOUR_NS, Retention
from app.station import clock, load_station
from app.station import quality as Q
from app.station.frame import ScanFrame
from app.station.points import build_point_table
from tests.clocks import hours_ago, midnight_days_ago

ROOT = Path(__file__).resolve().parents[2]
T0 = hours_ago(6)  # inside every retention window, whatever the day


@pytest.fixture
def plant(station):
    return PlantSimulator(station, seed=4, start=T0)


def frame_of(plant, snap, t=None, values=None, quality=None, points=None):
    pts = points or plant.points
    n = len(pts)
    t_ns = snap.t_source_ns if t is None else np.full(n, int(t.timestamp() * 1e9))
    return ScanFrame(snap.seq, t or snap.timestamp, pts,
                     snap.values if values is None else values,
                     snap.quality if quality is None else quality, t_ns, {})


def wait_for(cond, timeout=30.0, status=None):
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < timeout, f"condition not met in time; {status}"
        time.sleep(0.02)


def wait_written(h, frames, timeout=60.0):
    """All submitted frames written. Bulk tests submit faster than real time, so they open the
    historian with a queue that holds them all: a dropped frame here is a real failure."""
    wait_for(lambda: h.status.frames + h.status.dropped_frames >= frames
             and h.status.pending_samples == 0 and not h._acc, timeout, h.status)
    assert h.status.dropped_frames == 0, h.status


def ns(t: dt.datetime) -> int:
    return int(t.timestamp() * 1e9)


def count(h, sql, **kw):
    with h.engine.connect() as c:
        return c.execute(text(sql), kw).scalar()


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
        assert c.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() \
            == _head_revision()
        names = {r[0] for r in c.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"assets", "users", "events", "alarm_rules", "maintenance_schedule",
            "dss_versions", "ml_models", "points", "audit_log", "ts_block", "ts_recent",
            "ts_rollup", "ts_tail"} <= names


def _head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from app.historian.db import MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head()


def metadata_diff(engine):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with engine.connect() as c:
        return compare_metadata(MigrationContext.configure(c), Base.metadata)


def test_migrated_schema_matches_the_models_on_sqlite(tmp_path):
    eng = create_db_engine(f"sqlite:///{tmp_path / 'a.sqlite'}")
    migrate(eng)
    assert metadata_diff(eng) == []


def test_a_database_made_by_the_first_release_upgrades(tmp_path):
    """0001 is frozen: upgrading a database at 0001 (made as the first release made it) to
    head keeps its rows and ends where a fresh database does."""
    from alembic import command
    from alembic.config import Config

    from app.historian.db import MIGRATIONS

    eng = create_db_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.exec_driver_sql("INSERT INTO ts_recent VALUES (7, 1, 2.5, 0)")
    migrate(eng)
    assert metadata_diff(eng) == []
    with eng.connect() as c:
        assert c.exec_driver_sql("SELECT value FROM ts_recent").scalar() == 2.5


def test_first_migration_is_frozen_not_create_all():
    src = (ROOT / "app/historian/migrations/versions/0001_initial.py").read_text()
    tree = ast.parse(src)
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "app.historian.models" not in imported and "create_all" not in src
    assert src.count("op.create_table(") == 12


def test_alembic_ini_lets_developers_autogenerate(tmp_path):
    """From the project root: `alembic upgrade head` and `alembic check` (autogenerate finds
    nothing to do) on a scratch database."""
    db = f"sqlite:///{tmp_path / 'dev.sqlite'}"
    alembic = [sys.executable, "-m", "alembic", "-x", f"db={db}"]
    r = subprocess.run([*alembic, "upgrade", "head"], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([*alembic, "check"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and "No new upgrade operations" in r.stdout + r.stderr, r.stderr


# ------------------------------------------------------------------ station in the store
def test_station_is_written_to_the_config_store(tmp_path, station, plant):
    h = open_historian(station, plant.points, data_dir=tmp_path)
    try:
        assert count(h, "SELECT COUNT(*) FROM assets") == len(station.assets)
        assert count(h, "SELECT COUNT(*) FROM points") == len(plant.points)
    finally:
        h.close()


def _edit_station(path: Path, *, add: bool = False, drop_asset: str | None = None) -> None:
    """Add a point to the first asset, or drop an asset, of a copied station file."""
    lines = path.read_text().splitlines(keepends=True)
    if add:
        k = next(i for i, x in enumerate(lines) if x.startswith("points = ["))
        lines.insert(k + 1, '  { name = "HEATER", unit = "", kind = "status", '
                            'quantity = "heater_ok", description = "Panel heater", '
                            'states = ["Failed", "Healthy"] },\n')
    if drop_asset:
        start = lines.index(f'id = "{drop_asset}"\n') - 1
        assert lines[start] == "[[assets]]\n"
        end = next(i for i in range(start + 1, len(lines)) if lines[i] == "[[assets]]\n")
        del lines[start:end]
    path.write_text("".join(lines))


def test_a_station_edit_keeps_every_series_with_its_tag(tmp_path, station_copy):
    """A point added to the first asset shifts every later row of the point table; the stored
    series stay with their tags, the new tag gets a new id, nothing is renumbered."""
    st_a = load_station(station_copy)
    pts_a = build_point_table(st_a)
    plant = PlantSimulator(st_a, seed=4, start=T0)
    d = tmp_path / "data"
    s = plant.step(0.1)
    v = np.arange(len(pts_a), dtype=float) + 1000.0  # each point its own value
    h = open_historian(st_a, pts_a, data_dir=d, flush_s=0.05)
    try:
        for k in range(3):
            h.submit(frame_of(plant, s, t=T0 + dt.timedelta(seconds=k), values=v,
                              quality=np.zeros(len(v), np.uint16)))
        wait_written(h, 3)
        with h.engine.connect() as c:
            ids_a = dict(c.execute(text("SELECT tag, point_id FROM points")).all())
    finally:
        h.close()

    _edit_station(station_copy, add=True)
    st_b = load_station(station_copy)
    pts_b = build_point_table(st_b)
    assert len(pts_b) == len(pts_a) + 1 and pts_b.tags[:3] != pts_a.tags[:3]
    h2 = open_historian(st_b, pts_b, data_dir=d)
    try:
        with h2.engine.connect() as c:
            ids_b = dict(c.execute(text("SELECT tag, point_id FROM points")).all())
        assert {t: ids_b[t] for t in ids_a} == ids_a  # nothing renumbered
        new = (set(pts_b.tags) - set(pts_a.tags)).pop()
        assert ids_b[new] == max(ids_a.values()) + 1
        at = T0 + dt.timedelta(seconds=1)
        for tag in ("B220_M1.V", "ICT1.HOT_SPOT", pts_a.tags[-1], pts_a.tags[5]):
            assert h2.value_at(tag, at)[0] == 1000.0 + pts_a.row(tag), tag
        assert h2.value_at(new, at) is None
    finally:
        h2.close()


def test_reopen_with_maintenance_records_and_retired_assets(tmp_path, station_copy):
    """Rows that refer to an asset (maintenance) never stop the historian opening; an asset
    taken out of the station file is retired with its points, whose history stays queryable."""
    st = load_station(station_copy)
    pts = build_point_table(st)
    d = tmp_path / "data"
    h = open_historian(st, pts, data_dir=d, flush_s=0.05)
    plant = PlantSimulator(st, seed=4, start=T0)
    s = plant.step(0.1)
    try:
        h.submit(frame_of(plant, s, t=T0))
        wait_written(h, 1)
        with h.engine.begin() as c:
            c.execute(text("INSERT INTO maintenance_schedule (schedule_id, asset_id, "
                           "maintenance_type) VALUES ('m1', 'ICT1', 'preventive'), "
                           "('m2', 'L1_Q1', 'corrective')"))
    finally:
        h.close()
    h = open_historian(st, pts, data_dir=d)  # used to fail: DELETE FROM assets broke the FK
    h.close()
    _edit_station(station_copy, drop_asset="L1_Q1")
    st2 = load_station(station_copy)
    pts2 = build_point_table(st2)
    h2 = open_historian(st2, pts2, data_dir=d)
    try:
        assert count(h2, "SELECT status FROM assets WHERE asset_id='L1_Q1'") == "retired"
        assert count(h2, "SELECT COUNT(*) FROM points WHERE asset_id='L1_Q1' AND "
                         "retired_at IS NOT NULL") == 3
        assert count(h2, "SELECT COUNT(*) FROM maintenance_schedule") == 2
        assert "L1_Q1.POS" not in pts2.index
        val = h2.value_at("L1_Q1.POS", T0)  # a retired tag: history still there by name
        assert val is not None and val[0] == s.values[pts.row("L1_Q1.POS")]
    finally:
        h2.close()
    h3 = open_historian(st, pts, data_dir=d)  # and back in the file: in service again
    try:
        assert count(h3, "SELECT status FROM assets WHERE asset_id='L1_Q1'") == "operational"
        assert count(h3, "SELECT COUNT(*) FROM points WHERE retired_at IS NOT NULL") == 0
    finally:
        h3.close()


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


def test_a_sample_without_a_value_is_stored_as_null_not_zero(tmp_path, station, plant):
    h = open_historian(station, plant.points, data_dir=tmp_path, flush_s=0.05)
    row = plant.points.row("ICT1.TOP_OIL")
    pid = int(h._ids[row])
    try:
        for k in range(4):
            s = plant.step(0.1)
            v, q = s.values.copy(), s.quality.copy()
            if k == 2:
                v[row], q[row] = np.nan, Q.SENSOR_FAILED
            h.submit(frame_of(plant, s, values=v, quality=q))
        wait_written(h, 4)
        assert count(h, "SELECT COUNT(*) FROM ts_recent WHERE point_id=:p AND value IS NULL",
                     p=pid) == 1
        assert count(h, "SELECT COUNT(*) FROM ts_recent WHERE value = 0.0 AND point_id=:p",
                     p=pid) == 0
        t, v, q = h.samples("ICT1.TOP_OIL", ns(T0), ns(s.timestamp))
        assert np.isnan(v[q == Q.SENSOR_FAILED]).all() and np.isfinite(v[q == Q.GOOD]).all()
        buf = io.StringIO()
        h.export_trend_csv(h.trend(["ICT1.TOP_OIL"], T0, s.timestamp), buf)
        bad = [x for x in buf.getvalue().splitlines() if "invalid" in x]
        assert bad and bad[0].split(",")[3] == ""  # an empty cell, not 0.0 or nan
        h.compact(older_than_ns=2**62)  # blocks keep the NaN too
        t2, v2, q2 = h.samples("ICT1.TOP_OIL", ns(T0), ns(s.timestamp))
        assert np.isnan(v2[q2 == Q.SENSOR_FAILED]).all() and len(t2) == len(t)
    finally:
        h.close()


# ------------------------------------------------------------------ writer & queries
def test_submit_never_blocks_while_the_database_is_locked(tmp_path, station, plant):
    """Another connection holds the write lock, so the writer is stuck inside a write. 1,000
    frames and 1,000 events are submitted meanwhile: every call returns, the queue keeps its
    newest ``queue_size`` frames and counts the rest as dropped, the writer takes none; once
    the lock goes, everything held is written."""
    qsize = 50
    h = open_historian(station, plant.points, data_dir=tmp_path, flush_s=0.05,
                       queue_size=qsize)
    db = tmp_path / f"{station.station.id}.sqlite"
    entered = threading.Event()

    @event.listens_for(h.engine, "before_cursor_execute")
    def _writes(conn, cursor, statement, *a):  # noqa: ANN001
        if threading.current_thread() is h._thread and statement.lstrip().startswith("INSERT"):
            entered.set()

    lock = sqlite3.connect(db, isolation_level=None)
    try:
        s = plant.step(0.1)
        h.submit(frame_of(plant, s))
        wait_written(h, 1)
        lock.execute("BEGIN IMMEDIATE")  # the write lock, held
        entered.clear()
        h.submit(frame_of(plant, plant.step(0.1)))
        wait_for(entered.is_set)  # the writer is now inside a write that cannot proceed
        wait_for(lambda: h._q.empty())
        taken = h.status.frames
        frames = [frame_of(plant, plant.step(0.1)) for _ in range(1000)]
        calls = 0
        for f in frames:
            h.submit(f)
            calls += 1
        h.submit_events([{"event_type": "state", "severity": "low", "message": f"e{k}",
                          "time_ms": k} for k in range(1000)])
        assert calls == 1000
        assert h.status.frames == taken  # the writer took nothing: it is stuck …
        assert h._q.qsize() == qsize  # … the queue holds the newest frames …
        assert h.status.dropped_frames == 1000 - qsize  # … and counted the others
        assert h.status.pending_events == 1000
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    try:
        wait_for(lambda: h.status.frames == taken + qsize and h.status.pending_samples == 0
                 and h.status.events_written == 1000, status=h.status)
        assert h.status.ok
    finally:
        event.remove(h.engine, "before_cursor_execute", _writes)
        h.close()


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
        h.compact(older_than_ns=ns(T0 + dt.timedelta(minutes=3)))
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
        assert lines[0] == "time_utc,point,source,value,quality,vmin,vmax,vmean,count"
        assert len(lines) > 3 and lines[1].split(",")[4] == "good"
    finally:
        h.close()


def test_the_newest_held_sample_is_stored_and_queried(tmp_path, station, plant):
    """A slow ramp within the deviation: the compressor archives nothing after the first
    sample, yet the newest sample is on disk (the tail row) and the queries use it."""
    h = open_historian(station, plant.points, data_dir=tmp_path, flush_s=0.05)
    row = plant.points.row("ICT1.HOT_SPOT")
    dev = deviations(plant.points)[row]
    s = plant.step(0.1)
    try:
        for k in range(50):
            v = s.values.copy()
            v[row] = 80.0 + k * dev / 100  # 0.49 deviations over 50 frames: nothing archived
            h.submit(frame_of(plant, s, t=T0 + dt.timedelta(seconds=k), values=v))
        wait_written(h, 50)
        wait_for(lambda: count(h, "SELECT t_ns FROM ts_tail WHERE point_id=:p",
                               p=int(h._ids[row])) == ns(T0 + dt.timedelta(seconds=49)))
        assert count(h, "SELECT COUNT(*) FROM ts_recent WHERE point_id=:p",
                     p=int(h._ids[row])) == 1
        end = T0 + dt.timedelta(seconds=49)
        t, v, _ = h.samples("ICT1.HOT_SPOT", ns(T0), ns(end))
        assert t[-1] == ns(end) and v[-1] == pytest.approx(80.0 + 49 * dev / 100)
        assert h.value_at("ICT1.HOT_SPOT", T0 + dt.timedelta(seconds=30))[0] == \
            pytest.approx(80.0 + 30 * dev / 100)
    finally:
        h.close()
    assert count(h, "SELECT COUNT(*) FROM ts_tail") == 0  # a clean close archived them


def test_hourly_and_daily_rollups_and_the_30_day_query(tmp_path, station, plant):
    h = open_historian(station, plant.points, data_dir=tmp_path, flush_s=0.1,
                       queue_size=5000)
    row = plant.points.row("B220_M1.V")
    pid = int(h._ids[row])
    s = plant.step(0.1)
    start = midnight_days_ago(5)
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
                            "point_id=:p AND period='h' ORDER BY t_ns"), {"p": pid}).all()
        day = c.execute(text("SELECT vmin, vmax, vmean, count FROM ts_rollup WHERE "
                             "point_id=:p AND period='d' ORDER BY t_ns"), {"p": pid}).all()
    assert len(hr) == 36 and len(day) == 2
    first = [v for t, v in values if t < start + dt.timedelta(hours=1)]
    assert (hr[0][1], hr[0][2], hr[0][4]) == (min(first), max(first), 60)
    assert hr[0][3] == pytest.approx(np.mean(first))
    day1 = [v for t, v in values if t < start + dt.timedelta(days=1)]
    assert day[0][3] == 24 * 60 and day[0][0] == 200.0 and day[0][1] == max(day1)
    assert day[0][2] == pytest.approx(np.mean(day1))
    h2 = open_historian(station, plant.points, data_dir=tmp_path, start_writer=False)
    try:
        h2.compact(older_than_ns=2**62)
        tr = h2.trend(["B220_M1.V"], start, start + dt.timedelta(days=30))[0]
        # The kept samples cover the range and give more points than 36 hourly buckets would.
        assert tr.source == "samples" and 0 < len(tr.t_ns) <= 2000
        assert tr.value.max() == pytest.approx(259.0 + 3.5)
        with h2.engine.begin() as c:  # raw gone (retention): the hourly rollups answer
            c.execute(text("DELETE FROM ts_block"))
        tr = h2.trend(["B220_M1.V"], start, start + dt.timedelta(days=30))[0]
        assert tr.source == "hourly" and len(tr.bucket_t_ns) == 36
        assert tr.value.max() == pytest.approx(259.0 + 3.5)
        buf = io.StringIO()
        h2.export_trend_csv([tr], buf)
        rows = buf.getvalue().splitlines()
        assert rows[1].split(",")[2:] == ["hourly", "", "", repr(float(min(first))),
                                           repr(float(max(first))), repr(hr[0][3]), "60"]
    finally:
        h2.close()


def _store_blocks(h, tag, t, v, every_ns=HOUR_NS // 2):
    pid = int(h._ids[h.points.row(tag)])
    blocks = []
    for b0 in range(int(t[0]), int(t[-1]) + 1, every_ns):
        m = (t >= b0) & (t < b0 + every_ns)
        if m.any():
            blocks.append({"point_id": pid, "t_start_ns": int(t[m][0]),
                           "t_end_ns": int(t[m][-1]), "n": int(m.sum()),
                           "data": pack_block(t[m], v[m], np.zeros(m.sum(), np.uint16))})
    with h.engine.begin() as c:
        c.execute(insert(TsBlock), blocks)


def _store_rollups(h, tag, period, t0_ns, n, vmax=lambda i: 80.0):
    pid = int(h._ids[h.points.row(tag)])
    width = HOUR_NS if period == "h" else DAY_NS
    with h.engine.begin() as c:
        c.execute(insert(TsRollup), [{"point_id": pid, "period": period,
                                      "t_ns": t0_ns + i * width, "vmin": 60.0,
                                      "vmax": vmax(i), "vmean": 70.0, "count": 36000}
                                     for i in range(n)])


def test_trend_source_follows_the_expected_sample_count(tmp_path, station, plant):
    """3 days of kept samples (and their hourly rollups): the trend reads the samples and
    returns ~2,000 points, not 72 hourly buckets; 30 days with samples for only the last 7
    reads the hourly rollups; over 90 days, with hourly kept for 90, the daily ones."""
    h = open_historian(station, plant.points, data_dir=tmp_path, start_writer=False)
    tag = "ICT1.HOT_SPOT"
    end = midnight_days_ago(1)
    try:
        t = np.arange(ns(end - dt.timedelta(days=7)), ns(end), 30 * 10**9)  # one every 30 s
        v = 70 + 10 * np.sin(np.arange(len(t)) / 500)
        v[len(v) - 5000] = 140.0  # a spike, 2 days before the end
        _store_blocks(h, tag, t, v)
        _store_rollups(h, tag, "h", ns(end - dt.timedelta(days=90)), 90 * 24)
        _store_rollups(h, tag, "d", ns(end - dt.timedelta(days=400)), 400,
                       vmax=lambda i: 90.0 + (i == 150))
        tr = h.trend([tag], end - dt.timedelta(days=3), end)[0]
        assert tr.source == "samples" and 1500 <= len(tr.t_ns) <= 2000
        assert tr.value.max() == 140.0
        tr = h.trend([tag], end - dt.timedelta(days=30), end)[0]
        assert tr.source == "hourly" and len(tr.t_ns) == 2 * 30 * 24
        tr = h.trend([tag], end - dt.timedelta(days=60), end)[0]  # 1,440 buckets → merged
        assert tr.source == "hourly" and len(tr.t_ns) <= 2000 and tr.count.sum() == \
            60 * 24 * 36000
        tr = h.trend([tag], end - dt.timedelta(days=300), end)[0]
        assert tr.source == "daily" and len(tr.bucket_t_ns) == 300
        assert tr.value.max() == 91.0  # day 150 of 400: its maximum kept
        tr = h.trend([tag], end - dt.timedelta(days=300), end, max_points=100)[0]
        assert tr.source == "daily" and len(tr.t_ns) <= 100 and tr.value.max() == 91.0
    finally:
        h.close()


def test_restart_within_the_hour_adds_to_its_rollup(tmp_path, station, plant):
    """10:00–10:10 at 100, close, then 10:20–10:30 at 300 in the same hour: the hourly row
    holds both runs (it used to keep only the second), and so does the daily one."""
    row = plant.points.row("B220_M1.V")
    s = plant.step(0.1)
    hour = hours_ago(5)

    def run(start, value):
        h = open_historian(station, plant.points, data_dir=tmp_path, flush_s=0.05,
                           queue_size=1000)
        try:
            for k in range(600):
                v = s.values.copy()
                v[row] = value
                h.submit(frame_of(plant, s, t=start + dt.timedelta(seconds=k), values=v))
            wait_written(h, 600)
        finally:
            h.close()
        return h

    run(hour, 100.0)
    h = run(hour + dt.timedelta(minutes=20), 300.0)
    pid = int(h._ids[row])
    for period in ("h", "d"):
        with h.engine.connect() as c:
            r = c.execute(text("SELECT vmin, vmax, vmean, count FROM ts_rollup WHERE "
                               "point_id=:p AND period=:per"), {"p": pid, "per": period}).all()
        # The mean is merged batch by batch (count-weighted), so how the writer happened to
        # split the 1,200 samples into batches moves its last bit: compare it as a float.
        assert len(r) == 1, period
        assert r[0][:2] == (100.0, 300.0) and r[0][3] == 1200, period
        assert r[0][2] == pytest.approx(200.0, rel=1e-12), period


def test_retention_parse():
    r = Retention.parse("raw=2d,daily=1y")
    assert (r.raw_days, r.hourly_days, r.daily_days) == (2.0, 90.0, 365.0)
    assert Retention.parse("hourly=12w,raw=36h").raw_days == 1.5
    for bad in ("raw=7", "weekly=3d", "raw=-1d", "raw=0d", "raw"):
        with pytest.raises(ValueError, match="--retention"):
            Retention.parse(bad)


def test_the_background_job_enforces_retention(tmp_path, station, plant):
    """Expired raw samples (blocks, recent rows, tails), hourly and daily rollups are removed
    by the writer's own job — when it starts, and periodically after — and nothing younger."""
    now = clock.time_ns()
    ret = Retention(raw_days=1, hourly_days=10, daily_days=100)
    pid = 3

    def expired_and_fresh(c, shift):
        old, young = now - shift - 2 * DAY_NS, now - shift
        c.execute(insert(TsBlock), [{"point_id": pid, "t_start_ns": old, "t_end_ns": old + 1,
                                     "n": 1, "data": pack_block(np.array([old]), np.ones(1),
                                                                np.zeros(1, np.uint16))}])
        c.execute(insert(TsRecent), [{"point_id": pid, "t_ns": t, "value": 1.0, "quality": 0}
                                     for t in (old, young)])
        c.execute(insert(TsTail), [{"point_id": pid + shift % 7, "t_ns": old, "value": 1.0,
                                    "quality": 0}])
        c.execute(insert(TsRollup), [
            {"point_id": pid, "period": p, "t_ns": t, "vmin": 0, "vmax": 1, "vmean": 0.5,
             "count": 1}
            for p, t in (("h", now - shift - 11 * DAY_NS), ("h", young),
                         ("d", now - shift - 101 * DAY_NS), ("d", young))])

    h0 = open_historian(station, plant.points, data_dir=tmp_path, start_writer=False)
    with h0.engine.begin() as c:
        expired_and_fresh(c, 0)
    h0.close()

    def left(h):
        return (count(h, "SELECT COUNT(*) FROM ts_block"),
                count(h, "SELECT COUNT(*) FROM ts_recent"),
                count(h, "SELECT COUNT(*) FROM ts_tail"),
                count(h, "SELECT COUNT(*) FROM ts_rollup WHERE period='h'"),
                count(h, "SELECT COUNT(*) FROM ts_rollup WHERE period='d'"))

    h = open_historian(station, plant.points, data_dir=tmp_path, retention=ret,
                       retention_every_s=0.2, flush_s=0.05)
    try:
        wait_for(lambda: left(h) == (0, 1, 0, 1, 1), status=h.status)  # at start
        ran = h.status.last_retention
        assert ran > 0
        with h.engine.begin() as c:
            expired_and_fresh(c, 10**9)  # more expires later: the periodic run takes it
        wait_for(lambda: left(h) == (0, 2, 0, 2, 2) and h.status.last_retention > ran,
                 status=h.status)
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


def test_status_names_the_backend_for_the_status_bar(tmp_path, station, plant):
    h = open_historian(station, plant.points, data_dir=tmp_path)
    try:
        s = h.status.copy()
        assert s.backend == "sqlite" and s.target.endswith(f"{station.station.id}.sqlite")
        assert s.ok and not s.degraded and s.degraded_since == 0.0
        s.ok = False
        assert h.status.ok  # a copy
    finally:
        h.close()


# ------------------------------------------------------------------ failures
def test_disk_full_degrades_and_recovers(tmp_path, station, plant, caplog):
    h = open_historian(station, plant.points, data_dir=tmp_path, flush_s=0.05)
    try:
        wait_for(lambda: h.status.last_retention > 0)  # the start-up job is done
        with h.engine.connect() as c:
            pages = c.exec_driver_sql("PRAGMA page_count").scalar()

        @event.listens_for(h.engine, "connect")
        def _limit(dbapi_conn, _rec):  # noqa: ANN001
            dbapi_conn.execute(f"PRAGMA max_page_count={pages + 2}")

        h.engine.dispose()
        for _ in range(200):
            h.submit(frame_of(plant, plant.step(0.1)))
        wait_for(lambda: not h.status.ok)
        assert "full" in h.status.last_error and h.status.degraded_since > 0
        assert any("historian degraded" in r.getMessage() for r in caplog.records)
        assert h._thread.is_alive()  # the writer lives on; the scan never waited
        event.remove(h.engine, "connect", _limit)
        h.engine.dispose()
        h.submit(frame_of(plant, plant.step(0.1)))
        wait_for(lambda: h.status.ok and h.status.pending_samples == 0)
        assert h.status.degraded_since == 0.0
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
        wait_for(lambda: not h.status.ok and h.status.pending_samples > 0)
        assert "readonly" in h.status.last_error.replace("-", "").replace(" ", "")
        assert h._thread.is_alive()
    finally:
        event.remove(h.engine, "connect", _ro)
        h.engine.dispose()
        h.close()


def test_kill_9_loses_at_most_the_last_batch_of_every_point(tmp_path, station):
    """A writer process is SIGKILLed mid-ingest at the real scan rate. The database opens,
    passes integrity_check, and EVERY point's newest stored sample — archived or held — is
    within one batch (1 s) plus one flush of the last frame submitted; so are the rollups.
    On reopen the held samples become archived ones."""
    script = textwrap.dedent(f"""
        import sys, time
        import numpy as np
        from app.station import load_station
        from app.field.sim.plant import PlantSimulator
        from app.station.frame import ScanFrame
        from app.historian import open_historian
        st = load_station()
        p = PlantSimulator(st, seed=2)
        h = open_historian(st, p.points, data_dir={str(tmp_path)!r}, flush_s=1.0)
        next_t = time.monotonic()
        while True:  # a real 10 Hz scan: simulated time runs at wall-clock pace
            s = p.step(0.1)
            h.submit(ScanFrame(s.seq, s.timestamp, p.points, s.values, s.quality,
                               s.t_source_ns, {{}}))
            t = s.t_source_ns
            other = np.flatnonzero(t != t.max())  # e.g. DGA gases: the lab sample's time
            print(s.seq, t.max(), *(f"{{i}}:{{t[i]}}" for i in other), flush=True)
            next_t += 0.1
            time.sleep(max(0.0, next_t - time.monotonic()))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT)
    last = seq = 0
    own: dict[int, int] = {}
    while seq < 80:  # 8 s of scans
        parts = proc.stdout.readline().split()
        if len(parts) >= 2 and parts[0].isdigit():
            seq, last = int(parts[0]), int(parts[1])
            own = {int(a): int(b) for a, b in (x.split(":") for x in parts[2:])}
        assert proc.poll() is None, "the writer process died"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    proc.stdout.close()
    db = tmp_path / f"{station.station.id}.sqlite"
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        newest: dict[int, int] = {}
        for sql in ("SELECT point_id, MAX(t_ns) FROM ts_recent GROUP BY point_id",
                    "SELECT point_id, MAX(t_end_ns) FROM ts_block GROUP BY point_id",
                    "SELECT point_id, t_ns FROM ts_tail"):
            for p, t in con.execute(sql):
                newest[p] = max(newest.get(p, 0), t)
        id_of = dict(con.execute("SELECT tag, point_id FROM points").fetchall())
        counts = [r[0] for r in con.execute(
            "SELECT SUM(count) FROM ts_rollup WHERE period='h' GROUP BY point_id")]
    finally:
        con.close()
    pts = build_point_table(station)
    assert len(id_of) == len(pts) and set(newest) == set(id_of.values())  # all have data
    # Each point against its own source time in the last frame submitted.
    lag_s = np.array([(own.get(i, last) - newest[id_of[tag]]) / 1e9
                      for i, tag in enumerate(pts.tags)])
    worst = pts.tags[int(lag_s.argmax())]
    assert lag_s.max() <= 2.1, f"{worst} {lag_s.max():.2f} s behind"  # 1 s batch + flush
    # Rollups: everything but the last batch counted (frames with good data per point).
    assert max(counts) >= seq - 21
    h = open_historian(station, pts, data_dir=tmp_path, flush_s=0.05)
    try:
        p = PlantSimulator(station, seed=2)
        h.submit(frame_of(p, p.step(0.1)))
        wait_for(lambda: h.status.samples_written > 0)
        assert count(h, "SELECT COUNT(*) FROM ts_tail WHERE t_ns <= :t", t=last) == 0
        tag = "ICT1.HOT_SPOT"
        t, _, _ = h.samples(tag, last - 10**10, last)
        assert len(t) and last - t[-1] <= 2.1e9  # the held sample is an archived one now
    finally:
        h.close()


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
        wait_for(lambda: not h.status.ok and h.status.pending_events == 500)
        assert h._thread.is_alive()
        event.remove(h.engine, "connect", _ro)
        h.engine.dispose()
        wait_for(lambda: h.status.events_written == 500, status=h.status)
        assert h.status.pending_events == 0 and h.status.ok
        assert len(h.events(limit=1000)) == 500
    finally:
        h.close()


def test_query_only_historian_starts_no_writer(tmp_path, station, plant):
    h = open_historian(station, plant.points, data_dir=tmp_path, start_writer=False)
    assert h._thread is None
    assert h.value_at("ICT1.HOT_SPOT", T0) is None
    assert not math.isnan(h.status.last_flush)
    h.close()
