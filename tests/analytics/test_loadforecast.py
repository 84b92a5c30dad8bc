"""The station-load forecast from the station's own history (app.analytics.loadforecast):
the series read from a real historian, gaps bridged or refused by name, the simulator's
series, and a small model trained with the naive baselines reported beside it."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pytest

from app.analytics.loadforecast import (
    MIN_HOURS,
    LoadSeries,
    LoadSeriesError,
    fill_short_gaps,
    held_out_mape,
    historian_series,
    simulated_series,
    station_load_tags,
    train,
)
from app.field.sim.plant import PlantSimulator
from app.historian import open_historian
from app.station import quality as Q
from app.station.frame import ScanFrame
from tests.clocks import now

T = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)  # pure arithmetic below: no wall clock met


def test_the_station_load_is_the_feeders_active_power(station):
    tags = station_load_tags(station)
    assert len(tags) == 8 and all(t.endswith(".P") for t in tags)
    assert "F1_LINE.P" in tags and "IND1_LOAD.P" in tags


def test_short_gaps_are_bridged_and_long_ones_named():
    y = np.array([1.0, 2.0, np.nan, np.nan, 5.0, 6.0])
    assert fill_short_gaps(y, T).tolist() == [1, 2, 3, 4, 5, 6]
    long = np.array([1.0] + [np.nan] * 4 + [1.0])
    with pytest.raises(LoadSeriesError, match=r"no data for 4 h from 2026-01-05T01:00"):
        fill_short_gaps(long, T)
    with pytest.raises(LoadSeriesError, match="no data for 1 h from 2026-01-05T00:00"):
        fill_short_gaps(np.array([np.nan, 1.0]), T)


def test_hourly_station_load_is_read_from_the_historian(station, tmp_path):
    """Six hours of samples every 10 minutes: the hourly sums of the feeders' means."""
    at = now()
    plant = PlantSimulator(station, seed=2, start=at - dt.timedelta(hours=7))
    pts = plant.points
    h = open_historian(station, pts, data_dir=tmp_path)
    rows = [pts.tags.index(t) for t in station_load_tags(station)]
    expected: dict[int, list[float]] = {}
    try:
        t0 = (at - dt.timedelta(hours=7)).replace(minute=0, second=0, microsecond=0)
        for k in range(6 * 7):
            snap = plant.step(600.0)
            t = t0 + dt.timedelta(minutes=10 * k)
            if t >= at:
                break
            v = np.asarray(snap.values, float)
            q = np.array(snap.quality)
            if k // 6 == 2:  # hour 2: one feeder's meter invalid — not load, bridged
                q[pts.tags.index("F1_LINE.P")] = Q.INVALID
            expected.setdefault(k // 6, []).append(float(v[rows].sum()))
            h.submit(ScanFrame(k + 1, t, pts, v, q,
                               np.full(len(pts), int(t.timestamp() * 1e9)), {}))
        deadline = time.monotonic() + 60
        while h.status.pending_samples or h.status.frames < len(sum(expected.values(), [])):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        s = historian_series(h, station, t0 + dt.timedelta(hours=6), days=0.25)
        assert s.start == t0 and len(s.mw) == 6
        want = [np.mean(expected[k]) for k in range(6)]
        want[2] = (want[1] + want[3]) / 2  # the invalid hour is interpolated, not read
        # The historian stores samples through its swinging-door compression (a deadband per
        # point), so the mean of what it holds is within a few per cent of the raw mean.
        assert s.mw == pytest.approx(want, rel=0.03)
    finally:
        h.close()


def test_the_simulator_gives_a_daily_load_shape(station):
    s = simulated_series(station, T, days=2, seed=1)
    assert len(s.mw) == 48 and np.all(np.isfinite(s.mw)) and s.start == T - dt.timedelta(days=2)
    ist_hour = [(t + dt.timedelta(hours=5, minutes=30)).hour for t in s.times()]
    night = [v for v, hr in zip(s.mw, ist_hour, strict=True) if 2 <= hr <= 4]
    evening = [v for v, hr in zip(s.mw, ist_hour, strict=True) if 19 <= hr <= 20]
    assert min(evening) > max(night)  # the evening peak above the night trough


def test_too_short_a_history_is_refused_with_what_it_needs():
    s = LoadSeries(T, np.ones(100), "historian")
    with pytest.raises(LoadSeriesError, match=f"100 h of history; the forecaster needs "
                                              f"{MIN_HOURS} h"):
        train(s)


@pytest.mark.slow
def test_a_model_trains_and_reports_the_naive_baselines_beside_it():
    """A synthetic weekly-seasonal load (daily shape, lighter weekends, noise): the trained
    model forecasts 24 h with a band and its held-out MAPE is reported beside the naive ones."""
    rng = np.random.default_rng(0)
    n = MIN_HOURS + 7 * 24
    hours = np.arange(n)
    day = 200 + 60 * np.sin(2 * np.pi * (hours % 24 - 8) / 24)
    week = np.where((hours // 24) % 7 >= 5, 0.85, 1.0)
    y = day * week + rng.normal(0, 3, n)
    s = LoadSeries(T, y, "synthetic")
    tr = train(s, seed=0, steps=100)
    m = tr.metrics
    assert {"nbeats_mape_pct", "naive_day_mape_pct", "naive_week_mape_pct"} <= set(m)
    assert m["nbeats_mape_pct"] < m["naive_day_mape_pct"]  # weekends fool yesterday's naive
    fc = tr.forecaster.forecast(y)
    assert len(fc.point) == 24 and np.all(fc.lower <= fc.upper)
    assert held_out_mape(s)["naive_week_mape_pct"] == pytest.approx(m["naive_week_mape_pct"])
