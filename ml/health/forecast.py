"""Where an asset's health is heading: a 30-day forecast with a band, and remaining life.

The forecast is the Theil–Sen line through the asset's recent daily indices (at least three
days over at least two): the median of the slopes between every pair of days, through the
median intercept. An index moves in steps (a DGA status changes, a factor crosses a limit),
and least squares reads one step as a steep trend that runs to zero within days; the median
slope of a step is flat, of a steady decline is that decline. The band is the prediction
interval at 95 % (± t·s·√(1 + 1/n + (x − x̄)²/Sxx), t from the Student table for n − 2
degrees of freedom) with s the residuals' robust spread (1.4826 × their median absolute
deviation), and a floor of ±2 index points (the scoring's own resolution). A day-to-day change
of more than 10 points is a step to a new level: the line is fitted to the days since the
latest one. Health does not mend itself: the
forecast never rises above today's index (an improving line means maintenance or a sensor —
neither a forecast). With too little history the line is the drift that age alone gives
(the index recomputed a year on with the condition unchanged), and the band is ±5 points.

Remaining life is the time until the forecast line reaches the end-of-life index
(:data:`ml.health.index.END_OF_LIFE_INDEX`), never beyond 1.25 × the design life from
commissioning (the age curve's end), and 0 when the index is already below it.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ml.health.index import (
    DESIGN_LIFE_YEARS,
    END_OF_LIFE_INDEX,
    Condition,
    HealthIndex,
    health_index,
)

HORIZON_DAYS = 30
MIN_BAND = 2.0
NO_HISTORY_BAND = 5.0
#: A day-to-day change of more than this many points is a step, not part of a trend.
STEP = 10.0
# Student's t at 97.5 % for 1..30 degrees of freedom; 1.96 beyond.
_T975 = (12.71, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


@dataclass(frozen=True)
class HealthForecast:
    """Daily forecast points ``days`` (1..30) with the mean and the band, the slope
    (index points per year), the remaining life and how the line was found."""

    days: tuple[int, ...]
    index: tuple[float, ...]
    lo: tuple[float, ...]
    hi: tuple[float, ...]
    slope_per_year: float
    remaining_life_years: float
    method: str

    def as_dict(self) -> dict[str, object]:
        return {"days": list(self.days), "index": [round(v, 1) for v in self.index],
                "lo": [round(v, 1) for v in self.lo], "hi": [round(v, 1) for v in self.hi],
                "slope_per_year": round(self.slope_per_year, 2),
                "remaining_life_years": round(self.remaining_life_years, 1),
                "method": self.method}


def _t(dof: int) -> float:
    return _T975[dof - 1] if 1 <= dof <= len(_T975) else 1.96


def forecast(now: HealthIndex, history: Sequence[tuple[dt.datetime, float]],
             condition: Condition, horizon_days: int = HORIZON_DAYS) -> HealthForecast:
    """Forecast ``now`` (the index at ``condition.at``) from ``history`` (earlier dated
    indices of the same asset; any order)."""
    at = condition.at
    pts = sorted((t, float(v)) for t, v in history if t <= at and math.isfinite(float(v)))
    pts.append((at, now.index))
    # A step (a factor crossing a limit) starts a new level: the trend is read after it.
    cut = max((k for k in range(1, len(pts)) if abs(pts[k][1] - pts[k - 1][1]) > STEP),
              default=0)
    stepped = cut > 0
    pts = pts[cut:]
    x = [(t - at).total_seconds() / 86400 for t, _ in pts]
    y = [v for _, v in pts]
    days = tuple(range(1, horizon_days + 1))
    if len(pts) >= 3 and x[-1] - x[0] >= 2.0:
        n = len(x)
        mx = sum(x) / n
        sxx = sum((a - mx) ** 2 for a in x)
        slope = statistics.median((y[j] - y[i]) / (x[j] - x[i]) for i in range(n)
                                  for j in range(i + 1, n) if x[j] > x[i])
        icpt = statistics.median(b - slope * a for a, b in zip(x, y, strict=True))
        resid = [b - (icpt + slope * a) for a, b in zip(x, y, strict=True)]
        s = 1.4826 * statistics.median(abs(r) for r in resid)
        t = _t(n - 2)
        mean = [icpt + slope * d for d in days]
        half = [max(MIN_BAND, t * s * math.sqrt(1 + 1 / n + (d - mx) ** 2 / sxx)) for d in days]
        method = (f"Theil–Sen over {n} daily indices ({x[-1] - x[0]:.0f} days"
                  + (", since a step change)" if stepped else ")"))
    else:
        later = health_index(replace(condition, at=at + dt.timedelta(days=365.25)))
        slope = (later.index - now.index) / 365.25
        mean = [now.index + slope * d for d in days]
        half = [NO_HISTORY_BAND] * len(days)
        method = ("age drift (a step change too recent for a trend)" if stepped
                  else "age drift (too little history for a trend)")
    cap = now.index
    mean = [min(cap, max(0.0, m)) for m in mean]
    lo = tuple(max(0.0, m - h) for m, h in zip(mean, half, strict=True))
    hi = tuple(min(100.0, m + h) for m, h in zip(mean, half, strict=True))
    return HealthForecast(days, tuple(mean), lo, hi, slope * 365.25,
                          remaining_life(now, slope, condition), method)


def remaining_life(now: HealthIndex, slope_per_day: float, condition: Condition) -> float:
    """Years until the index line reaches the end-of-life index (see the module notes)."""
    if now.index <= END_OF_LIFE_INDEX:
        return 0.0
    life = DESIGN_LIFE_YEARS.get(condition.asset.type, 30.0)
    ceiling = max(0.0, 1.25 * life - condition.age_years)
    if slope_per_day >= 0:
        return ceiling
    years = (now.index - END_OF_LIFE_INDEX) / -slope_per_day / 365.25
    return min(years, ceiling)
