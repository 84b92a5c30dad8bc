"""The station forecaster: a band from held-out residuals, and versioned storage."""

from __future__ import annotations

import numpy as np
import pytest

from ml.forecast.model import TrainConfig
from ml.forecast.nbeats import NBeatsConfig
from ml.forecast.station import ModelFileError, StationForecaster, train_station_forecaster

CFG = NBeatsConfig(lookback_steps=48, horizon_steps=24, kind="generic", n_stacks=2, width=32,
                   theta_dim=8)
TRAIN = TrainConfig(steps=400, batch_size=32, learning_rate=3e-3, seed=4, threads=1)


def _load(days: int = 24) -> np.ndarray:
    rng = np.random.default_rng(1)
    i = np.arange(days * 24)
    return 300 + 60 * np.sin(2 * np.pi * i / 24) + rng.normal(0, 5, len(i))


@pytest.fixture(scope="module")
def forecaster():
    return train_station_forecaster(_load(), 60, lookback_hours=48, calibration_days=5,
                                    nbeats=CFG, train=TRAIN)


def test_forecast_has_a_band_around_the_point(forecaster):
    y = _load()
    f = forecaster.forecast(y)
    assert f.point.shape == f.lower.shape == f.upper.shape == (24,)
    assert np.all(f.lower < f.upper)
    # A trained model is unbiased enough that its own band holds its forecast (a biased one
    # need not: the band is where the actual falls, not a margin around the point).
    assert np.all(f.lower <= f.point) and np.all(f.point <= f.upper)
    assert np.mean(np.abs(f.point - (300 + 60 * np.sin(2 * np.pi * np.arange(24) / 24)))) < 15
    assert f.coverage == 0.9 and f.period_minutes == 60
    assert f.model_sha256 == forecaster.sha256
    c = forecaster.calibration
    assert c["origins"] == 5 * 24 - 24 + 1 and c["train_samples"] == 19 * 24
    # The band is the residual quantiles: about 90 % of the calibration points fall in it.
    assert 80 <= c["in_band_pct"] <= 100
    with pytest.raises(ValueError, match="last 48 samples"):
        forecaster.forecast(y[:10])


def test_band_from_residual_quantiles_by_hand(forecaster):
    """The band at each step is the forecast plus scale × that step's quantile."""
    y = _load()
    x = y[-48:]
    f = forecaster.forecast(x)
    scale = np.mean(np.abs(x))
    np.testing.assert_allclose(f.lower, f.point + scale * forecaster.q_low)
    np.testing.assert_allclose(f.upper, f.point + scale * forecaster.q_high)
    assert forecaster.q_low.shape == forecaster.q_high.shape == (24,)


def test_round_trip_through_bytes_and_file(forecaster, tmp_path):
    blob = forecaster.to_bytes()
    again = StationForecaster.from_bytes(blob, expected_sha256=forecaster.sha256)
    y = _load()
    np.testing.assert_array_equal(again.forecast(y).point, forecaster.forecast(y).point)
    np.testing.assert_array_equal(again.q_high, forecaster.q_high)
    assert again.sha256 == forecaster.sha256 and again.calibration == forecaster.calibration
    digest = forecaster.save(tmp_path / "m.nbeats")
    assert digest == forecaster.sha256
    loaded = StationForecaster.load(tmp_path / "m.nbeats", expected_sha256=digest)
    np.testing.assert_array_equal(loaded.forecast(y).upper, forecaster.forecast(y).upper)


def test_same_seed_same_bytes(forecaster):
    again = train_station_forecaster(_load(), 60, lookback_hours=48, calibration_days=5,
                                     nbeats=CFG, train=TRAIN)
    assert again.to_bytes() == forecaster.to_bytes()
    other = train_station_forecaster(_load(), 60, lookback_hours=48, calibration_days=5,
                                     nbeats=CFG, train=TrainConfig(**{**TRAIN.as_dict(), "seed": 5}))
    assert other.sha256 != forecaster.sha256


def test_damaged_or_other_model_is_refused(forecaster, tmp_path):
    blob = forecaster.to_bytes()
    with pytest.raises(ModelFileError, match="differs from the expected"):
        StationForecaster.from_bytes(blob, expected_sha256="0" * 64)
    with pytest.raises(ModelFileError, match="not a stored GridTwin N-BEATS model"):
        StationForecaster.from_bytes(b"PK\x03\x04 something else")
    with pytest.raises(ModelFileError, match="truncated|damaged"):
        StationForecaster.from_bytes(blob[:-100])
    with pytest.raises(ModelFileError, match="cannot read"):
        StationForecaster.load(tmp_path / "none.nbeats")


def test_refuses_short_or_bad_series():
    with pytest.raises(ValueError, match="need at least"):
        train_station_forecaster(_load(5), 60, lookback_hours=48, calibration_days=5,
                                 nbeats=CFG, train=TRAIN)
    y = _load()
    y[3] = np.nan
    with pytest.raises(ValueError, match="finite"):
        train_station_forecaster(y, 60, lookback_hours=48, nbeats=CFG, train=TRAIN)
