"""Asset health from the historian (app.analytics.health) and `gridtwin health`: condition
read from real stored samples, suggestions in the maintenance schedule once per asset and
factor however often it runs."""

from __future__ import annotations

import datetime as dt
import json
import time

import numpy as np
import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from app.analytics.health import assess, open_suggestions, store_suggestions
from app.field.sim.plant import PlantSimulator
from app.historian import open_historian
from app.historian.models import MaintenanceSchedule
from app.station import quality as Q
from app.station.frame import ScanFrame
from tests.clocks import now

DAYS = 5  # inside the raw retention (7 days), whatever the day


@pytest.fixture
def recorded(station, tmp_path):
    """Five days of samples every six hours: ICT1's acetylene climbing to a fault level,
    L1_Q0 losing gas, everything else as the plant simulator has it."""
    at = now()
    plant = PlantSimulator(station, seed=3, start=at - dt.timedelta(days=DAYS))
    snap = plant.step(0.1)
    pts = plant.points
    h = open_historian(station, pts, data_dir=tmp_path)
    row = {t: i for i, t in enumerate(pts.tags)}
    steps = DAYS * 4
    for k in range(steps + 1):
        t = at - dt.timedelta(hours=6 * (steps - k)) - dt.timedelta(minutes=1)
        v = np.array(snap.values, dtype=float)
        # Low for the first day (whatever the hour the test runs, the first day of history
        # is healthy), then climbing to 60 ppm at the end: IEEE Table 2 exceeded.
        v[row["ICT1.C2H2"]] = 0.5 + 3.75 * max(0, k - 4)
        v[row["L1_Q0.SF6"]] = 5.9 - 0.01 * k  # 0.04 bar/day: the alarm stage in weeks
        t_ns = np.full(len(pts), int(t.timestamp() * 1e9))
        h.submit(ScanFrame(k + 1, t, pts, v, np.asarray(snap.quality), t_ns, {}))
    t0 = time.monotonic()
    while h.status.frames < steps + 1 or h.status.pending_samples:
        assert time.monotonic() - t0 < 60, h.status
        time.sleep(0.02)
    yield station, h, at
    h.close()


def test_condition_from_the_historian_drives_the_index_and_the_work(recorded):
    station, h, at = recorded
    got = {r.index.asset: r for r in assess(station, h, at)}
    ict = got["ICT1"]
    dga = next(f for f in ict.index.factors if f.name == "dga")
    assert dga.value == 3 and ict.index.capped_by == "dga"
    assert "C2H2" in dga.basis
    assert ict.history and len(ict.history) <= 30
    assert ict.history[0][1] > ict.index.index  # it was healthier when the gas was low
    cb = got["L1_Q0"]
    sf6 = next(f for f in cb.index.factors if f.name == "sf6")
    assert "falling" in sf6.basis and sf6.score < 50
    assert {s.code for s in cb.suggestions} >= {"L1_Q0:sf6"}
    # A transformer whose condition is normal scores higher than the faulty one.
    assert got["ICT2"].index.index > ict.index.index
    assert list(got) == sorted(got, key=lambda a: got[a].index.index)


def test_suggestions_are_stored_once_and_raised_again_after_the_work_is_done(recorded):
    station, h, at = recorded
    work = [s for r in assess(station, h, at, asset_id="ICT1") for s in r.suggestions]
    assert [s.code for s in work] == ["ICT1:dga"]
    assert store_suggestions(h.engine, work) == (1, 0)
    assert store_suggestions(h.engine, work) == (0, 1)  # a rerun updates, never duplicates
    rows = open_suggestions(h.engine)
    assert len(rows) == 1 and rows[0][0] == "ICT1" and rows[0][3].startswith("[ICT1:dga]")
    with Session(h.engine) as db, db.begin():
        db.execute(update(MaintenanceSchedule).values(completed_date=at.date().isoformat()))
    assert store_suggestions(h.engine, work) == (1, 0)  # done, and still poor: raised again


def test_the_cli_prints_json_and_writes_the_schedule(recorded, capsys, tmp_path):
    from app.cli import main

    station, h, at = recorded
    h.close()
    assert main(["health", "--data-dir", str(tmp_path), "--asset", "ICT1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["asset"] for r in out] == ["ICT1"]
    r = out[0]
    assert {"asset", "index", "factors", "forecast_30d", "remaining_life_years"} <= set(r)
    assert len(r["forecast_30d"]["index"]) == 30
    assert main(["health", "--data-dir", str(tmp_path), "--asset", "ICT1"]) == 0
    text = capsys.readouterr().out
    assert "0 suggestion(s) added, 1 updated" in text


@pytest.mark.parametrize(("asset", "message"), [
    ("NOPE", "--asset: no asset 'NOPE'"), ("B400_M1", "has no health model")])
def test_an_unknown_or_unscored_asset_is_one_line_exit_2(tmp_path, capsys, asset, message):
    from app.cli import main

    assert main(["health", "--data-dir", str(tmp_path), "--asset", asset]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_bad_samples_are_not_condition_data(station, tmp_path):
    """An invalid moisture reading is not the oil's condition: the factor is missing."""
    at = now()
    plant = PlantSimulator(station, seed=3, start=at - dt.timedelta(hours=1))
    snap = plant.step(0.1)
    pts = plant.points
    h = open_historian(station, pts, data_dir=tmp_path)
    try:
        q = np.array(snap.quality, dtype=np.uint16)
        q[pts.tags.index("ICT1.MOISTURE")] = Q.INVALID
        t = at - dt.timedelta(minutes=5)
        h.submit(ScanFrame(1, t, pts, np.asarray(snap.values), q,
                           np.full(len(pts), int(t.timestamp() * 1e9)), {}))
        t0 = time.monotonic()
        while h.status.frames < 1 or h.status.pending_samples:
            assert time.monotonic() - t0 < 60
            time.sleep(0.02)
        (r,) = assess(station, h, at, asset_id="ICT1")
        assert "moisture" in r.index.missing
        assert "thermal" in {f.name for f in r.index.factors}
    finally:
        h.close()
