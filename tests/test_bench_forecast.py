"""The forecast benchmark runs on the real series and reports every figure (a short run: the
figures themselves are the benchmark's, never asserted against targets here)."""

from __future__ import annotations

from bench.forecast import SERIES, WINDOWS, run


def test_bench_forecast_reports_every_figure():
    r = run(windows=(WINDOWS[0],), steps=5, repeat=3)
    for key in ("forecast_train_s", "forecast_infer_ms", "mape_nbeats_pct",
                "mape_naive_day_pct", "mape_naive_week_pct", "nbeats_over_naive_week"):
        assert r[key] > 0, key
    (w,) = r["windows"]
    assert w["train_samples"] == 12 * 7 * 48  # 12 weeks of half-hours
    assert w["backtest_from"] == "2014-03-26T00:00:00+10:00"
    assert 1 < w["mape_naive_week_pct"] < 20  # a real load series, measured in MW
    assert SERIES.exists() and len(WINDOWS) >= 4
