"""Baselines, error measures and the rolling-origin backtest.

**Baselines** (always beside the network): the seasonal naive forecast with season ``m``,
``ŷ(T+h) = y(T + h − m·(⌊(h−1)/m⌋ + 1))`` for ``h = 1 … H`` (Hyndman & Athanasopoulos,
*Forecasting: Principles and Practice*, §5.2): with ``m`` one day it is "same time previous
day", with ``m`` one week "same time previous week"; a horizon longer than the season
repeats the last season seen.

**Backtest.** The origins are the 00:00s, in the series' own time zone (the offset each
timestamp carries, see :mod:`ml.forecast.series`), of the last ``backtest_days`` days whose
whole horizon is in the data. The model is trained once, on every sample before the first
origin; then from each origin it forecasts the next horizon using only the lookback before
that origin (the days already backtested are data by then, as in operation, but the model is
not retrained). MAE is in the series' unit; MAPE (%) is the mean of ``|y − ŷ| / |y|`` over
the points where ``y ≠ 0`` (a load series has none at zero; the count left out is logged).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ml.forecast.model import NBeatsForecaster, TrainConfig
from ml.forecast.nbeats import NBeatsConfig
from ml.forecast.series import LoadSeries

log = logging.getLogger(__name__)

BASELINES = ("naive_day", "naive_week")


def seasonal_naive(history: np.ndarray, season: int, horizon: int) -> np.ndarray:
    """Seasonal naive forecast of ``horizon`` steps after the end of ``history``."""
    if season < 1 or len(history) < season:
        raise ValueError(f"seasonal naive: {len(history)} samples of history, season {season}")
    h = np.arange(1, horizon + 1)
    return np.asarray(history, dtype=np.float64)[len(history) + h - season * ((h - 1) // season
                                                                             + 1) - 1]


def mae(actual: np.ndarray, forecast: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(actual) - np.asarray(forecast))))


def mape_pct(actual: np.ndarray, forecast: np.ndarray) -> float:
    a, f = np.asarray(actual, dtype=np.float64).ravel(), np.asarray(forecast).ravel()
    ok = a != 0
    if not ok.all():
        log.info("MAPE leaves out %d zero actual value(s)", int((~ok).sum()))
    if not ok.any():
        return float("nan")
    return float(100.0 * np.mean(np.abs(a[ok] - f[ok]) / np.abs(a[ok])))


@dataclass(frozen=True)
class ModelScore:
    mape_pct: float
    mae: float
    daily_mape_pct: tuple[float, ...]

    def as_dict(self) -> dict:
        return {"mape_pct": round(self.mape_pct, 4), "mae": round(self.mae, 4),
                "daily_mape_pct": [round(x, 3) for x in self.daily_mape_pct]}


@dataclass(frozen=True)
class BacktestResult:
    period_minutes: int
    horizon_steps: int
    lookback_steps: int
    train_samples: int
    train_s: float
    origins: tuple[int, ...]
    origin_times: tuple[str, ...]
    actual: np.ndarray
    forecasts: dict[str, np.ndarray]
    scores: dict[str, ModelScore]
    config: dict = field(default_factory=dict)
    model: NBeatsForecaster | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict:
        return {"period_minutes": self.period_minutes, "horizon_steps": self.horizon_steps,
                "lookback_steps": self.lookback_steps, "train_samples": self.train_samples,
                "train_s": round(self.train_s, 3), "backtest_days": len(self.origins),
                "origins": list(self.origin_times),
                "models": {k: v.as_dict() for k, v in self.scores.items()},
                "config": self.config}


def steps_for(hours: float, period_minutes: int, what: str) -> int:
    """Hours as a whole number of samples, or a ValueError naming ``what``."""
    steps = hours * 60 / period_minutes
    if steps != int(steps) or steps < 1:
        raise ValueError(f"{what} {hours:g} h is not a whole number of {period_minutes}-min "
                         "steps")
    return int(steps)


def backtest_origins(series: LoadSeries, backtest_days: int, horizon_steps: int,
                     lookback_steps: int) -> np.ndarray:
    """The last ``backtest_days`` local midnights with a whole horizon after them."""
    mids = series.local_midnights()
    mids = mids[mids + horizon_steps <= len(series)]
    if len(mids) < backtest_days:
        raise ValueError(f"{series.source or 'series'}: {len(mids)} day(s) with a whole "
                         f"horizon after 00:00, {backtest_days} needed for the backtest")
    origins = mids[-backtest_days:] if backtest_days else mids[:0]
    if backtest_days and origins[0] < lookback_steps + horizon_steps:
        raise ValueError(f"{series.source or 'series'}: only {origins[0]} samples before the "
                         f"backtest; training needs at least lookback + horizon = "
                         f"{lookback_steps + horizon_steps}")
    return origins


def backtest(series: LoadSeries, *, horizon_hours: float = 24, lookback_hours: float = 168,
             backtest_days: int = 7, nbeats: NBeatsConfig | None = None,
             train: TrainConfig | None = None, model_kind: str = "interpretable",
             train_from: int = 0) -> BacktestResult:
    """Rolling-origin backtest of N-BEATS and the two seasonal naive baselines.

    ``nbeats`` overrides the architecture (its lookback and horizon must match the hours);
    ``train_from`` drops the samples before that index from training (to train on a fixed
    history length)."""
    if backtest_days < 1:
        raise ValueError("backtest needs at least one day")
    p = series.period_minutes
    H = steps_for(horizon_hours, p, "horizon")
    L = steps_for(lookback_hours, p, "lookback")
    if L % H:
        raise ValueError(f"lookback {lookback_hours:g} h is not a multiple of the horizon "
                         f"{horizon_hours:g} h")
    cfg = nbeats or NBeatsConfig(lookback_steps=L, horizon_steps=H, kind=model_kind)
    if (cfg.lookback_steps, cfg.horizon_steps) != (L, H):
        raise ValueError("N-BEATS configuration does not match the lookback and horizon")
    week = 7 * series.steps_per_day
    origins = backtest_origins(series, backtest_days, H, L)
    first = int(origins[0])
    if first < week:
        raise ValueError(f"{series.source or 'series'}: {first} samples before the backtest, "
                         f"the previous-week baseline needs {week}")
    y = np.asarray(series.values)
    model = NBeatsForecaster(cfg, train)
    report = model.fit(y[train_from:first])
    actual = np.stack([y[o:o + H] for o in origins])
    fc = {
        "nbeats": model.predict(np.stack([y[o - L:o] for o in origins])),
        "naive_day": np.stack([seasonal_naive(y[:o], series.steps_per_day, H) for o in origins]),
        "naive_week": np.stack([seasonal_naive(y[:o], week, H) for o in origins]),
    }
    scores = {k: ModelScore(mape_pct(actual, f), mae(actual, f),
                            tuple(mape_pct(a, b) for a, b in zip(actual, f, strict=True)))
              for k, f in fc.items()}
    return BacktestResult(
        period_minutes=p, horizon_steps=H, lookback_steps=L, train_samples=first - train_from,
        train_s=report.train_s, origins=tuple(int(o) for o in origins),
        origin_times=tuple(series.time_at(int(o)).isoformat() for o in origins),
        actual=actual, forecasts=fc, scores=scores,
        config={"nbeats": cfg.as_dict(), "train": model.train_config.as_dict()}, model=model)
