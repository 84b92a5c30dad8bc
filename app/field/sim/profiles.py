"""Daily profiles of an Indian grid: load, ambient temperature, weather, frequency.

Times are evaluated in IST (UTC+05:30). The load shapes follow the typical southern-region
pattern: a night trough around 03:00–05:00, a morning peak around 09:00–11:00 and the evening
peak (the day's highest) around 19:00–21:00; industrial load is flatter with shift changes,
commercial load follows shop and office hours; weekends are lighter. Shapes are normalised so
that 1.0 is the circuit's base case (a weekday late morning).
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from app.station.timezone import IST

# Hourly shape factors, hour 0..23 IST (interpolated linearly within the hour).
_SHAPES = {
    "feeder": [0.72, 0.68, 0.66, 0.65, 0.66, 0.70, 0.78, 0.86, 0.93, 0.98, 1.00, 1.00,
               0.98, 0.96, 0.95, 0.95, 0.97, 1.00, 1.05, 1.10, 1.12, 1.08, 0.95, 0.82],
    "industrial": [0.85, 0.84, 0.84, 0.84, 0.85, 0.88, 0.93, 0.97, 1.00, 1.00, 1.00, 1.00,
                   0.96, 0.98, 1.00, 1.00, 1.00, 0.98, 0.95, 0.93, 0.92, 0.90, 0.88, 0.86],
    "commercial": [0.40, 0.38, 0.37, 0.37, 0.38, 0.42, 0.50, 0.62, 0.80, 0.95, 1.00, 1.02,
                   1.02, 1.00, 1.00, 1.00, 1.02, 1.05, 1.10, 1.10, 1.02, 0.85, 0.65, 0.50],
}
_WEEKEND = {"feeder": 0.90, "industrial": 0.70, "commercial": 0.80}


def category_of(load_name: str) -> str:
    n = load_name.lower().split(".")[-1]
    if n.startswith("ind"):
        return "industrial"
    if n.startswith("com"):
        return "commercial"
    return "feeder"


def shape(category: str, t: dt.datetime) -> float:
    """Load factor (1.0 = base case) of a load category at time ``t``."""
    local = t.astimezone(IST)
    h = local.hour + local.minute / 60.0 + local.second / 3600.0
    s = _SHAPES[category]
    i = int(h) % 24
    f = h - int(h)
    v = s[i] * (1 - f) + s[(i + 1) % 24] * f
    if local.weekday() >= 5:
        v *= _WEEKEND[category]
    return v


def ambient_c(t: dt.datetime, mean_c: float = 28.0, swing_c: float = 6.0) -> float:
    """Daily ambient cycle: minimum near 05:00 IST, maximum near 14:30 IST."""
    local = t.astimezone(IST)
    h = local.hour + local.minute / 60.0
    # Asymmetric cycle: 9.5 h warming, 14.5 h cooling.
    if 5.0 <= h < 14.5:
        phase = (h - 5.0) / 9.5 * math.pi
        return mean_c - swing_c * math.cos(phase)
    hh = h - 14.5 if h >= 14.5 else h + 9.5
    phase = hh / 14.5 * math.pi
    return mean_c + swing_c * math.cos(phase)


def solar_wm2(t: dt.datetime) -> float:
    local = t.astimezone(IST)
    h = local.hour + local.minute / 60.0
    if not 6.2 <= h <= 18.3:
        return 0.0
    return 950.0 * max(0.0, math.sin(math.pi * (h - 6.2) / 12.1)) ** 1.3


class OrnsteinUhlenbeck:
    """Mean-reverting noise: x' = (mu − x)/tau + sigma·sqrt(2/tau)·ξ."""

    def __init__(self, mu: float, sigma: float, tau_s: float, rng: np.random.Generator,
                 x0: float | None = None) -> None:
        self.mu, self.sigma, self.tau = mu, sigma, tau_s
        self.rng = rng
        self.x = mu if x0 is None else x0

    def step(self, dt_s: float) -> float:
        a = math.exp(-dt_s / self.tau)
        self.x = self.mu + (self.x - self.mu) * a + self.sigma * math.sqrt(1 - a * a) * \
            float(self.rng.standard_normal())
        return self.x
