"""Load forecasting: N-BEATS (:mod:`ml.forecast.nbeats`) beside seasonal naive baselines, a
rolling-origin backtest (:mod:`ml.forecast.backtest`), a checked CSV loader
(:mod:`ml.forecast.series`), and the station forecaster the HMI calls
(:mod:`ml.forecast.station`: train, forecast the next 24 h with a band, store by SHA-256).

Importing this package imports torch; the command line imports it only when a forecast
verb runs."""

from ml.forecast.backtest import BacktestResult, backtest, mae, mape_pct, seasonal_naive
from ml.forecast.model import NBeatsForecaster, TrainConfig, TrainingCancelled
from ml.forecast.nbeats import NBeats, NBeatsConfig
from ml.forecast.series import LoadSeries, SeriesFileError, load_csv
from ml.forecast.station import (
    ModelFileError,
    StationForecast,
    StationForecaster,
    train_station_forecaster,
)

__all__ = ["BacktestResult", "LoadSeries", "ModelFileError", "NBeats", "NBeatsConfig",
           "NBeatsForecaster", "SeriesFileError", "StationForecast", "StationForecaster",
           "TrainConfig", "TrainingCancelled", "backtest", "load_csv", "mae", "mape_pct",
           "seasonal_naive", "train_station_forecaster"]
