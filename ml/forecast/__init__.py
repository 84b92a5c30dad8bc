"""Load forecasting: N-BEATS (:mod:`ml.forecast.nbeats`) beside seasonal naive baselines, a
rolling-origin backtest, a checked CSV loader, and a station forecaster for the HMI with an
uncertainty band and versioned serialisation."""
