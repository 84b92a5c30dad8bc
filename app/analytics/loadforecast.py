"""The station's day-ahead load forecast from its own history: series, training, forecast.

**Station load** is the sum of the active power of the station's feeders (the assets of type
``feeder``: the 220 kV outgoing lines and the 33 kV loads) — what the station delivers. The
historian holds it as samples (a week) and hourly and daily rollups (months and years):
:func:`historian_series` reads the hourly means of each feeder over a window (from the rollups,
or binned from the samples where the rollups do not reach yet), sums them, and fills gaps of up
to three hours by linear interpolation; a longer gap is refused with one line naming it
(a forecaster trained across a week without data learns the gap).

:func:`simulated_series` runs the plant simulator at speed for a number of days (hourly steps,
no faults) for a first model before the historian has weeks to offer — ``gridtwin ml train
forecast --simulate DAYS`` and the HMI's *Train load forecast* use it when the historian is
short.

:func:`train` trains :func:`ml.forecast.station.train_station_forecaster` (N-BEATS,
interpretable stacks, 168 h lookback → 24 h horizon, band from the last 7 days held out) and
reports the seasonal-naive baselines on those same held-out days beside it (day-ahead MAPE
from each of their midnights: the model, same hour yesterday, same hour last week), so a
version's figures say whether it beats the naive forecasts it must beat.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app.historian.api import HistorianReader
from app.station import Station
from app.station import quality as Q
from ml.forecast.backtest import mape_pct, seasonal_naive

log = logging.getLogger(__name__)

HOUR = dt.timedelta(hours=1)
MAX_GAP_H = 3
PERIOD_MINUTES = 60
LOOKBACK_H, HORIZON_H, CALIBRATION_DAYS = 168, 24, 7
#: Hours of history training needs: lookback + horizon to train on, plus the calibration days.
MIN_HOURS = LOOKBACK_H + HORIZON_H + CALIBRATION_DAYS * 24


class LoadSeriesError(ValueError):
    """A station-load history the forecaster cannot use (the gap or the shortfall named)."""


@dataclass(frozen=True)
class LoadSeries:
    """Hourly station load, MW: ``start`` is the first hour (UTC), one value per hour."""

    start: dt.datetime
    mw: np.ndarray
    source: str

    @property
    def end(self) -> dt.datetime:
        return self.start + len(self.mw) * HOUR

    def times(self) -> list[dt.datetime]:
        return [self.start + k * HOUR for k in range(len(self.mw))]


def station_load_tags(station: Station) -> list[str]:
    """The feeders' active-power tags whose sum is the station load."""
    return [f"{a.id}.{p.name}" for a in station.assets if a.type == "feeder"
            for p in a.points if p.quantity == "p_mw" and p.phase is None]


def _floor_hour(t: dt.datetime) -> dt.datetime:
    return t.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def _hourly_means(reader: HistorianReader, tag: str, t0: dt.datetime, n: int) -> np.ndarray:
    """Mean of ``tag`` in each of ``n`` hours from ``t0`` (NaN where nothing good was stored:
    an invalid or questionable sample is not load; rollups hold good samples only)."""
    out = np.full(n, np.nan)
    t1 = t0 + n * HOUR
    # Raw samples come decimated to min/max pairs: 120 a hour keeps the hour's mean close (two
    # per hour would read each hour as the middle of its extremes).
    (tr,) = reader.trend([tag], t0, t1, max_points=120 * n + 2)
    t0_ns = int(t0.timestamp() * 1e9)
    if tr.bucket_t_ns is not None and tr.vmean is not None and tr.source == "hourly":
        idx = (np.asarray(tr.bucket_t_ns, np.int64) - t0_ns) // 3_600_000_000_000
        ok = (idx >= 0) & (idx < n) & np.isfinite(tr.vmean)
        out[idx[ok]] = np.asarray(tr.vmean)[ok]
        return out
    t = np.asarray(tr.t_ns, np.int64)
    v = np.asarray(tr.value, np.float64)
    idx = (t - t0_ns) // 3_600_000_000_000
    ok = (idx >= 0) & (idx < n) & np.isfinite(v)
    if len(tr.quality) == len(v):  # samples carry their quality: only good ones are load
        ok &= (np.asarray(tr.quality) & Q.VALIDITY_MASK) == Q.GOOD
    if ok.any():
        sums = np.bincount(idx[ok], weights=v[ok], minlength=n)
        counts = np.bincount(idx[ok], minlength=n)
        have = counts > 0
        out[have] = sums[have] / counts[have]
    return out


def fill_short_gaps(mw: np.ndarray, start: dt.datetime, max_gap_h: int = MAX_GAP_H,
                    what: str = "station load") -> np.ndarray:
    """Linear interpolation across gaps of up to ``max_gap_h`` hours; a longer gap, or one at
    either end, is a :class:`LoadSeriesError` naming when it starts and how long it is."""
    y = np.array(mw, dtype=np.float64)
    bad = ~np.isfinite(y)
    if not bad.any():
        return y
    k = 0
    n = len(y)
    while k < n:
        if not bad[k]:
            k += 1
            continue
        j = k
        while j < n and bad[j]:
            j += 1
        gap = j - k
        when = (start + k * HOUR).isoformat(timespec="minutes")
        if k == 0 or j == n or gap > max_gap_h:
            raise LoadSeriesError(f"{what}: no data for {gap} h from {when} (gaps of up to "
                                  f"{max_gap_h} h are bridged)")
        y[k:j] = np.interp(np.arange(k, j), [k - 1, j], [y[k - 1], y[j]])
        k = j
    return y


def historian_series(reader: HistorianReader, station: Station, end: dt.datetime,
                     days: float) -> LoadSeries:
    """The last ``days`` whole hours of station load before ``end`` from the historian."""
    tags = station_load_tags(station)
    if not tags:
        raise LoadSeriesError(f"{station.path}: no feeder with an active-power point: "
                              "nothing to sum into a station load")
    t1 = _floor_hour(end)
    n = int(days * 24)
    t0 = t1 - n * HOUR
    total = np.zeros(n)
    for tag in tags:
        total += _hourly_means(reader, tag, t0, n)  # NaN anywhere → NaN in the sum
    return LoadSeries(t0, fill_short_gaps(total, t0), "historian")


def available_hours(reader: HistorianReader, station: Station, end: dt.datetime,
                    max_days: float = 84) -> int:
    """How many whole hours of station load end at ``end`` without a gap longer than the
    bridgeable (up to ``max_days``): what :func:`historian_series` can read."""
    tags = station_load_tags(station)
    t1 = _floor_hour(end)
    n = int(max_days * 24)
    t0 = t1 - n * HOUR
    total = np.zeros(n)
    for tag in tags:
        total += _hourly_means(reader, tag, t0, n)
    ok = np.isfinite(total)
    if not ok.any():
        return 0
    # Back from the end to the first gap longer than the bridgeable (or to the data's start).
    last = int(np.flatnonzero(ok)[-1])
    if n - 1 - last > 0:
        return 0  # the latest hours are missing: nothing ends at ``end``
    k, run = last, 0
    start = last
    while k >= 0:
        if ok[k]:
            start, run = k, 0
        else:
            run += 1
            if run > MAX_GAP_H:
                break
        k -= 1
    return n - start


def simulated_series(station: Station, end: dt.datetime, days: float, *, seed: int = 0,
                     progress: Callable[[float], None] | None = None,
                     cancelled: Callable[[], bool] = lambda: False) -> LoadSeries:
    """``days`` of hourly station load from the plant simulator run at speed up to ``end``."""
    from app.field.sim.plant import PlantSimulator

    t1 = _floor_hour(end)
    n = int(days * 24)
    t0 = t1 - n * HOUR
    plant = PlantSimulator(station, seed=seed, start=t0)
    rows = [plant.points.tags.index(t) for t in station_load_tags(station)]
    mw = np.empty(n)
    for k in range(n):
        if cancelled():
            raise InterruptedError("simulation cancelled")
        snap = plant.step(3600.0)
        mw[k] = float(np.sum(np.asarray(snap.values)[rows]))
        if progress is not None and k % 24 == 0:
            progress(k / n)
    return LoadSeries(t0, fill_short_gaps(mw, t0), f"simulate {days:g} d seed {seed}")


@dataclass(frozen=True)
class TrainedForecast:
    """A trained station forecaster with the figures of its held-out days."""

    forecaster: object  # ml.forecast.station.StationForecaster (torch: imported on use)
    series: LoadSeries
    metrics: dict[str, float]


def held_out_mape(series: LoadSeries, forecaster: object | None = None,
                  calibration_days: int = CALIBRATION_DAYS) -> dict[str, float]:
    """Day-ahead MAPE over the held-out (calibration) days, from each of their hours 00:00
    UTC: same hour yesterday, same hour last week, and the forecaster when given."""
    y = series.mw
    c = calibration_days * 24
    origins = [o for o in range(len(y) - c, len(y) - HORIZON_H + 1, 24) if o >= LOOKBACK_H]
    models: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "naive_day_mape_pct": lambda h: seasonal_naive(h, 24, HORIZON_H),
        "naive_week_mape_pct": lambda h: seasonal_naive(h, 168, HORIZON_H)}
    if forecaster is not None:
        models["nbeats_mape_pct"] = lambda h: forecaster.forecast(h).point
    out = {}
    for name, fn in models.items():
        errs = [mape_pct(y[o:o + HORIZON_H], fn(y[:o])) for o in origins]
        out[name] = float(np.mean(errs)) if errs else float("nan")
    return out


def train(series: LoadSeries, *, seed: int = 0, steps: int | None = None,
          progress: Callable[[float], None] | None = None,
          cancelled: Callable[[], bool] = lambda: False) -> TrainedForecast:
    """Train the day-ahead forecaster on ``series`` (at least :data:`MIN_HOURS` hours)."""
    from ml.forecast.model import TrainConfig
    from ml.forecast.station import train_station_forecaster

    if len(series.mw) < MIN_HOURS:
        raise LoadSeriesError(
            f"station load ({series.source}): {len(series.mw)} h of history; the forecaster "
            f"needs {MIN_HOURS} h ({LOOKBACK_H} h lookback + {HORIZON_H} h horizon + "
            f"{CALIBRATION_DAYS} days to measure its band)")
    cfg = TrainConfig(seed=seed) if steps is None else TrainConfig(seed=seed, steps=steps)
    fc = train_station_forecaster(series.mw, PERIOD_MINUTES, horizon_hours=HORIZON_H,
                                  lookback_hours=LOOKBACK_H, calibration_days=CALIBRATION_DAYS,
                                  train=cfg, progress=progress, cancel=cancelled)
    metrics = {f"calibration_{k}": float(v) for k, v in fc.calibration.items()
               if isinstance(v, int | float)}
    metrics.update(held_out_mape(series, fc))
    return TrainedForecast(fc, series, metrics)
