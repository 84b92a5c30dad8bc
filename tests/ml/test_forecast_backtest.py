"""Baselines' arithmetic on a hand-made series, error measures, and the rolling-origin
backtest's origins (local midnights) and data hygiene (nothing after an origin is used)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from ml.forecast.backtest import (
    backtest,
    backtest_origins,
    mae,
    mape_pct,
    seasonal_naive,
    steps_for,
)
from ml.forecast.model import TrainConfig
from ml.forecast.nbeats import NBeatsConfig
from ml.forecast.series import LoadSeries

TINY = {"kind": "generic", "n_stacks": 1, "width": 16, "theta_dim": 4}


def test_seasonal_naive_by_hand():
    h = np.array([1.0, 2, 3, 4, 5, 6, 7, 8])
    # season 4: the last season [5 6 7 8] repeated
    np.testing.assert_array_equal(seasonal_naive(h, 4, 4), [5, 6, 7, 8])
    np.testing.assert_array_equal(seasonal_naive(h, 4, 6), [5, 6, 7, 8, 5, 6])
    # season 8 ("previous week" on an 8-step week), horizon 3: the same steps a season ago
    np.testing.assert_array_equal(seasonal_naive(h, 8, 3), [1, 2, 3])
    np.testing.assert_array_equal(seasonal_naive(h, 3, 2), [6, 7])
    with pytest.raises(ValueError):
        seasonal_naive(h[:3], 4, 2)


def test_error_measures_by_hand():
    a, f = np.array([100.0, 200, 50]), np.array([110.0, 190, 50])
    assert mae(a, f) == pytest.approx(20 / 3)
    assert mape_pct(a, f) == pytest.approx(100 * (0.1 + 0.05 + 0) / 3)
    assert mape_pct(np.array([0.0, 100]), np.array([5.0, 90])) == pytest.approx(10.0)


def test_steps_for():
    assert steps_for(24, 30, "horizon") == 48 and steps_for(168, 15, "x") == 672
    with pytest.raises(ValueError, match="horizon 0.3 h is not a whole number of 30-min"):
        steps_for(0.3, 30, "horizon")


def _series(days: int, per_day: int = 24, offset_h: float = 5.5, start_h: int = 0):
    rng = np.random.default_rng(0)
    n = days * per_day
    i = np.arange(n)
    values = 100 + 20 * np.sin(2 * np.pi * i / per_day) + rng.normal(0, 1, n)
    t0 = dt.datetime(2021, 1, 4, start_h, tzinfo=dt.timezone(dt.timedelta(hours=offset_h)))
    t = int(t0.timestamp()) + i * (86400 // per_day)
    return LoadSeries(values, t, np.full(n, int(offset_h * 3600)), 24 * 60 // per_day, "syn")


def test_origins_are_the_last_local_midnights_with_a_whole_horizon():
    s = _series(20, start_h=7)  # starts at 07:00, so midnights at 17, 41, …
    o = backtest_origins(s, 3, 24, 168)
    assert o.tolist() == [17 + 24 * k for k in (16, 17, 18)]
    assert all(s.time_at(int(k)).hour == 0 for k in o)
    assert o[-1] + 24 <= len(s)
    with pytest.raises(ValueError, match="19 day"):
        backtest_origins(s, 30, 24, 168)


def test_backtest_scores_all_models_and_baselines_match_by_hand():
    s = _series(21)
    r = backtest(s, horizon_hours=24, lookback_hours=48, backtest_days=3,
                 nbeats=NBeatsConfig(48, 24, **TINY),
                 train=TrainConfig(steps=5, batch_size=16, threads=1))
    assert set(r.scores) == {"nbeats", "naive_day", "naive_week"}
    assert r.train_samples == r.origins[0] == 18 * 24 and r.horizon_steps == 24
    y = s.values
    for k, o in enumerate(r.origins):
        np.testing.assert_array_equal(r.actual[k], y[o:o + 24])
        np.testing.assert_array_equal(r.forecasts["naive_day"][k], y[o - 24:o])
        np.testing.assert_array_equal(r.forecasts["naive_week"][k], y[o - 168:o - 144])
    assert r.scores["naive_day"].mae == pytest.approx(mae(r.actual, r.forecasts["naive_day"]))
    assert len(r.scores["nbeats"].daily_mape_pct) == 3
    d = r.as_dict()
    assert d["period_minutes"] == 60 and d["backtest_days"] == 3
    assert d["origins"][0].endswith("T00:00:00+05:30")


def test_backtest_uses_nothing_after_each_origin():
    """Changing every value from an origin on changes no forecast made from it."""
    s = _series(21)
    kw = {"horizon_hours": 24, "lookback_hours": 48, "backtest_days": 2,
          "nbeats": NBeatsConfig(48, 24, **TINY),
          "train": TrainConfig(steps=5, batch_size=16, threads=1)}
    r1 = backtest(s, **kw)
    last = r1.origins[-1]
    v = s.values.copy()
    v[last:] *= 3
    r2 = backtest(LoadSeries(v, s.t_utc_s.copy(), s.utc_offset_s.copy(), 60), **kw)
    for k in r1.forecasts:
        np.testing.assert_array_equal(r1.forecasts[k], r2.forecasts[k])


def test_backtest_refuses_what_it_cannot_do():
    s = _series(10)
    with pytest.raises(ValueError, match="not a multiple of the horizon"):
        backtest(s, horizon_hours=24, lookback_hours=36, backtest_days=1)
    with pytest.raises(ValueError, match="previous-week baseline needs 168"):
        backtest(s, horizon_hours=24, lookback_hours=48, backtest_days=4,
                 nbeats=NBeatsConfig(48, 24, **TINY), train=TrainConfig(steps=1))
