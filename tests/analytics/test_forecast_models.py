"""Station-load forecaster versions in ml_models: registered with their held-out figures,
the newest intact one loaded, an altered file refused by name, and the anomaly registry's
versions left as they were."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from app.analytics.forecast_models import (
    MODEL_TYPE,
    list_forecasts,
    load_latest_forecast,
    register_forecast,
)
from app.analytics.loadforecast import MIN_HOURS, LoadSeries, train
from app.analytics.registry import RegistryError

T = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)  # series arithmetic only: no wall clock met


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(1)
    h = np.arange(MIN_HOURS)
    y = 200 + 50 * np.sin(2 * np.pi * h / 24) + rng.normal(0, 2, len(h))
    return train(LoadSeries(T, y, "synthetic test series"), seed=0, steps=5)


def test_versions_are_registered_listed_and_the_newest_loaded(tmp_path, station, trained):
    assert load_latest_forecast(tmp_path, station) is None
    r1 = register_forecast(tmp_path, station, trained)
    r2 = register_forecast(tmp_path, station, trained)
    assert r2.version == r1.version + 1
    recs = list_forecasts(tmp_path, station)
    assert [r.version for r in recs] == [r2.version, r1.version]
    assert {"nbeats_mape_pct", "naive_day_mape_pct", "naive_week_mape_pct"} <= set(r2.metrics)
    assert r2.window_end == (T + MIN_HOURS * dt.timedelta(hours=1)).isoformat()
    rec, fc = load_latest_forecast(tmp_path, station)
    assert rec.version == r2.version and fc.sha256 == r2.sha256
    out = fc.forecast(trained.series.mw)
    assert len(out.point) == 24


def test_an_altered_file_is_refused_by_name(tmp_path, station, trained):
    rec = register_forecast(tmp_path, station, trained)
    with open(rec.file_path, "r+b") as fh:
        fh.seek(-4, 2)
        fh.write(b"\0\0\0\1")
    with pytest.raises(RegistryError, match=rf"v{rec.version} refused: .*differs"):
        load_latest_forecast(tmp_path, station)


def test_forecasters_stay_out_of_the_anomaly_versions(tmp_path, station, trained):
    from app.analytics.registry import list_models

    register_forecast(tmp_path, station, trained)
    assert all(r.kind != MODEL_TYPE for r in list_models(tmp_path, station))
